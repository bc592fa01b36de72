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
       +--the process died--> (SENDING, owner gone)
    UNKNOWN or SENDING with its owner gone --reconcile: lookup--> PLACED | REJECTED | NOT_PLACED

An entry is keyed by (scope, account, client order id); ``scope`` names the broker connection
(``"kis@10.0.0.5:50551"``). Its owner is the process that sent it (host, pid and start time): a
SENDING entry of a live owner is a call in flight and is left alone; one whose owner has ended
(same host, pid gone or reused) is reconciled; an owner on another host is trusted for
``stale_after_s`` seconds. Writes are synchronous (WAL, ``synchronous = NORMAL``: they survive
the process being killed, which is the point) and take about a tenth of a millisecond. Several
threads and processes may share one file.

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
    detail TEXT NOT NULL DEFAULT '', owner TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (scope, account_id, client_order_id));
CREATE INDEX IF NOT EXISTS orders_by_state ON orders (scope, state);
CREATE INDEX IF NOT EXISTS orders_by_order_id ON orders (scope, order_id);
"""


def _process_start() -> str:
    """When this process started, as the kernel counts it (Linux), so that a pid reused by a later
    process is not taken for the sender; elsewhere a random token of this process."""
    try:
        fields = Path(f"/proc/{os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[19]  # starttime, clock ticks since boot (field 22 of stat)
    except (OSError, IndexError):
        return os.urandom(6).hex()


def _start_of(pid: int) -> str | None:
    """The start token of process ``pid`` on this host (Linux), or None when it is gone or unknown."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


_HOST = socket.gethostname()
OWNER = f"{_HOST}:{os.getpid()}:{_process_start()}"
"""This process, as the journal names a sender."""


def owner_alive(owner: str) -> bool | None:
    """Whether the sender ``owner`` still runs: True or False on this host, None on another."""
    host, _, rest = owner.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != _HOST or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    if Path("/proc").is_dir():
        return _start_of(pid) == start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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


