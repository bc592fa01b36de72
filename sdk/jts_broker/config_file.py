"""``jts-broker.toml``: brokers, accounts and rate limits from a TOML file.

::

    [brokers.kis-main]
    type = "kis"                  # kis | creon | kiwoom | mock
    host = "127.0.0.1"
    port = 50551

    [brokers.kis-main.rate_limits]
    preset = "published"          # published (the brokers' windows, default) | spec (TC-002)
    query = [[18, 1.0]]           # windows as [limit, interval_s]; overrides the preset
    order = "shared"              # or windows; "shared": orders spend the query budget
    weights = { GetCandles = 2 }  # tokens per call by RPC name (default 1)
    max_wait_s = 5.0              # longest wait for a token, then RateLimitExceeded
    backend = "sqlite:///~/.cache/jts-broker/budgets.sqlite"   # memory | sqlite:///PATH | redis://HOST:PORT/DB
    key = "kis-app-key-1"         # connections with the same backend and key share the budget

    [[brokers.kis-main.accounts]]
    id = "50012345-01"
    name = "main"
    type = "real"                 # real | paper

Errors name the file and the key (and, for TOML syntax, the line).
"""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

from .domain.config import AccountConfig, BrokerConfig
from .domain.enums import AccountType, BrokerType
from .domain.errors import ConfigurationError, JtsBrokerError
from .domain.policies import RateBudget, RateLimitPolicy

_BROKER_KEYS = {"type", "host", "port", "rate_limits", "accounts"}
_RATE_KEYS = {"preset", "query", "order", "weights", "max_wait_s", "backend", "key"}


def _fail(source: str, key: str, message: str) -> ConfigurationError:
    return ConfigurationError(f"{source}: {key}: {message}", code="INVALID_CONFIG")


def _budget(source: str, key: str, value: Any) -> RateBudget:
    if not isinstance(value, list) or not value or not all(isinstance(w, list) and len(w) == 2 for w in value):
        raise _fail(source, key, f"expected windows as [[limit, interval_s], ...], got {value!r}")
    try:
        return RateBudget.of(*((w[0], w[1]) for w in value))
    except (JtsBrokerError, TypeError, ValueError) as exc:
        raise _fail(source, key, str(exc)) from None


def _rate_limits(source: str, prefix: str, table: Any, broker_type: BrokerType, accounts: tuple[AccountConfig, ...]) -> RateLimitPolicy:
    if not isinstance(table, dict):
        raise _fail(source, prefix, "expected a table")
    unknown = set(table) - _RATE_KEYS
    if unknown:
        raise _fail(source, f"{prefix}.{sorted(unknown)[0]}", f"unknown key (known: {', '.join(sorted(_RATE_KEYS))})")
    preset = table.get("preset", "published")
    if preset == "published":
        policy = RateLimitPolicy.published(broker_type, accounts[0].account_type if accounts else AccountType.REAL)
    elif preset == "spec":
        policy = RateLimitPolicy.spec(broker_type)
    else:
        raise _fail(source, f"{prefix}.preset", f"expected 'published' or 'spec', got {preset!r}")
    changes: dict[str, Any] = {}
    if "query" in table:
        changes["query"] = _budget(source, f"{prefix}.query", table["query"])
    if "order" in table:
        changes["order"] = None if table["order"] == "shared" else _budget(source, f"{prefix}.order", table["order"])
    for name in ("weights", "max_wait_s", "backend", "key"):
        if name in table:
            changes[name] = table[name]
    try:
        return replace(policy, **changes)
    except (JtsBrokerError, TypeError, ValueError, AttributeError) as exc:
        raise _fail(source, prefix, str(exc)) from None


def _accounts(source: str, prefix: str, value: Any) -> tuple[AccountConfig, ...]:
    if not isinstance(value, list):
        raise _fail(source, prefix, "expected [[...accounts]] entries")
    out = []
    for i, entry in enumerate(value):
        key = f"{prefix}[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise _fail(source, f"{key}.id", "every account needs an id")
        try:
            out.append(AccountConfig(entry["id"], str(entry.get("name", "")), AccountType(entry.get("type", "paper"))))
        except ValueError:
            raise _fail(source, f"{key}.type", f"expected real or paper, got {entry.get('type')!r}") from None
    return tuple(out)


def parse_config(text: str, source: str = "<config>") -> dict[str, BrokerConfig]:
    """Brokers by name, in file order.

    Raises:
        ConfigurationError: TOML syntax (with the line), an unknown or invalid key (named).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{source}: {exc}", code="INVALID_CONFIG") from None
    brokers = data.get("brokers")
    if not isinstance(brokers, dict) or not brokers:
        raise _fail(source, "brokers", "define at least one [brokers.NAME] table")
    out = {}
    for name, table in brokers.items():
        prefix = f"brokers.{name}"
        if not isinstance(table, dict):
            raise _fail(source, prefix, "expected a table")
        unknown = set(table) - _BROKER_KEYS
        if unknown:
            raise _fail(source, f"{prefix}.{sorted(unknown)[0]}", f"unknown key (known: {', '.join(sorted(_BROKER_KEYS))})")
        try:
            broker_type = BrokerType(table.get("type", "kis"))
        except ValueError:
            raise _fail(source, f"{prefix}.type", f"expected one of {', '.join(b.value for b in BrokerType)}, got {table.get('type')!r}") from None
        accounts = _accounts(source, f"{prefix}.accounts", table.get("accounts", []))
        rate_limit = _rate_limits(source, f"{prefix}.rate_limits", table["rate_limits"], broker_type, accounts) if "rate_limits" in table else None
        try:
            out[name] = BrokerConfig(broker_type, str(table.get("host", "127.0.0.1")), table.get("port", 50551), rate_limit, accounts)
        except ConfigurationError as exc:
            raise _fail(source, prefix, exc.message) from None
    return out


def load_config(path: Path) -> dict[str, BrokerConfig]:
    """:func:`parse_config` of a file. Raises ConfigurationError when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read config {path}: {exc.strerror}", code="CONFIG_NOT_FOUND") from None
    return parse_config(text, str(path))
