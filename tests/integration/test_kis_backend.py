"""One gateway server for every backend: GrpcBrokerGateway -> `jts-broker serve --backend kis` ->
KisRestGateway -> `jts-broker kis-emulator`, all real processes over loopback; and the CLI on a
KIS broker of the config file, directly (backend = "rest")."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from jts_broker import BrokerConfig, GrpcBrokerGateway, OrderStatus, RateLimit, Side, Timeframe, limit_order
from jts_broker.client.config_file import parse_settings
from jts_broker.domain.errors import ConfigurationError, InvalidRequest
from jts_broker.kis.config import KisEnv
from tests.processes import cli, free_port, stop

pytestmark = pytest.mark.integration
ACCOUNT = "50000001-01"
APP_KEY, APP_SECRET = "PSbackend-test-app-key-0042", "backend-test-app-secret-0042"


def wait_for_banner(proc: subprocess.Popen[str], what: str) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if what not in line:
        proc.kill()
        raise AssertionError(f"{what} did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return line


@pytest.fixture
def kis_stack(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[str]]]:
    """A KIS emulator process, a config naming it as a REST broker, and a gateway server process
    serving that broker: (the server's target, the config, the server process)."""
    emulator_port, server_port = free_port(), free_port()
    emulator = cli("kis-emulator", "--port", str(emulator_port), "--paused", "--rate", "200")
    server = None
    try:
        wait_for_banner(emulator, f"127.0.0.1:{emulator_port}")
        config = tmp_path / "jts-broker.toml"
        config.write_text(f'[cache]\nenabled = false\n[brokers.kis-paper]\ntype = "kis"\nbackend = "rest"\nenv = "paper"\n'
                          f'account = "{ACCOUNT}"\nbase_url = "http://127.0.0.1:{emulator_port}"\ntoken_cache = "{tmp_path / "tokens"}"\n'
                          f'order_journal = "{tmp_path / "server-journal.sqlite"}"\n'
                          f'[brokers.kis-paper.rate_limits]\nquery = [[100, 1.0]]\n', encoding="utf-8")
        env = {"JTS_KIS_APP_KEY": APP_KEY, "JTS_KIS_APP_SECRET": APP_SECRET}
        server = cli("serve", "--backend", "kis", "--config", str(config), "--port", str(server_port), env=env)
        banner = wait_for_banner(server, f"127.0.0.1:{server_port}")
        assert APP_KEY not in banner and APP_SECRET not in banner
        yield f"127.0.0.1:{server_port}", config, server
    finally:
        if server is not None:
            stop(server)
        stop(emulator)


def test_grpc_clients_reach_kis_through_the_gateway_server(kis_stack: tuple[str, Path, subprocess.Popen[str]], tmp_path: Path) -> None:
    target, _, _ = kis_stack
    config = BrokerConfig.from_target(target, rate_limit=RateLimit(100), order_journal=str(tmp_path / "client-journal.sqlite"))
    with GrpcBrokerGateway(config) as gateway:
        (account,) = gateway.get_accounts()
        assert account.account_id == ACCOUNT
        quote = gateway.get_quote("005930")
        assert quote.price > 0 and quote.ask > quote.bid
        candles = gateway.get_candles("005930", Timeframe.DAY, date(2025, 6, 2),
                                      date(2025, 6, 13))
        assert len(candles) == 8 and candles[0].close > 0  # 3 June (election) and 6 June (Memorial Day) were holidays
        assert gateway.get_balance().cash == Decimal(100_000_000)
        resting = gateway.place_order(limit_order(ACCOUNT, "005930", Side.BUY, 2, quote.lower_limit, client_order_id="e2e-resting"))
        assert resting.status is OrderStatus.ACCEPTED
        assert gateway.get_order_by_client_id("e2e-resting").order_id == resting.order_id
        filled = gateway.place_order(limit_order(ACCOUNT, "005930", Side.BUY, 1, quote.ask, client_order_id="e2e-filled"))
        assert gateway.get_order_status(filled.order_id).status is OrderStatus.FILLED
        assert gateway.cancel_order(resting.order_id).status is OrderStatus.CANCELLED
        assert [(p.symbol, p.quantity) for p in gateway.get_positions()] == [("005930", 1)]
        assert [o.client_order_id for o in gateway.list_orders()] == ["e2e-resting", "e2e-filled"]
        again = gateway.place_order(limit_order(ACCOUNT, "005930", Side.BUY, 2, quote.lower_limit, client_order_id="e2e-resting"))
        assert again.duplicate and again.order_id == resting.order_id
        with gateway.stream_quotes(["005930"]) as stream:  # the server follows KIS's WebSocket feed
            assert next(stream).symbol == "005930"
        with pytest.raises(InvalidRequest):  # KIS's paper domain has no past days' 1-minute candles
            gateway.get_candles("005930", Timeframe.MINUTE_1, date(2025, 6, 13), date(2025, 6, 13))
    gateway.close()


def test_cli_commands_through_the_kis_gateway_server(kis_stack: tuple[str, Path, subprocess.Popen[str]]) -> None:
    target, config, _ = kis_stack

    def run(*argv: str) -> tuple[int, str, str]:
        proc = cli("--target", target, *argv)
        out, err = proc.communicate(timeout=60)
        return proc.returncode, out, err

    code, out, err = run("--json", "quote", "005930")
    assert code == 0, err
    quote = json.loads(out)
    code, out, err = run("--json", "buy", "005930", "1", "--price", quote["lower_limit"], "--client-order-id", "cli-1")
    assert code == 0, err
    order_id = json.loads(out)["order"]["order_id"]
    code, out, err = run("--json", "orders")
    assert code == 0 and [o["client_order_id"] for o in json.loads(out)["items"]] == ["cli-1"], err
    code, out, err = run("--json", "cancel", order_id)
    assert code == 0 and json.loads(out)["status"] == "cancelled", err
    code, out, err = run("balance")
    assert code == 0 and "100,000,000" in out, err
    # status of the config's KIS broker itself (direct REST), with its secrets in the environment
    proc = cli("status", "--config", str(config), env={"JTS_KIS_APP_KEY": APP_KEY, "JTS_KIS_APP_SECRET": APP_SECRET})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "kis-paper" in out, err
    for secret in (APP_KEY, APP_SECRET):
        assert secret not in out + err


def test_the_cli_talks_to_kis_directly_for_a_rest_broker(kis_stack: tuple[str, Path, subprocess.Popen[str]], tmp_path: Path) -> None:
    _, config, _ = kis_stack
    env = {"JTS_KIS_APP_KEY": APP_KEY, "JTS_KIS_APP_SECRET": APP_SECRET}
    proc = cli("--config", str(config), "--json", "quote", "005930", env=env)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and json.loads(out)["symbol"] == "005930", err
    assert APP_KEY not in out + err and APP_SECRET not in out + err


def test_a_rest_broker_in_the_config_file() -> None:
    text = ('[brokers.kis-real]\ntype = "kis"\nbackend = "rest"\nenv = "real"\naccount = "50123456-01"\n'
            '[brokers.kis-real.rate_limits]\npreset = "published"\n[brokers.sim]\nport = 50551\n')
    settings = parse_settings(text, environ={"JTS_KIS_APP_KEY": APP_KEY, "JTS_KIS_APP_SECRET": APP_SECRET})
    rest = settings.rest["kis-real"]
    assert (rest.kis_env, rest.account, rest.url) == (KisEnv.REAL, "50123456-01", "https://openapi.koreainvestment.com:9443")
    assert str(rest.rate_limit_policy.query) == "18/s" and rest.rate_limit_policy.key.startswith("kis-") and APP_KEY not in rest.rate_limit_policy.key
    assert settings.brokers["kis-real"].accounts[0].account_id == "50123456-01" and "sim" not in settings.rest
    assert APP_KEY not in repr(settings) and APP_SECRET not in repr(settings)
    with pytest.raises(ConfigurationError, match=r"brokers\.kis-real\.app_key: missing: set \$JTS_KIS_APP_KEY"):
        parse_settings(text, environ={})
    with pytest.raises(ConfigurationError, match="unknown key"):
        parse_settings(text.replace('env = "real"', 'env = "real"\nhost = "x"'), environ={"JTS_KIS_APP_KEY": "k", "JTS_KIS_APP_SECRET": "s"})
    with pytest.raises(ConfigurationError, match="CANO-ACNT_PRDT_CD"):
        parse_settings(text.replace("50123456-01", "5012345601"), environ={"JTS_KIS_APP_KEY": "k", "JTS_KIS_APP_SECRET": "s"})


def test_secrets_reach_no_log_cache_journal_or_output(kis_stack: tuple[str, Path, subprocess.Popen[str]], tmp_path: Path) -> None:
    target, config, server = kis_stack
    cache, journal = tmp_path / "offline.sqlite", tmp_path / "client-journal.sqlite"
    client = BrokerConfig.from_target(target, rate_limit=RateLimit(100), offline_cache=cache, order_journal=str(journal))
    with GrpcBrokerGateway(client) as gateway:
        quote = gateway.get_quote("005930")
        gateway.get_balance()
        gateway.get_positions()
        gateway.get_candles("005930", Timeframe.DAY, date(2025, 6, 2), date(2025, 6, 13))
        gateway.place_order(limit_order(ACCOUNT, "005930", Side.BUY, 1, quote.lower_limit, client_order_id="secret-check"))
    gateway.close()
    (token_file,) = (tmp_path / "tokens").glob("*.json")
    token = json.loads(token_file.read_text())["access_token"]
    server.terminate()
    _, server_log = server.communicate(timeout=30)

    def files(path: Path) -> bytes:  # the database and its WAL
        return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))

    artifacts = {"offline cache": files(cache), "client journal": files(journal), "server journal": files(tmp_path / "server-journal.sqlite"),
                 "server log": server_log.encode(), "config": config.read_bytes()}
    assert len(artifacts["offline cache"]) > 0 and b"005930" in artifacts["offline cache"]
    for name, content in artifacts.items():
        for secret in (APP_KEY, APP_SECRET, token):
            assert secret.encode() not in content, f"a secret in the {name}"


def test_serve_refuses_a_kis_broker_without_its_order_journal(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from jts_broker.cli.main import main

    config = tmp_path / "jts-broker.toml"
    config.write_text('[brokers.k]\ntype = "kis"\nbackend = "rest"\naccount = "50000001-01"\norder_journal = "none"\n', encoding="utf-8")
    monkeypatch.setenv("JTS_KIS_APP_KEY", APP_KEY)
    monkeypatch.setenv("JTS_KIS_APP_SECRET", APP_SECRET)
    assert main(["serve", "--backend", "kis", "--config", str(config), "--port", "0"]) == 1
    assert "needs its order journal" in capsys.readouterr().err
