"""A market built from daily bars (and 1-minute bars where held), replayed on a market clock.

The replay runs the trading days ``start`` to ``end`` of the data, one after another, each with the
KRX sessions (:mod:`jts_broker.paper.clock`) and an intraday path per symbol that ends on the day's
real bar exactly (:mod:`jts_broker.paper.path`).

No look-ahead: every read shows only what had happened at the clock's time. Days after today do
not exist; today's daily bar (and the weekly and monthly bars holding it) is the partial bar so
far, absent before the open prints; 1-minute bars end at the last completed minute; a symbol listed
after today is not listed yet. Replayed days keep the minute bars they traded; days before the
replay serve the real 1-minute bars the data holds, as they are.
"""

from __future__ import annotations

import bisect
import operator
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta

from jts_broker.domain import krx
from jts_broker.domain.enums import Market, SecurityType, Timeframe
from jts_broker.domain.errors import ConfigurationError, InvalidRequest, SymbolNotFound
from jts_broker.domain.market_data import Candle, Quote, Symbol
from jts_broker.domain.timeutil import KST, start_of_day

from .clock import MarketClock
from .path import DailyBar, DayPath

__all__ = ["BarMarket", "DailyBar"]

_PATHS_KEPT = 256  # built paths cached (about 1,500 prices each): today's for every symbol, and recent days

_TIME = operator.attrgetter("time")  # a candle's sort key


