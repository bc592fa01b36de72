"""asyncio on the Qt event loop: qasync's ``QEventLoop`` as the GUI thread's asyncio loop, and
closed so that it cannot crash the process later."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import qasync
import shiboken6
from PySide6.QtWidgets import QApplication


@contextlib.contextmanager
def qt_asyncio_loop(app: QApplication) -> Iterator[qasync.QEventLoop]:
    """qasync's ``QEventLoop`` over ``app``, set as this thread's asyncio loop for the block
    (this thread's only: ``qasync.run`` would install it for every thread, and the rate limiter's
    background thread, pyrate-limiter's leaker, which calls ``asyncio.run``, would then get a Qt
    loop off the GUI thread and fail). Closed on the way out. Call it on the GUI thread.

    Workaround (qasync 0.28.0): ``QEventLoop.close()`` only marks the loop's timer object as
    stopped, and the Qt timers of callbacks still pending (a ``wait_for`` timeout, a
    ``call_later``) stay registered. When the garbage collector later frees that object on some
    other thread, Qt cannot stop them there ("QObject::~QObject: Timers cannot be stopped from
    another thread") and the next one to fire crashes the process. The timer object is deleted
    here, on the GUI thread, which stops its timers. Tested in tests/integration/test_qt_widgets.py
    (test_a_closed_qt_loop_leaves_no_timer_behind).
    """
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        asyncio.set_event_loop(None)
        loop.close()
        timers = loop._timer  # qasync's timer QObject (private: this workaround's one tie to qasync's insides)
        if shiboken6.isValid(timers):
            shiboken6.delete(timers)
