"""The read-only tables of the widgets: one way to make them, to write a cell and to read one."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QTableWidget, QTableWidgetItem, QWidget


def read_only_table(parent: QWidget, columns: Sequence[str], rows: int = 0) -> QTableWidget:
    """A table of ``rows`` rows under the headers ``columns``, with no row numbers and no editing."""
    table = QTableWidget(rows, len(columns), parent)
    table.setHorizontalHeaderLabels(list(columns))
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    return table


def set_text(table: QTableWidget, row: int, column: int, text: str) -> None:
    """Show ``text`` in a cell, reusing its item (no repaint when the text is unchanged)."""
    item = table.item(row, column)
    if item is None:
        table.setItem(row, column, QTableWidgetItem(text))
    elif item.text() != text:
        item.setText(text)


def cell_text(table: QTableWidget, row: int, column: int) -> str:
    """The text of a cell; empty when it has none."""
    item = table.item(row, column)
    return item.text() if item is not None else ""
