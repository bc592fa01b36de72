"""``KisHttp``: every HTTP call to KIS, in one place: the token, the headers, the rate limiter,
timeouts, retries of reads, paging, and KIS's answers turned into the SDK's error tree.

Errors (``rt_cd`` other than ``"0"``; the token endpoint's ``error_code``), with KIS's ``msg_cd``
as ``broker_code`` and ``msg1`` as ``broker_message``:

=================  ==========================================================================
``EGW00201``       ``RateLimitExceeded`` (code ``BROKER_RATE_LIMIT``, ``retry_after_s`` 1.0): KIS
                   counted a call over its per-second limit (often with HTTP 500)
``EGW00133``       ``RateLimitExceeded`` (code ``TOKEN_RATE_LIMIT``): a second token within a minute
``EGW00123``       the token expired: renewed once and the call sent again (a refused call did
                   nothing); a second refusal is ``AuthenticationFailed`` (``TOKEN_EXPIRED``)
``EGW02004``       ``ConfigurationError`` (``KIS_DOMAIN``): a paper app key on the real domain
``EGW001xx``       ``AuthenticationFailed`` (``KIS_AUTH``): app key, secret or token refused
other ``EGW``      for orders, and any order refusal on HTTP 5xx: ``ServerError``
                   (``BROKER_GATEWAY_ERROR``): ambiguous, the order is looked up
anything else      ``OrderRejected`` (``BROKER_REJECTED``) for orders; ``ServerError``
                   (``BROKER_ERROR``) for reads
=================  ==========================================================================

Without a KIS body: HTTP 5xx is ``ServerError`` (``HTTP_5XX``), 401/403 ``AuthenticationFailed``;
no connection is ``BrokerUnavailable`` (``CONNECT_FAILED``: the request never left), a broken
connection ``BrokerUnavailable`` (``CONNECTION_LOST``) and no answer in time ``DeadlineExceeded``
(``READ_TIMEOUT``). Reads are retried after ``HTTP_5XX``, ``CONNECT_FAILED``, ``CONNECTION_LOST`` and
``READ_TIMEOUT`` under ``KisConfig.retry``; orders never are (see ``jts_broker.kis.orders``).

The session is shared by every thread (urllib3's pool is thread-safe; nothing in it is changed
after construction). Secrets go into headers only: never into a log line, an error or a repr.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import requests
import urllib3.exceptions

from jts_broker.domain.config import Secret
from jts_broker.domain.errors import (
    AuthenticationFailed,
    BrokerUnavailable,
    ConfigurationError,
    DeadlineExceeded,
    JtsBrokerError,
    OrderRejected,
    RateLimitExceeded,
    ServerError,
)
from jts_broker.domain.policies import RateCategory
from jts_broker.domain.rate_limits import IRateLimiter
from jts_broker.policies.retrying import error_retry_after_s, retrying

from . import endpoints as ep
from .config import KisConfig
from .token import ISSUE_INTERVAL_S, KisTokens

log = logging.getLogger(__name__)

RETRYABLE_CODES = frozenset({"HTTP_5XX", "CONNECT_FAILED", "CONNECTION_LOST", "READ_TIMEOUT"})
"""Failures of a read worth another attempt."""
NOT_SENT_CODES = frozenset({"CONNECT_FAILED"})
"""Failures after which the request certainly never reached KIS."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A successful KIS answer: its JSON body and whether another page follows."""

    body: dict[str, Any]
    more: bool = False


class _TokenExpired(Exception):
    """KIS said EGW00123 for the token sent."""


