"""SDK listeners as Qt signals.

The SDK tells its listeners on its own threads: a gateway's status notifier thread, and the
thread of each caller that took a rate-limit token. A Qt widget may only be touched from the
thread that owns it. :class:`ListenerBridge` is a ``QObject`` whose signals, emitted from those
threads, are queued to the thread that owns the bridge (Qt's automatic connection), so slots run
there. Rate-limit usage is coalesced: a burst of thousands of acquires a second queues one
delivery at a time, carrying the latest snapshot, so the event loop is never flooded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from jts_broker.domain.gateway import IBrokerGateway
from jts_broker.domain.rate_limits import IRateLimiter, RateLimitUsage


class ListenerBridge(QObject):
    """Subscribes to SDK listeners and re-emits what they hear as Qt signals. Create it on the
    thread whose slots should run (the GUI thread); :meth:`close` unsubscribes everything.

    Signals:
        status_changed(str, ConnectionStatusChange): a watched gateway's connection changed; the
            first argument is the name given to :meth:`watch_gateway`.
        usage_changed(RateLimitUsage): a watched limiter's usage after a token was taken or
            refused (the latest snapshot; intermediate ones of a burst are skipped).
    """

    status_changed = Signal(str, object)
    usage_changed = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._unsubscribe: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._latest: RateLimitUsage | None = None
        self._queued = False
        self._deliver.connect(self._on_deliver)

    _deliver = Signal()  # one queued delivery of the latest usage

    def watch_gateway(self, name: str, gateway: IBrokerGateway) -> None:
        """Emit :attr:`status_changed` for every status change of ``gateway``."""
        self._unsubscribe.append(gateway.subscribe_status(lambda change: self._emit(self.status_changed, name, change)))

    def watch_limiter(self, limiter: IRateLimiter) -> None:
        """Emit :attr:`usage_changed` after the tokens ``limiter`` gives or refuses (this process's)."""
        self._unsubscribe.append(limiter.add_listener(self._on_usage))

    def _on_usage(self, usage: RateLimitUsage) -> None:  # any thread
        with self._lock:
            self._latest = usage
            if self._queued:
                return
            self._queued = True
        self._emit(self._deliver)

    @staticmethod
    def _emit(signal: Any, *args: object) -> None:  # any thread
        try:
            signal.emit(*args)
        except RuntimeError:  # the bridge was deleted with its widget before close(): nobody is listening
            pass

    def _on_deliver(self) -> None:  # the bridge's thread
        with self._lock:
            usage, self._latest, self._queued = self._latest, None, False
        if usage is not None:
            self.usage_changed.emit(usage)

    def close(self) -> None:
        """Stop listening (idempotent)."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
