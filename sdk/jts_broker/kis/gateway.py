"""``KisRestGateway``: the blocking gateway interface directly on KIS's Open API (REST)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from typing import Any

import requests

from jts_broker.domain.connection import ConnectionState, StatusListener
from jts_broker.domain.enums import ConnectionStatus, Market, Timeframe
from jts_broker.domain.errors import (
    AccountNotFound,
    InvalidRequest,
    JtsBrokerError,
    ServerError,
    SymbolNotFound,
)
from jts_broker.domain.gateway import DateLike, IBrokerGateway, QuoteStream
from jts_broker.domain.market_data import Candle, Quote, Symbol
from jts_broker.domain.orders import check_client_order_id
from jts_broker.domain.provenance import ResultList
from jts_broker.domain.symbols import normalize_symbol
from jts_broker.domain.timeutil import KST, now_kst, period_start
from jts_broker.domain.trading import Account, Balance, JournalEntry, Order, OrderRequest, OrderResult, Position
from jts_broker.domain.validation import CandleQuery, check_account_id, check_candles, check_order_id, check_search, check_symbols, matches_search
from jts_broker.journal import OrderJournal
from jts_broker.paper.data_loader import BUNDLED, load_listing
from jts_broker.policies.rate_limiter import RateLimiter

from . import endpoints as ep
from . import parse
from .config import KisConfig, KisEnv
from .http import KisHttp
from .orders import KisOrders
from .stream import KisQuoteStream

log = logging.getLogger(__name__)

JOURNAL_SCOPE = "kis-rest"
"""The order journal's scope of this gateway's entries, followed by the domain and the account
(``kis-rest:paper:50123456-01``): KIS numbers orders per branch and day, so an order id names one
order only within one domain and account. A gRPC client of a KIS gateway server journals its own
under ``"kis"``; the two never mix, even in one file."""
DAILY_ROWS = 100
"""KIS answers at most this many rows of inquire-daily-itemchartprice a call."""
_PERIODS = {Timeframe.DAY: "D", Timeframe.WEEK: "W", Timeframe.MONTH: "M"}
_OPEN, _CLOSE = clock_time(9, 0), clock_time(15, 30)


class KisRestGateway(IBrokerGateway):
    """One KIS account on the Open API, blocking and thread-safe.

    Every call takes a token from the rate limiter first (``KisConfig.rate_limit``; shared by app
    key), then makes one or more HTTP calls (a quote is two: the price and the order book).
    Prices are KRW ``Decimal`` parsed from KIS's strings; times are tz-aware in Asia/Seoul.

    - Symbols come from the KRX listing bundled with the SDK (KIS has no listing endpoint).
    - Day, week and month candles are the prices as traded (``FID_ORG_ADJ_PRC=1``, like the paper
      market), paged by date range 100 rows a call; 1-minute candles of today come from
      inquire-time-itemchartprice (30 a call), of earlier days from inquire-time-dailychartprice
      (real domain only: paper raises ``InvalidRequest`` code ``NOT_ON_PAPER``).
    - Orders go through the order journal (see :mod:`jts_broker.kis.orders`): at most once per
      client order id, across crashes.
    - ``stream_quotes`` follows KIS's WebSocket feed (trades and best bid/ask).

    Args:
        config: the account, credentials and settings.
        session: a ``requests.Session`` to use (tests); default a pooled one of its own.
        limiter: the rate limiter to draw from; default one built from ``config.rate_limit_policy``.
    """

    def __init__(self, config: KisConfig, *, session: requests.Session | None = None, limiter: RateLimiter | None = None) -> None:
        self.kis = config
        self._limiter = limiter or RateLimiter(config.rate_limit_policy)
        self._owns_limiter = limiter is None
        self.config = config.broker_config()
        self._symbols = load_listing(BUNDLED / "listing.csv")
        self._names = {code: s.name for code, s in self._symbols.items()}
        self.http = KisHttp(config, self._limiter, session)
        path = config.journal_path
        scope = f"{JOURNAL_SCOPE}:{config.kis_env.value}:{config.account}"
        self.journal = OrderJournal(path, scope) if path is not None else None
        self.orders = KisOrders(config, self.http, self.journal)
        self._state = ConnectionState()
        self._settled = threading.Event()

    def __repr__(self) -> str:
        return f"KisRestGateway({self.kis!r}, status={self.status.value})"

    # -- connection -------------------------------------------------------------------------------
    @property
    def status(self) -> ConnectionStatus:
        return self._state.status

    def subscribe_status(self, listener: StatusListener) -> Callable[[], None]:
        return self._state.subscribe(listener)

    @property
    def rate_limiter(self) -> RateLimiter:
        return self._limiter

    def connect(self) -> None:
        """Get an access token (from the token cache, or issued: see :mod:`jts_broker.kis.token`),
        then settle the order journal's unresolved orders.

        Raises:
            AuthenticationFailed: KIS refused the app key or secret.
            BrokerUnavailable: KIS cannot be reached.
        """
        self._state.set(ConnectionStatus.CONNECTING)
        try:
            self.http.tokens.get()
        except JtsBrokerError as exc:
            self._state.set(ConnectionStatus.ERROR, str(exc))
            raise
        self._state.set(ConnectionStatus.CONNECTED)
        self._settle_journal()

    def _settle_journal(self) -> None:
        if self._settled.is_set() or self.journal is None:
            return
        try:
            left = self.orders.reconcile()
        except JtsBrokerError as exc:
            log.warning("orders of the KIS order journal could not be reconciled: %s", exc)
            return
        self._settled.set()
        if left:
            log.warning("%d KIS orders of the order journal are still unresolved: %s", len(left), ", ".join(e.client_order_id for e in left))

    def disconnect(self) -> None:
        self._state.set(ConnectionStatus.DISCONNECTED)

    def close(self) -> None:
        self.disconnect()
        self.http.close()
        if self.journal is not None:
            self.journal.close()
        if self._owns_limiter:
            self._limiter.close()

    def check_health(self) -> float:
        """One quote read of 005930 (the lightest call KIS answers); its round trip in seconds."""
        started = time.monotonic()
        self._ensure()
        self.http.read(ep.PRICE, "price", {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "005930"})
        return time.monotonic() - started

    def _ensure(self) -> None:
        """Connect on first use (a token is needed for every call)."""
        if self._state.status is not ConnectionStatus.CONNECTED:
            self.connect()

    def _account(self, account_id: str | None) -> str:
        if account_id is None:
            return self.kis.account
        account = check_account_id(account_id)
        if account != self.kis.account:
            raise AccountNotFound(f"account {account} is not this KIS gateway's ({self.kis.account})", code="ACCOUNT_NOT_FOUND")
        return account

    def _symbol(self, code: str) -> Symbol:
        symbol = self._symbols.get(normalize_symbol(code))
        if symbol is None:
            raise SymbolNotFound(f"symbol {code} is not in the KRX listing", code="SYMBOL_NOT_FOUND")
        return symbol

    # -- reads ------------------------------------------------------------------------------------
    def get_accounts(self) -> ResultList[Account]:
        return ResultList([Account(a.account_id, a.account_name, a.account_type) for a in self.config.accounts])

    def get_symbols(self, query: str = "", market: Market | None = None) -> ResultList[Symbol]:
        query, market = check_search(query, market)
        return ResultList(s for code, s in sorted(self._symbols.items()) if matches_search(s, query, market))

    def get_symbol(self, code: str) -> Symbol:
        return self._symbol(code)

    def get_quote(self, symbol: str) -> Quote:
        code = self._symbol(symbol).code
        self._ensure()
        params = {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": code}
        price = self.http.read(ep.PRICE, "price", params)
        book = self.http.read(ep.ASKING_PRICE, "asking_price", params)
        return parse.quote(code, price.body, book.body, now_kst())

    def stream_quotes(self, symbols: Iterable[str], *, resubscribe: bool = True) -> QuoteStream:
        """Quotes over KIS's WebSocket feed (see :mod:`jts_broker.kis.stream`): the current quote
        of each symbol (REST), then each trade and order-book change. At most 20 symbols a stream
        (``InvalidRequest`` code ``TOO_MANY_SYMBOLS``)."""
        codes = [self._symbol(code).code for code in check_symbols(symbols)]
        self._ensure()
        return KisQuoteStream(self.kis, codes, self.get_quote, self.http.approval_key, resubscribe=resubscribe)

    def get_candles(self, symbol: str, timeframe: Timeframe, start: DateLike, end: DateLike) -> ResultList[Candle]:
        query = check_candles(symbol, timeframe, start, end)
        self._symbol(query.symbol)
        self._ensure()
        if query.timeframe is Timeframe.MINUTE_1:
            return ResultList(self._minute_candles(query))
        return ResultList(self._period_candles(query))

    def get_candles_many(self, symbols: Iterable[str], timeframe: Timeframe, start: DateLike, end: DateLike) -> dict[str, list[Candle]]:
        return {code: self.get_candles(code, timeframe, start, end) for code in check_symbols(symbols)}

    def _period_candles(self, query: CandleQuery) -> list[Candle]:
        first, last = query.start.date(), (query.end - timedelta(microseconds=1)).date()
        seen: dict[datetime, Candle] = {}
        upto = last
        for _ in range(self.kis.max_pages * 20):
            params = {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": query.symbol, "FID_INPUT_DATE_1": first.strftime("%Y%m%d"),
                      "FID_INPUT_DATE_2": upto.strftime("%Y%m%d"), "FID_PERIOD_DIV_CODE": _PERIODS[query.timeframe], "FID_ORG_ADJ_PRC": "1"}
            body = self.http.read(ep.DAILY_CHART, "daily_chart", params).body
            rows = parse.Fields(body, "inquire-daily-itemchartprice").rows("output2")
            for candle in parse.period_candles(body, query.timeframe):
                seen.setdefault(candle.time, candle)
            if len(rows) < DAILY_ROWS:
                break
            oldest = min(row.day("stck_bsop_date") for row in rows)
            upto = oldest - timedelta(days=1)
            if upto < first:
                break
        else:
            raise ServerError(f"KIS inquire-daily-itemchartprice: no end of pages for {query.symbol}", code="TOO_MANY_PAGES")
        # A week or month is dated by its first day: the one holding ``start`` began before it.
        first_period = period_start(query.timeframe, query.start)
        return [c for t, c in sorted(seen.items()) if first_period <= t < query.end]

    def _minute_candles(self, query: CandleQuery) -> list[Candle]:
        today = now_kst().date()
        day, last = query.start.date(), min((query.end - timedelta(microseconds=1)).date(), today)
        out: list[Candle] = []
        while day <= last:
            if day.weekday() < 5:
                out.extend(self._minutes_of(day, today, query))
            day += timedelta(days=1)
        return [c for c in out if query.start <= c.time < query.end]

    def _minutes_of(self, day: date, today: date, query: CandleQuery) -> list[Candle]:
        """One day's 1-minute candles, asked back from the day's close (or now) page by page."""
        if day < today and self.kis.kis_env is KisEnv.PAPER:
            raise InvalidRequest(f"KIS paper trading offers 1-minute candles of today only, not of {day.isoformat()}", code="NOT_ON_PAPER")
        now = now_kst()
        hour = min(_CLOSE, now.time().replace(microsecond=0)) if day == today else _CLOSE
        end_of_query = query.end.astimezone(KST)
        if end_of_query.date() == day:
            hour = min(hour, end_of_query.time().replace(microsecond=0))
        seen: dict[datetime, Candle] = {}
        for _ in range(self.kis.max_pages):
            params = {"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": query.symbol, "FID_INPUT_HOUR_1": hour.strftime("%H%M%S"),
                      "FID_PW_DATA_INCU_YN": "N"}
            if day == today:
                params["FID_ETC_CLS_CODE"] = ""
                body = self.http.read(ep.TODAY_MINUTES, "today_minutes", params).body
                candles = parse.minute_candles(body, "inquire-time-itemchartprice")
            else:
                params.update({"FID_INPUT_DATE_1": day.strftime("%Y%m%d"), "FID_FAKE_TICK_INCU_YN": ""})
                body = self.http.read(ep.DAY_MINUTES, "day_minutes", params).body
                candles = parse.minute_candles(body, "inquire-time-dailychartprice")
            candles = [c for c in candles if c.time.date() == day and c.time not in seen]  # KIS answers another day for a holiday
            if not candles:
                break
            for c in candles:
                seen[c.time] = c
            oldest = candles[0].time
            if oldest <= max(query.start, datetime.combine(day, _OPEN, tzinfo=KST)):
                break
            hour = (oldest - timedelta(minutes=1)).time()
        else:
            raise ServerError(f"KIS 1-minute candles of {query.symbol} on {day.isoformat()}: more than {self.kis.max_pages} pages",
                              code="TOO_MANY_PAGES")
        return [c for _, c in sorted(seen.items())]

    def _balance_pages(self) -> list[dict[str, Any]]:
        self._ensure()
        params = {"CANO": self.kis.cano, "ACNT_PRDT_CD": self.kis.product_code, "AFHR_FLPR_YN": "N", "OFL_YN": "", "INQR_DVSN": "02",
                  "UNPR_DVSN": "01", "FUND_STTL_ICLD_YN": "N", "FNCG_AMT_AUTO_RDPT_YN": "N", "PRCS_DVSN": "00"}
        return list(self.http.pages(ep.BALANCE, "balance", params))

    def get_balance(self, account_id: str | None = None) -> Balance:
        account = self._account(account_id)
        pages = self._balance_pages()
        params = {"CANO": self.kis.cano, "ACNT_PRDT_CD": self.kis.product_code, "PDNO": "", "ORD_UNPR": "", "ORD_DVSN": "01",
                  "CMA_EVLU_AMT_ICLD_YN": "N", "OVRS_ICLD_YN": "N"}
        power = parse.buying_power(self.http.read(ep.BUYING_POWER, "buying_power", params).body)
        return parse.balance(account, pages[0], power, now_kst())

    def get_positions(self, account_id: str | None = None) -> ResultList[Position]:
        account = self._account(account_id)
        return ResultList(parse.positions(account, self._balance_pages(), self._names))

    # -- orders -----------------------------------------------------------------------------------
    def place_order(self, order: OrderRequest) -> OrderResult:
        if isinstance(order, OrderRequest):
            self._symbol(order.symbol)
        self._ensure()
        return self.orders.place(order)

    def cancel_order(self, order_id: str) -> Order:
        oid = check_order_id(order_id)
        self._ensure()
        return self.orders.cancel(oid)

    def get_order_status(self, order_id: str) -> Order:
        oid = check_order_id(order_id)
        self._ensure()
        return self.orders.get(oid)

    def get_order_by_client_id(self, client_order_id: str, account_id: str | None = None) -> Order:
        self._account(account_id)
        cid = check_client_order_id(client_order_id)
        self._ensure()
        return self.orders.by_client_id(cid)

    def list_orders(self, account_id: str | None = None) -> list[Order]:
        self._account(account_id)
        self._ensure()
        return self.orders.today()

    def unresolved_orders(self) -> list[JournalEntry]:
        return self.journal.unresolved() if self.journal is not None else []

    def reconcile_orders(self) -> list[JournalEntry]:
        self._ensure()
        return self.orders.reconcile()

