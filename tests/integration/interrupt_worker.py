"""A client process for the interrupt tests: it starts one blocking wait of the SDK against the
simulator at TARGET, prints ``waiting`` once it is really inside that wait, and reports, as one
JSON line, what the SIGINT the test then sends turned into.

    python -m tests.integration.interrupt_worker SCENARIO TARGET

Scenarios: ``rate-limit`` (a gateway call queued for a token), ``gate`` (a thread queued behind
another at the limiter's FIFO gate), ``backoff`` (a read sleeping between retries), ``recovery``
(an order being looked up after its answer was lost), ``connect`` (a first connect waiting for a
server that is not there).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections.abc import Callable

from jts_broker import BrokerConfig, GrpcBrokerGateway, OrderStatusUnknown, RateLimit, RateLimiter, RetryPolicy, Side, Timeouts, limit_order


def announce_when(condition: Callable[[], bool]) -> None:
    """Print ``waiting`` from a helper thread once ``condition`` holds (the main thread is blocked)."""

    def watch() -> None:
        while not condition():
            time.sleep(0.005)
        print("waiting", flush=True)

    threading.Thread(target=watch, daemon=True).start()


def report(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def rate_limit(target: str) -> None:
    gateway = GrpcBrokerGateway(BrokerConfig.from_target(target, rate_limit=RateLimit(1, 600.0)))
    gateway.connect()
    gateway.get_quote("005930")  # spends the only token of the window
    announce_when(lambda: gateway.rate_limiter.usage().waiting == 1)
    try:
        gateway.get_quote("005930")
    except BaseException as exc:
        usage = gateway.rate_limiter.usage()
        report(raised=type(exc).__name__, waiting=usage.waiting, denials=usage.denials, total=usage.total)
        raise


def gate(target: str) -> None:
    limiter = RateLimiter(RateLimit(1, 2.0))
    limiter.acquire()
    head = threading.Thread(target=limiter.acquire, daemon=True)  # first in line: waits inside pyrate-limiter
    head.start()
    announce_when(lambda: limiter.usage().waiting == 2)
    try:
        limiter.acquire()  # second in line, at the gate
    except BaseException as exc:
        head.join()
        behind = threading.Thread(target=limiter.acquire, daemon=True)  # must not wait for the one that left
        behind.start()
        behind.join(timeout=15)
        report(raised=type(exc).__name__, next_served=not behind.is_alive(), waiting=limiter.usage().waiting)
        raise


def backoff(target: str) -> None:
    retry = RetryPolicy(max_attempts=10, initial_backoff_s=60.0, max_backoff_s=60.0, budget_s=600.0)
    gateway = GrpcBrokerGateway(BrokerConfig.from_target(target, rate_limit=RateLimit(1000), retry=retry))
    gateway.connect()
    print("waiting", flush=True)  # the test knows from the server when the first attempt failed
    try:
        gateway.get_quote("005930")
    except BaseException as exc:
        report(raised=type(exc).__name__)
        raise


def recovery(target: str) -> None:
    retry = RetryPolicy(max_attempts=4, initial_backoff_s=0.05, max_backoff_s=60.0, budget_s=600.0)
    gateway = GrpcBrokerGateway(BrokerConfig.from_target(target, rate_limit=RateLimit(1000), retry=retry))
    gateway.connect()
    quote = gateway.get_quote("229200")
    print("waiting", flush=True)  # the test knows from the server when the recovery is under way
    try:
        gateway.place_order(limit_order("50000001-01", "229200", Side.BUY, 1, quote.lower_limit, client_order_id="interrupted-1"))
    except BaseException as exc:
        report(raised=type(exc).__name__, unknown=isinstance(exc, OrderStatusUnknown), notes=getattr(exc, "__notes__", []))
        raise


def connect(target: str) -> None:
    gateway = GrpcBrokerGateway(BrokerConfig.from_target(target, timeouts=Timeouts(connect_s=600.0)))
    connecting = threading.Event()
    gateway.subscribe_status(lambda change: connecting.set())
    announce_when(lambda: connecting.wait(0.1) and time.sleep(0.2) is None)  # then it waits for the channel, up to 600 s
    try:
        gateway.connect()
    except BaseException as exc:
        report(raised=type(exc).__name__, status=gateway.status.value)
        raise


SCENARIOS = {"rate-limit": rate_limit, "gate": gate, "backoff": backoff, "recovery": recovery, "connect": connect}

if __name__ == "__main__":
    # A process started in the background by a non-interactive shell inherits SIGINT ignored (and
    # Python then keeps it so): give it what a terminal's Ctrl-C meets, KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    SCENARIOS[sys.argv[1]](sys.argv[2])
