"""The Qt event loop's responsiveness under SDK work (issue 11): a 10 ms QTimer's lateness, p99 and
max, while the example window's widgets (a) download and draw 10,000 daily candles, (b) push a
saturated rate-limited burst of 200 quote reads through a 20/s budget, and (c) ride a server
restart with a live quote stream and health checks. The simulator runs as its own process
(`jts-broker serve`); asyncio runs on the Qt loop (qasync), as in `jts-broker gui`.

Run alone (`python bench/qt_loop.py`, prints JSON) or from bench/run.py (qt_bench). Target: p99 < 50 ms.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from processes import free_port  # bench/ is the script's folder
from PySide6.QtCore import QTimer  # after the platform is chosen
from PySide6.QtWidgets import QApplication
from run import write_bars

from jts_broker import AsyncGrpcBrokerGateway, BrokerConfig, RateLimit, Timeframe
from jts_broker.client.registry import BrokerRegistry
from jts_broker.qt import BrokerStatusWidget, QuotePanel, qt_asyncio_loop
from jts_broker.qt.candle_chart import CandleChart

TICK_MS = 10


class Probe:
    """A repeating 10 ms timer; the lateness of each firing against the one before, ms."""

    def __init__(self) -> None:
        self.late: list[float] = []
        self._last = time.perf_counter()
        self._timer = QTimer()
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.late.append(max(0.0, (now - self._last) * 1000 - TICK_MS))
        self._last = now

    async def during(self, work: Callable[[], Awaitable[None]]) -> dict[str, float]:
        self.late.clear()
        self._last = time.perf_counter()
        self._timer.start()
        await work()
        self._timer.stop()
        ordered = sorted(self.late)
        return {"p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] if len(ordered) > 1 else ordered[-1], 1),
                "max_ms": round(ordered[-1], 1), "median_ms": round(statistics.median(ordered), 2), "ticks": len(ordered)}


def serve(port: int, data_dir: Path, session: date) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-m", "jts_broker.cli.main", "serve", "--port", str(port), "--data-dir", str(data_dir),
                                "--from", session.isoformat(), "--speed", "600"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None and f"127.0.0.1:{port}" in process.stdout.readline()
    return process


async def scenarios(port: int, data_dir: Path, restart: Callable[[], None]) -> dict[str, dict[str, float]]:
    target = f"127.0.0.1:{port}"
    probe = Probe()
    out: dict[str, dict[str, float]] = {}
    async with AsyncGrpcBrokerGateway(BrokerConfig.from_target(target, rate_limit=RateLimit(1_000_000))) as gateway:
        chart = CandleChart()
        chart.resize(1200, 400)
        chart.show()
        loaded: list[int] = []
        chart.loaded.connect(loaded.append)

        async def download() -> None:
            chart.load(gateway, "900001", Timeframe.DAY, date(1900, 1, 1), date(2100, 1, 1), piece_days=365)  # as the window loads them
            while not loaded:
                await asyncio.sleep(0.005)

        out["candles_10k"] = await probe.during(download)
        assert loaded[0] >= 10_000, loaded
    async with AsyncGrpcBrokerGateway(BrokerConfig.from_target(target, rate_limit=RateLimit(20, 1.0))) as limited:
        async def burst() -> None:
            await asyncio.gather(*(limited.get_quote("900001") for _ in range(200)))

        out["rate_limited_burst"] = await probe.during(burst)
    registry = BrokerRegistry({"sim": BrokerConfig.from_target(target)})
    async with AsyncGrpcBrokerGateway(BrokerConfig.from_target(target)) as streaming:
        status = BrokerStatusWidget(registry, check_interval_s=0.5)
        panel = QuotePanel(streaming, ["900001"])
        panel.start()
        gaps: list[object] = []
        panel.gap_received.connect(gaps.append)
        await asyncio.sleep(1.0)

        async def reconnect() -> None:
            await asyncio.to_thread(restart)  # killing and starting the process is the harness's work: off the loop
            deadline = time.monotonic() + 30
            while not gaps and time.monotonic() < deadline:  # the stream broke, resubscribed and said so
                await asyncio.sleep(0.01)

        out["reconnect"] = await probe.during(reconnect)
        out["reconnect"]["stream_resumed"] = float(bool(gaps))
        await panel.stop()
        status.close()
    registry.close()
    return out


def qt_loop_bench() -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        session = write_bars(data_dir)  # the main bench's 10,001-day series: its replayed session
        port = free_port()
        server = serve(port, data_dir, session)
        holder = {"server": server}

        def restart() -> None:
            holder["server"].kill()
            holder["server"].wait()
            holder["server"] = serve(port, data_dir, session)

        app = QApplication.instance() or QApplication([])
        try:
            with qt_asyncio_loop(app) as loop:
                return loop.run_until_complete(scenarios(port, data_dir, restart))
        finally:
            holder["server"].terminate()
            holder["server"].wait()


if __name__ == "__main__":
    print(json.dumps(qt_loop_bench()))
