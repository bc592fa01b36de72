from datetime import date
from decimal import Decimal

import pytest

from jts_broker.domain import krx
from jts_broker.domain.enums import Market, SecurityType

D = Decimal


@pytest.mark.parametrize(
    ("price", "tick"),
    [(1, 1), (1999, 1), (2000, 5), (4995, 5), (5000, 10), (19990, 10), (20000, 50), (49950, 50), (50000, 100),
     (199900, 100), (200000, 500), (499500, 500), (500000, 1000), (1330000, 1000)],
)
def test_stock_tick_size_follows_the_2023_table(price, tick):
    assert krx.tick_size(D(price)) == D(tick)


def test_funds_trade_in_five_won_ticks_at_any_price():
    for kind in (SecurityType.ETF, SecurityType.ETN, SecurityType.ELW):
        assert krx.tick_size(D(43335), kind) == 5
        assert krx.is_on_tick(D(43335), kind)
    assert not krx.is_on_tick(D(43335), SecurityType.STOCK)


def test_price_limits_round_inward_to_the_tick():
    # DESIGN.md section 6: prior close 77,300 -> 54,200 and 100,400.
    assert krx.price_limits(D(77300)) == (D(54200), D(100400))
    lower, upper = krx.price_limits(D(188700))
    assert (lower, upper) == (D(132100), D(245000))
    assert krx.is_on_tick(lower) and krx.is_on_tick(upper)


def test_rounding_up_across_a_band_edge_lands_on_the_coarser_grid():
    assert krx.round_to_tick(D("1999.5"), up=True) == D(2000)
    assert krx.round_to_tick(D(4999), up=True) == D(5000)
    assert krx.round_to_tick(D(4999)) == D(4995)


def test_next_and_previous_tick_step_over_band_edges():
    assert krx.next_tick(D(1999)) == D(2000)
    assert krx.next_tick(D(49950)) == D(50000)
    assert krx.previous_tick(D(50000)) == D(49950)
    assert krx.previous_tick(D(2000)) == D(1999)


def test_sell_tax_by_year_market_and_type():
    assert krx.sell_tax_rate(date(2026, 3, 17), Market.KOSPI) == D("0.0020")
    assert krx.sell_tax_rate(date(2025, 6, 1), Market.KOSDAQ) == D("0.0015")
    assert krx.sell_tax_rate(date(2025, 6, 1), Market.KONEX) == D("0.0010")
    assert krx.sell_tax_rate(date(2024, 1, 2), Market.KOSPI) == D("0.0018")
    assert krx.sell_tax_rate(date(2026, 3, 17), Market.KOSPI, SecurityType.ETF) == 0
