"""The command line as a new user meets it: it never lies, never dumps a traceback, and says what
it did not do. Real processes against real simulators wherever a user would run one."""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from jts_broker import BrokerConfig, GrpcBrokerGateway, OrderStatusUnknown, RateLimit, RetryPolicy, Side, __version__, limit_order
from jts_broker.cli.main import main
from jts_broker.client.config_file import load_settings
from jts_broker.server.faults import FaultPlan
from tests.conftest import ACCOUNT, wait_until
from tests.processes import cli, free_port, start_server, stop

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_make_demo_needs_neither_root_nor_redis():
    # Only the tests start a redis-server: the demo's recipe (and the install it depends on) has none.
    demo = subprocess.run(["make", "-n", "-B", "demo"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    tests = subprocess.run(["make", "-n", "-B", "test"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "redis" not in demo and "apt-get" not in demo
    assert "redis-server" in tests


def test_the_demo_writes_nothing_in_the_users_folders(tmp_path):
    # The user folders cannot even be created (their parent is a file): a demo that wrote to them would fail.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    env = {name: str(blocker / name.lower()) for name in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME")}
    demo = cli("demo", env=env)
    out, err = demo.communicate(timeout=120)
    assert demo.returncode == 0, err
    assert "Order journal" in out and "Demo complete" in out


def test_json_piped_into_head_ends_quietly(simulator, tmp_path):
    command = f"{sys.executable} -m jts_broker.cli.main --target {simulator.target} --json symbols 2>{tmp_path / 'err'} | head -3; " \
              f"echo ${{PIPESTATUS[0]}} >{tmp_path / 'code'}"
    shown = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60).stdout
    assert shown.splitlines()[:1] == ["{"] and len(shown.splitlines()) == 3
    assert (tmp_path / "err").read_text() == ""  # no BrokenPipeError traceback
    assert (tmp_path / "code").read_text().strip() == "141"


def test_a_range_with_no_data_says_so_and_where_the_data_ends(capsys, simulator):
    code, out, err = run(capsys, "--target", simulator.target, "candles", "005930", "--start", "2030-01-02", "--end", "2030-01-31")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "no day candles of 005930 from 2030-01-02 to 2030-01-31" in err
    assert re.search(r"run from \d{4}-\d\d-\d\d to 2026-03-17", err), err
    code, out, err = run(capsys, "--target", simulator.target, "--json", "candles", "005930", "--start", "2030-01-02", "--end", "2030-01-02")
    assert code == 1 and out == "" and "no day candles" in err


def test_cached_answers_are_marked_with_their_age_in_tables_and_json(capsys, simulator, tmp_path):
    config = tmp_path / "jts-broker.toml"
    config.write_text(f'[cache]\npath = "{tmp_path / "offline.sqlite"}"\n[brokers.sim]\nport = {simulator.port}\n'
                      f'[brokers.sim.rate_limits]\npreset = "spec"\n')
    base = ("--config", str(config), "--connect-timeout", "0.5")
    candles = ("candles", "005930", "--start", "2024-01-02", "--end", "2024-01-31")
    assert run(capsys, *base, "quote", "005930")[0] == 0
    code, out, _ = run(capsys, *base, "--json", *candles)
    assert code == 0 and json.loads(out)["source"] == "live"
    simulator.stop(0)
    code, out, err = run(capsys, *base, "quote", "005930")
    assert code == 0 and re.search(r"\[CACHE, \d+ s old\]", out) and "From the offline cache: live at 20" in out, err
    code, out, _ = run(capsys, *base, "--json", "quote", "005930")
    cached = json.loads(out)
    assert cached["source"] == "cache" and cached["cached_at"] and cached["age_s"] >= 0
    code, out, _ = run(capsys, *base, "--json", *candles)
    listed = json.loads(out)
    assert (listed["source"], len(listed["items"])) == ("cache", 22) and listed["cached_at"]  # the trading days of January 2024
    code, out, _ = run(capsys, *base, *candles)
    assert code == 0 and "[CACHE," in out and "the server is unreachable" in out


def test_cache_clear_takes_a_brokers_name_and_says_when_nothing_matched(capsys, simulator, tmp_path):
    config = tmp_path / "jts-broker.toml"
    config.write_text(f'[cache]\npath = "{tmp_path / "offline.sqlite"}"\n[brokers.sim]\nport = {simulator.port}\n[brokers.other]\nport = 1\n')
    assert run(capsys, "--config", str(config), "quote", "005930")[0] == 0
    code, out, _ = run(capsys, "cache", "clear", "--config", str(config), "--scope", "other")
    assert code == 0 and "nothing cached for other (kis@127.0.0.1:1)" in out and "nothing deleted" in out
    code, out, _ = run(capsys, "cache", "clear", "--config", str(config), "--scope", "sim")
    assert code == 0 and re.search(r"deleted [1-9]\d* rows of sim", out), out
    code, out, _ = run(capsys, "cache", "clear", "--config", str(config), "--scope", "sim")
    assert "nothing cached for sim" in out


def test_prices_print_as_the_exchange_writes_them(capsys, simulator):
    code, out, _ = run(capsys, "--target", simulator.target, "quote", "005930")
    price = simulator.market.quote("005930").price
    assert code == 0 and f"{price:,.0f}" in out and "Decimal" not in out
    code, out, err = run(capsys, "--target", simulator.target, "buy", "005930", "1", "--price", "0")
    assert code == 1 and "got 0" in err and "Decimal" not in err
    code, out, err = run(capsys, "--target", simulator.target, "buy", "005930", "1", "--price", "190,050")
    assert code == 1 and "190,050" in err and "Decimal" not in err


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"jts-broker {__version__}"


def test_the_config_written_for_the_local_simulator_does_not_throttle_it_to_a_paper_accounts_one_call_a_second(capsys, tmp_path):
    path = tmp_path / "jts-broker.toml"
    assert run(capsys, "config", "init", "--path", str(path))[0] == 0
    sim = load_settings(path).brokers["sim"]
    assert sim.accounts[0].account_type.value == "paper" and str(sim.rate_limit_policy) == "queries 20/s (orders included)"
    _, out, _ = run(capsys, "--config", str(path), "--connect-timeout", "0.3", "--json", "status")
    report = {b["name"]: b for b in json.loads(out)}
    assert report["sim"]["rate_limits"] == "queries 20/s (orders included)"  # and status says which budget is in force


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["candles"], "the following arguments are required: code"),
        (["quote"], "the following arguments are required: CODE"),
        (["candles", "005930", "--start", "2024-13-01", "--end", "2024-01-02"], "expected YYYY-MM-DD"),
        (["bogus"], "invalid choice: 'bogus'"),
    ],
)
def test_usage_mistakes_are_one_line_and_exit_2(capsys, argv, says):
    with pytest.raises(SystemExit) as done:
        main(argv)
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.count("\n") == 1 and says in err and "--help" in err


