"""Where a budget's tokens live: this process, a SQLite file (processes of one machine) or Redis
(several machines). Each store gives pyrate-limiter its bucket and counts the tokens in a window
itself: pyrate-limiter's ``bucket.count()`` includes expired items its leaker has not removed.

The shared stores stamp tokens with wall-clock milliseconds (``time.time_ns() // 10**6``), so
processes on one machine agree; machines sharing Redis need synchronized clocks (NTP). The memory
store's bucket keeps pyrate-limiter's monotonic clock (its tokens never leave the process).
"""

from __future__ import annotations

import abc
import bisect
import operator
import re
import sqlite3
import threading
import time
from pathlib import Path

from pyrate_limiter import InMemoryBucket, Rate, SQLiteBucket
from pyrate_limiter.abstracts import AbstractBucket, RateItem
from pyrate_limiter.buckets.redis_bucket import LuaScript, RedisBucket

from jts_broker.domain.errors import ConfigurationError

ITEM_NAME = "jts"
"""pyrate-limiter's item name for every token; it does not split a bucket, so one name serves."""


_STAMP = operator.attrgetter("timestamp")  # a RateItem's sort key


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# --- Workaround: pyrate-limiter 4.5.1 stamps retried tokens in the past ----------------------------
# A caller that had to wait retries with its item's timestamp advanced by the sleep it planned,
# not by the time that passed (lock waits and oversleep included), so the token it finally gets
# is recorded as older than it is and leaves the window early: measured 24 admissions in one 1-s
# window of a shared 20/s SQLite budget (4 processes x 32 threads). Stamping every put with the
# bucket's current time fixes it for every store. Tested in tests/integration/test_shared_budgets.py.
class _FreshStamps:
    def put(self, item: RateItem):  # type: ignore[no-untyped-def]
        item.timestamp = max(item.timestamp, self.now())  # type: ignore[attr-defined]
        return super().put(item)  # type: ignore[misc]


class _InMemoryBucket(_FreshStamps, InMemoryBucket):
    pass


class _SQLiteBucket(_FreshStamps, SQLiteBucket):
    pass


class TokenStore(abc.ABC):
    """One budget's storage: the pyrate-limiter bucket, and window counts read from it."""

    bucket: AbstractBucket
    shared = True

    @abc.abstractmethod
    def counts(self, intervals_ms: list[int]) -> list[int]:
        """Tokens taken in the last ``interval`` ms, for each interval (all users of the store)."""

    def take_now(self, weight: int) -> bool | None:
        """Take ``weight`` tokens if they are free this instant, never waiting: True if taken,
        False if not; None when this store can only be used through pyrate-limiter's ``Limiter``
        (the shared stores, whose locks it holds across processes)."""
        return None

    def close(self) -> None:  # noqa: B027
        """Release connections."""


class MemoryStore(TokenStore):
    """Tokens of this process only (the default)."""

    shared = False
    bucket: _InMemoryBucket

    def __init__(self, rates: list[Rate]) -> None:
        self.bucket = _InMemoryBucket(rates)

    def take_now(self, weight: int) -> bool:
        # The bucket guards its items with its own lock (its leaker thread takes no other), so a
        # put is atomic: the Limiter's lock and its per-call checks (~5 us) add nothing for a
        # token that is free now. Callers: RateLimiter's fast path (no one waits) and the head of
        # its FIFO gate of threads.
        # Stamped this instant, the item needs no _FreshStamps correction: InMemoryBucket's own put
        # spares every call a second clock read (four Python frames, measurable per call).
        item = RateItem(ITEM_NAME, self.bucket.now(), weight)  # type: ignore[no-untyped-call]  # its clock is untyped
        return bool(InMemoryBucket.put(self.bucket, item))

    def counts(self, intervals_ms: list[int]) -> list[int]:
        # One item per token, stamped with the bucket's clock, nearly oldest first (a stamp is read
        # just before the bucket's lock is taken; pyrate-limiter's own admission bisects them too,
        # and a count near a window's edge may be off by a token or two: display only). Expired
        # items linger until its leaker runs (every 10 s), so each window finds its own start by
        # bisection rather than counting them all.
        now = self.bucket.now()  # type: ignore[no-untyped-call]
        items = list(self.bucket.items)  # a snapshot: list() of a list copies without releasing the GIL
        return [len(items) - bisect.bisect_right(items, now - interval, key=_STAMP) for interval in intervals_ms]


