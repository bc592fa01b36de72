"""The simulator's control service over real gRPC: the SDK client, `jts-broker sim` against a
`serve --control` process, the bearer token, and the backtest example (deterministic fills)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pytest

from jts_broker import BrokerConfig, GrpcBrokerGateway, OrderStatus, Side, limit_order
from jts_broker.client.simulator_control import SimulatorControl
from jts_broker.domain.enums import MarketPhase
from jts_broker.domain.errors import AuthenticationFailed, InvalidRequest, ServerError
from jts_broker.domain.timeutil import KST
from jts_broker.server import SimulatorServer
from tests.processes import cli, free_port, served

pytestmark = pytest.mark.integration
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "backtest.py"


def test_the_control_client_drives_the_clock_and_orders_fill_on_the_way() -> None:
    with SimulatorServer(start=date(2026, 3, 16), end=date(2026, 3, 17), speed=0, control=True, token="s3cret") as server, \
            SimulatorControl(server.target, token="s3cret") as control, \
            GrpcBrokerGateway(BrokerConfig.from_target(server.target, token="s3cret")) as gateway:
        state = control.clock()
        assert (state.trading_day, state.phase, state.day_number, state.day_count, state.paused) == (
            date(2026, 3, 16), MarketPhase.CONTINUOUS, 1, 2, True)
        account = gateway.get_accounts()[0].account_id
        quote = gateway.get_quote("005930")
        resting = gateway.place_order(limit_order(account, "005930", Side.BUY, 1, quote.price, client_order_id="ctl-1")).order
        state = control.advance(to=datetime(2026, 3, 17, 8, 45, tzinfo=KST))  # through the close and the night
        assert (state.trading_day, state.phase) == (date(2026, 3, 17), MarketPhase.OPENING_AUCTION)
        assert gateway.get_order_status(resting.order_id).status in (OrderStatus.FILLED, OrderStatus.EXPIRED)
        assert control.advance(steps=2).phase is MarketPhase.CONTINUOUS  # 09:00 open print, then 09:00:15
        assert control.set_speed(120).speed == 120 and control.resume().paused is False
        assert control.pause().paused
        assert control.reset_accounts() and gateway.list_orders(account) == [] and gateway.get_positions(account) == []
        with pytest.raises(InvalidRequest):
            control.advance(to=datetime(2026, 3, 16, 10, 0, tzinfo=KST))  # time never goes back
        with pytest.raises(InvalidRequest):
            control.set_speed(-1)
    with SimulatorServer(speed=0, control=True, token="s3cret") as server, SimulatorControl(server.target) as anonymous, \
            pytest.raises(AuthenticationFailed):
        anonymous.clock()


def test_a_simulator_without_control_answers_unimplemented() -> None:
    with SimulatorServer(speed=0) as server, SimulatorControl(server.target) as control, pytest.raises(ServerError, match=r"(?i)unimplemented|not implemented|method not found"):
        control.clock()


def test_sim_commands_drive_a_serve_process() -> None:
    port = free_port()
    with served(port, "--from", "2026-03-16", "--to", "2026-03-17") as (_, banner):
        assert "2026-03-16 09:00:00 KST continuous, day 1 of 2" in banner and "paused" in banner and "control service on" in banner
        target = ("--target", f"127.0.0.1:{port}")

        def sim(*argv: str) -> dict[str, object]:
            out, err = cli("sim", *argv, *target, "--json").communicate(timeout=60)
            assert out, err
            return dict(json.loads(out))

        assert sim("clock")["phase"] == "continuous"
        assert sim("advance", "--to", "2026-03-16T15:25")["phase"] == "closing_auction"
        assert sim("advance", "--steps", "2")["now"] == "2026-03-16T15:40:00+09:00"  # the close print, then the day end
        assert sim("speed", "30")["speed"] == 30.0
        assert sim("resume")["paused"] is False and sim("pause")["paused"] is True
        assert sim("reset")["ended"] is False
        refused = cli("sim", "advance", "--to", "2026-03-16T10:00", *target)
        _, err = refused.communicate(timeout=60)
        assert refused.returncode != 0 and "cannot go back" in err and len(err.strip().splitlines()) == 1


def _example():
    spec = importlib.util.spec_from_file_location("backtest_example", EXAMPLE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_backtest_example_gives_the_same_fills_for_the_same_seed() -> None:
    example = _example()
    first = example.run(None, date(2026, 3, 3), date(2026, 3, 17), seed=5)
    again = example.run(None, date(2026, 3, 3), date(2026, 3, 17), seed=5)
    assert first == again and first["fills"] and first["days"] == 11
    assert {f["time"][11:16] for f in first["fills"]} == {"09:30", "15:00"}  # decisions at the replay clock's times only


def test_the_backtest_example_runs_as_a_script_against_a_serve_process() -> None:
    port = free_port()
    with served(port, "--from", "2026-03-03"):
        process = subprocess.Popen([sys.executable, str(EXAMPLE), "--target", f"127.0.0.1:{port}", "--from", "2026-03-03"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    result = json.loads(out)
    assert result["days"] == 11 and result["fills"] == _example().run(None, date(2026, 3, 3), date(2026, 3, 17))["fills"]
