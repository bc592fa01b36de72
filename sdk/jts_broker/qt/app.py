"""The example trading window of ``jts-broker gui``, on one Qt event loop shared with asyncio
(qasync)."""

from __future__ import annotations

import asyncio
import sys
from datetime import date
from pathlib import Path

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QApplication, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from jts_broker.client._generated.aio_gateway import AsyncGrpcBrokerGateway
from jts_broker.client.registry import BrokerRegistry
from jts_broker.domain.config import BrokerConfig
from jts_broker.domain.enums import Timeframe
from jts_broker.domain.market_data import Quote

from .account_panel import AccountPanel
from .candle_chart import CandleChart
from .event_loop import qt_asyncio_loop
from .order_ticket import OrderTicket
from .quote_panel import QuotePanel
from .rate_limit_indicator import RateLimitIndicator
from .status_widget import BrokerStatusWidget
from .symbol_search import SymbolSearch


class MainWindow(QWidget):
    """The example trading window: every broker's status (``registry``) and, for one broker
    through its asyncio ``gateway``: its rate-limit budget, a symbol search, the chosen symbol's
    daily candles (ten years, loaded in pieces with progress), live quotes, the account's balance
    and positions, and an order ticket.

    Signals:
        closed(): the window was closed (its widgets have stopped their listeners, timers and tasks).
    """

    closed = Signal()

    def __init__(self, registry: BrokerRegistry, gateway: AsyncGrpcBrokerGateway, symbols: list[str], accounts: list[str]) -> None:
        super().__init__()
        self.setWindowTitle("jts-broker")
        self._gateway = gateway
        self._priced: dict[str, bool] = {}
        self.status = BrokerStatusWidget(registry, check_interval_s=2.0)
        self.limits = RateLimitIndicator(gateway.rate_limiter)
        self.search = SymbolSearch(gateway)
        self.chart = CandleChart()
        self.chart_title = QLabel("", self)
        self.progress = QProgressBar(self)
        self.cancel_load = QPushButton("Cancel", self)
        self.cancel_load.clicked.connect(self.chart.cancel)
        self.chart.progress.connect(self._progress)
        self.chart.failed.connect(self.chart_title.setText)
        self.search.chosen.connect(self.show_symbol)
        self.quotes = QuotePanel(gateway, symbols)
        self.account = AccountPanel(gateway, accounts[0]) if accounts else None
        self.ticket = OrderTicket(gateway, accounts)
        self.ticket.placed.connect(lambda _: self.account.refresh() if self.account else None)
        self.quotes.quote_received.connect(self._offer_price)
        chart_box = QWidget(self)
        chart_layout = QVBoxLayout(chart_box)
        loading = QHBoxLayout()
        loading.addWidget(self.chart_title, 1)
        loading.addWidget(self.progress)
        loading.addWidget(self.cancel_load)
        chart_layout.addLayout(loading)
        chart_layout.addWidget(self.chart, 1)
        grid = QGridLayout(self)
        boxes = (("Brokers", self.status, 0, 0, 1, 2), ("Rate limit", self.limits, 0, 2, 1, 1),
                 ("Symbols", self.search, 1, 0, 2, 1), ("Chart", chart_box, 1, 1, 1, 2), ("Quotes", self.quotes, 2, 1, 1, 2),
                 ("Account", self.account, 3, 0, 1, 2), ("Order", self.ticket, 3, 2, 1, 1))
        for title, widget, row, column, rows, columns in boxes:
            if widget is None:
                continue
            box = QGroupBox(title, self)
            QVBoxLayout(box).addWidget(widget)
            grid.addWidget(box, row, column, rows, columns)
        grid.setRowStretch(1, 3)
        self.resize(1280, 900)

    def _offer_price(self, quote: Quote) -> None:
        """Put the ticket's price at the market the first time its symbol is quoted, unless the
        user is typing there or has typed a price."""
        field = self.ticket.price
        if field.hasFocus() or field.lineEdit().isModified():
            return
        if quote.symbol == self.ticket.symbol.text().strip() and not self._priced.get(quote.symbol):
            self.ticket.price.setValue(quote.price)
            self._priced[quote.symbol] = True

    def _progress(self, done: int, total: int) -> None:
        self.progress.setMaximum(total)
        self.progress.setValue(done)

    def show_symbol(self, code: str, years: int = 10) -> None:
        """Load ``code``'s daily candles of the last ``years`` years into the chart (in pieces of
        a year, with progress; Cancel stops it) and put it in the order ticket."""
        today = date.today()
        self.chart_title.setText(f"{code}: daily candles, {years} years")
        self.ticket.symbol.setText(code)
        start = date(today.year - years, today.month, min(today.day, 28))  # no 29 February ten years back: day 28 is in every month
        self.chart.load(self._gateway, code, Timeframe.DAY, start, today)

    def start(self) -> None:
        """Start the live parts (quotes, account reads) on the running loop."""
        self.quotes.start()
        if self.account is not None:
            self.account.refresh()

    def closeEvent(self, event: QCloseEvent) -> None:  # Qt names it
        for widget in (self.status, self.limits, self.search, self.chart, self.quotes, self.account, self.ticket):
            if widget is not None:
                widget.close()  # each unsubscribes from the SDK and cancels its tasks before it is deleted
        super().closeEvent(event)
        self.closed.emit()


async def _run(config: BrokerConfig, registry: BrokerRegistry, symbols: list[str], quit_after_s: float | None, screenshot: Path | None) -> None:
    closed = asyncio.Event()
    # The channel is created inside the running loop: grpc.aio binds it to the loop it starts on.
    async with AsyncGrpcBrokerGateway(config) as gateway:
        accounts = [a.account_id for a in await gateway.get_accounts()]
        window = MainWindow(registry, gateway, symbols, accounts)
        window.closed.connect(closed.set)
        window.show()
        window.start()
        if symbols:
            window.show_symbol(symbols[0])
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

    The Qt event loop runs asyncio through qasync (see :func:`~jts_broker.qt.event_loop.qt_asyncio_loop`).
    """
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)  # the coroutine ends the loop, once the gateway has closed
    with qt_asyncio_loop(app) as loop:
        loop.run_until_complete(_run(config, registry, symbols, quit_after_s, screenshot))
    return 0
