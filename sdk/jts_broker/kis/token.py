"""KIS access tokens: issued at most once a minute per app key, whatever the number of processes.

KIS refuses a second token within a minute (``EGW00133``) and notifies the account holder of
every issue, and a token lasts about a day. So a token is cached in a file per (env, app key),
under a cross-process file lock (``filelock``): a process that finds a valid token there uses
it; the first to find none issues one while the others wait on the lock, then read it. The file
is the user's alone (mode 0600) and named by the key's fingerprint, never the key.

A token is renewed ``RENEW_BEFORE_S`` before its expiry (``access_token_token_expired``,
Asia/Seoul). When KIS says a token has expired early (``EGW00123``, e.g. revoked), the caller
calls :meth:`KisTokens.invalidate` and asks again: a new one is issued, no sooner than a minute
after the last issue.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import filelock

from jts_broker.domain.config import Secret
from jts_broker.domain.errors import ConfigurationError, ServerError
from jts_broker.domain.timeutil import KST

RENEW_BEFORE_S = 600.0
"""Renew a token this many seconds before it expires."""
ISSUE_INTERVAL_S = 61.0
"""KIS issues one token a minute per app key (``EGW00133``); one more second for clock skew."""
LOCK_TIMEOUT_S = 90.0
"""The longest a process waits for another that is issuing a token (an issue waits out the
minute at most, plus its HTTP call)."""


@dataclass(frozen=True, slots=True)
class Token:
    value: Secret
    expires_at: float
    """Epoch seconds."""
    issued_at: float
    """Epoch seconds, when this SDK received it."""

    def fresh(self, now: float) -> bool:
        return now < self.expires_at - RENEW_BEFORE_S


def parse_token(body: dict[str, Any], now: float) -> Token:
    """The token of a ``/oauth2/tokenP`` answer.

    Raises:
        ServerError: a field is missing or unreadable (code ``MALFORMED_RESPONSE``, naming it).
    """
    value, expired = body.get("access_token"), body.get("access_token_token_expired")
    if not isinstance(value, str) or not value:
        raise ServerError("KIS token answer: access_token is missing", code="MALFORMED_RESPONSE")
    try:
        expires_at = datetime.strptime(str(expired), "%Y-%m-%d %H:%M:%S").replace(tzinfo=KST).timestamp()
    except ValueError:
        raise ServerError(f"KIS token answer: access_token_token_expired must be YYYY-MM-DD HH:MM:SS (KST), got {expired!r}",
                          code="MALFORMED_RESPONSE") from None
    return Token(Secret(value), expires_at, now)


class KisTokens:
    """The access token of one (env, app key). Thread-safe; processes share it through the file.

    Args:
        folder: where the token file lives (created, user-only).
        name: the file's stem (the app key's fingerprint).
        issue: asks KIS for a new token (``POST /oauth2/tokenP``) and returns its JSON body;
            raises the SDK's errors.
        sleep: waits (tests pass a fake clock's).
    """

    def __init__(self, folder: Path, name: str, issue: Callable[[], dict[str, Any]], *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.path = folder / f"{name}.json"
        self._lock_path = folder / f"{name}.lock"
        self._attempt_path = folder / f"{name}.attempt"
        self._issue = issue
        self._sleep = sleep
        self._memory: Token | None = None
        self._thread_lock = threading.Lock()
        self.issued = 0
        """Tokens this object issued (for tests and ``status``)."""

    def get(self) -> Secret:
        """A token valid for at least ``RENEW_BEFORE_S`` more seconds.

        Raises:
            ConfigurationError: the token folder cannot be written, or another process holds the
                lock for over ``LOCK_TIMEOUT_S`` (code ``TOKEN_CACHE``).
            AuthenticationFailed, RateLimitExceeded, BrokerUnavailable: from issuing one.
        """
        token = self._memory
        if token is not None and token.fresh(time.time()):
            return token.value
        with self._thread_lock:
            token = self._memory
            if token is not None and token.fresh(time.time()):
                return token.value
            with self._file_lock():
                token = self._read()
                if token is None or not token.fresh(time.time()):
                    token = self._issue_now(token)
                self._memory = token
                return token.value

    def invalidate(self, value: Secret) -> None:
        """KIS refused ``value`` as expired: forget it here and in the file (if the file still
        holds it), so that :meth:`get` issues another."""
        with self._thread_lock:
            if self._memory is not None and self._memory.value.reveal() == value.reveal():
                self._memory = None
            with self._file_lock():
                token = self._read()
                if token is not None and token.value.reveal() == value.reveal():
                    self._write(Token(token.value, 0.0, token.issued_at))  # expired, but its issue time still counts

    def _issue_now(self, previous: Token | None) -> Token:
        # The last attempt counts, not only the last token received: an issue whose answer was
        # lost (a timeout, a 5xx) may have been a token at KIS, and one more within the minute is
        # refused (EGW00133) and notified to the account holder again.
        last = max(previous.issued_at if previous is not None else 0.0, self._last_attempt())
        wait = last + ISSUE_INTERVAL_S - time.time()
        if wait > 0:
            self._sleep(wait)
        self._write_text(self._attempt_path, repr(time.time()))
        token = parse_token(self._issue(), time.time())
        self.issued += 1
        self._write(token)
        return token

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        lock = filelock.FileLock(self._lock_path, timeout=LOCK_TIMEOUT_S, mode=0o600)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            lock.acquire()
        except filelock.Timeout:
            raise ConfigurationError(f"KIS token cache {self._lock_path} stayed locked for {LOCK_TIMEOUT_S:g} s", code="TOKEN_CACHE") from None
        except OSError as exc:
            raise ConfigurationError(f"KIS token cache {self.path.parent} cannot be used: {exc.strerror}", code="TOKEN_CACHE") from None
        try:
            yield
        finally:
            lock.release()

    def _read(self) -> Token | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return Token(Secret(str(data["access_token"])), float(data["expires_at"]), float(data["issued_at"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            return None  # unreadable: issued again (and the file rewritten)

    def _last_attempt(self) -> float:
        try:
            return float(self._attempt_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return 0.0

    def _write(self, token: Token) -> None:
        data = {"access_token": token.value.reveal(), "expires_at": token.expires_at, "issued_at": token.issued_at}
        self._write_text(self.path, json.dumps(data))

    def _write_text(self, path: Path, text: str) -> None:
        """Write ``path`` whole or not at all, readable by the user only."""
        temporary = path.with_name(path.name + ".tmp")
        try:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()  # a leftover keeps its old mode: start afresh, created 0600
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(temporary, path)  # readers see the old file or the new one, never half
        except OSError as exc:
            raise ConfigurationError(f"KIS token cache {path} cannot be written: {exc.strerror}", code="TOKEN_CACHE") from None
