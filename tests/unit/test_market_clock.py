"""The paper market's clock and intraday paths: sessions day after day, paths that end on the
real daily bar, and no look-ahead in any read at any time of the replay (bundled KRX data)."""

from __future__ import annotations

import threading
import time as real_time
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jts_broker.domain import krx
from jts_broker.domain.enums import Market, MarketPhase, SecurityType, Timeframe
from jts_broker.domain.errors import ConfigurationError, InvalidRequest
from jts_broker.domain.timeutil import KST, start_of_day
from jts_broker.paper.clock import ClockRunner, MarketClock, day_events
from jts_broker.paper.data_loader import load_market
from jts_broker.paper.path import DailyBar, DayPath

D = Decimal
FIRST, LAST = date(2025, 6, 12), date(2025, 6, 17)  # 06-13, 06-16 and 06-17 have real 1-minute bars of 005930
MARKET = load_market(None, FIRST, LAST, seed=3)
DAYS = MARKET.clock.days
CODES = ["005930", "069500", "373220"]


def kst(day: date, hhmm: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), tzinfo=KST)


# -- the clock -----------------------------------------------------------------------------------


def test_a_day_has_the_krx_sessions_and_the_clock_goes_on_to_the_next_trading_day():
    clock = MarketClock([date(2025, 6, 13), date(2025, 6, 16)])
    assert clock.now == kst(date(2025, 6, 13), "09:00") and clock.phase is MarketPhase.CONTINUOUS
    heard: list[datetime] = []
    clock.subscribe(heard.append)
    clock.advance_to(kst(date(2025, 6, 13), "15:20"))
    assert clock.phase is MarketPhase.CLOSING_AUCTION
    clock.advance_to(kst(date(2025, 6, 13), "15:35"))
    assert clock.phase is MarketPhase.CLOSED and not clock.between_days
    clock.step_events(1)  # 15:40: the day ends; the night is not a time the runner waits through
    assert clock.between_days and clock.next_event() == kst(date(2025, 6, 16), "08:30")
    clock.step_events(1)
    assert clock.now == kst(date(2025, 6, 16), "08:30") and clock.phase is MarketPhase.OPENING_AUCTION
    assert clock.trading_day == date(2025, 6, 16)
    assert heard == sorted(heard) and len(heard) == len(set(heard))
    assert kst(date(2025, 6, 13), "15:30") in heard and kst(date(2025, 6, 13), "15:20") in heard
    clock.advance_to(kst(date(2025, 6, 20), "12:00"))  # past the last day: the replay ends there
    assert clock.ended and clock.now == kst(date(2025, 6, 16), "15:40") and clock.phase is MarketPhase.CLOSED
    with pytest.raises(InvalidRequest) as backwards:
        clock.advance_to(kst(date(2025, 6, 16), "10:00"))
    assert backwards.value.code == "CLOCK_BACKWARDS"


def test_events_follow_the_session_hours_of_their_date():
    before = day_events(date(2015, 6, 1))  # the regular session closed at 15:00 until 2016-08-01
    after = day_events(date(2025, 6, 13))
    assert before[-2].time() == time(15, 0) and after[-2].time() == time(15, 30)
    assert len(after) == 1 + 380 * 4 + 1 + 1 + 1  # 08:30, four prices a minute, 15:20, 15:30, 15:40


def test_a_clock_without_days_or_starting_outside_the_session_is_refused():
    with pytest.raises(ConfigurationError):
        MarketClock([])
    with pytest.raises(ConfigurationError):
        MarketClock([date(2025, 6, 13)], start=kst(date(2025, 6, 13), "07:00"))


