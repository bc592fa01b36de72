"""CallPolicy, the generated clients' wrapper of every call: token, deadline, retry, mapping."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from jts_broker import BrokerUnavailable, OrderRejected, RateLimit, RateLimiter, RateLimitExceeded, RetryPolicy, Timeouts
from jts_broker.client._generated import aio_clients, clients
from jts_broker.contract._generated.pb import common_pb2
from tests.unit.test_status_mapping import FakeRpcError

FAST = RetryPolicy(max_attempts=3, initial_backoff_s=0.001, max_backoff_s=0.002)


class Flaky:
    """A stand-in multicallable failing with ``codes`` in turn, then answering "ok"."""

    def __init__(self, *codes: grpc.StatusCode) -> None:
        self.codes = list(codes)
        self.calls: list[float | None] = []

    def __call__(self, request, timeout=None, metadata=()):
        self.calls.append(timeout)
        if self.codes:
            raise FakeRpcError(self.codes.pop(0), "flaky")
        return "ok"


class AsyncFlaky(Flaky):
    async def __call__(self, request, timeout=None, metadata=()):  # type: ignore[override]
        return super().__call__(request, timeout, metadata)


READ = clients.MethodInfo("/svc/Read", read_only=True)
WRITE = clients.MethodInfo("/svc/Write", read_only=False)


@pytest.fixture
def limiter():
    with RateLimiter(RateLimit(1000)) as limiter:
        yield limiter


def run_sync(limiter, flaky, method):
    return clients.CallPolicy(limiter, Timeouts(read_s=1.5, order_s=2.5), FAST).unary(flaky, None, method)


def run_async(limiter, flaky, method):
    policy = aio_clients.CallPolicy(limiter, Timeouts(read_s=1.5, order_s=2.5), FAST)
    return asyncio.run(policy.unary(flaky, None, aio_clients.MethodInfo(method.path, method.read_only)))


@pytest.fixture(params=["sync", "async"])
def runner(request):
    return (run_sync, Flaky) if request.param == "sync" else (run_async, AsyncFlaky)


def test_reads_are_retried_on_transient_statuses(runner, limiter):
    run, make = runner
    flaky = make(grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    assert run(limiter, flaky, READ) == "ok"
    assert flaky.calls == [1.5, 1.5, 1.5]  # each attempt with the read deadline
    assert limiter.usage().total == 3  # and each took its own token


def test_retries_stop_at_max_attempts_and_raise_the_typed_error(runner, limiter):
    run, make = runner
    flaky = make(*[grpc.StatusCode.UNAVAILABLE] * 5)
    with pytest.raises(BrokerUnavailable) as info:
        run(limiter, flaky, READ)
    assert len(flaky.calls) == 3 and isinstance(info.value.__cause__, grpc.RpcError)


def test_orders_are_never_retried(runner, limiter):
    run, make = runner
    flaky = make(grpc.StatusCode.UNAVAILABLE)
    with pytest.raises(BrokerUnavailable):
        run(limiter, flaky, WRITE)
    assert flaky.calls == [2.5]  # one attempt, with the order deadline


def test_other_statuses_are_not_retried(runner, limiter):
    run, make = runner
    flaky = make(grpc.StatusCode.FAILED_PRECONDITION)
    with pytest.raises(OrderRejected):
        run(limiter, flaky, READ)
    assert len(flaky.calls) == 1


def test_each_retry_is_logged_with_its_status(runner, limiter, caplog):
    run, make = runner
    flaky = make(grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE)
    with caplog.at_level("WARNING", logger="jts_broker.policies.retrying"):
        assert run(limiter, flaky, READ) == "ok"
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith("/svc/Read failed (RESOURCE_EXHAUSTED); retrying in")
    assert lines[1].startswith("/svc/Read failed (UNAVAILABLE); retrying in")


class RateLimited(Flaky):
    """Refused once with RESOURCE_EXHAUSTED and a server retry-after, then answering."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__()
        self.detail = common_pb2.ErrorDetail(code="RATE_LIMITED", broker_code="EGW00201", retry_after_seconds=retry_after_s)
        self.times: list[float] = []

    def __call__(self, request, timeout=None, metadata=()):
        self.times.append(time.monotonic())
        if len(self.times) == 1:
            raise FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, "over the limit", self.detail)
        return "ok"


class AsyncRateLimited(RateLimited):
    async def __call__(self, request, timeout=None, metadata=()):  # type: ignore[override]
        return super().__call__(request, timeout, metadata)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_rate_limit_refusal_is_retried_no_sooner_than_the_server_asks(kind, limiter):
    flaky = (RateLimited if kind == "sync" else AsyncRateLimited)(0.3)
    assert (run_sync if kind == "sync" else run_async)(limiter, flaky, READ) == "ok"
    assert flaky.times[1] - flaky.times[0] >= 0.3  # FAST's own backoff is 1 ms


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_retry_after_beyond_the_budget_is_raised_at_once(kind, limiter):
    flaky = (RateLimited if kind == "sync" else AsyncRateLimited)(FAST.budget_s + 60)
    with pytest.raises(RateLimitExceeded) as info:
        (run_sync if kind == "sync" else run_async)(limiter, flaky, READ)
    assert len(flaky.times) == 1 and info.value.retry_after_s == FAST.budget_s + 60 and info.value.broker_code == "EGW00201"


def test_tenacity_waits_for_the_retry_after_too(limiter):
    """Later retries (run by tenacity) honour it as well: refused twice, 0.2 s asked each time."""
    detail = common_pb2.ErrorDetail(retry_after_seconds=0.2)
    times: list[float] = []

    def twice_refused(request, timeout=None, metadata=()):
        times.append(time.monotonic())
        if len(times) <= 2:
            raise FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, "over", detail)
        return "ok"

    assert run_sync(limiter, twice_refused, READ) == "ok"
    assert times[1] - times[0] >= 0.2 and times[2] - times[1] >= 0.2
