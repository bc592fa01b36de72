"""`jts-broker serve` refuses what it cannot serve, in one line, and always ends on signals: the
option checks, the session dates the data cannot replay, and repeated SIGTERM/SIGINT during a
shutdown (real processes)."""

from __future__ import annotations

import signal
import socket
import time
from datetime import date

import grpc
import pytest

from jts_broker.cli.main import main
from jts_broker.contract._generated.pb import market_data_pb2, market_data_pb2_grpc
from jts_broker.domain.errors import ConfigurationError, SymbolNotFound
from jts_broker.server import SimulatorServer
from tests.processes import free_port, start_server

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("option", "value", "says"), [
    ("--port", "99999", "expected a port 1-65535"),
    ("--port", "-1", "expected a port 1-65535"),
    ("--cash", "-5", "expected an amount of KRW >= 0"),
    ("--speed", "0", "expected a speed > 0"),
    ("--speed", "-60", "expected a speed > 0"),
    ("--speed", "inf", "expected a speed > 0"),
    ("--from", "2025-13-01", "expected YYYY-MM-DD"),
    ("--latency-ms", "nan", "expected a number >= 0"),
])
def test_serve_refuses_bad_options_in_one_line(capsys: pytest.CaptureFixture[str], option: str, value: str, says: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["serve", option, value])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and says in err and len(err.strip().splitlines()) == 1


def test_a_paused_clock_without_the_control_service_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "0", "--paused"]) == 1
    assert "--paused needs --control" in capsys.readouterr().err


def test_a_session_date_the_data_cannot_replay_is_refused_naming_the_nearest_trading_days() -> None:
    with pytest.raises(ConfigurationError, match=r"2025-06-14 \(Saturday\) is not a trading day.*before it 2025-06-13 and after it 2025-06-16") as weekend:
        SimulatorServer(start=date(2025, 6, 14), speed=0)
    assert weekend.value.code == "NOT_A_TRADING_DAY"
    with pytest.raises(ConfigurationError, match=r"2025-06-06 .*not a trading day"):  # Memorial Day
        SimulatorServer(start=date(2025, 6, 6), speed=0)
    with pytest.raises(ConfigurationError, match="adjusted prices, history only") as old:
        SimulatorServer(start=date(1999, 1, 4), speed=0)
    assert old.value.code == "HISTORY_ONLY"
    with SimulatorServer(start=date(2025, 6, 13), speed=0) as server:  # a trading day: served
        assert server.market.session_date == date(2025, 6, 13)


def test_a_listed_symbol_without_prices_says_so() -> None:
    with SimulatorServer(speed=0) as server, pytest.raises(SymbolNotFound, match=r"no price data for 000020 in this simulator \(\d+ symbols have data; add CSVs with --data-dir\)"):
        server.backend.get_quote("000020")


def _port_free(port: int) -> bool:
    """Whether a new server could bind ``port``: with SO_REUSEADDR, as grpc binds, so connections
    the old server closed (TIME_WAIT) do not count, and a listener still there does."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.mark.parametrize("signals", [(signal.SIGTERM,), (signal.SIGTERM, signal.SIGTERM), (signal.SIGINT, signal.SIGTERM)],
                         ids=["one-term", "two-terms", "int-then-term"])
def test_serve_always_ends_on_signals_and_frees_its_port(signals: tuple[int, ...]) -> None:
    port = free_port()
    server, _ = start_server(port)
    # An open quote stream holds the graceful stop for its grace period (1 s), so a second signal
    # 50 ms after the first surely arrives while that stop is under way (the stop of an idle
    # server, its startup heap frozen, can end within those 50 ms).
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    quotes = market_data_pb2_grpc.MarketDataServiceStub(channel).StreamQuotes(market_data_pb2.StreamQuotesRequest(symbols=["005930"]), timeout=30)
    try:
        next(quotes)  # the stream is open and served
        for n, signum in enumerate(signals):
            if n:
                time.sleep(0.05)  # the second arrives while the first's stop is under way
            server.send_signal(signum)
        code = server.wait(timeout=15)
    finally:
        quotes.cancel()
        channel.close()
        if server.poll() is None:
            server.kill()
        for pipe in (server.stdout, server.stderr):
            if pipe:
                pipe.close()
    # One signal: a graceful stop. A second: the process ends at once, by our handler (128 + signal)
    # or, where grpc's shutdown has reset the signal's disposition, by the signal itself.
    assert code == 0 if len(signals) == 1 else code in (128 + signals[-1], -signals[-1])
    assert _port_free(port)
