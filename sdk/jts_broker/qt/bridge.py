"""SDK listeners as Qt signals.

The SDK tells its listeners on its own threads: a gateway's status notifier thread, and the
thread of each caller that took a rate-limit token. A Qt widget may only be touched from the
thread that owns it. :class:`ListenerBridge` is a ``QObject`` whose signals, emitted from those
threads, are queued to the thread that owns the bridge (Qt's automatic connection), so slots run
there. Rate-limit usage is coalesced: a burst of thousands of acquires a second queues one
delivery at a time, carrying the latest snapshot, so the event loop is never flooded.

Lifetime: the bridge stops listening on :meth:`close` or when Qt destroys it (with its parent
widget, even one never closed): the SDK then holds nothing that could emit on a deleted object.
Emission and destruction exclude each other under one lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from jts_broker.domain.gateway import IBrokerGateway
from jts_broker.domain.rate_limits import IRateLimiter, RateLimitUsage


class _Life:
    """What outlives the QObject: the subscriptions to end and whether emitting is still allowed."""

    def __init__(self) -> None:
        # Re-entrant: a slot connected directly (an emit on the owner's own thread, e.g. a token
        # taken by an asyncio task on the Qt loop) may call back into the bridge under the lock.
        self.lock = threading.RLock()
        self.alive = True
        self.unsubscribe: list[Callable[[], None]] = []

    def end(self, *_: object) -> None:  # also the slot of ``destroyed``: it must not touch the QObject
        with self.lock:
            self.alive = False
            unsubscribe, self.unsubscribe = self.unsubscribe, []
        for each in unsubscribe:
            each()


class ListenerBridge(QObject):
    """Subscribes to SDK listeners and re-emits what they hear as Qt signals. Create it on the
    thread whose slots should run (the GUI thread); :meth:`close` (or its destruction) unsubscribes
    everything. Thread-safe.

    Signals:
        status_changed(str, ConnectionStatusChange): a watched gateway's connection changed; the
            first argument is the name given to :meth:`watch_gateway`.
        usage_changed(RateLimitUsage): a watched limiter's usage after a token was taken or
            refused (the latest snapshot; intermediate ones of a burst are skipped).
    """

    status_changed = Signal(str, object)
    usage_changed = Signal(object)
    _deliver = Signal()  # one queued delivery of the latest usage

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._life = _Life()
        self.destroyed.connect(self._life.end)  # a bound method of _Life, not of the dying QObject
        self._latest: RateLimitUsage | None = None
        self._queued = False
        # Always queued, also from the bridge's own thread: the delivery runs after the caller's
        # token is taken, and a burst in between is coalesced into it.
        self._deliver.connect(self._on_deliver, Qt.ConnectionType.QueuedConnection)

    def watch_gateway(self, name: str, gateway: IBrokerGateway) -> None:
        """Emit :attr:`status_changed` for every status change of ``gateway`` (any thread may call this)."""
        self._subscribe(gateway.subscribe_status(lambda change: self._emit(self.status_changed, name, change)))

    def watch_limiter(self, limiter: IRateLimiter) -> None:
        """Emit :attr:`usage_changed` after the tokens ``limiter`` gives or refuses (this process's)."""
        self._subscribe(limiter.add_listener(self._on_usage))

    def _subscribe(self, unsubscribe: Callable[[], None]) -> None:
        with self._life.lock:
            if self._life.alive:
                self._life.unsubscribe.append(unsubscribe)
                return
        unsubscribe()  # closed meanwhile

    def _on_usage(self, usage: RateLimitUsage) -> None:  # any thread
        with self._life.lock:
            self._latest = usage
            if self._queued or not self._life.alive:
                return
            self._queued = True
            self._deliver.emit()

    def _on_deliver(self) -> None:  # the bridge's thread
        with self._life.lock:
            usage, self._latest, self._queued = self._latest, None, False
        if usage is not None:
            self.usage_changed.emit(usage)

    def _emit(self, signal: Any, *args: object) -> None:  # any thread
        with self._life.lock:  # destruction waits for an emission under way, and none starts after it
            if self._life.alive:
                signal.emit(*args)

    def close(self) -> None:
        """Stop listening (idempotent)."""
        self._life.end()
