"""Where a result came from: the server (LIVE) or the offline cache (CACHE), and how old it is.

Reads that can be served offline say so: lists come as :class:`ResultList` and ``Quote`` and
``Balance`` carry the same two attributes::

    candles = gateway.get_candles("005930", Timeframe.DAY, start, end)
    if candles.source is DataSource.CACHE:
        print(f"offline: data cached {candles.age_s:.0f} s ago")
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from .timeutil import now_kst

T = TypeVar("T")


class DataSource(StrEnum):
    """Where a result came from."""

    LIVE = "live"
    """Answered by the server just now."""
    CACHE = "cache"
    """Read from the offline cache because the server could not be reached."""


def age_s(cached_at: datetime | None) -> float:
    """Seconds since ``cached_at``; 0.0 for live data (``cached_at`` None)."""
    return 0.0 if cached_at is None else max(0.0, (now_kst() - cached_at).total_seconds())


class ResultList(list[T]):
    """A list result that knows its source.

    Attributes:
        source: LIVE or CACHE.
        cached_at: when a CACHE result was taken from a live answer, tz-aware (Asia/Seoul);
            None for LIVE results.
    """

    __slots__ = ("cached_at", "source")

    def __init__(self, items: Iterable[T] = (), *, source: DataSource = DataSource.LIVE, cached_at: datetime | None = None) -> None:
        super().__init__(items)
        self.source = source
        self.cached_at = cached_at

    @property
    def age_s(self) -> float:
        """Seconds since the data was live (0.0 for LIVE)."""
        return age_s(self.cached_at)
