"""``SymbolSearch``: find a symbol by code or name through an asyncio gateway."""

from __future__ import annotations

from PySide6.QtCore import QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QLabel, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from jts_broker.domain.errors import JtsBrokerError
from jts_broker.domain.gateway import IAsyncBrokerGateway

from .tasks import Tasks


class SymbolSearch(QWidget):
    """A search field and its matches (``code name``, by code; at most ``limit`` shown): a pause
    in typing (250 ms) asks the gateway (``get_symbols(query)``) on the running loop, the newest
    query winning;
    choosing a match (click or Enter) emits ``chosen(code)``. An error is shown under the list.

    Signals:
        chosen(str): the code of the chosen symbol.
    """

    chosen = Signal(str)

    def __init__(self, gateway: IAsyncBrokerGateway, limit: int = 50, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._gateway = gateway
        self._limit = limit
        self._tasks = Tasks()
        self.query = QLineEdit(self)
        self.query.setPlaceholderText("code or name, e.g. 005930 or 삼성")
        self._debounce = QTimer(self)  # one query when typing pauses, not one per key (each costs a token)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(250)
        self._debounce.timeout.connect(lambda: self.search(self.query.text()))
        self.query.textChanged.connect(self._debounce.start)
        self.results = QListWidget(self)
        self.results.itemActivated.connect(self._choose)
        self.results.itemClicked.connect(self._choose)
        self.message = QLabel("", self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.query, self.results, self.message):
            layout.addWidget(widget)

    @Slot(str)
    def search(self, text: str) -> None:
        self._tasks.cancel_all()  # the newest query wins
        if text.strip():
            self._tasks.start(self._search(text.strip()), "jts-symbol-search")
        else:
            self.results.clear()

    async def _search(self, text: str) -> None:
        try:
            found = await self._gateway.get_symbols(text)
        except JtsBrokerError as error:
            self.message.setText(f"{type(error).__name__}: {error.message}")
            return
        self.results.clear()
        for symbol in found[: self._limit]:
            item = QListWidgetItem(f"{symbol.code} {symbol.name}")
            self.results.addItem(item)
        self.message.setText(f"{len(found):,} found" + (f", first {self._limit} shown" if len(found) > self._limit else ""))

    @Slot(QListWidgetItem)
    def _choose(self, item: QListWidgetItem) -> None:
        self.chosen.emit(item.text().split()[0])

    def closeEvent(self, event: QCloseEvent) -> None:  # Qt names it
        self._debounce.stop()
        self._tasks.cancel_all()
        super().closeEvent(event)
