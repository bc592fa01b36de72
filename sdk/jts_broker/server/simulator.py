"""``SimulatorServer``: the gateway server over the paper backend, with the replay clock."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Self

from jts_broker.domain.config import AccountConfig, BrokerConfig
from jts_broker.domain.enums import AccountType, BrokerType
from jts_broker.domain.policies import RateLimitPolicy
from jts_broker.domain.trading import Account
from jts_broker.paper.broker import PaperBroker
from jts_broker.paper.data_loader import load_market
from jts_broker.paper.gateway import PaperGateway
from jts_broker.paper.market import BarMarket

from .auth import ServerTls
from .faults import FaultPlan
from .gateway_server import GatewayServer

DEFAULT_ACCOUNTS = (
    Account("50000001-01", "Paper 1", AccountType.PAPER),
    Account("50000002-01", "Paper 2", AccountType.PAPER),
)


class SimulatorServer(GatewayServer):
    """A paper-trading gateway server replaying real KRX prices: the :class:`GatewayServer` over
    a :class:`~jts_broker.paper.gateway.PaperGateway`, and the clock that steps the replay.

    Args:
        host, port, max_workers, max_streams, rate_limits, broker_type, faults, tls, token: as
            :class:`GatewayServer`'s.
        data_dir: folder of ``<code>.csv`` daily files; None serves the bundled KRX data.
        session_date: the replayed trading date; default the latest date in the data.
        accounts: paper accounts; default two, ``50000001-01`` and ``50000002-01``.
        initial_cash: starting cash of each account, KRW.
        tick_interval_s: seconds between replay steps of the session; 0 stops the clock (tests
            drive it with :meth:`step`).
        market: a ready market (overrides ``data_dir`` and ``session_date``).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, data_dir: Path | None = None, session_date: date | None = None,
                 accounts: tuple[Account, ...] = DEFAULT_ACCOUNTS, initial_cash: Decimal = Decimal(100_000_000),
                 tick_interval_s: float = 1.0, max_workers: int = 64, max_streams: int | None = None, market: BarMarket | None = None,
                 rate_limits: RateLimitPolicy | None = None, broker_type: BrokerType = BrokerType.MOCK,
                 faults: FaultPlan | tuple[FaultPlan, ...] | None = None, tls: ServerTls | None = None, token: str | None = None) -> None:
        self.market = market or load_market(data_dir, session_date)
        self.broker = PaperBroker(self.market, accounts, initial_cash)
        config = BrokerConfig(broker_type=BrokerType.MOCK, accounts=tuple(AccountConfig(a.account_id, a.account_name, a.account_type) for a in accounts),
                              order_journal=None)
        super().__init__(PaperGateway(self.market, self.broker, config), host, port, today=lambda: self.market.session_date,
                         max_workers=max_workers, max_streams=max_streams, rate_limits=rate_limits, broker_type=broker_type, faults=faults, tls=tls, token=token)
        self.tick_interval_s = tick_interval_s
        self._stop_clock = threading.Event()
        self._clock: threading.Thread | None = None

    def start(self) -> Self:
        """Bind, start serving and start the replay clock; returns self.

        Raises:
            BrokerUnavailable: the port cannot be bound (in use, or no permission).
        """
        super().start()
        if self.tick_interval_s > 0:
            self._stop_clock.clear()
            self._clock = threading.Thread(target=self._run_clock, name="jts-sim-clock", daemon=True)
            self._clock.start()
        return self

    def step(self) -> bool:
        """Advance the replay one step and match working orders; False once at the close."""
        moved = self.market.advance()
        if moved:
            self.broker.on_market_step()
        return moved

    def _run_clock(self) -> None:
        while not self._stop_clock.wait(self.tick_interval_s):
            self.step()

    def stop(self, grace_s: float = 1.0) -> None:
        """Stop the clock, tell health watchers NOT_SERVING, then stop; in-flight calls get
        ``grace_s`` seconds."""
        self._stop_clock.set()
        super().stop(grace_s)
