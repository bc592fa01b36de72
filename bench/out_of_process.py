"""The gateway against raw grpcio with the simulator in a process of its own, as a user's server is
(issue 12): server work no longer sits inside both timings.

For each measure: wall time and this (client) process's CPU time, gateway vs raw, in interleaved
rounds, medians. (a) 10,000 daily candles: ``GrpcBrokerGateway.get_candles`` and
``get_candle_columns`` vs a raw stub call decoding rows with upb and reading every field; (b)
``get_quote`` p50; (c) calls/s and client CPU per call of 8 and 64 asyncio tasks through
``AsyncGrpcBrokerGateway`` vs raw ``grpc.aio`` stubs on one channel, and, as a labelled extra, 8 tasks
with this process on CPU 0 and the server on CPU 1; (d) 1k/10k/100k one-minute
candles, each way in a client process of its own (bench/scale.py); (e) the server's capacity
against a do-nothing servicer (bench/capacity.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from capacity import capacity_bench  # bench/ is the script's folder
from processes import free_port, serving, split_cores
from scale import scale_bench

from jts_broker import AsyncGrpcBrokerGateway, BrokerConfig, GrpcBrokerGateway, RateLimit, Timeframe
from jts_broker.client.channel import open_aio_channel, open_channel
from jts_broker.contract._generated import mappers as m
from jts_broker.contract._generated.pb import market_data_pb2, market_data_pb2_grpc
from jts_broker.domain.timeutil import start_of_day

ROUNDS = 7
ASYNC_SECONDS = 2.0
ASYNC_ROUNDS = 9  # one round's gateway/raw calls/s at 8 tasks ranged 0.78-1.17x within a run on 2 cores (0.68-1.41x
# at 64): with 5 rounds, the median at 8 tasks ranged 0.81-1.07x between runs. A round's figures are in the table.
UNARY_ROUNDS = 20  # of 200 calls each way
SPLIT_ROUNDS = 5  # of 8 tasks with client and server on cores of their own: one round's ratio stayed within 0.91-1.03


@contextlib.contextmanager
def served(data_dir: Path, session: date) -> Iterator[tuple[str, int]]:
    """`jts-broker serve` over ``data_dir`` in its own process, its clock still: (target, pid)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "jts_broker.cli.main", "serve", "--port", str(port), "--data-dir", str(data_dir),
                                "--from", session.isoformat(), "--control", "--paused"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    with serving(process, port, "simulator") as served_at:
        yield served_at


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall ms, this process's CPU ms) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def read_every_field(response: market_data_pb2.GetCandlesResponse) -> int:
    total = 0
    for c in response.candles:
        total += c.time.seconds + c.time.nanos + len(c.open.value) + len(c.high.value) + len(c.low.value) + len(c.close.value) + c.volume
    return total


async def _throughput(call: Callable[[], object], tasks: int) -> tuple[float, float]:
    """(calls/s, this process's CPU us per call) of ``tasks`` asyncio tasks calling ``call()`` (a
    coroutine factory) for ASYNC_SECONDS."""
    done = 0
    stop_at = time.perf_counter() + ASYNC_SECONDS

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            await call()  # type: ignore[misc]
            done += 1

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return done / (time.perf_counter() - started), (time.process_time() - cpu) / done * 1e6


async def _async_rates(target: str, code: str, task_counts: tuple[int, ...] = (8, 64), rounds: int = ASYNC_ROUNDS) -> dict[int, dict[str, float]]:
    """{tasks: {gw, raw (calls/s), gw_cpu_us, raw_cpu_us (client CPU per call): medians of interleaved rounds;
    round_min, round_max: the lowest and highest gateway/raw calls/s of one round}}.
    Both sides use one channel with the gateway's channel options."""
    out: dict[int, dict[str, float]] = {}
    config = BrokerConfig.from_target(target, rate_limit=RateLimit(1_000_000))
    async with AsyncGrpcBrokerGateway(config) as gateway, open_aio_channel(config) as channel:
        stub = market_data_pb2_grpc.MarketDataServiceStub(channel)
        request = market_data_pb2.GetQuoteRequest(symbol=code)
        for tasks in task_counts:
            gw, raw = [], []
            for i in range(rounds):  # which goes first alternates: neither always meets the other's leftovers
                for way in (("raw", "gw") if i % 2 == 0 else ("gw", "raw")):
                    if way == "raw":
                        raw.append(await _throughput(lambda: stub.GetQuote(request), tasks))
                    else:
                        gw.append(await _throughput(lambda: gateway.get_quote(code), tasks))
            pairs = [g[0] / r[0] for g, r in zip(gw, raw, strict=True)]  # each round's two ways, run back to back
            out[tasks] = {"gw": statistics.median(g[0] for g in gw), "raw": statistics.median(r[0] for r in raw),
                          "gw_cpu_us": statistics.median(g[1] for g in gw), "raw_cpu_us": statistics.median(r[1] for r in raw),
                          "round_min": min(pairs), "round_max": max(pairs)}
    return out


