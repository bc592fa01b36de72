"""Loads the simulator's market from CSV files.

Formats (UTF-8, one header line):
- daily bars ``<code>.csv``: ``date,open,high,low,close,volume`` (ISO dates, integer KRW);
- minute bars ``minute/<code>_<YYYYMMDD>.csv``: ``datetime,open,high,low,close,volume``;
- ``listing.csv``: ``code,name,market,sector,listed``.

The bundled data (``simulator/data``, real KRX prices; provenance in its README) is used when no
folder is given. A folder given by the user holds daily CSVs directly; its own ``listing.csv`` is
optional (the bundled listing names known codes, others are listed under their code).
"""

from __future__ import annotations

import csv
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path

from jts_broker.domain.enums import Market, SecurityType
from jts_broker.domain.errors import ConfigurationError, InvalidRequest
from jts_broker.domain.market_data import Candle, Symbol
from jts_broker.domain.symbols import normalize_symbol
from jts_broker.paper.market import BarMarket, DailyBar

BUNDLED = Path(str(resources.files("jts_broker.paper") / "data"))
_DAILY_HEADER = ["date", "open", "high", "low", "close", "volume"]
_MINUTE_HEADER = ["datetime", "open", "high", "low", "close", "volume"]


def _rows(path: Path, header: list[str]) -> list[tuple[int, list[str]]]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        first = next(reader, None)
        if first != header:
            raise ConfigurationError(f"{path}: header must be {','.join(header)}, found {','.join(first or [])!r}")
        return [(n, row) for n, row in enumerate(reader, start=2) if row]


def _prices(path: Path, line: int, row: list[str]) -> tuple[Decimal, Decimal, Decimal, Decimal, int]:
    try:
        o, h, lo, c = (Decimal(v) for v in row[1:5])
        volume = int(row[5])
    except (InvalidOperation, ValueError, IndexError):
        raise ConfigurationError(f"{path}:{line}: expected numbers in open,high,low,close,volume, found {row!r}") from None
    if not (0 < lo <= min(o, c) and max(o, c) <= h) or volume < 0:
        raise ConfigurationError(f"{path}:{line}: inconsistent bar (need 0 < low <= open,close <= high and volume >= 0): {row!r}")
    return o, h, lo, c, volume


def load_daily(path: Path) -> list[DailyBar]:
    """Daily bars of one CSV file, oldest first. Raises ConfigurationError naming file and line."""
    bars = []
    for line, row in _rows(path, _DAILY_HEADER):
        try:
            day = date.fromisoformat(row[0])
        except ValueError:
            raise ConfigurationError(f"{path}:{line}: date must be YYYY-MM-DD, found {row[0]!r}") from None
        bars.append(DailyBar(day, *_prices(path, line, row)))
    bars.sort(key=lambda b: b.day)
    return bars


def load_minute(path: Path) -> list[Candle]:
    out = []
    for line, row in _rows(path, _MINUTE_HEADER):
        try:
            moment = datetime.fromisoformat(row[0])
        except ValueError:
            raise ConfigurationError(f"{path}:{line}: datetime must be ISO 8601 with offset, found {row[0]!r}") from None
        if moment.tzinfo is None:
            raise ConfigurationError(f"{path}:{line}: datetime needs a UTC offset, found {row[0]!r}")
        out.append(Candle(moment, *_prices(path, line, row)))
    return out


def load_listing(path: Path) -> dict[str, Symbol]:
    symbols = {}
    for line, row in _rows(path, ["code", "name", "market", "sector", "listed"]):
        try:
            market = Market(row[2].lower())
            listed = date.fromisoformat(row[4]) if row[4] else None
        except ValueError:
            raise ConfigurationError(f"{path}:{line}: bad market or listing date in {row!r}") from None
        kind = SecurityType.ETF if row[3] == "ETF" else SecurityType.STOCK
        symbols[row[0]] = Symbol(row[0], row[1], market, kind, "" if row[3] == "ETF" else row[3], listed)
    return symbols


def _code_of(path: Path) -> str:
    try:
        return normalize_symbol(path.stem)
    except InvalidRequest:
        raise ConfigurationError(f"{path}: the file name must be a 6-character KRX code such as 005930.csv") from None


