"""OfflineCache on a real SQLite file: what it keeps, what it refuses, and its schema guard."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from jts_broker import KST, Candle, Market, MockBrokerGateway, Timeframe
from jts_broker.client.offline_cache import OfflineCache, clear, summarize
from jts_broker.domain.candle_columns import pack_candles, unpack
from jts_broker.domain.errors import ConfigurationError
from jts_broker.domain.provenance import DataSource
from jts_broker.domain.timeutil import start_of_day


def rows(found):
    packed, cached_at = found
    assert cached_at.tzinfo is not None
    return unpack(packed)


@pytest.fixture
def mock():
    gateway = MockBrokerGateway(session_date=date(2026, 3, 17))
    yield gateway
    gateway.close()


@pytest.fixture
def cache(tmp_path):
    c = OfflineCache(tmp_path / "c.sqlite", "mock@test")
    yield c
    c.close()


def test_every_kind_round_trips_exactly(cache, mock):
    account = mock.get_accounts()[0].account_id
    quote, balance, positions, symbols = mock.get_quote("005930"), mock.get_balance(), mock.get_positions(), mock.get_symbols()
    cache.put_quote(quote)
    cache.put_balance(balance)
    cache.put_positions(account, positions)
    cache.put_symbols("", None, symbols)
    cache.put_accounts(mock.get_accounts())
    cache.flush()
    cached_quote = cache.quote("005930")
    assert cached_quote.source is DataSource.CACHE and cached_quote.cached_at.tzinfo is not None
    assert cached_quote.price == quote.price and isinstance(cached_quote.price, Decimal)
    assert cache.balance(account).cash == balance.cash and cache.balance(account).source is DataSource.CACHE
    assert list(cache.positions(account)) == list(positions)
    assert list(cache.symbols("", None)) == list(symbols)
    assert [s.code for s in cache.symbols("0059", Market.KOSPI)] == [s.code for s in symbols if "0059" in s.code and s.market is Market.KOSPI]
    assert cache.symbol(symbols[0].code)[0] == symbols[0]
    assert list(cache.accounts()) == list(mock.get_accounts())
    assert cache.quote("999999") is None and cache.balance("nobody") is None


def test_only_final_candles_are_kept_and_only_covered_spans_are_answered(cache, mock):
    candles = mock.get_candles("005930", Timeframe.DAY, date(2026, 1, 1), date(2026, 3, 17))
    start, end, session = start_of_day(date(2026, 1, 1)), start_of_day(date(2026, 3, 18)), start_of_day(date(2026, 3, 17))
    cache.put_candles("005930", Timeframe.DAY, start, end, pack_candles(candles), complete_before=session)
    cache.flush()
    final = [c for c in candles if c.time < session]
    assert rows(cache.candles("005930", Timeframe.DAY, start, session)) == final
    assert rows(cache.candles("005930", Timeframe.DAY, start_of_day(date(2026, 2, 1)), start_of_day(date(2026, 2, 10)))) == \
        [c for c in final if date(2026, 2, 1) <= c.time.date() < date(2026, 2, 10)]
    assert cache.candles("005930", Timeframe.DAY, start, end) is None  # would need the unfinished session candle
    assert cache.candles("005930", Timeframe.DAY, start_of_day(date(2025, 12, 1)), session) is None  # starts before the span
    assert cache.candles("005930", Timeframe.WEEK, start, session) is None
    assert cache.candles("000660", Timeframe.DAY, start, session) is None


def test_scopes_do_not_mix(tmp_path, mock):
    a, b = OfflineCache(tmp_path / "c.sqlite", "kis@a:1"), OfflineCache(tmp_path / "c.sqlite", "kis@b:1")
    try:
        a.put_quote(mock.get_quote("005930"))
        a.flush()
        assert a.quote("005930") is not None and b.quote("005930") is None
    finally:
        a.close()
        b.close()


def test_another_schema_version_is_refused(tmp_path):
    path = tmp_path / "c.sqlite"
    OfflineCache(path, "x").close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.close()
    with pytest.raises(ConfigurationError, match="schema version 99"):
        OfflineCache(path, "x")


V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE entries (scope TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, payload BLOB NOT NULL,
                      stored_at REAL NOT NULL, PRIMARY KEY (scope, kind, name));
CREATE TABLE candles (scope TEXT NOT NULL, symbol TEXT NOT NULL, timeframe INTEGER NOT NULL, time INTEGER NOT NULL,
                      payload BLOB NOT NULL, stored_at REAL NOT NULL, PRIMARY KEY (scope, symbol, timeframe, time));
CREATE TABLE candle_spans (scope TEXT NOT NULL, symbol TEXT NOT NULL, timeframe INTEGER NOT NULL,
                           start INTEGER NOT NULL, "end" INTEGER NOT NULL, stored_at REAL NOT NULL,
                           PRIMARY KEY (scope, symbol, timeframe, start, "end"));
INSERT INTO meta VALUES ('application', 'jts-broker offline cache'), ('schema_version', '1');
"""


