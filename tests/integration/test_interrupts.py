"""An interrupt is an interrupt: Ctrl-C (a real SIGINT to a real client process) and asyncio
cancellations propagate unchanged from every wait of the SDK, and leave no waiter behind."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys

import pytest

from jts_broker import (
    AsyncGrpcBrokerGateway,
    BrokerConfig,
    JournalState,
    OrderJournal,
    RateLimit,
    RetryPolicy,
    Side,
    limit_order,
)
from jts_broker.client.config_file import default_journal_path
from jts_broker.server import SimulatorServer
from jts_broker.server.faults import FaultPlan
from tests.conftest import ACCOUNT, wait_until
from tests.processes import free_port

pytestmark = pytest.mark.integration


def interrupted(scenario: str, target: str, ready: object = None) -> dict:
    """Run the worker's ``scenario``, wait until it is inside its wait (and ``ready()`` holds),
    send it SIGINT, and return its report."""
    worker = subprocess.Popen([sys.executable, "-m", "tests.integration.interrupt_worker", scenario, target],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert worker.stdout.readline().strip() == "waiting", worker.stderr.read()
        if ready is not None:
            wait_until(ready, what="the worker inside its wait")
        worker.send_signal(signal.SIGINT)
        out, err = worker.communicate(timeout=30)
    finally:
        worker.kill()
    assert worker.returncode != 0 and "KeyboardInterrupt" in err, err  # it ended as an interrupt
    assert "RateLimitExceeded" not in err and "LOCAL_RATE_LIMIT" not in err, err
    return json.loads(out.strip().splitlines()[-1])


def test_ctrl_c_while_queued_for_a_rate_limit_token(simulator):
    report = interrupted("rate-limit", simulator.target)
    assert report == {"raised": "KeyboardInterrupt", "waiting": 0, "denials": 0, "total": 1}


def test_ctrl_c_at_the_fifo_gate_lets_the_next_caller_through():
    report = interrupted("gate", "unused")
    assert report == {"raised": "KeyboardInterrupt", "next_served": True, "waiting": 0}


def test_ctrl_c_during_a_retry_backoff(simulator):
    simulator.faults.set(FaultPlan(error_rates={"UNAVAILABLE": 1.0}, methods=frozenset({"GetQuote"})))
    report = interrupted("backoff", simulator.target, ready=lambda: simulator.faults.injected_errors >= 1)
    assert report == {"raised": "KeyboardInterrupt"}


def test_ctrl_c_during_order_recovery_says_the_order_may_exist(simulator):
    simulator.faults.set(FaultPlan(drop_after_commit=1.0, methods=frozenset({"PlaceOrder"})),
                         FaultPlan(error_rates={"UNAVAILABLE": 1.0}, methods=frozenset({"GetOrder"})))
    report = interrupted("recovery", simulator.target, ready=lambda: simulator.faults.injected_errors >= 2)
    assert report["raised"] == "KeyboardInterrupt" and not report["unknown"]
    assert any("interrupted-1" in note and "get_order_by_client_id" in note for note in report["notes"])
    assert [o.client_order_id for o in simulator.broker.orders(ACCOUNT)] == ["interrupted-1"]  # placed once, and named
    journal = OrderJournal(default_journal_path(), "kis")
    [entry] = journal.unresolved()  # the order journal knows it is open: the next connect() settles it
    assert (entry.client_order_id, entry.state, entry.detail) == ("interrupted-1", JournalState.UNKNOWN, "interrupted (KeyboardInterrupt)")
    journal.close()


def test_ctrl_c_during_a_first_connect():
    report = interrupted("connect", f"127.0.0.1:{free_port()}")
    assert report == {"raised": "KeyboardInterrupt", "status": "disconnected"}


# -- asyncio cancellations -------------------------------------------------------------------------


def _async_config(server: SimulatorServer, **kwargs) -> BrokerConfig:
    return BrokerConfig.from_target(server.target, **kwargs)


def test_wait_for_timeout_while_queued_for_a_token_is_a_timeout(simulator):
    async def run():
        async with AsyncGrpcBrokerGateway(_async_config(simulator, rate_limit=RateLimit(1, 600.0))) as gateway:
            await gateway.get_quote("005930")
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(gateway.get_quote("005930"), 0.3)
            usage = gateway.rate_limiter.usage()
            return usage.waiting, usage.denials, usage.total

    assert asyncio.run(run()) == (0, 0, 1)


def test_a_cancelled_task_is_cancelled_from_every_wait(simulator):
    simulator.faults.set(FaultPlan(error_rates={"UNAVAILABLE": 1.0}, methods=frozenset({"GetQuote"})))
    retry = RetryPolicy(max_attempts=10, initial_backoff_s=60.0, max_backoff_s=60.0, budget_s=600.0)

    async def run():
        async with AsyncGrpcBrokerGateway(_async_config(simulator, rate_limit=RateLimit(1000), retry=retry)) as gateway:
            task = asyncio.ensure_future(gateway.get_quote("005930"))
            while simulator.faults.injected_errors < 1:  # the first attempt failed: it sleeps in its backoff
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(run())


def test_a_cancelled_place_order_under_recovery_stays_cancelled_and_names_the_order(simulator):
    simulator.faults.set(FaultPlan(drop_after_commit=1.0, methods=frozenset({"PlaceOrder"})),
                         FaultPlan(error_rates={"UNAVAILABLE": 1.0}, methods=frozenset({"GetOrder"})))
    retry = RetryPolicy(initial_backoff_s=0.05, max_backoff_s=60.0, budget_s=600.0)

    async def run():
        async with AsyncGrpcBrokerGateway(_async_config(simulator, rate_limit=RateLimit(1000), retry=retry)) as gateway:
            quote = simulator.market.quote("229200")
            order = limit_order(ACCOUNT, "229200", Side.BUY, 1, quote.lower_limit, client_order_id="cancelled-1")
            task = asyncio.ensure_future(gateway.place_order(order))
            while simulator.faults.injected_errors < 1:  # the answer was lost and a lookup failed
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError) as caught:
                await task
            return caught.value, gateway.unresolved_orders()

    error, unresolved = asyncio.run(run())
    assert [(e.client_order_id, e.state) for e in unresolved] == [("cancelled-1", JournalState.UNKNOWN)]
    assert any("cancelled-1" in note for note in getattr(error, "__notes__", []))
    assert [o.client_order_id for o in simulator.broker.orders(ACCOUNT)] == ["cancelled-1"]
