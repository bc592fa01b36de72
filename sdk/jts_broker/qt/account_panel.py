"""``AccountPanel``: balance and positions of one account, refreshed through an asyncio gateway."""

from __future__ import annotations

from PySide6.QtCore import QTimer, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from jts_broker.domain.errors import JtsBrokerError
from jts_broker.domain.gateway import IAsyncBrokerGateway

from .tables import read_only_table, set_text
from .tasks import Tasks

COLUMNS = ("Symbol", "Name", "Quantity", "Average", "Last", "Value", "Unrealized")


class AccountPanel(QWidget):
    """A line of the balance (cash, buying power, equity, realized P&L, KRW) and a table of
    positions, read every ``refresh_s`` seconds (and on :meth:`refresh`) on the running loop.
    A read that fails leaves the last figures and says why under them."""

    def __init__(self, gateway: IAsyncBrokerGateway, account_id: str, refresh_s: float = 2.0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._gateway, self._account = gateway, account_id
        self._tasks = Tasks()
        self.balance = QLabel("", self)
        self.positions = read_only_table(self, COLUMNS)
        self.message = QLabel("", self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.balance, self.positions, self.message):
            layout.addWidget(widget)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._timer.start(int(refresh_s * 1000))

    @Slot()
    def refresh(self) -> None:
        """Read now, unless a read is still under way (a slow budget must not be spent twice)."""
        if not self._tasks.running():
            self._tasks.start(self._read(), "jts-account-panel")

    async def _read(self) -> None:
        try:
            balance = await self._gateway.get_balance(self._account)
            positions = await self._gateway.get_positions(self._account)
        except JtsBrokerError as error:
            self.message.setText(f"{type(error).__name__}: {error.message}")
            return
        self.message.setText("")
        self.balance.setText(f"{self._account}: cash {balance.cash:,} · buying power {balance.buying_power:,} · "
                             f"equity {balance.total_equity:,} · realized {balance.realized_pnl:,} KRW")
        self.positions.setRowCount(len(positions))
        for row, p in enumerate(positions):
            for column, text in enumerate((p.symbol, p.symbol_name, f"{p.quantity:,}", f"{p.average_price:,}", f"{p.last_price:,}",
                                           f"{p.market_value:,}", f"{p.unrealized_pnl:,}")):
                set_text(self.positions, row, column, text)

    def closeEvent(self, event: QCloseEvent) -> None:  # Qt names it
        self._timer.stop()
        self._tasks.cancel_all()
        super().closeEvent(event)
