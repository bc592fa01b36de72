"""Output of the CLI: rich tables for people, JSON for scripts (``--json``).

Tables write prices as the exchange does (``79,600``; ``84,525.5`` where a fraction exists) and
say when an answer came from the offline cache (``CACHE``, with its age). JSON keeps money exact:
a ``Decimal`` is written as a string ("79600"), times as ISO 8601 with their offset, enums as
their values; a list is an object ``{"source", "cached_at", "age_s", "items": [...]}`` and a quote
or balance carries the same three keys, so a script can always tell live data from cached.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from jts_broker.domain.provenance import DataSource, ResultList


def jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if "source" in fields and hasattr(value, "age_s"):  # a read that may come from the offline cache
            fields["age_s"] = round(value.age_s, 3)
        return fields
    if isinstance(value, ResultList):
        return {"source": value.source.value, "cached_at": jsonable(value.cached_at), "age_s": round(value.age_s, 3),
                "items": [jsonable(v) for v in value]}
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def dump_json(value: Any, *, one_line: bool = False) -> str:
    """``value`` as JSON: indented, or on one line (a stream's JSON Lines)."""
    return json.dumps(jsonable(value), ensure_ascii=False, indent=None if one_line else 2)


def fmt(value: Any) -> str:
    """A cell: numbers as the exchange writes them (thousands separators, no trailing zeros, never
    an exponent or a ``Decimal(...)``), plain values for the rest."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return f"{value:,.0f}" if value == value.to_integral_value() else f"{value.normalize():,f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S %Z")
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def table(title: str, rows: Sequence[Any], columns: Sequence[str], *, numeric: Sequence[str] = ()) -> Table:
    """A table of ``columns`` (attribute names) of each row; ``numeric`` columns right-aligned."""
    t = Table(title=escape(title), title_justify="left")
    for column in columns:
        t.add_column(column.replace("_", " "), justify="right" if column in numeric else "left")
    for row in rows:
        t.add_row(*(fmt(getattr(row, c)) for c in columns))
    return t


def record(title: str, value: Any, fields: Sequence[str] | None = None) -> Table:
    """A two-column table of one object's fields."""
    t = Table(title=escape(title), title_justify="left", show_header=False)
    t.add_column("field")
    t.add_column("value", justify="right")
    for name in fields or [f.name for f in dataclasses.fields(value)]:
        t.add_row(name.replace("_", " "), fmt(getattr(value, name)))
    return t


def provenance(value: Any) -> str:
    """`` [CACHE, 12 s old]`` for an answer of the offline cache (a table's title), else ""."""
    if getattr(value, "source", DataSource.LIVE) is not DataSource.CACHE:
        return ""
    return f" [CACHE, {_age(value.age_s)} old]"


def cache_note(value: Any) -> str:
    """The line under a table of cached data: when it was live, and why it is not now; else ""."""
    if getattr(value, "source", DataSource.LIVE) is not DataSource.CACHE:
        return ""
    cached_at = getattr(value, "cached_at", None)
    when = f" at {cached_at:%Y-%m-%d %H:%M:%S %Z}" if cached_at is not None else ""
    return f"From the offline cache: live{when}; the server is unreachable."


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h" if seconds < 172800 else f"{seconds / 86400:.1f} days"


def console() -> Console:
    # Piped output has no terminal width to follow: use one wide enough for order tables.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 140)
