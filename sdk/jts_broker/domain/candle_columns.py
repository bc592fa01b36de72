"""Candles as columns: exact integer prices in arrays, for bulk reads into numpy and pandas.

Two shapes live here:

- :class:`PackedCandles`, plain integer sequences (what travels in the contract's packed
  ``CandleColumns`` message and what the offline cache stores), with the rules that turn
  ``Candle`` rows into it and back, exactly: a price is ``value / 10**price_scale`` KRW, never a
  float on the way;
- :class:`CandleColumns`, the public result of ``get_candle_columns``: numpy arrays (the extra
  ``jts-broker[pandas]``), and its pandas form, ``to_frame()``.

numpy and pandas are imported only when those are built: the rest of the SDK runs without them.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from .enums import Timeframe
from .errors import ConfigurationError, ServerError
from .market_data import Candle
from .provenance import DataSource, age_s
from .timeutil import KST

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

INSTALL = "pip install 'jts-broker[pandas]'"
MAX_PRICE_SCALE = 18
"""The most decimal places a packed price may have (an int64 then still holds 9.2 KRW)."""
_INT64_MAX = 2**63 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
# Every Decimal operation here runs in this context, never the caller's: a program that lowered
# decimal's precision (getcontext().prec = 6) must not get 123456.75 packed as 123456. 40 digits
# hold any int64 (19 digits) at any scale allowed (18).
_EXACT = Context(prec=40)


def need(module: str) -> Any:
    """The module ``module`` (numpy, pandas), imported.

    Raises:
        ConfigurationError: it is not installed (code ``MISSING_DEPENDENCY``), naming the command
            that installs it.
    """
    try:
        return __import__(module)
    except ImportError:
        raise ConfigurationError(f"candle columns and frames need {module}: {INSTALL}", code="MISSING_DEPENDENCY") from None


class BarInts(NamedTuple):
    """One candle as integers: its start in seconds since the epoch, the decimal places its prices
    need, its four prices in units of ``10**-places`` KRW, and its volume."""

    time: int
    places: int
    open: int
    high: int
    low: int
    close: int
    volume: int


def _places(price: Decimal) -> int:
    exponent = price.as_tuple().exponent
    if not isinstance(exponent, int) or not price.is_finite():
        raise ServerError(f"price {price!r} is not a finite number", code="MALFORMED_PRICE")
    if exponent >= 0 or price == price.to_integral_value(context=_EXACT):
        return 0
    return -price.normalize(_EXACT).as_tuple().exponent  # type: ignore[operator]  # finite: an int


def bar_ints(candle: Candle) -> BarInts:
    """``candle`` as integers, exactly.

    Raises:
        ServerError: a time with a fraction of a second, or a price with more than
            ``MAX_PRICE_SCALE`` decimal places (neither exists on KRX; columns cannot hold them).
    """
    seconds, rest = divmod(candle.time - _EPOCH, _SECOND)
    if rest:
        raise ServerError(f"candle time {candle.time.isoformat()} has a fraction of a second: columns hold whole seconds",
                          code="MALFORMED_CANDLE")
    prices = (candle.open, candle.high, candle.low, candle.close)
    places = max(map(_places, prices))
    if places > MAX_PRICE_SCALE:
        raise ServerError(f"a price of the candle at {candle.time.isoformat()} has {places} decimal places: columns hold at most "
                          f"{MAX_PRICE_SCALE}", code="MALFORMED_CANDLE")
    o, h, low, c = (int(p) for p in prices) if places == 0 else (int(p.scaleb(places, _EXACT)) for p in prices)
    return BarInts(seconds, places, o, h, low, c, candle.volume)


@dataclass(frozen=True, slots=True)
class PackedCandles:
    """Bars as integer columns: entry i of each belongs to bar i, oldest first, all of one length.

    Attributes:
        times: start of each bar, whole seconds since 1970-01-01T00:00:00Z.
        price_scale: decimal places of the prices: a price is ``value / 10**price_scale`` KRW
            (0 for KRX stocks: whole won), 0 to ``MAX_PRICE_SCALE``.
        open, high, low, close: prices in units of ``10**-price_scale`` KRW.
        volume: shares traded in each bar.
    """

    times: Sequence[int]
    price_scale: int
    open: Sequence[int]
    high: Sequence[int]
    low: Sequence[int]
    close: Sequence[int]
    volume: Sequence[int]

    def __len__(self) -> int:
        return len(self.times)

    def check(self, what: str = "candle columns") -> PackedCandles:
        """Itself, after checking the shape.

        Raises:
            ServerError: columns of different lengths, or a price scale out of range (code
                ``MALFORMED_MESSAGE``): a malformed answer is never read as a shorter one.
        """
        n = len(self.times)
        if any(len(column) != n for column in (self.open, self.high, self.low, self.close, self.volume)):
            raise ServerError(f"malformed message: {what} have columns of different lengths", code="MALFORMED_MESSAGE")
        if not 0 <= self.price_scale <= MAX_PRICE_SCALE:
            raise ServerError(f"malformed message: {what} have price scale {self.price_scale}", code="MALFORMED_MESSAGE")
        return self


EMPTY = PackedCandles((), 0, (), (), (), (), ())


def transpose(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """The ``width`` columns of ``rows`` (each row ``width`` long): column j holds entry j of every
    row, in order. One pass per column rather than ``zip(*rows)``: zip makes an iterator per row,
    100,000 GC-tracked objects for 100,000 bars, and the collections they set off were more than
    half of the server's packing of a 100,000-candle answer (51 -> 22 ms, issue 12)."""
    return [list(map(operator.itemgetter(j), rows)) for j in range(width)]


