"""The gateway server's own capacity (issue 12): calls/s of ``GetQuote`` it serves to 8 raw
grpc.aio clients, against a do-nothing servicer of the same contract (a constant ``Quote``, no
interceptors, the same thread pool and message limits) in a process of its own on the same machine.
Besides calls/s, each server process's CPU time per call (from /proc): on a 2-core machine the
client shares the cores, and CPU per call is the figure that does not depend on who saturates first.

Run as a script with a port it is the do-nothing server: it prints its target and serves until
terminated.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent import futures

import grpc
import grpc.aio
from processes import free_port, serving  # bench/ is the script's folder

from jts_broker.contract._generated.pb import common_pb2, market_data_pb2, market_data_pb2_grpc
from jts_broker.contract.wire import MAX_MESSAGE_BYTES

SECONDS = 3.0
CLIENTS = 8
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


class _DoNothing(market_data_pb2_grpc.MarketDataServiceServicer):
    def __init__(self) -> None:
        price = common_pb2.Decimal(value="79600")
        self._quote = market_data_pb2.Quote(symbol="900001", price=price, open=price, high=price, low=price, previous_close=price,
                                            upper_limit=price, lower_limit=price, bid=price, ask=price, bid_size=1, ask_size=1, volume=1)
        self._quote.time.GetCurrentTime()

    def GetQuote(self, request: market_data_pb2.GetQuoteRequest, context: grpc.ServicerContext) -> market_data_pb2.Quote:
        return self._quote


def _serve_nothing(port: int) -> None:
    from jts_broker.server.gateway_server import DEFAULT_MAX_WORKERS

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=DEFAULT_MAX_WORKERS),
                         options=[("grpc.max_send_message_length", MAX_MESSAGE_BYTES), ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)])
    market_data_pb2_grpc.add_MarketDataServiceServicer_to_server(_DoNothing(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print(f"serving 127.0.0.1:{port}", flush=True)
    signal.sigwait({signal.SIGTERM})
    server.stop(0)


@contextlib.contextmanager
def do_nothing_server() -> Iterator[tuple[str, int]]:
    """The do-nothing server in its own process: (target, pid)."""
    port = free_port()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # inherited: the child's sigwait gets it
    try:
        process = subprocess.Popen([sys.executable, __file__, str(port)], stdout=subprocess.PIPE, text=True)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    with serving(process, port, "do-nothing server") as served_at:
        yield served_at


async def _rate(target: str, pid: int) -> tuple[float, float]:
    """(calls/s, server CPU us per call) of CLIENTS tasks on one channel each, for SECONDS."""
    channels = [grpc.aio.insecure_channel(target) for _ in range(CLIENTS)]
    request = market_data_pb2.GetQuoteRequest(symbol="900001")
    stubs = [market_data_pb2_grpc.MarketDataServiceStub(c) for c in channels]
    for stub in stubs:
        await stub.GetQuote(request)
    done = 0
    stop_at = time.perf_counter() + SECONDS

    async def client(stub: market_data_pb2_grpc.MarketDataServiceStub) -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            await stub.GetQuote(request)
            done += 1

    cpu, started = _cpu_s(pid), time.perf_counter()
    await asyncio.gather(*(client(s) for s in stubs))
    elapsed, cpu = time.perf_counter() - started, _cpu_s(pid) - cpu
    for c in channels:
        await c.close()
    return done / elapsed, cpu / done * 1e6


def capacity_bench(simulator: tuple[str, int]) -> dict[str, float]:
    """The simulator at ``simulator`` (target, pid) against a do-nothing server: interleaved rounds, medians."""
    with do_nothing_server() as nothing:
        runs: dict[str, list[tuple[float, float]]] = {"simulator": [], "nothing": []}
        for _ in range(3):
            runs["nothing"].append(asyncio.run(_rate(*nothing)))
            runs["simulator"].append(asyncio.run(_rate(*simulator)))
    out = {}
    for name, samples in runs.items():
        out[f"{name}_calls_s"] = statistics.median(s[0] for s in samples)
        out[f"{name}_cpu_us_per_call"] = statistics.median(s[1] for s in samples)
    return out


if __name__ == "__main__":
    _serve_nothing(int(sys.argv[1]))
