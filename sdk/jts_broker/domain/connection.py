"""The connection state machine every gateway reports through, and its change events.

::

    DISCONNECTED --connect()--> CONNECTING --server answers--> CONNECTED
         ^                          |                              |
         |                     no answer                the health watch breaks
      disconnect()                  v                   or says NOT_SERVING
         +------------------------ ERROR <-------------------------+
                                    |  auto-reconnect (backoff)
                                    +----> CONNECTING -> CONNECTED ...

Listeners are plain callables run on the thread that made the change (a gateway's health-check
thread, or the caller's); they see every change once, in order. A listener that raises is logged
and does not stop the others.
"""

from __future__ import annotations

import logging
import threading
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

    def __init__(self) -> None:
        self._status = ConnectionStatus.DISCONNECTED
        self._reason = ""
        self._listeners: list[StatusListener] = []
        # One re-entrant lock orders changes and their notifications: listeners see changes in the
        # order they happened, and a listener may read the status (or even change it) safely.
        self._lock = threading.RLock()

    @property
    def status(self) -> ConnectionStatus:
        return self._status

    @property
    def reason(self) -> str:
        """Why the connection is in its current state (the last error for ERROR), else empty."""
        return self._reason

    def set(self, status: ConnectionStatus, reason: str = "") -> bool:
        """Move to ``status`` and tell the listeners; False (and nobody told) when already there."""
        with self._lock:
            if status is self._status:
                return False
            change = ConnectionStatusChange(self._status, status, now_kst(), reason)
            self._status, self._reason = status, reason
            for listener in tuple(self._listeners):
                try:
                    listener(change)
                except Exception:
                    log.exception("connection status listener %r failed", listener)
            return True

    def subscribe(self, listener: StatusListener) -> Callable[[], None]:
        """Call ``listener`` on every change from now on; returns a function that unsubscribes."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe
