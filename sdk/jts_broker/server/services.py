"""The gateway server's gRPC servicers: jts.broker.v1 MarketDataService and TradingService, over
any blocking :class:`~jts_broker.domain.gateway.IBrokerGateway` backend (the paper engine,
``KisRestGateway``).

Each handler maps the request to domain values, asks the backend, and maps the answer back with
the generated upb mappers (never betterproto2: bulk responses stay fast).
A domain error becomes its status code and an ``ErrorDetail`` through the shared table in
``jts_broker.contract.status``, the same table the clients read it back with.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from typing import Any, TypeVar

import grpc

from jts_broker.contract._generated import mappers as m
from jts_broker.contract._generated.pb import market_data_pb2, market_data_pb2_grpc, trading_pb2, trading_pb2_grpc
from jts_broker.contract.columns import packed_to_proto
from jts_broker.contract.status import DETAIL_KEY, status_for_error
from jts_broker.domain.candle_columns import BarInts, bar_ints, pack
from jts_broker.domain.enums import Timeframe
from jts_broker.domain.errors import InvalidRequest, JtsBrokerError, ServerError
from jts_broker.domain.gateway import IBrokerGateway
from jts_broker.domain.market_data import Candle, Quote
from jts_broker.domain.orders import check_order
from jts_broker.domain.symbols import normalize_symbol
from jts_broker.domain.timeutil import period_start, start_of_day

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def _abort(context: grpc.ServicerContext, error: JtsBrokerError) -> None:
    if isinstance(error, ServerError) and error.code == "MALFORMED_MESSAGE":
        error = InvalidRequest(error.message.replace("malformed message", "malformed request"), code="MALFORMED_REQUEST")
    code, detail = status_for_error(error)
    context.set_trailing_metadata(((DETAIL_KEY, detail.SerializeToString()),))
    context.abort(code, error.message)


def translating(handler: F) -> F:
    """Turn domain errors raised by a unary handler into gRPC statuses with details."""

    @functools.wraps(handler)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return handler(self, request, context)
        except JtsBrokerError as error:
            _abort(context, error)

    return wrapper  # type: ignore[return-value]


def _symbol(code: str) -> str:
    return normalize_symbol(code)


def _timeframe(value: int) -> Timeframe:
    timeframe = m.timeframe_from_proto(value)
    if timeframe is None:
        raise InvalidRequest("timeframe is required", code="INVALID_TIMEFRAME")
    return timeframe


class _EncodedCandles:
    """Candles encoded once per object: a backend that hands out the same immutable ``Candle``
    objects again (the paper market's history) has them encoded on the first call only, a
    10,000-candle answer then costs copies instead of encodings. Keyed by identity, each entry
    holding its candle (so an id cannot be reused while cached). At most ``max_entries`` per
    layout: a full memo takes no more, and is emptied when an answer starts with a candle it does
    not hold (another symbol or range: a backend that builds new candles per call, as
    KisRestGateway does, only churns it). So an answer longer than the memo keeps its first
    ``max_entries`` candles encoded, instead of emptying it every call. One memo per layout: rows
    as ``Candle`` messages, columns as the integers of each bar."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._rows: dict[int, tuple[Candle, market_data_pb2.Candle]] = {}
        self._bars: dict[int, tuple[Candle, BarInts]] = {}
        self._max = max_entries

    def _encode(self, memo: dict[int, tuple[Candle, T]], encode: Callable[[Candle], T], candles: Sequence[Candle]) -> list[T]:
        if len(memo) >= self._max and candles and memo.get(id(candles[0]), (None,))[0] is not candles[0]:
            memo.clear()
        out = []
        for candle in candles:
            hit = memo.get(id(candle))
            if hit is not None and hit[0] is candle:
                out.append(hit[1])
                continue
            encoded = encode(candle)
            out.append(encoded)
            if len(memo) < self._max:
                memo[id(candle)] = (candle, encoded)
        return out

    def rows(self, candles: Sequence[Candle]) -> list[market_data_pb2.Candle]:
        return self._encode(self._rows, m.candle_to_proto, candles)

    def columns(self, candles: Sequence[Candle]) -> market_data_pb2.CandleColumns:
        return packed_to_proto(pack(self._encode(self._bars, bar_ints, candles)))


class MarketDataService(market_data_pb2_grpc.MarketDataServiceServicer):
    """Market data of ``backend``. ``today`` names the backend's current trading date: candles
    before its period are final (``complete_before``, which the offline cache relies on)."""

    def __init__(self, backend: IBrokerGateway, today: Callable[[], date]) -> None:
        self.backend = backend
        self._today = today
        self._candles = _EncodedCandles()
        self._quotes: dict[str, tuple[Quote, market_data_pb2.Quote]] = {}  # code -> the last quote and its message

    @translating
    def ListSymbols(self, request: market_data_pb2.ListSymbolsRequest, context: grpc.ServicerContext) -> market_data_pb2.ListSymbolsResponse:
        symbols = self.backend.get_symbols(request.query, m.market_from_proto(request.market))
        return market_data_pb2.ListSymbolsResponse(symbols=[m.symbol_to_proto(s) for s in symbols])

    @translating
    def GetSymbol(self, request: market_data_pb2.GetSymbolRequest, context: grpc.ServicerContext) -> market_data_pb2.Symbol:
        return m.symbol_to_proto(self.backend.get_symbol(_symbol(request.code)))

    @translating
    def GetCandles(self, request: market_data_pb2.GetCandlesRequest, context: grpc.ServicerContext) -> market_data_pb2.GetCandlesResponse:
        code, timeframe = _symbol(request.symbol), _timeframe(request.timeframe)
        if not request.HasField("start") or not request.HasField("end"):
            raise InvalidRequest("start and end are required", code="INVALID_RANGE")
        start, end = m.timestamp_from_proto(request.start, "start"), m.timestamp_from_proto(request.end, "end")
        if end <= start:
            raise InvalidRequest(f"end ({end.isoformat()}) must be after start ({start.isoformat()})", code="INVALID_RANGE")
        if request.max_candles < 0:
            raise InvalidRequest(f"max_candles must be 0 (no limit) or more, not {request.max_candles}", code="INVALID_ARGUMENT")
        response = market_data_pb2.GetCandlesResponse(symbol=code, timeframe=request.timeframe)
        # The backend's trading day is the present: its period is unfinished, everything before is final.
        response.complete_before.CopyFrom(m.timestamp_to_proto(period_start(timeframe, start_of_day(self._today()))))
        candles: Sequence[Candle] = self.backend.get_candles(code, timeframe, start, end)
        if 0 < request.max_candles < len(candles):
            response.next_start.CopyFrom(m.timestamp_to_proto(candles[request.max_candles].time))
            candles = candles[: request.max_candles]
        if request.layout == market_data_pb2.CANDLE_LAYOUT_COLUMNS:
            response.columns.CopyFrom(self._candles.columns(candles))
        else:
            response.candles.extend(self._candles.rows(candles))
        return response

    @translating
    def GetQuote(self, request: market_data_pb2.GetQuoteRequest, context: grpc.ServicerContext) -> market_data_pb2.Quote:
        quote = self.backend.get_quote(_symbol(request.symbol))
        # A backend that hands out the same Quote again (the paper market between two price
        # events) has it encoded once; messages are only read by grpc's serializer.
        last = self._quotes.get(quote.symbol)
        if last is not None and last[0] is quote:
            return last[1]
        encoded = m.quote_to_proto(quote)
        self._quotes[quote.symbol] = (quote, encoded)
        return encoded

    def StreamQuotes(self, request: market_data_pb2.StreamQuotesRequest, context: grpc.ServicerContext) -> Iterator[market_data_pb2.Quote]:
        try:
            if not request.symbols:
                raise InvalidRequest("at least one symbol is required", code="INVALID_SYMBOL")
            codes = list(dict.fromkeys(_symbol(s) for s in request.symbols))
            # The backend does not resubscribe: a break ends this stream, and the client's own
            # stream resubscribes and reports the gap.
            stream = self.backend.stream_quotes(codes, resubscribe=False)
        except JtsBrokerError as error:
            _abort(context, error)
            return
        if not context.add_callback(stream.close):  # the call ends (cancelled, deadline): the stream ends
            stream.close()
        try:
            for item in stream:
                if isinstance(item, Quote):
                    yield m.quote_to_proto(item)
        except JtsBrokerError as error:
            _abort(context, error)
        finally:
            stream.close()


class TradingService(trading_pb2_grpc.TradingServiceServicer):
    """Accounts and orders of ``backend``. An order is passed on as received: its client order id
    is required (the backend refuses one without)."""

    def __init__(self, backend: IBrokerGateway) -> None:
        self.backend = backend

    @translating
    def ListAccounts(self, request: trading_pb2.ListAccountsRequest, context: grpc.ServicerContext) -> trading_pb2.ListAccountsResponse:
        return trading_pb2.ListAccountsResponse(accounts=[m.account_to_proto(a) for a in self.backend.get_accounts()])

    @translating
    def GetBalance(self, request: trading_pb2.GetBalanceRequest, context: grpc.ServicerContext) -> trading_pb2.Balance:
        return m.balance_to_proto(self.backend.get_balance(request.account_id or None))

    @translating
    def GetPositions(self, request: trading_pb2.GetPositionsRequest, context: grpc.ServicerContext) -> trading_pb2.GetPositionsResponse:
        positions = self.backend.get_positions(request.account_id or None)
        return trading_pb2.GetPositionsResponse(positions=[m.position_to_proto(p) for p in positions])

    @translating
    def PlaceOrder(self, request: trading_pb2.PlaceOrderRequest, context: grpc.ServicerContext) -> trading_pb2.PlaceOrderResponse:
        # Checked here for every backend: one that would fill in a missing client order id (as a
        # client library does) must not, or two identical raw requests would make two orders.
        return m.order_result_to_proto(self.backend.place_order(check_order(m.order_request_from_proto(request))))

    @translating
    def CancelOrder(self, request: trading_pb2.CancelOrderRequest, context: grpc.ServicerContext) -> trading_pb2.Order:
        return m.order_to_proto(self.backend.cancel_order(request.order_id))

    @translating
    def GetOrder(self, request: trading_pb2.GetOrderRequest, context: grpc.ServicerContext) -> trading_pb2.Order:
        if request.order_id:
            return m.order_to_proto(self.backend.get_order_status(request.order_id))
        if request.account_id and request.client_order_id:
            return m.order_to_proto(self.backend.get_order_by_client_id(request.client_order_id, request.account_id))
        raise InvalidRequest("give order_id, or account_id and client_order_id", code="INVALID_ORDER_LOOKUP")

    @translating
    def ListOrders(self, request: trading_pb2.ListOrdersRequest, context: grpc.ServicerContext) -> trading_pb2.ListOrdersResponse:
        return trading_pb2.ListOrdersResponse(orders=[m.order_to_proto(o) for o in self.backend.list_orders(request.account_id or None)])
