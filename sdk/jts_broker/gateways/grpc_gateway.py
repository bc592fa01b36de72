"""``GrpcBrokerGateway``: the blocking gateway over one grpcio channel."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import grpc

from jts_broker._generated import mappers as m
from jts_broker._generated.clients import CallPolicy, MarketDataServiceClient, ResponseStream, TradingServiceClient
from jts_broker._generated.pb import market_data_pb2, trading_pb2
from jts_broker._transport.channel import insecure_channel
from jts_broker.domain.config import BrokerConfig
from jts_broker.domain.enums import ConnectionStatus, Market, Timeframe
from jts_broker.domain.errors import BrokerUnavailable, InvalidRequest
from jts_broker.domain.gateway import DateLike, IBrokerGateway, QuoteStream
from jts_broker.domain.market_data import Candle, Quote, Symbol
from jts_broker.domain.symbols import normalize_symbol
from jts_broker.domain.trading import Account, Balance, Order, OrderRequest, OrderResult, Position
from jts_broker.policies.rate_limiter import RateLimiter

from . import _requests


class _QuoteStream(QuoteStream):
    def __init__(self, stream: ResponseStream[market_data_pb2.Quote]) -> None:
        self._stream = stream

    def __next__(self) -> Quote:
        return m.quote_from_proto(next(self._stream))

    def close(self) -> None:
        self._stream.cancel()


class GrpcBrokerGateway(IBrokerGateway):
    """A blocking connection to a JTS gateway server (or the simulator) over gRPC.

    One channel serves every thread; each call takes a rate-limit token first, runs with the
    deadline of ``config.timeouts``, is retried with backoff when it is a read, and raises the
    SDK's typed errors (see :mod:`jts_broker.domain.gateway` for shapes and errors).
    Connects on first use, or explicitly with :meth:`connect` / ``with``.

    Args:
        config: where the server is and which policies apply.
        max_workers: threads of ``get_candles_many``.
    """

    def __init__(self, config: BrokerConfig, *, max_workers: int = 8) -> None:
        self.config = config
        self._limiter = RateLimiter(config.effective_rate_limit)
        self._max_workers = max_workers
        self._lock = threading.Lock()
        self._status = ConnectionStatus.DISCONNECTED
        self._channel: grpc.Channel | None = None
        self._market: MarketDataServiceClient | None = None
        self._trading: TradingServiceClient | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._default_account: str | None = config.accounts[0].account_id if config.accounts else None

    def __repr__(self) -> str:
        return f"GrpcBrokerGateway({self.config.broker_type.value} at {self.config.target}, {self._status.value})"

    @property
    def status(self) -> ConnectionStatus:
        return self._status

    @property
    def rate_limiter(self) -> RateLimiter:
        return self._limiter

    # -- connection ----------------------------------------------------------------------------

    def connect(self) -> None:
        with self._lock:
            if self._status is ConnectionStatus.CONNECTED:
                return
            self._status = ConnectionStatus.CONNECTING
            channel = insecure_channel(self.config.target)
            try:
                grpc.channel_ready_future(channel).result(timeout=self.config.timeouts.connect_s)
            except grpc.FutureTimeoutError:
                channel.close()
                self._status = ConnectionStatus.ERROR
                raise BrokerUnavailable(
                    f"cannot reach the gateway at {self.config.target} within {self.config.timeouts.connect_s:g} s",
                    code="CONNECT_TIMEOUT") from None
            policy = CallPolicy(self._limiter, self.config.timeouts, self.config.retry)
            self._channel = channel
            self._market = MarketDataServiceClient(channel, policy)
            self._trading = TradingServiceClient(channel, policy)
            self._status = ConnectionStatus.CONNECTED

    def disconnect(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
            if self._channel is not None:
                self._channel.close()
            self._channel = self._market = self._trading = None
            self._status = ConnectionStatus.DISCONNECTED

    def close(self) -> None:
        """Disconnect and stop the rate limiter's thread; the gateway cannot be used again."""
        self.disconnect()
        self._limiter.close()

    def _md(self) -> MarketDataServiceClient:
        if self._market is None:
            self.connect()
        assert self._market is not None
        return self._market

    def _tr(self) -> TradingServiceClient:
        if self._trading is None:
            self.connect()
        assert self._trading is not None
        return self._trading

    def _account(self, account_id: str | None) -> str:
        if account_id is not None:
            if not isinstance(account_id, str) or not account_id:
                raise InvalidRequest(f"account_id must be a non-empty string, got {account_id!r}")
            return account_id
        if self._default_account is None:
            accounts = self.get_accounts()
            if not accounts:
                raise InvalidRequest("the gateway has no accounts; pass account_id", code="NO_ACCOUNT")
            self._default_account = accounts[0].account_id
        return self._default_account

    # -- market data ---------------------------------------------------------------------------

    def get_accounts(self) -> list[Account]:
        return [m.account_from_proto(a) for a in self._tr().list_accounts(trading_pb2.ListAccountsRequest()).accounts]

    def get_symbols(self, query: str = "", market: Market | None = None) -> list[Symbol]:
        request = _requests.list_symbols(query, market)
        return [m.symbol_from_proto(s) for s in self._md().list_symbols(request).symbols]

    def get_symbol(self, code: str) -> Symbol:
        return m.symbol_from_proto(self._md().get_symbol(market_data_pb2.GetSymbolRequest(code=normalize_symbol(code))))

    def get_candles(self, symbol: str, timeframe: Timeframe, start: DateLike, end: DateLike) -> list[Candle]:
        request = _requests.candles(symbol, timeframe, start, end)
        candle_from_proto = m.candle_from_proto
        return [candle_from_proto(c) for c in self._md().get_candles(request).candles]

    def get_candles_many(self, symbols: Iterable[str], timeframe: Timeframe, start: DateLike, end: DateLike) -> dict[str, list[Candle]]:
        codes = _requests.symbols(symbols)
        for code in codes:  # every argument checked before the first call
            _requests.candles(code, timeframe, start, end)
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._max_workers, thread_name_prefix="jts-gateway")
            pool = self._pool
        futures = {code: pool.submit(self.get_candles, code, timeframe, start, end) for code in codes}
        try:
            return {code: future.result() for code, future in futures.items()}
        finally:
            for future in futures.values():
                future.cancel()

    def get_quote(self, symbol: str) -> Quote:
        return m.quote_from_proto(self._md().get_quote(market_data_pb2.GetQuoteRequest(symbol=normalize_symbol(symbol))))

    def stream_quotes(self, symbols: Iterable[str]) -> QuoteStream:
        request = market_data_pb2.StreamQuotesRequest(symbols=_requests.symbols(symbols))
        return _QuoteStream(self._md().stream_quotes(request))

    # -- trading -------------------------------------------------------------------------------

    def get_balance(self, account_id: str | None = None) -> Balance:
        request = trading_pb2.GetBalanceRequest(account_id=self._account(account_id))
        return m.balance_from_proto(self._tr().get_balance(request))

    def get_positions(self, account_id: str | None = None) -> list[Position]:
        request = trading_pb2.GetPositionsRequest(account_id=self._account(account_id))
        return [m.position_from_proto(p) for p in self._tr().get_positions(request).positions]

    def place_order(self, order: OrderRequest) -> OrderResult:
        return m.order_result_from_proto(self._tr().place_order(_requests.place_order(order)))

    def cancel_order(self, order_id: str) -> Order:
        return m.order_from_proto(self._tr().cancel_order(trading_pb2.CancelOrderRequest(order_id=_requests.order_id(order_id))))

    def get_order_status(self, order_id: str) -> Order:
        return m.order_from_proto(self._tr().get_order(trading_pb2.GetOrderRequest(order_id=_requests.order_id(order_id))))

    def list_orders(self, account_id: str | None = None) -> list[Order]:
        request = trading_pb2.ListOrdersRequest(account_id=self._account(account_id))
        return [m.order_from_proto(o) for o in self._tr().list_orders(request).orders]
