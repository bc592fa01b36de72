"""The Qt widgets, real ones on Qt's offscreen platform (pytest-qt), against real simulators and
real processes: the status widget follows a simulator process killed and restarted on the same
port; the rate-limit indicator follows this process's calls and another process's spending of a
shared SQLite budget."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from jts_broker import BrokerConfig, GrpcBrokerGateway, RateBudget, RateLimit, RateLimitPolicy
from jts_broker.client.registry import BrokerRegistry
from jts_broker.domain.enums import ConnectionStatus
from jts_broker.policies.rate_limiter import RateLimiter
from jts_broker.qt import BrokerStatusWidget, RateLimitIndicator
from jts_broker.server import SimulatorServer
from tests.processes import free_port, start_server, stop

pytestmark = pytest.mark.integration
WAIT_MS = 20_000


def test_the_status_widget_follows_a_simulator_killed_and_restarted_on_its_port(qtbot: QtBot) -> None:
    port = free_port()
    server, _ = start_server(port)
    registry = BrokerRegistry({"sim": BrokerConfig.from_target(f"127.0.0.1:{port}")})
    try:
        widget = BrokerStatusWidget(registry, check_interval_s=0.3)
        qtbot.addWidget(widget)
        seen: list[str] = []
        widget.status_changed.connect(lambda name, status: seen.append(status))
        qtbot.waitUntil(lambda: widget.status("sim") is ConnectionStatus.CONNECTED and widget.text("sim", "Latency").endswith(" ms"), timeout=WAIT_MS)
        assert widget.text("sim", "Mode") == "LIVE"
        assert widget.text("sim", "Address") == f"127.0.0.1:{port}"
        stop(server, kill=True)  # a crash: no goodbye
        qtbot.waitUntil(lambda: widget.status("sim") is ConnectionStatus.ERROR, timeout=WAIT_MS)
        assert widget.text("sim", "Last error") and widget.text("sim", "Mode") == "-"
        server, _ = start_server(port)  # back on the same port, nobody touches the widget
        qtbot.waitUntil(lambda: widget.status("sim") is ConnectionStatus.CONNECTED, timeout=WAIT_MS)
        assert seen[-1] == "connected" and "error" in seen
        widget.close()
    finally:
        stop(server)
        registry.close()


def test_a_widget_destroyed_without_being_closed_stops_listening(qtbot: QtBot) -> None:
    with SimulatorServer(speed=0) as server, GrpcBrokerGateway(BrokerConfig.from_target(server.target)) as gateway:
        from PySide6.QtWidgets import QWidget

        parent = QWidget()
        indicator = RateLimitIndicator(gateway.rate_limiter, parent=parent)
        listeners = len(gateway.rate_limiter._listeners)
        assert listeners >= 1
        destroyed: list[bool] = []
        indicator.destroyed.connect(lambda: destroyed.append(True))
        parent.deleteLater()  # the parent goes, the indicator with it, and no closeEvent is sent
        qtbot.waitUntil(lambda: bool(destroyed), timeout=WAIT_MS)
        assert len(gateway.rate_limiter._listeners) == listeners - 1
        for _ in range(5):
            gateway.get_quote("005930")  # nobody emits on a deleted object


def test_the_reconnect_button_connects_a_broker_that_was_never_reachable(qtbot: QtBot) -> None:
    port = free_port()
    registry = BrokerRegistry({"sim": BrokerConfig.from_target(f"127.0.0.1:{port}")})
    server = None
    try:
        widget = BrokerStatusWidget(registry, check_interval_s=60)  # no periodic check: the button must do it
        qtbot.addWidget(widget)
        qtbot.waitUntil(lambda: widget.status("sim") is ConnectionStatus.ERROR, timeout=WAIT_MS)
        server = SimulatorServer(port=port, speed=0).start()
        widget.table.cellWidget(0, 7).click()
        qtbot.waitUntil(lambda: widget.status("sim") is ConnectionStatus.CONNECTED, timeout=WAIT_MS)
        widget.close()
    finally:
        if server is not None:
            server.stop()
        registry.close()


def test_the_indicator_follows_this_process_calls_and_colours_by_threshold(qtbot: QtBot) -> None:
    with SimulatorServer(speed=0) as server, GrpcBrokerGateway(BrokerConfig.from_target(server.target, rate_limit=RateLimit(1000, 60.0))) as gateway:
        # A minute's window (its pacing lets 100 out per 6 s): tokens stay counted while the test looks.
        # refresh_s of 10 minutes: within the test only the listener can move the bars
        indicator = RateLimitIndicator(gateway.rate_limiter, warn_at=0.01, alarm_at=0.02, refresh_s=600)  # amber from 10 tokens, red from 20
        qtbot.addWidget(indicator)
        levels: list[str] = []
        indicator.level_changed.connect(levels.append)
        qtbot.waitUntil(lambda: indicator.usage("query") is not None, timeout=WAIT_MS)
        spent = gateway.rate_limiter.usage().used  # what connecting took
        for _ in range(10 - spent):
            gateway.get_quote("005930")
        qtbot.waitUntil(lambda: indicator.bar("query").value() == 10, timeout=WAIT_MS)  # heard through the listener
        assert indicator.bar("query").maximum() == 1000 and indicator.level == "warn"
        for _ in range(10):
            gateway.get_quote("005930")
        qtbot.waitUntil(lambda: indicator.level == "alarm", timeout=WAIT_MS)
        assert levels == ["warn", "alarm"] and "20/1000 per 1 min" in indicator.toolTip()
        indicator.close()


SPENDER = textwrap.dedent("""
    import sys
    from jts_broker import RateBudget, RateLimit, RateLimitPolicy
    from jts_broker.policies.rate_limiter import RateLimiter
    policy = RateLimitPolicy(RateBudget((RateLimit(1000, 60.0),)), backend="sqlite:///" + sys.argv[1], key="shared-ui")
    with RateLimiter(policy) as limiter:
        for _ in range(int(sys.argv[2])):
            limiter.acquire()
    print("spent", flush=True)
