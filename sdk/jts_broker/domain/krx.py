"""KRX trading rules: tick sizes, daily price limits, sessions and sell-side transaction tax.

Sources:
- Tick sizes (호가가격단위) for KOSPI, KOSDAQ and KONEX stocks, unified on 2023-01-25; ETF, ETN
  and ELW trade in 5 KRW ticks.
- Daily price limit (가격제한폭): +-30% of the previous close since 2015-06-15; the upper limit is
  rounded down and the lower limit up to the tick grid at those prices.
- Sell-side securities transaction tax (증권거래세, including the special tax for rural
  development on KOSPI), by year of the trade date.
"""

from __future__ import annotations

from datetime import date, time
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from .enums import Market, SecurityType

_STOCK_TICKS: tuple[tuple[Decimal, Decimal], ...] = (
    (Decimal(2_000), Decimal(1)),
    (Decimal(5_000), Decimal(5)),
    (Decimal(20_000), Decimal(10)),
    (Decimal(50_000), Decimal(50)),
    (Decimal(200_000), Decimal(100)),
    (Decimal(500_000), Decimal(500)),
)
_STOCK_TOP_TICK = Decimal(1_000)
_FUND_TICK = Decimal(5)
PRICE_LIMIT_RATE = Decimal("0.30")
"""Daily price limit as a fraction of the previous close."""

BOARD_LOT = 1
"""Shares per board lot on KRX."""

OPENING_AUCTION = (time(8, 30), time(9, 0))
CONTINUOUS_SESSION = (time(9, 0), time(15, 20))
CLOSING_AUCTION = (time(15, 20), time(15, 30))
"""Regular session phases in Asia/Seoul: (start, end)."""

# (first effective date, {market: rate}) in ascending order of date. ETFs are exempt.
_SELL_TAX: tuple[tuple[date, dict[Market, Decimal]], ...] = (
    (date(2021, 1, 1), {Market.KOSPI: Decimal("0.0023"), Market.KOSDAQ: Decimal("0.0023"), Market.KONEX: Decimal("0.0010")}),
    (date(2023, 1, 1), {Market.KOSPI: Decimal("0.0020"), Market.KOSDAQ: Decimal("0.0020"), Market.KONEX: Decimal("0.0010")}),
    (date(2024, 1, 1), {Market.KOSPI: Decimal("0.0018"), Market.KOSDAQ: Decimal("0.0018"), Market.KONEX: Decimal("0.0010")}),
    (date(2025, 1, 1), {Market.KOSPI: Decimal("0.0015"), Market.KOSDAQ: Decimal("0.0015"), Market.KONEX: Decimal("0.0010")}),
    (date(2026, 1, 1), {Market.KOSPI: Decimal("0.0020"), Market.KOSDAQ: Decimal("0.0020"), Market.KONEX: Decimal("0.0010")}),
)


def tick_size(price: Decimal, security_type: SecurityType = SecurityType.STOCK) -> Decimal:
    """The tick size in KRW at ``price`` (KRW) for a security of ``security_type``.

    Stocks: < 2,000: 1; < 5,000: 5; < 20,000: 10; < 50,000: 50; < 200,000: 100; < 500,000: 500;
    otherwise 1,000. ETF, ETN and ELW: 5.
    """
    if security_type is not SecurityType.STOCK:
        return _FUND_TICK
    for bound, tick in _STOCK_TICKS:
        if price < bound:
            return tick
    return _STOCK_TOP_TICK


def is_on_tick(price: Decimal, security_type: SecurityType = SecurityType.STOCK) -> bool:
    """True when ``price`` is a positive multiple of the tick size at that price."""
    return price > 0 and price % tick_size(price, security_type) == 0


def round_to_tick(price: Decimal, security_type: SecurityType = SecurityType.STOCK, *, up: bool = False) -> Decimal:
    """Round ``price`` down (or up) to the tick grid at that price."""
    tick = tick_size(price, security_type)
    rounded = (price / tick).to_integral_value(ROUND_CEILING if up else ROUND_FLOOR) * tick
    # Rounding up can cross into a band with a coarser tick (e.g. 1,999.5 -> 2,000): recheck there.
    return rounded if is_on_tick(rounded, security_type) else round_to_tick(rounded, security_type, up=up)


def next_tick(price: Decimal, security_type: SecurityType = SecurityType.STOCK) -> Decimal:
    """The next price above ``price`` on the tick grid."""
    return round_to_tick(price + tick_size(price, security_type), security_type)


def previous_tick(price: Decimal, security_type: SecurityType = SecurityType.STOCK) -> Decimal:
    """The next price below ``price`` on the tick grid (the tick just below a band edge is finer)."""
    below = price - Decimal(1) if price > 1 else price
    return round_to_tick(below, security_type)


def price_limits(previous_close: Decimal, security_type: SecurityType = SecurityType.STOCK) -> tuple[Decimal, Decimal]:
    """(lower, upper) daily price limits in KRW from the previous close.

    The upper limit is previous close x 1.3 rounded down to the tick at that price, the lower
    limit previous close x 0.7 rounded up: 77,300 -> (54,200, 100,400).
    """
    upper = round_to_tick(previous_close * (1 + PRICE_LIMIT_RATE), security_type)
    lower = round_to_tick(previous_close * (1 - PRICE_LIMIT_RATE), security_type, up=True)
    return lower, upper


def sell_tax_rate(trade_date: date, market: Market, security_type: SecurityType = SecurityType.STOCK) -> Decimal:
    """Sell-side transaction tax as a fraction of the sale amount, for a trade on ``trade_date``.

    KOSPI includes the 0.15% special tax for rural development. ETFs are exempt (0). Rates:
    2021-22 KOSPI/KOSDAQ 0.23%; 2023 0.20%; 2024 0.18%; 2025 0.15%; from 2026 0.20%;
    KONEX 0.10% throughout. Trades before 2021 use the 2021 rates.
    """
    if security_type is not SecurityType.STOCK:
        return Decimal(0)
    rates = _SELL_TAX[0][1]
    for effective, table in _SELL_TAX:
        if trade_date >= effective:
            rates = table
    return rates[market]
