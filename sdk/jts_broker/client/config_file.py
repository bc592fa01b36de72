"""``jts-broker.toml``: brokers, accounts, security, rate limits and the offline cache.

Found by :func:`find_config` in this order: an explicit path (``--config``), the
``JTS_BROKER_CONFIG`` variable, ``./jts-broker.toml``, then ``jts-broker.toml`` in the user's
config folder (``platformdirs``; ``~/.config/jts-broker/`` on Linux). A commented example is
:data:`EXAMPLE` (``jts-broker config init`` writes it).

Environment variables override a broker's address and secrets, so a file can be shared without
them: ``JTS_BROKER_<NAME>_HOST``, ``JTS_BROKER_<NAME>_PORT`` and ``JTS_BROKER_<NAME>_TOKEN``, where
``<NAME>`` is the broker's name upper-cased with every other character as ``_`` (``kis-main`` ->
``JTS_BROKER_KIS_MAIN_TOKEN``).

Errors are ``ConfigurationError`` naming the file, the key and, where it can be found, the line.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import platformdirs

from jts_broker.domain.config import DEFAULT_JOURNAL, AccountConfig, BrokerConfig, TlsConfig
from jts_broker.domain.enums import AccountType, BrokerType
from jts_broker.domain.errors import ConfigurationError, JtsBrokerError
from jts_broker.domain.policies import RateBudget, RateLimitPolicy, ReconnectPolicy, RetryPolicy, Timeouts
from jts_broker.journal import OrderJournal
from jts_broker.kis.config import KisConfig

FILE_NAME = "jts-broker.toml"
CONFIG_ENV = "JTS_BROKER_CONFIG"

EXAMPLE = '''\
# jts-broker configuration: brokers, accounts, security, rate limits and the offline cache.
# Search order: --config, $JTS_BROKER_CONFIG, ./jts-broker.toml, the user config folder.
# Secrets belong in the environment: JTS_BROKER_<NAME>_TOKEN (also _HOST and _PORT), where <NAME>
# is the broker's name upper-cased with - as _ (kis-main -> JTS_BROKER_KIS_MAIN_TOKEN).

# Offline mode: while a server is unreachable, reads are served from this cache (marked CACHE).
[cache]
enabled = true
# path = "~/.cache/jts-broker/offline.sqlite"   # default: the user cache folder

[brokers.sim]
type = "kis"                    # kis | creon | kiwoom | mock
host = "127.0.0.1"              # `jts-broker serve` listens here by default
port = 50551

# The local simulator limits nothing; the spec's KIS budget (20/s) keeps its calls as a real
# account would see them. Without this, a KIS paper account gets KIS's published paper budget:
# 1 call/s. `jts-broker status` and `jts-broker limits` show the budget in force.
[brokers.sim.rate_limits]
preset = "spec"

[[brokers.sim.accounts]]
id = "50000001-01"
name = "paper"
type = "paper"                  # real | paper

# Every order is written to the order journal before it is sent; connect() settles what a
# crashed run left open (`jts-broker orders --unresolved` lists it).
# order_journal = "default"     # default (the user data folder) | a file path | none

# [brokers.sim.timeouts]        # seconds
# connect_s = 5.0
# read_s = 10.0
# order_s = 10.0

# [brokers.sim.retry]           # reads retried, and a broken order's fate looked up, within budget_s
# max_attempts = 4
# initial_backoff_s = 0.1
# max_backoff_s = 2.0
# budget_s = 15.0

# [brokers.sim.reconnect]       # health checks and automatic reconnection
# initial_backoff_s = 0.1
# max_backoff_s = 2.0
# health_interval_s = 5.0       # longest without word from the server (health stream renewed this often)

# [brokers.sim.tls]             # TLS to the gateway (PEM files)
# ca = "~/certs/ca.pem"         # omit for the system's roots
# cert = "~/certs/client.pem"   # client certificate, for mutual TLS
# key = "~/certs/client.key"
# server_name = "gateway.internal"

# A KIS account on KIS's Open API directly (no gateway server; `jts-broker serve --backend kis`
# serves it to gRPC clients). Secrets from $JTS_KIS_APP_KEY and $JTS_KIS_APP_SECRET.
# [brokers.kis-paper]
# type = "kis"
# backend = "rest"              # grpc (default) | rest
# env = "paper"                 # paper | real
# account = "50123456-01"       # CANO-ACNT_PRDT_CD
# base_url = "http://127.0.0.1:8443"   # `jts-broker kis-emulator`; default the env's KIS domain

# [brokers.real.rate_limits]    # default: the broker's published windows (KIS 18/s; paper accounts 1/s)
# preset = "published"          # published | spec (KIS 20/s, Creon 15/s, Kiwoom 5/s)
# query = [[18, 1.0]]           # windows [limit, interval_s]
# order = "shared"              # or its own windows
# weights = { GetCandles = 2 }  # tokens per RPC (default 1)
# max_wait_s = 5.0              # then RateLimitExceeded with retry_after_s
# margin_s = 0.03               # each window enforced this much longer (>= 1%): transit-time slack
# backend = "memory"            # memory | sqlite:///PATH | redis://HOST:PORT/DB
# key = "kis-app-key-1"         # connections with the same backend and key share one budget

[brokers.offline-dev]
type = "mock"                   # in memory, no server: seeded prices on the KRX tick grid
'''

_TOP_KEYS = {"brokers", "cache"}
_BROKER_KEYS = {"type", "host", "port", "token", "accounts", "rate_limits", "timeouts", "retry", "reconnect", "tls", "order_journal", "backend"}
_REST_KEYS = {"type", "backend", "env", "account", "accounts", "app_key", "app_secret", "base_url", "token_cache", "rate_limits", "timeouts",
              "retry", "order_journal"}
KIS_KEY_ENV, KIS_SECRET_ENV = "JTS_KIS_APP_KEY", "JTS_KIS_APP_SECRET"
_RATE_KEYS = {"preset", "query", "order", "weights", "max_wait_s", "margin_s", "backend", "key"}
_TLS_KEYS = {"ca": "root_certificates", "cert": "client_certificate", "key": "client_key", "server_name": "server_name"}
_CACHE_KEYS = {"enabled", "path"}


def default_cache_path() -> Path:
    """Where the offline cache lives unless configured: ``offline.sqlite`` in the user cache folder."""
    return platformdirs.user_cache_path("jts-broker") / "offline.sqlite"


def default_journal_path() -> Path:
    """Where the order journal lives unless configured: ``order-journal.sqlite`` in the user data
    folder (not the cache folder: it must not be cleared as a cache would be)."""
    return platformdirs.user_data_path("jts-broker") / "order-journal.sqlite"


def journal_path(config: BrokerConfig) -> Path | None:
    """The order journal file of ``config`` (``order_journal``: "default", a path, or None)."""
    if config.order_journal == DEFAULT_JOURNAL:
        return default_journal_path()
    return None if config.order_journal is None else Path(config.order_journal)


def open_journal(config: BrokerConfig) -> OrderJournal | None:
    """The order journal of ``config``'s connection, or None when it is turned off.

    Raises:
        ConfigurationError: the file is not usable (code ``JOURNAL_UNUSABLE``).
    """
    path = journal_path(config)
    if path is None:
        return None
    # Keyed by the brokerage, not the gateway's address (see jts_broker.journal). A sender that
    # cannot be checked is trusted while its call could still be running.
    return OrderJournal(path, config.broker_type.value, stale_after_s=config.timeouts.order_s + config.retry.budget_s + 60)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a config file says.

    Attributes:
        brokers: broker configs by name, in file order.
        rest: see below.
        cache_path: the offline cache file; None when the cache is disabled.
        source: the file read (or ``"<config>"`` for text).
    """

    brokers: Mapping[str, BrokerConfig]
    cache_path: Path | None
    source: str = "<config>"
    rest: Mapping[str, KisConfig] = dataclasses.field(default_factory=dict)
    """The brokers reached directly on KIS's REST API (``backend = "rest"``), by name; each also
    has its entry in ``brokers`` (what ``KisRestGateway.config`` reports)."""


