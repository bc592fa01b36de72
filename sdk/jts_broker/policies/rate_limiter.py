"""``RateLimit`` -> pyrate-limiter: the request budget of one broker connection.

Every call a gateway makes takes a token first (FR-003). At capacity the caller waits until a
token is free (the epic's "queued until a token is free"): a thread blocks, a coroutine awaits
without blocking its loop. pyrate-limiter 4.5 adds ``buffer_ms`` (default 50 ms) to each wait,
so a saturated 20/s budget runs at about 19/s: the budget is never exceeded, at a small cost.

pyrate-limiter's ``bucket.count()`` includes expired items its leaker has not yet removed, so the
usage snapshot is computed here from our own record of admissions.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

from pyrate_limiter import InMemoryBucket, Limiter, Rate

from jts_broker.domain.errors import InvalidRequest, RateLimitExceeded
from jts_broker.domain.policies import RateLimit

_ITEM = "jts"  # pyrate-limiter's item name; it does not split a bucket, so one name serves


@dataclass(frozen=True, slots=True)
class RateLimitUsage:
    """A snapshot of a budget.

    Attributes:
        used: tokens taken in the last ``window_s`` seconds.
        limit: tokens allowed per window.
        window_s: window length in seconds.
        waiting: callers waiting for a token right now.
        total: tokens taken since the limiter was created.
    """

    used: int
    limit: int
    window_s: float
    waiting: int
    total: int

    @property
    def utilization(self) -> float:
        """``used / limit``, 0.0 to 1.0."""
        return self.used / self.limit


class RateLimiter:
    """A token bucket of ``rate_limit.limit`` tokens per ``rate_limit.interval_s`` seconds.

    Thread-safe; one instance per budget (one broker connection). Call :meth:`close` (or use
    ``with``) to stop pyrate-limiter's background leaker thread.
    """

    def __init__(self, rate_limit: RateLimit) -> None:
        self.rate_limit = rate_limit
        interval_ms = max(1, round(rate_limit.interval_s * 1000))
        self._limiter = Limiter(InMemoryBucket([Rate(rate_limit.limit, interval_ms)]))
        self._lock = threading.Lock()
        self._admitted: deque[float] = deque()  # monotonic times of admissions within the window
        self._waiting = 0
        self._total = 0

    def _check_weight(self, weight: int) -> None:
        if not 1 <= weight <= self.rate_limit.limit:
            raise InvalidRequest(f"rate-limit weight must be 1..{self.rate_limit.limit}, got {weight}")

    def _enter(self) -> None:
        with self._lock:
            self._waiting += 1

    def _leave(self, weight: int, admitted: bool) -> None:
        now = time.monotonic()
        with self._lock:
            self._waiting -= 1
            if admitted:
                self._admitted.extend([now] * weight)
                self._total += weight
            self._prune(now)

    def _prune(self, now: float) -> None:
        horizon = now - self.rate_limit.interval_s
        while self._admitted and self._admitted[0] <= horizon:
            self._admitted.popleft()

    def _denied(self, timeout_s: float) -> RateLimitExceeded:
        return RateLimitExceeded(
            f"no rate-limit token within {timeout_s:g} s (budget {self.rate_limit})",
            retry_after_s=self.rate_limit.interval_s / self.rate_limit.limit,
            code="LOCAL_RATE_LIMIT",
        )

    def acquire(self, weight: int = 1, timeout_s: float | None = None) -> None:
        """Take ``weight`` tokens, blocking the calling thread until they are free.

        Args:
            weight: tokens to take (1 per request).
            timeout_s: wait at most this long; None waits as long as it takes.

        Raises:
            RateLimitExceeded: no token within ``timeout_s`` (``retry_after_s`` set).
            InvalidRequest: ``weight`` outside 1..limit.
        """
        self._check_weight(weight)
        self._enter()
        admitted = False
        try:
            admitted = bool(self._limiter.try_acquire(_ITEM, weight=weight, timeout=-1 if timeout_s is None else timeout_s))
        finally:
            self._leave(weight, admitted)
        if not admitted:
            raise self._denied(timeout_s or 0.0)

    async def acquire_async(self, weight: int = 1, timeout_s: float | None = None) -> None:
        """:meth:`acquire` for asyncio: awaits without blocking the event loop."""
        self._check_weight(weight)
        self._enter()
        admitted = False
        try:
            admitted = await self._limiter.try_acquire_async(_ITEM, weight=weight, timeout=-1 if timeout_s is None else timeout_s)
        finally:
            self._leave(weight, admitted)
        if not admitted:
            raise self._denied(timeout_s or 0.0)

    def usage(self) -> RateLimitUsage:
        """The budget as it stands now (FR-005)."""
        with self._lock:
            self._prune(time.monotonic())
            return RateLimitUsage(len(self._admitted), self.rate_limit.limit, self.rate_limit.interval_s, self._waiting, self._total)

    def close(self) -> None:
        """Stop the limiter's background thread. Idempotent."""
        self._limiter.close()

    def __enter__(self) -> RateLimiter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