def test_a_version_1_file_is_upgraded_keeping_all_but_its_candles(tmp_path, mock):
    path = tmp_path / "c.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(V1_SCHEMA)
        db.execute("INSERT INTO candles VALUES ('x', '005930', 1, 1767193200, x'0a00', 1.0)")
        db.execute("INSERT INTO candle_spans VALUES ('x', '005930', 1, 1767193200, 1767279600, 1.0)")
    db.close()
    writer = OfflineCache(path, "x")
    writer.put_quote(mock.get_quote("005930"))
    writer.flush()
    writer.close()
    cache = OfflineCache(path, "x")  # opened again: already version 2
    try:
        assert cache.quote("005930") is not None
        assert cache.candles("005930", Timeframe.DAY, datetime.fromtimestamp(1767193200, KST), datetime.fromtimestamp(1767279600, KST)) is None
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("2",)
        db.close()
    finally:
        cache.close()


def test_candles_of_different_price_scales_come_back_exact_at_the_larger(cache):
    first, second = (start_of_day(date(2026, 3, day)) for day in (2, 3))
    whole = Candle(first, Decimal(9500), Decimal(9600), Decimal(9400), Decimal(9550), 10)
    fractional = Candle(second, Decimal("9550.5"), Decimal("9600.25"), Decimal(9500), Decimal("9555.75"), 20)
    cache.put_candles("530001", Timeframe.DAY, first, second, pack_candles([whole]), complete_before=second)
    cache.put_candles("530001", Timeframe.DAY, second, second + timedelta(days=1), pack_candles([fractional]), complete_before=second + timedelta(days=1))
    cache.flush()
    packed, _ = cache.candles("530001", Timeframe.DAY, first, second + timedelta(days=1))
    assert packed.price_scale == 2 and list(packed.open) == [950000, 955050]
    assert unpack(packed) == [whole, fractional]


def test_writes_after_close_are_dropped_and_flush_does_not_hang(cache, mock):
    cache.close()
    cache.put_quote(mock.get_quote("005930"))
    cache.flush()
    cache.close()


def test_cached_at_is_kst(cache, mock):
    cache.put_quote(mock.get_quote("005930"))
    cache.flush()
    assert cache.quote("005930").cached_at.utcoffset() == datetime(2026, 1, 1, tzinfo=KST).utcoffset()


def test_adjacent_spans_together_cover_a_request_but_a_hole_does_not(cache, mock):
    candles = mock.get_candles("005930", Timeframe.DAY, date(2026, 1, 1), date(2026, 3, 16))
    jan, feb, mar = (start_of_day(date(2026, month, 1)) for month in (1, 2, 3))
    session = start_of_day(date(2026, 3, 17))

    def put(start, end):
        cache.put_candles("005930", Timeframe.DAY, start, end, pack_candles([c for c in candles if start <= c.time < end]), complete_before=session)
        cache.flush()

    put(jan, feb)
    put(mar, session)
    assert cache.candles("005930", Timeframe.DAY, jan, session) is None  # February is a hole
    put(feb, mar)
    assert rows(cache.candles("005930", Timeframe.DAY, jan, session)) == [c for c in candles if c.time < session]


def _store_candles(cache, mock, symbol, first, last):
    candles = mock.get_candles(symbol, Timeframe.DAY, first, last)
    start, end = start_of_day(first), start_of_day(last) + timedelta(days=1)
    cache.put_candles(symbol, Timeframe.DAY, start, end, pack_candles(candles), complete_before=end)
    cache.flush()
    return start, end, len(candles)


