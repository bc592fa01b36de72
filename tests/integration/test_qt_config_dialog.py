"""BrokerConfigDialog on Qt's offscreen platform: refuses what the config loader refuses (beside
the field), writes a file the loader reads back as edited, keeps the comments, tests a connection."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from PySide6.QtWidgets import QComboBox, QLineEdit, QTableWidgetItem
from pytestqt.qtbot import QtBot

from jts_broker.client.config_file import load_settings
from jts_broker.domain.enums import AccountType, BrokerType
from jts_broker.domain.policies import RateLimitPolicy
from jts_broker.qt import BrokerConfigDialog
from jts_broker.server import SimulatorServer

pytestmark = pytest.mark.integration


def dialog_on(qtbot: QtBot, path: Path) -> BrokerConfigDialog:
    dialog = BrokerConfigDialog(path)
    qtbot.addWidget(dialog)
    return dialog


def test_an_invalid_port_is_refused_beside_the_field_and_nothing_is_written(qtbot: QtBot, tmp_path: Path) -> None:
    path = tmp_path / "jts-broker.toml"
    dialog = dialog_on(qtbot, path)
    assert dialog.broker_names() == ["sim", "offline-dev"]  # the example of `config init` (its "real" broker is commented out)
    dialog.line("port").setText("99999")
    assert dialog.save() is False and not path.exists()
    assert "1-65535" in dialog.error("port") and dialog.error("host") == ""
    dialog.line("port").setText("50xyz")
    assert dialog.save() is False and "port number" in dialog.error("port")
    dialog.line("port").setText("50600")
    assert dialog.save() is True and load_settings(path).brokers["sim"].grpc_port == 50600


def test_a_duplicate_broker_name_is_refused(qtbot: QtBot, tmp_path: Path) -> None:
    dialog = dialog_on(qtbot, tmp_path / "jts-broker.toml")
    dialog.add_broker()
    assert dialog.broker_names()[-1] == "broker-1"
    dialog.line("name").setText("sim")
    assert dialog.save() is False and "exists already" in dialog.error("name")
    dialog.line("name").setText("bad name!")
    assert dialog.save() is False and "letters, digits" in dialog.error("name")


def test_the_dialog_writes_a_file_the_loader_reads_back_as_edited_keeping_comments(qtbot: QtBot, tmp_path: Path) -> None:
    path = tmp_path / "jts-broker.toml"
    dialog = dialog_on(qtbot, path)
    dialog.add_broker()
    dialog.line("name").setText("lab")
    dialog.combo("type").setCurrentText("creon")
    dialog.line("host").setText("10.0.0.5")
    dialog.line("port").setText("50600")
    dialog.line("token").setText("s3cret-token")
    assert dialog.line("token").echoMode() is QLineEdit.EchoMode.Password  # masked
    dialog.combo("preset").setCurrentText("spec")
    dialog.add_account()
    dialog.accounts.setItem(0, 0, QTableWidgetItem("12345678-01"))
    dialog.accounts.setItem(0, 1, QTableWidgetItem("main"))
    kind = dialog.accounts.cellWidget(0, 2)
    assert isinstance(kind, QComboBox)
    kind.setCurrentText("real")
    assert dialog.save() is True
    settings = load_settings(path, environ={})
    lab = settings.brokers["lab"]
    assert (lab.broker_type, lab.grpc_host, lab.grpc_port) == (BrokerType.CREON, "10.0.0.5", 50600)
    assert lab.token is not None and lab.token.reveal() == "s3cret-token"
    assert [(a.account_id, a.account_name, a.account_type) for a in lab.accounts] == [("12345678-01", "main", AccountType.REAL)]
    assert lab.rate_limit_policy == RateLimitPolicy.spec(BrokerType.CREON)  # the preset chosen
    text = path.read_text(encoding="utf-8")
    assert "# Search order: --config" in text and "# The local simulator limits nothing" in text  # untouched comments kept
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds a token
    again = dialog_on(qtbot, path)  # reopened: the edits are there
    again.brokers.setCurrentRow(again.broker_names().index("lab"))
    assert (again.line("host").text(), again.line("port").text(), again.combo("type").currentText()) == ("10.0.0.5", "50600", "creon")
    again.remove_broker()
    assert again.save() and "lab" not in load_settings(path, environ={}).brokers


def test_test_connection_checks_the_edited_broker_without_touching_its_journal(qtbot: QtBot, tmp_path: Path) -> None:
    with SimulatorServer(speed=0) as server:
        dialog = dialog_on(qtbot, tmp_path / "jts-broker.toml")
        dialog.line("port").setText(str(server.port))
        journals = set(Path.home().rglob("order-journal*")) if Path.home().exists() else set()
        with qtbot.waitSignal(dialog.tested, timeout=20_000) as outcome:
            dialog.test_connection()
        assert outcome.args is not None and outcome.args[0].startswith("connected: ")
        with qtbot.waitSignal(dialog.tested, timeout=20_000) as again:  # the dialog can test more than once
            dialog.test_connection()
        assert again.args is not None and again.args[0].startswith("connected: ")
        assert (set(Path.home().rglob("order-journal*")) if Path.home().exists() else set()) == journals


TLS_FILE = """\
# a broker behind TLS with the system's roots
[brokers.secure]
type = "kis"
host = "gateway.example"
port = 50551

[brokers.secure.tls]
server_name = "gateway.internal"

[brokers.plain]
type = "kis"
port = 50552
"""


def test_editing_a_broker_keeps_its_tls_and_renames_follow_the_list(qtbot: QtBot, tmp_path: Path) -> None:
    path = tmp_path / "jts-broker.toml"
    path.write_text(TLS_FILE, encoding="utf-8")
    dialog = dialog_on(qtbot, path)
    assert dialog.broker_names() == ["secure", "plain"]
    dialog.line("name").setText("secure-1")  # renamed, then another broker clicked: the list follows
    dialog.brokers.setCurrentRow(1)
    assert dialog.broker_names() == ["secure-1", "plain"] and dialog.line("name").text() == "plain"
    dialog.line("name").setText("secure-1")  # a taken name: refused, the selection stays on the broker edited
    dialog.brokers.setCurrentRow(0)
    assert "exists already" in dialog.error("name") and dialog.brokers.currentItem().text() == "plain"
    dialog.line("name").setText("plain")
    assert dialog.save() is True
    secure = load_settings(path, environ={}).brokers["secure-1"]
    assert secure.tls is not None and secure.tls.server_name == "gateway.internal"  # TLS was never touched: still on
    assert "# a broker behind TLS" in path.read_text(encoding="utf-8")


def test_removing_an_account_and_a_broker_is_written_as_such(qtbot: QtBot, tmp_path: Path) -> None:
    path = tmp_path / "jts-broker.toml"
    dialog = dialog_on(qtbot, path)
    assert dialog.accounts.rowCount() == 1
    dialog.accounts.setCurrentCell(0, 0)
    dialog.remove_account()
    dialog.brokers.setCurrentRow(1)  # offline-dev
    dialog.remove_broker()
    assert dialog.broker_names() == ["sim"] and dialog.save() is True
    settings = load_settings(path, environ={})
    assert list(settings.brokers) == ["sim"] and settings.brokers["sim"].accounts == ()
