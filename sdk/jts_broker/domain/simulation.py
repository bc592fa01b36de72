"""The paper market's replay clock, as the simulator's control service reports it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from .enums import MarketPhase


@dataclass(frozen=True, slots=True)
class ClockState:
    """Where a simulator's market clock stands.

    ``now`` is the replayed time, tz-aware in Asia/Seoul; ``speed`` is market seconds per real
    second (0 when the clock only moves on request); the replay covers the trading days
    ``first_day`` to ``last_day`` of the data, ``day_number`` of ``day_count`` being today's.
    """

    now: datetime
    trading_day: date
    phase: MarketPhase
    speed: float
    paused: bool
    ended: bool
    """The replay went past the close of ``last_day``: nothing trades any more."""
    first_day: date
    last_day: date
    day_number: int
    day_count: int
    step: int
    """Replay steps taken since the start (each a price change or a session boundary)."""
