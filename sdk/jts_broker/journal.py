"""``OrderJournal``: every order a process sends, written down before it leaves and marked with
the broker's answer, in a SQLite file that outlives the process.

Why: an order whose answer never came (the process was killed, the connection broke, Ctrl-C)
may or may not be at the broker. Without a record, the next run cannot know it exists, and a
trader who sends it again under a new id buys twice. With one, the next ``connect()`` asks the
broker for each unresolved order by its client order id and settles it: found (PLACED, with the
broker's order id) or not (NOT_PLACED).

States of an entry::

    SENDING --answer--> PLACED | REJECTED | NOT_PLACED
       |
       +--no answer (OrderStatusUnknown, an interrupt)--> UNKNOWN
       +--the process died--> (SENDING, sender gone)
    UNKNOWN or SENDING with its sender gone --reconcile: lookup--> PLACED | REJECTED | NOT_PLACED

"Not found" settles an entry as NOT_PLACED only when no request of it can still arrive: it never
left the process (``sent_at`` is None: the sender died waiting for a rate-limit token), or its
last send is older than twice the sender's own order deadline. Until then it stays unresolved.

An entry is keyed by (scope, account, client order id). ``scope`` is the brokerage (``"kis"``):
an account number names one account at one broker whatever the address of its gateway, so a
moved gateway, a ``--target`` override or ``localhost`` for ``127.0.0.1`` never hides an entry.
Its sender is a process (host, pid namespace, pid and start time): a SENDING entry of a live
sender is a call in flight and is left alone; one whose sender has ended is reconciled; a sender
that cannot be checked (another host or pid namespace sharing the file) is trusted for
``stale_after_s`` seconds. The file is meant for one host's processes (SQLite WAL needs a local
disk). Every write is a transaction of its own (WAL, ``synchronous = NORMAL``: it survives the
process being killed, which is the point) and takes about a tenth of a millisecond; settling
writes apply only to the revision they read, so two reconciling processes never overwrite a
newer answer. Threads, processes and forked children may share one file.

The module knows nothing of the wire: the gRPC gateways use it to make orders safe across
crashes, and a broker backend can use it to bind client order ids to the broker's own order
numbers (:meth:`OrderJournal.placed`, :meth:`OrderJournal.by_order_id`).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from jts_broker.domain.enums import JournalState, OrderStatus, OrderType, Side, TimeInForce
from jts_broker.domain.errors import ConfigurationError, DuplicateClientOrderId
from jts_broker.domain.orders import is_same_order
from jts_broker.domain.timeutil import KST
from jts_broker.domain.trading import JournalEntry, Order, OrderRequest

APPLICATION = "jts-broker order journal"
SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    scope TEXT NOT NULL, account_id TEXT NOT NULL, client_order_id TEXT NOT NULL,
    request TEXT NOT NULL, state TEXT NOT NULL, order_id TEXT NOT NULL DEFAULT '', status TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '', owner TEXT NOT NULL, deadline_s REAL NOT NULL, sent_at REAL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, revision INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, account_id, client_order_id));
CREATE INDEX IF NOT EXISTS orders_by_state ON orders (scope, state);
CREATE INDEX IF NOT EXISTS orders_by_order_id ON orders (scope, order_id);
"""
_COLUMNS = "scope, request, state, order_id, status, detail, owner, deadline_s, sent_at, created_at, updated_at, revision"


# -- who sent it ------------------------------------------------------------------------------------


