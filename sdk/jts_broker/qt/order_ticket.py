"""``OrderTicket``: a paper (or real) order form on an asyncio gateway."""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QWidget

from jts_broker.domain.enums import OrderType, Side
from jts_broker.domain.errors import JtsBrokerError
from jts_broker.domain.gateway import IAsyncBrokerGateway
from jts_broker.domain.orders import limit_order, market_order
from jts_broker.domain.trading import OrderResult

from .price_spin import TickPriceSpinBox
from .tasks import Tasks


class OrderTicket(QWidget):
    """Account, symbol, buy/sell, limit/market, quantity and a tick-aware price
    (:class:`TickPriceSpinBox`); "Place" sends the order through ``gateway`` as a task on the
    running event loop (qasync), so the window never freezes while it is on its way. The outcome
    is shown under the form: the order's id and status, or the SDK's typed error in one line
    (``OrderRejected [TICK_SIZE]: ...``). Each order gets its own client order id (the gateway's),
    so a resend after an unknown outcome is safe to look up.

    Args:
        gateway: an asyncio gateway.
        accounts: account ids to offer (the first is the default).
        parent: the Qt parent.

    Signals:
        placed(OrderResult): the broker took the order (whatever its status).
        failed(str): the order failed, with the error's one line.
    """

    placed = Signal(object)
    failed = Signal(str)

    def __init__(self, gateway: IAsyncBrokerGateway, accounts: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._gateway = gateway
        self._tasks = Tasks()
        self.account = QComboBox(self)
        self.account.addItems(accounts)
        self.symbol = QLineEdit("005930", self)
        self.side = QComboBox(self)
        self.side.addItems([s.value for s in Side])
        self.order_type = QComboBox(self)
        self.order_type.addItems([OrderType.LIMIT.value, OrderType.MARKET.value])
        self.quantity = QSpinBox(self)
        self.quantity.setRange(1, 10_000_000)
        self.price = TickPriceSpinBox(parent=self)
        self.order_type.currentTextChanged.connect(self._type_changed)
        self.place_button = QPushButton("Place", self)
        self.place_button.clicked.connect(self.place)
        self.outcome = QLabel("", self)
        self.outcome.setWordWrap(True)
        form = QFormLayout(self)
        for label, widget in (("Account", self.account), ("Symbol", self.symbol), ("Side", self.side), ("Type", self.order_type),
                              ("Quantity", self.quantity), ("Price (KRW)", self.price), ("", self.place_button), ("", self.outcome)):
            form.addRow(label, widget)

    @Slot(str)
    def _type_changed(self, text: str) -> None:
        self.price.setEnabled(text == OrderType.LIMIT.value)  # a market order has no price

    @Slot()
    def place(self) -> None:
        """Send the order on the running loop; the button waits until the answer is in."""
        side = Side(self.side.currentText())
        symbol = self.symbol.text().strip()
        if self.order_type.currentText() == OrderType.LIMIT.value:
            order = limit_order(self.account.currentText(), symbol, side, self.quantity.value(), self.price.value())
        else:
            order = market_order(self.account.currentText(), symbol, side, self.quantity.value())
        self.place_button.setEnabled(False)
        self.outcome.setText("sending ...")
        self._tasks.start(self._send(order), "jts-order-ticket")

    async def _send(self, order: object) -> None:
        try:
            result: OrderResult = await self._gateway.place_order(order)  # type: ignore[arg-type]
        except JtsBrokerError as error:
            line = f"{type(error).__name__} [{error.code}]: {error.message}"
            self.outcome.setText(line)
            self.failed.emit(line)
        else:
            o = result.order
            fill = f" at {o.average_fill_price:,}" if o.average_fill_price is not None else ""
            self.outcome.setText(f"{o.order_id}: {o.status.value}, {o.filled_quantity}/{o.quantity} filled{fill}")
            self.placed.emit(result)
        finally:
            self.place_button.setEnabled(True)

    def closeEvent(self, event: QCloseEvent) -> None:  # Qt names it
        self._tasks.cancel_all()
        super().closeEvent(event)
