"""Policy value objects: rate limits, retries and timeouts, with units in their names.

Rate-limit figures and their sources are in :meth:`RateLimitPolicy.published` (the brokers'
windows) and :meth:`RateLimitPolicy.spec` (the spec's TC-002).

They are plain data; ``jts_broker.policies`` translates them to pyrate-limiter and tenacity.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from .enums import AccountType, BrokerType
from .errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class RateLimit:
    """One window of a token-bucket budget: at most ``limit`` tokens in any ``interval_s`` seconds."""

    limit: int
    interval_s: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 1:
            raise ConfigurationError(f"rate limit must be a whole number >= 1, got {self.limit!r}")
        if not isinstance(self.interval_s, (int, float)) or not self.interval_s > 0:
            raise ConfigurationError(f"rate limit interval must be > 0 seconds, got {self.interval_s!r}")

    @property
    def density(self) -> float:
        """Tokens per second."""
        return self.limit / self.interval_s

    @classmethod
    def for_broker(cls, broker_type: BrokerType) -> RateLimit:
        """The spec's per-broker figure (TC-002): KIS 20/s, Creon 15/s, Kiwoom 5/s; MOCK 1,000/s."""
        return RateLimitPolicy.spec(broker_type).query.windows[0]

    def __str__(self) -> str:
        window = "s" if self.interval_s == 1 else f"{self.interval_s:g}s"
        return f"{self.limit}/{window}"


class RateCategory(StrEnum):
    """What a call spends: brokers budget queries and orders separately (or not at all)."""

    QUERY = "query"
    ORDER = "order"


@dataclass(frozen=True, slots=True)
class RateBudget:
    """A budget of one or more windows that must all hold (Creon: 15 per second and 60 per 15 s).

    Windows are ordered by interval; as pyrate-limiter requires, longer windows allow more tokens
    but no more per second than shorter ones.
    """

    windows: tuple[RateLimit, ...]

    def __post_init__(self) -> None:
        windows = tuple(sorted(self.windows, key=lambda w: w.interval_s))
        if not windows:
            raise ConfigurationError("a rate budget needs at least one window")
        for short, long in itertools.pairwise(windows):
            if not (short.interval_s < long.interval_s and short.limit < long.limit and short.density >= long.density):
                raise ConfigurationError(f"rate windows {short} and {long}: a longer window must allow more tokens at no higher rate")
        object.__setattr__(self, "windows", windows)

    @classmethod
    def of(cls, *windows: tuple[int, float] | RateLimit) -> RateBudget:
        """``RateBudget.of((15, 1), (60, 15))``: windows as (limit, interval_s) pairs."""
        return cls(tuple(w if isinstance(w, RateLimit) else RateLimit(int(w[0]), float(w[1])) for w in windows))

    def __str__(self) -> str:
        return " + ".join(str(w) for w in self.windows)


