"""``OfflineCache``: the on-disk SQLite cache that lets a gateway answer reads while its server is
unreachable.

What is kept, per server (``scope``, e.g. ``"kis@10.0.0.5:50551"``): the accounts, the symbol
master and every symbol looked up, **final** candles (those before the response's
``complete_before``) with the spans of time they cover (a request is answered when spans cover
it without a hole), the last quote per symbol, and the last
balance and positions per account. Candles are stored as integer columns (a price is
``value / 10**price_scale`` KRW), served as rows or as columns alike; other values as the
contract's own protobuf bytes. Prices stay exact either way.

Writes happen on one background thread (a live call never waits for the disk); reads happen
only when the server cannot be reached. The file is shared safely by several threads and
processes (SQLite WAL with a busy timeout) and survives restarts. A file that is not a jts-broker
cache, or one written by an incompatible version, is refused with ``ConfigurationError`` and left
untouched.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import queue
import sqlite3
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from google.protobuf.message import DecodeError

from jts_broker.contract._generated import mappers as m
from jts_broker.contract._generated.pb import market_data_pb2, trading_pb2
from jts_broker.domain.candle_columns import EMPTY, PackedCandles, rescale, transpose
from jts_broker.domain.enums import Market, Timeframe
from jts_broker.domain.errors import ConfigurationError
from jts_broker.domain.market_data import Quote, Symbol
from jts_broker.domain.provenance import DataSource, ResultList
from jts_broker.domain.timeutil import KST, now_kst
from jts_broker.domain.trading import Account, Balance, Position
from jts_broker.domain.validation import matches_search

log = logging.getLogger("jts_broker.client.offline_cache")
T = TypeVar("T")

APPLICATION = "jts-broker offline cache"
SCHEMA_VERSION = 2
# Version 1 kept each candle as its protobuf bytes; version 2 keeps candles as integer columns
# (exact: a price is value / 10**price_scale KRW). A version-1 file is upgraded in place: its
# candles are dropped (a cache, refilled by the next live reads), everything else is kept. The
# upgrade is one way: an older SDK then refuses the file (CACHE_UNUSABLE, naming the version).
_UPGRADE_FROM_1 = """
DROP TABLE IF EXISTS candles;
DROP TABLE IF EXISTS candle_spans;
"""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (scope TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, payload BLOB NOT NULL,
                                    stored_at REAL NOT NULL, PRIMARY KEY (scope, kind, name));
CREATE TABLE IF NOT EXISTS candles (scope TEXT NOT NULL, symbol TEXT NOT NULL, timeframe INTEGER NOT NULL, time INTEGER NOT NULL,
                                    price_scale INTEGER NOT NULL, open INTEGER NOT NULL, high INTEGER NOT NULL, low INTEGER NOT NULL,
                                    close INTEGER NOT NULL, volume INTEGER NOT NULL, stored_at REAL NOT NULL,
                                    PRIMARY KEY (scope, symbol, timeframe, time));
CREATE TABLE IF NOT EXISTS candle_spans (scope TEXT NOT NULL, symbol TEXT NOT NULL, timeframe INTEGER NOT NULL,
                                         start INTEGER NOT NULL, "end" INTEGER NOT NULL, stored_at REAL NOT NULL,
                                         PRIMARY KEY (scope, symbol, timeframe, start, "end"));
"""


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def _when(stored_at: float) -> datetime:
    return datetime.fromtimestamp(stored_at, KST)


def _unusable(path: Path, why: str) -> ConfigurationError:
    return ConfigurationError(f"offline cache {path} is unusable: {why}; move the file away or configure another path "
                              f"(it was left untouched)", code="CACHE_UNUSABLE")


