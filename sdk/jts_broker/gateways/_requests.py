"""Argument checks and request building shared by the gRPC gateways (blocking and asyncio).

Everything here is pure: it validates the caller's arguments (raising ``InvalidRequest`` before
any network call) and builds the protobuf request.
"""

from __future__ import annotations

from collections.abc import Iterable

from jts_broker._generated import mappers as m
from jts_broker._generated.pb import market_data_pb2, trading_pb2
from jts_broker.domain.enums import Market, Timeframe
from jts_broker.domain.errors import InvalidRequest
from jts_broker.domain.gateway import DateLike
from jts_broker.domain.orders import check_client_order_id, prepare_order
from jts_broker.domain.symbols import normalize_symbol
from jts_broker.domain.timeutil import as_instant
from jts_broker.domain.trading import Order, OrderRequest


def list_symbols(query: str, market: Market | None) -> market_data_pb2.ListSymbolsRequest:
    if not isinstance(query, str):
        raise InvalidRequest(f"query must be a string, not {type(query).__name__}")
    if market is not None and not isinstance(market, Market):
        raise InvalidRequest(f"market must be a Market, not {market!r}")
    return market_data_pb2.ListSymbolsRequest(query=query, market=m.market_to_proto(market))


def candles(symbol: str, timeframe: Timeframe, start: DateLike, end: DateLike) -> market_data_pb2.GetCandlesRequest:
    code = normalize_symbol(symbol)
    if not isinstance(timeframe, Timeframe):
        raise InvalidRequest(f"timeframe must be a Timeframe (e.g. Timeframe.DAY), not {timeframe!r}")
    first = as_instant(start, name="start")
    after = as_instant(end, name="end", end_of_day=True)
    if after <= first:
        raise InvalidRequest(f"end ({end}) must not be before start ({start})", code="INVALID_RANGE")
    return market_data_pb2.GetCandlesRequest(symbol=code, timeframe=m.timeframe_to_proto(timeframe),
                                             start=m.timestamp_to_proto(first), end=m.timestamp_to_proto(after))


def symbols(codes: Iterable[str]) -> list[str]:
    if isinstance(codes, str):
        raise InvalidRequest("pass a list of symbols, not one string")
    out = list(dict.fromkeys(normalize_symbol(c) for c in codes))
    if not out:
        raise InvalidRequest("at least one symbol is required")
    return out


def place_order(order: OrderRequest) -> tuple[OrderRequest, trading_pb2.PlaceOrderRequest]:
    """The checked order (with its client order id, fixed here once) and its request: callers keep
    the domain value rather than decode it back from the request."""
    prepared = prepare_order(order)
    return prepared, m.order_request_to_proto(prepared)


def order_id(value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"order_id must be a non-empty string, got {value!r}")
    return value.strip()


def client_order_id(value: str) -> str:
    return check_client_order_id(value)


def is_same_order(order: Order, request: OrderRequest) -> bool:
    """Whether ``order`` is the one ``request`` asks for: the same account, symbol, side, type,
    time in force, quantity and price (the broker's rule for a repeated client order id)."""
    fields = ("account_id", "symbol", "side", "order_type", "time_in_force", "quantity", "price")
    return all(getattr(order, f) == getattr(request, f) for f in fields)