def test_the_runner_moves_with_real_time_at_its_speed_and_skips_the_night():
    clock = MarketClock([date(2025, 6, 13), date(2025, 6, 16)], start=kst(date(2025, 6, 13), "15:00"))
    runner = ClockRunner(clock, speed=3600.0, interval_s=0.02)  # an hour a second
    runner.start()
    try:
        deadline = real_time.monotonic() + 20
        while clock.trading_day != date(2025, 6, 16) and real_time.monotonic() < deadline:
            real_time.sleep(0.05)
        assert clock.trading_day == date(2025, 6, 16)  # 40 market minutes and a night took well under 20 s
        runner.pause()
        paused_at = clock.now
        real_time.sleep(0.2)
        assert clock.now == paused_at and runner.state().paused
        runner.set_speed(1.0)
        runner.resume()
        assert runner.state().speed == 1.0 and not runner.state().paused
        with pytest.raises(InvalidRequest):
            runner.set_speed(0)
    finally:
        runner.stop()


def test_the_runner_survives_a_move_by_hand_and_pause_is_immediate():
    clock = MarketClock([date(2025, 6, 13)])
    runner = ClockRunner(clock, speed=60.0, interval_s=0.01)
    runner.start()
    try:
        clock.advance_to(clock.now + timedelta(hours=2))  # another mover jumps ahead of the runner's target
        moved_by_hand = clock.now
        deadline = real_time.monotonic() + 5
        while clock.now == moved_by_hand and real_time.monotonic() < deadline:
            real_time.sleep(0.02)
        assert clock.now > moved_by_hand  # still running
        runner.pause()
        paused_at = clock.now
        real_time.sleep(0.1)
        assert clock.now == paused_at  # nothing lands after pause() returned
    finally:
        runner.stop()


def test_a_listener_that_fails_stops_neither_the_clock_nor_the_other_listeners():
    clock = MarketClock([date(2025, 6, 13)])
    heard: list[datetime] = []

    def broken(moment: datetime) -> None:
        raise RuntimeError("a bug in a listener")

    clock.subscribe(broken)
    clock.subscribe(heard.append)
    assert clock.step_events(3) == 3 and len(heard) == 3


def test_a_replay_of_the_bundled_data_never_starts_in_its_adjusted_prices():
    market = load_market(None, None, date(2021, 5, 3), last_days=20)
    assert market.clock.days[0] == date(2021, 4, 21)  # not 20 trading days back, before 2021-04-21
    with pytest.raises(ConfigurationError) as refused:
        load_market(None, None, date(2021, 4, 1))
    assert refused.value.code == "HISTORY_ONLY"


def test_quote_streams_never_go_silent_in_session():
    market = load_market(None, date(2026, 3, 16), date(2026, 3, 17))
    runner = ClockRunner(market.clock, speed=600.0, interval_s=0.02)
    seen: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        step = market.step
        while not stop.is_set():
            step = market.wait_for_change(step, 1.0)
            seen.append(step)

    watcher = threading.Thread(target=watch)
    watcher.start()
    runner.start()
    try:
        real_time.sleep(1.0)
    finally:
        runner.stop()
        stop.set()
        watcher.join()
    assert len(set(seen)) >= 10  # 600 market seconds a second: 40 prices a second


# -- paths ---------------------------------------------------------------------------------------


@st.composite
def daily_bars(draw: st.DrawFn) -> tuple[DailyBar, Decimal, SecurityType, Market]:
    kind = draw(st.sampled_from([SecurityType.STOCK, SecurityType.ETF]))
    market = draw(st.sampled_from([Market.KOSPI, Market.KOSDAQ]))
    day = draw(st.sampled_from([date(2021, 4, 21), date(2023, 6, 1), date(2025, 6, 13)]))
    grid = sorted({krx.round_to_tick(D(draw(st.integers(1_000, 900_000))), kind, market=market, on=day) for _ in range(4)})
    low, high = grid[0], grid[-1]
    open_, close = draw(st.sampled_from(grid)), draw(st.sampled_from(grid))
    volume = draw(st.integers(0, 50_000_000))
    return DailyBar(day, open_, high, low, close, volume), close, kind, market


