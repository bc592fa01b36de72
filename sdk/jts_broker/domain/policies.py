"""Policy value objects: rate limits, retries and timeouts, with units in their names.

They are plain data; ``jts_broker.policies`` translates them to pyrate-limiter and tenacity.
"""

from __future__ import annotations

from dataclasses import dataclass

from .enums import BrokerType
from .errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A token-bucket budget: at most ``limit`` requests in any window of ``interval_s`` seconds."""

    limit: int
    interval_s: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.limit, int) or self.limit < 1:
            raise ConfigurationError(f"rate limit must be a whole number >= 1, got {self.limit!r}")
        if not self.interval_s > 0:
            raise ConfigurationError(f"rate limit interval must be > 0 seconds, got {self.interval_s!r}")

    @classmethod
    def for_broker(cls, broker_type: BrokerType) -> RateLimit:
        """The spec's per-broker budget (TC-002): KIS 20/s, Creon 15/s, Kiwoom 5/s; MOCK 1,000/s.

        The brokers publish tighter, multi-window limits (KIS real accounts 18/s since
        2026-04-20, paper 1/s); pass an explicit ``RateLimit`` to use those.
        """
        return _PRESETS[broker_type]

    def __str__(self) -> str:
        window = "s" if self.interval_s == 1 else f"{self.interval_s:g}s"
        return f"{self.limit}/{window}"


_PRESETS = {
    BrokerType.KIS: RateLimit(20, 1.0),
    BrokerType.CREON: RateLimit(15, 1.0),
    BrokerType.KIWOOM: RateLimit(5, 1.0),
    BrokerType.MOCK: RateLimit(1000, 1.0),
}


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Deadlines in seconds.

    Attributes:
        connect_s: how long ``connect()`` waits for the channel to become ready.
        read_s: deadline of one read call (quotes, candles, balance ...), per attempt.
        order_s: deadline of one order call (place, cancel).
    """

    connect_s: float = 5.0
    read_s: float = 10.0
    order_s: float = 10.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of idempotent reads. Orders are never retried blindly.

    Attributes:
        max_attempts: attempts in all, the first included (1 disables retries).
        initial_backoff_s: first backoff; it doubles each time, with jitter.
        max_backoff_s: cap of one backoff.
        budget_s: no retry starts later than this many seconds after the first retry.
    """

    max_attempts: int = 4
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 2.0
    budget_s: float = 15.0
