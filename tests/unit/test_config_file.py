"""jts-broker.toml: brokers, accounts and every rate-limit figure; errors name the key."""

from __future__ import annotations

import pytest

from jts_broker import AccountType, BrokerType, ConfigurationError, RateBudget
from jts_broker.client.config_file import load_config, parse_config

FULL = """
[brokers.creon]
type = "creon"
host = "10.0.0.5"
port = 50600

[brokers.creon.rate_limits]
query = [[10, 1.0], [40, 15.0]]
order = [[15, 15.0]]
weights = { GetCandles = 2 }
max_wait_s = 3.5
margin_s = 0.1
backend = "sqlite:////tmp/jts-budgets.sqlite"
key = "creon-1"

[[brokers.creon.accounts]]
id = "1234-5678"
name = "main"
type = "real"

[brokers.kis-paper]
type = "kis"

[[brokers.kis-paper.accounts]]
id = "50000001-01"
"""


def test_every_figure_is_read():
    configs = parse_config(FULL)
    creon = configs["creon"]
    assert (creon.broker_type, creon.target) == (BrokerType.CREON, "10.0.0.5:50600")
    policy = creon.rate_limit_policy
    assert policy.query == RateBudget.of((10, 1.0), (40, 15.0)) and policy.order == RateBudget.of((15, 15.0))
    assert dict(policy.weights) == {"GetCandles": 2} and policy.max_wait_s == 3.5 and policy.margin_s == 0.1
    assert (policy.backend, policy.key) == ("sqlite:////tmp/jts-budgets.sqlite", "creon-1")
    assert creon.accounts[0].account_type is AccountType.REAL
    # no [rate_limits]: the broker's published windows for the account type (KIS paper: 1/s)
    assert configs["kis-paper"].rate_limit_policy.query == RateBudget.of((1, 1.0))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[brokers.a]\ntype = 'kis'\nport = 'x'\n", "brokers.a"),
        ("[brokers.a]\ntype = 'nasdaq'\n", "brokers.a.type"),
        ("[brokers.a]\nhots = 'x'\n", "brokers.a.hots: unknown key"),
        ("[brokers.a.rate_limits]\nquery = [[20, 1.0], [10, 15.0]]\n", "brokers.a.rate_limits.query"),
        ("[brokers.a.rate_limits]\nquery = 20\n", "brokers.a.rate_limits.query"),
        ("[brokers.a.rate_limits]\nweights = { GetCandles = 0 }\n", "brokers.a.rate_limits"),
        ("[brokers.a.rate_limits]\npreset = 'fast'\n", "brokers.a.rate_limits.preset"),
        ("[brokers.a.rate_limits]\nmargin_s = 2\n", "brokers.a.rate_limits: margin_s must be 0 to 1 second"),
        ("[[brokers.a.accounts]]\nid = 'x'\ntype = 'demo'\n", "brokers.a.accounts[0].type"),
        ("[brokers.a]\ntype = 'kis'\nport = \n", "line 3"),
        ("", "brokers"),
    ],
)
def test_errors_name_the_key_or_line(text, fragment):
    with pytest.raises(ConfigurationError) as info:
        parse_config(text, "jts-broker.toml")
    assert fragment in str(info.value) and "jts-broker.toml" in str(info.value)


def test_a_missing_file_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="cannot read config"):
        load_config(tmp_path / "none.toml")


def test_security_timeouts_reconnect_and_cache_are_read(tmp_path):
    from pathlib import Path

    from jts_broker.client.config_file import parse_settings

    settings = parse_settings(f"""
[cache]
path = "{tmp_path}/c.sqlite"
[brokers.a]
token = "t0ken"
[brokers.a.tls]
ca = "~/ca.pem"
server_name = "gw.internal"
[brokers.a.timeouts]
connect_s = 1.5
order_s = 4
[brokers.a.reconnect]
max_backoff_s = 0.5
""", environ={})
    config = settings.brokers["a"]
    assert config.token.reveal() == "t0ken" and "t0ken" not in repr(config)
    assert config.tls.root_certificates == Path("~/ca.pem").expanduser() and config.tls.server_name == "gw.internal"
    assert (config.timeouts.connect_s, config.timeouts.read_s, config.timeouts.order_s) == (1.5, 10.0, 4)
    assert config.reconnect.max_backoff_s == 0.5
    assert settings.cache_path == config.offline_cache == tmp_path / "c.sqlite"
    assert parse_settings("[cache]\nenabled = false\n[brokers.a]\n", environ={}).brokers["a"].offline_cache is None


