"""Server processes for the benchmarks: a free loopback port, and a process that prints a line
naming its port once bound, served for the length of a block."""

from __future__ import annotations

import contextlib
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
