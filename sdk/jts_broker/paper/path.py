"""The intraday path of one symbol on one replayed trading day.

Times (Asia/Seoul, hours of :func:`jts_broker.domain.krx.session_hours`):
- the opening auction prints the day's open at 09:00:00;
- every minute of continuous trading (09:00-15:20, 380 minutes) has four prices, 15 s apart: the
  minute's open, its two extremes (the low first when the minute closes up, else the high) and its
  close;
- the closing auction prints the day's close at 15:30:00.

The minutes come from real 1-minute bars where the data has them (their prices snapped to that
day's tick grid inside the day's range: the bundled Yahoo-sourced bars hold off-grid values such as
58,050), and otherwise from a seeded random bridge through the day's real open, low, high and close
on the tick grid. Volume follows the real bars, or else a U-shaped intraday profile (busy after the
open and before the close) with a share for the closing auction. Whatever the source, the path
ends on the day's real bar exactly: first price = open, highest = high, lowest = low, last =
close, total volume = volume.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from jts_broker.domain import krx
from jts_broker.domain.enums import Market, SecurityType
from jts_broker.domain.market_data import Candle
from jts_broker.domain.timeutil import KST

POINTS_PER_MINUTE = 4
POINT_SPACING = timedelta(seconds=60 // POINTS_PER_MINUTE)
_MINUTE = timedelta(minutes=1)
_CLOSING_AUCTION_WEIGHT = 0.06
"""Share of a synthetic day's volume traded in the closing auction (KRX closing auctions commonly
trade a few per cent of the day)."""


@dataclass(frozen=True, slots=True)
class DailyBar:
    """One trading day of one symbol, prices in KRW."""

    day: date
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int


@lru_cache(maxsize=64)
def point_times(day: date) -> tuple[datetime, ...]:
    """The times of a day's prices, ascending: the open print, four per continuous minute after it
    (the open print is the first minute's first), the close print."""
    hours = krx.session_hours(day)
    start = datetime.combine(day, hours.open, tzinfo=KST)
    minutes = continuous_minutes(day)
    times = [start + POINT_SPACING * j for j in range(minutes * POINTS_PER_MINUTE)]
    times.append(datetime.combine(day, hours.close, tzinfo=KST))
    return tuple(times)


def continuous_minutes(day: date) -> int:
    """Minutes of continuous trading on ``day`` (380 since 2016-08-01)."""
    hours = krx.session_hours(day)
    return (hours.closing_auction.hour * 60 + hours.closing_auction.minute) - (hours.open.hour * 60 + hours.open.minute)


def split_volume(total: int, weights: Sequence[float]) -> list[int]:
    """``total`` shares split in proportion to ``weights`` as integers summing to ``total`` exactly
    (largest remainder)."""
    mass = sum(weights)
    if total <= 0 or mass <= 0:
        return [0] * len(weights) if total <= 0 else [total] + [0] * (len(weights) - 1)
    shares = [total * w / mass for w in weights]
    out = [math.floor(s) for s in shares]
    for i in sorted(range(len(shares)), key=lambda i: out[i] - shares[i])[: total - sum(out)]:
        out[i] += 1
    return out


def intraday_profile(minutes: int) -> list[float]:
    """Relative volume of each continuous minute: a U shape, heaviest after the open and before
    the close (the well-known intraday volume pattern of equity markets)."""
    return [1 + 3 * math.exp(-i / 20) + 1.5 * math.exp(-(minutes - 1 - i) / 30) for i in range(minutes)]


class DayPath:
    """The replayed prices of one symbol on one day. Immutable once built.

    Args:
        bar: the day's real daily bar.
        previous_close: the close of the trading day before (the base of the price limits).
        security_type, market: decide the tick grid and limits of the day.
        minutes: real 1-minute bars of the day (any subset of the continuous minutes), oldest first.
        seed: the seed of the synthetic parts; the same seed gives the same path.
    """

    def __init__(self, bar: DailyBar, previous_close: Decimal, security_type: SecurityType, market: Market, *,
                 minutes: Sequence[Candle] = (), seed: str = "0") -> None:
        self.bar = bar
        self.previous_close = previous_close
        self.lower_limit, self.upper_limit = krx.price_limits(previous_close, security_type, market=market, on=bar.day)
        self._security_type, self._market = security_type, market
        self.times = point_times(bar.day)
        rng = random.Random(f"{seed}:{bar.day.isoformat()}:{bar.open}:{bar.close}")
        count = continuous_minutes(bar.day)
        start = self.times[0]
        real = {int((c.time - start) / _MINUTE): c for c in minutes if start <= c.time < start + _MINUTE * count}
        if real:
            bars, volumes = self._from_real(real, count, rng)
        else:
            bars, volumes = self._synthetic(count, rng)
        self.minute_bars: list[Candle] = [Candle(start + _MINUTE * i, o, h, lo, c, v) for i, ((o, h, lo, c), v) in enumerate(zip(bars, volumes[:-1], strict=True))]
        closing_volume = volumes[-1]
        self.minute_bars.append(Candle(self.times[-1], bar.close, bar.close, bar.close, bar.close, closing_volume))
        self.minute_ends = [c.time + _MINUTE for c in self.minute_bars]
        self.prices: list[Decimal] = []
        self.volumes: list[int] = []  # cumulative shares traded up to and including each point
        for (o, h, lo, c), v in zip(bars, volumes[:-1], strict=True):
            self.prices.extend((o, lo, h, c) if c >= o else (o, h, lo, c))
            quarter = split_volume(v, (1,) * POINTS_PER_MINUTE)
            self.volumes.extend(quarter)
        self.prices.append(bar.close)
        self.volumes.append(closing_volume)
        total = 0
        for i, v in enumerate(self.volumes):
            total += v
            self.volumes[i] = total
        self.highs = list(itertools.accumulate(self.prices, max))
        self.lows = list(itertools.accumulate(self.prices, min))

    # -- reads --------------------------------------------------------------------------------

    def index_at(self, moment: datetime) -> int:
        """The index of the last price at or before ``moment``; -1 before the open."""
        return bisect.bisect_right(self.times, moment) - 1

    def point_volume(self, index: int) -> int:
        """Shares traded at the price of ``index`` (0 where nothing traded)."""
        return self.volumes[index] - (self.volumes[index - 1] if index > 0 else 0)

    def minute_volume(self, index: int) -> int:
        """Shares traded in the minute (or auction) of the price at ``index``."""
        return self.minute_bars[min(index // POINTS_PER_MINUTE, len(self.minute_bars) - 1)].volume

    def completed_minutes(self, moment: datetime) -> list[Candle]:
        """The 1-minute bars that ended at or before ``moment``, oldest first."""
        return self.minute_bars[: bisect.bisect_right(self.minute_ends, moment)]

    # -- construction -------------------------------------------------------------------------

    def _snap(self, value: Decimal | float) -> Decimal:
        """The grid price nearest ``value`` inside the day's range."""
        price = Decimal(str(value)) if isinstance(value, float) else value
        price = min(max(price, self.bar.low), self.bar.high)
        kind, market, day = self._security_type, self._market, self.bar.day
        down = krx.round_to_tick(price, kind, market=market, on=day) if price >= 1 else price
        up = krx.round_to_tick(price, kind, up=True, market=market, on=day)
        nearest = up if up - price < price - down else down
        return min(max(nearest, self.bar.low), self.bar.high)

    def _wick(self, price: Decimal, ticks: int, up: bool) -> Decimal:
        kind, market, day = self._security_type, self._market, self.bar.day
        for _ in range(ticks):
            price = krx.next_tick(price, kind, market=market, on=day) if up else krx.previous_tick(price, kind, market=market, on=day)
        return min(price, self.bar.high) if up else max(price, self.bar.low)

    def _bars_between(self, boundaries: Sequence[Decimal], rng: random.Random) -> list[tuple[Decimal, Decimal, Decimal, Decimal]]:
        """Minute bars whose opens and closes are consecutive ``boundaries``, with small wicks."""
        out = []
        for o, c in itertools.pairwise(boundaries):
            h = self._wick(max(o, c), rng.choice((0, 0, 1, 1, 2)), up=True)
            lo = self._wick(min(o, c), rng.choice((0, 0, 1, 1, 2)), up=False)
            out.append((o, h, lo, c))
        return out

    def _bridge(self, anchors: list[tuple[int, Decimal]], rng: random.Random) -> list[Decimal]:
        """Prices at every minute boundary from the first anchor's to the last's: a Brownian bridge
        between consecutive anchors, on the grid inside the day's range. Floats shape the path
        only; every price is snapped to an exact grid ``Decimal``."""
        spread = float(self.bar.high - self.bar.low)
        out = [anchors[0][1]]
        for (i, a), (j, b) in itertools.pairwise(anchors):
            walk = [0.0]
            for _ in range(j - i):
                walk.append(walk[-1] + rng.gauss(0, 1))
            length = j - i
            for k in range(1, length):
                level = float(a) + (float(b) - float(a)) * k / length + spread * 0.03 * (walk[k] - walk[-1] * k / length)
                out.append(self._snap(level))
            out.append(b)
        return out

    def _synthetic(self, count: int, rng: random.Random) -> tuple[list[tuple[Decimal, Decimal, Decimal, Decimal]], list[int]]:
        bar = self.bar
        inner = [(bar.low, bar.low not in (bar.open, bar.close)), (bar.high, bar.high not in (bar.open, bar.close))]
        picks = sorted(rng.sample(range(1, count), 2))
        rng.shuffle(inner)
        anchors = [(0, bar.open)] + [(i, price) for i, (price, needed) in zip(picks, inner, strict=True) if needed] + [(count, bar.close)]
        boundaries = self._bridge(anchors, rng)
        weights = intraday_profile(count)
        volumes = split_volume(bar.volume, [*weights, sum(weights) * _CLOSING_AUCTION_WEIGHT / (1 - _CLOSING_AUCTION_WEIGHT)])
        return self._bars_between(boundaries, rng), volumes

    def _from_real(self, real: dict[int, Candle], count: int, rng: random.Random) -> tuple[list[tuple[Decimal, Decimal, Decimal, Decimal]], list[int]]:
        bar = self.bar
        bars: list[tuple[Decimal, Decimal, Decimal, Decimal] | None] = [None] * count
        for i, c in real.items():
            o, h, lo, cl = (self._snap(p) for p in (c.open, c.high, c.low, c.close))
            if i == 0:
                o = bar.open
            bars[i] = (o, max(h, o, cl), min(lo, o, cl), cl)
        i = 0
        while i < count:  # bridge each run of missing minutes from the close before to the open after
            if bars[i] is not None:
                i += 1
                continue
            j = i
            while j < count and bars[j] is None:
                j += 1
            before = bars[i - 1][3] if i > 0 else bar.open  # type: ignore[index]
            after = bars[j][0] if j < count else bar.close  # type: ignore[index]
            bars[i:j] = self._bars_between(self._bridge([(i, before), (j, after)], rng), rng)
            i = j
        filled: list[tuple[Decimal, Decimal, Decimal, Decimal]] = bars  # type: ignore[assignment]
        free = [i for i in range(count) if i not in real] or [count - 1]
        # The day's extremes, where the minutes miss them: a wick in a minute the data lacks.
        if bar.high not in (b[1] for b in filled) and bar.high != bar.close:
            k = rng.choice(free)
            filled[k] = (filled[k][0], bar.high, filled[k][2], filled[k][3])
        if bar.low not in (b[2] for b in filled) and bar.low != bar.close:
            k = rng.choice(free)
            filled[k] = (filled[k][0], filled[k][1], bar.low, filled[k][3])
        fixed = sum(c.volume for c in real.values())
        weights = intraday_profile(count)
        if fixed <= bar.volume:
            rest = split_volume(bar.volume - fixed, [0.0 if i in real else weights[i] for i in range(count)] + [sum(weights) * _CLOSING_AUCTION_WEIGHT])
            volumes = [real[i].volume if i in real else rest[i] for i in range(count)] + [rest[-1]]
        else:  # the minutes report more than the day: scale them down to the day's total
            volumes = split_volume(bar.volume, [float(real[i].volume) if i in real else 0.0 for i in range(count)] + [0.0])
        return filled, volumes
