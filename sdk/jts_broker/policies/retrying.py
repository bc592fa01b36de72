"""``RetryPolicy`` and ``ReconnectPolicy`` -> tenacity, in one place, for blocking and asyncio code.

Which failures are worth another attempt, and how long a server asked to wait, are the caller's
to say (``retryable`` and ``retry_after``; the gRPC client passes the contract's rule, which
retries only UNAVAILABLE, DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED): this module knows no wire.
The generated clients retry read-only methods only, and make the first attempt themselves:
tenacity takes over after a retryable failure, so the common case pays nothing for it. A
rate-limit refusal is never retried sooner than the server's retry-after: a broker counts every
refused call, and retrying into its window again is how accounts get suspended.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable

import tenacity

from jts_broker.domain.policies import ReconnectPolicy, RetryPolicy

log = logging.getLogger(__name__)

Retryable = Callable[[BaseException], bool]
"""Whether a failure is worth another attempt."""
RetryAfter = Callable[[BaseException], float]
"""Seconds the server asked the caller to wait after a failure (0.0 when it did not say)."""


def error_retry_after_s(failure: BaseException) -> float:
    """The ``retry_after_s`` an SDK error carries (``RateLimitExceeded``); 0.0 for any other."""
    return float(getattr(failure, "retry_after_s", 0.0) or 0.0)


def first_delay_s(policy: RetryPolicy, retry_after_s: float) -> float:
    """Seconds before the first retry: the policy's initial backoff, or the server's retry-after
    when it asked for longer."""
    return max(policy.initial_backoff_s, retry_after_s)


def _at_least_retry_after(backoff: tenacity.wait.wait_base, retry_after: RetryAfter) -> Callable[[tenacity.RetryCallState], float]:
    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        return max(backoff(state), retry_after(exc) if exc is not None else 0.0)

    return wait


@functools.lru_cache(maxsize=64)  # the strategy objects are stateless: build them once per policy
def _options(policy: RetryPolicy, attempts_made: int, retryable: Retryable, retry_after: RetryAfter) -> dict[str, object]:
    return {
        # stop_before_delay, not stop_after_delay: the latter overshoots the budget by one sleep,
        # and a retry-after beyond the budget ends the retries with the RateLimitExceeded.
        "stop": tenacity.stop_after_attempt(max(1, policy.max_attempts - attempts_made)) | tenacity.stop_before_delay(policy.budget_s),
        # Jitter up to one initial backoff spreads clients that failed together (tenacity defaults to 1 s).
        "wait": _at_least_retry_after(tenacity.wait_exponential_jitter(
            multiplier=policy.initial_backoff_s, max=policy.max_backoff_s, jitter=policy.initial_backoff_s), retry_after),
        "retry": tenacity.retry_if_exception(retryable),
        "reraise": True,  # hand the failure itself to the caller's error mapping
    }


def log_retry(path: str, exc: BaseException, delay_s: float) -> None:
    """One WARNING per retried call: a retry costs a rate-limit token, and a refusal for rate
    reasons means the broker counted a call over its limit. Names the failure's status code when
    it has one (``exc.code().name``, as gRPC errors do)."""
    code = exc.code() if callable(getattr(exc, "code", None)) else None  # type: ignore[attr-defined]
    log.warning("%s failed (%s); retrying in %.2f s", path, getattr(code, "name", None) or type(exc).__name__, delay_s)


def _before_sleep(path: str) -> Callable[[tenacity.RetryCallState], None]:
    def before_sleep(state: tenacity.RetryCallState) -> None:
        if state.outcome is not None and (exc := state.outcome.exception()) is not None:
            log_retry(path, exc, state.upcoming_sleep)

    return before_sleep


def retrying(policy: RetryPolicy, retryable: Retryable, retry_after: RetryAfter, *, attempts_made: int = 0, path: str = "") -> tenacity.Retrying:
    """A tenacity ``Retrying`` for the attempts ``policy`` allows after ``attempts_made``, retrying
    what ``retryable`` accepts no sooner than ``retry_after`` says; each retry of RPC ``path`` is
    logged (:func:`log_retry`)."""
    return tenacity.Retrying(before_sleep=_before_sleep(path), **_options(policy, attempts_made, retryable, retry_after))  # type: ignore[arg-type]


def async_retrying(policy: RetryPolicy, retryable: Retryable, retry_after: RetryAfter, *, attempts_made: int = 0,
                   path: str = "") -> tenacity.AsyncRetrying:
    """The asyncio twin of :func:`retrying`."""
    return tenacity.AsyncRetrying(before_sleep=_before_sleep(path), **_options(policy, attempts_made, retryable, retry_after))  # type: ignore[arg-type]


class RecoveryBackoff:
    """Delays between attempts to learn what a broken order call did (look the order up, then
    send again or not): exponential from ``initial_backoff_s`` up to ``max_backoff_s``, never sooner
    than a rate-limit refusal's ``retry_after_s``, and none that would end past ``budget_s``
    seconds after the first failure.

    Unlike the read retries, every failure that may pass is worth another attempt here (a lookup
    refused for rate reasons included): giving up early can only end in "unknown".
    """

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self._deadline = time.monotonic() + policy.budget_s
        self._delay = policy.initial_backoff_s

    def next_delay(self, failure: BaseException) -> float | None:
        """Seconds to wait before the next attempt after ``failure``; None when the budget is spent."""
        wait = max(self._delay, error_retry_after_s(failure))
        if time.monotonic() + wait >= self._deadline:
            return None
        self._delay = min(self._delay * 2, self._policy.max_backoff_s)
        return wait


def _reconnect_options(policy: ReconnectPolicy) -> dict[str, object]:
    return {
        "wait": tenacity.wait_exponential_jitter(multiplier=policy.initial_backoff_s, max=policy.max_backoff_s, jitter=policy.initial_backoff_s),
        # Any failure of a health check means "not back yet"; the loop ends when it passes.
        "retry": tenacity.retry_if_exception_type(Exception),
    }


def reconnecting(policy: ReconnectPolicy, closed: threading.Event) -> tenacity.Retrying:
    """Health checks until one passes, with backoff and jitter; stops (``tenacity.RetryError``)
    once ``closed`` is set, and sleeps on it so that closing does not wait out a backoff."""
    return tenacity.Retrying(stop=lambda _: closed.is_set(), sleep=closed.wait, **_reconnect_options(policy))  # type: ignore[arg-type]


def async_reconnecting(policy: ReconnectPolicy) -> tenacity.AsyncRetrying:
    """The asyncio twin of :func:`reconnecting`: it runs until a check passes or its task is
    cancelled."""
    return tenacity.AsyncRetrying(**_reconnect_options(policy))  # type: ignore[arg-type]