def pack(bars: Sequence[BarInts]) -> PackedCandles:
    """Bars (from :func:`bar_ints`) as columns at the smallest price scale exact for all of them.

    Raises:
        ServerError: a price that no longer fits in 64 bits at that scale.
    """
    if not bars:
        return EMPTY
    times, places, *prices, volumes = transpose(bars, len(BarInts._fields))
    scale = max(places)
    o, h, low, c = rescale(prices, places, scale)
    return PackedCandles(times, scale, o, h, low, c, volumes)


def rescale(prices: Sequence[Sequence[int]], scales: Sequence[int], scale: int) -> list[Sequence[int]]:
    """Price columns whose entry i is in units of ``10**-scales[i]`` KRW, brought to units of
    ``10**-scale`` (``scale`` at least every one of ``scales``), exactly.

    Raises:
        ServerError: a price that no longer fits in 64 bits.
    """
    if not scale:
        return list(prices)
    out: list[Sequence[int]] = [[v * 10 ** (scale - s) for v, s in zip(column, scales, strict=True)] for column in prices]
    if max(abs(v) for column in out for v in column) > _INT64_MAX:
        raise ServerError(f"prices at {scale} decimal places do not fit in 64 bits", code="MALFORMED_CANDLE")
    return out


def pack_candles(candles: Sequence[Candle]) -> PackedCandles:
    """``candles`` (oldest first) as columns; raises as :func:`bar_ints` and :func:`pack`."""
    return pack([bar_ints(c) for c in candles])


def merge(pages: Sequence[PackedCandles]) -> PackedCandles:
    """Consecutive pages of one answer as one, at the largest of their price scales.

    Raises:
        ServerError: a price that no longer fits in 64 bits at that scale.
    """
    if len(pages) == 1:
        return pages[0]
    scale = max((p.price_scale for p in pages), default=0)
    times: list[int] = []
    volumes: list[int] = []
    prices: list[list[int]] = [[], [], [], []]
    for page in pages:
        times.extend(page.times)
        volumes.extend(page.volume)
        columns: Sequence[Sequence[int]] = (page.open, page.high, page.low, page.close)
        if page.price_scale != scale:
            columns = rescale(columns, [page.price_scale] * len(page), scale)
        for merged, column in zip(prices, columns, strict=True):
            merged.extend(column)
    return PackedCandles(times, scale, prices[0], prices[1], prices[2], prices[3], volumes)


_from_timestamp = functools.partial(datetime.fromtimestamp, tz=KST)


def unpack(packed: PackedCandles) -> list[Candle]:
    """The ``Candle`` rows of ``packed``: ``Decimal`` prices equal to ``value / 10**price_scale``,
    times tz-aware in Asia/Seoul. (Each distinct price becomes a ``Decimal`` once, and the rows are
    built by ``map`` in C: this is the SDK's fast path from the wire to rows.)"""
    scale = packed.price_scale
    distinct = set(packed.open)
    for column in (packed.high, packed.low, packed.close):
        distinct.update(column)
    decimals = {v: Decimal(v) for v in distinct} if scale == 0 else {v: Decimal(v).scaleb(-scale, _EXACT) for v in distinct}
    price = decimals.__getitem__
    return list(map(Candle, map(_from_timestamp, packed.times), map(price, packed.open), map(price, packed.high),
                    map(price, packed.low), map(price, packed.close), packed.volume))


