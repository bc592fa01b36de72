"""The connection state machine every gateway reports through, and its change events.

::

    DISCONNECTED --connect()--> CONNECTING --server answers--> CONNECTED
         ^                          |                              |
         |                     no answer                the health watch breaks
      disconnect()                  v                   or says NOT_SERVING
         +------------------------ ERROR <-------------------------+
                                    |  auto-reconnect (backoff)
                                    +----> CONNECTING -> CONNECTED ...

Listeners are plain callables run on the state's own notifier thread (``jts-status``), one
change at a time, in the order the changes happened; each sees every change made after it
subscribed, once. The change itself never waits for them: a slow listener delays only the
listener calls after it, never the connection, its health checks or a reader of ``status``. A
listener that raises is logged and does not stop the others.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from .enums import ConnectionStatus
from .timeutil import now_kst

log = logging.getLogger("jts_broker.connection")


@dataclass(frozen=True, slots=True)
class ConnectionStatusChange:
    """One transition of a gateway's connection.

    Attributes:
        previous: the status before.
        status: the status now.
        time: when it changed, tz-aware (Asia/Seoul).
        reason: why, in words (e.g. the error that broke the connection); empty when routine.
    """

    previous: ConnectionStatus
    status: ConnectionStatus
    time: datetime
    reason: str = ""


StatusListener = Callable[[ConnectionStatusChange], None]


class ConnectionState:
    """The current :class:`ConnectionStatus` and the listeners of its changes. Thread-safe."""

    _IDLE_S = 5.0  # the notifier thread ends after this long without changes; the next one starts it again

    def __init__(self) -> None:
        self._status = ConnectionStatus.DISCONNECTED
        self._reason = ""
        self._listeners: list[StatusListener] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        # Changes not yet told, each with the listeners subscribed when it happened, in order.
        self._pending: deque[tuple[ConnectionStatusChange, tuple[StatusListener, ...]]] = deque()
        self._notifier: threading.Thread | None = None

    @property
    def status(self) -> ConnectionStatus:
        return self._status

    @property
    def reason(self) -> str:
        """Why the connection is in its current state (the last error for ERROR), else empty."""
        return self._reason

    def set(self, status: ConnectionStatus, reason: str = "") -> bool:
        """Move to ``status`` and have the listeners told; False (and nobody told) when already
        there. Returns at once: listeners run on the notifier thread."""
        with self._lock:
            if status is self._status:
                return False
            change = ConnectionStatusChange(self._status, status, now_kst(), reason)
            self._status, self._reason = status, reason
            if self._listeners:
                self._pending.append((change, tuple(self._listeners)))
                if self._notifier is None:
                    self._notifier = threading.Thread(target=self._notify_loop, name="jts-status", daemon=True)
                    self._notifier.start()
                self._changed.notify()
            return True

    def _notify_loop(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    self._changed.wait(self._IDLE_S)
                if not self._pending:
                    self._notifier = None
                    return
                change, listeners = self._pending.popleft()
            for listener in listeners:  # outside the lock: a listener may read or even change the status
                try:
                    listener(change)
                except Exception:
                    log.exception("connection status listener %r failed", listener)

    def subscribe(self, listener: StatusListener) -> Callable[[], None]:
        """Call ``listener`` on every change from now on; returns a function that unsubscribes."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe
