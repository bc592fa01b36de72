"""``RateLimitIndicator``: a gateway's rate-limit budgets, live (E03-F05-T01, FR-005)."""

from __future__ import annotations

from PySide6.QtCore import QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QGridLayout, QLabel, QProgressBar, QWidget

from jts_broker.domain.rate_limits import IRateLimiter, RateLimitUsage

from .background import Background
from .bridge import ListenerBridge

OK, WARN, ALARM = "ok", "warn", "alarm"
_BUDGET_NAMES = {"query": "queries", "order": "orders"}
_COLOURS = {OK: "#2e7d32", WARN: "#f9a825", ALARM: "#c62828"}


def _window_name(interval_s: float) -> str:
    return f"{interval_s:g} s" if interval_s < 60 else f"{interval_s / 60:g} min"


class RateLimitIndicator(QWidget):
    """One bar per window of each budget of ``limiter`` (queries, and orders when they have their
    own): tokens used of the limit in the window, coloured green, amber from ``warn_at`` and red
    from ``alarm_at`` of the limit; under each budget, callers waiting now, the 95th percentile of
    recent waits, denials and tokens taken; a tooltip with every window.

    It follows this process's calls through the limiter's listeners (coalesced: a burst costs one
    repaint) and re-reads the budgets every ``refresh_s`` seconds on a worker thread: windows empty
    as time passes, and a shared budget (SQLite or Redis backend) fills with other processes'
    calls, which no listener here hears.

    Args:
        limiter: the budgets to show, e.g. ``gateway.rate_limiter``.
        warn_at, alarm_at: fractions of a window's limit (0 < warn_at <= alarm_at <= 1) where the
            bar turns amber and red.
        refresh_s: seconds between two re-reads, > 0.
        parent: the Qt parent.

    Signals:
        level_changed(str): ``"ok"``, ``"warn"`` or ``"alarm"`` when the fullest window crosses a
            threshold.

    Raises:
        ValueError: thresholds or ``refresh_s`` out of range.
    """

    level_changed = Signal(str)

    def __init__(self, limiter: IRateLimiter, *, warn_at: float = 0.7, alarm_at: float = 0.9, refresh_s: float = 0.5,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if not 0 < warn_at <= alarm_at <= 1:
            raise ValueError(f"thresholds must satisfy 0 < warn_at <= alarm_at <= 1, got {warn_at} and {alarm_at}")
        if not refresh_s > 0:
            raise ValueError(f"refresh_s must be > 0, got {refresh_s}")
        self._limiter = limiter
        self._warn_at, self._alarm_at = warn_at, alarm_at
        self._level = OK
        self._usages: dict[str, RateLimitUsage] = {}
        self._bars: dict[tuple[str, int], QProgressBar] = {}
        self._details: dict[str, QLabel] = {}
        self._grid = QGridLayout(self)
        self._bridge = ListenerBridge(self)
        self._bridge.usage_changed.connect(self._show)
        self._bridge.watch_limiter(limiter)
        self._background = Background(self)
        self._background.finished.connect(self._on_read)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._timer.start(int(refresh_s * 1000))
        self.refresh()

    # -- public reads ----------------------------------------------------------------------------

    @property
    def level(self) -> str:
        """``"ok"``, ``"warn"`` or ``"alarm"``: where the fullest window shown stands."""
        return self._level

    def usage(self, category: str) -> RateLimitUsage | None:
        """The last usage shown of budget ``category`` (``"query"``, ``"order"``); None before the first."""
        return self._usages.get(category)

    def bar(self, category: str, window: int = 0) -> QProgressBar:
        """The bar of ``category``'s ``window``-th window (shortest first). KeyError before it is shown."""
        return self._bars[(category, window)]

    # -- updates -----------------------------------------------------------------------------------

    @Slot()
    def refresh(self) -> None:
        """Re-read every budget now, on the worker thread (a read already under way is not doubled)."""
        self._background.run("usages", self._limiter.usages)

    @Slot(str, object)
    def _on_read(self, kind: str, result: object) -> None:
        if isinstance(result, list):
            for usage in result:
                self._show(usage)

    @Slot(object)
    def _show(self, usage: RateLimitUsage) -> None:
        category = usage.category.value
        self._usages[category] = usage
        if (category, 0) not in self._bars:
            self._add_rows(usage)
        for i, window in enumerate(usage.windows):
            bar = self._bars.get((category, i))
            if bar is None:
                continue
            bar.setMaximum(window.limit)
            bar.setValue(min(window.used, window.limit))
            bar.setStyleSheet(f"QProgressBar::chunk {{ background-color: {_COLOURS[self._level_of(window.utilization)]}; }}")
        self._details[category].setText(f"waiting {usage.waiting} · p95 wait {usage.wait_p95_s * 1000:.0f} ms · "
                                        f"denied {usage.denials} · taken {usage.total}")
        self.setToolTip("\n".join(f"{c}: " + ", ".join(f"{w.used}/{w.limit} per {_window_name(w.interval_s)}" for w in u.windows)
                                  for c, u in self._usages.items()))
        level = max((self._level_of(u.utilization) for u in self._usages.values()), key=(OK, WARN, ALARM).index)
        if level != self._level:
            self._level = level
            self.level_changed.emit(level)

    def _level_of(self, utilization: float) -> str:
        return ALARM if utilization >= self._alarm_at else WARN if utilization >= self._warn_at else OK

    def _add_rows(self, usage: RateLimitUsage) -> None:
        category = usage.category.value
        row = self._grid.rowCount()
        for i, window in enumerate(usage.windows):
            self._grid.addWidget(QLabel(f"{_BUDGET_NAMES.get(category, category)} · {_window_name(window.interval_s)}"), row + i, 0)
            bar = QProgressBar(self)
            bar.setFormat("%v/%m")
            self._bars[(category, i)] = bar
            self._grid.addWidget(bar, row + i, 1)
        detail = QLabel(self)
        self._details[category] = detail
        self._grid.addWidget(detail, row + len(usage.windows), 0, 1, 2)

    def closeEvent(self, event: QCloseEvent) -> None:  # Qt names it
        """Closing the widget stops its listeners and its timer."""
        self._timer.stop()
        self._bridge.close()
        self._background.close()
        super().closeEvent(event)
