"""What a rate limiter shows of itself: usage snapshots of its budgets, and the interface the
gateways expose it by (``gateway.rate_limiter``). The limiter itself, on pyrate-limiter, is
``jts_broker.policies.rate_limiter.RateLimiter``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass

from .policies import RateBudget, RateCategory, RateLimitPolicy


@dataclass(frozen=True, slots=True)
class WindowUsage:
    """One window of a budget: ``used`` of ``limit`` tokens in the last ``interval_s`` seconds."""

    limit: int
    interval_s: float
    used: int

    @property
    def utilization(self) -> float:
        return self.used / self.limit


@dataclass(frozen=True, slots=True)
class RateLimitUsage:
    """A snapshot of one budget (FR-005).

    Attributes:
        category: what the budget is for (orders may share the query budget).
        windows: each window's use, shortest first; with a shared backend, every process's tokens.
        waiting: callers of this process waiting for a token now.
        total: tokens this process took since start.
        denials: calls of this process refused after their maximum wait.
        wait_p50_s, wait_p95_s: waits of this process's recent calls (last 1,000), seconds.
    """

    category: RateCategory
    windows: tuple[WindowUsage, ...]
    waiting: int
    total: int
    denials: int
    wait_p50_s: float
    wait_p95_s: float

    @property
    def used(self) -> int:
        """Tokens in the shortest window."""
        return self.windows[0].used

    @property
    def limit(self) -> int:
        return self.windows[0].limit

    @property
    def window_s(self) -> float:
        return self.windows[0].interval_s

    @property
    def utilization(self) -> float:
        """The fullest window's ``used / limit``, 0.0 to 1.0."""
        return max(w.utilization for w in self.windows)


class IRateLimiter(abc.ABC):
    """The request budgets of one broker connection (FR-003, FR-005). Thread-safe."""

    policy: RateLimitPolicy

    @property
    @abc.abstractmethod
    def rate_limit(self) -> RateBudget:
        """The query budget (all calls when orders share it)."""

    @abc.abstractmethod
    def weight_of(self, method: str) -> int:
        """Tokens a call of RPC ``method`` (e.g. ``"GetCandles"``) takes."""

    @abc.abstractmethod
    def acquire(self, category: RateCategory = RateCategory.QUERY, weight: int = 1, timeout_s: float | None = None) -> None:
        """Take ``weight`` tokens of ``category``, blocking until they are free; ``RateLimitExceeded``
        after ``timeout_s`` (None: the policy's ``max_wait_s``)."""

    @abc.abstractmethod
    async def acquire_async(self, category: RateCategory = RateCategory.QUERY, weight: int = 1, timeout_s: float | None = None) -> None:
        """:meth:`acquire` for asyncio, without blocking the event loop."""

    @abc.abstractmethod
    def usage(self, category: RateCategory = RateCategory.QUERY) -> RateLimitUsage:
        """The budget ``category`` spends, as it stands now."""

    @abc.abstractmethod
    def usages(self) -> list[RateLimitUsage]:
        """Every separate budget: the query budget, then the order budget when it has one."""

    @abc.abstractmethod
    def add_listener(self, listener: Callable[[RateLimitUsage], None]) -> Callable[[], None]:
        """Call ``listener(usage)`` after every acquire or denial; returns a function that removes it."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release what the limiter holds (threads, shared stores). Idempotent."""
