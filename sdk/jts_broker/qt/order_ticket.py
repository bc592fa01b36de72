"""``OrderTicket``: a paper (or real) order form on an asyncio gateway."""

from __future__ import annotations

import contextlib

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QWidget

from jts_broker.domain.enums import OrderType, Side
from jts_broker.domain.errors import JtsBrokerError, OrderStatusUnknown
from jts_broker.domain.gateway import IAsyncBrokerGateway
from jts_broker.domain.orders import limit_order, market_order, new_client_order_id
from jts_broker.domain.trading import OrderRequest

from .price_spin import TickPriceSpinBox
from .tasks import Tasks


class OrderTicket(QWidget):
    """Account, symbol, buy/sell, limit/market, quantity and a tick-aware price
    (:class:`TickPriceSpinBox`); "Place" sends the order through ``gateway`` as a task on the
    running event loop (qasync), so the window never freezes while it is on its way, and one order
    at a time (Place is off until the answer is in). The outcome is shown under the form: the
    order's id and status, or the SDK's typed error in one line (``OrderRejected [TICK_SIZE]:
    ...``). A price typed off the tick grid is refused before anything is sent.

    Each order gets its client order id here, shown with the outcome. When the outcome is unknown
    (``OrderStatusUnknown``: the answer was lost after the order may have reached the broker), the
    ticket keeps that order: the button becomes "Resend (same id)" and sends the very same request,
    which the broker deduplicates, never a second order; editing any field starts a new one.
    Closing the ticket does not cancel an order in flight: its answer is still awaited.

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
        self._in_flight = False
        self._unknown: OrderRequest | None = None  # the order whose outcome is unknown: resent as it is
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
        for changed in (self.account.currentTextChanged, self.symbol.textEdited, self.side.currentTextChanged,
                        self.order_type.currentTextChanged, self.quantity.valueChanged, self.price.lineEdit().textEdited):
            changed.connect(self._edited)
        form = QFormLayout(self)
        for label, widget in (("Account", self.account), ("Symbol", self.symbol), ("Side", self.side), ("Type", self.order_type),
                              ("Quantity", self.quantity), ("Price (KRW)", self.price), ("", self.place_button), ("", self.outcome)):
            form.addRow(label, widget)

    @Slot(str)
    def _type_changed(self, text: str) -> None:
        self.price.setEnabled(text == OrderType.LIMIT.value)  # a market order has no price

    @Slot()
    def _edited(self) -> None:
        """Any edit makes a new order: the unknown one is no longer resent."""
        if self._unknown is not None and not self._in_flight:
            self._unknown = None
            self.place_button.setText("Place")

    def order(self) -> OrderRequest | None:
        """The order the form describes, with a new client order id; None (and the reason shown)
        when the typed price is off the grid or not a price."""
        side = Side(self.side.currentText())
        symbol = self.symbol.text().strip()
        if self.order_type.currentText() == OrderType.MARKET.value:
            return market_order(self.account.currentText(), symbol, side, self.quantity.value(), client_order_id=new_client_order_id())
        problem = self.price.problem()
        if problem:
            self.outcome.setText(problem)
            return None
        return limit_order(self.account.currentText(), symbol, side, self.quantity.value(), self.price.value(), client_order_id=new_client_order_id())

    @Slot()
    def place(self) -> None:
        """Send the order (or resend the one whose outcome is unknown) on the running loop."""
        if self._in_flight:  # one order at a time
            return
        order = self._unknown or self.order()
        if order is None:
            return
        self._in_flight = True
        self.place_button.setEnabled(False)
        self.outcome.setText(f"sending {order.client_order_id} ...")
        self._tasks.start(self._send(order), "jts-order-ticket")

    async def _send(self, order: OrderRequest) -> None:
        line = ""
        try:
            result = await self._gateway.place_order(order)
        except OrderStatusUnknown as error:
            self._unknown = order
            line = f"{type(error).__name__} [{error.code}]: {error.message} (client order id {order.client_order_id}; Resend sends the same order)"
        except JtsBrokerError as error:
            self._unknown = None
            line = f"{type(error).__name__} [{error.code}]: {error.message}"
        except Exception as error:  # a bug must not leave the ticket stuck at "sending"
            line = f"{type(error).__name__}: {error}"
        else:
            self._unknown = None
            o = result.order
            fill = f" at {o.average_fill_price:,}" if o.average_fill_price is not None else ""
            text = f"{o.order_id} ({o.client_order_id}): {o.status.value}, {o.filled_quantity}/{o.quantity} filled{fill}"
            with contextlib.suppress(RuntimeError):  # the ticket may have been closed and deleted meanwhile
                self.outcome.setText(text)
                self.placed.emit(result)
        finally:
            self._in_flight = False
        with contextlib.suppress(RuntimeError):
            if line:
                self.outcome.setText(line)
                self.failed.emit(line)
            self.place_button.setText("Resend (same id)" if self._unknown is not None else "Place")
            self.place_button.setEnabled(True)

    def closeEvent(self, event: QCloseEvent) -> None:  # Qt names it
        """An order in flight is not cancelled: its answer is still awaited (and journaled)."""
        super().closeEvent(event)
