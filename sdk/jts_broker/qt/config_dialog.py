"""``BrokerConfigDialog``: the brokers and accounts of ``jts-broker.toml``, edited (E03-F04-T02)."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import tomlkit
from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)
from tomlkit.items import AoT, Table

from jts_broker.client.config_file import EXAMPLE, parse_settings
from jts_broker.domain.config import BrokerConfig
from jts_broker.domain.enums import AccountType, BrokerType
from jts_broker.domain.errors import ConfigurationError

from .background import Background

FIELDS = ("name", "type", "host", "port", "token", "tls_ca", "tls_cert", "tls_key", "preset", "accounts")
"""The form's fields, each with an error line beside it (:meth:`BrokerConfigDialog.error`)."""
_TLS_FILE_KEYS = {"tls_ca": "ca", "tls_cert": "cert", "tls_key": "key"}
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


class BrokerConfigDialog(QDialog):
    """Lists, adds, edits and removes the brokers (and their accounts) of the config file at
    ``path`` (a new file starts from the commented example of ``jts-broker config init``).

    Each broker has its type, host, port, TLS files (CA, client certificate and key), bearer token
    (masked as typed; ``$JTS_BROKER_<NAME>_TOKEN`` is the better home for it), rate-limit preset
    and accounts (id, name, REAL or PAPER). Every change is validated by the config loader itself,
    on the whole file as it would be written: its errors are shown beside the field they name and
    saving is refused until none is left. Saving writes the file atomically (a temporary file in
    the same folder, then a rename) and keeps the comments and keys it did not touch (tomlkit).
    Brokers with ``backend = "rest"`` (KIS directly, app key and secret) are listed, not edited.
    "Test connection" checks the edited broker's health on a worker thread.

    Args:
        path: the config file (need not exist yet).
        parent: the Qt parent.

    Signals:
        saved(Path): the file was written.
        tested(str): the outcome of "Test connection", one line (``"connected: 1.2 ms"`` or the error).
    """

    saved = Signal(Path)
    tested = Signal(str)

    def __init__(self, path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Brokers: {path}")
        self.path = path
        self.document = tomlkit.parse(path.read_text(encoding="utf-8") if path.exists() else EXAMPLE)
        self._current: str | None = None
        self.brokers = QListWidget(self)
        self.brokers.currentTextChanged.connect(self._select)
        add, remove = QPushButton("Add broker", self), QPushButton("Remove broker", self)
        add.clicked.connect(self.add_broker)
        remove.clicked.connect(self.remove_broker)
        self.fields: dict[str, QWidget] = {}
        self.errors: dict[str, QLabel] = {}
        form = QFormLayout()
        for field in FIELDS:
            widget = self._make_field(field)
            label = QLabel("", self)
            label.setStyleSheet("color: #c62828")
            self.fields[field], self.errors[field] = widget, label
            row = QVBoxLayout()
            row.addWidget(widget)
            row.addWidget(label)
            form.addRow(field.replace("_", " ").replace("tls", "TLS"), row)
        account_buttons = QHBoxLayout()
        for text, slot in (("Add account", self.add_account), ("Remove account", self.remove_account)):
            button = QPushButton(text, self)
            button.clicked.connect(slot)
            account_buttons.addWidget(button)
        form.addRow("", account_buttons)
        self.note = QLabel("", self)
        self.test_button, self.save_button, cancel = QPushButton("Test connection", self), QPushButton("Save", self), QPushButton("Cancel", self)
        self.test_button.clicked.connect(self.test_connection)
        self.save_button.clicked.connect(self.save)
        cancel.clicked.connect(self.reject)
        left = QVBoxLayout()
        left.addWidget(self.brokers)
        left.addWidget(add)
        left.addWidget(remove)
        right = QVBoxLayout()
        right.addLayout(form)
        right.addWidget(self.note)
        buttons = QHBoxLayout()
        for button in (self.test_button, self.save_button, cancel):
            buttons.addWidget(button)
        right.addLayout(buttons)
        top = QHBoxLayout(self)
        top.addLayout(left, 1)
        top.addLayout(right, 3)
        self._background = Background(self)
        self._background.finished.connect(self._on_tested)
        for name in self._broker_tables():
            self.brokers.addItem(name)
        if self.brokers.count():
            self.brokers.setCurrentRow(0)

    # -- the form --------------------------------------------------------------------------------

    def _make_field(self, field: str) -> QWidget:
        if field in ("type", "preset"):
            box = QComboBox(self)
            box.addItems([b.value for b in BrokerType] if field == "type" else ["published", "spec"])
            return box
        if field == "accounts":
            table = QTableWidget(0, 3, self)
            table.setHorizontalHeaderLabels(("id", "name", "type"))
            return table
        edit = QLineEdit(self)
        if field == "token":
            edit.setEchoMode(QLineEdit.EchoMode.Password)  # a secret is never shown
            edit.setPlaceholderText("better: $JTS_BROKER_<NAME>_TOKEN")
        if field in _TLS_FILE_KEYS:
            edit.setPlaceholderText("PEM file (empty: none)")
        return edit

    def line(self, field: str) -> QLineEdit:
        widget = self.fields[field]
        assert isinstance(widget, QLineEdit)
        return widget

    def combo(self, field: str) -> QComboBox:
        widget = self.fields[field]
        assert isinstance(widget, QComboBox)
        return widget

    @property
    def accounts(self) -> QTableWidget:
        widget = self.fields["accounts"]
        assert isinstance(widget, QTableWidget)
        return widget

    def error(self, field: str) -> str:
        """The error shown beside ``field`` (empty when none)."""
        return self.errors[field].text()

    def broker_names(self) -> list[str]:
        return [self.brokers.item(i).text() for i in range(self.brokers.count())]

    # -- the document ------------------------------------------------------------------------------

    def _broker_tables(self) -> Any:
        if "brokers" not in self.document:
            self.document["brokers"] = tomlkit.table(is_super_table=True)
        return self.document["brokers"]

    @Slot(str)
    def _select(self, name: str) -> None:
        if self._current is not None and self._current in self._broker_tables() and not self._apply():
            self._show_current()  # stay on the broker whose edit was refused, its error beside the field
            return
        self._current = name or None
        self._load(name)

    def _show_current(self) -> None:
        """Select the row of the broker being edited, without reloading the form."""
        rows = [i for i in range(self.brokers.count()) if self.brokers.item(i).text() == self._current]
        if rows:
            self.brokers.blockSignals(True)
            self.brokers.setCurrentRow(rows[0])
            self.brokers.blockSignals(False)

    def _load(self, name: str) -> None:
        table = self._broker_tables().get(name) if name else None
        rest = table is not None and table.get("backend") == "rest"
        for widget in self.fields.values():
            widget.setEnabled(table is not None and not rest)
        self.note.setText('backend = "rest" (KIS directly): edit its app key and secret in the file' if rest else "")
        self._clear_errors()
        if table is None:
            return
        self.line("name").setText(name)
        self.combo("type").setCurrentText(str(table.get("type", "kis")))
        self.line("host").setText(str(table.get("host", "127.0.0.1")))
        self.line("port").setText(str(table.get("port", 50551)))
        self.line("token").setText(str(table.get("token", "")))
        tls = table.get("tls", {})
        for field, key in _TLS_FILE_KEYS.items():
            self.line(field).setText(str(tls.get(key, "")))
        self.combo("preset").setCurrentText(str(table.get("rate_limits", {}).get("preset", "published")))
        rows = list(table.get("accounts", []))
        self.accounts.setRowCount(0)
        for entry in rows:
            self._add_account_row(str(entry.get("id", "")), str(entry.get("name", "")), str(entry.get("type", "paper")))

    def _add_account_row(self, account_id: str = "", name: str = "", kind: str = "paper") -> None:
        row = self.accounts.rowCount()
        self.accounts.insertRow(row)
        self.accounts.setItem(row, 0, QTableWidgetItem(account_id))
        self.accounts.setItem(row, 1, QTableWidgetItem(name))
        box = QComboBox(self.accounts)
        box.addItems([t.value for t in AccountType])
        box.setCurrentText(kind)
        self.accounts.setCellWidget(row, 2, box)

    def _apply(self) -> bool:
        """Write the form into the document (the broker being edited); False, with the error
        beside the name, when the new name is taken or malformed."""
        old = self._current
        brokers = self._broker_tables()
        if old is None or old not in brokers or brokers[old].get("backend") == "rest":
            return True
        name = self.line("name").text().strip()
        if name != old and name in brokers:
            self.errors["name"].setText(f"a broker named {name!r} exists already")
            return False
        if not _NAME.match(name):
            self.errors["name"].setText("a name is letters, digits, - and _ (it names $JTS_BROKER_<NAME>_TOKEN)")
            return False
        table = brokers[old]
        table["type"] = self.combo("type").currentText()
        table["host"] = self.line("host").text().strip()
        port = self.line("port").text().strip()
        table["port"] = int(port) if port.isdigit() else port  # the loader says what is wrong with it
        _set_or_drop(table, "token", self.line("token").text())
        # Only the three file keys are the form's: a [tls] table stays even when they are emptied
        # (an empty table, or one with server_name only, means TLS with the system's roots).
        files = {key: self.line(field).text().strip() for field, key in _TLS_FILE_KEYS.items()}
        if "tls" in table or any(files.values()):
            tls_table = table["tls"] if "tls" in table else tomlkit.table()
            for key, value in files.items():
                _set_or_drop(tls_table, key, value)
            table["tls"] = tls_table
        preset = self.combo("preset").currentText()
        if preset != "published" or "rate_limits" in table:
            limits = table.get("rate_limits") or tomlkit.table()
            limits["preset"] = preset
            table["rate_limits"] = limits
        accounts = AoT([])
        for row in range(self.accounts.rowCount()):
            entry = tomlkit.table()
            entry["id"] = _cell(self.accounts, row, 0)
            if _cell(self.accounts, row, 1):
                entry["name"] = _cell(self.accounts, row, 1)
            box = self.accounts.cellWidget(row, 2)
            entry["type"] = box.currentText() if isinstance(box, QComboBox) else "paper"
            accounts.append(entry)
        if accounts or "accounts" in table:
            table["accounts"] = accounts
        if name != old:
            brokers[name] = table
            del brokers[old]
            self._current = name
            for i in range(self.brokers.count()):  # its row, not the current one: a click may have moved on
                if self.brokers.item(i).text() == old:
                    self.brokers.item(i).setText(name)
        return True

    def _clear_errors(self) -> None:
        for label in self.errors.values():
            label.setText("")

    def validate(self) -> dict[str, BrokerConfig] | None:
        """Apply the form and validate the whole file as the loader would read it; the gRPC
        brokers' configs, or None with the loader's error shown beside its field."""
        self._clear_errors()
        if not self._apply():
            return None
        try:
            settings = parse_settings(tomlkit.dumps(self.document), str(self.path), environ=os.environ)
        except ConfigurationError as error:
            self.errors[_field_of(error.message)].setText(error.message.split(": ", 1)[-1])
            return None
        return dict(settings.brokers)

    # -- actions -------------------------------------------------------------------------------------

    @Slot()
    def add_broker(self) -> None:
        """Add a broker (``broker-N``, a KIS gateway on 127.0.0.1:50551) and select it."""
        if not self._apply():
            return
        brokers = self._broker_tables()
        n = 1
        while f"broker-{n}" in brokers:
            n += 1
        table = tomlkit.table()
        table["type"], table["host"], table["port"] = "kis", "127.0.0.1", 50551
        brokers[f"broker-{n}"] = table
        self.brokers.addItem(f"broker-{n}")
        self.brokers.setCurrentRow(self.brokers.count() - 1)

    @Slot()
    def remove_broker(self) -> None:
        """Remove the broker being edited (the selected one)."""
        if self._current is None:
            return
        rows = [i for i in range(self.brokers.count()) if self.brokers.item(i).text() == self._current]
        brokers = self._broker_tables()
        if self._current in brokers:
            del brokers[self._current]
        self._current = None
        for row in rows:
            self.brokers.takeItem(row)

    @Slot()
    def add_account(self) -> None:
        self._add_account_row()

    @Slot()
    def remove_account(self) -> None:
        if self.accounts.currentRow() >= 0:
            self.accounts.removeRow(self.accounts.currentRow())

    @Slot()
    def save(self) -> bool:
        """Validate, then write the file atomically; False (nothing written) on an error."""
        if self.validate() is None:
            return False
        text = tomlkit.dumps(self.document)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(temporary, 0o600)  # it may hold a token
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        self.saved.emit(self.path)
        return True

    @Slot()
    def test_connection(self) -> None:
        """Check the edited broker's health on a worker thread; the outcome goes to :attr:`tested`
        and under the form."""
        configs = self.validate()
        if configs is None or self._current not in configs:
            return
        # The broker as edited, without its order journal and offline cache: a test must not
        # reconcile (or mark) the user's orders against a target that is not saved yet.
        config = replace(configs[self._current], order_journal=None, offline_cache=None)
        self.note.setText("testing ...")
        self._background.run("test", lambda: _health(config))

    @Slot(str, object)
    def _on_tested(self, kind: str, result: object) -> None:
        line = f"connected: {result * 1000:.1f} ms" if isinstance(result, float) else f"failed: {result}"
        self.note.setText(line)
        self.tested.emit(line)



def _health(config: BrokerConfig) -> float:
    from jts_broker.client.registry import default_gateway

    gateway = default_gateway("test", config)
    try:
        gateway.connect()
        return gateway.check_health()
    finally:
        gateway.close()


def _set_or_drop(table: Table | dict[str, Any], key: str, value: str) -> None:
    if value:
        table[key] = value
    elif key in table:
        del table[key]


def _cell(table: QTableWidget, row: int, column: int) -> str:
    item = table.item(row, column)
    return item.text().strip() if item is not None else ""


def _field_of(message: str) -> str:
    """The form field a loader error is about: by the key it names (``brokers.NAME.port``), else,
    for an error about the broker as a whole, by what its own words say."""
    parts = message.split(": ", 2)
    key, words = (parts[1], parts[2]) if len(parts) == 3 else ("", message)
    for part, field in ((".accounts", "accounts"), (".tls.cert", "tls_cert"), (".tls.key", "tls_key"), (".tls", "tls_ca"),
                        (".port", "port"), (".host", "host"), (".type", "type"), (".token", "token"), (".rate_limits", "preset")):
        if part in key:
            return field
    lowered = words.lower()
    for word, field in (("port", "port"), ("host", "host"), ("token", "token"), ("certificate", "tls_cert"), ("account", "accounts")):
        if word in lowered:
            return field
    return "name"