TRADED_PRICES_SINCE = date(2021, 4, 21)
"""The bundled daily files hold actual traded prices from this date; before it they are adjusted
prices (see ``paper/data/README.md``): history only, never a session to trade in."""


def check_session_date(day: date, trading_days: set[date], *, bundled: bool) -> None:
    """Refuse a session date the data cannot replay: not a trading day of the data (a weekend, a
    holiday, a day outside the data: the nearest trading days are named), or, in the bundled data,
    a day of adjusted prices.

    Raises:
        ConfigurationError: code ``NOT_A_TRADING_DAY`` or ``HISTORY_ONLY``.
    """
    if bundled and day < TRADED_PRICES_SINCE:
        raise ConfigurationError(f"{day.isoformat()} cannot be a session: the bundled data before {TRADED_PRICES_SINCE.isoformat()} "
                                 f"is adjusted prices, history only (see the data README)", code="HISTORY_ONLY")
    if day in trading_days:
        return
    before = max((d for d in trading_days if d < day), default=None)
    after = min((d for d in trading_days if d > day), default=None)
    nearest = " and ".join(f"{label} {d.isoformat()}" for label, d in (("before it", before), ("after it", after)) if d is not None)
    raise ConfigurationError(f"{day.isoformat()} ({day.strftime('%A')}) is not a trading day in the data"
                             + (f"; the nearest are {nearest}" if nearest else ""), code="NOT_A_TRADING_DAY")


def load_market(data_dir: Path | None = None, start: date | None = None, end: date | None = None, *, seed: int = 0,
                last_days: int = 1) -> BarMarket:
    """The market of ``data_dir`` (a folder of ``<code>.csv`` daily files), or the bundled data,
    replaying the trading days ``start`` to ``end`` (``end`` may be any date on or after
    ``start``; default the last day of the data). Without ``start``, the replay covers the last
    ``last_days`` trading days of the data (or of the days up to ``end``).

    Raises:
        ConfigurationError: a missing folder, a folder with no daily CSV, a malformed file, a
            ``start`` that cannot be a session (see :func:`check_session_date`), or ``end``
            before ``start`` (INVALID_RANGE).
    """
    listing = load_listing(BUNDLED / "listing.csv")
    if data_dir is None:
        daily_files = sorted((BUNDLED / "daily").glob("*.csv"))
        minute_files = sorted((BUNDLED / "minute").glob("*.csv"))
    else:
        if not data_dir.is_dir():
            raise ConfigurationError(f"data folder {data_dir} does not exist")
        if (data_dir / "listing.csv").is_file():
            listing.update(load_listing(data_dir / "listing.csv"))
        daily_files = sorted(p for p in data_dir.glob("*.csv") if p.name != "listing.csv")
        minute_files = sorted((data_dir / "minute").glob("*.csv"))
        if not daily_files:
            raise ConfigurationError(f"data folder {data_dir} holds no <code>.csv daily files")
    daily = {_code_of(p): load_daily(p) for p in daily_files}
    minute: dict[str, list[Candle]] = {}
    for path in minute_files:
        minute.setdefault(_code_of(Path(path.stem.split("_")[0])), []).extend(load_minute(path))
    for bars in minute.values():
        bars.sort(key=lambda c: c.time)
    for code in daily:
        listing.setdefault(code, Symbol(code, code, Market.KOSPI, SecurityType.STOCK))
    days = {bar.day for bars in daily.values() for bar in bars}
    if start is None:
        tradable = sorted(d for d in days if (end is None or d <= end) and (data_dir is not None or d >= TRADED_PRICES_SINCE))
        if not tradable:
            raise ConfigurationError(f"no trading day of the data up to {end} can be a session (the bundled data before "
                                     f"{TRADED_PRICES_SINCE.isoformat()} is adjusted prices, history only)", code="HISTORY_ONLY")
        start = tradable[max(0, len(tradable) - max(1, last_days))]
    else:
        check_session_date(start, days, bundled=data_dir is None)
    if end is not None and end < start:
        raise ConfigurationError(f"the replay cannot end ({end.isoformat()}) before it starts ({start.isoformat()})", code="INVALID_RANGE")
    return BarMarket(listing.values(), daily, start, end or max(days), minute=minute, seed=seed)

