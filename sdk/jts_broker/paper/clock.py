"""The paper market's clock: replayed time over a range of trading days, and what runs it.

The clock moves through *events*, the moments at which something can happen, in order: on each
trading day the opening auction starts (08:30), each price of the day's path follows (09:00:00,
then every 15 s of continuous trading, :mod:`jts_broker.paper.path`), the closing auction starts
(15:20), the close prints (15:30) and the day ends (15:40, when KRX's after-hours sessions, not
modelled here, would begin); then the next trading day's 08:30. Listeners hear every event in
order, on the thread that moved the clock. Between events the clock may stand at any time (a
backtest can go to 10:07:03); nothing changes there.

:class:`MarketClock` moves only when asked (``advance_to``, ``step``): backtests and tests drive
it. :class:`ClockRunner` moves it with real time, ``speed`` market seconds per real second, and
skips the night: once a day has ended, the next trading day's 08:30 comes at once.
"""

from __future__ import annotations

import bisect
import logging
import math
import threading
import time as _time
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta

from jts_broker.domain import krx
from jts_broker.domain.enums import MarketPhase
from jts_broker.domain.errors import ConfigurationError, InvalidRequest
from jts_broker.domain.simulation import ClockState
from jts_broker.domain.timeutil import KST

from .path import point_times

DAY_END_AFTER_CLOSE = timedelta(minutes=10)
"""The replayed day ends 10 minutes after the close (15:40, where KRX's after-hours closing-price
session starts; after-hours trading is not modelled)."""

EventListener = Callable[[datetime], None]
log = logging.getLogger("jts_broker.paper.clock")


def day_events(day: date) -> tuple[datetime, ...]:
    """The events of one trading day, ascending (see the module docstring)."""
    hours = krx.session_hours(day)
    prices = point_times(day)
    return (datetime.combine(day, hours.opening_auction, tzinfo=KST), *prices[:-1],
            datetime.combine(day, hours.closing_auction, tzinfo=KST), prices[-1], prices[-1] + DAY_END_AFTER_CLOSE)


def phase_at(moment: datetime) -> MarketPhase:
    """The session phase at ``moment`` on a trading day (KRX hours of that date)."""
    local = moment.astimezone(KST)
    hours = krx.session_hours(local.date())
    t = local.timetz().replace(tzinfo=None)
    if hours.opening_auction <= t < hours.open:
        return MarketPhase.OPENING_AUCTION
    if hours.open <= t < hours.closing_auction:
        return MarketPhase.CONTINUOUS
    if hours.closing_auction <= t < hours.close:
        return MarketPhase.CLOSING_AUCTION
    return MarketPhase.CLOSED


