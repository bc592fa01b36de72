"""Configuration of a broker connection and its accounts."""

from __future__ import annotations

from dataclasses import dataclass, field

from .enums import AccountType, BrokerType
from .errors import ConfigurationError
from .policies import RateLimit, RateLimitPolicy, RetryPolicy, Timeouts


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """One trading account at a broker."""

    account_id: str
    account_name: str = ""
    account_type: AccountType = AccountType.PAPER

    def __post_init__(self) -> None:
        if not self.account_id or not isinstance(self.account_id, str):
            raise ConfigurationError("account_id must be a non-empty string")


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """How to reach one broker's JTS gateway server.

    Attributes:
        broker_type: which brokerage the gateway wraps; picks the default rate limit.
        grpc_host: gateway host; loopback by default.
        grpc_port: gateway port, 1-65535.
        rate_limit: request budgets: a :class:`RateLimitPolicy`, one :class:`RateLimit` for every
            call, or None for the broker's published windows (``RateLimitPolicy.published``;
            KIS paper budgets apply when the first account is a paper account).
        accounts: the accounts to trade; the first is the default.
        timeouts: deadlines in seconds.
        retry: retry policy of reads.
    """

    broker_type: BrokerType = BrokerType.KIS
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50551
    rate_limit: RateLimitPolicy | RateLimit | None = None
    accounts: tuple[AccountConfig, ...] = ()
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        if not isinstance(self.grpc_port, int) or not 0 < self.grpc_port < 65536:
            raise ConfigurationError(f"grpc_port must be 1-65535, got {self.grpc_port!r}")
        if not self.grpc_host:
            raise ConfigurationError("grpc_host must not be empty")
        object.__setattr__(self, "accounts", tuple(self.accounts))

    @property
    def target(self) -> str:
        """``host:port`` as grpc expects it (IPv6 hosts in brackets)."""
        host = f"[{self.grpc_host}]" if ":" in self.grpc_host and not self.grpc_host.startswith("[") else self.grpc_host
        return f"{host}:{self.grpc_port}"

    @property
    def rate_limit_policy(self) -> RateLimitPolicy:
        """The budgets in force: ``rate_limit`` as a policy, or the broker's published windows."""
        if isinstance(self.rate_limit, RateLimitPolicy):
            return self.rate_limit
        if isinstance(self.rate_limit, RateLimit):
            return RateLimitPolicy.single(self.rate_limit)
        account_type = self.accounts[0].account_type if self.accounts else AccountType.REAL
        return RateLimitPolicy.published(self.broker_type, account_type)

    @classmethod
    def from_target(cls, target: str, **kwargs: object) -> BrokerConfig:
        """Build a config from ``host:port`` (``[v6addr]:port`` for IPv6).

        Raises:
            ConfigurationError: the target is not ``host:port``.
        """
        host, sep, port = target.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ConfigurationError(f"target must be host:port, got {target!r}")
        return cls(grpc_host=host.strip("[]"), grpc_port=int(port), **kwargs)  # type: ignore[arg-type]