@settings(max_examples=60, deadline=None)
@given(daily_bars(), st.integers(0, 10_000))
def test_a_synthetic_path_ends_on_the_real_daily_bar_on_the_tick_grid(drawn: tuple[DailyBar, Decimal, SecurityType, Market], seed: int) -> None:
    bar, previous_close, kind, market = drawn
    path = DayPath(bar, previous_close, kind, market, seed=str(seed))
    assert (path.prices[0], path.highs[-1], path.lows[-1], path.prices[-1], path.volumes[-1]) == (bar.open, bar.high, bar.low, bar.close, bar.volume)
    assert all(krx.is_on_tick(p, kind, market=market, on=bar.day) for p in path.prices)
    assert path.volumes == sorted(path.volumes)  # cumulative
    minutes = path.minute_bars[:-1]
    assert len(minutes) == 380 and all(m.low <= min(m.open, m.close) <= max(m.open, m.close) <= m.high for m in minutes)
    again = DayPath(bar, previous_close, kind, market, seed=str(seed))
    assert again.prices == path.prices  # same seed, same path


def test_real_minute_bars_drive_the_path_where_held_and_the_day_still_ends_on_the_data():
    path = MARKET.path("005930", date(2025, 6, 13))
    assert path is not None
    real = MARKET._real_minutes("005930", date(2025, 6, 13))
    assert len(real) == 360
    assert path.minute_bars[10].open == krx.round_to_tick(real[10].open) or abs(path.minute_bars[10].open - real[10].open) <= 50  # snapped to the grid
    bar = next(b for b in MARKET._daily["005930"] if b.day == date(2025, 6, 13))
    assert (path.prices[0], path.highs[-1], path.lows[-1], path.prices[-1], path.volumes[-1]) == (bar.open, bar.high, bar.low, bar.close, bar.volume)


# -- no look-ahead -------------------------------------------------------------------------------


def _moments() -> st.SearchStrategy[datetime]:
    day = st.sampled_from(DAYS)
    second = st.integers(0, (15 * 60 + 45 - 8 * 60 - 30) * 60)
    return st.builds(lambda d, s: kst(d, "08:30") + timedelta(seconds=s), day, second)


@settings(max_examples=40, deadline=None)
@given(st.lists(_moments(), min_size=1, max_size=4))
def test_no_read_shows_what_had_not_happened_at_the_replay_clock(moments: list[datetime]) -> None:
    market = load_market(None, FIRST, LAST, seed=3)
    for moment in sorted(moments):
        if moment > market.now():
            market.clock.advance_to(moment)
        now, today = market.now(), market.session_date
        for code in CODES:
            if not any(s.code == code for s in market.symbols()):
                continue
            quote = market.quote(code)
            assert quote.time <= now
            path = market.path(code, today)
            started = path is not None and path.index_at(now) >= 0
            wide = (start_of_day(date(2025, 1, 1)), start_of_day(date(2026, 12, 31)))
            daily = market.candles(code, Timeframe.DAY, *wide)
            assert all(c.time.date() <= today for c in daily)
            if started:
                assert path is not None
                k = path.index_at(now)
                last = daily[-1]
                assert last.time.date() == today and (last.open, last.high, last.low, last.close, last.volume) == (
                    path.prices[0], path.highs[k], path.lows[k], path.prices[k], path.volumes[k])
                assert quote.price == last.close and quote.volume == last.volume
            else:
                assert not daily or daily[-1].time.date() < today
            for timeframe in (Timeframe.WEEK, Timeframe.MONTH):
                bars = market.candles(code, timeframe, *wide)
                assert bars[-1].close == daily[-1].close and bars[-1].high <= max(c.high for c in daily)
            minutes = market.candles(code, Timeframe.MINUTE_1, start_of_day(FIRST), start_of_day(LAST + timedelta(days=1)))
            assert all(c.time + timedelta(minutes=1) <= now for c in minutes)  # only completed minutes
            if minutes and started and path is not None and minutes[-1].time.date() == today:
                assert minutes[-1].close == path.prices[min(path.index_at(now), (len(path.completed_minutes(now))) * 4 - 1)]


def test_minute_bars_of_a_replayed_day_stop_at_the_replay_minute():
    market = load_market(None, date(2025, 6, 13), date(2025, 6, 17))
    market.clock.advance_to(kst(date(2025, 6, 13), "10:07:20"))
    bars = market.candles("005930", Timeframe.MINUTE_1, start_of_day(date(2025, 6, 13)), start_of_day(date(2025, 6, 18)))
    assert bars[-1].time == kst(date(2025, 6, 13), "10:06") and len(bars) == 67  # 09:00 to 10:06: the minutes that ended
    assert market.candles("005930", Timeframe.DAY, start_of_day(date(2025, 6, 1)), start_of_day(date(2025, 7, 1)))[-1].time.date() == date(2025, 6, 13)


