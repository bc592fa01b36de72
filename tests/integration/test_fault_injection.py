"""The simulator's fault injection and restart, as tests and demos use them."""

from __future__ import annotations

import pytest

from jts_broker import BrokerConfig, DeadlineExceeded, GrpcBrokerGateway, RateLimit, RetryPolicy, Side, Timeouts, limit_order
from jts_broker.server.faults import FaultPlan
from tests.conftest import ACCOUNT

pytestmark = pytest.mark.integration


def test_added_latency_past_the_deadline_is_deadline_exceeded(simulator):
    config = BrokerConfig.from_target(simulator.target, rate_limit=RateLimit(1000), timeouts=Timeouts(read_s=0.1),
                                      retry=RetryPolicy(max_attempts=1))
    with GrpcBrokerGateway(config) as gateway:
        simulator.faults.set(FaultPlan(latency_s=0.4, methods=frozenset({"GetQuote"})))
        with pytest.raises(DeadlineExceeded) as caught:
            gateway.get_quote("005930")
        assert caught.value.status == "DEADLINE_EXCEEDED"
        assert gateway.get_balance(ACCOUNT).cash > 0  # other methods are not delayed
        simulator.faults.clear()
        assert gateway.get_quote("005930").price > 0


def test_a_restart_keeps_the_port_the_accounts_and_the_orders(simulator):
    port = simulator.port
    with GrpcBrokerGateway(BrokerConfig.from_target(simulator.target, rate_limit=RateLimit(1000))) as gateway:
        quote = gateway.get_quote("005930")
        placed = gateway.place_order(limit_order(ACCOUNT, "005930", Side.BUY, 1, quote.lower_limit))
    simulator.restart(0)
    assert simulator.port == port
    with GrpcBrokerGateway(BrokerConfig.from_target(simulator.target, rate_limit=RateLimit(1000))) as gateway:
        assert gateway.get_order_status(placed.order_id).client_order_id == placed.client_order_id
