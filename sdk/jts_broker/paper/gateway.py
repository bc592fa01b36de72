"""``PaperGateway``: the paper market and broker engine as a blocking gateway, in memory.

It is the paper backend of the gateway server (``jts-broker serve --backend paper``) and the base
of ``MockBrokerGateway``. Orders are taken as given: one without a client order id is refused
(``InvalidRequest``), as a broker deduplicating on it must; clients fill it in before sending.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable

from jts_broker.domain.config import BrokerConfig
from jts_broker.domain.connection import ConnectionState, StatusListener
from jts_broker.domain.enums import ConnectionStatus, Market, Timeframe
from jts_broker.domain.errors import BrokerUnavailable, ConfigurationError
from jts_broker.domain.gateway import DateLike, IBrokerGateway, QuoteStream
from jts_broker.domain.market_data import Candle, Quote, Symbol
from jts_broker.domain.orders import check_client_order_id
from jts_broker.domain.policies import RateCategory
from jts_broker.domain.provenance import ResultList
from jts_broker.domain.rate_limits import IRateLimiter
from jts_broker.domain.symbols import normalize_symbol
from jts_broker.domain.trading import Account, Balance, JournalEntry, Order, OrderRequest, OrderResult, Position
from jts_broker.domain.validation import check_account_id, check_candles, check_order_id, check_search, check_symbols, matches_search

from .broker import PaperBroker
from .market import BarMarket


class PaperQuoteStream(QuoteStream):
    """The current quote of each symbol, then each quote that changes as the replay steps; ends
    when closed (from any thread: the wait wakes within ``poll_s`` seconds). It cannot break, so
    it never yields a gap."""

    def __init__(self, market: BarMarket, codes: list[str], poll_s: float = 0.25) -> None:
        self._market = market
        self._codes = codes
        self._poll_s = poll_s
        # The step is read before the snapshot: a step taken in between is sent again rather than
        # lost (a repeat of the same quote is dropped below).
        self._step = market.step
        self._last = {code: market.quote(code) for code in codes}
        self._pending: deque[Quote] = deque(self._last.values())
        self._closed = threading.Event()

    def __next__(self) -> Quote:
        while not self._pending:
            if self._closed.is_set():
                raise StopIteration
            step = self._market.wait_for_change(self._step, self._poll_s)
            if step == self._step:
                continue
            self._step = step
            for code in self._codes:
                quote = self._market.quote(code)
                if quote != self._last[code]:
                    self._last[code] = quote
                    self._pending.append(quote)
        return self._pending.popleft()

    def close(self) -> None:
        self._closed.set()


class PaperGateway(IBrokerGateway):
    """Paper accounts on a replayed market, through the gateway interface. Thread-safe.

    Args:
        market: prices and the replay clock.
        broker: the paper accounts and their orders on ``market``.
        config: what ``config`` reports (accounts, rate limits).
        limiter: the budget every call takes its tokens from (as a gateway to a broker would);
            None: calls are not metered (the gateway server's backend: the server enforces broker
            budgets itself, ``serve --emulate``).
    """

    def __init__(self, market: BarMarket, broker: PaperBroker, config: BrokerConfig, limiter: IRateLimiter | None = None) -> None:
        self.config = config
        self.market = market
        self.broker = broker
        self._limiter = limiter
        self._state = ConnectionState()

    @property
    def status(self) -> ConnectionStatus:
        return self._state.status

    def subscribe_status(self, listener: StatusListener) -> Callable[[], None]:
        return self._state.subscribe(listener)

    def check_health(self) -> float:
        self._call("Check")
        return 0.0

    @property
    def rate_limiter(self) -> IRateLimiter:
        """The budget calls draw from.

        Raises:
            ConfigurationError: this gateway meters nothing (built with ``limiter=None``).
        """
        if self._limiter is None:
            raise ConfigurationError("this paper gateway meters no calls: the gateway server enforces broker budgets itself (serve --emulate)",
                                     code="NO_RATE_LIMITER")
        return self._limiter

    def connect(self) -> None:
        if self._state.status is not ConnectionStatus.ERROR:
            self._state.set(ConnectionStatus.CONNECTED)

    def disconnect(self) -> None:
        self._state.set(ConnectionStatus.DISCONNECTED)

    def close(self) -> None:
        self.disconnect()
        if self._limiter is not None:
            self._limiter.close()

    def _call(self, method: str, category: RateCategory = RateCategory.QUERY) -> None:
        """Spend the tokens the gRPC gateway would for RPC ``method``."""
        if self._state.status is not ConnectionStatus.CONNECTED:
            if self._state.status is ConnectionStatus.ERROR:
                raise BrokerUnavailable(f"paper gateway is in ERROR state{': ' + self._state.reason if self._state.reason else ''}",
                                        code="NOT_CONNECTED")
            self.connect()
        if method == "Check" or self._limiter is None:
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
        codes = check_symbols(symbols)
        self._call("StreamQuotes")
        return PaperQuoteStream(self.market, codes)

    def get_balance(self, account_id: str | None = None) -> Balance:
        account = self._account(account_id)
        self._call("GetBalance")
        return self.broker.balance(account)

    def get_positions(self, account_id: str | None = None) -> ResultList[Position]:
        account = self._account(account_id)
        self._call("GetPositions")
        return ResultList(self.broker.positions(account))

    def place_order(self, order: OrderRequest) -> OrderResult:
        """Place ``order`` as given (its client order id is required: see the module)."""
        self._call("PlaceOrder", RateCategory.ORDER)
        return self.broker.place(order)

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
        """No order journal: nothing sent in memory can be lost in transit."""
        return []

    def reconcile_orders(self) -> list[JournalEntry]:
        return []
