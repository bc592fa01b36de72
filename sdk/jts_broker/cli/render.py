"""Output of the CLI: rich tables for people, JSON for scripts (``--json``).

JSON keeps money exact: a ``Decimal`` is written as a string ("79600"), times as ISO 8601 with
their offset, enums as their values.
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
from rich.table import Table


def jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
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


def dump_json(value: Any) -> str:
    return json.dumps(jsonable(value), ensure_ascii=False, indent=2)


def fmt(value: Any) -> str:
    """A cell: thousands separators for numbers, plain values for the rest."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return f"{value:,f}" if value != value.to_integral_value() else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S %Z")
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def table(title: str, rows: Sequence[Any], columns: Sequence[str], *, numeric: Sequence[str] = ()) -> Table:
    """A table of ``columns`` (attribute names) of each row; ``numeric`` columns right-aligned."""
    t = Table(title=title, title_justify="left")
    for column in columns:
        t.add_column(column.replace("_", " "), justify="right" if column in numeric else "left")
    for row in rows:
        t.add_row(*(fmt(getattr(row, c)) for c in columns))
    return t


def record(title: str, value: Any, fields: Sequence[str] | None = None) -> Table:
    """A two-column table of one object's fields."""
    t = Table(title=title, title_justify="left", show_header=False)
    t.add_column("field")
    t.add_column("value", justify="right")
    for name in fields or [f.name for f in dataclasses.fields(value)]:
        t.add_row(name.replace("_", " "), fmt(getattr(value, name)))
    return t


def console() -> Console:
    # Piped output has no terminal width to follow: use one wide enough for order tables.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 140)