def open_cache_file(path: Path) -> sqlite3.Connection:
    """A connection to the cache file at ``path`` (created, with its folder, when missing),
    checked to be a jts-broker cache of this schema before anything is written to it.

    Raises:
        ConfigurationError: the file cannot be opened, is not a jts-broker cache, or was written
            by an incompatible version (code ``CACHE_UNUSABLE``); the file is left untouched.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, timeout=5.0, check_same_thread=False, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise _unusable(path, str(exc)) from None
    try:
        # Everything is read and checked before anything is written: a file that is not ours
        # must come out of this exactly as it went in.
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables:
            if "meta" not in tables:
                raise _unusable(path, f"it is a SQLite database of something else (tables: {', '.join(sorted(tables))})")
            meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
            if meta.get("application") != APPLICATION:
                raise _unusable(path, f"it belongs to {meta.get('application')!r}")
            if meta.get("schema_version") not in ("1", str(SCHEMA_VERSION)):
                raise _unusable(path, f"schema version {meta.get('schema_version')}, this SDK reads {SCHEMA_VERSION}")
        connection.execute("PRAGMA journal_mode = WAL")
        _create_or_upgrade(connection)
    except sqlite3.OperationalError as exc:  # locked past the busy timeout, read-only, disk full ...
        connection.close()
        raise _unusable(path, str(exc)) from None
    except sqlite3.DatabaseError as exc:
        connection.close()
        raise _unusable(path, f"not a SQLite database ({exc})") from None
    except ConfigurationError:
        connection.close()
        raise
    return connection


def _statements(script: str) -> list[str]:
    return [statement for statement in script.split(";") if statement.strip()]


def _create_or_upgrade(connection: sqlite3.Connection) -> None:
    """The tables and meta rows, created, or upgraded from version 1, in one transaction: another
    process opening the file at the same moment (of this version or an older one) sees the old
    schema or the new one, never a mix."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        has_meta = connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone()
        if has_meta and connection.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("1",):
            for statement in _statements(_UPGRADE_FROM_1):
                connection.execute(statement)
            connection.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
        for statement in _statements(_SCHEMA):
            connection.execute(statement)
        # Two processes may create a new file at once: the first insert wins, both agree.
        connection.execute("INSERT OR IGNORE INTO meta VALUES ('application', ?), ('schema_version', ?)", (APPLICATION, str(SCHEMA_VERSION)))
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


