"""The simulator's gRPC servicers: jts.broker.v1 MarketDataService and TradingService.

Each handler maps the request to domain values, asks the market or the paper broker, and maps
the answer back with the generated upb mappers (never betterproto2: bulk responses stay fast).
A domain error becomes its status code and an ``ErrorDetail`` through the shared table in
``jts_broker.contract.status``, the same table the clients read it back with.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc

from jts_broker.contract._generated import mappers as m
from jts_broker.contract._generated.pb import market_data_pb2, market_data_pb2_grpc, trading_pb2, trading_pb2_grpc
from jts_broker.contract.status import DETAIL_KEY, status_for_error
from jts_broker.domain.enums import Timeframe
from jts_broker.domain.errors import InvalidRequest, JtsBrokerError, ServerError
from jts_broker.domain.symbols import normalize_symbol
from jts_broker.domain.timeutil import period_start, start_of_day
from jts_broker.domain.validation import matches_search
from jts_broker.paper.broker import PaperBroker
from jts_broker.paper.market import BarMarket

F = TypeVar("F", bound=Callable[..., Any])


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


class MarketDataService(market_data_pb2_grpc.MarketDataServiceServicer):
    def __init__(self, market: BarMarket, poll_s: float = 0.25) -> None:
        self.market = market
        self._poll_s = poll_s
        self._lock = threading.Lock()
        self._history_pb: dict[str, list[market_data_pb2.Candle]] = {}

    @translating
    def ListSymbols(self, request: market_data_pb2.ListSymbolsRequest, context: grpc.ServicerContext) -> market_data_pb2.ListSymbolsResponse:
        market = m.market_from_proto(request.market)
        return market_data_pb2.ListSymbolsResponse(symbols=[m.symbol_to_proto(s) for s in self.market.symbols() if matches_search(s, request.query, market)])

    @translating
    def GetSymbol(self, request: market_data_pb2.GetSymbolRequest, context: grpc.ServicerContext) -> market_data_pb2.Symbol:
        return m.symbol_to_proto(self.market.symbol(_symbol(request.code)))

    def _history(self, code: str) -> list[market_data_pb2.Candle]:
        # Daily history never changes while the server runs: encode it once per symbol.
        with self._lock:
            cached = self._history_pb.get(code)
            if cached is None:
                cached = self._history_pb[code] = [m.candle_to_proto(c) for c in self.market.history(code)]
            return cached

    @translating
    def GetCandles(self, request: market_data_pb2.GetCandlesRequest, context: grpc.ServicerContext) -> market_data_pb2.GetCandlesResponse:
        code, timeframe = _symbol(request.symbol), _timeframe(request.timeframe)
        if not request.HasField("start") or not request.HasField("end"):
            raise InvalidRequest("start and end are required", code="INVALID_RANGE")
        start, end = m.timestamp_from_proto(request.start, "start"), m.timestamp_from_proto(request.end, "end")
        response = market_data_pb2.GetCandlesResponse(symbol=code, timeframe=request.timeframe)
        # The replayed session is the present: its period is unfinished, everything before is final.
        response.complete_before.CopyFrom(m.timestamp_to_proto(period_start(timeframe, start_of_day(self.market.session_date))))
        if timeframe is not Timeframe.DAY:
            response.candles.extend(m.candle_to_proto(c) for c in self.market.candles(code, timeframe, start, end))
            return response
        if end <= start:
            raise InvalidRequest(f"end ({end.isoformat()}) must be after start ({start.isoformat()})", code="INVALID_RANGE")
        lo, hi = self.market.history_range(code, start, end)
        response.candles.extend(self._history(code)[lo:hi])
        current = self.market.session_candle(code)
        if current is not None and start <= current.time < end:
            response.candles.append(m.candle_to_proto(current))
        return response

    @translating
    def GetQuote(self, request: market_data_pb2.GetQuoteRequest, context: grpc.ServicerContext) -> market_data_pb2.Quote:
        return m.quote_to_proto(self.market.quote(_symbol(request.symbol)))

    def StreamQuotes(self, request: market_data_pb2.StreamQuotesRequest, context: grpc.ServicerContext) -> Iterator[market_data_pb2.Quote]:
        try:
            if not request.symbols:
                raise InvalidRequest("at least one symbol is required", code="INVALID_SYMBOL")
            codes = list(dict.fromkeys(_symbol(s) for s in request.symbols))
            # Read the step before the snapshot: a step taken in between is then sent again rather
            # than lost (the comparison below drops a repeat of the same quote).
            step = self.market.step
            last = {code: self.market.quote(code) for code in codes}
        except JtsBrokerError as error:
            _abort(context, error)
            return
        for quote in last.values():
            yield m.quote_to_proto(quote)
        while context.is_active():
            new_step = self.market.wait_for_change(step, self._poll_s)
            if new_step == step:
                continue
            step = new_step
            for code in codes:
                quote = self.market.quote(code)
                if quote != last[code]:
                    last[code] = quote
                    yield m.quote_to_proto(quote)


class TradingService(trading_pb2_grpc.TradingServiceServicer):
    def __init__(self, broker: PaperBroker) -> None:
        self.broker = broker

    @translating
    def ListAccounts(self, request: trading_pb2.ListAccountsRequest, context: grpc.ServicerContext) -> trading_pb2.ListAccountsResponse:
        return trading_pb2.ListAccountsResponse(accounts=[m.account_to_proto(a) for a in self.broker.accounts()])

    @translating
    def GetBalance(self, request: trading_pb2.GetBalanceRequest, context: grpc.ServicerContext) -> trading_pb2.Balance:
        return m.balance_to_proto(self.broker.balance(request.account_id))

    @translating
    def GetPositions(self, request: trading_pb2.GetPositionsRequest, context: grpc.ServicerContext) -> trading_pb2.GetPositionsResponse:
        return trading_pb2.GetPositionsResponse(positions=[m.position_to_proto(p) for p in self.broker.positions(request.account_id)])

    @translating
    def PlaceOrder(self, request: trading_pb2.PlaceOrderRequest, context: grpc.ServicerContext) -> trading_pb2.PlaceOrderResponse:
        return m.order_result_to_proto(self.broker.place(m.order_request_from_proto(request)))

    @translating
    def CancelOrder(self, request: trading_pb2.CancelOrderRequest, context: grpc.ServicerContext) -> trading_pb2.Order:
        return m.order_to_proto(self.broker.cancel(request.order_id))

    @translating
    def GetOrder(self, request: trading_pb2.GetOrderRequest, context: grpc.ServicerContext) -> trading_pb2.Order:
        if request.order_id:
            return m.order_to_proto(self.broker.order(request.order_id))
        if request.account_id and request.client_order_id:
            return m.order_to_proto(self.broker.order_by_client_id(request.account_id, request.client_order_id))
        raise InvalidRequest("give order_id, or account_id and client_order_id", code="INVALID_ORDER_LOOKUP")

    @translating
    def ListOrders(self, request: trading_pb2.ListOrdersRequest, context: grpc.ServicerContext) -> trading_pb2.ListOrdersResponse:
        return trading_pb2.ListOrdersResponse(orders=[m.order_to_proto(o) for o in self.broker.orders(request.account_id)])