class BarMarket:
    """Prices of a set of symbols on a replay clock. Thread-safe.

    Args:
        symbols: the symbol master.
        daily: daily bars per code, oldest first.
        start, end: the first and last trading days to replay; default the latest date in ``daily``
            for both. Days of the data outside [start, end] are history (before) or never seen
            (after).
        minute: real one-minute bars per code (any days), oldest first.
        seed: seed of the synthetic intraday paths: the same seed, data and range give the same
            prices, tick for tick.
        clock_start: where the clock starts (default 09:00 of ``start``).

    Raises:
        ConfigurationError: the range holds no trading day of the data.
    """

    def __init__(self, symbols: Iterable[Symbol], daily: Mapping[str, list[DailyBar]], start: date | None = None, end: date | None = None,
                 minute: Mapping[str, list[Candle]] | None = None, *, seed: int = 0, clock_start: datetime | None = None) -> None:
        self._daily = {code: bars for code, bars in daily.items() if bars}
        self._symbols = {s.code: s if s.code in self._daily else replace(s, without_prices=True) for s in sorted(symbols, key=lambda s: s.code)}
        self._days = {code: [b.day for b in bars] for code, bars in self._daily.items()}
        self._minute = {code: bars for code, bars in (minute or {}).items() if bars}
        self._minute_days = {code: sorted({b.time.astimezone(KST).date() for b in bars}) for code, bars in self._minute.items()}
        latest = max((bars[-1].day for bars in self._daily.values()), default=None)
        first = start or latest
        last = end or latest or first
        if first is None or last is None or last < first:
            raise ConfigurationError(f"the replay range {first} to {last} is empty", code="NO_TRADING_DAYS")
        calendar = sorted({d for days in self._days.values() for d in days if first <= d <= last})
        self.clock = MarketClock(calendar, clock_start)
        self.seed = seed
        self._lock = threading.Lock()
        self._paths: OrderedDict[tuple[str, date], DayPath | None] = OrderedDict()
        self._candles: dict[str, tuple[list[Candle], list[datetime]]] = {}
        self._quotes: dict[str, tuple[datetime, Quote]] = {}  # code -> (clock time, its quote)

    # -- the clock -----------------------------------------------------------------------------

    @property
    def session_date(self) -> date:
        """The trading day the replay is in (see :attr:`MarketClock.trading_day`)."""
        return self.clock.trading_day

    @property
    def step(self) -> int:
        return self.clock.step

    def now(self) -> datetime:
        """The replayed time, tz-aware in Asia/Seoul."""
        return self.clock.now

    def advance(self) -> bool:
        """Move the clock to its next event; False once the replay has ended."""
        return self.clock.step_events(1) == 1

    def wait_for_change(self, seen_step: int, timeout_s: float) -> int:
        return self.clock.wait_for_change(seen_step, timeout_s)

    # -- symbol master -------------------------------------------------------------------------

    def symbols(self) -> list[Symbol]:
        """Every symbol listed by today (or of unknown listing date), ordered by code."""
        today = self.session_date
        return [s for s in self._symbols.values() if s.listed_date is None or s.listed_date <= today]

    def symbol(self, code: str) -> Symbol:
        """One symbol. Raises SymbolNotFound (SYMBOL_NOT_FOUND): not listed, or not yet today."""
        symbol = self._symbols.get(code)
        if symbol is None:
            raise SymbolNotFound(f"symbol {code} is not listed", code="SYMBOL_NOT_FOUND")
        if symbol.listed_date is not None and symbol.listed_date > self.session_date:
            raise SymbolNotFound(f"symbol {code} is not listed yet on {self.session_date} (listed {symbol.listed_date})", code="SYMBOL_NOT_FOUND")
        return symbol

    # -- prices --------------------------------------------------------------------------------

    def _bars(self, code: str) -> list[DailyBar]:
        self.symbol(code)
        bars = self._daily.get(code)
        if not bars:
            raise SymbolNotFound(f"no price data for {code} in this simulator ({len(self._daily)} symbols have data; add CSVs with --data-dir)",
                                 code="NO_PRICE_DATA")
        return bars

    def path(self, code: str, day: date) -> DayPath | None:
        """The intraday path of ``code`` on ``day``; None when it has no bar that day."""
        key = (code, day)
        with self._lock:
            if key in self._paths:
                self._paths.move_to_end(key)
                return self._paths[key]
        bars, days = self._daily.get(code, []), self._days.get(code, [])
        i = bisect.bisect_left(days, day)
        path = None
        if i < len(bars) and days[i] == day:
            symbol = self._symbols.get(code)
            kind, market = (symbol.security_type, symbol.market) if symbol else (SecurityType.STOCK, Market.KOSPI)
            previous_close = bars[i - 1].close if i > 0 else bars[i].open
            path = DayPath(bars[i], previous_close, kind, market, minutes=self._real_minutes(code, day), seed=f"{self.seed}:{code}")
        with self._lock:
            self._paths[key] = path
            while len(self._paths) > _PATHS_KEPT:
                self._paths.popitem(last=False)
        return path

    def _real_minutes(self, code: str, day: date) -> list[Candle]:
        bars = self._minute.get(code, [])
        lo = bisect.bisect_left(bars, start_of_day(day), key=_TIME)
        hi = bisect.bisect_left(bars, start_of_day(day + timedelta(days=1)), key=_TIME)
        return bars[lo:hi]

    def is_trading(self, code: str) -> bool:
        """True when ``code`` has a bar today (it is not halted, delisted or not yet listed)."""
        return self.path(code, self.session_date) is not None

    def _market_of(self, code: str) -> Market:
        symbol = self._symbols.get(code)
        return symbol.market if symbol else Market.KOSPI

    def _security_type(self, code: str) -> SecurityType:
        symbol = self._symbols.get(code)
        return symbol.security_type if symbol else SecurityType.STOCK

    def quote(self, code: str) -> Quote:
        """The quote at the clock's time. Bid and ask are one tick apart (the bid at the last
        price); the size at each is the shares the path traded at its current price point (0
        where nothing traded). Before the open prints, the previous close with no volume; a
        symbol not trading today quotes its last close, unchanged.

        Raises:
            SymbolNotFound: not listed (SYMBOL_NOT_FOUND) or no prices (NO_PRICE_DATA).
        """
        bars = self._bars(code)
        now, today = self.clock.snapshot()  # read once: price and time must agree
        # A quote is a function of the code and the clock's time alone: while the clock stands
        # still, every reader gets the same (immutable) Quote, built once. (Servers answer
        # thousands of quote reads a second between two price events.)
        last = self._quotes.get(code)
        if last is not None and last[0] == now:
            return last[1]
        quote = self._quote_at(code, bars, now, today)
        self._quotes[code] = (now, quote)
        return quote

    def _quote_at(self, code: str, bars: list[DailyBar], now: datetime, today: date) -> Quote:
        path = self.path(code, today)
        kind, market = self._security_type(code), self._market_of(code)
        if path is None:
            i = bisect.bisect_left(self._days[code], today)
            if i == 0:
                raise SymbolNotFound(f"no price for {code} on or before {today}", code="NO_PRICE_DATA")
            last = bars[i - 1]
            lower, upper = krx.price_limits(last.close, kind, market=market, on=today)
            return Quote(code, start_of_day(last.day), last.close, last.close, last.close, last.close, last.close,
                         upper, lower, last.close, last.close, 0, 0, 0)
        k = path.index_at(now)
        if k < 0:
            price, open_, high, low, volume, depth = path.previous_close, path.previous_close, path.previous_close, path.previous_close, 0, 0
        else:
            price, open_, high, low, volume = path.prices[k], path.prices[0], path.highs[k], path.lows[k], path.volumes[k]
            depth = path.point_volume(k)
        ask = min(krx.next_tick(price, kind, market=market, on=today), path.upper_limit) if price < path.upper_limit else price
        return Quote(code, now, price, open_, high, low, path.previous_close, path.upper_limit, path.lower_limit, price, ask, depth, depth, volume)

    def auction_volume(self, code: str) -> int:
        """Shares traded in the minute (or closing auction) of ``code``'s current price: what an
        auction printing now can fill. 0 when it does not trade today or before the open."""
        now, today = self.clock.snapshot()
        path = self.path(code, today)
        k = path.index_at(now) if path else -1
        return path.minute_volume(k) if path is not None and k >= 0 else 0

    def _all_daily(self, code: str) -> tuple[list[Candle], list[datetime]]:
        with self._lock:
            cached = self._candles.get(code)
        if cached is None:
            candles = [Candle(start_of_day(b.day), b.open, b.high, b.low, b.close, b.volume) for b in self._bars(code)]
            cached = (candles, [c.time for c in candles])
            with self._lock:
                self._candles[code] = cached
        return cached

    def session_candle(self, code: str, at: tuple[datetime, date] | None = None) -> Candle | None:
        """Today's daily candle so far (partial until the close); None before the open prints or
        when ``code`` does not trade today. ``at``: a clock snapshot to read at (default now)."""
        now, today = at or self.clock.snapshot()
        path = self.path(code, today)
        k = path.index_at(now) if path else -1
        if path is None or k < 0:
            return None
        return Candle(start_of_day(today), path.prices[0], path.highs[k], path.lows[k], path.prices[k], path.volumes[k])

    def candles(self, code: str, timeframe: Timeframe, start: datetime, end: datetime) -> list[Candle]:
        """Candles of ``code`` in [start, end) as of the clock, oldest first (see the module
        docstring for what exists when). Weekly bars follow ISO weeks and monthly bars calendar
        months, each stamped with its first trading date and made of the days in the range.

        Raises:
            SymbolNotFound: see :meth:`quote`.
            InvalidRequest: ``end`` not after ``start`` (INVALID_RANGE); 1-minute bars asked for
                days without any (TIMEFRAME_NOT_AVAILABLE).
        """
        if end <= start:
            raise InvalidRequest(f"end ({end.isoformat()}) must be after start ({start.isoformat()})", code="INVALID_RANGE")
        if timeframe is Timeframe.MINUTE_1:
            return self._minute_candles(code, start, end)
        candles, times = self._all_daily(code)
        at = self.clock.snapshot()  # one reading of the clock for the history and today's bar
        today = start_of_day(at[1])
        daily = candles[bisect.bisect_left(times, start): bisect.bisect_left(times, min(end, today))]
        current = self.session_candle(code, at)
        if current is not None and start <= current.time < end:
            daily.append(current)
        return daily if timeframe is Timeframe.DAY else _aggregate(daily, timeframe)

    def _minute_candles(self, code: str, start: datetime, end: datetime) -> list[Candle]:
        self._bars(code)
        now, today = self.clock.snapshot()
        first_replayed = self.clock.days[0]
        real_days = self._minute_days.get(code, [])
        first, last = start.astimezone(KST).date(), min((end - timedelta(microseconds=1)).astimezone(KST).date(), today)
        replayed = [d for d in self.clock.days if first_replayed <= d <= today and first <= d <= last]
        held = [d for d in real_days if d < first_replayed and first <= d <= last]
        if not replayed and not held:
            have = ", ".join(d.isoformat() for d in real_days if d < first_replayed)
            raise InvalidRequest(f"1-minute candles of {code} exist for {have + ' and ' if have else ''}the replayed days "
                                 f"{first_replayed} to {today} only", code="TIMEFRAME_NOT_AVAILABLE")
        out: list[Candle] = []
        for day in sorted(held + replayed):
            if day < first_replayed:
                out.extend(self._real_minutes(code, day))
                continue
            path = self.path(code, day)
            if path is not None:
                out.extend(path.completed_minutes(now) if day == today else path.minute_bars)
        # Oldest first (days in order, each day's bars in order): only the range's two ends need
        # cutting, found by bisection (comparing 100,000 aware times one by one took 56 ms).
        lo, hi = bisect.bisect_left(out, start, key=_TIME), bisect.bisect_left(out, end, key=_TIME)
        return out[lo:hi]


def _period_start(day: date, timeframe: Timeframe) -> date:
    return day - timedelta(days=day.weekday()) if timeframe is Timeframe.WEEK else day.replace(day=1)


def _aggregate(daily: list[Candle], timeframe: Timeframe) -> list[Candle]:
    """Weekly (ISO week) or monthly bars from daily ones, stamped with the first trading date."""

    def key(c: Candle) -> date:
        return _period_start(c.time.date(), timeframe)

    out: list[Candle] = []
    group: list[Candle] = []
    for candle in daily:
        if group and key(candle) != key(group[0]):
            out.append(_merge(group))
            group = []
        group.append(candle)
    if group:
        out.append(_merge(group))
    return out


def _merge(group: list[Candle]) -> Candle:
    return Candle(group[0].time, group[0].open, max(c.high for c in group), min(c.low for c in group), group[-1].close, sum(c.volume for c in group))
