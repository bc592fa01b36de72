"""jts-broker.toml: brokers, accounts and every rate-limit figure; errors name the key."""

from __future__ import annotations

import pytest

from jts_broker import AccountType, BrokerType, ConfigurationError, RateBudget
from jts_broker.config_file import load_config, parse_config

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
    assert dict(policy.weights) == {"GetCandles": 2} and policy.max_wait_s == 3.5
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
