"""The example trading window of ``jts-broker gui``: the broker's status, its rate-limit budget
and live quotes, on one Qt event loop shared with asyncio (qasync)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import qasync
from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QApplication, QGroupBox, QVBoxLayout, QWidget

from jts_broker.client._generated.aio_gateway import AsyncGrpcBrokerGateway
from jts_broker.client.registry import BrokerRegistry
from jts_broker.domain.config import BrokerConfig

from .quote_panel import QuotePanel
from .rate_limit_indicator import RateLimitIndicator
from .status_widget import BrokerStatusWidget


class MainWindow(QWidget):
    """The status of every broker of ``registry``, and, for broker ``name``, its query budget and
    live quotes of ``symbols`` through ``gateway`` (the asyncio gateway of the same broker).

    Signals:
        closed(): the window was closed (its widgets have stopped their listeners and timers).
    """

    closed = Signal()

    def __init__(self, registry: BrokerRegistry, gateway: AsyncGrpcBrokerGateway, symbols: list[str]) -> None:
        super().__init__()
        self.setWindowTitle("jts-broker")
        self.status = BrokerStatusWidget(registry, check_interval_s=2.0)
        self.limits = RateLimitIndicator(gateway.rate_limiter)
        self.quotes = QuotePanel(gateway, symbols)
        layout = QVBoxLayout(self)
        for title, widget in (("Brokers", self.status), ("Rate limit (this window's calls)", self.limits), ("Quotes", self.quotes)):
            box = QGroupBox(title, self)
            QVBoxLayout(box).addWidget(widget)
            layout.addWidget(box)
        self.resize(900, 560)

    def closeEvent(self, event: QCloseEvent) -> None:  # Qt names it
        for widget in (self.status, self.limits, self.quotes):
            widget.close()  # each unsubscribes from the SDK before it is deleted
        super().closeEvent(event)
        self.closed.emit()


async def _run(config: BrokerConfig, registry: BrokerRegistry, symbols: list[str], quit_after_s: float | None, screenshot: Path | None) -> None:
    closed = asyncio.Event()
    # The channel is created inside the running loop: grpc.aio binds it to the loop it starts on.
    async with AsyncGrpcBrokerGateway(config) as gateway:
        window = MainWindow(registry, gateway, symbols)
        window.closed.connect(closed.set)
        window.show()
        window.quotes.start()
        if quit_after_s is not None:
            def finish() -> None:
                if screenshot is not None:
                    window.grab().save(str(screenshot))
                window.close()

            QTimer.singleShot(int(quit_after_s * 1000), finish)
        await closed.wait()
        await window.quotes.stop()


def run_gui(config: BrokerConfig, registry: BrokerRegistry, symbols: list[str], *, quit_after_s: float | None = None,
            screenshot: Path | None = None) -> int:
    """Open the window and run until it is closed (or ``quit_after_s`` seconds, then save a
    ``screenshot`` PNG when given). 0 when closed normally.

    The Qt event loop runs asyncio through qasync's ``QEventLoop``, set as this thread's loop
    only: ``qasync.run`` would install it as the policy for every thread, and the rate limiter's
    background thread (pyrate-limiter's leaker, which calls ``asyncio.run``) would then get a Qt
    loop off the GUI thread and fail.
    """
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)  # the coroutine ends the loop, once the gateway has closed
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_run(config, registry, symbols, quit_after_s, screenshot))
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    return 0