class OrderJournal:
    """The orders of one broker connection (``scope``) in the journal file at ``path``. Thread-safe.

    Args:
        path: the SQLite file (created, with its folder, when missing).
        scope: the broker connection, e.g. ``"kis@10.0.0.5:50551"``.
        stale_after_s: a SENDING entry of a sender on another host counts as abandoned after this
            many seconds (a sender on this host is asked directly whether it still runs).

    Raises:
        ConfigurationError: the file cannot be opened, or is not an order journal of this
            version (code ``JOURNAL_UNUSABLE``); it is left untouched.
    """

    def __init__(self, path: Path, scope: str, *, stale_after_s: float = 600.0) -> None:
        self.path = Path(path).expanduser()
        self.scope = scope
        self.stale_after_s = stale_after_s
        self._lock = threading.Lock()
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=10.0, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise _unusable(self.path, str(exc)) from None
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
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")  # survives the process being killed; an OS crash may lose the last writes
            db.executescript(_SCHEMA)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('application', ?), ('schema_version', ?)", (APPLICATION, str(SCHEMA_VERSION)))
        except sqlite3.DatabaseError as exc:
            db.close()
            raise _unusable(self.path, f"not a SQLite database ({exc})") from None
        except ConfigurationError:
            db.close()
            raise
        return db

    def close(self) -> None:
        """Close the file. Idempotent."""
        with self._lock:
            self._db.close()

    # -- writing ----------------------------------------------------------------------------------

    def record(self, order: OrderRequest) -> None:
        """Write ``order`` down as SENDING, before it is sent. Sending the same order again (same
        client order id and parameters) marks its entry SENDING again.

        Raises:
            DuplicateClientOrderId: the client order id already names another order of this
                account here (nothing is written, and the order must not be sent).
            ConfigurationError: the journal cannot be written (code ``JOURNAL_WRITE``): do not
                send an order that could not be recorded.
        """
        now = time.time()
        key = (self.scope, order.account_id, order.client_order_id)
        try:
            with self._lock, self._db:
                self._db.execute("BEGIN IMMEDIATE")
                row = self._db.execute("SELECT request, order_id FROM orders WHERE scope = ? AND account_id = ? AND client_order_id = ?",
                                       key).fetchone()
                if row is not None and not is_same_order(_decode(row[0]), order):
                    named = f" (order {row[1]})" if row[1] else ""
                    raise DuplicateClientOrderId(
                        f"client order id {order.client_order_id} already names another order{named} of account {order.account_id} "
                        f"in the order journal ({self.path}); the order was not sent", code="DUPLICATE_CLIENT_ORDER_ID", order_id=row[1])
                self._db.execute("INSERT INTO orders (scope, account_id, client_order_id, request, state, owner, created_at, updated_at) "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET state = excluded.state, owner = excluded.owner, "
                                 "updated_at = excluded.updated_at",
                                 (*key, _encode(order), JournalState.SENDING.value, OWNER, now, now))
        except sqlite3.Error as exc:
            raise ConfigurationError(f"order journal {self.path} cannot be written ({exc}); the order {order.client_order_id} was not sent",
                                     code="JOURNAL_WRITE") from exc

    def _mark(self, account_id: str, client_order_id: str, state: JournalState, *, order_id: str = "", status: OrderStatus | None = None,
              detail: str = "") -> None:
        with self._lock, self._db:
            self._db.execute("UPDATE orders SET state = ?, order_id = CASE WHEN ? != '' THEN ? ELSE order_id END, status = ?, detail = ?, "
                             "updated_at = ? WHERE scope = ? AND account_id = ? AND client_order_id = ?",
                             (state.value, order_id, order_id, status.value if status else "", detail, time.time(), self.scope, account_id,
                              client_order_id))

    def placed(self, order: Order) -> None:
        """The broker holds ``order`` (found by its answer or by a lookup): PLACED, bound to its
        broker order id, or REJECTED when the broker recorded it as refused."""
        if order.status is OrderStatus.REJECTED:
            self._mark(order.account_id, order.client_order_id, JournalState.REJECTED, order_id=order.order_id, status=order.status,
                       detail=order.reject_reason)
        else:
            self._mark(order.account_id, order.client_order_id, JournalState.PLACED, order_id=order.order_id, status=order.status)

    def rejected(self, account_id: str, client_order_id: str, reason: str, order_id: str = "") -> None:
        """The broker refused the order (``OrderRejected``)."""
        self._mark(account_id, client_order_id, JournalState.REJECTED, order_id=order_id, status=OrderStatus.REJECTED, detail=reason)

    def not_placed(self, account_id: str, client_order_id: str, reason: str) -> None:
        """The order is definitely not at the broker (refused before it was handled, or not found)."""
        self._mark(account_id, client_order_id, JournalState.NOT_PLACED, detail=reason)

    def unknown(self, account_id: str, client_order_id: str, reason: str) -> None:
        """The call ended without an answer: the order may or may not be at the broker."""
        self._mark(account_id, client_order_id, JournalState.UNKNOWN, detail=reason)

    # -- reading ----------------------------------------------------------------------------------

    def _select(self, where: str, args: tuple[object, ...]) -> list[JournalEntry]:
        with self._lock:
            rows = self._db.execute("SELECT scope, request, state, order_id, status, detail, owner, created_at, updated_at FROM orders "
                                    f"WHERE scope = ? AND {where} ORDER BY created_at, client_order_id", (self.scope, *args)).fetchall()
        return [JournalEntry(scope, _decode(request), JournalState(state), order_id, OrderStatus(status) if status else None, detail, owner,
                             datetime.fromtimestamp(created, KST), datetime.fromtimestamp(updated, KST))
                for scope, request, state, order_id, status, detail, owner, created, updated in rows]

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
        entries, and SENDING entries whose sender has ended (or, on another host, that are older
        than ``stale_after_s``). A SENDING entry of this process is a call in flight."""
        cutoff = time.time() - self.stale_after_s
        out = []
        for entry in self.unresolved():
            if entry.state is JournalState.UNKNOWN:
                out.append(entry)
            elif entry.owner != OWNER:
                alive = owner_alive(entry.owner)
                if alive is False or (alive is None and entry.updated_at.timestamp() < cutoff):
                    out.append(entry)
        return out

