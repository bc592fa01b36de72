"""Real processes for integration tests: free loopback ports and ``jts-broker`` subprocesses."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(*argv: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
    """``jts-broker ARGV`` as a subprocess with text pipes; ``env`` adds to this process's environment.
    (SIGINT reaches it with its default disposition: see ``pytest_configure`` in conftest.)"""
    return subprocess.Popen([sys.executable, "-m", "jts_broker.cli.main", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}, **kwargs)


def start_server(port: int, *extra: str) -> tuple[subprocess.Popen, str]:
    """``jts-broker serve --port PORT`` (replay clock stopped); returns once the port is bound,
    with the banner line it printed."""
    server = cli("serve", "--port", str(port), "--control", "--paused", *extra)
    line = server.stdout.readline()  # printed once the port is bound
    if f"127.0.0.1:{port}" not in line:
        server.kill()
        raise AssertionError(f"serve did not start: {line!r} {server.stderr.read()}")
    return server, line


def stop(server: subprocess.Popen, *, kill: bool = False) -> None:
    """End a server process: SIGKILL (a crash) or SIGTERM (a clean stop)."""
    if server.poll() is None:
        server.kill() if kill else server.terminate()
    server.wait(timeout=30)
    for stream in (server.stdout, server.stderr):
        if stream:
            stream.close()


@contextlib.contextmanager
def served(port: int, *extra: str) -> Iterator[tuple[subprocess.Popen, str]]:
    server, line = start_server(port, *extra)
    try:
        yield server, line
    finally:
        stop(server)
