"""Shared fixtures: a real simulator on a free loopback port, and gateways connected to it."""

from __future__ import annotations

import asyncio
import faulthandler
import inspect
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jts_broker import AsyncGrpcBrokerGateway, BrokerConfig, GrpcBrokerGateway, RateLimit
from jts_broker.server import SimulatorServer

# The Qt widgets' tests run on Qt's offscreen platform: no screen on CI. Set before Qt loads.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SHARED = Path(__file__).resolve().parents[2] / "shared"
ACCOUNT = "50000001-01"


def pytest_configure(config: pytest.Config) -> None:
    """A run started in the background by a non-interactive shell inherits SIGINT ignored, and so
    would every process a test starts (an ignored signal stays ignored across exec): the tests that
    send a real SIGINT would then meet nothing. Restoring Python's handler here, in the main thread
    before any test, gives children the default disposition after exec, as a user's Ctrl-C meets it.
    (Not a ``preexec_fn`` per child: it forces fork() of a process whose gRPC threads are running,
    and gRPC's fork handlers then broke the child's event engine.)"""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session", autouse=True)
def hermetic_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests never read the developer's jts-broker config or write to their config, cache or data
    folders, and subprocesses they start inherit the same. Set for the whole session, so that
    module-scoped fixtures (set up before any test's own fixtures) are covered too."""
    home = tmp_path_factory.getbasetemp() / "xdg"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CONFIG_HOME", str(home / "config"))
        patch.setenv("XDG_CACHE_HOME", str(home / "cache"))
        patch.setenv("XDG_DATA_HOME", str(home / "data"))
        for name in ("JTS_BROKER_CONFIG", "JTS_BROKER_TARGET", "JTS_BROKER_SERVE_TOKEN"):
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(autouse=True)
def hermetic_environment(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test has a data folder (the default order journal) of its own: an order one test left
    unresolved is never reconciled by another."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))


def wait_until(condition: Callable[[], bool], timeout_s: float = 15.0, what: str = "condition") -> None:
    """Poll ``condition`` every 10 ms until it holds; AssertionError naming ``what`` after ``timeout_s``
    (with every thread's stack on stderr, so that a failure says where things stood)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            faulthandler.dump_traceback(sys.stderr, all_threads=True)  # what every thread was doing, for the report
            raise AssertionError(f"{what} not met within {timeout_s:g} s")
        time.sleep(0.01)


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    """A fresh simulator per test (paper books start clean); the replay clock is stopped so
    tests drive it with ``simulator.step()``."""
    with SimulatorServer(speed=0) as server:
        yield server


class _SyncStream:
    def __init__(self, stream: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._stream, self._loop = stream, loop

    def __iter__(self) -> _SyncStream:
        return self

    def __next__(self) -> Any:
        try:
            return self._loop.run_until_complete(self._stream.__anext__())
        except StopAsyncIteration:
            raise StopIteration from None

    def __enter__(self) -> _SyncStream:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop.is_running():  # from another thread (a test's watchdog) while __next__ waits on the loop
            asyncio.run_coroutine_threadsafe(self._stream.aclose(), self._loop).result(timeout=10)
            return
        self._loop.run_until_complete(self._stream.aclose())


class AsyncAsSync:
    """Runs an ``AsyncGrpcBrokerGateway`` on a private event loop behind the blocking interface,
    so every gateway test is written once and run against both twins."""

    def __init__(self, gateway: AsyncGrpcBrokerGateway) -> None:
        self._gateway = gateway
        self._loop = asyncio.new_event_loop()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._gateway, name)
        if name == "stream_quotes":
            return lambda symbols: _SyncStream(attr(symbols), self._loop)
        if inspect.iscoroutinefunction(attr):
            return lambda *args, **kwargs: self._loop.run_until_complete(attr(*args, **kwargs))
        return attr

    def shutdown(self) -> None:
        self._loop.run_until_complete(self._gateway.close())
        self._loop.close()


@pytest.fixture(params=["sync", "async"])
def gateway(request: pytest.FixtureRequest, simulator: SimulatorServer) -> Iterator[Any]:
    """A connected gateway of each kind; the async one driven through ``AsyncAsSync``."""
    # A budget that does not bind: these tests are about behaviour, not throttling.
    config = BrokerConfig.from_target(simulator.target, rate_limit=RateLimit(1000))
    if request.param == "sync":
        gw = GrpcBrokerGateway(config)
        gw.connect()
        yield gw
        gw.close()
    else:
        adapted = AsyncAsSync(AsyncGrpcBrokerGateway(config))
        adapted.connect()
        yield adapted
        adapted.shutdown()
