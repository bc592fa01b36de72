"""``BrokerRegistry``: several brokers and their accounts, by name, from one config file.

::

    with BrokerRegistry.from_config() as registry:      # jts-broker.toml, see config_file
        registry.connect()                               # every broker; one down does not stop the rest
        kis = registry.gateway("kis-main")
        name, gateway = registry.for_account("50012345-01")
        for health in registry.check_health():
            print(health.name, health.status, health.latency_s, health.last_error)

The registry builds the right gateway per broker (``MockBrokerGateway`` for ``type = "mock"``,
``GrpcBrokerGateway`` otherwise), follows each one's status, and closes them all on exit.
Thread-safe.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType

from jts_broker.client._generated.gateway import GrpcBrokerGateway
from jts_broker.client.config_file import load_settings
from jts_broker.domain.config import BrokerConfig
from jts_broker.domain.connection import ConnectionStatusChange
from jts_broker.domain.enums import BrokerType, ConnectionStatus
from jts_broker.domain.errors import ConfigurationError, JtsBrokerError
from jts_broker.domain.gateway import IBrokerGateway
from jts_broker.domain.timeutil import now_kst
from jts_broker.kis.gateway import KisRestGateway
from jts_broker.mock import MockBrokerGateway

GatewayFactory = Callable[[str, BrokerConfig], IBrokerGateway]


def default_gateway(name: str, config: BrokerConfig) -> IBrokerGateway:
    """``MockBrokerGateway`` for MOCK brokers, ``GrpcBrokerGateway`` for the others."""
    return MockBrokerGateway(config) if config.broker_type is BrokerType.MOCK else GrpcBrokerGateway(config)


@dataclass(frozen=True, slots=True)
class BrokerHealth:
    """What the registry knows of one broker.

    Attributes:
        name: the broker's name in the config.
        broker_type: KIS, CREON, KIWOOM or MOCK.
        target: ``host:port`` of its gateway server (``"in memory"`` for a mock).
        status: the connection status now (ERROR while reconnecting after a failed health check).
        latency_s: round trip of the last successful health check, seconds; None before one.
        last_error: the last error seen (connect, health check or connection loss); empty if none.
        last_error_time: when it was seen, tz-aware (Asia/Seoul); None if never.
        checked_time: when health was last checked, tz-aware; None if never.
        accounts: the configured account ids.
        rate_limits: the budgets calls are held to, e.g. ``"queries 18/s (orders included)"``.
    """

    name: str
    broker_type: BrokerType
    target: str
    status: ConnectionStatus
    latency_s: float | None
    last_error: str
    last_error_time: datetime | None
    checked_time: datetime | None
    accounts: tuple[str, ...]
    rate_limits: str


@dataclass
class _Entry:
    config: BrokerConfig
    gateway: IBrokerGateway | None = None
    latency_s: float | None = None
    last_error: str = ""
    last_error_time: datetime | None = None
    checked_time: datetime | None = None
    check_failed: bool = False


class BrokerRegistry:
    """Brokers by name, each with its gateway, built on first use.

    Args:
        configs: broker configs by name (e.g. ``load_settings().brokers``).
        gateway_factory: builds a gateway for a name and config (default :func:`default_gateway`).
    """

    def __init__(self, configs: Mapping[str, BrokerConfig], *, gateway_factory: GatewayFactory = default_gateway) -> None:
        self._entries = {name: _Entry(config) for name, config in configs.items()}
        self._factory = gateway_factory
        self._lock = threading.RLock()
        self._closed = False
        self._owners: dict[str, list[str]] = {}
        for name, config in configs.items():
            for account in config.accounts:
                self._owners.setdefault(account.account_id, []).append(name)

    @classmethod
    def from_config(cls, path: Path | None = None, environ: Mapping[str, str] | None = None, *,
                    gateway_factory: GatewayFactory = default_gateway) -> BrokerRegistry:
        """A registry of every broker in the config file found as ``config_file.find_config`` says.

        Raises:
            ConfigurationError: no file found ("Broker configuration not found", naming the
                paths searched), or the file is invalid (naming the key and line).
        """
        settings = load_settings(path, environ)
        if not settings.rest:
            return cls(settings.brokers, gateway_factory=gateway_factory)

        def factory(name: str, config: BrokerConfig) -> IBrokerGateway:
            # backend = "rest": KIS's Open API directly, no gateway server
            return KisRestGateway(settings.rest[name]) if name in settings.rest else gateway_factory(name, config)

        return cls(settings.brokers, gateway_factory=factory)

    # -- lookup --------------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """Broker names, in config order."""
        return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def config(self, name: str) -> BrokerConfig:
        return self._entry(name).config

    def _entry(self, name: str) -> _Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigurationError(f"no broker named {name!r} (configured: {', '.join(self._entries) or 'none'})", code="UNKNOWN_BROKER") from None

    def gateway(self, name: str) -> IBrokerGateway:
        """The gateway of broker ``name`` (built, not yet connected, on first use).

        Raises:
            ConfigurationError: no broker has that name, or the registry is closed.
        """
        with self._lock:
            if self._closed:
                raise ConfigurationError("the registry is closed", code="REGISTRY_CLOSED")
            entry = self._entry(name)
            if entry.gateway is None:
                entry.gateway = self._factory(name, entry.config)
                entry.gateway.subscribe_status(functools.partial(self._on_change, entry))
            return entry.gateway

    def for_account(self, account_id: str) -> tuple[str, IBrokerGateway]:
        """The broker name and gateway that trade ``account_id``.

        Raises:
            ConfigurationError: no broker, or more than one, configures that account.
        """
        names = self._owners.get(account_id, [])
        if len(names) != 1:
            known = ", ".join(self._owners) or "none"
            raise ConfigurationError(f"no broker configures account {account_id} (configured: {known})" if not names else
                                     f"account {account_id} is configured for several brokers ({', '.join(names)}): use gateway(name)",
                                     code="UNKNOWN_ACCOUNT" if not names else "AMBIGUOUS_ACCOUNT")
        return names[0], self.gateway(names[0])

    # -- connection and health -------------------------------------------------------------------

    def _on_change(self, entry: _Entry, change: ConnectionStatusChange) -> None:
        if change.status is ConnectionStatus.ERROR:
            with self._lock:
                entry.last_error, entry.last_error_time = change.reason or "connection error", change.time

    def _record_error(self, entry: _Entry, error: Exception) -> None:
        with self._lock:
            entry.last_error, entry.last_error_time = str(error), now_kst()

    def connect(self, name: str | None = None) -> dict[str, JtsBrokerError | None]:
        """Connect broker ``name``, or every broker. One broker's failure does not stop the others:
        it is recorded (see :meth:`health`) and returned. With a ``name``, its error is raised.

        Returns:
            broker name -> None when connected, else the error.
        """
        names = [name] if name is not None else self.names
        results: dict[str, JtsBrokerError | None] = {}
        for each in names:
            try:
                self.gateway(each).connect()  # building it can fail too (e.g. an unusable offline cache)
                results[each] = None
            except JtsBrokerError as error:
                self._record_error(self._entry(each), error)
                if name is not None:
                    raise
                results[each] = error
        return results

    def check_health(self) -> list[BrokerHealth]:
        """A health check of every broker now (connecting those not yet connected), then
        :meth:`health`. Failures are recorded, never raised."""
        for name in self.names:
            entry = self._entry(name)
            try:
                latency = self.gateway(name).check_health()
            except JtsBrokerError as error:
                self._record_error(entry, error)
                failed = True
            else:
                with self._lock:
                    entry.latency_s = latency
                failed = False
            with self._lock:
                entry.checked_time, entry.check_failed = now_kst(), failed
        return self.health()

    def health(self) -> list[BrokerHealth]:
        """What is known of every broker, in config order, without touching the network."""
        with self._lock:
            return [BrokerHealth(
                name=name, broker_type=e.config.broker_type,
                target="in memory" if e.config.broker_type is BrokerType.MOCK else e.config.target,
                status=self._status(e),
                latency_s=e.latency_s, last_error=e.last_error, last_error_time=e.last_error_time, checked_time=e.checked_time,
                accounts=tuple(a.account_id for a in e.config.accounts), rate_limits=str(e.config.rate_limit_policy),
            ) for name, e in self._entries.items()]

    @staticmethod
    def _status(entry: _Entry) -> ConnectionStatus:
        if entry.gateway is None:
            return ConnectionStatus.DISCONNECTED
        status = entry.gateway.status
        # A gateway that lost its server says CONNECTING while it retries; after a failed health
        # check the registry reports what the check found: the broker is in ERROR.
        return ConnectionStatus.ERROR if entry.check_failed and status is ConnectionStatus.CONNECTING else status

    def close(self) -> None:
        """Close every gateway built so far. Idempotent."""
        with self._lock:
            self._closed = True
            gateways = [e.gateway for e in self._entries.values() if e.gateway is not None]
        for gateway in gateways:
            gateway.close()

    def __enter__(self) -> BrokerRegistry:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
