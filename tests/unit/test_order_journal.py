"""OrderJournal on a real SQLite file: what it keeps, which entries it hands to reconciliation,
and the files it refuses."""

from __future__ import annotations

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
from jts_broker.journal import OWNER, OrderJournal, owner_alive

ACC = "50000001-01"


@pytest.fixture
def journal(tmp_path):
    j = OrderJournal(tmp_path / "j.sqlite", "kis@127.0.0.1:50551", stale_after_s=60)
    yield j
    j.close()


def order_of(request, order_id: str = "SIM-1", status: OrderStatus = OrderStatus.ACCEPTED) -> Order:
    now = datetime.now(KST)
    return Order(order_id, request.client_order_id, request.account_id, request.symbol, request.side, request.order_type, request.time_in_force,
                 request.quantity, request.price, status, 0, None, Decimal(0), Decimal(0), "", "", now, now)


def set_owner(journal: OrderJournal, client_order_id: str, owner: str, age_s: float = 0.0) -> None:
    journal._db.execute("UPDATE orders SET owner = ?, updated_at = ? WHERE client_order_id = ?", (owner, time.time() - age_s, client_order_id))


def test_an_order_is_kept_exactly_from_sending_to_placed(journal):
    request = limit_order(ACC, "005930", Side.BUY, 3, Decimal("79600"), client_order_id="a-1")
    journal.record(request)
    [entry] = journal.unresolved()
    assert entry.state is JournalState.SENDING and entry.request == request and entry.owner == OWNER
    assert isinstance(entry.request.price, Decimal) and entry.created_at.tzinfo is not None
    journal.placed(order_of(request, "SIM-7"))
    entry = journal.entry(ACC, "a-1")
    assert (entry.state, entry.order_id, entry.status) == (JournalState.PLACED, "SIM-7", OrderStatus.ACCEPTED)
    assert journal.by_order_id("SIM-7") == entry and journal.unresolved() == []


def test_market_orders_and_every_field_round_trip(journal):
    request = market_order(ACC, "0000J0", Side.SELL, 10, time_in_force=TimeInForce.IOC, client_order_id="m-1")
    journal.record(request)
    got = journal.entry(ACC, "m-1").request
    assert got == request and got.order_type is OrderType.MARKET and got.price is None


def test_sending_the_same_order_again_reopens_it_and_another_order_under_its_id_is_refused(journal):
    request = limit_order(ACC, "005930", Side.BUY, 3, 79600, client_order_id="a-1")
    journal.record(request)
    journal.placed(order_of(request))
    journal.record(request)  # a resend of the same order: the broker will answer "duplicate"
    assert journal.entry(ACC, "a-1").state is JournalState.SENDING
    with pytest.raises(DuplicateClientOrderId):
        journal.record(limit_order(ACC, "005930", Side.BUY, 4, 79600, client_order_id="a-1"))
    assert journal.entry(ACC, "a-1").request == request  # the first order's entry is untouched
    journal.record(limit_order("50000002-01", "005930", Side.BUY, 4, 79600, client_order_id="a-1"))  # ids are per account


def test_outcomes_that_settle_an_order(journal):
    for cid in ("r", "n", "u"):
        journal.record(limit_order(ACC, "005930", Side.BUY, 1, 79600, client_order_id=cid))
    journal.rejected(ACC, "r", "off the tick grid", order_id="SIM-2")
    journal.not_placed(ACC, "n", "account not known")
    journal.unknown(ACC, "u", "no answer")
    states = {e.client_order_id: e.state for e in journal.entries()}
    assert states == {"r": JournalState.REJECTED, "n": JournalState.NOT_PLACED, "u": JournalState.UNKNOWN}
    assert [e.client_order_id for e in journal.unresolved()] == ["u"]


def test_only_orders_no_live_call_is_settling_are_handed_to_reconciliation(journal):
    for cid in ("mine-in-flight", "mine-unknown", "dead-here", "alive-here", "other-host-fresh", "other-host-stale"):
        journal.record(limit_order(ACC, "005930", Side.BUY, 1, 79600, client_order_id=cid))
    journal.unknown(ACC, "mine-unknown", "no answer")
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    host = OWNER.split(":")[0]
    set_owner(journal, "dead-here", f"{host}:{finished.stdout.strip()}:1")  # that process has ended
    set_owner(journal, "alive-here", f"{host}:1:{_start_of_init()}")  # pid 1 runs, and started then
    set_owner(journal, "other-host-fresh", "elsewhere:123:1", age_s=10)
    set_owner(journal, "other-host-stale", "elsewhere:123:1", age_s=600)
    assert sorted(e.client_order_id for e in journal.abandoned()) == ["dead-here", "mine-unknown", "other-host-stale"]
    assert len(journal.unresolved()) == 6


def _start_of_init() -> str:
    return open("/proc/1/stat").read().rsplit(")", 1)[1].split()[19]


def test_a_reused_pid_is_not_taken_for_the_sender():
    host = OWNER.split(":")[0]
    assert owner_alive(OWNER) is True
    assert owner_alive(f"{host}:1:{_start_of_init()}") is True
    assert owner_alive(f"{host}:1:0") is False  # pid 1 runs, but it is not the process that started then
    assert owner_alive("another-host:1:0") is None


def test_a_foreign_or_newer_file_is_refused_and_left_untouched(tmp_path):
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE mine (x)")
    before = foreign.read_bytes()
    with pytest.raises(ConfigurationError) as caught:
        OrderJournal(foreign, "s")
    assert caught.value.code == "JOURNAL_UNUSABLE" and "something else" in str(caught.value)
    assert foreign.read_bytes() == before
    newer = tmp_path / "newer.sqlite"
    OrderJournal(newer, "s").close()
    with sqlite3.connect(newer) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(ConfigurationError, match="schema version 99"):
        OrderJournal(newer, "s")
    text = tmp_path / "text.sqlite"
    text.write_text("not a database at all, but long enough to have a header " * 10)
    with pytest.raises(ConfigurationError, match="not a SQLite database"):
        OrderJournal(text, "s")


def test_scopes_share_a_file_without_mixing(tmp_path):
    a, b = OrderJournal(tmp_path / "j.sqlite", "kis@a:1"), OrderJournal(tmp_path / "j.sqlite", "kis@b:1")
    a.record(limit_order(ACC, "005930", Side.BUY, 1, 79600, client_order_id="x"))
    assert [e.scope for e in a.entries()] == ["kis@a:1"] and b.entries() == [] and b.entry(ACC, "x") is None
    b.record(limit_order(ACC, "005930", Side.BUY, 2, 79600, client_order_id="x"))  # another broker: no clash
    assert len(a.entries()) == len(b.entries()) == 1
    a.close()
    b.close()
