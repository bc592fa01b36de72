"""Fault injection for the simulator: added latency, errors by status code, and responses
dropped after the call took effect, so tests and demos can break the network on purpose.

A :class:`FaultPlan` says what to inject into which methods; the :class:`FaultInjector` holds
the plans in force (swap them at any time with :meth:`FaultInjector.set`; several plans combine,
e.g. lost ``PlaceOrder`` answers plus failing ``GetOrder`` lookups) and counts what it injected, and
:class:`FaultInterceptor` applies it to every ``jts.broker.v1`` call (health checks and
reflection are never touched, so a client can still tell that the server is up).

"Dropped after commit" is the failure that makes blind order resends dangerous: the server
placed the order, and the client saw only a broken call. It applies to the methods that change
state (``PlaceOrder``, ``CancelOrder``); reads are answered normally.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import grpc

from jts_broker.contract._generated.pb import common_pb2

from .interceptors import ContractInterceptor, Handler, abort, wrap

DROP_MODES = ("unavailable", "deadline")


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """What the simulator injects. The default injects nothing.

    Attributes:
        latency_s: seconds added before every call is handled.
        error_rates: probability (0-1) per status code name (e.g. ``{"UNAVAILABLE": 0.1}``) that a
            call fails with that code *before* it is handled (nothing takes effect).
        drop_after_commit: probability (0-1) that a state-changing call (place or cancel an order)
            takes effect and its response is then lost.
        drop_as: how a lost response looks to the client: ``"unavailable"`` (the connection broke:
            UNAVAILABLE at once) or ``"deadline"`` (no answer: held until the client's deadline).
        methods: RPC names the plan applies to (e.g. ``{"PlaceOrder"}``); empty: all of them.
        limit: at most this many errors and drops from this plan, then it is spent (e.g. 1: only
            the next matching call fails); None: no limit.
        seed: seed of the random draws (None: unseeded; with several plans, the first seed given).
    """

    latency_s: float = 0.0
    error_rates: Mapping[str, float] = field(default_factory=dict)
    drop_after_commit: float = 0.0
    drop_as: str = "unavailable"
    methods: frozenset[str] = frozenset()
    limit: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        rates = dict(self.error_rates)
        for name, rate in rates.items():
            if name not in grpc.StatusCode.__members__ or name == "OK":
                raise ValueError(f"unknown gRPC status code {name!r} (e.g. UNAVAILABLE, INTERNAL)")
            if not 0 <= rate <= 1:
                raise ValueError(f"error rate of {name} must be 0 to 1, got {rate!r}")
        if sum(rates.values()) > 1:
            raise ValueError("error rates add up to more than 1")
        if not 0 <= self.drop_after_commit <= 1:
            raise ValueError(f"drop_after_commit must be 0 to 1, got {self.drop_after_commit!r}")
        if self.latency_s < 0:
            raise ValueError(f"latency_s must be >= 0, got {self.latency_s!r}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be >= 1 (or None), got {self.limit!r}")
        if self.drop_as not in DROP_MODES:
            raise ValueError(f"drop_as must be one of {', '.join(DROP_MODES)}, got {self.drop_as!r}")
        object.__setattr__(self, "error_rates", MappingProxyType(rates))
        object.__setattr__(self, "methods", frozenset(self.methods))

    @property
    def active(self) -> bool:
        return bool(self.latency_s or self.error_rates or self.drop_after_commit)

    @classmethod
    def parse_rate(cls, text: str) -> tuple[str, float]:
        """``"UNAVAILABLE=0.1"`` -> ``("UNAVAILABLE", 0.1)`` (the CLI's ``--fail``)."""
        name, sep, rate = text.partition("=")
        try:
            value = float(rate)
        except ValueError:
            value = -1.0
        if not sep or not 0 <= value <= 1:
            raise ValueError(f"expected CODE=RATE such as UNAVAILABLE=0.1, got {text!r}")
        return name.strip().upper(), value


class FaultInjector:
    """The plans in force and what they injected. Thread-safe.

    Attributes:
        injected_errors: calls failed on purpose before they were handled.
        dropped_responses: calls that took effect and whose response was then lost.
    """

    def __init__(self, *plans: FaultPlan) -> None:
        self._lock = threading.Lock()
        self.injected_errors = 0
        self.dropped_responses = 0
        self.set(*plans)

    @property
    def plans(self) -> tuple[FaultPlan, ...]:
        return self._plans

    def set(self, *plans: FaultPlan) -> None:
        """Put ``plans`` in force from the next call on (none: inject nothing)."""
        with self._lock:
            self._plans = tuple(p for p in plans if p.active)
            self._spent: dict[int, int] = {}  # faults injected per plan (by position), for limits
            self._random = random.Random(next((p.seed for p in plans if p.seed is not None), None))

    def clear(self) -> None:
        """Inject nothing from now on."""
        self.set()

    def _applying(self, name: str) -> list[tuple[int, FaultPlan]]:
        return [(i, p) for i, p in enumerate(self._plans) if not p.methods or name in p.methods]

    def _take(self, index: int, plan: FaultPlan) -> bool:
        """Count one fault of ``plan``; False when its limit is spent. Call with the lock held."""
        if plan.limit is not None and self._spent.get(index, 0) >= plan.limit:
            return False
        self._spent[index] = self._spent.get(index, 0) + 1
        return True

    def before(self, name: str) -> grpc.StatusCode | None:
        """Sleep the latency, then draw an error to fail the call with (None: go ahead)."""
        for index, plan in self._applying(name):
            if plan.latency_s:
                time.sleep(plan.latency_s)
            with self._lock:
                draw = self._random.random()
                for code_name, rate in plan.error_rates.items():
                    if draw < rate:
                        if not self._take(index, plan):
                            break
                        self.injected_errors += 1
                        return grpc.StatusCode[code_name]
                    draw -= rate
        return None

    def drop(self, name: str) -> FaultPlan | None:
        """The plan that loses the response of a state-changing call that just took effect, if any."""
        for index, plan in self._applying(name):
            if plan.drop_after_commit:
                with self._lock:
                    if self._random.random() < plan.drop_after_commit and self._take(index, plan):
                        self.dropped_responses += 1
                        return plan
        return None


class FaultInterceptor(ContractInterceptor):
    """Applies a :class:`FaultInjector` to every jts.broker.v1 handler."""

    def __init__(self, injector: FaultInjector) -> None:
        super().__init__()
        self.injector = injector

    def intercept(self, handler: Handler, name: str, read_only: bool) -> Handler:
        mutates = not read_only
        injector = self.injector

        def before(request: Any, context: grpc.ServicerContext) -> None:
            code = injector.before(name)
            if code is not None:
                message = f"{name}: injected {code.name} (simulator fault injection)"
                abort(context, code, common_pb2.ErrorDetail(code="FAULT_INJECTED", message=message))

        def after(request: Any, context: grpc.ServicerContext, response: Any) -> None:
            dropping = injector.drop(name) if mutates else None
            if dropping is None:
                return
            if dropping.drop_as == "deadline":
                # Hold the answer until the client has given up on it.
                remaining = context.time_remaining()
                time.sleep(min(remaining if remaining is not None else 30.0, 30.0) + 0.05)
            # The call took effect; the client sees only a broken connection (no detail).
            context.abort(grpc.StatusCode.UNAVAILABLE, "connection lost")

        return wrap(handler, before, after)
