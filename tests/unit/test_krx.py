from datetime import date, time
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


@pytest.mark.parametrize(("day", "kospi", "konex"), [
    (date(2019, 5, 31), "0.0030", "0.0030"), (date(2019, 6, 3), "0.0025", "0.0010"),  # the 2019-06-03 cut
    (date(2020, 12, 30), "0.0025", "0.0010"), (date(2021, 1, 4), "0.0023", "0.0010"),
    (date(2022, 12, 29), "0.0023", "0.0010"), (date(2023, 1, 2), "0.0020", "0.0010"),
    (date(2024, 12, 30), "0.0018", "0.0010"), (date(2025, 1, 2), "0.0015", "0.0010"), (date(2026, 1, 2), "0.0020", "0.0010"),
])
def test_sell_tax_at_the_edges_of_each_rate(day, kospi, konex):
    assert krx.sell_tax_rate(day, Market.KOSPI) == krx.sell_tax_rate(day, Market.KOSDAQ) == D(kospi)
    assert krx.sell_tax_rate(day, Market.KONEX) == D(konex)


def test_session_hours_before_and_after_the_2016_08_01_extension():
    before, after = krx.session_hours(date(2016, 7, 29)), krx.session_hours(date(2016, 8, 1))
    assert (before.open, before.closing_auction, before.close) == (time(9, 0), time(14, 50), time(15, 0))
    assert (after.opening_auction, after.open, after.closing_auction, after.close) == (time(8, 30), time(9, 0), time(15, 20), time(15, 30))


# -- each date's rules, at their edges --------------------------------------------------------------
BEFORE_REFORM, REFORM = date(2023, 1, 24), date(2023, 1, 25)


def test_the_stock_tick_tables_before_and_after_2023_01_25() -> None:
    assert krx.tick_size(D(15000), market=Market.KOSPI, on=BEFORE_REFORM) == 50 and krx.tick_size(D(15000), market=Market.KOSPI, on=REFORM) == 10
    assert krx.tick_size(D(1500), market=Market.KOSDAQ, on=BEFORE_REFORM) == 5 and krx.tick_size(D(1500), market=Market.KOSDAQ, on=REFORM) == 1
    assert krx.tick_size(D(600000), market=Market.KOSDAQ, on=BEFORE_REFORM) == 100  # KOSDAQ's top tick was 100
    assert krx.tick_size(D(600000), market=Market.KOSPI, on=BEFORE_REFORM) == 1000
    assert krx.tick_size(D(600000), market=Market.KOSDAQ, on=REFORM) == 1000
    assert krx.tick_size(D(150000), market=Market.KONEX, on=BEFORE_REFORM) == 100  # KONEX as KOSDAQ


def test_etf_and_etn_ticks_under_2000_from_2023_12_11() -> None:
    for kind in (SecurityType.ETF, SecurityType.ETN):
        assert krx.tick_size(D(1995), kind, on=date(2023, 12, 8)) == 5
        assert krx.tick_size(D(1995), kind, on=date(2023, 12, 11)) == 1
        assert krx.tick_size(D(2000), kind, on=date(2023, 12, 11)) == 5
    assert krx.tick_size(D(1995), SecurityType.ELW, on=date(2024, 1, 2)) == 5


def test_the_daily_limit_by_date_and_market() -> None:
    assert krx.limit_rate(Market.KOSPI, date(2015, 6, 12)) == D("0.15") and krx.limit_rate(Market.KOSPI, date(2015, 6, 15)) == D("0.30")
    assert krx.limit_rate(Market.KONEX, date(2025, 6, 13)) == D("0.15")
    assert krx.price_limits(D(10000), market=Market.KONEX, on=date(2025, 6, 13)) == (D(8500), D(11500))


def test_rounding_a_price_below_the_smallest_tick_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="below the smallest tick"):
        krx.round_to_tick(D("0.5"))
    assert krx.round_to_tick(D("0.5"), up=True) == 1


DATES = st.dates(min_value=date(2010, 1, 4), max_value=date(2026, 12, 31))
MARKETS = st.sampled_from([Market.KOSPI, Market.KOSDAQ, Market.KONEX])
KINDS = st.sampled_from([SecurityType.STOCK, SecurityType.ETF, SecurityType.ETN])
PRICES = st.decimals(min_value=1, max_value=3_000_000, places=1, allow_nan=False, allow_infinity=False)


@settings(max_examples=400, deadline=None)
@given(price=PRICES, kind=KINDS, market=MARKETS, on=DATES, up=st.booleans())
def test_a_rounded_price_is_on_that_dates_grid_and_within_one_tick(price: Decimal, kind: SecurityType, market: Market, on: date, up: bool) -> None:
    tick = krx.tick_size(price, kind, market=market, on=on)
    if not up and price < tick:  # nothing on the grid at or below it: a clear error (tested above)
        with pytest.raises(ValueError):
            krx.round_to_tick(price, kind, market=market, on=on)
        return
    rounded = krx.round_to_tick(price, kind, up=up, market=market, on=on)
    assert krx.is_on_tick(rounded, kind, market=market, on=on)
    assert (price <= rounded < price + 2 * krx.tick_size(rounded, kind, market=market, on=on)) if up else (price - tick < rounded <= price)


@settings(max_examples=400, deadline=None)
@given(price=PRICES, kind=KINDS, market=MARKETS, on=DATES)
def test_the_limits_are_on_the_grid_around_the_previous_close(price: Decimal, kind: SecurityType, market: Market, on: date) -> None:
    previous = krx.round_to_tick(price, kind, up=True, market=market, on=on)
    lower, upper = krx.price_limits(previous, kind, market=market, on=on)
    rate = krx.limit_rate(market, on)
    assert krx.is_on_tick(lower, kind, market=market, on=on) and krx.is_on_tick(upper, kind, market=market, on=on)
    assert lower <= previous <= upper
    assert upper <= previous * (1 + rate) and lower >= previous * (1 - rate)
