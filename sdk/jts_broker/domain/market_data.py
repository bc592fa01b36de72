"""Market-data entities: the symbol master, candles and quotes. Prices are KRW ``Decimal``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from .enums import Market, SecurityType
from .provenance import DataSource, age_s


@dataclass(frozen=True, slots=True)
class Symbol:
    """A listed security from the symbol master."""

    code: str
    """KRX short code, 6 characters (``"005930"``)."""
    name: str
    """Short Korean name (``"삼성전자"``)."""
    market: Market
    security_type: SecurityType
    sector: str = ""
    """Industry (KSIC name); empty when not known."""
    listed_date: date | None = None
    """Listing date; None when not known."""
    board_lot: int = 1
    """Shares per board lot (1 on KRX)."""
    without_prices: bool = False
    """True when the server holds no prices for it (a simulator whose data does not cover it):
    its quotes and candles fail with ``NO_PRICE_DATA``."""


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLCV bar. ``time`` is the bar's start, tz-aware in Asia/Seoul (daily bars: 00:00 of
    the trading date); prices are KRW; ``volume`` is shares traded in the bar."""

    time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int


@dataclass(frozen=True, slots=True)
class Quote:
    """A snapshot of one symbol's trading day. Prices are KRW, ``time`` is tz-aware (Asia/Seoul)."""

    symbol: str
    time: datetime
    price: Decimal
    """Last traded price."""
    open: Decimal
    high: Decimal
    low: Decimal
    previous_close: Decimal
    upper_limit: Decimal
    """Upper daily price limit (상한가)."""
    lower_limit: Decimal
    """Lower daily price limit (하한가)."""
    bid: Decimal
    ask: Decimal
    bid_size: int
    ask_size: int
    volume: int
    """Shares traded so far today."""
    source: DataSource = DataSource.LIVE
    """LIVE, or CACHE when served offline (see :mod:`jts_broker.domain.provenance`)."""
    cached_at: datetime | None = None
    """When a CACHE quote was live, tz-aware; None for LIVE."""

    @property
    def age_s(self) -> float:
        """Seconds since the quote was live (0.0 for LIVE)."""
        return age_s(self.cached_at)

    @property
    def change(self) -> Decimal:
        """Price change from the previous close, KRW."""
        return self.price - self.previous_close

    @property
    def change_rate(self) -> Decimal:
        """Price change from the previous close as a fraction (0.0123 = +1.23%)."""
        return self.change / self.previous_close if self.previous_close else Decimal(0)


@dataclass(frozen=True, slots=True)
class QuoteGap:
    """A quote stream lost its connection and subscribed again: quotes between ``start`` and
    ``end`` may have been missed. The stream goes on with the current quote of every symbol, so
    state rebuilt from it is whole again.

    Attributes:
        start: when the last message before the break was received (or the subscription opened),
            tz-aware (Asia/Seoul).
        end: when the first message after the new subscription was received, tz-aware.
        symbols: the stream's symbols.
        reason: what broke the stream.
    """

    start: datetime
    end: datetime
    symbols: tuple[str, ...]
    reason: str = ""

    @property
    def duration_s(self) -> float:
        """Length of the gap, seconds."""
        return (self.end - self.start).total_seconds()
