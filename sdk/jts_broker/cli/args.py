"""Argument types of the command line: each turns text into a value or a one-line usage error."""

from __future__ import annotations

import argparse
import math
import sys
from datetime import date
from decimal import Decimal, InvalidOperation


def date_arg(text: str) -> date:
    """``YYYY-MM-DD``."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from None


def krw_arg(text: str) -> Decimal:
    """An amount in KRW, thousands separators allowed (``79,600``); never through a float."""
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"expected an amount in KRW such as 79600, got {text!r}") from None


def _number(text: str, low: float, high: float, expected: str) -> float:
    """``text`` as a number from ``low`` to ``high`` (both included); else a usage error."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan  # compares false with everything: refused below
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def fraction_arg(text: str) -> float:
    """A fraction from 0 to 1."""
    return _number(text, 0.0, 1.0, "a fraction from 0 to 1")


def days_arg(text: str) -> float:
    """A number of days, >= 0 (``0.5`` is twelve hours)."""
    return _number(text, 0.0, sys.float_info.max, "a number of days >= 0")


def port_arg(text: str) -> int:
    """A TCP port, 1-65535, or 0 for a free one."""
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port 1-65535 (0 picks a free one), got {text!r}")
    return int(text)


def cash_arg(text: str) -> Decimal:
    """An amount of cash in KRW, >= 0."""
    amount = krw_arg(text)
    if not amount.is_finite() or amount < 0:
        raise argparse.ArgumentTypeError(f"expected an amount of KRW >= 0, got {text!r}")
    return amount


def nonnegative_arg(text: str) -> float:
    """A number >= 0 (seconds, milliseconds)."""
    return _number(text, 0.0, sys.float_info.max, "a number >= 0")


def speed_arg(text: str) -> float:
    """Market seconds per real second, > 0."""
    return _number(text, math.nextafter(0.0, 1.0), sys.float_info.max, "a speed > 0 (market seconds per real second)")


DEFAULT_SPEED = 60.0
"""A market minute per real second: a trading day in about 7 minutes, prices moving 4 times a second."""
DEFAULT_REPLAY_DAYS = 20
"""Without --from, the simulator replays the last 20 trading days of its data (about a month)."""


def add_replay_args(parser: argparse.ArgumentParser, paused_help: str) -> None:
    """The options of a replayed paper market (serve, kis-emulator)."""
    r = parser.add_argument_group("the replayed market (market clock)")
    r.add_argument("--from", "--session-date", dest="start", type=date_arg, metavar="YYYY-MM-DD",
                   help=f"first trading day to replay (default: the last {DEFAULT_REPLAY_DAYS} trading days of the data)")
    r.add_argument("--to", dest="end", type=date_arg, metavar="YYYY-MM-DD", help="last day to replay (default: the last day of the data)")
    r.add_argument("--speed", type=speed_arg, default=DEFAULT_SPEED, metavar="N",
                   help="market seconds per real second, > 0: 1 is real time, 60 a market minute a second (default: %(default)g)")
    r.add_argument("--paused", action="store_true", help=paused_help)
    r.add_argument("--seed", type=int, default=0, help="seed of the synthetic intraday paths: the same seed replays the same prices (default: 0)")
