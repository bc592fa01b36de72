"""Server processes for the benchmarks: a free loopback port, and a process that prints a line
naming its port once bound, served for the length of a block."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from collections.abc import Iterator


def free_port() -> int:
    """A loopback port free at this moment."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(process: subprocess.Popen[str], port: int, what: str) -> Iterator[tuple[str, int]]:
    """``process``, started to bind ``port`` and print a line naming it, once it has: (target,
    pid). Terminated at the end of the block.

    Raises:
        RuntimeError: it printed something else first, or nothing (``what`` names it).
    """
    try:
        line = process.stdout.readline() if process.stdout else ""
        if str(port) not in line:
            raise RuntimeError(f"{what} did not start: {line!r}")
        yield f"127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def _pin(pid: int, cpus: set[int]) -> None:
    """Every thread of process ``pid`` (0: this one) on ``cpus``; threads they start inherit it."""
    for task in os.listdir(f"/proc/{pid or os.getpid()}/task"):
        with contextlib.suppress(ProcessLookupError):  # a thread that ended meanwhile
            os.sched_setaffinity(int(task), cpus)


@contextlib.contextmanager
def split_cores(server_pid: int) -> Iterator[bool]:
    """For the block, this process on CPU 0 and the server ``server_pid`` on CPU 1, so neither
    takes the other's core (Linux, 2 CPUs or more: True); else nothing changes (False). Both are
    back on every CPU afterwards."""
    every = os.sched_getaffinity(0)
    if not {0, 1} <= every:
        yield False
        return
    _pin(server_pid, {1})
    _pin(0, {0})
    try:
        yield True
    finally:
        _pin(0, every)
        with contextlib.suppress(FileNotFoundError):  # the server ended
            _pin(server_pid, every)
