"""Client behaviour written once, run against both generated clients: the blocking grpcio one
and the grpc.aio one. Both come from codegen/templates/clients.py.j2."""

from __future__ import annotations

import asyncio
from datetime import datetime

import grpc
import pytest

from jts_broker import KST, BrokerConfig, RateLimit, RateLimiter, RetryPolicy, SymbolNotFound, Timeouts
from jts_broker.client._generated import aio_clients, clients
from jts_broker.client.channel import open_aio_channel, open_channel
from jts_broker.contract._generated import mappers as m
from jts_broker.contract._generated.pb import market_data_pb2, trading_pb2
from jts_broker.domain.enums import Timeframe

pytestmark = pytest.mark.integration


class SyncRunner:
    def __init__(self, target: str, limiter: RateLimiter) -> None:
        self.channel = open_channel(BrokerConfig.from_target(target))
        policy = clients.CallPolicy(limiter, Timeouts(), RetryPolicy())
        self.market = clients.MarketDataServiceClient(self.channel, policy)
        self.trading = clients.TradingServiceClient(self.channel, policy)

    def call(self, client: str, method: str, request):
        return getattr(getattr(self, client), method)(request)

    def stream(self, request, count: int):
        stream = self.market.stream_quotes(request)
        out = [next(stream) for _ in range(count)]
        stream.cancel()
        return out, list(stream)

    def close(self) -> None:
        self.channel.close()


class AsyncRunner:
    """Drives the asyncio client on a private event loop, so the same test body serves both."""

    def __init__(self, target: str, limiter: RateLimiter) -> None:
        self.loop = asyncio.new_event_loop()

        async def build():
            channel = open_aio_channel(BrokerConfig.from_target(target))
            policy = aio_clients.CallPolicy(limiter, Timeouts(), RetryPolicy())
            return channel, aio_clients.MarketDataServiceClient(channel, policy), aio_clients.TradingServiceClient(channel, policy)

        self.channel, self.market, self.trading = self.loop.run_until_complete(build())

    def call(self, client: str, method: str, request):
        return self.loop.run_until_complete(getattr(getattr(self, client), method)(request))

    def stream(self, request, count: int):
        async def go():
            stream = await self.market.stream_quotes(request)
            out = [await stream.__anext__() for _ in range(count)]
            stream.cancel()
            return out, [q async for q in stream]

        return self.loop.run_until_complete(go())

    def close(self) -> None:
        self.loop.run_until_complete(self.channel.close())
        self.loop.close()


@pytest.fixture(params=["sync", "async"])
def runner(request, simulator):
    limiter = RateLimiter(RateLimit(1000))
    r = (SyncRunner if request.param == "sync" else AsyncRunner)(simulator.target, limiter)
    yield r
    r.close()
    limiter.close()


def test_unary_call_and_mapping(runner):
    request = market_data_pb2.GetCandlesRequest(symbol="005930", timeframe=m.timeframe_to_proto(Timeframe.DAY),
                                                start=m.timestamp_to_proto(datetime(2024, 1, 2, tzinfo=KST)),
                                                end=m.timestamp_to_proto(datetime(2024, 1, 3, tzinfo=KST)))
    response = runner.call("market", "get_candles", request)
    [candle] = [m.candle_from_proto(c) for c in response.candles]
    assert candle.close == 79600


def test_errors_are_mapped_at_the_client_boundary(runner):
    with pytest.raises(SymbolNotFound) as info:
        runner.call("market", "get_quote", market_data_pb2.GetQuoteRequest(symbol="999999"))
    assert isinstance(info.value.__cause__, grpc.RpcError)


def test_every_call_takes_a_rate_limit_token(runner):
    limiter = runner.market._policy.rate_limiter
    before = limiter.usage().total
    runner.call("trading", "list_accounts", trading_pb2.ListAccountsRequest())
    runner.call("market", "get_quote", market_data_pb2.GetQuoteRequest(symbol="005930"))
    assert limiter.usage().total == before + 2


def test_server_stream_and_cancel(runner):
    first, rest = runner.stream(market_data_pb2.StreamQuotesRequest(symbols=["005930", "000660"]), 2)
    assert {q.symbol for q in first} == {"005930", "000660"}
    assert rest == []  # cancelling ends the stream quietly
