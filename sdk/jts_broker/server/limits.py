"""Rate limits enforced by the simulator the way brokers enforce theirs: per account and category,
over the broker's published windows, refusing what is over with RESOURCE_EXHAUSTED and the
broker's own error code.

The counting here is a plain sliding window written independently of pyrate-limiter on purpose:
it is the referee the SDK's client-side limiter is tested against, so it must not share its code.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import grpc

from jts_broker.contract._generated.pb import common_pb2
from jts_broker.domain.enums import BrokerType
from jts_broker.domain.policies import RateCategory, RateLimitPolicy

from .interceptors import ContractInterceptor, Handler, abort, wrap

# (error code, message) the brokers answer when a limit is exceeded, by category.
BROKER_CODES: dict[BrokerType, dict[RateCategory, tuple[str, str]]] = {
    BrokerType.KIS: {c: ("EGW00201", "초당 거래건수를 초과하였습니다.") for c in RateCategory},
    BrokerType.KIWOOM: {RateCategory.QUERY: ("-200", "시세조회 과부하"), RateCategory.ORDER: ("-308", "주문전송 과부하")},
    BrokerType.CREON: {c: ("4", "요청 제한 개수 초과") for c in RateCategory},
    BrokerType.MOCK: {c: ("RATE_LIMITED", "rate limit exceeded") for c in RateCategory},
}


class BudgetEnforcer:
    """Counts calls per (category, account) and refuses those over any window.

    Attributes:
        admitted: calls let through. rejected: calls refused. Both since start, thread-safe.
    """

    def __init__(self, policy: RateLimitPolicy, broker_type: BrokerType = BrokerType.MOCK) -> None:
        self.policy = policy
        self.broker_type = broker_type
        self.admitted = 0
        self.rejected = 0
        self._arrivals: dict[tuple[RateCategory, str], deque[float]] = {}
        self._lock = threading.Lock()

    def admit(self, method: str, category: RateCategory, account_id: str) -> float | None:
        """None when the call may go ahead, else seconds until it could."""
        category = category if category in self.policy.categories else RateCategory.QUERY
        windows = self.policy.budget(category).windows
        weight = self.policy.weights.get(method, 1)
        now = time.monotonic()
        with self._lock:
            arrivals = self._arrivals.setdefault((category, account_id), deque())
            horizon = max(w.interval_s for w in windows)
            while arrivals and arrivals[0] <= now - horizon:
                arrivals.popleft()
            for window in windows:
                inside = [t for t in arrivals if t > now - window.interval_s]
                if len(inside) + weight > window.limit:
                    self.rejected += 1
                    return inside[len(inside) + weight - window.limit - 1] + window.interval_s - now
            arrivals.extend([now] * weight)
            self.admitted += 1
            return None

    def code(self, category: RateCategory) -> tuple[str, str]:
        return BROKER_CODES[self.broker_type][category if category in self.policy.categories else RateCategory.QUERY]


class RateLimitInterceptor(ContractInterceptor):
    """Wraps every jts.broker.v1 handler with the enforcer (health and reflection are free)."""

    def __init__(self, enforcer: BudgetEnforcer) -> None:
        super().__init__()
        self.enforcer = enforcer

    def intercept(self, handler: Handler, name: str, read_only: bool) -> Handler:
        category = RateCategory.QUERY if read_only else RateCategory.ORDER

        def check(request: Any, context: grpc.ServicerContext) -> None:
            wait_s = self.enforcer.admit(name, category, getattr(request, "account_id", ""))
            if wait_s is not None:
                code, message = self.enforcer.code(category)
                detail = common_pb2.ErrorDetail(code="RATE_LIMITED", message=message, broker_code=code, retry_after_seconds=max(0.0, wait_s))
                abort(context, grpc.StatusCode.RESOURCE_EXHAUSTED, detail, f"{message} ({code})")

        return wrap(handler, check)