def test_summarize_names_each_server_with_its_rows_and_ages(tmp_path, mock):
    path = tmp_path / "c.sqlite"
    assert summarize(path) == [] and not path.exists()  # looking does not create a file
    a, b = OfflineCache(path, "kis@a:1"), OfflineCache(path, "creon@b:2")
    a.put_quote(mock.get_quote("005930"))
    a.put_balance(mock.get_balance())
    _, _, count = _store_candles(b, mock, "005930", date(2026, 3, 2), date(2026, 3, 6))
    a.flush()
    a.close(), b.close()
    scopes = summarize(path)
    assert [(s.scope, s.entries, s.candles) for s in scopes] == [("creon@b:2", 0, count), ("kis@a:1", 2, 0)]
    assert all(s.oldest.tzinfo is not None and s.oldest <= s.newest for s in scopes)


def test_clear_by_scope_and_age_never_leaves_a_hole_in_a_candle_series(tmp_path, mock, monkeypatch):
    path = tmp_path / "c.sqlite"
    cache = OfflineCache(path, "kis@a:1")
    month_ago = datetime.now(KST) - timedelta(days=30)
    monkeypatch.setattr("jts_broker.client.offline_cache.now_kst", lambda: month_ago)
    old_start, _, _ = _store_candles(cache, mock, "005930", date(2026, 3, 2), date(2026, 3, 6))  # fetched a month ago
    _store_candles(cache, mock, "000660", date(2026, 3, 2), date(2026, 3, 6))
    cache.put_quote(mock.get_quote("000660"))
    cache.flush()
    monkeypatch.undo()
    # 005930 fetched again today over the next week (span contiguous): the whole series stays.
    _, end, _ = _store_candles(cache, mock, "005930", date(2026, 3, 7), date(2026, 3, 13))
    cache.put_quote(mock.get_quote("005930"))
    cache.flush()

    deleted = clear(path, older_than_s=7 * 86400)
    assert deleted == 5 + 1  # 000660's week of candles and its quote
    assert cache.candles("000660", Timeframe.DAY, *_week(date(2026, 3, 2))) is None and cache.quote("000660") is None
    assert len(rows(cache.candles("005930", Timeframe.DAY, old_start, end))) == 10  # no hole: a cached answer is whole or absent
    assert cache.quote("005930") is not None

    other = OfflineCache(path, "creon@b:2")
    other.put_quote(mock.get_quote("005930"))
    other.flush()
    assert clear(path, scope="kis@a:1") == 10 + 1
    assert [s.scope for s in summarize(path)] == ["creon@b:2"]
    cache.close(), other.close()


def _week(first):
    return start_of_day(first), start_of_day(first) + timedelta(days=5)


def test_the_file_tools_refuse_a_foreign_file_untouched(tmp_path):
    path = tmp_path / "other.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (text)")
    db.commit(), db.close()
    before = path.read_bytes()
    for tool in (summarize, clear):
        with pytest.raises(ConfigurationError, match="something else"):
            tool(path)
    assert path.read_bytes() == before


def test_a_write_racing_close_is_never_queued_after_the_stop_marker(tmp_path, mock):
    # A put that had checked "not closed" when close() queued its stop marker used to land after
    # it: the writer never did it, and a later flush() waited forever. The put is held, inside
    # the queue, until close() has queued the marker (or 2 s, when close() cannot get there).
    import threading

    cache = OfflineCache(tmp_path / "race.sqlite", "mock@test")
    marker_queued = threading.Event()
    put = cache._queue.put

    def racing_put(item, *args, **kwargs):
        if item is None:
            put(item, *args, **kwargs)
            marker_queued.set()
            return
        marker_queued.wait(2.0)
        put(item, *args, **kwargs)

    cache._queue.put = racing_put
    writer = threading.Thread(target=cache.put_quote, args=(mock.get_quote("005930"),))
    writer.start()
    closer = threading.Thread(target=cache.close)
    closer.start()
    writer.join(10)
    closer.join(10)
    flusher = threading.Thread(target=cache.flush, daemon=True)
    flusher.start()
    flusher.join(10)
    assert not flusher.is_alive(), "flush() after close() waits for a job the writer will never do"
