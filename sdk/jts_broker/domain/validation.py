"""The checks of a caller's arguments, each in one place. Every gateway (gRPC, mock) and every
server (the simulator) applies these, so a bad argument gets the same ``InvalidRequest`` before
any network call whichever way it came in. Orders are checked in :mod:`jts_broker.domain.orders`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from .enums import Market, Timeframe
from .errors import InvalidRequest
from .market_data import Symbol
from .symbols import normalize_symbol
from .timeutil import as_instant

DateLike = date | datetime
"""A range bound: a ``date`` (the whole trading day in Asia/Seoul) or a tz-aware ``datetime``."""


def check_account_id(value: object) -> str:
    """``value`` when it is an account id: a non-empty string (e.g. ``"50012345-01"``).

    Raises:
        InvalidRequest: anything else (code ``INVALID_ACCOUNT``).
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"account_id must be a non-empty string, got {value!r}", code="INVALID_ACCOUNT")
    return value


def check_order_id(value: object) -> str:
    """A broker order id without surrounding whitespace.

    Raises:
        InvalidRequest: not a non-empty string (code ``INVALID_ORDER_ID``).
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"order_id must be a non-empty string, got {value!r}", code="INVALID_ORDER_ID")
    return value.strip()


def check_symbols(codes: Iterable[str]) -> list[str]:
    """The normalized short codes of ``codes``, duplicates dropped, in the order given.

    Raises:
        InvalidRequest: one string instead of a list, an empty list, or a bad code.
    """
    if isinstance(codes, str):
        raise InvalidRequest("pass a list of symbols, not one string", code="INVALID_SYMBOL")
    out = list(dict.fromkeys(normalize_symbol(c) for c in codes))
    if not out:
        raise InvalidRequest("at least one symbol is required", code="INVALID_SYMBOL")
    return out


def check_search(query: object, market: object) -> tuple[str, Market | None]:
    """The arguments of a symbol search.

    Raises:
        InvalidRequest: ``query`` not a string, ``market`` not a ``Market`` (or None).
    """
    if not isinstance(query, str):
        raise InvalidRequest(f"query must be a string, not {type(query).__name__}", code="INVALID_QUERY")
    if market is not None and not isinstance(market, Market):
        raise InvalidRequest(f"market must be a Market (e.g. Market.KOSPI), not {market!r}", code="INVALID_QUERY")
    return query, market


def matches_search(symbol: Symbol, query: str, market: Market | None) -> bool:
    """The search rule of the symbol master: ``query`` is a case-insensitive substring of the
    code or the name (empty matches all), and the market is ``market`` when one is given."""
    if market is not None and symbol.market is not market:
        return False
    q = query.strip().lower()
    return not q or q in symbol.code.lower() or q in symbol.name.lower()


@dataclass(frozen=True, slots=True)
class CandleQuery:
    """A checked candle request: the symbol's short code and the half-open range
    [``start``, ``end``) as tz-aware instants in Asia/Seoul."""

    symbol: str
    timeframe: Timeframe
    start: datetime
    end: datetime


def check_candles(symbol: str, timeframe: object, start: DateLike, end: DateLike) -> CandleQuery:
    """The arguments of a candle request (see ``IBrokerGateway.get_candles``): a ``date`` is a
    whole day, so an end date is included; a ``datetime`` must be tz-aware and an end is then
    exclusive.

    Raises:
        InvalidRequest: a bad symbol or timeframe, a naive datetime, or an empty range (code
            ``INVALID_RANGE``).
    """
    code = normalize_symbol(symbol)
    if not isinstance(timeframe, Timeframe):
        raise InvalidRequest(f"timeframe must be a Timeframe (e.g. Timeframe.DAY), not {timeframe!r}", code="INVALID_TIMEFRAME")
    first = as_instant(start, name="start")
    after = as_instant(end, name="end", end_of_day=True)
    if after <= first:
        raise InvalidRequest(f"end ({end}) must not be before start ({start})", code="INVALID_RANGE")
    return CandleQuery(code, timeframe, first, after)
