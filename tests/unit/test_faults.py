"""The simulator's fault plans: validation, parsing and how several plans combine."""

from __future__ import annotations

import grpc
import pytest

from jts_broker.server.faults import FaultInjector, FaultPlan


@pytest.mark.parametrize(
    "kwargs",
    [
        {"error_rates": {"NOPE": 0.1}},
        {"error_rates": {"OK": 0.1}},
        {"error_rates": {"UNAVAILABLE": 1.5}},
        {"error_rates": {"UNAVAILABLE": 0.6, "INTERNAL": 0.6}},
        {"drop_after_commit": -0.1},
        {"latency_s": -1},
        {"drop_as": "sometimes"},
        {"limit": 0},
    ],
)
def test_bad_plans_are_refused(kwargs):
    with pytest.raises(ValueError):
        FaultPlan(**kwargs)


def test_parse_rate():
    assert FaultPlan.parse_rate("unavailable=0.25") == ("UNAVAILABLE", 0.25)
    for bad in ("UNAVAILABLE", "UNAVAILABLE=x", "UNAVAILABLE=2"):
        with pytest.raises(ValueError):
            FaultPlan.parse_rate(bad)


def test_plans_apply_to_their_methods_and_combine():
    injector = FaultInjector(FaultPlan(drop_after_commit=1.0, methods=frozenset({"PlaceOrder"})),
                             FaultPlan(error_rates={"UNAVAILABLE": 1.0}, methods=frozenset({"GetOrder"})))
    assert injector.before("PlaceOrder") is None and injector.drop("PlaceOrder") is not None
    assert injector.before("GetOrder") is grpc.StatusCode.UNAVAILABLE and injector.drop("GetOrder") is None
    assert injector.before("GetQuote") is None
    assert (injector.injected_errors, injector.dropped_responses) == (1, 1)
    injector.clear()
    assert injector.before("GetOrder") is None and injector.drop("PlaceOrder") is None


def test_error_rates_are_drawn_with_the_seed():
    def draws():
        injector = FaultInjector(FaultPlan(error_rates={"UNAVAILABLE": 0.3, "INTERNAL": 0.2}, seed=42))
        return [injector.before("GetQuote") for _ in range(1000)]

    first = draws()
    assert first == draws()
    assert 250 <= first.count(grpc.StatusCode.UNAVAILABLE) <= 350 and 150 <= first.count(grpc.StatusCode.INTERNAL) <= 250


def test_a_limited_plan_is_spent_after_its_faults():
    injector = FaultInjector(FaultPlan(error_rates={"INTERNAL": 1.0}, limit=2), FaultPlan(drop_after_commit=1.0, limit=1))
    assert [injector.before("GetQuote") for _ in range(3)] == [grpc.StatusCode.INTERNAL, grpc.StatusCode.INTERNAL, None]
    assert injector.drop("PlaceOrder") is not None and injector.drop("PlaceOrder") is None
