"""Argument types of the command line: each turns text into a value or a one-line usage error."""

from __future__ import annotations

import argparse
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


def fraction_arg(text: str) -> float:
    """A fraction from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction from 0 to 1, got {text!r}")
    return value


def days_arg(text: str) -> float:
    """A number of days, >= 0 (``0.5`` is twelve hours)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of days >= 0, got {text!r}")
    return value
