"""Orders are placed at most once, even when responses are lost after the broker took the order.

Every test runs a real simulator on a loopback port with fault injection, and counts the orders
from the server's side.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from jts_broker import (
    AsyncGrpcBrokerGateway,
    BrokerConfig,
    BrokerUnavailable,
    ConnectionStatus,
    DuplicateClientOrderId,
    GrpcBrokerGateway,
    OrderNotFound,
    OrderRejected,
    OrderStatus,
    OrderStatusUnknown,
    RateLimit,
    RetryPolicy,
    Side,
    Timeouts,
    limit_order,
    new_client_order_id,
)
from jts_broker.server import SimulatorServer
from jts_broker.server.faults import FaultPlan
from tests.conftest import ACCOUNT, wait_until

pytestmark = pytest.mark.integration

SYMBOL = "229200"  # an ETF near 20,000 KRW: 1,000 resting buys fit in the paper cash


def _config(server: SimulatorServer, **kwargs) -> BrokerConfig:
    return BrokerConfig.from_target(server.target, rate_limit=RateLimit(100_000), **kwargs)


def _resting_buy(server: SimulatorServer, client_order_id: str, quantity: int = 1):
    """A buy at the lower daily limit: accepted and left working, so every order stays countable."""
    quote = server.market.quote(SYMBOL)
    return limit_order(ACCOUNT, SYMBOL, Side.BUY, quantity, quote.lower_limit, client_order_id=client_order_id)


def _server_orders(server: SimulatorServer) -> list:
    return server.broker.orders(ACCOUNT)


def test_1000_orders_with_10_percent_of_responses_lost_after_commit(simulator):
    simulator.faults.set(FaultPlan(drop_after_commit=0.10, seed=7))
    ids = [new_client_order_id() for _ in range(1000)]
    with GrpcBrokerGateway(_config(simulator)) as gateway, ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda cid: gateway.place_order(_resting_buy(simulator, cid)), ids))

    assert simulator.faults.dropped_responses >= 50  # the faults really happened (10% of 1,000, seeded)
    orders = _server_orders(simulator)
    assert len(orders) == 1000
    assert sorted(o.client_order_id for o in orders) == sorted(ids)  # none duplicated, none lost
    by_client_id = {o.client_order_id: o for o in orders}
    for cid, result in zip(ids, results):  # every caller got its own order back
        assert result.client_order_id == cid
        assert result.order_id == by_client_id[cid].order_id
        assert result.status is OrderStatus.ACCEPTED and result.order.quantity == 1


def test_async_orders_with_lost_responses_are_placed_once(simulator):
    simulator.faults.set(FaultPlan(drop_after_commit=0.2, seed=3))
    ids = [new_client_order_id() for _ in range(200)]

    async def run():
        async with AsyncGrpcBrokerGateway(_config(simulator)) as gateway:
            return await asyncio.gather(*(gateway.place_order(_resting_buy(simulator, cid)) for cid in ids))

    results = asyncio.run(run())
    assert simulator.faults.dropped_responses > 0
    assert sorted(o.client_order_id for o in _server_orders(simulator)) == sorted(ids)
    assert [r.client_order_id for r in results] == ids


def test_a_response_held_past_the_deadline_is_found_not_resent(simulator):
    simulator.faults.set(FaultPlan(drop_after_commit=1.0, drop_as="deadline", methods=frozenset({"PlaceOrder"})))
    config = _config(simulator, timeouts=Timeouts(order_s=0.3))
    with GrpcBrokerGateway(config) as gateway:
        result = gateway.place_order(_resting_buy(simulator, "held-1"))
    assert result.client_order_id == "held-1" and result.status is OrderStatus.ACCEPTED
    assert [o.client_order_id for o in _server_orders(simulator)] == ["held-1"]


def test_a_call_lost_before_it_arrived_is_sent_again_with_the_same_id(simulator):
    # UNAVAILABLE before the handler: the broker never saw the order, so the lookup finds nothing
    # and the gateway sends it again, with the same client order id.
    simulator.faults.set(FaultPlan(error_rates={"UNAVAILABLE": 0.3}, methods=frozenset({"PlaceOrder"}), seed=1))
    ids = [f"lost-{i}" for i in range(40)]
    with GrpcBrokerGateway(_config(simulator)) as gateway:
        results = [gateway.place_order(_resting_buy(simulator, cid)) for cid in ids]
    assert simulator.faults.injected_errors > 0
    assert [r.client_order_id for r in results] == ids
    assert sorted(o.client_order_id for o in _server_orders(simulator)) == sorted(ids)


def test_a_rejection_is_final_and_not_retried(simulator):
    simulator.faults.set(FaultPlan(drop_after_commit=1.0))
    with GrpcBrokerGateway(_config(simulator)) as gateway:
        quote = gateway.get_quote(SYMBOL)
        with pytest.raises(OrderRejected) as caught:
            gateway.place_order(limit_order(ACCOUNT, SYMBOL, Side.BUY, 1, quote.upper_limit + 1000, client_order_id="too-high"))
    assert caught.value.code == "PRICE_LIMIT"
    assert [o.client_order_id for o in _server_orders(simulator)] == ["too-high"]


def test_order_whose_fate_cannot_be_learned_raises_order_status_unknown_and_can_be_found_later(simulator):
    config = _config(simulator, retry=RetryPolicy(max_attempts=2, initial_backoff_s=0.05, max_backoff_s=0.1, budget_s=0.6))
    with GrpcBrokerGateway(config) as gateway:
        # The server takes the order and loses the answer, and every lookup fails too.
        simulator.faults.set(FaultPlan(drop_after_commit=1.0, methods=frozenset({"PlaceOrder"})),
                             FaultPlan(error_rates={"UNAVAILABLE": 1.0}, methods=frozenset({"GetOrder"})))
        with pytest.raises(OrderStatusUnknown) as caught:
            gateway.place_order(_resting_buy(simulator, "fate-unknown"))
        assert caught.value.client_order_id == "fate-unknown"
        assert isinstance(caught.value, BrokerUnavailable)
        assert "get_order_by_client_id" in str(caught.value)

        simulator.faults.clear()
        found = gateway.get_order_by_client_id("fate-unknown")
        assert found.status is OrderStatus.ACCEPTED
        with pytest.raises(OrderNotFound):
            gateway.get_order_by_client_id("never-placed")
    assert [o.client_order_id for o in _server_orders(simulator)] == ["fate-unknown"]


def test_orders_fail_fast_while_the_server_is_known_to_be_down(simulator):
    config = _config(simulator, timeouts=Timeouts(connect_s=2.0))
    with GrpcBrokerGateway(config) as gateway:
        changes = []
        gateway.subscribe_status(changes.append)
        simulator.stop(0)
        deadline = time.monotonic() + 5
        while gateway.status is ConnectionStatus.CONNECTED and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(BrokerUnavailable) as caught:
            gateway.place_order(_resting_buy(simulator, "while-down"))
        assert caught.value.code == "NOT_CONNECTED" and "not sent" in str(caught.value)  # at once, from the known status
        wait_until(lambda: changes, what="the change told")  # listeners run on the status thread
        assert changes[0].status is ConnectionStatus.ERROR
    assert _server_orders(simulator) == []


def test_a_reused_client_order_id_found_by_the_lookup_is_not_taken_for_this_order(simulator):
    # Without the order journal, which would refuse the reused id before sending (test_order_journal).
    with GrpcBrokerGateway(_config(simulator, order_journal="none")) as gateway:
        first = gateway.place_order(_resting_buy(simulator, "reused"))
        # The second order's first attempt never arrives; the lookup then finds the first order,
        # which is not this one: the caller must hear that, not get the other order back.
        simulator.faults.set(FaultPlan(error_rates={"UNAVAILABLE": 1.0}, methods=frozenset({"PlaceOrder"})))
        with pytest.raises(DuplicateClientOrderId) as caught:
            gateway.place_order(_resting_buy(simulator, "reused", quantity=2))
        assert caught.value.order_id == first.order_id
    assert [o.quantity for o in _server_orders(simulator)] == [1]


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_cancel_whose_answer_was_lost_is_reported_as_done(simulator, kind):
    config = _config(simulator)
    if kind == "sync":
        gateway = GrpcBrokerGateway(config)
        placed = gateway.place_order(_resting_buy(simulator, f"to-cancel-{kind}"))
        simulator.faults.set(FaultPlan(drop_after_commit=1.0, methods=frozenset({"CancelOrder"})))
        cancelled = gateway.cancel_order(placed.order_id)
        gateway.close()
    else:
        async def run():
            async with AsyncGrpcBrokerGateway(config) as gw:
                placed = await gw.place_order(_resting_buy(simulator, f"to-cancel-{kind}"))
                simulator.faults.set(FaultPlan(drop_after_commit=1.0, methods=frozenset({"CancelOrder"})))
                return placed, await gw.cancel_order(placed.order_id)

        placed, cancelled = asyncio.run(run())
    assert simulator.faults.dropped_responses == 1
    assert cancelled.order_id == placed.order_id and cancelled.status is OrderStatus.CANCELLED


def test_a_cancel_that_never_arrived_is_sent_again(simulator):
    with GrpcBrokerGateway(_config(simulator)) as gateway:
        placed = gateway.place_order(_resting_buy(simulator, "cancel-lost-before"))
        # Only the first cancel is lost on its way in: the lookup finds the order still working.
        simulator.faults.set(FaultPlan(error_rates={"UNAVAILABLE": 1.0}, methods=frozenset({"CancelOrder"}), limit=1))
        cancelled = gateway.cancel_order(placed.order_id)
    assert simulator.faults.injected_errors == 1 and cancelled.status is OrderStatus.CANCELLED


def test_a_raw_place_order_without_a_client_order_id_is_refused(simulator):
    # The server deduplicates on the client order id: two identical requests without one must not make two orders.
    import grpc

    from jts_broker.contract._generated import mappers as m
    from jts_broker.contract._generated.pb import trading_pb2, trading_pb2_grpc

    quote = simulator.market.quote(SYMBOL)
    request = trading_pb2.PlaceOrderRequest(account_id=ACCOUNT, symbol=SYMBOL, side=1, order_type=1, time_in_force=1, quantity=1,
                                            price=m.decimal_to_proto(quote.lower_limit))
    with grpc.insecure_channel(simulator.target) as channel:
        stub = trading_pb2_grpc.TradingServiceStub(channel)
        for _ in range(2):
            with pytest.raises(grpc.RpcError) as caught:
                stub.PlaceOrder(request, timeout=5)
            assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert "client_order_id" in caught.value.details()
    assert _server_orders(simulator) == []


def _recovering(**retry) -> dict:
    return {"retry": RetryPolicy(**{"initial_backoff_s": 0.02, "max_backoff_s": 0.05, "budget_s": 5.0, **retry})}


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_lookups_refused_for_rate_reasons_are_waited_out_and_find_the_order(simulator, kind):
    # The answer to PlaceOrder is lost and the first lookups are refused with RESOURCE_EXHAUSTED (a
    # broker's rate limit, with a retry-after): the gateway must wait them out and find the order,
    # never report "not sent" for an order the server holds.
    simulator.faults.set(FaultPlan(drop_after_commit=1.0, methods=frozenset({"PlaceOrder"})),
                         FaultPlan(error_rates={"RESOURCE_EXHAUSTED": 1.0}, methods=frozenset({"GetOrder"}), limit=3))
    order = _resting_buy(simulator, f"limited-{kind}")
    if kind == "sync":
        with GrpcBrokerGateway(_config(simulator, **_recovering())) as gateway:
            result = gateway.place_order(order)
    else:
        async def run():
            async with AsyncGrpcBrokerGateway(_config(simulator, **_recovering())) as gw:
                return await gw.place_order(order)

        result = asyncio.run(run())
    assert simulator.faults.injected_errors == 3 and simulator.faults.dropped_responses == 1
    assert result.client_order_id == f"limited-{kind}" and result.status is OrderStatus.ACCEPTED
    assert [o.client_order_id for o in _server_orders(simulator)] == [f"limited-{kind}"]


def test_lookups_refused_until_the_budget_is_spent_end_in_order_status_unknown(simulator):
    simulator.faults.set(FaultPlan(drop_after_commit=1.0, methods=frozenset({"PlaceOrder"})),
                         FaultPlan(error_rates={"RESOURCE_EXHAUSTED": 1.0}, methods=frozenset({"GetOrder"})))
    with GrpcBrokerGateway(_config(simulator, **_recovering(budget_s=0.5))) as gateway:
        with pytest.raises(OrderStatusUnknown) as caught:
            gateway.place_order(_resting_buy(simulator, "limited-forever"))
    assert caught.value.client_order_id == "limited-forever" and caught.value.status == "RESOURCE_EXHAUSTED"
    assert [o.client_order_id for o in _server_orders(simulator)] == ["limited-forever"]  # the server holds it: never "not sent"


def test_a_lookup_the_server_refuses_outright_ends_in_order_status_unknown(simulator):
    # A refusal that no wait can cure (here PERMISSION_DENIED) tells nothing about the order.
    simulator.faults.set(FaultPlan(drop_after_commit=1.0, methods=frozenset({"PlaceOrder"})),
                         FaultPlan(error_rates={"PERMISSION_DENIED": 1.0}, methods=frozenset({"GetOrder"})))
    with GrpcBrokerGateway(_config(simulator, **_recovering())) as gateway:
        with pytest.raises(OrderStatusUnknown) as caught:
            gateway.place_order(_resting_buy(simulator, "denied-lookup"))
    assert caught.value.client_order_id == "denied-lookup" and caught.value.status == "PERMISSION_DENIED"
    assert len(_server_orders(simulator)) == 1


def test_a_cancel_whose_answer_was_lost_is_found_through_rate_limited_lookups(simulator):
    with GrpcBrokerGateway(_config(simulator, **_recovering())) as gateway:
        placed = gateway.place_order(_resting_buy(simulator, "cancel-limited"))
        simulator.faults.set(FaultPlan(drop_after_commit=1.0, methods=frozenset({"CancelOrder"})),
                             FaultPlan(error_rates={"RESOURCE_EXHAUSTED": 1.0}, methods=frozenset({"GetOrder"}), limit=2))
        cancelled = gateway.cancel_order(placed.order_id)
    assert cancelled.status is OrderStatus.CANCELLED and simulator.faults.injected_errors == 2


def test_a_cancel_whose_outcome_cannot_be_learned_is_unknown_not_failed(simulator):
    with GrpcBrokerGateway(_config(simulator, **_recovering(budget_s=0.4))) as gateway:
        placed = gateway.place_order(_resting_buy(simulator, "cancel-unknown"))
        simulator.faults.set(FaultPlan(drop_after_commit=1.0, methods=frozenset({"CancelOrder"})),
                             FaultPlan(error_rates={"RESOURCE_EXHAUSTED": 1.0}, methods=frozenset({"GetOrder"})))
        with pytest.raises(OrderStatusUnknown) as caught:
            gateway.cancel_order(placed.order_id)
    assert caught.value.order_id == placed.order_id and "get_order_status" in str(caught.value)
    assert simulator.broker.order(placed.order_id).status is OrderStatus.CANCELLED  # it did take effect
