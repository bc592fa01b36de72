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
    that price (100 KRW at 79,600; 500 at 200,000 and above, table of 2023-01-25); a typed price
    off the grid is reported by :meth:`problem` (an order ticket refuses to send it) and shown
    kept as typed; thousands separators shown. Never a float.

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

    def typed(self) -> Decimal | None:
        """The price as typed (separators removed); None when it is not a finite price > 0."""
        try:
            typed = Decimal(self.lineEdit().text().replace(",", "").strip())
        except InvalidOperation:
            return None
        return typed if typed.is_finite() and typed > 0 else None

    def problem(self) -> str:
        """Why the typed price cannot be sent as it is ("" when it can): not a price, or off the
        tick grid (naming the grid prices around it). Nothing is ever rounded silently."""
        typed = self.typed()
        if typed is None:
            return f"price {self.lineEdit().text()!r} is not a price in KRW"
        if not krx.is_on_tick(typed, self._kind, market=self._market, on=self._on):
            below = krx.round_to_tick(max(typed, Decimal(1)), self._kind, market=self._market, on=self._on)
            above = krx.next_tick(below, self._kind, market=self._market, on=self._on)
            return f"price {typed:,} is off the tick grid: {below:,} or {above:,}"
        return ""

    def value(self) -> Decimal:
        """The price in the field: the typed one when it is on the grid (text not yet confirmed
        counts too), else the last confirmed one; see :meth:`problem` before sending."""
        typed = self.typed()
        return typed if typed is not None and not self.problem() else self._value

    def setValue(self, price: Decimal) -> None:  # Qt's naming
        """Show ``price`` rounded down to the grid (at least the smallest tick)."""
        price = max(Decimal(price), Decimal(1))
        self._value = krx.round_to_tick(price, self._kind, market=self._market, on=self._on)
        self.lineEdit().setText(f"{self._value:,}")

    def stepBy(self, steps: int) -> None:  # Qt's naming
        """Move ``steps`` ticks from the typed price (from the grid price at or below it when it is
        off the grid), or from the last confirmed one when what is typed is not a price."""
        typed = self.typed()
        price = krx.round_to_tick(typed, self._kind, market=self._market, on=self._on) if typed is not None and typed >= 1 else self._value
        if typed is not None and price < typed:  # off the grid: the first step lands on the grid price above or below
            if steps > 0:
                price = krx.next_tick(price, self._kind, market=self._market, on=self._on)
            steps -= 1 if steps > 0 else -1
        for _ in range(abs(steps)):
            if steps > 0:
                price = krx.next_tick(price, self._kind, market=self._market, on=self._on)
            elif price > 1:
                price = krx.previous_tick(price, self._kind, market=self._market, on=self._on)
        self.setValue(price)

    def stepEnabled(self) -> QAbstractSpinBox.StepEnabledFlag:  # Qt's naming
        flags = QAbstractSpinBox.StepEnabledFlag.StepUpEnabled
        if self.value() > 1:
            flags |= QAbstractSpinBox.StepEnabledFlag.StepDownEnabled
        return flags

    def validate(self, text: str, pos: int) -> tuple[QValidator.State, str, int]:
        cleaned = text.replace(",", "").strip()
        if cleaned == "":
            return QValidator.State.Intermediate, text, pos
        if not all(ch.isdigit() or ch == "." for ch in cleaned):  # digits only: no "Infinity", no signs
            return QValidator.State.Invalid, text, pos
        try:
            ok = Decimal(cleaned) > 0
        except InvalidOperation:
            ok = False
        return (QValidator.State.Acceptable if ok else QValidator.State.Intermediate), text, pos

    def _snap(self) -> None:
        """Leaving the field formats a price on the grid (``77300`` -> ``77,300``); a price off the
        grid stays as typed, for :meth:`problem` to name: it is never rounded behind the user."""
        typed = self.typed()
        if typed is not None and not self.problem():
            self.setValue(typed)
