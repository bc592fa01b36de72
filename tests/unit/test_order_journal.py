"""OrderJournal on a real SQLite file: what it keeps, which entries it hands to reconciliation,
when "not found" may settle an order, and the files it refuses."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from decimal import Decimal

import pytest

from jts_broker import DuplicateClientOrderId, JournalState, Order, OrderStatus, OrderType, Side, TimeInForce, limit_order, market_order
from jts_broker.domain.errors import ConfigurationError
from jts_broker.domain.timeutil import KST
from jts_broker.journal import OrderJournal, current_owner, owner_alive

ACC = "50000001-01"
DEADLINE_S = 10.0


@pytest.fixture
def journal(tmp_path):
    j = OrderJournal(tmp_path / "j.sqlite", "kis", stale_after_s=60)
    yield j
    j.close()


def order_of(request, order_id: str = "SIM-1", status: OrderStatus = OrderStatus.ACCEPTED) -> Order:
    now = datetime.now(KST)
    return Order(order_id, request.client_order_id, request.account_id, request.symbol, request.side, request.order_type, request.time_in_force,
                 request.quantity, request.price, status, 0, None, Decimal(0), Decimal(0), "", "", now, now)


def buy(cid: str, quantity: int = 1, account: str = ACC):
    return limit_order(account, "005930", Side.BUY, quantity, Decimal("79600"), client_order_id=cid)


def rewrite(journal: OrderJournal, cid: str, **columns: object) -> None:
    """Set columns of an entry as another process (or an earlier time) would have left them."""
    sets = ", ".join(f"{name} = ?" for name in columns)
    journal._conn().execute(f"UPDATE orders SET {sets} WHERE client_order_id = ?", (*columns.values(), cid))


def test_an_order_is_kept_exactly_from_sending_to_placed(journal):
    request = buy("a-1", 3)
    journal.record(request, DEADLINE_S)
    [entry] = journal.unresolved()
    assert entry.state is JournalState.SENDING and entry.request == request and entry.owner == current_owner()
    assert entry.sent_at is None and entry.deadline_s == DEADLINE_S  # written down, not yet sent
    journal.sending(ACC, "a-1")
    assert journal.entry(ACC, "a-1").sent_at.tzinfo is not None
    journal.placed(order_of(request, "SIM-7"))
    entry = journal.entry(ACC, "a-1")
    assert (entry.state, entry.order_id, entry.status) == (JournalState.PLACED, "SIM-7", OrderStatus.ACCEPTED)
    assert isinstance(entry.request.price, Decimal) and entry.created_at.tzinfo is not None
    assert journal.by_order_id("SIM-7") == entry and journal.unresolved() == [] and journal.find("a-1") == [entry]


def test_market_orders_and_every_field_round_trip(journal):
    request = market_order(ACC, "0000J0", Side.SELL, 10, time_in_force=TimeInForce.IOC, client_order_id="m-1")
    journal.record(request, DEADLINE_S)
    got = journal.entry(ACC, "m-1").request
    assert got == request and got.order_type is OrderType.MARKET and got.price is None


def test_sending_the_same_order_again_reopens_it_and_another_order_under_its_id_is_refused(journal):
    journal.record(buy("a-1", 3), DEADLINE_S)
    journal.placed(order_of(buy("a-1", 3), "SIM-1"))
    journal.record(buy("a-1", 3), DEADLINE_S)  # a resend of the same order: the broker will answer "duplicate"
    assert journal.entry(ACC, "a-1").state is JournalState.SENDING
    with pytest.raises(DuplicateClientOrderId) as caught:
        journal.record(buy("a-1", 4), DEADLINE_S)
    assert caught.value.order_id == "SIM-1" and "was not sent" in str(caught.value)
    assert journal.entry(ACC, "a-1").request == buy("a-1", 3)  # the first order's entry is untouched
    journal.record(buy("a-1", 4, account="50000002-01"), DEADLINE_S)  # ids are per account


def test_outcomes_that_settle_an_order(journal):
    for cid in ("r", "n", "u"):
        journal.record(buy(cid), DEADLINE_S)
    journal.rejected(ACC, "r", "off the tick grid", order_id="SIM-2")
    journal.not_placed(ACC, "n", "account not known")
    journal.unknown(ACC, "u", "no answer")
    states = {e.client_order_id: e.state for e in journal.entries()}
    assert states == {"r": JournalState.REJECTED, "n": JournalState.NOT_PLACED, "u": JournalState.UNKNOWN}
    assert [e.client_order_id for e in journal.unresolved()] == ["u"]


def test_not_found_settles_only_what_can_no_longer_arrive(journal):
    # Never sent (its sender died waiting for a token): nothing can arrive, settled at once.
    journal.record(buy("queued"), DEADLINE_S)
    journal.unknown(ACC, "queued", "interrupted")
    assert journal.not_found(journal.entry(ACC, "queued")) and journal.entry(ACC, "queued").state is JournalState.NOT_PLACED
    # Sent a moment ago with a 10-s deadline: the request may be on its way; it stays open.
    journal.record(buy("in-flight"), DEADLINE_S)
    journal.sending(ACC, "in-flight")
    journal.unknown(ACC, "in-flight", "no answer")
    assert not journal.not_found(journal.entry(ACC, "in-flight"))
    assert journal.entry(ACC, "in-flight").state is JournalState.UNKNOWN
    # Sent longer ago than twice its sender's deadline: settled.
    rewrite(journal, "in-flight", sent_at=time.time() - 2 * DEADLINE_S - 1)
    assert journal.not_found(journal.entry(ACC, "in-flight")) and journal.entry(ACC, "in-flight").state is JournalState.NOT_PLACED


def test_a_settling_write_never_overwrites_a_newer_answer(journal):
    # Process B reads an open entry and looks it up; meanwhile its sender, process A, sends it
    # again and gets the broker's answer. B's late "not placed" must not land on A's answer.
    journal.record(buy("raced"), DEADLINE_S)
    journal.unknown(ACC, "raced", "no answer")
    seen_by_b = journal.entry(ACC, "raced")
    journal.record(buy("raced"), DEADLINE_S)  # A sends it again...
    journal.sending(ACC, "raced")
    journal.placed(order_of(buy("raced"), "SIM-9"))  # ...and it is placed
    assert not journal.not_placed(ACC, "raced", "not found", revision=seen_by_b.revision)
    assert not journal.placed(order_of(buy("raced"), "SIM-9"), revision=seen_by_b.revision)
    assert (journal.entry(ACC, "raced").state, journal.entry(ACC, "raced").order_id) == (JournalState.PLACED, "SIM-9")


def _start_of_init() -> str:
    return open("/proc/1/stat").read().rsplit(")", 1)[1].split()[19]


def test_only_orders_no_live_call_is_settling_are_handed_to_reconciliation(journal):
    for cid in ("mine-in-flight", "mine-unknown", "dead-here", "alive-here", "elsewhere-fresh", "elsewhere-stale"):
        journal.record(buy(cid), DEADLINE_S)
    journal.unknown(ACC, "mine-unknown", "no answer")
    host, namespace = current_owner().split(":")[:2]
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    rewrite(journal, "dead-here", owner=f"{host}:{namespace}:{finished.stdout.strip()}:1")  # that process has ended
    rewrite(journal, "alive-here", owner=f"{host}:{namespace}:1:{_start_of_init()}")  # pid 1 runs, and started then
    rewrite(journal, "elsewhere-fresh", owner="elsewhere:1:123:1", updated_at=time.time() - 10)
    rewrite(journal, "elsewhere-stale", owner="elsewhere:1:123:1", updated_at=time.time() - 600)
    assert sorted(e.client_order_id for e in journal.abandoned()) == ["dead-here", "elsewhere-stale", "mine-unknown"]
    assert len(journal.unresolved()) == 6


def test_a_sender_is_known_by_host_pid_namespace_pid_and_start():
    host, namespace, pid, _ = current_owner().split(":")
    assert (host, int(pid)) == (os.uname().nodename, os.getpid())
    assert owner_alive(current_owner()) is True
    assert owner_alive(f"{host}:{namespace}:1:{_start_of_init()}") is True
    assert owner_alive(f"{host}:{namespace}:1:0") is False  # pid 1 runs, but it is not the process that started then
    assert owner_alive(f"{host}:another-namespace:1:0") is None  # a container's pid cannot be checked from here
    assert owner_alive("another-host:1:1:0") is None


def test_a_forked_child_is_another_sender_on_a_connection_of_its_own(journal):
    journal.record(buy("parent"), DEADLINE_S)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: writes through the same journal object, then reports its owner name
        try:
            journal.record(buy("child"), DEADLINE_S)
            os.write(write, journal.entry(ACC, "child").owner.encode())
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    child_owner = os.read(read, 200).decode()
    assert child_owner.split(":")[2] == str(pid) and child_owner != current_owner()
    assert journal.entry(ACC, "child").owner == child_owner  # the parent's connection still works and sees it
    assert [e.client_order_id for e in journal.abandoned()] == ["child"]  # its sender has ended


def test_processes_writing_one_file_at_once_lose_nothing(tmp_path):
    path = tmp_path / "shared.sqlite"
    OrderJournal(path, "kis").close()
    code = ("import sys\nfrom decimal import Decimal\nfrom jts_broker import Side, limit_order\nfrom jts_broker.journal import OrderJournal\n"
            "j = OrderJournal(sys.argv[1], 'kis')\n"
            "for i in range(60):\n"
            "    o = limit_order('50000001-01', '005930', Side.BUY, 1, Decimal(79600), client_order_id=f'p{sys.argv[2]}-{i}')\n"
            "    j.record(o, 10.0); j.sending('50000001-01', o.client_order_id); j.unknown('50000001-01', o.client_order_id, 'x')\n")
    writers = [subprocess.Popen([sys.executable, "-c", code, str(path), str(n)]) for n in range(4)]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0, 0]
    journal = OrderJournal(path, "kis")
    entries = journal.entries()
    assert len(entries) == 240 and all(e.state is JournalState.UNKNOWN and e.sent_at for e in entries)
    journal.close()


def test_a_foreign_or_newer_file_is_refused_and_left_untouched(tmp_path):
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE mine (x)")
    before = foreign.read_bytes()
    with pytest.raises(ConfigurationError) as caught:
        OrderJournal(foreign, "kis")
    assert caught.value.code == "JOURNAL_UNUSABLE" and "something else" in str(caught.value)
    assert foreign.read_bytes() == before
    newer = tmp_path / "newer.sqlite"
    OrderJournal(newer, "kis").close()
    with sqlite3.connect(newer) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(ConfigurationError, match="schema version 99"):
        OrderJournal(newer, "kis")
    text = tmp_path / "text.sqlite"
    text.write_text("not a database at all, but long enough to have a header " * 10)
    with pytest.raises(ConfigurationError, match="not a SQLite database") as caught:
        OrderJournal(text, "kis")
    assert caught.value.code == "JOURNAL_UNUSABLE"


def test_a_journal_that_cannot_be_opened_now_is_not_called_foreign(tmp_path):
    # Locked by another writer: the file may hold unresolved orders; no advice to move it away.
    path = tmp_path / "locked.sqlite"
    OrderJournal(path, "kis").close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode = DELETE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(ConfigurationError) as caught:
            OrderJournal(path, "kis")  # after its 10-s busy timeout
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert caught.value.code == "JOURNAL_UNAVAILABLE" and "move the file away" not in str(caught.value)


def test_scopes_share_a_file_without_mixing(tmp_path):
    a, b = OrderJournal(tmp_path / "j.sqlite", "kis"), OrderJournal(tmp_path / "j.sqlite", "creon")
    a.record(buy("x"), DEADLINE_S)
    assert [e.scope for e in a.entries()] == ["kis"] and b.entries() == [] and b.entry(ACC, "x") is None
    b.record(buy("x", 2), DEADLINE_S)  # another broker: no clash
    assert len(a.entries()) == len(b.entries()) == 1
    a.close()
    b.close()


def test_a_claim_takes_a_client_order_id_only_when_it_is_free(journal):
    order = limit_order("A-1", "005930", Side.BUY, 1, Decimal(75000), client_order_id="claimed")
    assert journal.record(order, 10.0, claim=True)  # new: taken
    assert not journal.record(order, 10.0, claim=True)  # being sent: another call must not take it
    journal.unknown("A-1", "claimed", "no answer")
    assert not journal.record(order, 10.0, claim=True)  # unknown: not free either
    journal.not_placed("A-1", "claimed", "refused before it was handled")
    assert journal.record(order, 10.0, claim=True)  # known not placed: free to send again
    assert journal.entry("A-1", "claimed").state is JournalState.SENDING


def test_a_broker_order_id_is_bound_to_one_client_order_id_at_most(journal):
    first, second = buy("first"), buy("second")
    journal.record(first, DEADLINE_S)
    journal.record(second, DEADLINE_S)
    assert journal.placed(order_of(first, "20261202-06010-0000000001"))
    assert not journal.placed(order_of(second, "20261202-06010-0000000001"))  # the same order: refused, in one statement
    assert journal.entry(ACC, "second").state is JournalState.SENDING
    assert journal.by_order_id("20261202-06010-0000000001").client_order_id == "first"
