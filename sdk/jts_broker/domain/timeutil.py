"""Time zone helpers: every time the SDK hands out is tz-aware in Asia/Seoul (KST)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .enums import Timeframe
from .errors import InvalidRequest

KST = ZoneInfo("Asia/Seoul")
"""Asia/Seoul, the exchange's time zone (UTC+9, no daylight saving since 1988)."""


def now_kst() -> datetime:
    """The current time, tz-aware in Asia/Seoul."""
    return datetime.now(KST)


def start_of_day(day: date) -> datetime:
    """00:00 Asia/Seoul of ``day``: the stamp of a daily candle."""
    return datetime.combine(day, time(0), tzinfo=KST)


def as_instant(value: date | datetime, *, name: str, end_of_day: bool = False) -> datetime:
    """Turn a range bound given by a user into a tz-aware instant in Asia/Seoul.

    A ``date`` means that whole trading day in Asia/Seoul: its start, or with ``end_of_day`` the
    start of the next day (so an inclusive end date becomes an exclusive end instant). A naive
    ``datetime`` is refused with :class:`InvalidRequest`: guessing its zone is how one-day
    shifts creep into backtests.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidRequest(f"{name} must be tz-aware (e.g. tzinfo=ZoneInfo('Asia/Seoul')), got naive {value!r}")
        return value.astimezone(KST)
    if isinstance(value, date):
        return start_of_day(value + timedelta(days=1) if end_of_day else value)
    raise InvalidRequest(f"{name} must be a date or a tz-aware datetime, not {type(value).__name__}")


def period_start(timeframe: Timeframe, moment: datetime) -> datetime:
    """Start (Asia/Seoul) of the candle period of ``timeframe`` that contains ``moment``: the
    minute, the day, the ISO week's Monday, or the month's first day."""
    local = moment.astimezone(KST)
    if timeframe is Timeframe.MINUTE_1:
        return local.replace(second=0, microsecond=0)
    day = local.date()
    if timeframe is Timeframe.WEEK:
        day -= timedelta(days=day.weekday())
    elif timeframe is Timeframe.MONTH:
        day = day.replace(day=1)
    return start_of_day(day)