def test_minute_bars_of_any_range_are_exactly_the_bars_inside_it():
    # The range's ends are cut by bisection over the days' bars: the answer must be exactly the
    # bars with start <= time < end, for ends inside a day, on a bar's own minute, between days,
    # across the step from held history (06-13) to replayed days (06-16), and into today's
    # unfinished session (06-17, the clock at 10:07:20).
    market = load_market(None, date(2025, 6, 16), date(2025, 6, 17))
    market.clock.advance_to(kst(date(2025, 6, 17), "10:07:20"))
    whole = market.candles("005930", Timeframe.MINUTE_1, start_of_day(date(2025, 6, 13)), start_of_day(date(2025, 6, 18)))
    assert whole == sorted(whole, key=lambda c: c.time) and len({c.time.date() for c in whole}) == 3
    assert whole[-1].time == kst(date(2025, 6, 17), "10:06")  # the last completed minute
    ranges = [(kst(date(2025, 6, 13), "10:07:30"), kst(date(2025, 6, 16), "14:02")),  # mid-minute start; end on a bar (excluded)
              (kst(date(2025, 6, 13), "10:07"), kst(date(2025, 6, 13), "10:08")),  # exactly one bar
              (kst(date(2025, 6, 13), "15:31"), kst(date(2025, 6, 16), "08:00")),  # between two days' bars
              (kst(date(2025, 6, 16), "15:00"), kst(date(2025, 6, 17), "10:05:59")),  # replayed day into today
              (kst(date(2025, 6, 17), "09:30"), kst(date(2025, 6, 17), "11:00"))]  # past the last completed minute
    for start, end in ranges:
        assert market.candles("005930", Timeframe.MINUTE_1, start, end) == [c for c in whole if start <= c.time < end], (start, end)
    assert len(market.candles("005930", Timeframe.MINUTE_1, *ranges[1])) == 1
    assert market.candles("005930", Timeframe.MINUTE_1, *ranges[2]) == []
    assert market.candles("005930", Timeframe.MINUTE_1, *ranges[4])[-1] == whole[-1]


def test_a_quote_is_built_once_while_the_clock_stands_and_anew_when_it_moves():
    market = load_market(None, date(2025, 6, 13), date(2025, 6, 17))
    market.clock.advance_to(kst(date(2025, 6, 13), "10:07:20"))
    quote = market.quote("005930")
    assert market.quote("005930") is quote  # the same immutable object: no work between two events
    market.clock.advance_to(kst(date(2025, 6, 13), "10:07:21"))  # no price event: same price, a later time
    later = market.quote("005930")
    assert later.time == kst(date(2025, 6, 13), "10:07:21") and later.price == quote.price
    market.clock.step_events(40)  # ten market minutes of price events
    moved = market.quote("005930")
    assert moved.time == market.now() > later.time and moved.volume > later.volume


def test_symbols_listed_after_the_replayed_day_do_not_exist_yet():
    market = load_market(None, date(2021, 6, 1), date(2021, 6, 2))
    assert "373220" not in {s.code for s in market.symbols()}  # LG Energy Solution listed on 2022-01-27
    with pytest.raises(Exception, match="not listed yet"):
        market.quote("373220")


def test_the_daily_bar_at_each_close_equals_the_data():
    market = load_market(None, date(2026, 3, 10), date(2026, 3, 17))
    for day in market.clock.days:
        market.clock.advance_to(kst(day, "15:35"))
        for code in ("005930", "000660", "069500"):
            bar = next(b for b in market._daily[code] if b.day == day)
            candle = market.session_candle(code)
            assert candle is not None and (candle.open, candle.high, candle.low, candle.close, candle.volume) == (
                bar.open, bar.high, bar.low, bar.close, bar.volume)
