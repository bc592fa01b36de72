"""KRX trading rules: tick sizes, daily price limits, sessions and sell-side transaction tax.

Every rule is a dated table: pass the trading date (``on``) and the market to apply the rules of
that day; ``on=None`` applies today's. Sources:
- Tick sizes (호가가격단위): KOSPI and KOSDAQ/KONEX stock tables differed until KRX unified them on
  2023-01-25; ETF and ETN trade in 5 KRW ticks, and in 1 KRW under 2,000 KRW since 2023-12-11; ELW
  in 5 KRW (:func:`tick_table`).
- Daily price limit (가격제한폭): +-30% of the previous close since 2015-06-15 (+-15% before);
  KONEX +-15%; the upper limit is rounded down and the lower limit up to the tick grid at those
  prices.
- Sessions (정규시장): opening auction 08:30-09:00, continuous trading 09:00-15:20, closing
  auction 15:20-15:30 since KRX extended the regular session by 30 minutes on 2016-08-01 (before:
  continuous until 14:50, closing auction 14:50-15:00) (:func:`session_hours`).
- Sell-side securities transaction tax (증권거래세, including the special tax for rural
  development on KOSPI), by date of the trade (:func:`sell_tax_rate`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from .enums import Market, SecurityType

TICK_REFORM = date(2023, 1, 25)
"""KRX unified the stock tick table of KOSPI, KOSDAQ and KONEX on this date (KRX notice of the
호가가격단위 reform, 2023-01-25)."""
FUND_TICK_REFORM = date(2023, 12, 11)
"""ETF and ETN prices under 2,000 KRW trade in 1 KRW ticks from this date (5 KRW before)."""
LIMIT_WIDENED = date(2015, 6, 15)
"""The daily price limit of KOSPI and KOSDAQ went from +-15% to +-30% on this date."""

_Bands = tuple[tuple[Decimal, Decimal], ...]
"""(upper bound exclusive, tick) in ascending order; the last tick holds above every bound."""


def _bands(*pairs: tuple[int, int], top: int) -> _Bands:
    return (*((Decimal(bound), Decimal(tick)) for bound, tick in pairs), (Decimal("Infinity"), Decimal(top)))


_UNIFIED = _bands((2_000, 1), (5_000, 5), (20_000, 10), (50_000, 50), (200_000, 100), (500_000, 500), top=1_000)
_KOSPI_BEFORE = _bands((1_000, 1), (5_000, 5), (10_000, 10), (50_000, 50), (100_000, 100), (500_000, 500), top=1_000)
_KOSDAQ_BEFORE = _bands((1_000, 1), (5_000, 5), (10_000, 10), (50_000, 50), top=100)
_FUND_BEFORE = _bands(top=5)
_FUND_AFTER = _bands((2_000, 1), top=5)
_ELW = _bands(top=5)
PRICE_LIMIT_RATE = Decimal("0.30")
"""Daily price limit of KOSPI and KOSDAQ since 2015-06-15, as a fraction of the previous close."""
_NARROW_LIMIT_RATE = Decimal("0.15")


def tick_table(security_type: SecurityType = SecurityType.STOCK, market: Market = Market.KOSPI, on: date | None = None) -> _Bands:
    """The tick bands in force on ``on`` (None: today's rules) for a security of ``security_type``
    listed on ``market``. Sources:

    - stocks from 2023-01-25, every market: < 2,000: 1; < 5,000: 5; < 20,000: 10; < 50,000: 50;
      < 200,000: 100; < 500,000: 500; else 1,000 KRW;
    - stocks before, KOSPI: < 1,000: 1; < 5,000: 5; < 10,000: 10; < 50,000: 50; < 100,000: 100;
      < 500,000: 500; else 1,000; KOSDAQ and KONEX: < 1,000: 1; < 5,000: 5; < 10,000: 10;
      < 50,000: 50; else 100 KRW;
    - ETF and ETN: 5 KRW; from 2023-12-11, 1 KRW under 2,000 KRW; ELW: 5 KRW.
    """
    day = on or date.max
    if security_type in (SecurityType.ETF, SecurityType.ETN):
        return _FUND_AFTER if day >= FUND_TICK_REFORM else _FUND_BEFORE
    if security_type is SecurityType.ELW:
        return _ELW
    if day >= TICK_REFORM:
        return _UNIFIED
    return _KOSPI_BEFORE if market is Market.KOSPI else _KOSDAQ_BEFORE


def limit_rate(market: Market = Market.KOSPI, on: date | None = None) -> Decimal:
    """The daily price limit as a fraction of the previous close: KOSPI and KOSDAQ +-30% since
    2015-06-15 (+-15% before); KONEX +-15%."""
    if market is Market.KONEX or (on is not None and on < LIMIT_WIDENED):
        return _NARROW_LIMIT_RATE
    return PRICE_LIMIT_RATE


BOARD_LOT = 1
"""Shares per board lot on KRX."""

SESSION_EXTENDED = date(2016, 8, 1)
"""KRX closed the regular session at 15:30 from this date (15:00 before)."""


@dataclass(frozen=True, slots=True)
class SessionHours:
    """The regular session of one trading day, wall-clock times in Asia/Seoul."""

    opening_auction: time
    """Orders for the opening single-price auction are taken from here."""
    open: time
    """The opening auction executes (the day's first price) and continuous trading starts."""
    closing_auction: time
    """Continuous trading stops; orders are collected for the closing single-price auction."""
    close: time
    """The closing auction executes at the day's closing price; the regular session ends."""


_HOURS_SINCE_2016_08_01 = SessionHours(time(8, 30), time(9, 0), time(15, 20), time(15, 30))
_HOURS_BEFORE = SessionHours(time(8, 30), time(9, 0), time(14, 50), time(15, 0))


def session_hours(on: date) -> SessionHours:
    """The regular session's hours on ``on`` (see the module docstring for the source). Days KRX
    opened late (the college entrance exam day opens at 10:00) are not in this table."""
    return _HOURS_SINCE_2016_08_01 if on >= SESSION_EXTENDED else _HOURS_BEFORE

# (first effective date, {market: rate}) in ascending order of date. ETFs are exempt.
_SELL_TAX: tuple[tuple[date, dict[Market, Decimal]], ...] = (
    (date.min, {Market.KOSPI: Decimal("0.0030"), Market.KOSDAQ: Decimal("0.0030"), Market.KONEX: Decimal("0.0030")}),
    (date(2019, 6, 3), {Market.KOSPI: Decimal("0.0025"), Market.KOSDAQ: Decimal("0.0025"), Market.KONEX: Decimal("0.0010")}),
    (date(2021, 1, 1), {Market.KOSPI: Decimal("0.0023"), Market.KOSDAQ: Decimal("0.0023"), Market.KONEX: Decimal("0.0010")}),
    (date(2023, 1, 1), {Market.KOSPI: Decimal("0.0020"), Market.KOSDAQ: Decimal("0.0020"), Market.KONEX: Decimal("0.0010")}),
    (date(2024, 1, 1), {Market.KOSPI: Decimal("0.0018"), Market.KOSDAQ: Decimal("0.0018"), Market.KONEX: Decimal("0.0010")}),
    (date(2025, 1, 1), {Market.KOSPI: Decimal("0.0015"), Market.KOSDAQ: Decimal("0.0015"), Market.KONEX: Decimal("0.0010")}),
    (date(2026, 1, 1), {Market.KOSPI: Decimal("0.0020"), Market.KOSDAQ: Decimal("0.0020"), Market.KONEX: Decimal("0.0010")}),
)


def tick_size(price: Decimal, security_type: SecurityType = SecurityType.STOCK, *, market: Market = Market.KOSPI,
              on: date | None = None) -> Decimal:
    """The tick size in KRW at ``price`` (KRW) on ``on`` (None: today's rules); see
    :func:`tick_table`."""
    for bound, tick in tick_table(security_type, market, on):
        if price < bound:
            return tick
    raise AssertionError("unreachable: the last band is unbounded")  # pragma: no cover


def is_on_tick(price: Decimal, security_type: SecurityType = SecurityType.STOCK, *, market: Market = Market.KOSPI,
               on: date | None = None) -> bool:
    """True when ``price`` is a positive multiple of the tick size at that price."""
    return price > 0 and price % tick_size(price, security_type, market=market, on=on) == 0


def round_to_tick(price: Decimal, security_type: SecurityType = SecurityType.STOCK, *, up: bool = False, market: Market = Market.KOSPI,
                  on: date | None = None) -> Decimal:
    """Round ``price`` down (or up) to the tick grid at that price.

    Raises:
        ValueError: rounding down a price below the smallest tick (there is no price to go to).
    """
    rounded = price
    while True:
        tick = tick_size(rounded, security_type, market=market, on=on)
        rounded = (rounded / tick).to_integral_value(ROUND_CEILING if up else ROUND_FLOOR) * tick
        if rounded <= 0:
            raise ValueError(f"{price} KRW is below the smallest tick ({tick} KRW): no price on the grid at or below it")
        # Rounding up can cross into a band with a coarser tick (1,999.5 -> 2,000): round again there.
        if is_on_tick(rounded, security_type, market=market, on=on):
            return rounded


def next_tick(price: Decimal, security_type: SecurityType = SecurityType.STOCK, *, market: Market = Market.KOSPI,
              on: date | None = None) -> Decimal:
    """The next price above ``price`` on the tick grid."""
    return round_to_tick(price + tick_size(price, security_type, market=market, on=on), security_type, market=market, on=on)


def previous_tick(price: Decimal, security_type: SecurityType = SecurityType.STOCK, *, market: Market = Market.KOSPI,
                  on: date | None = None) -> Decimal:
    """The next price below ``price`` on the tick grid (the tick just below a band edge is finer)."""
    below = price - Decimal(1) if price > 1 else price
    return round_to_tick(below, security_type, market=market, on=on)


def price_limits(previous_close: Decimal, security_type: SecurityType = SecurityType.STOCK, *, market: Market = Market.KOSPI,
                 on: date | None = None) -> tuple[Decimal, Decimal]:
    """(lower, upper) daily price limits in KRW from the previous close, on ``on``.

    The upper limit is previous close x (1 + rate) rounded down to the tick at that price, the lower
    limit previous close x (1 - rate) rounded up (:func:`limit_rate`): 77,300 -> (54,200, 100,400).
    """
    rate = limit_rate(market, on)
    upper = round_to_tick(previous_close * (1 + rate), security_type, market=market, on=on)
    lower = round_to_tick(previous_close * (1 - rate), security_type, up=True, market=market, on=on)
    return lower, upper


def sell_tax_rate(trade_date: date, market: Market, security_type: SecurityType = SecurityType.STOCK) -> Decimal:
    """Sell-side transaction tax as a fraction of the sale amount, for a trade on ``trade_date``.

    KOSPI's rate is 0.15% special tax for rural development (농어촌특별세) plus the securities
    transaction tax; ETFs are exempt (0). Rates (KOSPI and KOSDAQ alike): 0.30% until 2019-06-02;
    0.25% from 2019-06-03; 0.23% in 2021-22; 0.20% in 2023; 0.18% in 2024; 0.15% in 2025; 0.20%
    from 2026. KONEX: 0.30% until 2019-06-02, 0.10% since.
    """
    if security_type is not SecurityType.STOCK:
        return Decimal(0)
    rates: dict[Market, Decimal] = {}
    for effective, table in _SELL_TAX:
        if trade_date >= effective:
            rates = table
    return rates[market]
