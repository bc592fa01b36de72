"""``KisConfig``: how to reach one KIS Open API account (app key, account, domain, limits)."""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType

import platformdirs

from jts_broker.domain.config import DEFAULT_JOURNAL, AccountConfig, BrokerConfig, Secret
from jts_broker.domain.enums import AccountType, BrokerType
from jts_broker.domain.errors import ConfigurationError
from jts_broker.domain.policies import RateLimit, RateLimitPolicy, RetryPolicy, Timeouts

from .endpoints import TR_IDS


class KisEnv(StrEnum):
    """Which KIS domain: real trading or paper trading (모의투자)."""

    REAL = "real"
    PAPER = "paper"


DOMAINS = MappingProxyType({
    KisEnv.REAL: "https://openapi.koreainvestment.com:9443",
    KisEnv.PAPER: "https://openapivts.koreainvestment.com:29443",
})
"""KIS's REST domains (fixtures/kis/README.md, KIS's official samples)."""

WS_DOMAINS = MappingProxyType({
    KisEnv.REAL: "ws://ops.koreainvestment.com:21000/tryitout",
    KisEnv.PAPER: "ws://ops.koreainvestment.com:31000/tryitout",
})
"""KIS's real-time (WebSocket) endpoints (KIS's ``kis_devlp.yaml`` and samples)."""

_ACCOUNT = re.compile(r"(\d{8})-(\d{2})")


def _secret(value: Secret | str, name: str) -> Secret:
    secret = value if isinstance(value, Secret) else Secret(str(value or ""))
    if not secret.reveal().strip():
        raise ConfigurationError(f"KIS {name} is empty: set it in jts-broker.toml or ${'JTS_KIS_APP_KEY' if name == 'app_key' else 'JTS_KIS_APP_SECRET'}")
    return secret


