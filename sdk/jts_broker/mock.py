"""``MockBrokerGateway``: the whole gateway interface in memory, with no network."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal

from jts_broker.domain.config import AccountConfig, BrokerConfig
from jts_broker.domain.enums import BrokerType, ConnectionStatus
from jts_broker.domain.gateway import QuoteStream
from jts_broker.domain.market_data import Quote
from jts_broker.domain.orders import prepare_order
from jts_broker.domain.timeutil import now_kst
from jts_broker.domain.trading import Account, OrderRequest, OrderResult
from jts_broker.domain.validation import check_symbols
from jts_broker.paper.broker import PaperBroker
from jts_broker.paper.gateway import PaperGateway
from jts_broker.paper.market import BarMarket
from jts_broker.paper.synthetic import MOCK_SYMBOLS, daily_bars
from jts_broker.policies.rate_limiter import RateLimiter

_DEFAULT_ACCOUNT = AccountConfig("MOCK-0001", "Mock paper account")


def _last_weekday(day: date) -> date:
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


class _MockQuoteStream(QuoteStream):
    """Yields the current quotes, then advances the mock session one step per batch until the close."""

    def __init__(self, gateway: MockBrokerGateway, codes: list[str]) -> None:
        self._gateway = gateway
        self._codes = codes
        self._pending = [gateway.get_quote(c) for c in codes]
        self._closed = False

    def __next__(self) -> Quote:
        while not self._pending:
            if self._closed or not self._gateway.step():
                raise StopIteration
            self._pending = [self._gateway.get_quote(c) for c in self._codes]
        return self._pending.pop(0)

    def close(self) -> None:
        self._closed = True
        self._pending = []


class MockBrokerGateway(PaperGateway):
    """An in-memory broker for offline development and unit tests: no server, no network.

    Market data is a seeded random walk on the KRX tick grid within the daily price limits
    (:mod:`jts_broker.paper.synthetic`) for a few well-known codes; trading is the same paper
    engine as the simulator's (order checks, fills, commission and tax). The same seed and
    session date always give the same data. Calls take rate-limit tokens like a real gateway,
    and orders without a client order id get one, as the gRPC gateway gives them.

    Args:
        config: broker config; default a MOCK broker with one paper account ``MOCK-0001``.
        seed: seed of the random walk.
        session_date: the simulated trading date; default the last weekday up to today (KST).
        initial_cash: starting cash of each account, KRW.
    """

    def __init__(self, config: BrokerConfig | None = None, *, seed: int = 0, session_date: date | None = None,
                 initial_cash: Decimal = Decimal(100_000_000)) -> None:
        config = config or BrokerConfig(broker_type=BrokerType.MOCK, accounts=(_DEFAULT_ACCOUNT,))
        accounts = config.accounts or (_DEFAULT_ACCOUNT,)
        session = _last_weekday(session_date or now_kst().date())
        daily = {symbol.code: daily_bars(symbol, price, seed, session) for symbol, price in MOCK_SYMBOLS}
        market = BarMarket([s for s, _ in MOCK_SYMBOLS], daily, session, session, seed=seed)
        broker = PaperBroker(market, [Account(a.account_id, a.account_name, a.account_type) for a in accounts], initial_cash, order_id_prefix="MOCK")
        super().__init__(market, broker, config, RateLimiter(config.rate_limit_policy))
        self._lock = threading.Lock()

    @property
    def rate_limiter(self) -> RateLimiter:
        limiter = super().rate_limiter
        assert isinstance(limiter, RateLimiter)
        return limiter

    def set_status(self, status: ConnectionStatus, reason: str = "") -> None:
        """Put the mock in ``status``, to rehearse outages: in ERROR every call raises
        ``BrokerUnavailable`` until the status is set back to CONNECTED."""
        self._state.set(status, reason)

    def step(self) -> bool:
        """Move the mock's market clock to its next event (a new price, or a session boundary);
        working orders are matched there. False once the day has ended."""
        with self._lock:
            return self.market.advance()

    def stream_quotes(self, symbols: Iterable[str], *, resubscribe: bool = True) -> QuoteStream:
        """The mock's stream cannot break (there is no connection), so it never yields a gap; it
        advances the session itself, one step per batch of quotes."""
        return _MockQuoteStream(self, check_symbols(symbols))

    def place_order(self, order: OrderRequest) -> OrderResult:
        return super().place_order(prepare_order(order))
