"""Blocking SDK calls off the GUI thread: one worker thread, results back as a Qt signal."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from PySide6.QtCore import QObject, Signal


class _Worker:
    """What outlives the QObject: the thread pool, the kinds running, and whether results may
    still be delivered (emission and destruction exclude each other under the lock)."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jts-qt")
        # Re-entrant: a call that finished at once is told on the caller's thread, whose slot may
        # start the next call under the lock.
        self.lock = threading.RLock()
        self.running: set[str] = set()
        self.open = True

    def close(self, *_: object) -> None:  # also the slot of ``destroyed``: it must not touch the QObject
        with self.lock:
            self.open = False
        self.pool.shutdown(wait=False, cancel_futures=True)


class Background(QObject):
    """Runs blocking calls (health checks, connects, usage reads of a shared budget) on a worker
    thread, one of each kind at a time, and emits ``finished(kind, result)`` on the thread that
    owns this object; ``result`` is the exception when the call raised. Stops on :meth:`close` or
    when Qt destroys it with its parent; a call under way then finishes on its thread, unheard."""

    finished = Signal(str, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._worker = _Worker()
        self.destroyed.connect(self._worker.close)

    def run(self, kind: str, call: Callable[[], object]) -> bool:
        """Start ``call`` unless one of the same ``kind`` is still running; True when started."""
        worker = self._worker
        with worker.lock:
            if not worker.open or kind in worker.running:
                return False
            worker.running.add(kind)
        worker.pool.submit(call).add_done_callback(lambda future: self._done(worker, kind, future))
        return True

    def _done(self, worker: _Worker, kind: str, future: Future[object]) -> None:  # the worker thread
        if future.cancelled():
            return
        error = future.exception()
        with worker.lock:
            worker.running.discard(kind)
            if worker.open:
                self.finished.emit(kind, error if error is not None else future.result())

    def close(self) -> None:
        """Run nothing more (idempotent)."""
        self._worker.close()
