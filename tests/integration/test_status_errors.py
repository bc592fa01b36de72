"""Every gRPC status code, sent by a real simulator (fault injection), reaches the caller as its
typed error, chained from the gRPC error: no raw ``grpc.RpcError`` gets through."""

from __future__ import annotations

import grpc
import pytest

from jts_broker import BrokerConfig, GrpcBrokerGateway, JtsBrokerError, RateLimit, RetryPolicy
from jts_broker.server.faults import FaultPlan
from tests.unit.test_status_mapping import EXPECTED

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server():
    from jts_broker.server import SimulatorServer

    with SimulatorServer(speed=0) as s:
        yield s


@pytest.fixture(scope="module")
def gateway(server):
    # One attempt: retryable codes must still surface as their own class.
    with GrpcBrokerGateway(BrokerConfig.from_target(server.target, rate_limit=RateLimit(10_000), retry=RetryPolicy(max_attempts=1))) as gw:
        yield gw


@pytest.mark.parametrize(("code", "cls"), EXPECTED.items(), ids=lambda v: getattr(v, "name", getattr(v, "__name__", "")))
def test_each_status_from_the_server_becomes_its_typed_error(server, gateway, code, cls):
    server.faults.set(FaultPlan(error_rates={code.name: 1.0}, methods=frozenset({"GetQuote"})))
    try:
        with pytest.raises(JtsBrokerError) as caught:
            gateway.get_quote("005930")
    finally:
        server.faults.clear()
    error = caught.value
    assert isinstance(error, cls) and error.status == code.name
    assert isinstance(error.__cause__, grpc.RpcError) and error.__cause__.code() is code
    assert gateway.get_quote("005930").price > 0  # and the next call is fine
