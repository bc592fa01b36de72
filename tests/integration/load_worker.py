"""A load-generating process for the shared-budget tests: N threads (or asyncio tasks) call
get_quote through one gateway for a fixed time and write each token's acquire time (epoch
seconds) to a file, one per line.

    python -m tests.integration.load_worker TARGET BACKEND KEY LIMIT START_AT SECONDS OUT [--threads N | --tasks N]
        [--preset BROKER] [--calls N]

``--preset`` uses the broker's published budgets instead of LIMIT per second; ``--calls`` stops
the threads after N calls in all (a burst) instead of at START_AT + SECONDS.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from pathlib import Path

from jts_broker import AsyncGrpcBrokerGateway, BrokerConfig, BrokerType, GrpcBrokerGateway, RateBudget, RateLimit, RateLimitPolicy


def policy(backend: str, key: str, limit: int) -> RateLimitPolicy:
    # margin_s is the slack for unequal transit times between the token and the broker's count
    # (default 0.03 s): 128 threads in 4 processes on a 2-core machine running other work see
    # scheduling delays of that order, and a referee counting at the server then sees a burst.
    return RateLimitPolicy(RateBudget((RateLimit(limit, 1.0),)), backend=backend, key=key, margin_s=0.1)


def instrument(limiter, stamps: list[float], lock: threading.Lock) -> None:
    """Record the moment each token is granted: when the budget's bucket admits it, through
    pyrate-limiter's Limiter (bucket.put) or taken on the spot (the memory store's take_now,
    which puts into the bucket directly). The test's instrument, not the SDK's; stamping after
    acquire() returns would measure thread and event-loop scheduling instead."""

    def timed(put):
        def timed_put(arg):
            admitted = put(arg)
            if admitted is True:
                with lock:
                    stamps.append(time.time())
            return admitted

        return timed_put

    for budget in limiter._budgets.values():
        budget.store.bucket.put = timed(budget.store.bucket.put)
        if not budget.store.shared:
            budget.store.take_now = timed(budget.store.take_now)


def run_threads(config: BrokerConfig, start_at: float, seconds: float, threads: int, calls: int | None = None) -> list[float]:
    stamps: list[float] = []
    lock = threading.Lock()
    gateway = GrpcBrokerGateway(config)
    gateway.connect()
    instrument(gateway.rate_limiter, stamps, lock)
    stop_at = start_at + seconds
    left = iter(range(calls)) if calls is not None else None

    def work() -> None:
        time.sleep(max(0.0, start_at - time.time()))
        while time.time() < stop_at and (left is None or next(left, None) is not None):
            gateway.get_quote("005930")

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    gateway.close()
    return stamps


def run_tasks(config: BrokerConfig, start_at: float, seconds: float, tasks: int) -> list[float]:
    stamps: list[float] = []

    async def main() -> None:
        gateway = AsyncGrpcBrokerGateway(config)
        await gateway.connect()
        instrument(gateway.rate_limiter, stamps, threading.Lock())
        stop_at = start_at + seconds

        async def work() -> None:
            await asyncio.sleep(max(0.0, start_at - time.time()))
            while time.time() < stop_at:
                await gateway.get_quote("005930")

        await asyncio.gather(*(work() for _ in range(tasks)))
        await gateway.close()

    asyncio.run(main())
    return stamps


def main() -> None:
    p = argparse.ArgumentParser()
    for name in ("target", "backend", "key"):
        p.add_argument(name)
    p.add_argument("limit", type=int)
    p.add_argument("start_at", type=float)
    p.add_argument("seconds", type=float)
    p.add_argument("out", type=Path)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--tasks", type=int, default=0)
    p.add_argument("--preset", type=BrokerType)
    p.add_argument("--calls", type=int)
    args = p.parse_args()
    if args.preset:
        config = BrokerConfig.from_target(args.target, broker_type=args.preset)
        assert config.rate_limit_policy == RateLimitPolicy.published(args.preset)
    else:
        config = BrokerConfig.from_target(args.target, rate_limit=policy(args.backend, args.key, args.limit))
    if args.tasks:
        stamps = run_tasks(config, args.start_at, args.seconds, args.tasks)
    else:
        stamps = run_threads(config, args.start_at, args.seconds, args.threads, args.calls)
    args.out.write_text("".join(f"{s:.6f}\n" for s in stamps))


if __name__ == "__main__":
    main()