def test_environment_overrides_host_port_and_token():
    text = "[brokers.kis-main]\nhost = 'file-host'\nport = 1\ntoken = 'file-token'\n"
    env = {"JTS_BROKER_KIS_MAIN_HOST": "10.1.2.3", "JTS_BROKER_KIS_MAIN_PORT": "50600", "JTS_BROKER_KIS_MAIN_TOKEN": "env-token"}
    config = parse_config(text, environ=env)["kis-main"]
    assert (config.grpc_host, config.grpc_port, config.token.reveal()) == ("10.1.2.3", 50600, "env-token")
    with pytest.raises(ConfigurationError, match="PORT must be a number"):
        parse_config(text, environ={"JTS_BROKER_KIS_MAIN_PORT": "x"})


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[brokers.a]\ntype = 'kis'\n\n[brokers.a.timeouts]\nconect_s = 1\n", "jts-broker.toml:5: brokers.a.timeouts.conect_s: unknown key"),
        ("[brokers.a]\n[[brokers.a.accounts]]\nid = 'x'\n[[brokers.a.accounts]]\nid = 'y'\ntype = 'demo'\n", "jts-broker.toml:6: brokers.a.accounts[1].type"),
        ("[brokers.a.reconnect]\ninitial_backoff_s = 5\nmax_backoff_s = 1\n", "jts-broker.toml:1: brokers.a.reconnect"),
        ("[brokers.a.tls]\ncert = 'c.pem'\n", "client_certificate and client_key go together"),
        ("[brokers.a]\n[extra]\n", "jts-broker.toml:2: extra: unknown table"),
    ],
)
def test_errors_name_the_line_of_the_key(text, fragment):
    with pytest.raises(ConfigurationError) as info:
        parse_config(text, "jts-broker.toml", environ={})
    assert fragment in str(info.value)


def test_search_order_and_not_found_names_every_path(tmp_path, monkeypatch):
    from jts_broker.client.config_file import candidate_paths, find_config

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    env_file = tmp_path / "from-env.toml"
    paths = candidate_paths(environ={"JTS_BROKER_CONFIG": str(env_file)})
    assert paths[0] == env_file and paths[1] == tmp_path / "jts-broker.toml" and paths[2].parent.name == "jts-broker"
    with pytest.raises(ConfigurationError) as info:
        find_config(environ={"JTS_BROKER_CONFIG": str(env_file)})
    assert "Broker configuration not found" in str(info.value)
    assert all(str(p) in str(info.value) for p in paths)

    user = paths[2]
    user.parent.mkdir(parents=True)
    user.write_text("[brokers.a]\n")
    assert find_config(environ={}) == user
    (tmp_path / "jts-broker.toml").write_text("[brokers.b]\n")
    assert find_config(environ={}) == tmp_path / "jts-broker.toml"
    env_file.write_text("[brokers.c]\n")
    assert find_config(environ={"JTS_BROKER_CONFIG": str(env_file)}) == env_file
    assert find_config(tmp_path / "jts-broker.toml", environ={"JTS_BROKER_CONFIG": str(env_file)}) == tmp_path / "jts-broker.toml"


def test_config_init_writes_a_valid_example_and_never_overwrites(tmp_path, capsys):
    from jts_broker.cli.main import main
    from jts_broker.client.config_file import EXAMPLE, parse_settings

    target = tmp_path / "sub" / "jts-broker.toml"
    assert main(["config", "init", "--path", str(target)]) == 0
    assert target.read_text() == EXAMPLE
    assert set(parse_settings(EXAMPLE, environ={}).brokers) == {"sim", "offline-dev"}
    target.write_text("# my settings\n[brokers.mine]\n")
    assert main(["config", "init", "--path", str(target)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert target.read_text() == "# my settings\n[brokers.mine]\n"
    assert main(["config", "init", "--path", str(target), "--force"]) == 0 and target.read_text() == EXAMPLE


def test_status_without_any_config_names_the_paths_searched(tmp_path, monkeypatch, capsys):
    from jts_broker.cli.main import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JTS_BROKER_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert main(["status"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Broker configuration not found" in err and str(tmp_path / "jts-broker.toml") in err


def test_the_order_journal_is_on_by_default_and_set_per_broker(tmp_path):
    from pathlib import Path

    from jts_broker.client.config_file import default_journal_path, journal_path

    configs = parse_config(f'[brokers.a]\n[brokers.b]\norder_journal = "none"\n[brokers.c]\norder_journal = "{tmp_path / "j.sqlite"}"\n'
                           '[brokers.d]\norder_journal = "~/orders.sqlite"\n')
    assert configs["a"].order_journal == "default" and journal_path(configs["a"]) == default_journal_path()
    assert configs["b"].order_journal is None and journal_path(configs["b"]) is None
    assert journal_path(configs["c"]) == tmp_path / "j.sqlite"
    assert journal_path(configs["d"]) == Path("~/orders.sqlite").expanduser()
    with pytest.raises(ConfigurationError, match=r"<config>:3: brokers.b.order_journal: expected \"default\", \"none\" or a file path"):
        parse_config('[brokers.b]\n\norder_journal = 5\n')
