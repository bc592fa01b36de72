"""BrokerRegistry from a TOML file: two real simulators and a mock, several accounts, one
simulator going down, and ``jts-broker status`` reporting it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from jts_broker import AccountType, BrokerType, ConfigurationError, ConnectionStatus, GrpcBrokerGateway, MockBrokerGateway
from jts_broker.cli.main import main
from jts_broker.client.registry import BrokerRegistry
from jts_broker.domain.trading import Account
from jts_broker.server import SimulatorServer

pytestmark = pytest.mark.integration

B_ACCOUNTS = (Account("60000001-01", "B one", AccountType.PAPER), Account("60000002-01", "B two", AccountType.PAPER))


@pytest.fixture
def two_simulators():
    with SimulatorServer(speed=0) as a, SimulatorServer(speed=0, accounts=B_ACCOUNTS) as b:
        yield a, b


def write_config(folder: Path, a: SimulatorServer, b: SimulatorServer) -> Path:
    path = folder / "jts-broker.toml"
    path.write_text(f"""
[cache]
enabled = false

[brokers.sim-a]
type = "kis"
host = "127.0.0.1"
port = {a.port}
[brokers.sim-a.timeouts]
connect_s = 1.0
[[brokers.sim-a.accounts]]
id = "50000001-01"
type = "paper"
[[brokers.sim-a.accounts]]
id = "50000002-01"
type = "paper"

[brokers.sim-b]
type = "creon"
port = {b.port}
[brokers.sim-b.timeouts]
connect_s = 1.0
[brokers.sim-b.reconnect]
max_backoff_s = 0.5
[[brokers.sim-b.accounts]]
id = "60000001-01"
[[brokers.sim-b.accounts]]
id = "60000002-01"

[brokers.dev]
type = "mock"
[[brokers.dev.accounts]]
id = "MOCK-0001"
""")
    return path


def test_three_brokers_load_connect_and_survive_one_going_down(tmp_path, two_simulators):
    a, b = two_simulators
    path = write_config(tmp_path, a, b)
    with BrokerRegistry.from_config(path) as registry:
        assert registry.names == ["sim-a", "sim-b", "dev"]
        assert isinstance(registry.gateway("sim-a"), GrpcBrokerGateway) and isinstance(registry.gateway("dev"), MockBrokerGateway)
        assert registry.connect() == {"sim-a": None, "sim-b": None, "dev": None}

        name, gateway = registry.for_account("60000002-01")
        assert name == "sim-b" and gateway.get_balance("60000002-01").cash > 0
        assert registry.for_account("MOCK-0001")[0] == "dev"

        health = {h.name: h for h in registry.check_health()}
        assert all(h.status is ConnectionStatus.CONNECTED and h.latency_s is not None for h in health.values())
        assert health["sim-b"].broker_type is BrokerType.CREON and health["sim-b"].accounts == ("60000001-01", "60000002-01")

        b.stop(0)
        health = {h.name: h for h in registry.check_health()}
        assert health["sim-b"].status is not ConnectionStatus.CONNECTED and health["sim-b"].last_error
        assert health["sim-a"].status is ConnectionStatus.CONNECTED and health["dev"].status is ConnectionStatus.CONNECTED
        # The others keep working while sim-b is down.
        assert registry.gateway("sim-a").get_quote("005930").price > 0
        assert registry.gateway("dev").get_quote("005930").price > 0

        b.start()  # back on the same port: sim-b reconnects by itself
        gateway = registry.gateway("sim-b")
        deadline = time.monotonic() + 15
        while gateway.status is not ConnectionStatus.CONNECTED and time.monotonic() < deadline:
            time.sleep(0.02)
        assert gateway.status is ConnectionStatus.CONNECTED
    assert all(h.status is ConnectionStatus.DISCONNECTED for h in registry.health())  # closed on exit


def test_status_command_reports_every_broker(tmp_path, two_simulators, capsys):
    a, b = two_simulators
    path = write_config(tmp_path, a, b)
    assert main(["--config", str(path), "status"]) == 0
    out = capsys.readouterr().out
    for name in ("sim-a", "sim-b", "dev"):
        assert name in out
    assert out.count("connected") == 3

    b.stop(0)
    assert main(["--config", str(path), "--json", "status"]) == 1  # not all connected
    report = {h["name"]: h for h in json.loads(capsys.readouterr().out)}
    assert report["sim-b"]["status"] == "error" and report["sim-b"]["last_error"]
    assert report["sim-a"]["status"] == "connected" and report["dev"]["status"] == "connected"


def test_ambiguous_and_unknown_accounts_are_configuration_errors(tmp_path, two_simulators):
    a, b = two_simulators
    path = tmp_path / "dup.toml"
    path.write_text(f"[cache]\nenabled = false\n[brokers.x]\nport = {a.port}\n[[brokers.x.accounts]]\nid = '1'\n"
                    f"[brokers.y]\nport = {b.port}\n[[brokers.y.accounts]]\nid = '1'\n")
    with BrokerRegistry.from_config(path) as registry:
        with pytest.raises(ConfigurationError, match="several brokers"):
            registry.for_account("1")
        with pytest.raises(ConfigurationError, match="no broker configures"):
            registry.for_account("2")
        with pytest.raises(ConfigurationError, match="no broker named"):
            registry.gateway("z")
