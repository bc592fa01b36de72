"""``TickPriceSpinBox``: a KRW price field that steps along the KRX tick grid, exactly."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QAbstractSpinBox, QWidget

from jts_broker.domain import krx
from jts_broker.domain.enums import Market, SecurityType


class TickPriceSpinBox(QAbstractSpinBox):
    """A price in KRW as ``Decimal``: the arrows and Page keys move one tick of the KRX table at
    that price (100 KRW at 79,600; 500 at 200,000 and above, table of 2023-01-25), typed prices
    are snapped down to the grid when the field is left, shown with thousands separators. Never
    a float.

    Args:
        security_type, market: whose tick table applies (stock, KOSPI by default).
        on: the trading date whose table applies (None: today's).
        parent: the Qt parent.
    """

    def __init__(self, security_type: SecurityType = SecurityType.STOCK, market: Market = Market.KOSPI, on: date | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._kind, self._market, self._on = security_type, market, on
        self._value = Decimal(1)
        self.setValue(Decimal(1))
        self.editingFinished.connect(self._snap)
        self.lineEdit().editingFinished.connect(self._snap)

    def value(self) -> Decimal:
        """The price in the field, on the grid: typed text not yet confirmed counts too (snapped
        down), so a click on "Place" right after typing sends what was typed."""
        try:
            typed = Decimal(self.lineEdit().text().replace(",", ""))
        except InvalidOperation:
            return self._value
        if typed <= 0:
            return self._value
        return krx.round_to_tick(max(typed, Decimal(1)), self._kind, market=self._market, on=self._on)

    def setValue(self, price: Decimal) -> None:  # Qt's naming
        """Show ``price`` rounded down to the grid (at least the smallest tick)."""
        price = max(Decimal(price), Decimal(1))
        self._value = krx.round_to_tick(price, self._kind, market=self._market, on=self._on)
        self.lineEdit().setText(f"{self._value:,}")

    def stepBy(self, steps: int) -> None:  # Qt's naming
        price = self._value
        for _ in range(abs(steps)):
            if steps > 0:
                price = krx.next_tick(price, self._kind, market=self._market, on=self._on)
            elif price > 1:
                price = krx.previous_tick(price, self._kind, market=self._market, on=self._on)
        self.setValue(price)

    def stepEnabled(self) -> QAbstractSpinBox.StepEnabledFlag:  # Qt's naming
        flags = QAbstractSpinBox.StepEnabledFlag.StepUpEnabled
        if self._value > 1:
            flags |= QAbstractSpinBox.StepEnabledFlag.StepDownEnabled
        return flags

    def validate(self, text: str, pos: int) -> tuple[QValidator.State, str, int]:
        cleaned = text.replace(",", "").strip()
        if cleaned == "":
            return QValidator.State.Intermediate, text, pos
        try:
            ok = Decimal(cleaned) > 0
        except InvalidOperation:
            ok = False
        return (QValidator.State.Acceptable if ok else QValidator.State.Invalid), text, pos

    def _snap(self) -> None:
        self.setValue(self.value())
