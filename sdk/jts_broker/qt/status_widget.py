"""``BrokerStatusWidget``: every broker of a registry and its connection (E03-F05-T02)."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent, QColor
from PySide6.QtWidgets import QHeaderView, QPushButton, QTableWidgetItem, QVBoxLayout, QWidget

from jts_broker.client.registry import BrokerHealth, BrokerRegistry
from jts_broker.domain.connection import ConnectionStatusChange
from jts_broker.domain.enums import ConnectionStatus
from jts_broker.domain.timeutil import now_kst

from .background import Background
from .bridge import ListenerBridge
from .tables import cell_text, read_only_table, set_text

COLUMNS = ("", "Broker", "Address", "Latency", "Since", "Last error", "Mode", "")
_LIGHT, _NAME, _ADDRESS, _LATENCY, _SINCE, _ERROR, _MODE, _BUTTON = range(len(COLUMNS))
LIGHTS = {ConnectionStatus.DISCONNECTED: "#9e9e9e", ConnectionStatus.CONNECTING: "#f9a825",
          ConnectionStatus.CONNECTED: "#2e7d32", ConnectionStatus.ERROR: "#c62828"}


def _ago(since: datetime | None) -> str:
    if since is None:
        return "-"
    seconds = int((now_kst() - since).total_seconds())
    return f"{seconds} s" if seconds < 120 else f"{seconds // 60} min" if seconds < 7200 else f"{seconds // 3600} h"


class BrokerStatusWidget(QWidget):
    """A table of every broker of ``registry``, one row each: a status light (DISCONNECTED grey,
    CONNECTING amber, CONNECTED green, ERROR red), the name, the gateway's address, the latency of
    the last health check, the time since the status last changed, the last error in one line,
    the mode (LIVE when connected; CACHE when not, and reads are served from the offline cache;
    ``-`` otherwise) and a Reconnect button.

    It checks every broker's health every ``check_interval_s`` seconds on a worker thread (a
    broker not yet connected is connected by the check) and hears the gateways' status changes at
    once through their listeners, so it follows a server that stops and comes back without the
    user doing anything. The first check starts at construction.

    Args:
        registry: the brokers; the widget builds their gateways, it does not close the registry.
        check_interval_s: seconds between two health checks, > 0.
        parent: the Qt parent.

    Signals:
        status_changed(str, str): a broker's shown status changed: its name and the new status
            (``"connected"``, ``"error"`` ...).

    Raises:
        ValueError: ``check_interval_s`` <= 0.
    """

    status_changed = Signal(str, str)

    def __init__(self, registry: BrokerRegistry, *, check_interval_s: float = 2.0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if not check_interval_s > 0:
            raise ValueError(f"check_interval_s must be > 0, got {check_interval_s}")
        self._registry = registry
        self._names = registry.names
        self._status = dict.fromkeys(self._names, ConnectionStatus.DISCONNECTED)
        self._since: dict[str, datetime | None] = dict.fromkeys(self._names)
        self.table = read_only_table(self, COLUMNS, len(self._names))
        self.table.horizontalHeader().setSectionResizeMode(_ERROR, QHeaderView.ResizeMode.Stretch)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        self._bridge = ListenerBridge(self)
        self._bridge.status_changed.connect(self._on_change)
        self._background = Background(self)
        self._background.finished.connect(self._on_done)
        for row, name in enumerate(self._names):
            config = registry.config(name)
            self._set(row, _NAME, name)
            self._set(row, _ADDRESS, config.target)
            button = QPushButton("Reconnect", self)
            button.clicked.connect(lambda _=False, n=name: self.reconnect(n))
            self.table.setCellWidget(row, _BUTTON, button)
            self._show_status(name, ConnectionStatus.DISCONNECTED)
        # Building a gateway may open its order journal (waiting on a busy file): on the worker.
        self._background.run("watch", self._watch_all)
        self._check_timer = QTimer(self)
        self._check_timer.timeout.connect(self.check_now)
        self._check_timer.start(int(check_interval_s * 1000))
        self._clock = QTimer(self)  # the "Since" column counts on
        self._clock.timeout.connect(self._tick)
        self._clock.start(1000)
        self.check_now()

    def _watch_all(self) -> None:  # the worker thread: the bridge is thread-safe, the widget untouched
        for name in self._names:
            self._bridge.watch_gateway(name, self._registry.gateway(name))

    # -- public ------------------------------------------------------------------------------------

    def status(self, name: str) -> ConnectionStatus:
        """The status shown for broker ``name``. KeyError for a name not in the registry."""
        return self._status[name]

    def text(self, name: str, column: str) -> str:
        """The text shown in ``name``'s row under ``column`` (a header of :data:`COLUMNS`)."""
        return cell_text(self.table, self._names.index(name), COLUMNS.index(column))

    @Slot()
    def check_now(self) -> None:
        """Check every broker's health now, on the worker thread (not twice at once)."""
        self._background.run("health", self._registry.check_health)

    @Slot(str)
    def reconnect(self, name: str) -> None:
        """Connect broker ``name`` again, on the worker thread, then check health."""
        self._background.run(f"connect:{name}", lambda: self._registry.connect(name))

    # -- updates -----------------------------------------------------------------------------------

    @Slot(str, object)
    def _on_done(self, kind: str, result: object) -> None:
        if kind == "health" and isinstance(result, list):
            for health in result:
                if isinstance(health, BrokerHealth) and health.name in self._status:
                    self._show_health(health)
        elif kind.startswith("connect:"):
            self.check_now()

    @Slot(str, object)
    def _on_change(self, name: str, change: ConnectionStatusChange) -> None:
        # The registry's view, not the bare change: a gateway retrying after a failed health check
        # is CONNECTING to itself and ERROR to the registry, and the light must not flicker.
        # registry.health() reads memory only: no network on this thread.
        health = next(h for h in self._registry.health() if h.name == name)
        self._show_health(health, change.time)

    def _show_health(self, health: BrokerHealth, when: datetime | None = None) -> None:
        row = self._names.index(health.name)
        self._set(row, _LATENCY, f"{health.latency_s * 1000:.1f} ms" if health.latency_s is not None else "-")
        self._set(row, _ERROR, health.last_error.splitlines()[0] if health.last_error else "")
        self._show_status(health.name, health.status, when)

    def _show_status(self, name: str, status: ConnectionStatus, when: datetime | None = None) -> None:
        row = self._names.index(name)
        changed = status is not self._status[name]
        if changed or self._since[name] is None:
            self._status[name] = status
            self._since[name] = when or now_kst()
        light = QTableWidgetItem("●")
        light.setForeground(QColor(LIGHTS[status]))
        light.setToolTip(status.value.upper())
        self.table.setItem(row, _LIGHT, light)
        cached = self._registry.config(name).offline_cache is not None
        self._set(row, _MODE, "LIVE" if status is ConnectionStatus.CONNECTED else "CACHE" if cached else "-")
        self._set(row, _SINCE, _ago(self._since[name]))
        if changed:
            self.status_changed.emit(name, status.value)

    @Slot()
    def _tick(self) -> None:
        for row, name in enumerate(self._names):
            self._set(row, _SINCE, _ago(self._since[name]))

    def _set(self, row: int, column: int, text: str) -> None:
        set_text(self.table, row, column, text)

    def closeEvent(self, event: QCloseEvent) -> None:  # Qt names it
        """Closing the widget stops its checks and listeners (the registry stays open)."""
        self._check_timer.stop()
        self._clock.stop()
        self._bridge.close()
        self._background.close()
        super().closeEvent(event)
