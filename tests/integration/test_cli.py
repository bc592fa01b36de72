"""The jts-broker command: in-process against a simulator, and as real processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jts_broker.cli.main import main
from tests.processes import cli, free_port

pytestmark = pytest.mark.integration


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_candles_as_json_keep_exact_prices(capsys, simulator):
    code, out, _ = run(capsys, "--target", simulator.target, "--json", "candles", "005930", "--start", "2024-01-02", "--end", "2024-01-02")
    assert code == 0
    answer = json.loads(out)
    assert (answer["source"], answer["cached_at"], answer["age_s"]) == ("live", None, 0.0)  # every list says where it came from
    [candle] = answer["items"]
    assert candle == {"time": "2024-01-02T00:00:00+09:00", "open": "78200", "high": "79800", "low": "78200", "close": "79600", "volume": 17142847}


def test_options_after_the_command_work_too(capsys, simulator):
    # The form of the README and the issue: `jts-broker --target T candles 005930 ... --json`.
    code, out, _ = run(capsys, "--target", simulator.target, "candles", "005930", "--start", "2024-01-02", "--end", "2024-01-02", "--json")
    assert code == 0 and json.loads(out)["items"][0]["close"] == "79600"
    code, out, _ = run(capsys, "quote", "005930", "--json", "--target", simulator.target)
    assert code == 0 and json.loads(out)["symbol"] == "005930"
    code, out, _ = run(capsys, "--json", "--target", simulator.target, "quote", "005930")  # before: not undone by the command
    assert code == 0 and json.loads(out)["symbol"] == "005930"


def test_a_config_in_the_working_directory_is_used_without_target(capsys, simulator, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "jts-broker.toml").write_text(f"[cache]\nenabled = false\n[brokers.here]\nport = {simulator.port}\n"
                                              "[brokers.elsewhere]\nport = 1\n")
    code, out, err = run(capsys, "--json", "quote", "005930")
    assert code == 0 and json.loads(out)["symbol"] == "005930", err
    code, _, err = run(capsys, "quote", "005930", "--broker", "elsewhere", "--connect-timeout", "0.2")
    assert code == 1 and "127.0.0.1:1" in err
    code, out, _ = run(capsys, "--target", simulator.target, "--broker", "elsewhere", "--json", "quote", "005930")  # address overridden
    assert code == 0


def test_buy_positions_orders_cancel(capsys, simulator):
    target = ("--target", simulator.target)
    code, out, _ = run(capsys, *target, "--json", "quote", "005930")
    ask = json.loads(out)["ask"]
    code, out, _ = run(capsys, *target, "--json", "buy", "005930", "3", "--price", ask)
    assert code == 0 and json.loads(out)["order"]["status"] == "filled"
    code, out, _ = run(capsys, *target, "--json", "positions")
    [position] = json.loads(out)["items"]
    assert (position["quantity"], position["symbol_name"]) == (3, "삼성전자")
    code, out, _ = run(capsys, *target, "--json", "buy", "005930", "1", "--price", "150000")
    order_id = json.loads(out)["order"]["order_id"]
    code, out, _ = run(capsys, *target, "--json", "cancel", order_id)
    assert code == 0 and json.loads(out)["status"] == "cancelled"
    code, out, _ = run(capsys, *target, "orders")
    assert code == 0 and order_id in out and "cancelled" in out
    code, out, _ = run(capsys, *target, "balance")
    assert code == 0 and "buying power" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("quote", "999999"), "symbol 999999 is not listed"),
        (("buy", "005930", "1", "--price", "190050"), "off the tick grid"),
        (("buy", "005930", "1", "--price", "300000"), "outside today's limits"),
        (("buy", "005930", "0", "--price", "190000"), "quantity must be"),
        (("balance", "--account", "00000000-00"), "account 00000000-00 is not known"),
        (("candles", "005930", "--start", "2024-02-01", "--end", "2024-01-01"), "must not be before"),
    ],
)
def test_user_mistakes_print_one_line_and_exit_1(capsys, simulator, argv, message):
    code, out, err = run(capsys, "--target", simulator.target, *argv)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_an_unreachable_server_prints_one_line(capsys):
    code, _, err = run(capsys, "--target", f"127.0.0.1:{free_port()}", "--connect-timeout", "0.3", "quote", "005930")
    assert code == 1 and err.count("\n") == 1 and "cannot reach" in err and "jts-broker serve" in err


def test_demo_runs_the_main_job(capsys):
    code, out, _ = run(capsys, "demo")
    assert code == 0
    for step in ("Symbol search", "daily candles of 005930", "Quote of 005930", "Paper balance", "filled", "Positions", "cancelled", "Rate limit",
                 "connected -> error -> connecting -> connected"):
        assert step in out
    assert "Demo complete" in out


def serve_and_query(data_dir: Path | None, *query: str) -> tuple[str, str]:
    port = free_port()
    extra = ("--data-dir", str(data_dir), "--from", "2024-01-04") if data_dir else ()
    server = cli("serve", "--port", str(port), "--control", "--paused", *extra)
    try:
        line = server.stdout.readline()  # printed once the port is bound
        assert f"127.0.0.1:{port}" in line, (line, server.stderr.read() if server.poll() is not None else "")
        client = cli("--target", f"127.0.0.1:{port}", "--json", *query)
        out, err = client.communicate(timeout=60)
        return out, err
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_serve_and_query_as_separate_processes():
    out, err = serve_and_query(None, "candles", "005930", "--start", "2024-01-02", "--end", "2024-01-02")
    assert json.loads(out)["items"][0]["close"] == "79600", err


def test_symbols_with_data_lists_what_the_simulator_has_prices_for():
    out, err = serve_and_query(None, "symbols", "--with-data")
    items = json.loads(out)["items"]
    assert len(items) == 15 and "005930" in {s["code"] for s in items} and not any(s["without_prices"] for s in items), err


def test_serve_a_folder_of_csvs(tmp_path):
    (tmp_path / "123450.csv").write_text("date,open,high,low,close,volume\n2024-01-02,1000,1100,990,1050,500\n"
                                         "2024-01-03,1050,1060,1000,1010,700\n2024-01-04,1010,1020,1000,1005,300\n")
    out, err = serve_and_query(tmp_path, "candles", "123450", "--start", "2024-01-01", "--end", "2024-01-31")
    candles = json.loads(out)["items"]
    assert [c["close"] for c in candles[:2]] == ["1050", "1010"], err
    # The replayed day (--from) is partial, still at its opening price; the days before are history.
    assert (candles[2]["time"], candles[2]["open"], candles[2]["close"]) == ("2024-01-04T00:00:00+09:00", "1010", "1010")


def test_serve_refuses_a_malformed_folder(tmp_path):
    (tmp_path / "123450.csv").write_text("date,open,high,low,close,volume\n2024-01-02,1000,900,990,1050,500\n")
    server = cli("serve", "--port", "0", "--data-dir", str(tmp_path))
    _, err = server.communicate(timeout=60)
    assert server.returncode == 1 and "123450.csv:2" in err and "Traceback" not in err


def test_serve_refuses_a_port_in_use():
    port = free_port()
    first = cli("serve", "--port", str(port), "--control", "--paused")
    try:
        assert str(port) in first.stdout.readline()
        second = cli("serve", "--port", str(port))
        _, err = second.communicate(timeout=60)
        assert second.returncode == 1 and "cannot bind" in err
    finally:
        first.terminate()
        first.wait(timeout=30)


def test_limits_watch_sees_the_load_of_another_process(capsys, tmp_path):
    """`limits` reads a shared budget: the tokens another process takes show up, then expire."""
    from jts_broker import RateLimit, RateLimitPolicy
    from jts_broker.server import SimulatorServer

    with SimulatorServer(speed=0, rate_limits=RateLimitPolicy.single(RateLimit(20))) as referee:
        host, port = referee.target.split(":")
        config = tmp_path / "jts-broker.toml"
        backend = f"sqlite:///{tmp_path / 'budget.sqlite'}"
        config.write_text(f'[brokers.sim]\nhost = "{host}"\nport = {port}\n[brokers.sim.rate_limits]\nquery = [[20, 1.0]]\n'
                          f'backend = "{backend}"\nkey = "shared-test"\n')  # the key load_worker uses
        start_at = time.time() + 2.5
        load = subprocess.Popen([sys.executable, "-m", "tests.integration.load_worker", referee.target, backend, "shared-test", "20",
                                 str(start_at), "3", str(tmp_path / "stamps.txt"), "--threads", "8"])
        time.sleep(max(0.0, start_at - time.time()) + 1.5)
        code, out, _ = run(capsys, "--config", str(config), "--json", "limits")
        during = json.loads(out)["usage"][0]["windows"][0]["used"]
        code, out, _ = run(capsys, "--config", str(config), "limits", "--watch", "--duration", "0.6", "--interval", "0.2")
        assert code == 0 and "█" in out and "/20" in out
        assert load.wait(timeout=60) == 0
        time.sleep(1.2)
        code, out, _ = run(capsys, "--config", str(config), "--json", "limits")
        after = json.loads(out)["usage"][0]["windows"][0]["used"]
    assert during >= 15 and after == 0


def test_serve_emulates_a_brokers_limits_and_codes():
    from jts_broker import BrokerConfig, GrpcBrokerGateway, RateLimit, RateLimitExceeded, RetryPolicy

    port = free_port()
    server = cli("serve", "--port", str(port), "--control", "--paused", "--emulate", "kiwoom")
    try:
        line = server.stdout.readline()
        assert "queries 5/s" in line, line
        greedy = GrpcBrokerGateway(BrokerConfig(grpc_port=port, rate_limit=RateLimit(1000), retry=RetryPolicy(max_attempts=1)))
        with pytest.raises(RateLimitExceeded) as info:
            for _ in range(10):
                greedy.get_quote("005930")
        assert info.value.broker_code == "-200"
        greedy.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_serve_with_lost_order_responses_still_places_each_order_once():
    port = free_port()
    server = cli("serve", "--port", str(port), "--control", "--paused", "--drop-after-commit", "1", "--fault-seed", "1")
    try:
        assert "faults injected" in server.stdout.readline()
        target = ("--target", f"127.0.0.1:{port}")
        client = cli(*target, "--json", "buy", "229200", "1", "--price", "15000", "--client-order-id", "cli-once")
        out, err = client.communicate(timeout=60)
        assert client.returncode == 0, err
        assert json.loads(out)["order"]["client_order_id"] == "cli-once"
        listing = cli(*target, "--json", "orders")
        out, _ = listing.communicate(timeout=60)
        assert [o["client_order_id"] for o in json.loads(out)["items"]] == ["cli-once"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_serve_with_tls_and_a_token_and_a_client_config(tmp_path):
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    for i, pem in enumerate(cert.cert_chain_pems):
        pem.write_to_path(str(tmp_path / "server.pem"), append=i > 0)
    port = free_port()
    env = {"JTS_BROKER_SERVE_TOKEN": "serve-secret"}
    server = cli("serve", "--port", str(port), "--control", "--paused", "--tls-cert", str(tmp_path / "server.pem"),
                 "--tls-key", str(tmp_path / "server.key"), env=env)
    try:
        banner = server.stdout.readline()
        assert "TLS" in banner and "bearer token required" in banner and "serve-secret" not in banner
        config = tmp_path / "jts-broker.toml"
        config.write_text(f"[cache]\nenabled = false\n[brokers.secure]\nport = {port}\n[brokers.secure.tls]\nca = '{tmp_path / 'ca.pem'}'\n")
        good = cli("--config", str(config), "--json", "quote", "005930", env={"JTS_BROKER_SECURE_TOKEN": "serve-secret"})
        out, err = good.communicate(timeout=60)
        assert good.returncode == 0, err
        assert json.loads(out)["symbol"] == "005930"
        bad = cli("--config", str(config), "quote", "005930", env={"JTS_BROKER_SECURE_TOKEN": "wrong"})
        _, err = bad.communicate(timeout=60)
        assert bad.returncode == 1 and err.count("\n") == 1 and "invalid bearer token" in err
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_cache_info_and_clear_on_the_configured_file(capsys, simulator, tmp_path, monkeypatch):
    cache_file = tmp_path / "offline.sqlite"
    (tmp_path / "jts-broker.toml").write_text(
        f'[cache]\npath = "{cache_file}"\n\n[brokers.sim]\nport = {simulator.port}\n')
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "cache", "info")
    assert code == 0 and "no cache file yet" in out and not cache_file.exists()
    assert run(capsys, "quote", "005930")[0] == 0  # a live read fills the configured cache
    code, out, _ = run(capsys, "cache", "info", "--json")
    report = json.loads(out)
    assert code == 0 and report["path"] == str(cache_file) and report["bytes"] > 0
    [scope] = report["scopes"]
    assert scope["scope"].endswith(f"@{simulator.target}") and scope["entries"] >= 1
    code, out, _ = run(capsys, "cache", "clear", "--scope", scope["scope"])
    assert code == 0 and f"deleted {scope['entries']} rows" in out
    assert json.loads(run(capsys, "cache", "info", "--json")[1])["scopes"] == []
    with pytest.raises(SystemExit) as usage:
        run(capsys, "cache", "clear", "--older-than", "-1")
    assert usage.value.code == 2 and "expected a number of days" in capsys.readouterr().err
