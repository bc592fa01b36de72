"""A market built from daily bars, replaying one trading session (the "session date").

Days before the session date are history, served as they are. The session date's prices walk
the day's real path: open, then the low and the high (low first on an up day, high first on a
down day), then the close, with ``steps_per_leg`` steps on the tick grid between them. Each
:meth:`BarMarket.advance` moves one step; the session stays open at the close once the path ends.
Quotes carry the replayed time (09:00 to 15:30 Asia/Seoul on the session date).
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from jts_broker.domain import krx
from jts_broker.domain.enums import Market, SecurityType, Timeframe
from jts_broker.domain.errors import InvalidRequest, SymbolNotFound
from jts_broker.domain.market_data import Candle, Quote, Symbol
from jts_broker.domain.timeutil import KST, start_of_day

_OPEN = time(9, 0)
_SESSION_MINUTES = 390  # 09:00 to 15:30


@dataclass(frozen=True, slots=True)
class DailyBar:
    """One trading day of one symbol, prices in KRW."""

    day: date
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int


class _Session:
    """The replayed path of one symbol on the session date."""

    def __init__(self, bar: DailyBar, previous_close: Decimal, security_type: SecurityType, market: Market, steps_per_leg: int) -> None:
        self.bar = bar
        self.previous_close = previous_close
        self.lower_limit, self.upper_limit = krx.price_limits(previous_close, security_type, market=market, on=bar.day)
        self.security_type = security_type
        turns = (bar.low, bar.high) if bar.close >= bar.open else (bar.high, bar.low)
        points = [bar.open, *turns, bar.close]
        path = [bar.open]
        for a, b in itertools.pairwise(points):
            for k in range(1, steps_per_leg + 1):
                price = a + (b - a) * k / steps_per_leg
                on_grid = krx.round_to_tick(price, security_type, market=market, on=bar.day) if price >= 1 else a
                path.append(min(max(on_grid, bar.low), bar.high))
        self.path = path


class BarMarket:
    """Prices of a set of symbols: daily history plus the replayed session. Thread-safe.

    Args:
        symbols: the symbol master.
        daily: daily bars per code, oldest first.
        session_date: the replayed trading date; default the latest date in ``daily``.
        minute: one-minute bars per code (any days), oldest first.
        steps_per_leg: replay steps between two turning points of the session's path.
    """

    def __init__(
        self,
        symbols: Iterable[Symbol],
        daily: Mapping[str, list[DailyBar]],
        session_date: date | None = None,
        minute: Mapping[str, list[Candle]] | None = None,
        steps_per_leg: int = 4,
    ) -> None:
        self._symbols = {s.code: s for s in sorted(symbols, key=lambda s: s.code)}
        self._daily = {code: bars for code, bars in daily.items() if bars}
        self._days = {code: [b.day for b in bars] for code, bars in self._daily.items()}
        self._minute = dict(minute or {})
        latest = max((bars[-1].day for bars in self._daily.values()), default=None)
        self.session_date: date = session_date or latest or date.today()
        self._step = 0
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._sessions: dict[str, _Session] = {}
        self._history: dict[str, list[Candle]] = {}
        self._history_times: dict[str, list[datetime]] = {}
        for code, bars in self._daily.items():
            i = bisect.bisect_left(self._days[code], self.session_date)
            if i < len(bars) and bars[i].day == self.session_date:
                previous_close = bars[i - 1].close if i > 0 else bars[i].open
                self._sessions[code] = _Session(bars[i], previous_close, self._security_type(code), self._market_of(code), steps_per_leg)
        self.steps = max((len(s.path) for s in self._sessions.values()), default=1)

    def _market_of(self, code: str) -> Market:
        symbol = self._symbols.get(code)
        return symbol.market if symbol else Market.KOSPI

    def _security_type(self, code: str) -> SecurityType:
        symbol = self._symbols.get(code)
        return symbol.security_type if symbol else SecurityType.STOCK

    # -- symbol master -------------------------------------------------------------------------

    def symbols(self) -> list[Symbol]:
        """Every symbol, ordered by code."""
        return list(self._symbols.values())

    def symbol(self, code: str) -> Symbol:
        """One symbol. Raises SymbolNotFound."""
        try:
            return self._symbols[code]
        except KeyError:
            raise SymbolNotFound(f"symbol {code} is not listed", code="SYMBOL_NOT_FOUND") from None

    # -- the replay clock ----------------------------------------------------------------------

    @property
    def step(self) -> int:
        return self._step

    def advance(self) -> bool:
        """Move the session one step along its path; False once at the close. Wakes waiters."""
        with self._changed:
            if self._step >= self.steps - 1:
                return False
            self._step += 1
            self._changed.notify_all()
            return True

    def wait_for_change(self, seen_step: int, timeout_s: float) -> int:
        """Block until the step differs from ``seen_step`` or ``timeout_s`` passes; the step."""
        with self._changed:
            self._changed.wait_for(lambda: self._step != seen_step, timeout=timeout_s)
            return self._step

    def now(self) -> datetime:
        """The replayed time: the session date, 09:00 to 15:30 Asia/Seoul as the path advances."""
        return self._time_at(self._step)

    def _time_at(self, step: int) -> datetime:
        minutes = _SESSION_MINUTES * step // max(1, self.steps - 1)
        return datetime.combine(self.session_date, _OPEN, tzinfo=KST) + timedelta(minutes=minutes)

    # -- prices --------------------------------------------------------------------------------

    def is_trading(self, code: str) -> bool:
        """True when ``code`` has a bar on the session date (it is not halted or delisted)."""
        return code in self._sessions

    def _bars(self, code: str) -> list[DailyBar]:
        self.symbol(code)
        bars = self._daily.get(code)
        if not bars:
            raise SymbolNotFound(f"no price data for {code} in this simulator ({len(self._daily)} symbols have data; add CSVs with --data-dir)",
                                 code="NO_PRICE_DATA")
        return bars

    def quote(self, code: str) -> Quote:
        """The current quote. A symbol not trading today quotes its last close, unchanged.

        Raises:
            SymbolNotFound: not listed (SYMBOL_NOT_FOUND) or no prices (NO_PRICE_DATA).
        """
        bars = self._bars(code)
        session = self._sessions.get(code)
        security_type = self._security_type(code)
        if session is None:
            i = bisect.bisect_left(self._days[code], self.session_date)
            if i == 0:
                raise SymbolNotFound(f"no price for {code} on or before {self.session_date}", code="NO_PRICE_DATA")
            last = bars[i - 1]
            lower, upper = krx.price_limits(last.close, security_type, market=self._market_of(code), on=self.session_date)
            return Quote(code, start_of_day(last.day), last.close, last.close, last.close, last.close, last.close,
                         upper, lower, last.close, last.close, 0, 0, 0)
        now = self._step  # read once: the clock may move meanwhile, and price and time must agree
        step = min(now, len(session.path) - 1)
        walked = session.path[: step + 1]
        price = walked[-1]
        ask = min(krx.next_tick(price, security_type, market=self._market_of(code), on=self.session_date), session.upper_limit)
        bid = price
        depth = max(1, session.bar.volume // 400)
        volume = session.bar.volume * (step + 1) // len(session.path)
        return Quote(code, self._time_at(now), price, session.bar.open, max(walked), min(walked), session.previous_close,
                     session.upper_limit, session.lower_limit, bid, ask, depth, depth, volume)

    def previous_close(self, code: str) -> Decimal:
        """The close before the session date (the base of the daily price limits)."""
        session = self._sessions.get(code)
        return session.previous_close if session else self.quote(code).previous_close

    def history(self, code: str) -> list[Candle]:
        """Daily candles of ``code`` before the session date, oldest first (built once, shared).

        Raises:
            SymbolNotFound: see :meth:`quote`.
        """
        with self._lock:
            cached = self._history.get(code)
            if cached is None:
                bars = self._bars(code)
                cached = [Candle(start_of_day(b.day), b.open, b.high, b.low, b.close, b.volume) for b in bars if b.day < self.session_date]
                self._history[code] = cached
                self._history_times[code] = [c.time for c in cached]
            return cached

    def history_range(self, code: str, start: datetime, end: datetime) -> tuple[int, int]:
        """Indexes ``lo, hi`` such that ``history(code)[lo:hi]`` are the candles in [start, end)."""
        self.history(code)
        times = self._history_times[code]
        return bisect.bisect_left(times, start), bisect.bisect_left(times, end)

    def session_candle(self, code: str) -> Candle | None:
        """The session date's daily candle so far (partial until the close); None if not trading."""
        if code not in self._sessions:
            return None
        q = self.quote(code)
        return Candle(start_of_day(self.session_date), q.open, q.high, q.low, q.price, q.volume)

    def candles(self, code: str, timeframe: Timeframe, start: datetime, end: datetime) -> list[Candle]:
        """Candles of ``code`` in [start, end), oldest first; the session day's is partial.

        Raises:
            SymbolNotFound: see :meth:`quote`.
            InvalidRequest: ``end`` not after ``start``; minute bars asked where none are held.
        """
        if end <= start:
            raise InvalidRequest(f"end ({end.isoformat()}) must be after start ({start.isoformat()})", code="INVALID_RANGE")
        if timeframe is Timeframe.MINUTE_1:
            return self._minute_candles(code, start, end)
        lo, hi = self.history_range(code, start, end)
        daily = self.history(code)[lo:hi]
        current = self.session_candle(code)
        if current is not None and start <= current.time < end:
            daily.append(current)
        return daily if timeframe is Timeframe.DAY else _aggregate(daily, timeframe)

    def _minute_candles(self, code: str, start: datetime, end: datetime) -> list[Candle]:
        self.symbol(code)
        bars = self._minute.get(code, [])
        days = sorted({b.time.date() for b in bars})
        picked = [b for b in bars if start <= b.time < end]
        if not picked and not any(start.astimezone(KST).date() <= d <= end.astimezone(KST).date() for d in days):
            held = ", ".join(d.isoformat() for d in days) or "no days"
            raise InvalidRequest(f"1-minute candles of {code} are held for {held} only", code="TIMEFRAME_NOT_AVAILABLE")
        return picked


def _aggregate(daily: list[Candle], timeframe: Timeframe) -> list[Candle]:
    """Weekly (ISO week) or monthly bars from daily ones, stamped with the first trading date."""

    def key(c: Candle) -> tuple[int, int]:
        d = c.time.date()
        return tuple(d.isocalendar()[:2]) if timeframe is Timeframe.WEEK else (d.year, d.month)  # type: ignore[return-value]

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
