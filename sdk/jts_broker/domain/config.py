"""Configuration of a broker connection and its accounts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .enums import AccountType, BrokerType
from .errors import ConfigurationError
from .policies import RateLimit, RateLimitPolicy, ReconnectPolicy, RetryPolicy, Timeouts

DEFAULT_JOURNAL = "default"
"""``BrokerConfig.order_journal``'s default: the journal file in the user data folder."""


@dataclass(frozen=True, slots=True)
class Secret:
    """A credential that never shows itself: ``repr`` and ``str`` print ``***``; read it with
    :meth:`reveal` where it is sent."""

    _value: str = field(repr=False)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """TLS to the gateway server (PEM files).

    Attributes:
        root_certificates: CA bundle that signed the server's certificate; None: the system's roots.
        client_certificate: this client's certificate, for servers that require one (mutual TLS).
        client_key: the private key of ``client_certificate``.
        server_name: name to verify the server's certificate against, when it differs from the
            host connected to (e.g. connecting by IP to a certificate for ``gateway.internal``).
    """

    root_certificates: Path | None = None
    client_certificate: Path | None = None
    client_key: Path | None = None
    server_name: str | None = None

    def __post_init__(self) -> None:
        for name in ("root_certificates", "client_certificate", "client_key"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value).expanduser())
        if (self.client_certificate is None) != (self.client_key is None):
            raise ConfigurationError("tls: client_certificate and client_key go together")

    def read(self) -> tuple[bytes | None, bytes | None, bytes | None]:
        """(root certificates, client key, client certificate) as PEM bytes.

        Raises:
            ConfigurationError: a file cannot be read (named).
        """

        def load(path: Path | None) -> bytes | None:
            if path is None:
                return None
            try:
                return path.read_bytes()
            except OSError as exc:
                raise ConfigurationError(f"tls: cannot read {path}: {exc.strerror}", code="TLS_FILE") from None

        return load(self.root_certificates), load(self.client_key), load(self.client_certificate)


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
        reconnect: health checks and automatic reconnection.
        tls: TLS settings; None: plaintext (fine on loopback, not across a network).
        token: bearer token sent with every call (``authorization: Bearer ...``); a ``str`` is
            wrapped in :class:`Secret`, so it never appears in ``repr`` or logs.
        offline_cache: SQLite file of the offline cache: live reads are written to it, and served
            from it (marked ``DataSource.CACHE``) while the server is unreachable; None: no cache.
        order_journal: SQLite file of the order journal (see ``jts_broker.journal``): every order
            is written to it before it is sent and marked with the answer, and ``connect()``
            settles what an earlier run left unresolved. ``"default"``: ``order-journal.sqlite``
            in the user data folder; a path; ``"none"`` (or None): no journal.
    """

    broker_type: BrokerType = BrokerType.KIS
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50551
    rate_limit: RateLimitPolicy | RateLimit | None = None
    accounts: tuple[AccountConfig, ...] = ()
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    tls: TlsConfig | None = None
    token: Secret | str | None = None
    offline_cache: Path | None = None
    order_journal: Path | str | None = DEFAULT_JOURNAL

    def __post_init__(self) -> None:
        if isinstance(self.order_journal, str) and self.order_journal != DEFAULT_JOURNAL:
            if not self.order_journal.strip():
                raise ConfigurationError('order_journal must be "default", "none" or a file path, got an empty string')
            object.__setattr__(self, "order_journal", None if self.order_journal == "none" else Path(self.order_journal))
        if isinstance(self.order_journal, Path):
            object.__setattr__(self, "order_journal", self.order_journal.expanduser())
        if self.offline_cache is not None:
            object.__setattr__(self, "offline_cache", Path(self.offline_cache).expanduser())
        if isinstance(self.token, str):
            object.__setattr__(self, "token", Secret(self.token) if self.token else None)
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
    def scope(self) -> str:
        """``"<broker type>@<host>:<port>"``: how the offline cache names this connection's data in
        a file that several connections share (the order journal, which follows accounts, uses
        the broker type alone)."""
        return f"{self.broker_type.value}@{self.target}"

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