@dataclass(frozen=True, slots=True)
class KisConfig:
    """One KIS account through the Open API.

    Attributes:
        app_key, app_secret: the app's credentials from KIS's API portal; a ``str`` is wrapped in
            :class:`~jts_broker.domain.config.Secret`, so neither appears in a ``repr``, a log or an
            error.
        account: ``"CANO-ACNT_PRDT_CD"``, 8 digits, a dash, 2 digits (``"50123456-01"``).
        env: ``"paper"`` (the default: try a strategy there first) or ``"real"``.
        base_url: the REST root, overriding the env's domain (the KIS emulator, tests).
        ws_url: the real-time WebSocket endpoint; default the env's, or with ``base_url`` the
            same host and port as ``ws://`` (``wss://`` for https) with path ``/tryitout``.
        account_name: a label for the account; empty: ``"KIS <env>"``.
        token_cache: folder of the access-token cache; default ``kis-tokens`` in the user cache
            folder. One file per (env, app key), readable by the user only.
        rate_limit: budgets; None: KIS's published per-app-key windows for ``env`` (real 18/s,
            paper 1/s; see ``RateLimitPolicy.published``) in a SQLite file beside the token cache,
            so every process of this machine on the same app key (scripts, the gateway server,
            the CLI) shares one budget, as KIS counts it. A policy of your own keeps its backend
            (``memory`` is this process only; ``redis://...`` spans machines); its key defaults
            to one derived from the app key (never the key).
        timeouts: ``connect_s`` (TCP and TLS connect), ``read_s`` (a read's answer), ``order_s``
            (an order's answer), seconds.
        retry: retries of reads after HTTP 5xx and connection failures (never of orders).
        order_journal: SQLite file binding client order ids to KIS order numbers (KIS has no
            client order id): ``"default"`` (``order-journal.sqlite`` in the user data folder),
            a path, or ``"none"``. Without one, a repeated client order id is not recognised.
        tr_ids: overrides of the transaction ids by endpoint name (see
            :data:`jts_broker.kis.endpoints.TR_IDS`), e.g. the legacy ``{"order_buy": "TTTC0802U"}``.
        max_pages: the most pages one paged read follows (balance, orders) before it stops with
            ``ServerError`` (code ``TOO_MANY_PAGES``) rather than loop.
        settle_s: after an order call broke without an answer, how long KIS may still take to show
            the order in its order list: "not found" counts only after this many seconds.
    """

    app_key: Secret | str
    app_secret: Secret | str
    account: str
    env: KisEnv | str = KisEnv.PAPER
    base_url: str | None = None
    ws_url: str | None = None
    account_name: str = ""
    token_cache: Path | None = None
    rate_limit: RateLimitPolicy | RateLimit | None = None
    timeouts: Timeouts = field(default_factory=lambda: Timeouts(connect_s=5.0, read_s=10.0, order_s=10.0))
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    order_journal: Path | str | None = DEFAULT_JOURNAL
    tr_ids: Mapping[str, str] = field(default_factory=dict)
    max_pages: int = 50
    settle_s: float = 3.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "app_key", _secret(self.app_key, "app_key"))
        object.__setattr__(self, "app_secret", _secret(self.app_secret, "app_secret"))
        try:
            object.__setattr__(self, "env", KisEnv(str(self.env).lower()))
        except ValueError:
            raise ConfigurationError(f'KIS env must be "real" or "paper", got {self.env!r}') from None
        if not isinstance(self.account, str) or not _ACCOUNT.fullmatch(self.account.strip()):
            raise ConfigurationError(f"KIS account must be CANO-ACNT_PRDT_CD (8 digits, '-', 2 digits, e.g. '50123456-01'), got {self.account!r}")
        object.__setattr__(self, "account", self.account.strip())
        if self.base_url is not None:
            if not self.base_url.startswith(("http://", "https://")):
                raise ConfigurationError(f"KIS base_url must start with http:// or https://, got {self.base_url!r}")
            object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        unknown = set(self.tr_ids) - set(TR_IDS)
        if unknown:
            raise ConfigurationError(f"unknown KIS tr_id names {sorted(unknown)}; known: {sorted(TR_IDS)}")
        object.__setattr__(self, "tr_ids", MappingProxyType(dict(self.tr_ids)))
        if isinstance(self.order_journal, str) and self.order_journal != DEFAULT_JOURNAL:
            object.__setattr__(self, "order_journal", None if self.order_journal == "none" else Path(self.order_journal).expanduser())
        if isinstance(self.max_pages, bool) or not isinstance(self.max_pages, int) or self.max_pages < 1:
            raise ConfigurationError(f"max_pages must be a whole number >= 1, got {self.max_pages!r}")
        if not self.settle_s >= 0:
            raise ConfigurationError(f"settle_s must be >= 0 seconds, got {self.settle_s!r}")

    def __repr__(self) -> str:
        return f"KisConfig(account={self.account!r}, env={self.kis_env.value!r}, url={self.url!r}, app_key=***, app_secret=***)"

    @property
    def key(self) -> Secret:
        assert isinstance(self.app_key, Secret)
        return self.app_key

    @property
    def secret(self) -> Secret:
        assert isinstance(self.app_secret, Secret)
        return self.app_secret

    @property
    def kis_env(self) -> KisEnv:
        assert isinstance(self.env, KisEnv)
        return self.env

    @property
    def url(self) -> str:
        """The REST root calls go to."""
        return self.base_url or DOMAINS[self.kis_env]

    @property
    def websocket_url(self) -> str:
        """The real-time feed's endpoint (see ``ws_url``)."""
        if self.ws_url:
            return self.ws_url
        if self.base_url:
            return ("wss://" if self.base_url.startswith("https://") else "ws://") + self.base_url.split("://", 1)[1] + "/tryitout"
        return WS_DOMAINS[self.kis_env]

    @property
    def cano(self) -> str:
        """The account number's first 8 digits (종합계좌번호)."""
        return self.account[:8]

    @property
    def product_code(self) -> str:
        """The account number's last 2 digits (계좌상품코드)."""
        return self.account[9:]

    @property
    def account_type(self) -> AccountType:
        return AccountType.PAPER if self.kis_env is KisEnv.PAPER else AccountType.REAL

    @property
    def key_fingerprint(self) -> str:
        """12 hex digits that name the app key (and env) without revealing it: the token file's
        and the shared budget's name."""
        return hashlib.sha256(f"{self.kis_env.value}\0{self.key.reveal()}".encode()).hexdigest()[:12]

    @property
    def token_folder(self) -> Path:
        return Path(self.token_cache).expanduser() if self.token_cache else platformdirs.user_cache_path("jts-broker") / "kis-tokens"

    @property
    def default_budget_backend(self) -> str:
        """Where the budget lives unless configured: ``budgets.sqlite`` beside the token cache."""
        return f"sqlite:///{self.token_folder / 'budgets.sqlite'}"

    @property
    def journal_path(self) -> Path | None:
        if self.order_journal == DEFAULT_JOURNAL:
            return platformdirs.user_data_path("jts-broker") / "order-journal.sqlite"
        return None if self.order_journal is None else Path(self.order_journal)

    @property
    def rate_limit_policy(self) -> RateLimitPolicy:
        """The budgets in force: ``rate_limit``, or KIS's published windows for the env, keyed by
        the app key's fingerprint (KIS counts calls per app key)."""
        if isinstance(self.rate_limit, RateLimitPolicy):
            policy = self.rate_limit
        elif isinstance(self.rate_limit, RateLimit):
            policy = RateLimitPolicy.single(self.rate_limit)
        else:
            policy = RateLimitPolicy.published(BrokerType.KIS, self.account_type)
            policy = replace(policy, backend=self.default_budget_backend)
        return replace(policy, key=f"kis-{self.key_fingerprint}") if policy.key == "default" else policy

    def broker_config(self) -> BrokerConfig:
        """What a ``KisRestGateway`` of this config reports as its ``config``: a KIS broker with the
        one account, its budgets and timeouts; host and port are those of the REST root (there is
        no gRPC server in between)."""
        account = AccountConfig(self.account, self.account_name or f"KIS {self.kis_env.value}", self.account_type)
        url = urllib.parse.urlsplit(self.url)
        port = url.port or (443 if url.scheme == "https" else 80)
        return BrokerConfig(broker_type=BrokerType.KIS, grpc_host=url.hostname or "kis", grpc_port=port, rate_limit=self.rate_limit_policy,
                            timeouts=self.timeouts, retry=self.retry, order_journal=None, accounts=(account,))

    def tr_id(self, name: str) -> str:
        """The transaction id of endpoint ``name`` in this env (an override first).

        Raises:
            ConfigurationError: KIS offers no such transaction in this env (e.g. past days'
                1-minute candles on paper).
        """
        if name in self.tr_ids:
            return self.tr_ids[name]
        real, paper = TR_IDS[name]
        tr_id = real if self.kis_env is KisEnv.REAL else paper
        if not tr_id:
            raise ConfigurationError(f"KIS offers {name} on the real domain only, not on paper", code="NOT_ON_PAPER")
        return tr_id
