"""``make bench``: the SDK's overhead against raw grpcio, measured in one run.

The headline figures run against the simulator in a process of its own, as a user's server is,
with this process's wall and CPU time, in interleaved rounds (bench/out_of_process.py); the same
measures against a simulator in this process stay as one labelled line (server work then sits in
both timings and flatters the ratios).

(a) 10,000 daily candles: ``GrpcBrokerGateway.get_candles`` (rate-limit token, deadline, retry
    wrapper, upb decode, generated mapper to frozen dataclasses with ``Decimal`` and tz-aware
    times) vs a raw grpcio stub call that decodes the same response with upb and reads every field.
    The same 10,000 as ``get_candle_columns`` (numpy arrays from the wire's packed columns), against
    the same raw row baseline.
(b) a small unary call, ``get_quote``: p50 through the gateway vs the raw stub; and calls/s and
    client CPU per call of 8 and 64 asyncio tasks through ``AsyncGrpcBrokerGateway`` vs raw
    grpc.aio; 1k/10k/100k one-minute candles three ways, each in a client process of its own, with
    peak memory (bench/scale.py); the server's capacity against a do-nothing servicer of the same
    contract (bench/capacity.py).
(c) rate limiting per backend (memory, SQLite file, Redis): the cost of one acquire with a token
    free, and the fraction of a 20/s limit that 32 competing threads get in 5 s.
(d) reconnection: a simulator process killed and restarted on the same port; the time from the
    port being bound again to the first successful read (bench/reconnect.py).
(e) the KIS backend's cost per call against raw ``requests`` to the KIS emulator in its own
    process (bench/kis_backend.py).
(f) the Qt event loop's responsiveness: a 10 ms timer's lateness (p99, max) during a 10,000-candle
    download into the chart, a saturated rate-limited burst and a server restart under a live
    quote stream (bench/qt_loop.py, in a process of its own, the simulator in another).
The rate budget is set high enough not to bind, but each gateway call still takes its token.
For scale it also times betterproto2 parsing the same 10k-candle response.

Prints a table; the last line is a JSON object with the ratios (gateway / raw; lower is better).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

from capacity import CLIENTS
from kis_backend import kis_bench  # bench/ is the script's folder
from out_of_process import out_of_process_bench, read_every_field
from processes import free_port
from reconnect import reconnect_bench
from scale import BARS_PER_DAY, SIZES, WAYS, write_minutes

from jts_broker import BrokerConfig, GrpcBrokerGateway, Market, RateBudget, RateLimit, RateLimiter, RateLimitPolicy, SecurityType, Symbol, Timeframe
from jts_broker.client.channel import open_channel
from jts_broker.contract._generated import mappers as m
from jts_broker.contract._generated.betterproto.jts.broker import v1 as bp
from jts_broker.contract._generated.pb import market_data_pb2, market_data_pb2_grpc
from jts_broker.domain.timeutil import start_of_day
from jts_broker.paper.synthetic import daily_bars
from jts_broker.server import SimulatorServer

CODE = "900001"
N_CANDLES = 10_000


def write_bars(folder: Path) -> date:
    """A 10,001-day synthetic series (10,000 history days + the replayed session); its session date."""
    symbol = Symbol(CODE, "BENCH", Market.KOSPI, SecurityType.STOCK)
    bars = daily_bars(symbol, 50_000, seed=1, last_day=date(2060, 12, 31))[: N_CANDLES + 1]
    lines = ["date,open,high,low,close,volume", *(f"{b.day},{b.open},{b.high},{b.low},{b.close},{b.volume}" for b in bars)]
    (folder / f"{CODE}.csv").write_text("\n".join(lines) + "\n")
    return bars[-1].day


def median_ms(fn, runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def acquire_overhead_us(backend: str) -> float:
    """Median cost of one acquire with a token free (a budget far from binding)."""
    limiter = RateLimiter(RateLimitPolicy(RateBudget.of((1_000_000, 1.0)), backend=backend, key=f"bench-{time.time_ns()}"))
    try:
        for _ in range(200):
            limiter.acquire()
        samples = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(400):
                limiter.acquire()
            samples.append((time.perf_counter() - started) / 400 * 1e6)
        return statistics.median(samples)
    finally:
        limiter.close()


def contention_fraction(backend: str, limit: int = 20, seconds: float = 5.0, threads: int = 32) -> float:
    """Tokens granted to ``threads`` competing callers in ``seconds``, as a fraction of the limit."""
    limiter = RateLimiter(RateLimitPolicy(RateBudget.of((limit, 1.0)), backend=backend, key=f"bench-{time.time_ns()}"))
    granted = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def work() -> None:
        nonlocal granted
        while True:
            limiter.acquire()
            if time.monotonic() >= stop_at:
                return
            with lock:
                granted += 1

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    limiter.close()
    return granted / (limit * seconds)


def fairness(waiters: int = 24, limit: int = 10) -> float:
    """Waiters arrive 5 ms apart at a spent budget; the fraction of pairs served in arrival order
    (1.0: first come, first served; 0.5: no better than chance)."""
    limiter = RateLimiter(RateLimitPolicy(RateBudget.of((limit, 1.0)), margin_s=0.0))
    for _ in range(limit):
        limiter.acquire()
    served: list[int] = []
    lock = threading.Lock()

    def wait(i: int) -> None:
        limiter.acquire()
        with lock:
            served.append(i)

    threads = []
    for i in range(waiters):
        threads.append(threading.Thread(target=wait, args=(i,)))
        threads[-1].start()
        time.sleep(0.005)
    for t in threads:
        t.join()
    limiter.close()
    pairs = [(a, b) for x, a in enumerate(served) for b in served[x + 1:]]
    return sum(a < b for a, b in pairs) / len(pairs)


@contextlib.contextmanager
def redis_server() -> Iterator[str | None]:
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = free_port()
    with tempfile.TemporaryDirectory() as work:
        proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", work],
                                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            for _ in range(100):
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.1):
                    break
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def rate_limit_bench(result: dict[str, object]) -> None:
    print()
    print(f"{'rate-limit backend':<20}{'acquire, token free (us)':>26}{'achieved, 32 threads at 20/s':>32}")
    with tempfile.TemporaryDirectory() as tmp, redis_server() as redis_url:
        backends = {"memory": "memory", "sqlite": f"sqlite:///{tmp}/bench.sqlite", "redis": redis_url}
        for name, backend in backends.items():
            if backend is None:
                print(f"{name:<20}{'(redis-server not installed)':>26}")
                continue
            overhead, fraction = acquire_overhead_us(backend), contention_fraction(backend)
            result[f"acquire_{name}_us"] = round(overhead, 1)
            result[f"contention_fraction_{name}"] = round(fraction, 3)
            print(f"{name:<20}{overhead:>26.1f}{fraction:>31.1%}")
    order = fairness()
    result["fairness_in_order_pairs"] = round(order, 3)
    print(f"fairness: {order:.0%} of waiter pairs served in arrival order (1.0 = FIFO, 0.5 = chance)")


def qt_bench(result: dict[str, object]) -> None:
    """bench/qt_loop.py in a process of its own (its own QApplication, offscreen)."""
    done = subprocess.run([sys.executable, str(Path(__file__).with_name("qt_loop.py"))], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    if done.returncode != 0:
        print(f"\nQt event loop: not measured ({done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode})")
        return
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    print()
    print(f"{'Qt event loop, 10 ms timer lateness':<44}{'p99 ms':>12}{'max ms':>12}")
    for name, label in (("candles_10k", "10,000 candles downloaded and drawn"), ("rate_limited_burst", "200 reads through a 20/s budget"),
                        ("reconnect", "server restart under a live stream")):
        print(f"{label:<44}{figures[name]['p99_ms']:>12.1f}{figures[name]['max_ms']:>12.1f}")
        result[f"qt_loop_{name}_p99_ms"] = figures[name]["p99_ms"]
        result[f"qt_loop_{name}_max_ms"] = figures[name]["max_ms"]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        session = write_bars(Path(tmp))
        with SimulatorServer(data_dir=Path(tmp), speed=0) as server:
            gateway = GrpcBrokerGateway(BrokerConfig.from_target(server.target, rate_limit=RateLimit(1_000_000)))
            gateway.connect()
            channel = open_channel(BrokerConfig.from_target(server.target))
            stub = market_data_pb2_grpc.MarketDataServiceStub(channel)
            start, end = date(1900, 1, 1), session - timedelta(days=1)
            # The same request the gateway builds: every history day, the session day excluded.
            request = market_data_pb2.GetCandlesRequest(symbol=CODE, timeframe=m.timeframe_to_proto(Timeframe.DAY),
                                                        start=m.timestamp_to_proto(start_of_day(start)), end=m.timestamp_to_proto(start_of_day(session)))

            raw = stub.GetCandles(request)
            assert len(raw.candles) == N_CANDLES and len(gateway.get_candles(CODE, Timeframe.DAY, start, end)) == N_CANDLES
            wire = raw.SerializeToString()

            rounds = {"raw": [], "gateway": []}
            for _ in range(7):  # interleaved, so drift on a noisy machine hits both alike
                rounds["raw"].append(median_ms(lambda: read_every_field(stub.GetCandles(request)), 3))
                rounds["gateway"].append(median_ms(lambda: gateway.get_candles(CODE, Timeframe.DAY, start, end), 3))
            candles_raw, candles_gw = statistics.median(rounds["raw"]), statistics.median(rounds["gateway"])
            bp_parse = median_ms(lambda: bp.GetCandlesResponse.parse(wire), 3)
            upb_parse = median_ms(lambda: market_data_pb2.GetCandlesResponse.FromString(wire), 20)

            quote_request = market_data_pb2.GetQuoteRequest(symbol=CODE)
            unary = {"raw": [], "gateway": []}
            for _ in range(10):
                for _ in range(200):
                    t = time.perf_counter()
                    stub.GetQuote(quote_request)
                    unary["raw"].append(time.perf_counter() - t)
                for _ in range(200):
                    t = time.perf_counter()
                    gateway.get_quote(CODE)
                    unary["gateway"].append(time.perf_counter() - t)
            unary_raw, unary_gw = (statistics.median(unary[k]) * 1000 for k in ("raw", "gateway"))
            channel.close()
            gateway.close()

    with tempfile.TemporaryDirectory() as tmp:
        session = write_bars(Path(tmp))
        days = [date.fromisoformat(line.split(",", 1)[0]) for line in (Path(tmp) / f"{CODE}.csv").read_text().splitlines()[1:]]
        held = -(-(SIZES[-1] + 1) // BARS_PER_DAY)  # days of one-minute bars for the largest size and one bar more
        minute_days = days[-1 - held:-1]  # before the session: served as held history
        oop = out_of_process_bench(Path(tmp), session, CODE, N_CANDLES, write_minutes(Path(tmp), CODE, minute_days))
    aio, split, scale, capacity = oop["aio"], oop["aio8_split"], oop["scale"], oop["capacity"]
    result = {
        # the simulator in its own process, as a user's server is (the keys kept from before)
        "candles_10k_ratio": round(oop["candles_gw_ms"] / oop["candles_raw_ms"], 3),
        "candles_10k_cpu_ratio": round(oop["candles_gw_cpu_ms"] / oop["candles_raw_cpu_ms"], 3),
        "unary_p50_ratio": round(oop["unary_gw_ms"] / oop["unary_raw_ms"], 3),
        "candle_columns_10k_cpu_ratio": round(oop["columns_cpu_ms"] / oop["candles_raw_cpu_ms"], 3),
        "candle_columns_10k_ratio": round(oop["columns_ms"] / oop["candles_raw_ms"], 3),
        "aio8_throughput_ratio": round(aio[8]["gw"] / aio[8]["raw"], 3),
        "aio64_throughput_ratio": round(aio[64]["gw"] / aio[64]["raw"], 3),
        "aio8_client_cpu_ratio": round(aio[8]["gw_cpu_us"] / aio[8]["raw_cpu_us"], 3),
        "aio64_client_cpu_ratio": round(aio[64]["gw_cpu_us"] / aio[64]["raw_cpu_us"], 3),
        "server_capacity_ratio": round(capacity["simulator_calls_s"] / capacity["nothing_calls_s"], 3),
        "server_cpu_per_call_ratio": round(capacity["simulator_cpu_us_per_call"] / capacity["nothing_cpu_us_per_call"], 3),
        "server_calls_s": round(capacity["simulator_calls_s"]), "do_nothing_server_calls_s": round(capacity["nothing_calls_s"]),
        "candles_10k_gateway_ms": round(oop["candles_gw_ms"], 2),
        "candles_10k_raw_upb_ms": round(oop["candles_raw_ms"], 2),
        "candles_10k_gateway_cpu_ms": round(oop["candles_gw_cpu_ms"], 2),
        "candles_10k_raw_upb_cpu_ms": round(oop["candles_raw_cpu_ms"], 2),
        "unary_p50_gateway_ms": round(oop["unary_gw_ms"], 4),
        "unary_p50_raw_ms": round(oop["unary_raw_ms"], 4),
        "candle_columns_10k_cpu_ms": round(oop["columns_cpu_ms"], 2),
        "aio8_gateway_calls_s": round(aio[8]["gw"]), "aio8_raw_calls_s": round(aio[8]["raw"]),
        "aio64_gateway_calls_s": round(aio[64]["gw"]), "aio64_raw_calls_s": round(aio[64]["raw"]),
        "aio8_round_ratio_min": round(aio[8]["round_min"], 3), "aio8_round_ratio_max": round(aio[8]["round_max"], 3),
        "aio64_round_ratio_min": round(aio[64]["round_min"], 3), "aio64_round_ratio_max": round(aio[64]["round_max"], 3),
        **({"aio8_split_cores_throughput_ratio": round(split["gw"] / split["raw"], 3),
            "aio8_split_cores_client_cpu_ratio": round(split["gw_cpu_us"] / split["raw_cpu_us"], 3)} if split else {}),
        "aio8_gateway_cpu_us": round(aio[8]["gw_cpu_us"], 1), "aio8_raw_cpu_us": round(aio[8]["raw_cpu_us"], 1),
        # the simulator in this process (the old figures): server work inside both timings
        "in_process_candles_10k_ratio": round(candles_gw / candles_raw, 3),
        "in_process_unary_p50_ratio": round(unary_gw / unary_raw, 3),
        "parse_10k_upb_ms": round(upb_parse, 2),
        "parse_10k_betterproto2_ms": round(bp_parse, 2),
        "response_10k_bytes": len(wire),
    }
    for way in WAYS:  # the scale figures: {way}_{size}_{wall_ms, cpu_ms, peak_mb}
        for size, figures in scale[way].items():
            for name in ("wall_ms", "cpu_ms", "thread_cpu_ms", "peak_mb"):
                result[f"{way}_{size // 1000}k_{name}"] = round(figures[name], 2)
    print("simulator in its own process (as a user's server); client wall and CPU, gateway vs raw grpcio, medians of interleaved rounds")
    print(f"{'measure':<44}{'gateway':>12}{'raw grpcio':>12}{'ratio':>8}")
    print(f"{'get_candles, 10,000 daily candles (wall ms)':<44}{oop['candles_gw_ms']:>12.2f}{oop['candles_raw_ms']:>12.2f}{result['candles_10k_ratio']:>8.2f}")
    print(f"{'get_candles, 10,000 daily candles (CPU ms)':<44}{oop['candles_gw_cpu_ms']:>12.2f}{oop['candles_raw_cpu_ms']:>12.2f}"
          f"{result['candles_10k_cpu_ratio']:>8.2f}")
    print(f"{'get_quote, unary (p50 ms)':<44}{oop['unary_gw_ms']:>12.3f}{oop['unary_raw_ms']:>12.3f}{result['unary_p50_ratio']:>8.2f}")
    print(f"{'get_candle_columns, 10,000 (wall ms)':<44}{oop['columns_ms']:>12.2f}{oop['candles_raw_ms']:>12.2f}"
          f"{result['candle_columns_10k_ratio']:>8.2f}")
    print(f"{'get_candle_columns, 10,000 (CPU ms)':<44}{oop['columns_cpu_ms']:>12.2f}{oop['candles_raw_cpu_ms']:>12.2f}"
          f"{result['candle_columns_10k_cpu_ratio']:>8.2f}")
    for tasks in (8, 64):
        print(f"{f'get_quote, {tasks} asyncio tasks (calls/s)':<44}{aio[tasks]['gw']:>12.0f}{aio[tasks]['raw']:>12.0f}"
              f"{result[f'aio{tasks}_throughput_ratio']:>8.2f}  (one round: {aio[tasks]['round_min']:.2f}-{aio[tasks]['round_max']:.2f})")
        print(f"{f'get_quote, {tasks} asyncio tasks (client CPU us/call)':<44}{aio[tasks]['gw_cpu_us']:>12.1f}{aio[tasks]['raw_cpu_us']:>12.1f}"
              f"{result[f'aio{tasks}_client_cpu_ratio']:>8.2f}")
    if split:
        print(f"extra, 8 asyncio tasks with the server on a core of its own (CPU 1, the bench on CPU 0): calls/s {split['gw']:.0f} vs "
              f"{split['raw']:.0f} ({result['aio8_split_cores_throughput_ratio']:.2f}x, one round {split['round_min']:.2f}-{split['round_max']:.2f}), "
              f"client CPU {split['gw_cpu_us']:.1f} vs {split['raw_cpu_us']:.1f} us/call ({result['aio8_split_cores_client_cpu_ratio']:.2f}x)")
    print()
    print("one-minute candles by size, each in a client process of its own: wall ms / CPU ms of the calling thread / peak memory growth MB")
    print("(the process's CPU, in the JSON as *_cpu_ms, adds grpc's own threads, which now and then poll through a wait and double it)")
    print(f"{'size':>10}" + "".join(f"{way:>30}" for way in WAYS))
    for size in SIZES:
        cells = ("{wall_ms:.1f} / {thread_cpu_ms:.1f} / {peak_mb:.1f}".format(**scale[way][size]) for way in WAYS)
        print(f"{size:>10,}" + "".join(f"{cell:>30}" for cell in cells))
    print(f"server capacity, GetQuote from {CLIENTS} raw grpc.aio clients: simulator {capacity['simulator_calls_s']:,.0f} calls/s "
          f"({capacity['simulator_cpu_us_per_call']:.0f} us server CPU per call), do-nothing servicer {capacity['nothing_calls_s']:,.0f} calls/s "
          f"({capacity['nothing_cpu_us_per_call']:.0f} us): {result['server_capacity_ratio']:.2f}x calls/s, "
          f"{result['server_cpu_per_call_ratio']:.2f}x CPU per call")
    print(f"in-process simulator (server work in both timings): get_candles 10k {candles_gw:.2f} vs {candles_raw:.2f} ms "
          f"({result['in_process_candles_10k_ratio']:.2f}x), get_quote p50 {unary_gw:.3f} vs {unary_raw:.3f} ms ({result['in_process_unary_p50_ratio']:.2f}x)")
    print(f"for scale: parsing the {len(wire):,}-byte response takes {upb_parse:.2f} ms with upb, {bp_parse:.1f} ms with betterproto2")
    rate_limit_bench(result)
    reconnect_bench(result)
    kis_bench(result)
    qt_bench(result)
    sys.stdout.flush()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