def _stat_start(pid: int | str) -> str | None:
    """When process ``pid`` started, in clock ticks since boot (Linux ``/proc``); None if unknown."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]  # field 22, starttime
    except (OSError, IndexError):
        return None


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid").strip("pid:[]")
    except OSError:
        return "-"


_HOST = socket.gethostname()
_NAMESPACE = _pid_namespace()
_owner: tuple[int, str] = (-1, "")


def current_owner() -> str:
    """This process, as the journal names a sender: ``host:pid-namespace:pid:start``. Computed
    again in a forked child, which is another sender."""
    global _owner
    pid = os.getpid()
    if _owner[0] != pid:
        _owner = (pid, f"{_HOST}:{_NAMESPACE}:{pid}:{_stat_start('self') or os.urandom(6).hex()}")
    return _owner[1]


def owner_alive(owner: str) -> bool | None:
    """Whether the sender ``owner`` still runs: True or False when it can be checked (this host and
    pid namespace), None when it cannot."""
    host, namespace, pid, start = [*owner.split(":"), "", "", "", ""][:4]
    if host != _HOST or namespace != _NAMESPACE or not pid.isdigit():
        return None
    if Path("/proc").is_dir():
        return _stat_start(pid) == start  # a pid reused by a later process is not the sender
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# -- the file ---------------------------------------------------------------------------------------


def _encode(order: OrderRequest) -> str:
    return json.dumps({"account_id": order.account_id, "client_order_id": order.client_order_id, "symbol": order.symbol,
                       "side": order.side.value, "order_type": order.order_type.value, "time_in_force": order.time_in_force.value,
                       "quantity": order.quantity, "price": None if order.price is None else format(order.price, "f")})


def _decode(text: str) -> OrderRequest:
    data = json.loads(text)
    return OrderRequest(data["account_id"], data["symbol"], Side(data["side"]), int(data["quantity"]), OrderType(data["order_type"]),
                        None if data["price"] is None else Decimal(data["price"]), TimeInForce(data["time_in_force"]), data["client_order_id"])


def _unusable(path: Path, why: str) -> ConfigurationError:
    return ConfigurationError(f"order journal {path} is unusable: {why}; move the file away or configure another order_journal "
                              f"(it was left untouched)", code="JOURNAL_UNUSABLE")


def _when(stamp: float | None) -> datetime | None:
    return None if stamp is None else datetime.fromtimestamp(stamp, KST)


class OrderJournal:
    """The orders of one brokerage (``scope``) in the journal file at ``path``. Thread-safe, and
    safe in a forked child (it opens the file again there).

    Args:
        path: the SQLite file (created, with its folder, when missing).
        scope: the brokerage, e.g. ``"kis"``.
        stale_after_s: a SENDING entry of a sender that cannot be checked counts as abandoned
            after this many seconds (a sender on this host is asked directly whether it runs).

    Raises:
        ConfigurationError: the file is not an order journal of this version (code
            ``JOURNAL_UNUSABLE``; it is left untouched), or cannot be opened now (code
            ``JOURNAL_UNAVAILABLE``: locked, read-only, a disk error).
    """

    def __init__(self, path: Path, scope: str, *, stale_after_s: float = 600.0) -> None:
        self.path = Path(path).expanduser()
        self.scope = scope
        self.stale_after_s = stale_after_s
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=10.0, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigurationError(f"order journal {self.path} cannot be opened: {exc}", code="JOURNAL_UNAVAILABLE") from None
        try:  # read and check before writing anything: a file that is not ours comes out as it went in
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables:
                if "meta" not in tables:
                    raise _unusable(self.path, f"it is a SQLite database of something else (tables: {', '.join(sorted(tables))})")
                meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
                if meta.get("application") != APPLICATION:
                    raise _unusable(self.path, f"it belongs to {meta.get('application')!r}")
                if meta.get("schema_version") != str(SCHEMA_VERSION):
                    raise _unusable(self.path, f"schema version {meta.get('schema_version')}, this SDK reads {SCHEMA_VERSION}")
            _use_wal(db)
            db.execute("PRAGMA synchronous = NORMAL")  # survives the process being killed; an OS crash may lose the last writes
            # The tables and their meta rows in one transaction: a process opening the file at the
            # same moment sees both or neither (never a meta table without its rows).
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    db.execute(statement)
                db.execute("INSERT OR IGNORE INTO meta VALUES ('application', ?), ('schema_version', ?)", (APPLICATION, str(SCHEMA_VERSION)))
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            db.close()
            if getattr(exc, "sqlite_errorname", "") == "SQLITE_NOTADB":
                raise _unusable(self.path, f"not a SQLite database ({exc})") from None
            # Locked, read-only, a disk error: the file may hold unresolved orders, so no advice to move it away.
            raise ConfigurationError(f"order journal {self.path} cannot be opened: {exc}", code="JOURNAL_UNAVAILABLE") from None
        except ConfigurationError:
            db.close()
            raise
        return db

    def _conn(self) -> sqlite3.Connection:
        """The connection of this process (call with the lock held). SQLite connections must not
        cross a fork: a forked child opens the file again."""
        if os.getpid() != self._pid:
            self._pid = os.getpid()
            self._db = self._open()  # the parent's connection is left alone: it is the parent's
        return self._db

    def close(self) -> None:
        """Close the file. Idempotent."""
        with self._lock:
            if os.getpid() == self._pid:
                self._db.close()

    # -- writing ----------------------------------------------------------------------------------

    def record(self, order: OrderRequest, deadline_s: float, *, claim: bool = False) -> bool:
        """Write ``order`` down as SENDING before it is sent; ``deadline_s`` is the deadline its
        sends will carry. Sending the same order again (same client order id and parameters)
        marks its entry SENDING again. With ``claim``, only a new entry, or one known not placed
        (NOT_PLACED, or REJECTED without a broker order), is written: checked and written in one
        transaction, so of two calls (threads or processes) claiming one client order id at once,
        one gets it. True if written.

        Raises:
            DuplicateClientOrderId: the client order id already names another order of this
                account here (nothing is written, and the order must not be sent).
            ConfigurationError: the journal cannot be written (code ``JOURNAL_WRITE``): do not
                send an order that could not be recorded.
        """
        now = time.time()
        key = (self.scope, order.account_id, order.client_order_id)
        try:
            with self._lock, self._conn() as db:
                db.execute("BEGIN IMMEDIATE")
                row = db.execute("SELECT request, order_id, state FROM orders WHERE scope = ? AND account_id = ? AND client_order_id = ?",
                                 key).fetchone()
                if row is not None and not is_same_order(_decode(row[0]), order):
                    named = f" (order {row[1]})" if row[1] else ""
                    raise DuplicateClientOrderId(
                        f"client order id {order.client_order_id} already names another order{named} of account {order.account_id} "
                        f"in the order journal ({self.path}); the order was not sent", code="DUPLICATE_CLIENT_ORDER_ID", order_id=row[1])
                free = row is None or row[2] == JournalState.NOT_PLACED.value or (row[2] == JournalState.REJECTED.value and not row[1])
                if claim and not free:
                    return False
                # A claim is a new attempt: its send time is this attempt's (none until it leaves).
                fresh = ", sent_at = NULL" if claim else ""
                db.execute("INSERT INTO orders (scope, account_id, client_order_id, request, state, owner, deadline_s, created_at, updated_at) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET state = excluded.state, owner = excluded.owner, "
                           f"deadline_s = excluded.deadline_s, detail = '', updated_at = excluded.updated_at, revision = revision + 1{fresh}",
                           (*key, _encode(order), JournalState.SENDING.value, current_owner(), deadline_s, now, now))
                return True
        except sqlite3.Error as exc:
            raise ConfigurationError(f"order journal {self.path} cannot be written ({exc}); the order {order.client_order_id} was not sent",
                                     code="JOURNAL_WRITE") from exc

    def sending(self, account_id: str, client_order_id: str) -> None:
        """The request is leaving now (its rate-limit token taken): the time a late arrival is
        counted from. Called before every send, resends included."""
        with self._lock, self._conn() as db:
            db.execute("UPDATE orders SET sent_at = ?, owner = ?, revision = revision + 1 WHERE scope = ? AND account_id = ? "
                       "AND client_order_id = ?", (time.time(), current_owner(), self.scope, account_id, client_order_id))

    def _mark(self, account_id: str, client_order_id: str, state: JournalState, *, order_id: str = "", status: OrderStatus | None = None,
              detail: str = "", revision: int | None = None) -> bool:
        """Write an outcome; with ``revision``, only onto that revision of the entry. A broker order
        id is bound to one client order id at most: a write that would bind it to a second one is
        not made (checked in the same statement). True if written."""
        guard = " AND revision = ?" if revision is not None else ""
        with self._lock, self._conn() as db:
            done = db.execute(f"UPDATE orders SET state = ?, order_id = CASE WHEN ? != '' THEN ? ELSE order_id END, status = ?, detail = ?, "
                              f"updated_at = ?, revision = revision + 1 WHERE scope = ? AND account_id = ? AND client_order_id = ?{guard} "
                              f"AND (? = '' OR NOT EXISTS (SELECT 1 FROM orders AS other WHERE other.scope = orders.scope "
                              f"AND other.order_id = ? AND other.client_order_id != orders.client_order_id))",
                              (state.value, order_id, order_id, status.value if status else "", detail, time.time(), self.scope, account_id,
                               client_order_id, *([revision] if revision is not None else []), order_id, order_id))
            return done.rowcount == 1

    def placed(self, order: Order, *, revision: int | None = None) -> bool:
        """The broker holds ``order`` (found by its answer or by a lookup): PLACED, bound to its
        broker order id, or REJECTED when the broker recorded it as refused. With ``revision``,
        only onto that revision (see :meth:`not_found`). True if written; False too when the
        broker order id is bound to another client order id here."""
        if order.status is OrderStatus.REJECTED:
            return self._mark(order.account_id, order.client_order_id, JournalState.REJECTED, order_id=order.order_id, status=order.status,
                              detail=order.reject_reason, revision=revision)
        return self._mark(order.account_id, order.client_order_id, JournalState.PLACED, order_id=order.order_id, status=order.status,
                          revision=revision)

    def rejected(self, account_id: str, client_order_id: str, reason: str, order_id: str = "") -> None:
        """The broker refused the order (``OrderRejected``)."""
        self._mark(account_id, client_order_id, JournalState.REJECTED, order_id=order_id, status=OrderStatus.REJECTED, detail=reason)

    def not_placed(self, account_id: str, client_order_id: str, reason: str, *, revision: int | None = None) -> bool:
        """The order is definitely not at the broker (refused before it was handled)."""
        return self._mark(account_id, client_order_id, JournalState.NOT_PLACED, detail=reason, revision=revision)

    def unknown(self, account_id: str, client_order_id: str, reason: str) -> None:
        """The call ended without an answer: the order may or may not be at the broker."""
        self._mark(account_id, client_order_id, JournalState.UNKNOWN, detail=reason)

    def not_found(self, entry: JournalEntry) -> bool:
        """The broker has no order under ``entry``'s client order id: NOT_PLACED when no request
        of it can still arrive (it never left the process, or its last send is older than twice
        its sender's deadline); else it stays as it is. Written only onto the revision read, so a
        sender that sent it again meanwhile is not overwritten. True if settled."""
        if entry.sent_at is None:
            reason = "never left its sender (it died before sending), and the broker has no such order"
        elif time.time() > entry.sent_at.timestamp() + 2 * entry.deadline_s:
            reason = "not at the broker, looked up after its sender's deadline had long passed"
        else:
            return False
        return self.not_placed(entry.account_id, entry.client_order_id, reason, revision=entry.revision)

    # -- reading ----------------------------------------------------------------------------------

    def _select(self, where: str, args: tuple[object, ...]) -> list[JournalEntry]:
        with self._lock:
            rows = self._conn().execute(f"SELECT {_COLUMNS} FROM orders WHERE scope = ? AND {where} ORDER BY created_at, client_order_id",
                                        (self.scope, *args)).fetchall()
        return [JournalEntry(scope, _decode(request), JournalState(state), order_id, OrderStatus(status) if status else None, detail, owner,
                             datetime.fromtimestamp(created, KST), datetime.fromtimestamp(updated, KST), _when(sent_at), deadline_s, revision)
                for scope, request, state, order_id, status, detail, owner, deadline_s, sent_at, created, updated, revision in rows]

    def entry(self, account_id: str, client_order_id: str) -> JournalEntry | None:
        """The entry of one order, or None."""
        found = self._select("account_id = ? AND client_order_id = ?", (account_id, client_order_id))
        return found[0] if found else None

    def find(self, client_order_id: str) -> list[JournalEntry]:
        """The entries of ``client_order_id`` in every account of this scope."""
        return self._select("client_order_id = ?", (client_order_id,))

    def by_order_id(self, order_id: str) -> JournalEntry | None:
        """The entry bound to the broker's order id ``order_id``, or None."""
        found = self._select("order_id = ?", (order_id,))
        return found[0] if found else None

    def entries(self, account_id: str | None = None) -> list[JournalEntry]:
        """Every entry of this scope (of ``account_id`` when given), oldest first."""
        return self._select("account_id = ?", (account_id,)) if account_id is not None else self._select("1", ())

    def unresolved(self) -> list[JournalEntry]:
        """Entries whose outcome is not known: UNKNOWN, and SENDING (in flight, or left behind
        by a sender that ended), oldest first."""
        return self._select("state IN (?, ?)", (JournalState.SENDING.value, JournalState.UNKNOWN.value))

    def abandoned(self) -> list[JournalEntry]:
        """The unresolved entries that no live call is settling: the ones to reconcile. UNKNOWN
        entries, and SENDING entries whose sender has ended (or, when it cannot be checked, that
        are older than ``stale_after_s``). A SENDING entry of this process is a call in flight."""
        cutoff = time.time() - self.stale_after_s
        me = current_owner()
        out = []
        for entry in self.unresolved():
            if entry.state is JournalState.UNKNOWN:
                out.append(entry)
            elif entry.owner != me:
                alive = owner_alive(entry.owner)
                if alive is False or (alive is None and entry.updated_at.timestamp() < cutoff):
                    out.append(entry)
        return out


_WAL_WAIT_S = 10.0


def _use_wal(db: sqlite3.Connection) -> None:
    """Put the journal in WAL mode (it stays so in the file). SQLite answers a journal-mode change
    that meets another connection's lock with SQLITE_BUSY at once, without its busy timeout:
    processes opening a new journal together (four workers of one app) would fail. So the change is
    retried while busy, for up to ``_WAL_WAIT_S`` seconds. A file that cannot be WAL at all (the
    pragma answers another mode without an error) goes on in the mode it has, as before."""
    deadline = time.monotonic() + _WAL_WAIT_S
    delay_s = 0.005
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or time.monotonic() > deadline:
                raise
        time.sleep(delay_s)
        delay_s = min(delay_s * 2, 0.2)