def _not_connected(exc: requests.RequestException) -> bool:
    """Whether the request failed before a connection existed (it never left): a connect timeout,
    a refused connection, a name that does not resolve."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.NameResolutionError))


def kis_error(msg_cd: str, msg1: str, where: str, *, order: bool, http_status: int = 200) -> JtsBrokerError:
    """The SDK error for a KIS refusal ``msg_cd``/``msg1`` of the call ``where`` (answered with
    ``http_status``). For an order, only a refusal of the order system counts as "not placed"
    (``OrderRejected``): an unknown gateway code (``EGW...``) or a refusal on HTTP 5xx may have
    come from a layer that does not know whether the order went on, so it is a ``ServerError``
    (code ``BROKER_GATEWAY_ERROR``), which the order path treats as ambiguous and looks up."""
    words = " ".join(msg1.split())
    kwargs = {"broker_code": msg_cd, "broker_message": words}
    message = f"KIS {msg_cd}: {words} ({where})"
    if msg_cd == "EGW00201":
        return RateLimitExceeded(message, retry_after_s=1.0, code="BROKER_RATE_LIMIT", **kwargs)
    if msg_cd == "EGW00133":
        return RateLimitExceeded(message, retry_after_s=ISSUE_INTERVAL_S, code="TOKEN_RATE_LIMIT", **kwargs)
    if msg_cd == "EGW00123":
        return AuthenticationFailed(message, code="TOKEN_EXPIRED", **kwargs)
    if msg_cd == "EGW02004":
        return ConfigurationError(f"{message}: an app key of the other domain (paper key on the real domain?): check env", code="KIS_DOMAIN", **kwargs)
    if msg_cd.startswith("EGW001"):
        return AuthenticationFailed(message, code="KIS_AUTH", **kwargs)
    if order and (msg_cd.startswith("EGW") or http_status >= 500):
        return ServerError(message, code="BROKER_GATEWAY_ERROR", **kwargs)
    if order:
        return OrderRejected(message, code="BROKER_REJECTED", **kwargs)
    return ServerError(message, code="BROKER_ERROR", **kwargs)


class KisHttp:
    """HTTP to one KIS domain for one app key.

    Args:
        config: the account and its settings.
        limiter: the budget every call (token issues excepted) takes a token from first.
        session: a ``requests.Session`` to use (tests); default one with a connection pool.
    """

    def __init__(self, config: KisConfig, limiter: IRateLimiter, session: requests.Session | None = None) -> None:
        self.config = config
        self.limiter = limiter
        self.session = session or self._new_session()
        self.tokens = KisTokens(config.token_folder, config.key_fingerprint, self.issue_token)
        self.clock_offset_s: float | None = None
        """KIS's clock less ours, seconds, from the ``Date`` header of its last answer (to the
        second); None before the first."""
        self._timeouts = {False: (config.timeouts.connect_s, config.timeouts.read_s), True: (config.timeouts.connect_s, config.timeouts.order_s)}

    @staticmethod
    def _new_session() -> requests.Session:
        session = requests.Session()
        # No urllib3 retries: a POST must never be sent twice behind our back; reads retry above.
        adapter = requests.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=32, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def close(self) -> None:
        self.session.close()

    # -- token ------------------------------------------------------------------------------------
    def issue_token(self) -> dict[str, Any]:
        """``POST /oauth2/tokenP``: a new access token's JSON body (see ``jts_broker.kis.token``)."""
        body = {"grant_type": "client_credentials", "appkey": self.config.key.reveal(), "appsecret": self.config.secret.reveal()}
        response = self._post_raw(ep.TOKEN, body)
        data = self._json(response, "tokenP")
        if response.status_code == 200 and "access_token" in data:
            return data
        code, words = str(data.get("error_code", "")), str(data.get("error_description", ""))
        if code:
            error = kis_error(code, words, "tokenP", order=False)
            raise error if not isinstance(error, ServerError) else AuthenticationFailed(error.message, code="KIS_AUTH",
                                                                                         broker_code=code, broker_message=words)
        raise self._http_error(response, "tokenP", order=False)

    def approval_key(self) -> Secret:
        """``POST /oauth2/Approval``: the WebSocket approval key (its body names the secret
        ``secretkey``)."""
        body = {"grant_type": "client_credentials", "appkey": self.config.key.reveal(), "secretkey": self.config.secret.reveal()}
        response = self._post_raw(ep.APPROVAL, body)
        data = self._json(response, "Approval")
        key = data.get("approval_key")
        if response.status_code == 200 and isinstance(key, str) and key:
            return Secret(key)
        raise self._http_error(response, "Approval", order=False)

    def _post_raw(self, endpoint: ep.Endpoint, body: dict[str, str]) -> requests.Response:
        try:
            return self.session.post(self.config.url + endpoint.path, json=body, timeout=self._timeouts[False])
        except requests.RequestException as exc:
            raise self._transport_error(exc, endpoint.path) from None

    # -- calls ------------------------------------------------------------------------------------
    def read(self, endpoint: ep.Endpoint, tr_name: str, params: dict[str, str], *, tr_cont: str = "") -> Answer:
        """A read (GET), rate limited, retried after transient failures.

        Raises:
            the errors of the module's table.
        """
        tr_id = self.config.tr_id(tr_name)

        def attempt() -> Answer:
            return self._call(endpoint, tr_id, params, tr_cont=tr_cont, order=False)

        try:
            return attempt()
        except JtsBrokerError as exc:
            if not self._retryable(exc):
                raise
        for retry in retrying(self.config.retry, self._retryable, error_retry_after_s, attempts_made=1, path=f"KIS {tr_id}"):
            with retry:
                return attempt()
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    def pages(self, endpoint: ep.Endpoint, tr_name: str, params: dict[str, str]) -> Iterator[dict[str, Any]]:
        """Every page of a paged read, in order: the next page asked with header ``tr_cont: N`` and
        ``CTX_AREA_FK100``/``CTX_AREA_NK100`` copied from the last body.

        Raises:
            ServerError: more than ``config.max_pages`` pages (code ``TOO_MANY_PAGES``).
        """
        params = {**params, "CTX_AREA_FK100": "", "CTX_AREA_NK100": ""}
        tr_cont = ""
        for _ in range(self.config.max_pages):
            answer = self.read(endpoint, tr_name, params, tr_cont=tr_cont)
            yield answer.body
            if not answer.more:
                return
            params = {**params, "CTX_AREA_FK100": str(answer.body.get("ctx_area_fk100", "")),
                      "CTX_AREA_NK100": str(answer.body.get("ctx_area_nk100", ""))}
            tr_cont = "N"
        raise ServerError(f"KIS {tr_name}: more than {self.config.max_pages} pages (max_pages)", code="TOO_MANY_PAGES")

    def order(self, endpoint: ep.Endpoint, tr_name: str, body: dict[str, str], *, before_send: Callable[[], None] | None = None) -> dict[str, Any]:
        """An order call (POST), rate limited, sent once: never retried here (the caller decides,
        knowing whether it may have arrived: ``NOT_SENT_CODES``). ``before_send`` runs after the
        rate-limit token is taken, right before the request leaves."""
        answer = self._call(endpoint, self.config.tr_id(tr_name), body, order=True, before_send=before_send)
        return answer.body

    @staticmethod
    def _retryable(exc: BaseException) -> bool:
        return isinstance(exc, JtsBrokerError) and exc.code in RETRYABLE_CODES

    def _call(self, endpoint: ep.Endpoint, tr_id: str, payload: dict[str, str], *, order: bool, tr_cont: str = "",
              before_send: Callable[[], None] | None = None) -> Answer:
        category = RateCategory.ORDER if order else RateCategory.QUERY
        token = self.tokens.get()
        for renewed in (False, True):
            self.limiter.acquire(category)
            if before_send is not None:
                before_send()
            try:
                return self._send(endpoint, tr_id, payload, token, order=order, tr_cont=tr_cont)
            except _TokenExpired:
                if renewed:
                    raise AuthenticationFailed(f"KIS refused a token it had just issued as expired ({tr_id})", code="TOKEN_EXPIRED",
                                               broker_code="EGW00123") from None
                log.info("KIS token expired early (EGW00123); issuing another")
                self.tokens.invalidate(token)
                token = self.tokens.get()
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, endpoint: ep.Endpoint, tr_id: str, payload: dict[str, str], token: Secret, *, order: bool, tr_cont: str) -> Answer:
        headers = {
            "content-type": "application/json; charset=utf-8",
            "authorization": f"Bearer {token.reveal()}",
            "appkey": self.config.key.reveal(),
            "appsecret": self.config.secret.reveal(),
            "tr_id": tr_id,
            "custtype": "P",
            "tr_cont": tr_cont,
        }
        url = self.config.url + endpoint.path
        started = time.monotonic()
        try:
            if endpoint.method == "GET":
                response = self.session.get(url, params=payload, headers=headers, timeout=self._timeouts[order])
            else:
                response = self.session.post(url, json=payload, headers=headers, timeout=self._timeouts[order])
        except requests.RequestException as exc:
            raise self._transport_error(exc, f"{tr_id} {endpoint.path}") from None
        log.debug("KIS %s %s -> HTTP %s in %.3f s", tr_id, endpoint.path, response.status_code, time.monotonic() - started)
        self._learn_clock(response)
        body = self._json(response, tr_id)
        rt_cd = body.get("rt_cd")
        if rt_cd == "0":
            return Answer(body, response.headers.get("tr_cont", "") in ep.MORE_PAGES)
        if rt_cd is None:
            raise self._http_error(response, tr_id, order=order)
        msg_cd = str(body.get("msg_cd", ""))
        if msg_cd == "EGW00123":
            raise _TokenExpired()
        raise kis_error(msg_cd, str(body.get("msg1", "")), tr_id, order=order, http_status=response.status_code)

    def _learn_clock(self, response: requests.Response) -> None:
        stamp = response.headers.get("Date")
        if not stamp:
            return
        try:
            server = email.utils.parsedate_to_datetime(stamp).timestamp()
        except (TypeError, ValueError):
            return
        # The header is truncated to the second: the middle of that second is the best estimate.
        self.clock_offset_s = server + 0.5 - time.time()

    def _json(self, response: requests.Response, where: str) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            data = None
        if isinstance(data, dict):
            return data
        if response.status_code >= 400:
            raise self._http_error(response, where, order=False)
        raise ServerError(f"KIS {where}: the answer is not a JSON object (HTTP {response.status_code})", code="MALFORMED_RESPONSE")

    @staticmethod
    def _http_error(response: requests.Response, where: str, *, order: bool) -> JtsBrokerError:
        status = response.status_code
        if status in (401, 403):
            return AuthenticationFailed(f"KIS {where}: HTTP {status}", code="KIS_AUTH")
        if status >= 500:
            return ServerError(f"KIS {where}: HTTP {status}", code="HTTP_5XX")
        return ServerError(f"KIS {where}: HTTP {status} without a KIS answer", code="BROKER_ERROR")

    def _transport_error(self, exc: requests.RequestException, where: str) -> JtsBrokerError:
        # Only the class and the host: an exception's text could carry the URL's query (never a secret here, but keep it short).
        if _not_connected(exc):
            return BrokerUnavailable(f"KIS {where}: cannot connect to {self.config.url} ({type(exc).__name__})", code="CONNECT_FAILED")
        if isinstance(exc, requests.exceptions.Timeout):
            return DeadlineExceeded(f"KIS {where}: no answer from {self.config.url} in time", code="READ_TIMEOUT")
        return BrokerUnavailable(f"KIS {where}: the connection to {self.config.url} broke ({type(exc).__name__})", code="CONNECTION_LOST")
