"""Idle streams never starve unary calls: a server whose streams are at their cap refuses another
quote stream (RESOURCE_EXHAUSTED), answers a health watch as unimplemented (the client checks
health with unary calls instead), and keeps serving unary calls."""

from __future__ import annotations

import grpc
import pytest

from jts_broker import BrokerConfig, ConnectionStatus, GrpcBrokerGateway, RateLimit
from jts_broker.contract._generated.pb import market_data_pb2, market_data_pb2_grpc
from jts_broker.domain.errors import ConfigurationError
from jts_broker.server import SimulatorServer

from ..conftest import wait_until

pytestmark = pytest.mark.integration


def test_streams_over_the_cap_are_refused_and_unary_calls_still_served() -> None:
    with SimulatorServer(speed=0, max_workers=6, max_streams=3) as server, grpc.insecure_channel(server.target) as channel:
        stub = market_data_pb2_grpc.MarketDataServiceStub(channel)
        streams = [stub.StreamQuotes(market_data_pb2.StreamQuotesRequest(symbols=["005930"]), timeout=30) for _ in range(3)]
        for stream in streams:
            next(stream)  # open and answering: each holds a server thread
        wait_until(lambda: server.streams.open_streams == 3, what="three open streams")
        refused = stub.StreamQuotes(market_data_pb2.StreamQuotesRequest(symbols=["000660"]), timeout=10)
        with pytest.raises(grpc.RpcError) as caught:
            next(refused)
        assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        for _ in range(20):  # unary calls have the other threads
            assert stub.GetQuote(market_data_pb2.GetQuoteRequest(symbol="005930"), timeout=5).symbol == "005930"
        # A client connecting now cannot watch health; it checks it with unary calls and is CONNECTED.
        with GrpcBrokerGateway(BrokerConfig.from_target(server.target, rate_limit=RateLimit(1000), order_journal="none")) as gateway:
            assert gateway.status is ConnectionStatus.CONNECTED
            assert gateway.get_quote("005930").symbol == "005930"
        gateway.close()
        for stream in streams:
            stream.cancel()
        wait_until(lambda: server.streams.open_streams == 0, what="the streams closed")
        again = stub.StreamQuotes(market_data_pb2.StreamQuotesRequest(symbols=["000660"]), timeout=10)
        assert next(again).symbol == "000660"
        again.cancel()


def test_the_stream_cap_leaves_threads_for_unary_calls() -> None:
    with pytest.raises(ConfigurationError, match="max_streams"):
        SimulatorServer(speed=0, max_workers=4, max_streams=4)
