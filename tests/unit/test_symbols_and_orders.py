from datetime import date, datetime
from decimal import Decimal

import pytest

from jts_broker import InvalidRequest, OrderRequest, OrderType, Side, limit_order, market_order, normalize_symbol
from jts_broker.domain.orders import prepare_order
from jts_broker.domain.timeutil import KST, as_instant


@pytest.mark.parametrize(("given", "code"), [("005930", "005930"), (" a005930 ", "005930"), ("Q530036", "530036"),
                                             ("KR7005930003", "005930"), ("0000j0", "0000J0"), ("28513K", "28513K")])
def test_symbols_normalize_to_the_short_code(given, code):
    assert normalize_symbol(given) == code


@pytest.mark.parametrize("bad", ["", "5930", "0059300", "삼성전자", "005 930"])
def test_bad_symbols_are_refused(bad):
    with pytest.raises(InvalidRequest):
        normalize_symbol(bad)


def test_prepare_order_normalizes_and_assigns_a_client_order_id():
    order = prepare_order(limit_order("ACC", "A005930", Side.BUY, 3, "79600"))
    assert order.symbol == "005930" and order.price == Decimal(79600) and order.client_order_id.startswith("jts-")
    assert prepare_order(order) == order  # idempotent: a resend keeps its id


@pytest.mark.parametrize(
    ("order", "fragment"),
    [
        (limit_order("ACC", "005930", Side.BUY, 0, 79600), "quantity"),
        (limit_order("ACC", "005930", Side.BUY, 1, 79600.0), "float"),  # type: ignore[arg-type]
        (limit_order("ACC", "005930", Side.BUY, 1, "79600.5"), "whole number"),
        (limit_order("ACC", "005930", Side.BUY, 1, -5), "> 0"),
        (OrderRequest("ACC", "005930", Side.BUY, 1, OrderType.LIMIT, None), "needs a price"),
        (OrderRequest("ACC", "005930", Side.BUY, 1, OrderType.MARKET, Decimal(1)), "no price"),
        (market_order("ACC", "005930", Side.BUY, 1, client_order_id="has space"), "client_order_id"),
        (market_order("", "005930", Side.BUY, 1), "account_id"),
        (OrderRequest("ACC", "005930", "buy", 1, OrderType.MARKET), "Side"),  # type: ignore[arg-type]
    ],
)
def test_prepare_order_refuses_malformed_orders(order, fragment):
    with pytest.raises(InvalidRequest, match=fragment):
        prepare_order(order)


def test_range_bounds_must_be_dates_or_aware_datetimes():
    assert as_instant(date(2024, 1, 2), name="end", end_of_day=True) == datetime(2024, 1, 3, tzinfo=KST)
    with pytest.raises(InvalidRequest, match="tz-aware"):
        as_instant(datetime(2024, 1, 2), name="start")
