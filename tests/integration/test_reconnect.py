"""Connection management against real servers: health watching, status listeners, automatic
reconnection after a restart or a crash of the server."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time

import grpc
import pytest

from jts_broker import (
    AsyncGrpcBrokerGateway,
    BrokerConfig,
    BrokerUnavailable,
    ConnectionStatus,
    GrpcBrokerGateway,
    Quote,
    QuoteGap,
    RateLimit,
    ReconnectPolicy,
    RetryPolicy,
    Timeouts,
)
from jts_broker.server import SimulatorServer
from tests.conftest import wait_until
from tests.processes import free_port, start_server, stop

pytestmark = pytest.mark.integration

CONNECTED, CONNECTING, ERROR, DISCONNECTED = (ConnectionStatus.CONNECTED, ConnectionStatus.CONNECTING, ConnectionStatus.ERROR,
                                              ConnectionStatus.DISCONNECTED)


def read_succeeds(gateway: GrpcBrokerGateway) -> bool:
    try:
        return gateway.get_quote("005930").price > 0
    except BrokerUnavailable:
        return False


def config_for(target: str) -> BrokerConfig:
    # One attempt per read: the test itself polls, so it sees exactly when reads work again.
    return BrokerConfig.from_target(target, rate_limit=RateLimit(10_000), retry=RetryPolicy(max_attempts=1))


def test_reads_resume_after_a_server_restart_and_listeners_see_the_outage(simulator):
    with GrpcBrokerGateway(config_for(simulator.target)) as gateway:
        changes = []
        gateway.subscribe_status(changes.append)
        simulator.stop(0)
        wait_until(lambda: gateway.status is not CONNECTED)
        with pytest.raises(BrokerUnavailable):
            gateway.get_quote("005930")
        simulator.start()  # same port
        wait_until(lambda: read_succeeds(gateway))
        wait_until(lambda: gateway.status is CONNECTED)
    wait_until(lambda: len(changes) == 4, what="every change told")  # listeners run on the status thread
    statuses = [c.status for c in changes]
    assert statuses == [ERROR, CONNECTING, CONNECTED, DISCONNECTED]
    assert "NOT_SERVING" in changes[0].reason or "lost" in changes[0].reason  # the health watch saw it go
    assert all(c.time.tzinfo is not None for c in changes)


def test_reads_resume_after_the_server_process_is_killed_and_restarted():
    port = free_port()
    server, _ = start_server(port)
    try:
        with GrpcBrokerGateway(config_for(f"127.0.0.1:{port}")) as gateway:
            changes = []
            gateway.subscribe_status(changes.append)
            assert read_succeeds(gateway)
            stop(server, kill=True)  # a crash: no goodbye to the health watchers
            wait_until(lambda: gateway.status is not CONNECTED)
            assert not read_succeeds(gateway)
            server, _ = start_server(port)
            wait_until(lambda: read_succeeds(gateway), timeout_s=30)
            wait_until(lambda: gateway.status is CONNECTED)
            wait_until(lambda: len(changes) == 3, what="every change told")
            assert [c.status for c in changes] == [ERROR, CONNECTING, CONNECTED]
    finally:
        stop(server)


def test_a_server_that_freezes_without_a_word_is_noticed_and_followed_back():
    # SIGSTOP: the process holds its connections open and answers nothing, as a hung host does.
    # The renewed health stream notices within about one health interval, not a keepalive later.
    port = free_port()
    server, _ = start_server(port)
    config = BrokerConfig.from_target(f"127.0.0.1:{port}", rate_limit=RateLimit(10_000), retry=RetryPolicy(max_attempts=1),
                                      reconnect=ReconnectPolicy(health_interval_s=0.5), timeouts=Timeouts(connect_s=1.0))
    try:
        with GrpcBrokerGateway(config) as gateway:
            changes = []
            gateway.subscribe_status(changes.append)
            server.send_signal(signal.SIGSTOP)
            wait_until(lambda: gateway.status is not CONNECTED, what="the frozen server noticed")
            server.send_signal(signal.SIGCONT)
            wait_until(lambda: gateway.status is CONNECTED, what="the thawed server followed back")
            wait_until(lambda: len(changes) >= 3, what="the changes told")
        assert "no answer" in changes[0].reason or "DEADLINE_EXCEEDED" in changes[0].reason
    finally:
        server.send_signal(signal.SIGCONT)
        stop(server)


def test_the_async_gateway_reconnects_and_reports_changes_as_an_async_iterator(simulator):
    async def scenario() -> list[ConnectionStatus]:
        async with AsyncGrpcBrokerGateway(config_for(simulator.target)) as gateway:
            seen: list[ConnectionStatus] = []

            async def follow() -> None:
                async for change in gateway.status_changes():
                    seen.append(change.status)
                    if change.status is CONNECTED:
                        return

            follower = asyncio.create_task(follow())
            await asyncio.sleep(0.05)
            simulator.stop(0)
            while gateway.status is CONNECTED:
                await asyncio.sleep(0.01)
            simulator.start()
            await asyncio.wait_for(follower, 15)
            assert (await gateway.get_quote("005930")).price > 0
            return seen

    assert asyncio.run(scenario()) == [ERROR, CONNECTING, CONNECTED]


def test_closing_during_an_outage_stops_reconnecting(simulator):
    gateway = GrpcBrokerGateway(config_for(simulator.target))
    gateway.connect()
    simulator.stop(0)
    wait_until(lambda: gateway.status is CONNECTING)
    gateway.close()
    assert gateway.status is DISCONNECTED
    simulator.start()
    time.sleep(0.3)
    assert gateway.status is DISCONNECTED  # nobody reconnected a closed gateway


def test_reconnection_can_be_turned_off(simulator):
    config = BrokerConfig.from_target(simulator.target, rate_limit=RateLimit(10_000), retry=RetryPolicy(max_attempts=1),
                                      reconnect=ReconnectPolicy(enabled=False))
    with GrpcBrokerGateway(config) as gateway:
        simulator.restart(0)
        # No health watch: the status stays as last known, and the channel reconnects on demand.
        wait_until(lambda: read_succeeds(gateway))
        assert gateway.status is CONNECTED


def test_a_listener_that_raises_does_not_stop_the_others(simulator):
    with GrpcBrokerGateway(config_for(simulator.target)) as gateway:
        seen = []

        def broken(change):
            raise RuntimeError("listener bug")

        gateway.subscribe_status(broken)
        unsubscribe = gateway.subscribe_status(seen.append)
        simulator.stop(0)
        wait_until(lambda: len(seen) >= 2)
        unsubscribe()
        simulator.start()
        wait_until(lambda: gateway.status is CONNECTED)
        assert [c.status for c in seen] == [ERROR, CONNECTING]


def test_a_slow_listener_never_stalls_the_connection_or_its_health_checks(simulator):
    # A listener that blocks (a UI thread busy, a lock held elsewhere) while the server goes away
    # and comes back: the connection must still notice both and answer health checks meanwhile.
    with GrpcBrokerGateway(config_for(simulator.target)) as gateway:
        release = threading.Event()
        seen = []

        def slow(change):
            release.wait(60)
            seen.append(change.status)

        gateway.subscribe_status(slow)
        simulator.stop(0)
        wait_until(lambda: gateway.status is CONNECTING, what="the outage noticed while a listener blocks")
        simulator.start()
        wait_until(lambda: gateway.status is CONNECTED, what="the reconnect while a listener blocks")
        assert gateway.check_health() >= 0
        release.set()
        wait_until(lambda: len(seen) == 3, what="the blocked listener told every change, in order")
        assert seen == [ERROR, CONNECTING, CONNECTED]


def test_check_health_reports_the_round_trip(simulator):
    with GrpcBrokerGateway(config_for(simulator.target)) as gateway:
        assert gateway.check_health() > 0  # a round trip, in seconds
        simulator.stop(0)
        with pytest.raises(BrokerUnavailable):
            gateway.check_health()


def test_a_quote_stream_resubscribes_after_a_restart_and_reports_the_gap(simulator):
    with GrpcBrokerGateway(config_for(simulator.target)) as gateway:
        stream = gateway.stream_quotes(["005930", "000660"])
        watchdog = threading.Timer(20, stream.close)  # ends the stream instead of hanging the suite
        watchdog.start()
        try:
            first = [next(stream), next(stream)]
            assert {q.symbol for q in first} == {"005930", "000660"}
            broke_after = first[-1]
            simulator.stop(0)
            simulator.start()
            gap = next(stream)
            assert isinstance(gap, QuoteGap), gap
            assert gap.symbols == ("005930", "000660") and gap.start <= gap.end and gap.duration_s >= 0 and gap.reason
            assert gap.end.tzinfo is not None
            fresh = [next(stream), next(stream)]  # the current quote of every symbol again
            assert all(isinstance(q, Quote) for q in fresh) and {q.symbol for q in fresh} == {"005930", "000660"}
            simulator.step()
            moved = next(stream)
            assert isinstance(moved, Quote) and moved.time >= broke_after.time
        finally:
            watchdog.cancel()
            stream.close()
        assert list(stream) == []  # closed: iteration ends


def test_without_resubscribe_a_break_is_raised(simulator):
    with GrpcBrokerGateway(config_for(simulator.target)) as gateway:
        stream = gateway.stream_quotes(["005930"], resubscribe=False)
        next(stream)
        simulator.stop(0)
        with pytest.raises(BrokerUnavailable):
            next(stream)
        stream.close()


def test_an_async_quote_stream_resubscribes_too(simulator):
    async def scenario() -> list:
        async with AsyncGrpcBrokerGateway(config_for(simulator.target)) as gateway:
            stream = gateway.stream_quotes(["005930"])
            seen = [await asyncio.wait_for(stream.__anext__(), 10)]
            simulator.stop(0)
            simulator.start()
            seen.append(await asyncio.wait_for(stream.__anext__(), 15))
            seen.append(await asyncio.wait_for(stream.__anext__(), 10))
            await stream.aclose()
            return seen

    quote, gap, again = asyncio.run(scenario())
    assert quote.symbol == "005930" and isinstance(gap, QuoteGap) and again.symbol == "005930"


def test_a_stream_waiting_for_the_server_ends_when_the_gateway_disconnects(simulator):
    gateway = GrpcBrokerGateway(config_for(simulator.target))
    stream = gateway.stream_quotes(["005930"])
    next(stream)
    simulator.stop(0)
    ended = threading.Event()

    def drain():
        assert list(stream) == []
        ended.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    wait_until(lambda: gateway.status is CONNECTING)
    gateway.close()
    assert ended.wait(10)


def test_stopping_while_health_streams_close_never_hangs():
    # Clients' health streams ending while the server tells its watchers NOT_SERVING: with
    # grpcio-health-checking's default servicer this deadlocked stop() (the workaround is in
    # SimulatorServer.start). Streams of 20 ms, opened again and again by 16 clients.
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    for _ in range(5):
        server = SimulatorServer(speed=0).start()
        done = threading.Event()

        def churn(target: str = server.target, done: threading.Event = done) -> None:
            with grpc.insecure_channel(target) as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                while not done.is_set():
                    with contextlib.suppress(grpc.RpcError):
                        for _ in stub.Watch(health_pb2.HealthCheckRequest(), timeout=0.02):
                            pass

        clients = [threading.Thread(target=churn, daemon=True) for _ in range(16)]
        for client in clients:
            client.start()
        time.sleep(0.3)
        stopper = threading.Thread(target=server.stop, daemon=True)
        stopper.start()
        stopper.join(30)
        done.set()
        assert not stopper.is_alive(), "SimulatorServer.stop() hung"
        for client in clients:
            client.join(30)
