"""Rate limits end to end: broker windows, weights, bounded waits, usage and listeners, against a
simulator that enforces budgets like the broker it emulates."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import date

import pytest

from jts_broker import (
    BrokerConfig,
    BrokerType,
    GrpcBrokerGateway,
    RateBudget,
    RateCategory,
    RateLimit,
    RateLimiter,
    RateLimitExceeded,
    RateLimitPolicy,
    RetryPolicy,
    Side,
    Timeframe,
    limit_order,
)
from jts_broker.server import SimulatorServer
from tests.conftest import ACCOUNT
from tests.unit.test_rate_limiter import max_in_window

pytestmark = pytest.mark.integration


def test_creon_query_windows_hold_together_under_a_burst(tmp_path):
    # The burst runs in its own process, as a client of a broker would. Sharing the referee's
    # interpreter lock can delay arrivals by more than the client's margin on a loaded machine,
    # turning scheduling noise into refusals: the likely cause of one retried call on a 2-core CI run.
    policy = RateLimitPolicy.published(BrokerType.CREON)
    out = tmp_path / "stamps.txt"
    with SimulatorServer(speed=0, rate_limits=policy, broker_type=BrokerType.CREON) as referee:
        worker = subprocess.run([sys.executable, "-m", "tests.integration.load_worker", referee.target, "memory", "creon", "0",
                                 str(time.time() + 2.0), "120", str(out), "--threads", "8", "--preset", BrokerType.CREON.value, "--calls", "75"],
                                capture_output=True, text=True, timeout=120)
    assert worker.returncode == 0, worker.stderr
    stamps = sorted(float(line) for line in out.read_text().split())
    assert referee.enforcer.rejected == 0, worker.stderr  # the worker logs each retry and its status
    assert len(stamps) == 75 == referee.enforcer.admitted  # nothing retried
    assert max_in_window(stamps, 15.0) <= 60  # the 15-s window
    assert max_in_window(stamps, 1.0) <= 15  # and the per-second cap, at once
    assert stamps[-1] - stamps[0] >= 15.0  # the last 15 waited for the 15-s window


def test_creon_orders_have_their_own_budget():
    limiter = RateLimiter(RateLimitPolicy.published(BrokerType.CREON))
    for _ in range(20):
        limiter.acquire(RateCategory.ORDER, timeout_s=5)
    with pytest.raises(RateLimitExceeded):
        limiter.acquire(RateCategory.ORDER, timeout_s=0.2)  # 20 per 15 s spent
    limiter.acquire(RateCategory.QUERY, timeout_s=0.2)  # queries unaffected
    assert limiter.usage(RateCategory.ORDER).used == 20 and limiter.usage(RateCategory.QUERY).used == 1
    limiter.close()


def test_the_simulator_answers_like_the_broker_when_a_client_overruns():
    with SimulatorServer(speed=0, rate_limits=RateLimitPolicy.published(BrokerType.KIWOOM), broker_type=BrokerType.KIWOOM) as referee:
        # A client with a far larger budget than the broker's: the broker must refuse.
        greedy = GrpcBrokerGateway(BrokerConfig.from_target(referee.target, rate_limit=RateLimit(1000), retry=RetryPolicy(max_attempts=1)))
        with pytest.raises(RateLimitExceeded) as info:
            for _ in range(10):
                greedy.get_quote("005930")
        assert info.value.broker_code == "-200" and info.value.retry_after_s > 0
        with pytest.raises(RateLimitExceeded) as info:
            for i in range(10):
                greedy.place_order(limit_order(ACCOUNT, "005930", Side.BUY, 1, 150000, client_order_id=f"o-{i}"))
        assert info.value.broker_code == "-308"
        greedy.close()


def test_rpc_weights_spend_more_tokens(simulator):
    policy = RateLimitPolicy(RateBudget.of((100, 1.0)), weights={"GetCandles": 5})
    gateway = GrpcBrokerGateway(BrokerConfig.from_target(simulator.target, rate_limit=policy))
    gateway.get_quote("005930")
    gateway.get_candles("005930", Timeframe.DAY, date(2024, 1, 2), date(2024, 1, 2))
    assert gateway.rate_limiter.usage().total == 6
    gateway.close()


def test_a_bounded_wait_raises_before_any_network_call(simulator):
    policy = RateLimitPolicy(RateBudget.of((1, 5.0)), max_wait_s=0.1)
    gateway = GrpcBrokerGateway(BrokerConfig.from_target(simulator.target, rate_limit=policy))
    gateway.get_quote("005930")
    with pytest.raises(RateLimitExceeded) as info:  # rather than the token of the next 5-s window
        gateway.get_quote("005930")
    assert info.value.retry_after_s > 0 and info.value.code == "LOCAL_RATE_LIMIT"
    assert info.value.__cause__ is None  # refused locally: nothing was sent
    usage = gateway.rate_limiter.usage()
    assert (usage.total, usage.denials) == (1, 1)
    gateway.close()


def test_usage_snapshot_and_listeners():
    seen = []
    with RateLimiter(RateLimitPolicy(RateBudget.of((3, 0.3), (5, 1.0)))) as limiter:
        remove = limiter.add_listener(seen.append)
        for _ in range(3):
            limiter.acquire()
        usage = limiter.usage()
        assert [(w.used, w.limit, w.interval_s) for w in usage.windows] == [(3, 3, 0.3), (3, 5, 1.0)]
        assert usage.utilization == 1.0 and usage.waiting == 0 and usage.wait_p95_s >= usage.wait_p50_s >= 0
        assert [u.total for u in seen] == [1, 2, 3]
        remove()
        limiter.acquire()
        assert len(seen) == 3
        time.sleep(1.1)
        assert [w.used for w in limiter.usage().windows] == [0, 0]  # expired tokens are not counted


def test_a_failing_listener_does_not_break_calls():
    with RateLimiter(RateLimit(10)) as limiter:
        limiter.add_listener(lambda usage: 1 / 0)
        limiter.acquire()
        assert limiter.usage().total == 1


def test_usage_of_a_shared_budget_counts_every_user(tmp_path):
    policy = RateLimitPolicy(RateBudget.of((50, 1.0)), backend=f"sqlite:///{tmp_path / 'b.sqlite'}", key="watch")
    with RateLimiter(policy) as worker, RateLimiter(policy) as watcher:
        for _ in range(7):
            worker.acquire()
        assert watcher.usage().used == 7 and watcher.usage().total == 0
