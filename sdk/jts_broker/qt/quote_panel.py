"""``QuotePanel``: live quotes of a few symbols from an asyncio gateway, on the Qt event loop."""

from __future__ import annotations

import asyncio
import contextlib

from PySide6.QtCore import Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QHeaderView, QLabel, QVBoxLayout, QWidget

from jts_broker.domain.errors import JtsBrokerError
from jts_broker.domain.gateway import AsyncQuoteStream, IAsyncBrokerGateway
from jts_broker.domain.market_data import Quote, QuoteGap
from jts_broker.domain.validation import check_symbols

from .tables import cell_text, read_only_table, set_text

COLUMNS = ("Symbol", "Price", "Bid", "Ask", "Volume", "Time")


class QuotePanel(QWidget):
    """A row per symbol following ``gateway.stream_quotes(symbols)``: last price, bid, ask,
    volume and quote time (prices as the exchange writes them, ``79,600``); a line under the
    table names the last gap when the stream broke and subscribed again.

    The stream runs as an asyncio task on the running event loop, which must be the Qt event loop
    (qasync's ``QEventLoop``): :meth:`start` from a coroutine or an ``asyncSlot``. Nothing blocks:
    the task awaits the next quote between repaints.

    Args:
        gateway: an asyncio gateway (``AsyncGrpcBrokerGateway``).
        symbols: 6-character KRX codes, shown in this order.
        parent: the Qt parent.

    Signals:
        quote_received(Quote), gap_received(QuoteGap): each item of the stream, once shown.

    Raises:
        InvalidRequest: a malformed symbol.
    """

    quote_received = Signal(object)
    gap_received = Signal(object)

    def __init__(self, gateway: IAsyncBrokerGateway, symbols: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._gateway = gateway
        self._symbols = check_symbols(symbols)
        self.table = read_only_table(self, COLUMNS, len(self._symbols))
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        for row, code in enumerate(self._symbols):
            set_text(self.table, row, 0, code)
        self.gap_line = QLabel("", self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addWidget(self.gap_line)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Follow the stream on the running event loop (a second call does nothing)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._follow(), name="jts-quote-panel")

    async def stop(self) -> None:
        """Stop following (the subscription is closed). A stream that had already failed is not
        raised again here: its error is on the panel."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _follow(self) -> None:
        stream = self._gateway.stream_quotes(self._symbols)
        try:
            await self._consume(stream)
        except JtsBrokerError as error:  # the stream ended for good: the rows are no longer live
            with contextlib.suppress(RuntimeError):
                self.gap_line.setText(f"stream ended: {type(error).__name__} [{error.code}]: {error.message}; quotes shown are stale")
            raise
        finally:
            await stream.aclose()

    async def _consume(self, stream: AsyncQuoteStream) -> None:
        async for item in stream:
            if isinstance(item, QuoteGap):
                self.gap_line.setText(f"gap {item.start:%H:%M:%S}-{item.end:%H:%M:%S}: quotes may have been missed ({item.reason})")
                self.gap_received.emit(item)
            else:
                self._show(item)
                self.quote_received.emit(item)

    def _show(self, quote: Quote) -> None:
        row = self._symbols.index(quote.symbol)
        for column, text in enumerate((quote.symbol, f"{quote.price:,}", f"{quote.bid:,}", f"{quote.ask:,}", f"{quote.volume:,}",
                                       f"{quote.time:%Y-%m-%d %H:%M:%S}")):
            set_text(self.table, row, column, text)

    def text(self, symbol: str, column: str) -> str:
        """The text shown in ``symbol``'s row under ``column`` (a header of :data:`COLUMNS`)."""
        return cell_text(self.table, self._symbols.index(symbol), COLUMNS.index(column))

    def closeEvent(self, event: QCloseEvent) -> None:  # Qt names it
        """Closing the panel cancels the stream's task."""
        if self._task is not None:
            self._task.cancel()
        super().closeEvent(event)