@dataclass(frozen=True, slots=True, eq=False)
class CandleColumns:
    """Candles of one symbol as numpy arrays, oldest first, all of one length (``len()``).

    Prices are exact integers, never floats: ``open[i] / 10**price_scale`` KRW, and
    ``price_scale`` is 0 for KRX stocks, so the arrays hold whole won. The arrays are read-only
    (the result may be shared with a cache); ``.copy()`` one to change it.

    Attributes:
        symbol: the normalized KRX code.
        timeframe: the bar length.
        time: start of each bar, ``datetime64[s]``, UTC (numpy has no time zones:
            ``to_frame()`` gives them in Asia/Seoul). Daily bars start at 00:00 Asia/Seoul, which
            is 15:00 UTC of the day before: take trading dates as
            ``(time + np.timedelta64(9, "h")).astype("datetime64[D]")``, never ``time.astype(...)``.
        open, high, low, close: ``int64`` prices in units of ``10**-price_scale`` KRW.
        volume: ``int64`` shares traded in each bar.
        price_scale: decimal places of the prices (0 to 18).
        source: LIVE, or CACHE when served by the offline cache.
        cached_at: when a CACHE result was live, tz-aware; None for LIVE.
    """

    symbol: str
    timeframe: Timeframe
    time: npt.NDArray[np.datetime64]
    open: npt.NDArray[np.int64]
    high: npt.NDArray[np.int64]
    low: npt.NDArray[np.int64]
    close: npt.NDArray[np.int64]
    volume: npt.NDArray[np.int64]
    price_scale: int = 0
    source: DataSource = DataSource.LIVE
    cached_at: datetime | None = None

    @classmethod
    def from_packed(cls, symbol: str, timeframe: Timeframe, packed: PackedCandles, *, source: DataSource = DataSource.LIVE,
                    cached_at: datetime | None = None) -> CandleColumns:
        """The arrays of ``packed`` (copied; a protobuf column converts without a Python int per
        value). Raises ConfigurationError (``MISSING_DEPENDENCY``) without numpy."""
        np = need("numpy")

        def array(values: Sequence[int]) -> Any:
            out = np.array(values, dtype=np.int64)
            out.setflags(write=False)
            return out

        time = array(packed.times).view("datetime64[s]")  # a view of a read-only array is read-only
        return cls(symbol, timeframe, time, array(packed.open), array(packed.high), array(packed.low), array(packed.close),
                   array(packed.volume), packed.price_scale, source, cached_at)

    @classmethod
    def from_candles(cls, symbol: str, timeframe: Timeframe, candles: Sequence[Candle]) -> CandleColumns:
        """Columns of ``candles`` (oldest first), keeping a ``ResultList``'s source."""
        return cls.from_packed(symbol, timeframe, pack_candles(candles), source=getattr(candles, "source", DataSource.LIVE),
                               cached_at=getattr(candles, "cached_at", None))

    def __len__(self) -> int:
        return len(self.time)

    @property
    def price_unit(self) -> Decimal:
        """KRW per price unit: ``Decimal(1)`` for scale 0, ``Decimal("0.1")`` for scale 1, ..."""
        return Decimal(1).scaleb(-self.price_scale, _EXACT)

    @property
    def age_s(self) -> float:
        """Seconds since the data was live (0.0 for LIVE)."""
        return age_s(self.cached_at)

    def packed(self) -> PackedCandles:
        """The columns as plain Python integers."""
        return PackedCandles(self.time.view("int64").tolist(), self.price_scale, self.open.tolist(), self.high.tolist(),
                             self.low.tolist(), self.close.tolist(), self.volume.tolist())

    def to_candles(self) -> list[Candle]:
        """The same bars as ``Candle`` rows (``Decimal`` prices, tz-aware times), exactly."""
        return unpack(self.packed())

    def to_frame(self) -> pd.DataFrame:
        """A pandas DataFrame indexed by ``time`` (tz-aware, Asia/Seoul), oldest first, with
        ``int64`` columns ``open``, ``high``, ``low``, ``close`` (units of ``10**-price_scale``
        KRW: whole won for KRX stocks) and ``volume``. ``frame.attrs`` holds ``symbol``,
        ``timeframe``, ``price_scale``, ``source`` and ``cached_at``.

        Raises ConfigurationError (``MISSING_DEPENDENCY``) without pandas."""
        pandas = need("pandas")
        index = pandas.DatetimeIndex(self.time, name="time").tz_localize("UTC").tz_convert("Asia/Seoul")
        columns = {"open": self.open, "high": self.high, "low": self.low, "close": self.close, "volume": self.volume}
        frame: pd.DataFrame = pandas.DataFrame(columns, index=index, copy=True)
        frame.attrs.update(symbol=self.symbol, timeframe=self.timeframe, price_scale=self.price_scale, source=self.source,
                           cached_at=self.cached_at)
        return frame
