"""``SimulatorServer``: the gateway server over the paper backend, with the replay clock."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Self

from jts_broker.domain.config import AccountConfig, BrokerConfig
from jts_broker.domain.enums import AccountType, BrokerType
from jts_broker.domain.policies import RateLimitPolicy
from jts_broker.domain.trading import Account
from jts_broker.paper.broker import PaperBroker
from jts_broker.paper.clock import ClockRunner
from jts_broker.paper.data_loader import load_market
from jts_broker.paper.gateway import PaperGateway
from jts_broker.paper.market import BarMarket

from .auth import ServerTls
from .control import ControlService
from .faults import FaultPlan
from .gateway_server import GatewayServer

DEFAULT_ACCOUNTS = (
    Account("50000001-01", "Paper 1", AccountType.PAPER),
    Account("50000002-01", "Paper 2", AccountType.PAPER),
)


class SimulatorServer(GatewayServer):
    """A paper-trading gateway server replaying real KRX prices: the :class:`GatewayServer` over
    a :class:`~jts_broker.paper.gateway.PaperGateway`, the market clock and what runs it, and, when
    asked, the ``SimulatorControl`` service that drives the clock and resets the accounts.

    Args:
        host, port, max_workers, max_streams, rate_limits, broker_type, faults, tls, token: as
            :class:`GatewayServer`'s (the token guards the control service too).
        data_dir: folder of ``<code>.csv`` daily files; None serves the bundled KRX data.
        start, end: the first and last trading days replayed (see
            :func:`~jts_broker.paper.data_loader.load_market`); default the latest trading day only.
        accounts: paper accounts; default two, ``50000001-01`` and ``50000002-01``.
        initial_cash: starting cash of each account, KRW.
        speed: market seconds per real second; 0 leaves the clock still (tests and backtests drive
            it with :meth:`step` or the control service).
        seed: seed of the synthetic intraday paths (same seed, same prices).
        control: serve the ``SimulatorControl`` service.
        market: a ready market (overrides ``data_dir``, ``start``, ``end`` and ``seed``).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, data_dir: Path | None = None, start: date | None = None,
                 end: date | None = None, accounts: tuple[Account, ...] = DEFAULT_ACCOUNTS, initial_cash: Decimal = Decimal(100_000_000),
                 speed: float = 60.0, seed: int = 0, control: bool = False, max_workers: int = 64, max_streams: int | None = None,
                 market: BarMarket | None = None, rate_limits: RateLimitPolicy | None = None, broker_type: BrokerType = BrokerType.MOCK,
                 faults: FaultPlan | tuple[FaultPlan, ...] | None = None, tls: ServerTls | None = None, token: str | None = None) -> None:
        self.market = market or load_market(data_dir, start, end, seed=seed)
        self.accounts = accounts
        self.initial_cash = Decimal(initial_cash)
        self.broker = PaperBroker(self.market, accounts, initial_cash)
        config = BrokerConfig(broker_type=BrokerType.MOCK, accounts=tuple(AccountConfig(a.account_id, a.account_name, a.account_type) for a in accounts),
                              order_journal=None)
        super().__init__(PaperGateway(self.market, self.broker, config), host, port, today=lambda: self.market.session_date,
                         max_workers=max_workers, max_streams=max_streams, rate_limits=rate_limits, broker_type=broker_type, faults=faults, tls=tls, token=token)
        self.runner = ClockRunner(self.market.clock, speed)
        if control:
            self.add_service(ControlService(self.runner, self.reset_accounts))

    def start(self) -> Self:
        """Bind, start serving and start the market clock; returns self.

        Raises:
            BrokerUnavailable: the port cannot be bound (in use, or no permission).
        """
        super().start()
        self.runner.start()
        return self

    def step(self, count: int = 1) -> bool:
        """Move the market clock through its next ``count`` events (prices, session boundaries);
        working orders are matched at each. False once the replay has ended."""
        return self.market.clock.step_events(count) == count

    def reset_accounts(self) -> None:
        """Every account back to its initial cash, with no positions and no orders."""
        self.broker.reset(self.initial_cash)

    def stop(self, grace_s: float = 1.0) -> None:
        """Stop the clock, tell health watchers NOT_SERVING, then stop; in-flight calls get
        ``grace_s`` seconds."""
        self.runner.stop()
        super().stop(grace_s)
