"""Synthetic daily bars for the mock gateway: a seeded random walk that obeys KRX rules.

Every price is on the tick grid of its security type and every close, open, high and low stays
within +-30% of the previous close (the daily price limit). The same seed and symbol give the
same series, and a later session date only extends it.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from jts_broker.domain import krx
from jts_broker.domain.enums import Market, SecurityType
from jts_broker.domain.market_data import Symbol

from .market import DailyBar

FIRST_DAY = date(2020, 1, 2)

MOCK_SYMBOLS: tuple[tuple[Symbol, int], ...] = (
    (Symbol("005930", "삼성전자", Market.KOSPI, SecurityType.STOCK, "통신 및 방송 장비 제조업", date(1975, 6, 11)), 55_000),
    (Symbol("000660", "SK하이닉스", Market.KOSPI, SecurityType.STOCK, "반도체 제조업", date(1996, 12, 26)), 94_000),
    (Symbol("035420", "NAVER", Market.KOSPI, SecurityType.STOCK, "자료처리, 호스팅, 포털 및 기타 인터넷 정보매개 서비스업", date(2008, 11, 28)), 180_000),
    (Symbol("035720", "카카오", Market.KOSPI, SecurityType.STOCK, "자료처리, 호스팅, 포털 및 기타 인터넷 정보매개 서비스업", date(2017, 7, 10)), 30_000),
    (Symbol("373220", "LG에너지솔루션", Market.KOSPI, SecurityType.STOCK, "일차전지 및 이차전지 제조업", date(2022, 1, 27)), 450_000),
    (Symbol("247540", "에코프로비엠", Market.KOSDAQ, SecurityType.STOCK, "기타 화학제품 제조업", date(2019, 3, 5)), 1_900),
    (Symbol("069500", "KODEX 200", Market.KOSPI, SecurityType.ETF, "", date(2002, 10, 14)), 29_000),
    (Symbol("229200", "KODEX 코스닥150", Market.KOSPI, SecurityType.ETF, "", date(2015, 10, 1)), 11_000),
)
"""Mock symbols (real codes and names) and the price each walk starts from (KRW)."""


# The synthetic walk keeps today's tick and limit rules on every day: it is made-up data for code
# that must run without a server, not a record of any date's market.
def _on_grid(value: float, security_type: SecurityType, lower: Decimal, upper: Decimal) -> Decimal:
    price = krx.round_to_tick(Decimal(max(1, round(value))), security_type)
    return min(max(price, lower), upper)


def daily_bars(symbol: Symbol, start_price: int, seed: int, last_day: date) -> list[DailyBar]:
    """Weekday bars of ``symbol`` from 2020-01-02 through ``last_day``, oldest first."""
    rng = random.Random(f"{seed}:{symbol.code}")
    kind = symbol.security_type
    previous = krx.round_to_tick(Decimal(start_price), kind)
    bars = []
    day = FIRST_DAY
    while day <= last_day:
        if day.weekday() < 5:
            lower, upper = krx.price_limits(previous, kind)
            base = float(previous)
            open_ = _on_grid(base * (1 + rng.gauss(0, 0.006)), kind, lower, upper)
            close = _on_grid(base * (1 + rng.gauss(0, 0.02)), kind, lower, upper)
            high = _on_grid(float(max(open_, close)) * (1 + abs(rng.gauss(0, 0.008))), kind, lower, upper)
            low = _on_grid(float(min(open_, close)) * (1 - abs(rng.gauss(0, 0.008))), kind, lower, upper)
            high, low = max(high, open_, close), min(low, open_, close)
            volume = int(rng.lognormvariate(13, 0.5))
            bars.append(DailyBar(day, open_, high, low, close, volume))
            previous = close
        day += timedelta(days=1)
    return bars