class MarketClock:
    """Replayed time over ``days``. Thread-safe; moves only when asked.

    Args:
        days: the trading days to replay (any order; duplicates ignored).
        start: where the clock starts, tz-aware; default 09:00:00 of the first day, just after the
            opening auction printed (events at or before ``start`` are not heard).

    Raises:
        ConfigurationError: no days, or ``start`` outside the first day's session.
    """

    def __init__(self, days: Sequence[date], start: datetime | None = None) -> None:
        self.days: list[date] = sorted(set(days))
        if not self.days:
            raise ConfigurationError("the replay has no trading days: the data holds no bars in the chosen range", code="NO_TRADING_DAYS")
        self._day_set = frozenset(self.days)
        first = self.days[0]
        self._now = (start or datetime.combine(first, krx.session_hours(first).open, tzinfo=KST)).astimezone(KST)
        self._day = 0
        self._events = day_events(first)
        if not self._events[0] <= self._now < self._events[-1]:
            raise ConfigurationError(f"the clock must start during {first}'s session ({self._events[0]:%H:%M}-{self._events[-1]:%H:%M})")
        self._next = bisect.bisect_right(self._events, self._now)
        self._step = 0
        self._told = 0  # the last step whose listeners have all run
        self._ended = False
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._moving = threading.RLock()  # one mover at a time, so listeners hear events in order
        self._listeners: list[EventListener] = []

    # -- reads ---------------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        """The replayed time, tz-aware in Asia/Seoul."""
        return self._now

    @property
    def step(self) -> int:
        """Events passed since the start (each a price change or a session boundary)."""
        return self._step

    @property
    def ended(self) -> bool:
        """True once the last day has ended: the clock moves no more."""
        return self._ended

    @property
    def trading_day(self) -> date:
        """The trading day the replay is in: the last replayed trading day on or before today's
        date (between days, the day that ended until midnight, then the coming one)."""
        return self._day_of(self._now)

    def _day_of(self, moment: datetime) -> date:
        return self.days[max(0, bisect.bisect_right(self.days, moment.date()) - 1)]

    def snapshot(self) -> tuple[datetime, date]:
        """``(now, trading_day)`` read together: readers that need both must not see the clock
        cross a night between the two."""
        now = self._now
        return now, self._day_of(now)

    @property
    def phase(self) -> MarketPhase:
        return self._phase(self._now, self._ended)

    def _phase(self, now: datetime, ended: bool) -> MarketPhase:
        return MarketPhase.CLOSED if ended or now.date() not in self._day_set else phase_at(now)

    def next_event(self) -> datetime | None:
        """The time of the next event; None once the replay has ended."""
        with self._lock:
            return None if self._ended else self._events[self._next]

    @property
    def between_days(self) -> bool:
        """True after a day has ended and before the next day's first event (the night)."""
        with self._lock:
            return not self._ended and self._next == 0 and self._now < self._events[0]

    def state(self, speed: float = 0.0, paused: bool = True) -> ClockState:
        """A snapshot of the clock (``speed`` and ``paused`` are the runner's)."""
        with self._lock:
            now, step, ended = self._now, self._step, self._ended
        today = self._day_of(now)
        return ClockState(now, today, self._phase(now, ended), speed, paused, ended, self.days[0], self.days[-1], self.days.index(today) + 1, len(self.days), step)

    # -- moving --------------------------------------------------------------------------------

    def subscribe(self, listener: EventListener) -> None:
        """Call ``listener(event_time)`` at every event from now on, in order, on the moving thread."""
        with self._moving:
            self._listeners.append(listener)

    def advance_to(self, moment: datetime) -> int:
        """Move to ``moment``, through every event up to it; the number of events passed. The
        clock stops at the end of the last day.

        Raises:
            InvalidRequest: ``moment`` is naive or before the clock (time never goes back).
        """
        if moment.tzinfo is None:
            raise InvalidRequest(f"the time to advance to must be tz-aware, got {moment.isoformat()}", code="NAIVE_TIME")
        with self._moving:
            if moment < self._now:
                raise InvalidRequest(f"the clock is at {self._now.isoformat()}: it cannot go back to {moment.isoformat()}", code="CLOCK_BACKWARDS")
            passed = 0
            while not self._ended and self._events[self._next] <= moment:
                self._enter_next()
                passed += 1
            if not self._ended and moment > self._now:
                with self._changed:
                    self._now = moment.astimezone(KST)
            return passed

    def advance_by(self, market_s: float, *, skip_night: bool = False) -> int:
        """Move ``market_s`` market seconds on from where the clock stands when it gets to move
        (another mover may have moved it meanwhile; it never goes back); ``skip_night``: from
        between two days, go to the next day's first event at least. The events passed."""
        with self._moving:
            target = self._now + timedelta(seconds=market_s)
            if skip_night and self.between_days:
                upcoming = self.next_event()
                if upcoming is not None:
                    target = max(target, upcoming)
            return self.advance_to(target)

    def step_events(self, count: int = 1) -> int:
        """Move through the next ``count`` events; the number passed (fewer at the end)."""
        with self._moving:
            passed = 0
            while passed < count and not self._ended:
                self._enter_next()
                passed += 1
            return passed

    def wait_for_change(self, seen_step: int, timeout_s: float) -> int:
        """Block until an event after step ``seen_step`` has been heard by every listener (its
        orders matched), or ``timeout_s`` passes; the step last heard."""
        with self._changed:
            self._changed.wait_for(lambda: self._told != seen_step, timeout=timeout_s)
            return self._told

    def _enter_next(self) -> None:
        event = self._events[self._next]
        with self._lock:
            self._now = event
            self._step += 1
            self._next += 1
            if self._next == len(self._events):  # the day ended: the next day's events are next
                if self._day + 1 < len(self.days):
                    self._day += 1
                    self._events = day_events(self.days[self._day])
                    self._next = 0
                else:
                    self._ended = True
        for listener in self._listeners:  # matched before waiters wake: a stream sees the fills of the event
            try:
                listener(event)
            except Exception:  # one listener's bug must not stop the clock nor the others
                log.exception("market clock listener %r failed at %s", listener, event.isoformat())
        with self._changed:
            self._told = self._step
            self._changed.notify_all()


class ClockRunner:
    """Moves a :class:`MarketClock` with real time on a thread of its own.

    Args:
        clock: the clock to move.
        speed: market seconds per real second (1 is real time, 60 a market minute per second); 0
            leaves the clock to be moved by hand.
        interval_s: real seconds between two moves.
    """

    def __init__(self, clock: MarketClock, speed: float = 60.0, interval_s: float = 0.05) -> None:
        self.clock = clock
        self._speed = check_speed(speed, allow_zero=True)
        self._paused = speed == 0
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def state(self) -> ClockState:
        return self.clock.state(self._speed, self._paused)

    def start(self) -> None:
        """Start moving the clock (a no-op at speed 0 until :meth:`set_speed`)."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="jts-market-clock", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def pause(self) -> None:
        with self._lock:
            self._paused = True

    def resume(self) -> None:
        """Run again at the current speed (a clock at speed 0 stays still: set a speed)."""
        with self._lock:
            self._paused = self._speed == 0

    def set_speed(self, speed: float) -> None:
        """Market seconds per real second, > 0. Raises InvalidRequest otherwise."""
        with self._lock:
            self._speed = check_speed(speed)

    def _run(self) -> None:
        last = _time.monotonic()
        while not self._stop.wait(self._interval_s):
            now = _time.monotonic()
            elapsed, last = now - last, now
            # The move happens under the runner's lock: once pause() returns, nothing more moves.
            with self._lock:
                if self._paused or self._speed <= 0 or self.clock.ended:
                    continue
                try:
                    self.clock.advance_by(elapsed * self._speed, skip_night=True)
                except Exception:  # keep running: a stopped clock thread would freeze the market silently
                    log.exception("the market clock runner failed to move the clock")


def check_speed(speed: float, *, allow_zero: bool = False) -> float:
    """``speed`` as a float; InvalidRequest (INVALID_SPEED) when not a finite number > 0 (>= 0 with
    ``allow_zero``)."""
    value = float(speed)
    if not math.isfinite(value) or not (value > 0 or (allow_zero and value == 0)):
        raise InvalidRequest(f"speed must be a number of market seconds per real second > 0, got {speed}", code="INVALID_SPEED")
    return value