@dataclass(frozen=True, slots=True)
class RateLimitPolicy:
    """Every rate rule of one broker connection.

    Attributes:
        query: budget of queries (market data, balances, order lookups).
        order: budget of orders (place, cancel); None: orders spend the query budget too, as
            KIS counts every call of an app key together.
        weights: tokens per call by RPC name (e.g. ``{"GetCandles": 2}``); others cost 1.
        max_wait_s: longest a call waits for a token before ``RateLimitExceeded``; None: no bound.
        backend: where the tokens live: ``"memory"`` (this process), ``"sqlite:///path"``
            (processes of one machine) or ``"redis://host:port/db"`` (several machines).
        key: name of the shared budget in the backend; connections with the same key share it.
        margin_s: safety margin added to every window on the client, at least 1% of the window
            (20 per 1 s is enforced as 20 per 1.03 s, 60 per 15 s as 60 per 15.15 s): requests
            that take unequal times to reach the broker still arrive inside its windows (see
            ``jts_broker.policies.rate_limiter.pyrate_rates``).
    """

    query: RateBudget
    order: RateBudget | None = None
    weights: Mapping[str, int] = field(default_factory=dict)
    max_wait_s: float | None = None
    backend: str = "memory"
    key: str = "default"
    margin_s: float = 0.03

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", MappingProxyType(dict(self.weights)))
        for name, weight in self.weights.items():
            if isinstance(weight, bool) or not isinstance(weight, int) or weight < 1:
                raise ConfigurationError(f"weight of {name} must be a whole number >= 1, got {weight!r}")
        if not 0 <= self.margin_s < 1:
            raise ConfigurationError(f"margin_s must be 0 to 1 second, got {self.margin_s!r}")
        if self.max_wait_s is not None and not self.max_wait_s >= 0:
            raise ConfigurationError(f"max_wait_s must be >= 0 seconds, got {self.max_wait_s!r}")
        if not (self.backend == "memory" or self.backend.startswith(("sqlite:///", "redis://", "rediss://"))):
            raise ConfigurationError(f"rate-limit backend must be memory, sqlite:///PATH or redis://HOST:PORT/DB, got {self.backend!r}")

    def __hash__(self) -> int:
        return hash((self.query, self.order, tuple(sorted(self.weights.items())), self.max_wait_s, self.backend, self.key, self.margin_s))

    def budget(self, category: RateCategory) -> RateBudget:
        """The budget ``category`` spends (orders fall back to the query budget)."""
        return self.order if category is RateCategory.ORDER and self.order is not None else self.query

    @property
    def categories(self) -> tuple[RateCategory, ...]:
        """The separate budgets: (QUERY,) when orders share it, else (QUERY, ORDER)."""
        return (RateCategory.QUERY,) if self.order is None else (RateCategory.QUERY, RateCategory.ORDER)

    @classmethod
    def single(cls, limit: RateLimit) -> RateLimitPolicy:
        """One budget of one window for every call."""
        return cls(RateBudget((limit,)))

    @classmethod
    def spec(cls, broker_type: BrokerType) -> RateLimitPolicy:
        """The spec's figures (TC-002), one budget per broker: KIS 20/s, Creon 15/s, Kiwoom 5/s."""
        return cls.single(RateLimit(_SPEC[broker_type]))

    @classmethod
    def published(cls, broker_type: BrokerType, account_type: AccountType = AccountType.REAL) -> RateLimitPolicy:
        """The brokers' own published windows (tighter than the spec):

        - KIS: 18 calls/s per app key for real accounts (lowered from 20 on 2026-04-20), 1/s for
          paper accounts; queries and orders share it.
        - Creon: queries 15/s and 60 per 15 s; orders 20 per 15 s, a separate budget.
        - Kiwoom OpenAPI+: 5 queries/s and 5 orders/s, separate (its per-minute and per-hour
          limits are unpublished).
        """
        if broker_type is BrokerType.KIS:
            return cls.single(RateLimit(1 if account_type is AccountType.PAPER else 18))
        if broker_type is BrokerType.CREON:
            return cls(RateBudget.of((15, 1.0), (60, 15.0)), RateBudget.of((20, 15.0)))
        if broker_type is BrokerType.KIWOOM:
            return cls(RateBudget.of((5, 1.0)), RateBudget.of((5, 1.0)))
        return cls.spec(broker_type)

    def __str__(self) -> str:
        return f"queries {self.query}" + (f", orders {self.order}" if self.order else " (orders included)")


_SPEC = {BrokerType.KIS: 20, BrokerType.CREON: 15, BrokerType.KIWOOM: 5, BrokerType.MOCK: 1000}


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

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ConfigurationError(f"max_attempts must be a whole number >= 1, got {self.max_attempts!r}")
        if not 0 < self.initial_backoff_s <= self.max_backoff_s:
            raise ConfigurationError(f"retry backoff must satisfy 0 < initial ({self.initial_backoff_s!r}) <= max ({self.max_backoff_s!r}) seconds")
        if not self.budget_s >= 0:
            raise ConfigurationError(f"budget_s must be >= 0 seconds, got {self.budget_s!r}")


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Health checks and automatic reconnection of a gateway's connection.

    While connected, the gateway watches the server's ``grpc.health.v1`` status (a ``Watch``
    stream renewed every ``health_interval_s``; a ``Check`` as often where the server has no
    ``Watch``). When the
    connection breaks, it tries again with exponential backoff and jitter until it is back or the
    gateway is closed.

    Attributes:
        initial_backoff_s: wait before the second attempt; it doubles each time.
        max_backoff_s: cap of one wait.
        health_interval_s: the longest the connection goes without hearing from the server, seconds:
            a health stream is renewed (or, where the server cannot stream, a check made) this often,
            so a server that vanished without a word is noticed within about this long.
        enabled: False: no health checks and no reconnection (the channel still reconnects when
            a call needs it).
    """

    initial_backoff_s: float = 0.1
    max_backoff_s: float = 2.0
    health_interval_s: float = 5.0
    enabled: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.initial_backoff_s <= self.max_backoff_s:
            raise ConfigurationError(f"reconnect backoff must satisfy 0 < initial ({self.initial_backoff_s!r}) <= max ({self.max_backoff_s!r}) seconds")
        if not self.health_interval_s > 0:
            raise ConfigurationError(f"health_interval_s must be > 0 seconds, got {self.health_interval_s!r}")
