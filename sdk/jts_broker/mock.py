"""``MockBrokerGateway``: the whole gateway interface in memory, with no network."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from decimal import Decimal

from jts_broker.domain.config import AccountConfig, BrokerConfig
from jts_broker.domain.connection import ConnectionState, StatusListener
from jts_broker.domain.enums import BrokerType, ConnectionStatus, Market, Timeframe
from jts_broker.domain.errors import BrokerUnavailable
from jts_broker.domain.gateway import DateLike, IBrokerGateway, QuoteStream
from jts_broker.domain.market_data import Candle, Quote, Symbol
from jts_broker.domain.orders import check_client_order_id, prepare_order
from jts_broker.domain.policies import RateCategory
from jts_broker.domain.provenance import ResultList
from jts_broker.domain.symbols import normalize_symbol
from jts_broker.domain.timeutil import now_kst
from jts_broker.domain.trading import Account, Balance, JournalEntry, Order, OrderRequest, OrderResult, Position
from jts_broker.domain.validation import check_account_id, check_candles, check_order_id, check_search, check_symbols, matches_search
from jts_broker.paper.broker import PaperBroker
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


class MockBrokerGateway(IBrokerGateway):
    """An in-memory broker for offline development and unit tests: no server, no network.

    Market data is a seeded random walk on the KRX tick grid within the daily price limits
    (:mod:`jts_broker.paper.synthetic`) for a few well-known codes; trading is the same paper
    engine as the simulator's (order checks, fills, commission and tax). The same seed and
    session date always give the same data. Calls take rate-limit tokens like a real gateway.

    Args:
        config: broker config; default a MOCK broker with one paper account ``MOCK-0001``.
        seed: seed of the random walk.
        session_date: the simulated trading date; default the last weekday up to today (KST).
        initial_cash: starting cash of each account, KRW.
    """

    def __init__(self, config: BrokerConfig | None = None, *, seed: int = 0, session_date: date | None = None,
                 initial_cash: Decimal = Decimal(100_000_000)) -> None:
        self.config = config or BrokerConfig(broker_type=BrokerType.MOCK, accounts=(_DEFAULT_ACCOUNT,))
        accounts = self.config.accounts or (_DEFAULT_ACCOUNT,)
        session = _last_weekday(session_date or now_kst().date())
        daily = {symbol.code: daily_bars(symbol, price, seed, session) for symbol, price in MOCK_SYMBOLS}
        self.market = BarMarket([s for s, _ in MOCK_SYMBOLS], daily, session_date=session)
        self.broker = PaperBroker(self.market, [Account(a.account_id, a.account_name, a.account_type) for a in accounts],
                                  initial_cash, order_id_prefix="MOCK")
        self._limiter = RateLimiter(self.config.rate_limit_policy)
        self._state = ConnectionState()
        self._lock = threading.Lock()

    @property
    def status(self) -> ConnectionStatus:
        return self._state.status

    def subscribe_status(self, listener: StatusListener) -> Callable[[], None]:
        return self._state.subscribe(listener)

    def set_status(self, status: ConnectionStatus, reason: str = "") -> None:
        """Put the mock in ``status``, to rehearse outages: in ERROR every call raises
        ``BrokerUnavailable`` until the status is set back to CONNECTED."""
        self._state.set(status, reason)

    def check_health(self) -> float:
        self._call("Check")
        return 0.0

    @property
    def rate_limiter(self) -> RateLimiter:
        return self._limiter

    def connect(self) -> None:
        if self._state.status is not ConnectionStatus.ERROR:
            self._state.set(ConnectionStatus.CONNECTED)

    def disconnect(self) -> None:
        self._state.set(ConnectionStatus.DISCONNECTED)

    def close(self) -> None:
        self.disconnect()
        self._limiter.close()

    def step(self) -> bool:
        """Advance the mock session one step and match working orders; False at the close."""
        with self._lock:
            moved = self.market.advance()
            if moved:
                self.broker.on_market_step()
            return moved

    def _call(self, method: str, category: RateCategory = RateCategory.QUERY) -> None:
        """Spend the tokens the gRPC gateway would for RPC ``method``."""
        if self._state.status is not ConnectionStatus.CONNECTED:
            if self._state.status is ConnectionStatus.ERROR:
                raise BrokerUnavailable(f"mock gateway is in ERROR state{': ' + self._state.reason if self._state.reason else ''}", code="NOT_CONNECTED")
            self.connect()
        if method == "Check":
            return
        self._limiter.acquire(category, self._limiter.weight_of(method))

    def _account(self, account_id: str | None) -> str:
        if account_id is None:
            return self.broker.accounts()[0].account_id
        return check_account_id(account_id)

    def get_accounts(self) -> ResultList[Account]:
        self._call("ListAccounts")
        return ResultList(self.broker.accounts())

    def get_symbols(self, query: str = "", market: Market | None = None) -> ResultList[Symbol]:
        query, market = check_search(query, market)
        self._call("ListSymbols")
        return ResultList(s for s in self.market.symbols() if matches_search(s, query, market))

    def get_symbol(self, code: str) -> Symbol:
        code = normalize_symbol(code)
        self._call("GetSymbol")
        return self.market.symbol(code)

    def get_candles(self, symbol: str, timeframe: Timeframe, start: DateLike, end: DateLike) -> ResultList[Candle]:
        query = check_candles(symbol, timeframe, start, end)
        self._call("GetCandles")
        return ResultList(self.market.candles(query.symbol, query.timeframe, query.start, query.end))

    def get_candles_many(self, symbols: Iterable[str], timeframe: Timeframe, start: DateLike, end: DateLike) -> dict[str, list[Candle]]:
        return {code: self.get_candles(code, timeframe, start, end) for code in check_symbols(symbols)}

    def get_quote(self, symbol: str) -> Quote:
        code = normalize_symbol(symbol)
        self._call("GetQuote")
        return self.market.quote(code)

    def stream_quotes(self, symbols: Iterable[str], *, resubscribe: bool = True) -> QuoteStream:
        """The mock's stream cannot break (there is no connection), so it never yields a gap."""
        return _MockQuoteStream(self, check_symbols(symbols))

    def get_balance(self, account_id: str | None = None) -> Balance:
        account = self._account(account_id)
        self._call("GetBalance")
        return self.broker.balance(account)

    def get_positions(self, account_id: str | None = None) -> ResultList[Position]:
        account = self._account(account_id)
        self._call("GetPositions")
        return ResultList(self.broker.positions(account))

    def place_order(self, order: OrderRequest) -> OrderResult:
        prepared = prepare_order(order)
        self._call("PlaceOrder", RateCategory.ORDER)
        return self.broker.place(prepared)

    def cancel_order(self, order_id: str) -> Order:
        oid = check_order_id(order_id)
        self._call("CancelOrder", RateCategory.ORDER)
        return self.broker.cancel(oid)

    def get_order_status(self, order_id: str) -> Order:
        oid = check_order_id(order_id)
        self._call("GetOrder")
        return self.broker.order(oid)

    def get_order_by_client_id(self, client_order_id: str, account_id: str | None = None) -> Order:
        account = self._account(account_id)
        cid = check_client_order_id(client_order_id)
        self._call("GetOrder")
        return self.broker.order_by_client_id(account, cid)

    def list_orders(self, account_id: str | None = None) -> list[Order]:
        account = self._account(account_id)
        self._call("ListOrders")
        return self.broker.orders(account)

    def unresolved_orders(self) -> list[JournalEntry]:
        """The mock keeps no order journal: nothing it sends can be lost in transit."""
        return []

    def reconcile_orders(self) -> list[JournalEntry]:
        return []
