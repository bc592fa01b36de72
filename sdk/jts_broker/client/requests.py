"""The protobuf requests of the gRPC gateways (blocking and asyncio), built from arguments checked
by the domain's rules (:mod:`jts_broker.domain.validation`, :mod:`jts_broker.domain.orders`).

Each builder returns what the gateway needs besides the request (the checked domain values), so
nothing is decoded back from a request it just built.
"""

from __future__ import annotations

from jts_broker.contract._generated import mappers as m
from jts_broker.contract._generated.pb import market_data_pb2, trading_pb2
from jts_broker.domain.enums import Market
from jts_broker.domain.orders import prepare_order
from jts_broker.domain.trading import OrderRequest
from jts_broker.domain.validation import CandleQuery, DateLike, check_candles, check_search


def list_symbols(query: str, market: Market | None) -> market_data_pb2.ListSymbolsRequest:
    query, market = check_search(query, market)
    return market_data_pb2.ListSymbolsRequest(query=query, market=m.market_to_proto(market))


def candles(symbol: str, timeframe: object, start: DateLike, end: DateLike) -> tuple[CandleQuery, market_data_pb2.GetCandlesRequest]:
    query = check_candles(symbol, timeframe, start, end)
    request = market_data_pb2.GetCandlesRequest(symbol=query.symbol, timeframe=m.timeframe_to_proto(query.timeframe),
                                                start=m.timestamp_to_proto(query.start), end=m.timestamp_to_proto(query.end))
    return query, request


def place_order(order: OrderRequest) -> tuple[OrderRequest, trading_pb2.PlaceOrderRequest]:
    """The checked order (its client order id fixed here, once) and its request."""
    prepared = prepare_order(order)
    return prepared, m.order_request_to_proto(prepared)
