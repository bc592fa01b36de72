"""Blocking SDK calls off the GUI thread: one worker thread, results back as a Qt signal."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from PySide6.QtCore import QObject, Signal


class Background(QObject):
    """Runs blocking calls (health checks, connects, usage reads of a shared budget) on a worker
    thread, one of each kind at a time, and emits ``finished(kind, result)`` on the thread that
    owns this object; ``result`` is the exception when the call raised."""

    finished = Signal(str, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jts-qt")
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self._closed = False

    def run(self, kind: str, call: Callable[[], object]) -> bool:
        """Start ``call`` unless one of the same ``kind`` is still running; True when started."""
        with self._lock:
            if self._closed or kind in self._running:
                return False
            self._running.add(kind)
        self._pool.submit(call).add_done_callback(lambda future: self._done(kind, future))
        return True

    def _done(self, kind: str, future: Future[object]) -> None:  # the worker thread
        with self._lock:
            self._running.discard(kind)
            if self._closed:
                return
        error = future.exception()
        try:
            self.finished.emit(kind, error if error is not None else future.result())
        except RuntimeError:  # the widget owning this object was deleted meanwhile: nobody to tell
            pass

    def close(self) -> None:
        """Run nothing more; a call under way finishes on its thread, unheard."""
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