def env_variable(name: str, field: str) -> str:
    """The variable that overrides ``field`` of broker ``name``: ``kis-main``, ``TOKEN`` ->
    ``JTS_BROKER_KIS_MAIN_TOKEN``."""
    return f"JTS_BROKER_{re.sub(r'[^A-Za-z0-9]', '_', name).upper()}_{field}"


class _Reader:
    """Turns one parsed file into settings; every error names the file, the key and its line."""

    def __init__(self, text: str, source: str, environ: Mapping[str, str]) -> None:
        self.text, self.source, self.environ = text, source, environ

    def fail(self, key: str, message: str) -> ConfigurationError:
        line = _line_of(self.text, key)
        where = f"{self.source}:{line}" if line else self.source
        return ConfigurationError(f"{where}: {key}: {message}", code="INVALID_CONFIG")

    def table(self, key: str, value: Any, known: set[str] | Mapping[str, str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, "expected a table")
        unknown = set(value) - set(known)
        if unknown:
            raise self.fail(f"{key}.{sorted(unknown)[0]}", f"unknown key (known: {', '.join(sorted(known))})")
        return value

    def number(self, key: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, f"expected a number, got {value!r}")
        return float(value)

    def budget(self, key: str, value: Any) -> RateBudget:
        if not isinstance(value, list) or not value or not all(isinstance(w, list) and len(w) == 2 for w in value):
            raise self.fail(key, f"expected windows as [[limit, interval_s], ...], got {value!r}")
        try:
            return RateBudget.of(*((w[0], w[1]) for w in value))
        except (JtsBrokerError, TypeError, ValueError) as exc:
            raise self.fail(key, str(exc)) from None

    def rate_limits(self, prefix: str, value: Any, broker_type: BrokerType, accounts: tuple[AccountConfig, ...]) -> RateLimitPolicy:
        table = self.table(prefix, value, _RATE_KEYS)
        preset = table.get("preset", "published")
        if preset == "published":
            policy = RateLimitPolicy.published(broker_type, accounts[0].account_type if accounts else AccountType.REAL)
        elif preset == "spec":
            policy = RateLimitPolicy.spec(broker_type)
        else:
            raise self.fail(f"{prefix}.preset", f"expected 'published' or 'spec', got {preset!r}")
        changes: dict[str, Any] = {}
        if "query" in table:
            changes["query"] = self.budget(f"{prefix}.query", table["query"])
        if "order" in table:
            changes["order"] = None if table["order"] == "shared" else self.budget(f"{prefix}.order", table["order"])
        for name in ("weights", "max_wait_s", "margin_s", "backend", "key"):
            if name in table:
                changes[name] = table[name]
        try:
            return replace(policy, **changes)
        except (JtsBrokerError, TypeError, ValueError, AttributeError) as exc:
            raise self.fail(prefix, str(exc)) from None

    def accounts(self, prefix: str, value: Any) -> tuple[AccountConfig, ...]:
        if not isinstance(value, list):
            raise self.fail(prefix, "expected [[...accounts]] entries")
        out = []
        for i, entry in enumerate(value):
            key = f"{prefix}[{i}]"
            entry = self.table(key, entry, {"id", "name", "type"})
            if not isinstance(entry.get("id"), str) or not entry["id"]:
                raise self.fail(f"{key}.id", "every account needs an id")
            try:
                out.append(AccountConfig(entry["id"], str(entry.get("name", "")), AccountType(entry.get("type", "paper"))))
            except ValueError:
                raise self.fail(f"{key}.type", f"expected real or paper, got {entry.get('type')!r}") from None
        return tuple(out)

    def dataclass_table(self, key: str, value: Any, cls: type, renames: Mapping[str, str] | None = None) -> Any:
        known = renames or {f.name: f.name for f in dataclasses.fields(cls)}
        table = self.table(key, value, known)
        try:
            return cls(**{known[k]: v for k, v in table.items()})
        except (JtsBrokerError, TypeError, ValueError) as exc:
            raise self.fail(key, getattr(exc, "message", str(exc))) from None

    def env(self, name: str, field: str) -> str | None:
        return self.environ.get(env_variable(name, field))

    def call_policies(self, prefix: str, table: Mapping[str, Any]) -> dict[str, Any]:
        """The ``timeouts`` and ``retry`` tables of a broker, where given."""
        out: dict[str, Any] = {}
        if "timeouts" in table:
            out["timeouts"] = self.dataclass_table(f"{prefix}.timeouts", table["timeouts"], Timeouts)
        if "retry" in table:
            out["retry"] = self.dataclass_table(f"{prefix}.retry", table["retry"], RetryPolicy)
        return out

    def order_journal(self, prefix: str, table: Mapping[str, Any]) -> str:
        """A broker's ``order_journal``: "default", "none" or a file path."""
        journal = table.get("order_journal", DEFAULT_JOURNAL)
        if not isinstance(journal, str) or not journal.strip():
            raise self.fail(f"{prefix}.order_journal", f'expected "default", "none" or a file path, got {journal!r}')
        return journal

    def rest(self, name: str, value: Any) -> KisConfig:
        """A ``backend = "rest"`` broker: KIS's Open API directly (``KisRestGateway``)."""
        prefix = f"brokers.{name}"
        table = self.table(prefix, value, _REST_KEYS)
        if table.get("type", "kis") != "kis":
            raise self.fail(f"{prefix}.backend", f'backend "rest" is the KIS Open API: type must be "kis", got {table.get("type")!r}')
        accounts = self.accounts(f"{prefix}.accounts", table.get("accounts", []))
        account = table.get("account") or (accounts[0].account_id if accounts else None)
        if not isinstance(account, str):
            raise self.fail(f"{prefix}.account", "a KIS broker needs its account: account = \"CANO-ACNT_PRDT_CD\" (e.g. \"50123456-01\")")
        key = self.env(name, "APP_KEY") or self.environ.get(KIS_KEY_ENV) or table.get("app_key")
        secret = self.env(name, "APP_SECRET") or self.environ.get(KIS_SECRET_ENV) or table.get("app_secret")
        for field_name, found, variable in (("app_key", key, KIS_KEY_ENV), ("app_secret", secret, KIS_SECRET_ENV)):
            if not isinstance(found, str) or not found:
                raise self.fail(f"{prefix}.{field_name}", f"missing: set ${variable} (or {field_name} here, in a file only you can read)")
        kwargs: dict[str, Any] = {"env": table.get("env", "paper"), "account_name": accounts[0].account_name if accounts else ""}
        for field_name in ("base_url", "token_cache"):
            if field_name in table:
                raw = table[field_name]
                if not isinstance(raw, str) or not raw:
                    raise self.fail(f"{prefix}.{field_name}", f"expected a string, got {raw!r}")
                kwargs[field_name] = Path(raw).expanduser() if field_name == "token_cache" else raw
        if "rate_limits" in table:
            kind = AccountType.PAPER if table.get("env", "paper") == "paper" else AccountType.REAL
            kwargs["rate_limit"] = self.rate_limits(f"{prefix}.rate_limits", table["rate_limits"], BrokerType.KIS,
                                                    (AccountConfig(account, "", kind),))
        kwargs.update(self.call_policies(prefix, table))
        kwargs["order_journal"] = self.order_journal(prefix, table)
        try:
            config = KisConfig(str(key), str(secret), account, **kwargs)
            if "rate_limits" in table and "backend" not in table["rate_limits"]:
                # As without a table: one budget per app key for every process of the machine.
                config = replace(config, rate_limit=replace(config.rate_limit_policy, backend=config.default_budget_backend))
            return config
        except ConfigurationError as exc:
            raise self.fail(prefix, exc.message) from None

    def broker(self, name: str, value: Any, cache_path: Path | None) -> BrokerConfig:
        prefix = f"brokers.{name}"
        table = self.table(prefix, value, _BROKER_KEYS)
        if table.get("backend", "grpc") != "grpc":
            raise self.fail(f"{prefix}.backend", f'expected "grpc" (through a gateway server) or "rest" (KIS directly), got {table.get("backend")!r}')
        try:
            broker_type = BrokerType(table.get("type", "kis"))
        except ValueError:
            raise self.fail(f"{prefix}.type", f"expected one of {', '.join(b.value for b in BrokerType)}, got {table.get('type')!r}") from None
        accounts = self.accounts(f"{prefix}.accounts", table.get("accounts", []))
        kwargs: dict[str, Any] = {"broker_type": broker_type, "accounts": accounts}
        if "rate_limits" in table:
            kwargs["rate_limit"] = self.rate_limits(f"{prefix}.rate_limits", table["rate_limits"], broker_type, accounts)
        kwargs.update(self.call_policies(prefix, table))
        if "reconnect" in table:
            kwargs["reconnect"] = self.dataclass_table(f"{prefix}.reconnect", table["reconnect"], ReconnectPolicy)
        if "tls" in table:
            kwargs["tls"] = self.dataclass_table(f"{prefix}.tls", table["tls"], TlsConfig, _TLS_KEYS)
        host = self.env(name, "HOST") or table.get("host", "127.0.0.1")
        if not isinstance(host, str) or not host:
            raise self.fail(f"{prefix}.host", f"expected a host name or address, got {host!r}")
        from_env = self.env(name, "PORT")
        port: Any = from_env or table.get("port", 50551)
        if isinstance(port, str):
            if not port.isdigit():
                raise self.fail(f"{prefix}.port", f"{env_variable(name, 'PORT')} must be a number, got {port!r}"
                                if from_env else f"expected a port number 1-65535, got {port!r}")
            port = int(port)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise self.fail(f"{prefix}.port", f"expected a port number 1-65535, got {port!r}")
        token = self.env(name, "TOKEN") or table.get("token")
        if token is not None and not isinstance(token, str):
            raise self.fail(f"{prefix}.token", "expected a string")
        kwargs["order_journal"] = self.order_journal(prefix, table)
        try:
            return BrokerConfig(grpc_host=str(host), grpc_port=port, token=token, offline_cache=cache_path, **kwargs)
        except ConfigurationError as exc:
            raise self.fail(prefix, exc.message) from None

    def settings(self) -> Settings:
        try:
            data = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"{self.source}: {exc}", code="INVALID_CONFIG") from None
        unknown = set(data) - _TOP_KEYS
        if unknown:
            raise self.fail(sorted(unknown)[0], f"unknown table (known: {', '.join(sorted(_TOP_KEYS))})")
        brokers = data.get("brokers")
        if not isinstance(brokers, dict) or not brokers:
            raise self.fail("brokers", "define at least one [brokers.NAME] table")
        cache = self.table("cache", data.get("cache", {}), _CACHE_KEYS)
        cache_path: Path | None = None
        if cache.get("enabled", True) is not False:
            raw = cache.get("path")
            if raw is not None and (not isinstance(raw, str) or not raw):
                raise self.fail("cache.path", "expected a file path")
            cache_path = Path(raw).expanduser() if raw else default_cache_path()
        rest = {name: self.rest(name, table) for name, table in brokers.items() if isinstance(table, dict) and table.get("backend") == "rest"}
        configs = {name: rest[name].broker_config() if name in rest else self.broker(name, table, cache_path) for name, table in brokers.items()}
        return Settings(configs, cache_path, self.source, rest)


