"""Cost against size (issue 12): 1,000, 10,000 and 100,000 one-minute candles from the simulator in
its own process, read three ways: raw grpcio rows (upb, every field read), ``get_candles`` (rows of
``Candle``) and ``get_candle_columns`` (numpy arrays). Each (way, size) runs in a fresh client
process, so its peak memory is its own: the growth of the process's peak resident set (Linux
``VmHWM``, reset after connecting) over what it held then, the result alive until the call returned.

Run as a script it is that client process: ``scale.py TARGET WAY START END ROUNDS`` prints one JSON
line (medians in ms of wall time, of the process's CPU time and of the calling thread's CPU time;
peak growth in MB; the number of candles). The process's CPU includes grpc's own threads, which
sometimes poll through a wait: the calling thread's CPU is the decoding work, steadily.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from jts_broker.domain.timeutil import KST

BARS_PER_DAY = 385  # 09:00 .. 15:24, one bar a minute
SIZES = (1_000, 10_000, 100_000)
WAYS = ("raw_rows", "gateway_rows", "gateway_columns")


def write_minutes(folder: Path, code: str, days: list[date]) -> list[datetime]:
    """``BARS_PER_DAY`` synthetic one-minute bars for each of ``days`` (files the simulator loads as
    held history, minute/<code>_<YYYYMMDD>.csv); the bars' start times, oldest first."""
    (folder / "minute").mkdir(exist_ok=True)
    times = []
    for n, day in enumerate(days):
        lines = ["datetime,open,high,low,close,volume"]
        opening = datetime(day.year, day.month, day.day, 9, 0, tzinfo=KST)
        for i in range(BARS_PER_DAY):
            moment = opening + timedelta(minutes=i)
            base = 50_000 + ((n * 7 + i * 13) % 200) * 50
            lines.append(f"{moment.isoformat()},{base},{base + 100},{base - 50},{base + 50},{1_000 + (i * 37) % 5_000}")
            times.append(moment)
        (folder / "minute" / f"{code}_{day:%Y%m%d}.csv").write_text("\n".join(lines) + "\n")
    return times


def _status_mb(field: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of this process, MB."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def _reset_peak() -> None:
    """Linux: the peak resident set (VmHWM) starts again from the resident set now."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _worker(target: str, way: str, start_s: int, end_s: int, rounds: int) -> None:
    from out_of_process import read_every_field  # here: out_of_process imports this module

    from jts_broker import BrokerConfig, GrpcBrokerGateway, RateLimit, Timeframe
    from jts_broker.client.channel import open_channel
    from jts_broker.contract._generated import mappers as m
    from jts_broker.contract._generated.pb import market_data_pb2, market_data_pb2_grpc

    start, end = datetime.fromtimestamp(start_s, KST), datetime.fromtimestamp(end_s, KST)
    config = BrokerConfig.from_target(target, rate_limit=RateLimit(1_000_000))
    gateway = GrpcBrokerGateway(config)
    gateway.connect()
    stub = market_data_pb2_grpc.MarketDataServiceStub(open_channel(config))
    request = market_data_pb2.GetCandlesRequest(symbol="900001", timeframe=m.timeframe_to_proto(Timeframe.MINUTE_1),
                                                start=m.timestamp_to_proto(start), end=m.timestamp_to_proto(end))

    def raw_rows() -> object:
        response = stub.GetCandles(request)
        read_every_field(response)
        return response

    calls = {"raw_rows": raw_rows, "gateway_rows": lambda: gateway.get_candles("900001", Timeframe.MINUTE_1, start, end),
             "gateway_columns": lambda: gateway.get_candle_columns("900001", Timeframe.MINUTE_1, start, end)}
    call = calls[way]
    gateway.get_candle_columns("900001", Timeframe.MINUTE_1, start, start + timedelta(minutes=1))  # modules loaded, channel up
    _reset_peak()  # the imports' and connect's peak is not the call's
    baseline = _status_mb("VmRSS")
    walls, cpus, threads, count = [], [], [], 0
    for _ in range(rounds):
        wall, cpu, thread = time.perf_counter(), time.process_time(), time.thread_time()
        result = call()
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
        threads.append((time.thread_time() - thread) * 1000)
        count = len(result.candles) if way == "raw_rows" else len(result)  # type: ignore[attr-defined, arg-type]
        del result
    peak = _status_mb("VmHWM")
    print(json.dumps({"wall_ms": statistics.median(walls), "cpu_ms": statistics.median(cpus), "thread_cpu_ms": statistics.median(threads),
                      "peak_mb": max(0.0, peak - baseline),
                      "count": count}))
    gateway.close()


def scale_bench(target: str, times: list[datetime]) -> dict[str, dict[int, dict[str, float]]]:
    """{way: {size: figures}}: each (way, size) in a client process of its own, ways interleaved per size."""
    out: dict[str, dict[int, dict[str, float]]] = {way: {} for way in WAYS}
    for size in SIZES:
        start, end = times[0], times[size]  # [start, end) holds exactly ``size`` bars
        for way in WAYS:
            rounds = 9 if size < 100_000 else 5
            done = subprocess.run([sys.executable, __file__, target, way, str(int(start.timestamp())), str(int(end.timestamp())), str(rounds)],
                                  capture_output=True, text=True, timeout=600, check=True)
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            if figures["count"] != size:
                raise RuntimeError(f"{way} read {figures['count']} candles, not {size}")
            out[way][size] = figures
    return out


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
