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