def _line_of(text: str, key: str) -> int | None:
    """The line (1-based) where a dotted key such as ``brokers.a.accounts[1].type`` is set, else
    the line of the nearest table that holds it; None when neither is in the text."""
    parts = tuple(re.sub(r"\[(\d+)\]", r".#\1", key).split("."))
    table: tuple[str, ...] = ()
    headers: dict[tuple[str, ...], int] = {}
    arrays: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        header = re.fullmatch(r"\[\[\s*([^\]]+?)\s*\]\]|\[\s*([^\]]+?)\s*\]", line)
        if header:
            name = header.group(1) or header.group(2)
            table = tuple(name.split("."))
            if header.group(1):  # an array of tables: the n-th header is entry #n
                arrays[name] = arrays.get(name, -1) + 1
                table = (*table, f"#{arrays[name]}")
            headers.setdefault(table, number)
            continue
        assignment = re.match(r"([A-Za-z0-9_\-]+)\s*=", line)
        if assignment and (*table, assignment.group(1)) == parts:
            return number
    return next((headers[parts[:n]] for n in range(len(parts), 0, -1) if parts[:n] in headers), None)


def parse_settings(text: str, source: str = "<config>", environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from TOML text; ``environ`` (default ``os.environ``) supplies the overrides.

    Raises:
        ConfigurationError: TOML syntax (with the line), an unknown or invalid key (named).
    """
    return _Reader(text, source, os.environ if environ is None else environ).settings()


def parse_config(text: str, source: str = "<config>", environ: Mapping[str, str] | None = None) -> dict[str, BrokerConfig]:
    """Brokers by name, in file order (see :func:`parse_settings`)."""
    return dict(parse_settings(text, source, environ).brokers)


def candidate_paths(explicit: Path | None = None, environ: Mapping[str, str] | None = None) -> list[Path]:
    """Where a config file is looked for, in order (see the module docstring)."""
    environ = os.environ if environ is None else environ
    if explicit is not None:
        return [Path(explicit).expanduser()]
    paths = [Path(environ[CONFIG_ENV]).expanduser()] if environ.get(CONFIG_ENV) else []
    return [*paths, Path.cwd() / FILE_NAME, platformdirs.user_config_path("jts-broker") / FILE_NAME]


def find_config(explicit: Path | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """The config file to use.

    Raises:
        ConfigurationError: "Broker configuration not found", naming every path searched
            (code ``CONFIG_NOT_FOUND``).
    """
    paths = candidate_paths(explicit, environ)
    for path in paths:
        if path.is_file():
            return path
    raise ConfigurationError(f"Broker configuration not found (searched: {', '.join(map(str, paths))}); "
                             f"create one with `jts-broker config init`", code="CONFIG_NOT_FOUND")


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """:func:`parse_settings` of the file :func:`find_config` finds."""
    found = find_config(path, environ)
    try:
        text = found.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read config {found}: {getattr(exc, 'strerror', None) or exc}", code="CONFIG_NOT_FOUND") from None
    return parse_settings(text, str(found), environ)


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> dict[str, BrokerConfig]:
    """Brokers by name from the file at ``path``.

    Raises:
        ConfigurationError: the file cannot be read or is invalid.
    """
    if not Path(path).is_file():
        raise ConfigurationError(f"cannot read config {path}: no such file", code="CONFIG_NOT_FOUND")
    return dict(load_settings(path, environ).brokers)


def write_example(path: Path, *, force: bool = False) -> Path:
    """Write :data:`EXAMPLE` to ``path`` (its folder created). An existing file is never
    overwritten unless ``force``: it may hold the user's only copy of their settings.

    Raises:
        ConfigurationError: the file exists (and not ``force``), or cannot be written.
    """
    path = Path(path).expanduser()
    if path.exists() and not force:
        raise ConfigurationError(f"{path} already exists; not overwriting it (use --force to replace it)", code="CONFIG_EXISTS")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(EXAMPLE, encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot write {path}: {exc.strerror}", code="CONFIG_WRITE") from None
    return path