""")


def test_the_indicator_shows_what_another_process_spends_of_a_shared_budget(qtbot: QtBot, tmp_path: Path) -> None:
    store = tmp_path / "budget.sqlite"
    policy = RateLimitPolicy(RateBudget((RateLimit(1000, 60.0),)), backend=f"sqlite:///{store}", key="shared-ui")
    with RateLimiter(policy) as limiter:
        indicator = RateLimitIndicator(limiter, refresh_s=0.2)
        qtbot.addWidget(indicator)
        qtbot.waitUntil(lambda: indicator.usage("query") is not None, timeout=WAIT_MS)
        assert indicator.bar("query").value() == 0
        spender = subprocess.run([sys.executable, "-c", SPENDER, str(store), "37"], capture_output=True, text=True, timeout=120)
        assert spender.stdout.strip() == "spent", spender.stderr
        qtbot.waitUntil(lambda: indicator.bar("query").value() == 37, timeout=WAIT_MS)  # none of it went through this process
        usage = indicator.usage("query")
        assert usage is not None and usage.total == 0
        indicator.close()


def test_the_quote_panel_follows_an_async_stream_on_the_qt_event_loop(qtbot: QtBot) -> None:
    import asyncio

    from jts_broker import AsyncGrpcBrokerGateway
    from jts_broker.qt import QuotePanel, qt_asyncio_loop

    with SimulatorServer(speed=0) as server, qt_asyncio_loop(qtbot_app()) as loop:
        async def scenario() -> list[str]:
            async with AsyncGrpcBrokerGateway(BrokerConfig.from_target(server.target)) as gateway:
                panel = QuotePanel(gateway, ["005930", "000660"])
                qtbot.addWidget(panel)
                prices: list[str] = []
                panel.quote_received.connect(lambda q: prices.append(f"{q.symbol} {q.price:,}"))
                panel.start()
                while len(prices) < 2:
                    await asyncio.sleep(0.02)
                server.step(8)  # the market moves: new quotes arrive on the same loop
                while len(prices) < 4:
                    await asyncio.sleep(0.02)
                await panel.stop()
                last = [p.split()[1] for p in prices if p.startswith("005930")][-1]
                assert panel.text("005930", "Price") == last  # the row shows the stream's latest quote
                return prices

        prices = loop.run_until_complete(asyncio.wait_for(scenario(), 30))
    assert {p.split()[0] for p in prices} == {"005930", "000660"}


def test_a_closed_qt_loop_leaves_no_timer_behind(qtbot: QtBot) -> None:
    """qasync 0.28.0 leaves a pending callback's Qt timer registered after close(); its timer
    object freed later by the garbage collector on another thread then crashed the process when the
    timer fired. qt_asyncio_loop deletes it on the GUI thread."""
    import asyncio
    import gc
    import threading

    import shiboken6

    from jts_broker.qt import qt_asyncio_loop

    with qt_asyncio_loop(qtbot_app()) as loop:
        loop.call_later(0.3, lambda: None)  # still pending when the loop closes, as a wait_for's timeout is
        loop.run_until_complete(asyncio.sleep(0.01))
        timers = loop._timer
    assert not shiboken6.isValid(timers)  # deleted here, on the GUI thread, its timers with it
    del loop, timers
    collector = threading.Thread(target=gc.collect)  # what used to free it, on a thread of its own
    collector.start()
    collector.join()
    qtbot.wait(600)  # past the callback's time: nothing fires on a deleted object


def qtbot_app() -> QApplication:  # the QApplication pytest-qt made for this session
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    return app


def test_gui_opens_the_example_window_on_an_in_process_simulator(tmp_path: Path) -> None:
    shot = tmp_path / "gui.png"
    done = subprocess.run([sys.executable, "-m", "jts_broker.cli.main", "gui", "--quit-after", "2", "--screenshot", str(shot)],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stderr
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Traceback" not in done.stderr


WITHOUT_QT = textwrap.dedent("""
    import sys
    sys.modules["PySide6"] = None  # as on a machine without the extra
    import jts_broker
    from jts_broker.cli.main import main
    try:
        import jts_broker.qt
    except ModuleNotFoundError as exc:
        print("qt:", exc)
    sys.exit(main(["gui"]))
""")


def test_without_the_qt_extra_the_sdk_imports_and_gui_names_the_install_command() -> None:
    done = subprocess.run([sys.executable, "-c", WITHOUT_QT], capture_output=True, text=True, timeout=120)
    assert "qt: jts_broker.qt needs PySide6: pip install 'jts-broker[qt]'" in done.stdout
    assert done.returncode == 1 and done.stderr.strip().splitlines() == ["jts-broker gui needs Qt (PySide6 is missing): pip install 'jts-broker[qt]'"]


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None is immortal from Python 3.12: its count proves nothing there")
def test_pyside_keeps_none_alive(qtbot: QtBot) -> None:
    """PySide6 6.12.0 on Python 3.11 dropped a reference to None on every call of a method that
    returns nothing: a window painting and updating soon died with "deallocating None". The
    pinned version must not (see the qt extra in pyproject.toml). The project runs on 3.11."""
    from PySide6.QtWidgets import QLabel

    label = QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for _ in range(10_000):
        label.setText("x")
    assert sys.getrefcount(None) >= before - 100  # other threads may move it a little; the bug took 10,000