def test_a_lookup_without_an_id_is_a_usage_mistake(capsys, simulator):
    code, _, err = run(capsys, "--target", simulator.target, "order")
    assert code == 2 and err.count("\n") == 1 and "ORDER_ID or --client-order-id" in err


def test_quote_takes_several_symbols(capsys, simulator):
    code, out, _ = run(capsys, "--target", simulator.target, "quote", "005930", "000660", "A005930")
    assert code == 0 and "005930" in out and "000660" in out
    code, out, _ = run(capsys, "--target", simulator.target, "--json", "quote", "005930", "000660")
    assert [q["symbol"] for q in json.loads(out)["items"]] == ["005930", "000660"]


def _lines(stream) -> queue.Queue:
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
    return lines


def test_stream_prints_quotes_and_gaps_until_ctrl_c():
    port = free_port()
    server = cli("serve", "--port", str(port), "--speed", "60")  # a moving market: a new price every 0.25 s
    assert str(port) in server.stdout.readline()
    client = cli("--target", f"127.0.0.1:{port}", "--json", "stream", "005930", "000660")
    try:
        lines = _lines(client.stdout)
        first = [json.loads(lines.get(timeout=30)) for _ in range(3)]
        assert {q["symbol"] for q in first[:2]} == {"005930", "000660"} and all(q["type"] == "quote" for q in first)
        stop(server, kill=True)  # the stream breaks...
        server, _ = start_server(port)  # ...and the server comes back on the same port
        seen = [json.loads(lines.get(timeout=60))]
        while seen[-1]["type"] != "gap":
            seen.append(json.loads(lines.get(timeout=60)))
        gap = seen[-1]
        assert gap["symbols"] == ["005930", "000660"] and gap["start"] < gap["end"]
        assert json.loads(lines.get(timeout=30))["type"] == "quote"  # then the current quotes again
        client.send_signal(signal.SIGINT)
        assert client.wait(timeout=30) == 130
        assert "Traceback" not in client.stderr.read()
    finally:
        client.kill()
        stop(server)