def _table(key: str) -> str:
    return "jts_" + re.sub(r"[^A-Za-z0-9_]", "_", key)


class SQLiteStore(TokenStore):
    """Tokens in a SQLite file shared by the processes of one machine, serialized by a file lock
    (without the lock, measured 23 admissions in a 20/s window)."""

    def __init__(self, rates: list[Rate], path: Path, key: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._table = _table(key)
        try:
            self.bucket = _SQLiteBucket.init_from_file(rates, table=self._table, db_path=str(path), use_file_lock=True)
        except sqlite3.Error as exc:
            raise ConfigurationError(f"cannot use {path} as a rate-limit store: {exc}") from exc
        self._reader = sqlite3.connect(str(path), check_same_thread=False)
        self._lock = threading.Lock()

    def counts(self, intervals_ms: list[int]) -> list[int]:
        now = now_ms()
        with self._lock:
            return [self._reader.execute(f"SELECT COUNT(*) FROM '{self._table}' WHERE item_timestamp > ?", (now - i,)).fetchone()[0]
                    for i in intervals_ms]

    def close(self) -> None:
        self._reader.close()
        self.bucket.close()


# --- Workaround: pyrate-limiter 4.5.1 RedisBucket over-admits ------------------------------------
# Measured 30-32 admissions in one 1-s window of a 20/s budget. Besides the stale stamps above, its
# Lua script counts only the entries between the window start and the caller's own timestamp
# (ZCOUNT start now), so entries stamped later by other callers (or by machines whose clocks run
# ahead) go uncounted. The fix: count every entry newer than the window start (upper bound +inf).
# Tested in tests/integration/test_shared_budgets.py; drop both when pyrate-limiter fixes them.
_STOCK_COUNT = "redis.call('ZCOUNT', bucket, window_start, now)"
FIXED_PUT_SCRIPT = LuaScript.PUT_ITEM.replace(_STOCK_COUNT, "redis.call('ZCOUNT', bucket, window_start, '+inf')")


class FixedRedisBucket(_FreshStamps, RedisBucket):
    """``RedisBucket`` with both fixes above."""

    @classmethod
    def create(cls, rates: list[Rate], redis: object, bucket_key: str) -> FixedRedisBucket:
        if FIXED_PUT_SCRIPT == LuaScript.PUT_ITEM:
            raise RuntimeError("pyrate-limiter's Redis script changed: review FixedRedisBucket before use")
        return cls(rates, redis, bucket_key, redis.script_load(FIXED_PUT_SCRIPT))  # type: ignore[attr-defined, arg-type]


class RedisStore(TokenStore):
    """Tokens in Redis, shared by every machine that uses the same URL and key."""

    def __init__(self, rates: list[Rate], url: str, key: str) -> None:
        try:
            import redis
        except ImportError:
            raise ConfigurationError("the redis backend needs the redis package: pip install 'jts-broker[redis]'") from None
        self._client = redis.Redis.from_url(url)
        self._key = f"jts:rate:{key}"
        try:
            self.bucket = FixedRedisBucket.create(rates, self._client, self._key)
        except redis.RedisError as exc:
            raise ConfigurationError(f"cannot use {url} as a rate-limit store: {exc}") from exc

    def counts(self, intervals_ms: list[int]) -> list[int]:
        now = now_ms()
        return [int(self._client.zcount(self._key, f"({now - i}", "+inf")) for i in intervals_ms]

    def close(self) -> None:
        self._client.close()


def open_store(backend: str, rates: list[Rate], key: str) -> TokenStore:
    """The store named by ``backend``: ``memory``, ``sqlite:///PATH`` or ``redis://HOST:PORT/DB``."""
    if backend == "memory":
        return MemoryStore(rates)
    if backend.startswith("sqlite:///"):
        return SQLiteStore(rates, Path(backend.removeprefix("sqlite:///")).expanduser(), key)
    if backend.startswith(("redis://", "rediss://")):
        return RedisStore(rates, backend, key)
    raise ConfigurationError(f"unknown rate-limit backend {backend!r}")
