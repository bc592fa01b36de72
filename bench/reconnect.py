"""Reconnection after a crash: a simulator process is killed (SIGKILL) and started again on the
same port; measured from the moment the new process has bound its port to the first successful
read through a gateway that stayed open, and to the gateway reporting CONNECTED again."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

from processes import free_port  # bench/ is the script's folder

from jts_broker import BrokerConfig, BrokerUnavailable, ConnectionStatus, GrpcBrokerGateway, RateLimit, RetryPolicy

ROUNDS = 7


def _serve(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "jts_broker.cli.main", "serve", "--port", str(port), "--control", "--paused"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    line = proc.stdout.readline() if proc.stdout else ""  # printed once the port is bound
    if str(port) not in line:
        proc.kill()
        raise RuntimeError(f"simulator did not start: {line!r}")
    return proc


def _wait(condition, timeout_s: float = 30.0) -> float:
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > timeout_s:
            raise RuntimeError("timed out")
        time.sleep(0.002)
    return time.perf_counter() - started


def reconnect_bench(result: dict[str, object]) -> None:
    port = free_port()
    server = _serve(port)
    # One attempt per read: the loop below polls, so it sees the first read that works.
    gateway = GrpcBrokerGateway(BrokerConfig(grpc_port=port, rate_limit=RateLimit(100_000), retry=RetryPolicy(max_attempts=1)))
    gateway.connect()

    def read_works() -> bool:
        try:
            return gateway.get_quote("005930").price > 0
        except BrokerUnavailable:
            return False

    to_read, to_connected = [], []
    try:
        for _ in range(ROUNDS):
            server.kill()
            server.wait()
            _wait(lambda: gateway.status is not ConnectionStatus.CONNECTED)
            time.sleep(0.5)  # a real outage lasts a while: the channel is deep in its backoff
            server = _serve(port)
            back = time.perf_counter()
            _wait(read_works)
            to_read.append(time.perf_counter() - back)
            _wait(lambda: gateway.status is ConnectionStatus.CONNECTED)
            to_connected.append(time.perf_counter() - back)
    finally:
        gateway.close()
        server.kill()
        server.wait()
    result["reconnect_first_read_median_s"] = round(statistics.median(to_read), 3)
    result["reconnect_first_read_max_s"] = round(max(to_read), 3)
    result["reconnect_connected_median_s"] = round(statistics.median(to_connected), 3)
    print()
    print(f"reconnect after SIGKILL + restart ({ROUNDS} rounds): first read {statistics.median(to_read):.3f} s median "
          f"({max(to_read):.3f} s max); status CONNECTED again {statistics.median(to_connected):.3f} s median")
