"""The order journal across real crashes: a client process killed with SIGKILL while its order is
in flight leaves an entry that the next process settles, to exactly one order at the broker."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from jts_broker import (
    AccountNotFound,
    BrokerConfig,
    BrokerUnavailable,
    ConnectionStatus,
    DuplicateClientOrderId,
    GrpcBrokerGateway,
    JournalState,
    OrderRejected,
    OrderStatus,
    OrderStatusUnknown,
    RateLimit,
    RetryPolicy,
    Side,
    Timeouts,
    limit_order,
)
from jts_broker.client.config_file import default_journal_path
from jts_broker.domain.errors import ConfigurationError
from jts_broker.journal import OrderJournal
from jts_broker.server.faults import FaultPlan
from tests.conftest import ACCOUNT, wait_until

pytestmark = pytest.mark.integration

SYMBOL = "229200"


def worker(*argv: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.integration.journal_worker", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def reconciled(target: str, journal: str, client_order_id: str) -> dict:
    process = worker("reconcile", target, journal, client_order_id)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def killed_while(scenario: str, target: str, journal: str, client_order_id: str, when) -> None:
    process = worker(scenario, target, journal, client_order_id)
    try:
        assert process.stdout.readline().strip() == "sending", process.stderr.read()
        wait_until(when, what="the order in flight")
        process.send_signal(signal.SIGKILL)  # a crash: no handler, no cleanup, no goodbye
        process.wait(timeout=30)
    finally:
        process.kill()
        process.communicate()
    assert process.returncode == -signal.SIGKILL


def test_an_order_in_flight_when_its_process_was_killed_is_settled_by_the_next_process(simulator, tmp_path):
    # The simulator takes the order and holds its answer back: the sender dies waiting for it.
    simulator.faults.set(FaultPlan(drop_after_commit=1.0, drop_as="deadline", methods=frozenset({"PlaceOrder"})))
    journal = str(tmp_path / "journal.sqlite")
    killed_while("send", simulator.target, journal, "crash-1", lambda: simulator.broker.orders(ACCOUNT))

    left = OrderJournal(tmp_path / "journal.sqlite", "kis")
    [entry] = left.unresolved()
    assert (entry.client_order_id, entry.state) == ("crash-1", JournalState.SENDING)  # written before it left, never answered
    left.close()

    simulator.faults.clear()
    report = reconciled(simulator.target, journal, "crash-1")
    [order] = simulator.broker.orders(ACCOUNT)
    assert report == {"before": ["crash-1"], "after": [], "state": "placed", "order_id": order.order_id}
    assert order.client_order_id == "crash-1"  # exactly one order at the broker, now bound in the journal


def test_an_order_killed_before_it_left_is_settled_as_not_placed(simulator, tmp_path):
    # Written to the journal, then waiting for a rate-limit token when the process died: it never
    # left (no send time), so nothing of it can still arrive, and a lookup that finds nothing
    # settles it as NOT_PLACED at once.
    journal = str(tmp_path / "journal.sqlite")
    killed_while("queued", simulator.target, journal, "never-left", lambda: _state(tmp_path, simulator, "never-left") is JournalState.SENDING)
    report = reconciled(simulator.target, journal, "never-left")
    assert report == {"before": ["never-left"], "after": [], "state": "not_placed", "order_id": ""}
    assert simulator.broker.orders(ACCOUNT) == []


def _state(tmp_path, simulator, client_order_id: str) -> JournalState | None:
    path = tmp_path / "journal.sqlite"
    if not path.exists():
        return None
    journal = OrderJournal(path, "kis")
    try:
        entry = journal.entry(ACCOUNT, client_order_id)
        return entry.state if entry else None
    finally:
        journal.close()


def _config(simulator, **kwargs) -> BrokerConfig:
    return BrokerConfig.from_target(simulator.target, rate_limit=RateLimit(1000), **kwargs)


def _resting_buy(simulator, client_order_id: str, quantity: int = 1):
    return limit_order(ACCOUNT, SYMBOL, Side.BUY, quantity, simulator.market.quote(SYMBOL).lower_limit, client_order_id=client_order_id)


def test_every_outcome_is_written_down(simulator):
    with GrpcBrokerGateway(_config(simulator)) as gateway:
        placed = gateway.place_order(_resting_buy(simulator, "ok-1"))
        below = simulator.market.quote(SYMBOL).lower_limit - 5  # on the ETF's 5-won grid, under the daily limit
        with pytest.raises(OrderRejected):
            gateway.place_order(limit_order(ACCOUNT, SYMBOL, Side.BUY, 1, below, client_order_id="too-low"))
        with pytest.raises(AccountNotFound):
            gateway.place_order(limit_order("99999999-01", SYMBOL, Side.BUY, 1, below + 5, client_order_id="no-account"))
        journal = gateway.order_journal
        assert journal.path == default_journal_path()  # on by default, in the user data folder
        ok, low, nowhere = journal.entry(ACCOUNT, "ok-1"), journal.entry(ACCOUNT, "too-low"), journal.entry("99999999-01", "no-account")
        assert (ok.state, ok.order_id, ok.status) == (JournalState.PLACED, placed.order_id, OrderStatus.ACCEPTED)
        assert ok.request == _resting_buy(simulator, "ok-1") and ok.created_at.tzinfo is not None
        assert low.state is JournalState.REJECTED and low.order_id and "PRICE_LIMIT" in low.detail
        assert nowhere.state is JournalState.NOT_PLACED and "not known" in nowhere.detail
        assert gateway.unresolved_orders() == []


def test_an_order_whose_fate_is_unknown_stays_open_until_a_lookup_settles_it(simulator):
    retry = RetryPolicy(initial_backoff_s=0.02, max_backoff_s=0.05, budget_s=0.3)
    with GrpcBrokerGateway(_config(simulator, retry=retry)) as gateway:
        simulator.faults.set(FaultPlan(drop_after_commit=1.0, methods=frozenset({"PlaceOrder"})),
                             FaultPlan(error_rates={"UNAVAILABLE": 1.0}, methods=frozenset({"GetOrder"})))
        with pytest.raises(OrderStatusUnknown):
            gateway.place_order(_resting_buy(simulator, "fate-1"))
        [entry] = gateway.unresolved_orders()
        assert (entry.client_order_id, entry.state) == ("fate-1", JournalState.UNKNOWN)
        simulator.faults.clear()
        assert gateway.reconcile_orders() == []
        assert gateway.order_journal.entry(ACCOUNT, "fate-1").state is JournalState.PLACED


def test_a_client_order_id_the_journal_knows_for_another_order_is_refused_before_sending(simulator):
    with GrpcBrokerGateway(_config(simulator)) as gateway:
        gateway.place_order(_resting_buy(simulator, "mine-1"))
        with pytest.raises(DuplicateClientOrderId) as caught:
            gateway.place_order(_resting_buy(simulator, "mine-1", quantity=2))
        assert "not sent" in str(caught.value)
        again = gateway.place_order(_resting_buy(simulator, "mine-1"))  # the same order again: the broker's duplicate
        assert again.duplicate
    assert [o.quantity for o in simulator.broker.orders(ACCOUNT)] == [1]


def test_an_order_the_journal_cannot_record_is_not_sent(simulator):
    with GrpcBrokerGateway(_config(simulator)) as gateway:
        journal = gateway.order_journal
        pages = journal._db.execute("PRAGMA page_count").fetchone()[0]
        journal._db.execute(f"PRAGMA max_page_count = {pages}")  # a full disk, as SQLite sees it
        with pytest.raises(ConfigurationError) as caught:
            for i in range(200):  # the first insert that needs a new page fails
                gateway.place_order(_resting_buy(simulator, f"full-{i}"))
        assert caught.value.code == "JOURNAL_WRITE" and "was not sent" in str(caught.value)
    sent = {o.client_order_id for o in simulator.broker.orders(ACCOUNT)}
    assert f"full-{i}" not in sent and len(sent) == i


def test_the_journal_can_be_turned_off(simulator, tmp_path):
    with GrpcBrokerGateway(_config(simulator, order_journal="none")) as gateway:
        gateway.place_order(_resting_buy(simulator, "no-journal"))
        assert gateway.order_journal is None and gateway.unresolved_orders() == [] and gateway.reconcile_orders() == []
    assert not default_journal_path().exists()


def test_a_gateway_that_connected_in_the_background_settles_the_journal_before_its_first_order(simulator):
    # A crashed run left "left-open" unresolved (the broker has it); this run's first connect fails
    # and the gateway connects in the background: its first order must not go out before the
    # journal is settled.
    with GrpcBrokerGateway(_config(simulator, order_journal="none")) as other:
        held = other.place_order(_resting_buy(simulator, "left-open"))
    journal = OrderJournal(default_journal_path(), "kis")
    journal.record(_resting_buy(simulator, "left-open"), 10.0)
    journal.unknown(ACCOUNT, "left-open", "the process was killed")
    journal.close()
    simulator.stop(0)
    gateway = GrpcBrokerGateway(_config(simulator, timeouts=Timeouts(connect_s=0.3)))
    with pytest.raises(BrokerUnavailable):
        gateway.connect()
    simulator.start()  # the same port
    wait_until(lambda: gateway.status is ConnectionStatus.CONNECTED, what="the background reconnect")
    gateway.place_order(_resting_buy(simulator, "next-1"))
    entry = gateway.order_journal.entry(ACCOUNT, "left-open")
    assert (entry.state, entry.order_id) == (JournalState.PLACED, held.order_id)
    gateway.close()


def test_an_answer_that_cannot_be_read_leaves_the_order_open_not_refused(simulator, monkeypatch):
    # The broker took the order and answered; this SDK cannot read the answer (a newer server's
    # status, a malformed message). Whatever it says, the order is at the broker.
    from jts_broker.contract._generated import mappers
    from jts_broker.domain.errors import ServerError

    def unreadable(message):
        raise ServerError("malformed message: PlaceOrderResponse.order.status is missing", code="MALFORMED_MESSAGE")

    with GrpcBrokerGateway(_config(simulator)) as gateway:
        monkeypatch.setattr(mappers, "order_result_from_proto", unreadable)
        with pytest.raises(OrderStatusUnknown) as caught:
            gateway.place_order(_resting_buy(simulator, "unreadable"))
        monkeypatch.undo()
        assert caught.value.client_order_id == "unreadable"
        assert gateway.order_journal.entry(ACCOUNT, "unreadable").state is JournalState.UNKNOWN
        assert gateway.reconcile_orders() == []  # the next lookup settles it
        assert gateway.order_journal.entry(ACCOUNT, "unreadable").state is JournalState.PLACED
    assert [o.client_order_id for o in simulator.broker.orders(ACCOUNT)] == ["unreadable"]


def test_a_resend_refused_for_another_reason_than_the_order_leaves_it_open(simulator):
    # The first request is lost (before the broker), the lookup finds nothing, and the resend is
    # refused for the credentials: the first request could still arrive, so the order is
    # unknown, never "not placed".
    retry = RetryPolicy(initial_backoff_s=0.02, max_backoff_s=0.05, budget_s=2.0)
    with GrpcBrokerGateway(_config(simulator, retry=retry)) as gateway:
        simulator.faults.set(FaultPlan(error_rates={"UNAVAILABLE": 1.0}, methods=frozenset({"PlaceOrder"}), limit=1),
                             FaultPlan(error_rates={"PERMISSION_DENIED": 1.0}, methods=frozenset({"PlaceOrder"}), limit=1))
        with pytest.raises(OrderStatusUnknown) as caught:
            gateway.place_order(_resting_buy(simulator, "refused-resend"))
        assert caught.value.status == "PERMISSION_DENIED"
        entry = gateway.order_journal.entry(ACCOUNT, "refused-resend")
        assert entry.state is JournalState.UNKNOWN and entry.sent_at is not None


OPEN_TOGETHER = """
import sys, time
from pathlib import Path
from jts_broker.journal import OrderJournal
start_at = float(sys.argv[2])
while time.time() < start_at:
    pass
try:
    OrderJournal(Path(sys.argv[1]), "together")
    print("ok")
except Exception as exc:
    print(f"failed: {exc}")
"""


def test_processes_opening_a_new_journal_together_all_open_it(tmp_path):
    # SQLite refuses a journal-mode change that meets another connection's lock at once (no busy
    # wait), and a process could read the meta table between another's CREATE and INSERT: four
    # workers of one app starting together once failed with "database is locked" or "belongs to None".
    for round_ in range(3):
        path = tmp_path / f"journal-{round_}.sqlite"
        start_at = f"{time.time() + 1.5:.3f}"  # all past their imports, then at once
        processes = [subprocess.Popen([sys.executable, "-c", OPEN_TOGETHER, str(path), start_at], stdout=subprocess.PIPE, text=True)
                     for _ in range(8)]
        outcomes = [p.communicate(timeout=60)[0].strip() for p in processes]
        assert outcomes == ["ok"] * 8, outcomes
        assert OrderJournal(path, "together").entries() == []
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