def out_of_process_bench(data_dir: Path, session: date, code: str, expected: int, minute_times: list[datetime]) -> dict[str, Any]:
    with served(data_dir, session) as (target, pid):
        gateway = GrpcBrokerGateway(BrokerConfig.from_target(target, rate_limit=RateLimit(1_000_000)))
        gateway.connect()
        channel = open_channel(BrokerConfig.from_target(target))
        stub = market_data_pb2_grpc.MarketDataServiceStub(channel)
        start, end = date(1900, 1, 1), session - timedelta(days=1)
        request = market_data_pb2.GetCandlesRequest(symbol=code, timeframe=m.timeframe_to_proto(Timeframe.DAY),
                                                    start=m.timestamp_to_proto(start_of_day(start)), end=m.timestamp_to_proto(start_of_day(session)))
        assert len(stub.GetCandles(request).candles) == expected == len(gateway.get_candles(code, Timeframe.DAY, start, end))
        assert gateway.get_candle_columns(code, Timeframe.DAY, start, end).to_candles() == gateway.get_candles(code, Timeframe.DAY, start, end)
        samples: dict[str, list[tuple[float, float]]] = {"raw": [], "gateway": [], "columns": []}
        for _ in range(ROUNDS):  # interleaved: drift on a noisy machine hits both alike
            for _ in range(3):
                samples["raw"].append(timed(lambda: read_every_field(stub.GetCandles(request))))
                samples["gateway"].append(timed(lambda: gateway.get_candles(code, Timeframe.DAY, start, end)))
                samples["columns"].append(timed(lambda: gateway.get_candle_columns(code, Timeframe.DAY, start, end)))
        quote = market_data_pb2.GetQuoteRequest(symbol=code)
        unary: dict[str, list[float]] = {"raw": [], "gateway": []}
        for _ in range(UNARY_ROUNDS):
            for _ in range(200):
                unary["raw"].append(timed(lambda: stub.GetQuote(quote))[0])
            for _ in range(200):
                unary["gateway"].append(timed(lambda: gateway.get_quote(code))[0])
        channel.close()
        gateway.close()
        rates = asyncio.run(_async_rates(target, code))
        # Labelled extra: the same 8 tasks with the server alone on a core of its own. On 2 shared
        # cores, calls/s follow the client's and the server's CPU per call together, and where the
        # scheduler puts their threads moved one round's ratio anywhere in 0.72-1.34; split, 0.91-1.03.
        with split_cores(pid) as split:
            split_rates = asyncio.run(_async_rates(target, code, (8,), SPLIT_ROUNDS))[8] if split else None
        scale = scale_bench(target, minute_times)
        capacity = capacity_bench((target, pid))

    def med(kind: str, i: int) -> float:
        return statistics.median(s[i] for s in samples[kind])

    return {
        "candles_gw_ms": med("gateway", 0), "candles_raw_ms": med("raw", 0),
        "candles_gw_cpu_ms": med("gateway", 1), "candles_raw_cpu_ms": med("raw", 1),
        "columns_ms": med("columns", 0), "columns_cpu_ms": med("columns", 1),
        "unary_gw_ms": statistics.median(unary["gateway"]), "unary_raw_ms": statistics.median(unary["raw"]),
        "aio": rates, "aio8_split": split_rates, "scale": scale, "capacity": capacity,
    }
