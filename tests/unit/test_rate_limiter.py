"""The budget is never exceeded, callers at capacity wait, and the usage snapshot is right."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from jts_broker import BrokerType, InvalidRequest, RateBudget, RateCategory, RateLimit, RateLimiter, RateLimitExceeded, RateLimitPolicy
from jts_broker.domain.errors import ConfigurationError
from tests.conftest import wait_until


def max_in_window(stamps: list[float], window_s: float) -> int:
    stamps = sorted(stamps)
    best, lo = 0, 0
    for hi, t in enumerate(stamps):
        while t - stamps[lo] >= window_s:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def test_presets_follow_the_spec():
    assert RateLimit.for_broker(BrokerType.KIS) == RateLimit(20, 1.0)
    assert RateLimit.for_broker(BrokerType.CREON) == RateLimit(15, 1.0)
    assert RateLimit.for_broker(BrokerType.KIWOOM) == RateLimit(5, 1.0)


@pytest.mark.parametrize("bad", [dict(limit=0), dict(limit=1.5), dict(limit=5, interval_s=0)])
def test_bad_budgets_are_configuration_errors(bad):
    with pytest.raises(ConfigurationError):
        RateLimit(**bad)


def test_sixteen_threads_never_exceed_the_budget():
    limit = 10
    stamps: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + 2.5
    with RateLimiter(RateLimit(limit, 1.0)) as limiter:

        def worker() -> None:
            while time.monotonic() < stop_at:
                limiter.acquire()
                with lock:
                    stamps.append(time.monotonic())

        threads = [threading.Thread(target=worker) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert max_in_window(stamps, 1.0) <= limit
    assert len(stamps) >= 2 * limit  # it did run at the budget, not far below it


def test_a_call_at_capacity_waits_then_succeeds():
    with RateLimiter(RateLimit(2, 0.5)) as limiter:
        started = time.monotonic()
        for _ in range(3):
            limiter.acquire()
        # The third token exists only once the first has left its window (0.5 s + the margin).
        assert time.monotonic() - started >= 0.5 + limiter.policy.margin_s
        assert limiter.usage().total == 3


def test_tokens_are_paced_rather_than_released_in_bursts():
    stamps = []
    with RateLimiter(RateLimit(20, 1.0)) as limiter:
        for _ in range(20):
            limiter.acquire()
            stamps.append(time.monotonic())
    # 2 per 100 ms: no 100-ms span holds more than 2 of the 20, and all 20 take about 0.9 s.
    assert max_in_window(stamps, 0.099) <= 2
    assert stamps[-1] - stamps[0] >= 0.85


def test_a_bounded_wait_raises_with_retry_after():
    with RateLimiter(RateLimit(1, 5.0)) as limiter:
        limiter.acquire()
        with pytest.raises(RateLimitExceeded) as info:
            limiter.acquire(timeout_s=0.05)
        assert info.value.retry_after_s > 0
        assert limiter.usage().used == 1  # the denied call took nothing


def test_usage_counts_the_window_and_the_waiting():
    with RateLimiter(RateLimit(3, 0.4)) as limiter:
        for _ in range(3):
            limiter.acquire()
        usage = limiter.usage()
        assert (usage.used, usage.limit, usage.window_s, usage.utilization) == (3, 3, 0.4, 1.0)
        waiter = threading.Thread(target=limiter.acquire)
        waiter.start()
        deadline = time.monotonic() + 1
        while limiter.usage().waiting == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert limiter.usage().waiting in (0, 1)  # it may already have been served
        waiter.join()
        time.sleep(0.45)
        assert limiter.usage().used == 0  # expired tokens no longer count
        assert limiter.usage().total == 4


def test_weight_outside_the_budget_is_refused():
    with RateLimiter(RateLimit(3)) as limiter, pytest.raises(InvalidRequest):
        limiter.acquire(weight=4)


def test_async_acquire_does_not_block_the_event_loop():
    async def scenario() -> tuple[int, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        with RateLimiter(RateLimit(2, 0.5)) as limiter:
            task = asyncio.create_task(ticker())
            for _ in range(4):  # the last two wait about half a second
                await limiter.acquire_async()
            task.cancel()
            return ticks, limiter.usage().total

    ticks, total = asyncio.run(scenario())
    assert total == 4
    assert ticks >= 10  # the loop kept running while callers waited


def test_published_presets():
    from jts_broker import AccountType, RateBudget, RateCategory, RateLimitPolicy

    kis = RateLimitPolicy.published(BrokerType.KIS)
    assert kis.query == RateBudget.of((18, 1.0)) and kis.categories == (RateCategory.QUERY,)
    assert RateLimitPolicy.published(BrokerType.KIS, AccountType.PAPER).query == RateBudget.of((1, 1.0))
    creon = RateLimitPolicy.published(BrokerType.CREON)
    assert creon.query == RateBudget.of((15, 1.0), (60, 15.0)) and creon.order == RateBudget.of((20, 15.0))
    kiwoom = RateLimitPolicy.published(BrokerType.KIWOOM)
    assert kiwoom.query == kiwoom.order == RateBudget.of((5, 1.0))
    assert kis.budget(RateCategory.ORDER) is kis.query  # KIS counts every call together


@pytest.mark.parametrize("windows", [((20, 1.0), (10, 15.0)), ((20, 1.0), (30, 1.0)), ((5, 1.0), (60, 2.0))])
def test_windows_must_grow_without_raising_the_rate(windows):
    from jts_broker import RateBudget

    with pytest.raises(ConfigurationError):
        RateBudget.of(*windows)


def test_policy_checks_its_values():
    from jts_broker import RateBudget, RateLimitPolicy

    budget = RateBudget.of((5, 1.0))
    for bad in (dict(weights={"GetCandles": 0}), dict(max_wait_s=-1), dict(backend="mysql://x"), dict(margin_s=2)):
        with pytest.raises(ConfigurationError):
            RateLimitPolicy(budget, **bad)


def test_waiting_threads_are_served_in_arrival_order():
    # Each thread arrives once the one before it is in line: the order of arrival is known, and
    # the FIFO gate must serve exactly that order (pyrate-limiter alone serves about half of the
    # pairs in order; `make bench` measures arrivals that race).
    served: list[int] = []
    with RateLimiter(RateLimit(5, 0.5)) as limiter:
        for _ in range(5):
            limiter.acquire()
        gate = limiter._budgets[RateCategory.QUERY].gate
        leave = gate.leave

        def record_and_leave(ticket: object) -> None:  # admissions in the order they happen, under the gate
            if gate._queue and gate._queue[0] is ticket:
                served.append(int(threading.current_thread().name))
            leave(ticket)

        gate.leave = record_and_leave  # type: ignore[method-assign]
        threads = []
        for i in range(12):
            threads.append(threading.Thread(target=limiter.acquire, name=str(i)))
            threads[-1].start()
            wait_until(lambda i=i: len(gate._queue) + len(served) >= i + 1, what=f"thread {i} in line")
        for t in threads:
            t.join()
    assert served == list(range(12))


def test_waiting_coroutines_are_served_in_arrival_order():
    async def scenario() -> list[int]:
        served: list[int] = []
        with RateLimiter(RateLimit(5, 0.5)) as limiter:
            for _ in range(5):
                await limiter.acquire_async()

            async def wait(i: int) -> None:
                await limiter.acquire_async()
                served.append(i)

            tasks = []
            for i in range(12):
                tasks.append(asyncio.create_task(wait(i)))
                while limiter.usage().waiting + len(served) < i + 1:  # task i has reached the limiter
                    await asyncio.sleep(0)
                for _ in range(3):  # and its turn at pyrate-limiter's lock (the loop runs ready tasks in order)
                    await asyncio.sleep(0)
            await asyncio.gather(*tasks)
        return served

    assert asyncio.run(scenario()) == list(range(12))


def test_a_queued_caller_gives_up_at_its_own_deadline():
    with RateLimiter(RateLimit(1, 2.0)) as limiter:
        limiter.acquire()
        head = threading.Thread(target=limiter.acquire)  # waits about 2 s at the head of the line
        head.start()
        time.sleep(0.05)
        with pytest.raises(RateLimitExceeded):  # rather than its turn, about 2 s later
            limiter.acquire(timeout_s=0.2)
        head.join()
        assert limiter.usage().denials == 1 and limiter.usage().total == 2


def test_a_free_token_is_taken_on_the_spot_and_a_spent_budget_still_waits(monkeypatch):
    limiter = RateLimiter(RateLimit(100, 1.0))  # paced 10 per 100 ms: ten tokens free at once
    budget = limiter._budgets[RateCategory.QUERY]
    taken: list[tuple[bool | None, str]] = []
    waits: list[str] = []
    take_now, try_acquire_async = budget.store.take_now, budget.limiter.try_acquire_async

    def spy_take(weight: int) -> bool | None:
        got = take_now(weight)
        taken.append((got, threading.current_thread().name))
        return got

    async def spy_wait(*args, **kwargs) -> bool:
        waits.append(threading.current_thread().name)
        return await try_acquire_async(*args, **kwargs)

    monkeypatch.setattr(budget.store, "take_now", spy_take)
    monkeypatch.setattr(budget.limiter, "try_acquire_async", spy_wait)

    async def spend() -> float:
        for _ in range(10):
            await limiter.acquire_async()  # free: taken from the bucket directly, on the loop's thread
        started = time.monotonic()
        await limiter.acquire_async()  # the eleventh: pyrate-limiter waits for the pacing window
        return time.monotonic() - started

    try:
        waited = asyncio.run(spend())
        assert taken[:10] == [(True, "MainThread")] * 10 and waits == ["MainThread"]  # no thread hop either way
        assert taken[10][0] is False and waited > 0.05
        assert limiter.usage().total == 11 and limiter.usage().windows[0].used <= 11
    finally:
        limiter.close()


def test_a_configured_weight_heavier_than_the_pacing_step_is_admitted():
    # 20/s is paced 2 per 100 ms; a call of weight 5 used to wait forever for 5 tokens in a window of 2.
    policy = RateLimitPolicy(RateBudget.of((20, 1.0)), weights={"GetCandles": 5})
    with RateLimiter(policy) as limiter:
        limiter.acquire(weight=limiter.weight_of("GetCandles"), timeout_s=2.0)
        assert limiter.usage().total == 5
    with RateLimiter(RateLimit(20, 1.0)) as limiter, pytest.raises(InvalidRequest, match=r"weight must be 1\.\.2 "):
        limiter.acquire(weight=3)  # not configured: refused at once, not a wait that cannot end


def test_a_free_token_is_not_taken_ahead_of_a_caller_that_waits():
    # 20/s paced 5 per 250 ms (the pacing window holds the heaviest weight, 5). Three tokens spent
    # leave two free now; a call of weight 5 waits for the pacing window. A later call of weight 1
    # finds a token free, but someone waits: it must queue behind them, not take it on the spot.
    policy = RateLimitPolicy(RateBudget.of((20, 1.0)), weights={"GetCandles": 5})
    with RateLimiter(policy) as limiter:
        for _ in range(3):
            limiter.acquire()
        heavy = threading.Thread(target=limiter.acquire, kwargs=dict(weight=5))
        heavy.start()
        wait_until(lambda: limiter.usage().waiting == 1, what="the heavy call waiting")
        with pytest.raises(RateLimitExceeded):
            limiter.acquire(timeout_s=0.05)
        heavy.join()
        assert limiter.usage().total == 8 and limiter.usage().denials == 1


def test_a_free_token_is_not_taken_ahead_of_a_coroutine_that_waits():
    async def scenario(limiter: RateLimiter) -> None:
        for _ in range(3):
            await limiter.acquire_async()
        heavy = asyncio.create_task(limiter.acquire_async(weight=5))
        while limiter.usage().waiting == 0:
            await asyncio.sleep(0)
        with pytest.raises(RateLimitExceeded):
            await limiter.acquire_async(timeout_s=0.05)
        await heavy

    policy = RateLimitPolicy(RateBudget.of((20, 1.0)), weights={"GetCandles": 5})
    with RateLimiter(policy) as limiter:
        asyncio.run(scenario(limiter))
        assert limiter.usage().total == 8 and limiter.usage().denials == 1


def test_an_unknown_category_is_a_clear_error():
    with RateLimiter(RateLimit(5, 1.0)) as limiter:
        for call in (lambda: limiter.acquire("orders"), lambda: asyncio.run(limiter.acquire_async("orders")), lambda: limiter.usage("orders")):
            with pytest.raises(InvalidRequest, match="unknown rate-limit category 'orders': one of query, order"):
                call()
        limiter.acquire("query")  # the enum's value is the category itself
        assert limiter.usage().used == 1 and limiter.usage().waiting == 0