class OfflineCache:
    """The cache of one gateway's server in the file at ``path``.

    Args:
        path: the SQLite file (created, with its folder, when missing).
        scope: whose data this is; gateways of different servers share a file without mixing.

    Raises:
        ConfigurationError: the file cannot be opened, is not a jts-broker cache, or was written
            by an incompatible version (code ``CACHE_UNUSABLE``).
    """

    def __init__(self, path: Path, scope: str) -> None:
        self.path = Path(path).expanduser()
        self.scope = scope
        self._read = open_cache_file(self.path)
        self._read_lock = threading.Lock()
        self._closed = False
        self._submit_lock = threading.Lock()
        self._queue: queue.Queue[Callable[[sqlite3.Connection], None] | None] = queue.Queue()
        self._writer = threading.Thread(target=self._write_loop, name="jts-offline-cache", daemon=True)
        self._writer.start()
        # The writer is a daemon thread (it must not keep a finished program alive); what it has
        # not written yet when the program ends is written on the way out.
        atexit.register(_close_at_exit, weakref.ref(self))

    # -- writing (background) --------------------------------------------------------------------

    def _write_loop(self) -> None:
        connection: sqlite3.Connection | None = None
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                if connection is None:
                    connection = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
                with connection:  # one transaction per job
                    connection.execute("BEGIN IMMEDIATE")
                    job(connection)
            except sqlite3.Error:
                # The cache is a convenience: a failed write must never fail the live call it follows.
                log.warning("offline cache %s: a write failed", self.path, exc_info=True)
            finally:
                self._queue.task_done()
                if job is None and connection is not None:
                    connection.close()

    def _submit(self, job: Callable[[sqlite3.Connection], None]) -> None:
        # Checked and queued under one lock that close() takes too: a job queued after the stop
        # marker would never be done, and a later flush() would wait for it forever.
        with self._submit_lock:
            if not self._closed:  # after close() nothing is written (and flush() never waits on it)
                self._queue.put(job)

    def _put(self, kind: str, name: str, payload: bytes) -> None:
        row = (self.scope, kind, name, payload, now_kst().timestamp())

        def write(db: sqlite3.Connection) -> None:
            db.execute("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?)", row)

        self._submit(write)

    def flush(self) -> None:
        """Wait until every write so far is on disk."""
        self._queue.join()

    def close(self) -> None:
        """Write what is pending and close the file. Idempotent."""
        with self._submit_lock:
            stopping, self._closed = not self._closed, True
            if stopping:
                self._queue.put(None)
        if self._writer is not threading.current_thread():
            self._writer.join(timeout=30)
        with self._read_lock:
            self._read.close()

    # -- what live calls store -------------------------------------------------------------------

    def put_accounts(self, accounts: list[Account]) -> None:
        self._put("accounts", "", trading_pb2.ListAccountsResponse(accounts=[m.account_to_proto(a) for a in accounts]).SerializeToString())

    def put_symbols(self, query: str, market: Market | None, symbols: list[Symbol]) -> None:
        """A symbol search as answered; one with no filter is the whole master."""
        payload = market_data_pb2.ListSymbolsResponse(symbols=[m.symbol_to_proto(s) for s in symbols]).SerializeToString()
        self._put("symbols", f"{query}|{market.value if market else ''}", payload)

    def put_symbol(self, symbol: Symbol) -> None:
        self._put("symbol", symbol.code, m.symbol_to_proto(symbol).SerializeToString())

    def put_quote(self, quote: Quote) -> None:
        self._put("quote", quote.symbol, m.quote_to_proto(quote).SerializeToString())

    def put_balance(self, balance: Balance) -> None:
        self._put("balance", balance.account_id, m.balance_to_proto(balance).SerializeToString())

    def put_positions(self, account_id: str, positions: list[Position]) -> None:
        self._put("positions", account_id, trading_pb2.GetPositionsResponse(positions=[m.position_to_proto(p) for p in positions]).SerializeToString())

    def put_candles(self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime, candles: PackedCandles,
                    complete_before: datetime) -> None:
        """The answer to a candle request for [start, end): the final candles (time before
        ``complete_before``) are stored and the span up to there is marked covered."""
        final_end = min(end, complete_before)
        if final_end <= start:
            return
        tf, stored_at = int(m.timeframe_to_proto(timeframe)), now_kst().timestamp()
        cutoff = _seconds(final_end)
        span = (self.scope, symbol, tf, _seconds(start), cutoff, stored_at)
        scope, scale = self.scope, candles.price_scale

        def write(db: sqlite3.Connection) -> None:
            # Read out here, on the writer thread: the live call that fetched them does not wait.
            rows = ((scope, symbol, tf, t, scale, o, h, low, c, v, stored_at)
                    for t, o, h, low, c, v in zip(candles.times, candles.open, candles.high, candles.low, candles.close, candles.volume,
                                                  strict=True) if t < cutoff)
            db.executemany("INSERT OR REPLACE INTO candles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            db.execute("INSERT OR REPLACE INTO candle_spans VALUES (?, ?, ?, ?, ?, ?)", span)

        self._submit(write)

    # -- what an outage reads --------------------------------------------------------------------

    def _get(self, kind: str, name: str) -> tuple[bytes, datetime] | None:
        with self._read_lock:
            row = self._read.execute("SELECT payload, stored_at FROM entries WHERE scope = ? AND kind = ? AND name = ?",
                                     (self.scope, kind, name)).fetchone()
        return (row[0], _when(row[1])) if row else None

    def _decode(self, kind: str, name: str, parse: Callable[[bytes], T]) -> tuple[T, datetime] | None:
        found = self._get(kind, name)
        if found is None:
            return None
        try:
            return parse(found[0]), found[1]
        except (DecodeError, ValueError) as exc:
            log.warning("offline cache %s: unreadable %s %s (%s)", self.path, kind, name, exc)
            return None

    def accounts(self) -> ResultList[Account] | None:
        found = self._decode("accounts", "", trading_pb2.ListAccountsResponse.FromString)
        return None if found is None else ResultList((m.account_from_proto(a) for a in found[0].accounts), source=DataSource.CACHE, cached_at=found[1])

    def symbols(self, query: str, market: Market | None) -> ResultList[Symbol] | None:
        """The same search as answered live before; else the whole master, filtered here the way
        the server filters (substring of code or name, case-insensitive; market)."""
        found = self._decode("symbols", f"{query}|{market.value if market else ''}", market_data_pb2.ListSymbolsResponse.FromString)
        if found is not None:
            return ResultList((m.symbol_from_proto(s) for s in found[0].symbols), source=DataSource.CACHE, cached_at=found[1])
        master = self._decode("symbols", "|", market_data_pb2.ListSymbolsResponse.FromString)
        if master is None:
            return None
        picked = [s for s in map(m.symbol_from_proto, master[0].symbols) if matches_search(s, query, market)]
        return ResultList(picked, source=DataSource.CACHE, cached_at=master[1])

    def symbol(self, code: str) -> tuple[Symbol, datetime] | None:
        found = self._decode("symbol", code, market_data_pb2.Symbol.FromString)
        if found is not None:
            return m.symbol_from_proto(found[0]), found[1]
        master = self._decode("symbols", "|", market_data_pb2.ListSymbolsResponse.FromString)
        if master is None:
            return None
        hit = next((s for s in master[0].symbols if s.code == code), None)
        return None if hit is None else (m.symbol_from_proto(hit), master[1])

    def quote(self, code: str) -> Quote | None:
        found = self._decode("quote", code, market_data_pb2.Quote.FromString)
        return None if found is None else replace(m.quote_from_proto(found[0]), source=DataSource.CACHE, cached_at=found[1])

    def balance(self, account_id: str) -> Balance | None:
        found = self._decode("balance", account_id, trading_pb2.Balance.FromString)
        return None if found is None else replace(m.balance_from_proto(found[0]), source=DataSource.CACHE, cached_at=found[1])

    def positions(self, account_id: str) -> ResultList[Position] | None:
        found = self._decode("positions", account_id, trading_pb2.GetPositionsResponse.FromString)
        return None if found is None else ResultList((m.position_from_proto(p) for p in found[0].positions), source=DataSource.CACHE, cached_at=found[1])

    def candles(self, symbol: str, timeframe: Timeframe, start: datetime, end: datetime) -> tuple[PackedCandles, datetime] | None:
        """The final candles in [start, end) as columns, and when the oldest of them was live, if
        the spans fetched live cover all of it (else None: a partial answer could silently miss
        bars)."""
        tf, lo, hi = int(m.timeframe_to_proto(timeframe)), _seconds(start), _seconds(end)
        key = (self.scope, symbol, tf)
        with self._read_lock:
            spans = self._read.execute('SELECT start, "end", stored_at FROM candle_spans WHERE scope = ? AND symbol = ? AND timeframe = ? '
                                       'AND "end" > ? AND start < ? ORDER BY start', (*key, lo, hi)).fetchall()
            covered_to = lo
            for span_start, span_end, _ in spans:  # the spans, in order, must leave no hole in [lo, hi)
                if span_start > covered_to:
                    break
                covered_to = max(covered_to, span_end)
            if covered_to < hi:
                return None
            rows = self._read.execute("SELECT time, price_scale, open, high, low, close, volume, stored_at FROM candles "
                                      "WHERE scope = ? AND symbol = ? AND timeframe = ? AND time >= ? AND time < ? ORDER BY time",
                                      (*key, lo, hi)).fetchall()
        if not rows:
            return EMPTY, _when(min(span[2] for span in spans))
        times, scales, *prices, volumes, stored = transpose(rows, len(rows[0]))
        scale = max(scales)
        # Bars stored from answers of different scales are brought to the largest, exactly.
        o, h, low, c = rescale(prices, scales, scale) if scale != min(scales) else prices
        return PackedCandles(times, scale, o, h, low, c, volumes).check("cached candles"), _when(min(stored))


def _close_at_exit(ref: weakref.ReferenceType[OfflineCache]) -> None:
    cache = ref()
    if cache is not None:
        cache.close()


# -- looking after the file (``jts-broker cache``) -----------------------------------------------


@dataclass(frozen=True, slots=True)
class CacheScope:
    """What the cache holds for one server.

    Attributes:
        scope: the server, as ``"<broker type>@<host>:<port>"``.
        entries: accounts, symbol searches and lookups, last quotes, balances and positions.
        candles: final candles held.
        oldest, newest: when the oldest and newest of them were stored (Asia/Seoul).
    """

    scope: str
    entries: int
    candles: int
    oldest: datetime
    newest: datetime


def summarize(path: Path) -> list[CacheScope]:
    """Every server the cache file at ``path`` holds data of, by scope name; [] when the file
    does not exist (it is not created).

    Raises:
        ConfigurationError: the file is not a usable jts-broker cache (code ``CACHE_UNUSABLE``).
    """
    if not Path(path).expanduser().exists():
        return []
    db = open_cache_file(Path(path).expanduser())
    try:
        rows = db.execute("SELECT scope, SUM(e), SUM(c), MIN(lo), MAX(hi) FROM ("
                          " SELECT scope, COUNT(*) AS e, 0 AS c, MIN(stored_at) AS lo, MAX(stored_at) AS hi FROM entries GROUP BY scope"
                          " UNION ALL SELECT scope, 0, COUNT(*), MIN(stored_at), MAX(stored_at) FROM candles GROUP BY scope"
                          ") GROUP BY scope ORDER BY scope").fetchall()
    finally:
        db.close()
    return [CacheScope(scope, entries, candles, _when(lo), _when(hi)) for scope, entries, candles, lo, hi in rows]


def clear(path: Path, *, scope: str | None = None, older_than_s: float | None = None) -> int:
    """Delete cached data from the file at ``path`` and give the space back; the number of rows
    deleted. Safe while gateways use the file.

    Args:
        scope: only this server's data (a name from :func:`summarize`); None: every server's.
        older_than_s: only what was stored more than this many seconds ago. Candles go by
            series (symbol and timeframe): a series goes whole once its newest fetch is older,
            so what stays never has a hole that a cached answer would silently skip.

    Raises:
        ConfigurationError: the file is not a usable jts-broker cache (code ``CACHE_UNUSABLE``).
    """
    if not Path(path).expanduser().exists():
        return 0
    cutoff = now_kst().timestamp() - older_than_s if older_than_s is not None else None
    where, args = ("scope = ?", [scope]) if scope is not None else ("1", [])
    db = open_cache_file(Path(path).expanduser())
    try:
        with db:
            db.execute("BEGIN IMMEDIATE")
            aged = " AND stored_at < ?" if cutoff is not None else ""
            deleted = db.execute(f"DELETE FROM entries WHERE {where}{aged}", [*args, *([cutoff] if cutoff is not None else [])]).rowcount
            # The candle series to drop: every series of the scope, or those last fetched before the cutoff.
            series = (f"SELECT scope, symbol, timeframe FROM candle_spans WHERE {where} GROUP BY scope, symbol, timeframe"
                      + (" HAVING MAX(stored_at) < ?" if cutoff is not None else ""))
            doomed = db.execute(series, [*args, *([cutoff] if cutoff is not None else [])]).fetchall()
            for key in doomed:
                deleted += db.execute("DELETE FROM candles WHERE scope = ? AND symbol = ? AND timeframe = ?", key).rowcount
                db.execute("DELETE FROM candle_spans WHERE scope = ? AND symbol = ? AND timeframe = ?", key)
        # Giving the space back needs a moment with no reader in the file; another process may be
        # reading, and then the space is merely reused by later writes.
        with contextlib.suppress(sqlite3.OperationalError):
            db.execute("VACUUM")
    finally:
        db.close()
    return deleted
