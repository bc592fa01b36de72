"""KRX symbol codes: the 6-character short code is the SDK's one form."""

from __future__ import annotations

import functools
import re

from .errors import InvalidRequest

_SHORT = re.compile(r"[0-9A-Z]{6}")
_ISIN = re.compile(r"KR[0-9A-Z]{10}")


def normalize_symbol(value: str) -> str:
    """Return the 6-character KRX short code for ``value``.

    Accepts the short code (``"005930"``, ``"0000J0"``, ``"28513K"``), the same with the display
    prefix ``A`` (stocks) or ``Q`` (ETN) (``"A005930"``), or the 12-character ISIN
    (``"KR7005930003"``, whose characters 4-9 are the short code). Case and surrounding
    whitespace are ignored.

    Raises:
        InvalidRequest: anything else.
    """
    if not isinstance(value, str):
        raise InvalidRequest(f"symbol must be a string such as '005930', not {type(value).__name__}")
    return _normalized(value)


@functools.lru_cache(maxsize=4096)  # a program asks for the same few symbols again and again
def _normalized(value: str) -> str:
    code = value.strip().upper()
    if len(code) == 7 and code[0] in "AQ":
        code = code[1:]
    elif len(code) == 12 and _ISIN.fullmatch(code):
        code = code[3:9]
    if not _SHORT.fullmatch(code):  # raised, so never cached
        raise InvalidRequest(f"invalid symbol {value!r}: expected a 6-character KRX code such as '005930'", code="INVALID_SYMBOL")
    return code