def test_unresolved_orders_and_order_lookups(capsys, simulator):
    # An order whose answer was lost while its lookups failed: the journal keeps it open.
    retry = RetryPolicy(initial_backoff_s=0.02, max_backoff_s=0.05, budget_s=0.3)
    gateway = GrpcBrokerGateway(BrokerConfig.from_target(simulator.target, rate_limit=RateLimit(1000), retry=retry))
    gateway.connect()
    simulator.faults.set(FaultPlan(drop_after_commit=1.0, methods=frozenset({"PlaceOrder"})),
                         FaultPlan(error_rates={"UNAVAILABLE": 1.0}, methods=frozenset({"GetOrder"})))
    with pytest.raises(OrderStatusUnknown):
        gateway.place_order(limit_order(ACCOUNT, "229200", Side.BUY, 1, simulator.market.quote("229200").lower_limit, client_order_id="cli-open"))
    gateway.close()
    target = ("--target", simulator.target)
    code, out, _ = run(capsys, *target, "orders", "--unresolved")  # the broker still cannot be asked
    assert code == 0 and "cli-open" in out and "unknown" in out
    simulator.faults.clear()
    code, out, _ = run(capsys, *target, "--json", "orders", "--unresolved")  # now it can: settled
    assert code == 0 and json.loads(out)["items"] == []
    code, out, _ = run(capsys, *target, "--json", "order", "--client-order-id", "cli-open")
    order = json.loads(out)
    assert code == 0 and order["client_order_id"] == "cli-open" and order["status"] == "accepted"
    code, out, _ = run(capsys, *target, "order", order["order_id"])
    assert code == 0 and "cli-open" in out
    code, _, err = run(capsys, *target, "order", "--client-order-id", "never-sent")
    assert code == 1 and err.count("\n") == 1 and "no order with client order id never-sent" in err


def _unknown_fate(simulator) -> None:
    """The simulator takes orders and loses the answers, and every lookup fails."""
    simulator.faults.set(FaultPlan(drop_after_commit=1.0, methods=frozenset({"PlaceOrder"})),
                         FaultPlan(error_rates={"UNAVAILABLE": 1.0}, methods=frozenset({"GetOrder"})))


def test_an_order_whose_outcome_is_unknown_exits_3_and_names_it(capsys, simulator, tmp_path):
    config = tmp_path / "jts-broker.toml"
    config.write_text(f"[cache]\nenabled = false\n[brokers.sim]\nport = {simulator.port}\n"
                      "[brokers.sim.retry]\ninitial_backoff_s = 0.02\nmax_backoff_s = 0.05\nbudget_s = 0.3\n")
    _unknown_fate(simulator)
    price = str(simulator.market.quote("229200").lower_limit)
    code, out, err = run(capsys, "--config", str(config), "buy", "229200", "1", "--price", price, "--account", ACCOUNT, "--client-order-id", "cli-unknown")
    assert code == 3 and out == "" and err.count("\n") == 1
    assert "outcome unknown" in err and "cli-unknown" in err and "get_order_by_client_id" in err


def test_ctrl_c_during_an_order_names_the_order_it_may_have_placed(simulator):
    _unknown_fate(simulator)
    price = str(simulator.market.quote("229200").lower_limit)
    buyer = cli("--target", simulator.target, "buy", "229200", "1", "--price", price, "--account", ACCOUNT)  # an id the user never saw
    try:
        wait_until(lambda: simulator.faults.injected_errors >= 1, what="the order in recovery")  # answer lost, a lookup failed
        buyer.send_signal(signal.SIGINT)
        _, err = buyer.communicate(timeout=30)
    finally:
        buyer.kill()
    [order] = simulator.broker.orders(ACCOUNT)
    assert buyer.returncode == 130 and "Traceback" not in err
    assert f"interrupted: order {order.client_order_id} may have been placed" in err  # the one id the user needs
