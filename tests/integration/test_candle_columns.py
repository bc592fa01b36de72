"""Columnar candles against a real simulator on loopback: the packed answer equals the rows value
for value, long ranges come in pages under the message limit, a server from before layouts is
still read right, and the offline cache serves columns too."""

from __future__ import annotations

import asyncio
import sys
import threading
from datetime import date, datetime

import grpc
import numpy as np
import pandas as pd
import pytest

from jts_broker import AsyncGrpcBrokerGateway, BrokerConfig, BrokerUnavailable, ConfigurationError, ConnectionStatus, DataSource, GrpcBrokerGateway, RateLimit, Timeframe
from jts_broker.client._generated import aio_gateway
from jts_broker.client._generated import gateway as sync_gateway
from jts_broker.client.channel import open_channel
from jts_broker.contract._generated import mappers as m
from jts_broker.contract._generated.pb import market_data_pb2, market_data_pb2_grpc
from jts_broker.domain.errors import ServerError
from jts_broker.domain.timeutil import KST, start_of_day
from jts_broker.server import SimulatorServer
from jts_broker.server.services import MarketDataService
from tests.conftest import wait_until

pytestmark = pytest.mark.integration

HISTORY = (date(2024, 1, 1), date(2026, 3, 16))  # before the replayed session: final candles
MINUTES = (date(2025, 6, 13), date(2025, 6, 17))  # days the bundled data holds 1-minute bars of 005930


@pytest.mark.parametrize(("timeframe", "days"), [(Timeframe.DAY, HISTORY), (Timeframe.WEEK, HISTORY), (Timeframe.MINUTE_1, MINUTES)])
def test_columns_and_frame_equal_the_rows_value_for_value(gateway, timeframe, days):
    rows = gateway.get_candles("005930", timeframe, *days)
    columns = gateway.get_candle_columns("005930", timeframe, *days)
    assert len(rows) > 100 and columns.to_candles() == list(rows)
    assert columns.symbol == "005930" and columns.timeframe is timeframe and columns.price_scale == 0 and columns.source is DataSource.LIVE
    frame = gateway.get_candles_frame("A005930", timeframe, *days)
    assert frame.index.dtype == pd.DatetimeTZDtype("s", "Asia/Seoul") and all(frame.dtypes == np.int64)
    assert list(frame.index.to_pydatetime()) == [c.time for c in rows]
    assert frame["close"].tolist() == [int(c.close) for c in rows] and frame["volume"].tolist() == [c.volume for c in rows]


def test_a_long_range_comes_in_pages_and_whole(simulator, monkeypatch):
    config = BrokerConfig.from_target(simulator.target, rate_limit=RateLimit(1000))
    with GrpcBrokerGateway(config) as gateway:
        whole = gateway.get_candles("005930", Timeframe.DAY, *HISTORY)
        monkeypatch.setattr(sync_gateway, "PAGE_CANDLES", 100)
        used = gateway.rate_limiter.usage().total
        assert gateway.get_candles("005930", Timeframe.DAY, *HISTORY) == whole
        assert gateway.rate_limiter.usage().total - used == -(-len(whole) // 100)  # one call, one token, per page
        assert gateway.get_candle_columns("005930", Timeframe.DAY, *HISTORY).to_candles() == whole

    channel = open_channel(config)
    request = market_data_pb2.GetCandlesRequest(symbol="005930", timeframe=m.timeframe_to_proto(Timeframe.DAY), max_candles=100,
                                                start=m.timestamp_to_proto(start_of_day(HISTORY[0])), end=m.timestamp_to_proto(start_of_day(HISTORY[1])))
    stub = market_data_pb2_grpc.MarketDataServiceStub(channel)
    page = stub.GetCandles(request)
    assert len(page.candles) == 100 and not page.HasField("columns")  # no layout asked: rows, as before
    assert m.timestamp_from_proto(page.next_start) == whole[100].time
    request.max_candles = -1
    with pytest.raises(grpc.RpcError) as refused:
        stub.GetCandles(request)
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    channel.close()


def test_both_gateways_page_and_join_the_pages(monkeypatch, gateway):
    whole = gateway.get_candles("005930", Timeframe.DAY, date(2025, 1, 1), date(2025, 3, 31))
    monkeypatch.setattr(aio_gateway, "PAGE_CANDLES", 7)
    monkeypatch.setattr(sync_gateway, "PAGE_CANDLES", 7)
    used = gateway.rate_limiter.usage().total
    assert gateway.get_candle_columns("005930", Timeframe.DAY, date(2025, 1, 1), date(2025, 3, 31)).to_candles() == whole
    assert gateway.rate_limiter.usage().total - used == -(-len(whole) // 7) > 1  # one call per page


def test_the_async_gateway_builds_a_big_answer_off_the_event_loop(simulator, monkeypatch):
    # Rows cost about 1.3 us each: 100,000 would hold a Qt window's loop for 130 ms. Above
    # UNPACK_ON_LOOP_MAX bars they are built on a worker thread; a small answer stays on the loop.
    built_on: list[threading.Thread] = []
    unpack = aio_gateway.unpack

    def spy(packed):
        built_on.append(threading.current_thread())
        return unpack(packed)

    monkeypatch.setattr(aio_gateway, "unpack", spy)
    monkeypatch.setattr(aio_gateway, "UNPACK_ON_LOOP_MAX", 100)
    config = BrokerConfig.from_target(simulator.target, rate_limit=RateLimit(1000))
    small_range = (date(2025, 1, 1), date(2025, 1, 31))

    async def scenario():
        async with AsyncGrpcBrokerGateway(config) as gateway:
            return await gateway.get_candles("005930", Timeframe.DAY, *HISTORY), await gateway.get_candles("005930", Timeframe.DAY, *small_range)

    big, small = asyncio.run(scenario())  # the loop runs on this thread
    assert len(big) > 100 >= len(small) > 0
    assert built_on[0] is not threading.current_thread() and built_on[1] is threading.current_thread()
    with GrpcBrokerGateway(config) as gateway:
        assert big == gateway.get_candles("005930", Timeframe.DAY, *HISTORY) and small == gateway.get_candles("005930", Timeframe.DAY, *small_range)
    assert big.source is DataSource.LIVE


def test_pages_that_overlap_are_a_server_error_not_repeated_bars(monkeypatch):
    answered = MarketDataService.GetCandles

    def overlapping(self, request, context):  # says the next page starts two bars too early
        response = answered(self, request, context)
        if response.HasField("next_start"):
            response.next_start.CopyFrom(m.timestamp_to_proto(datetime.fromtimestamp(response.columns.times[-2], KST)))
        return response

    monkeypatch.setattr(MarketDataService, "GetCandles", overlapping)
    monkeypatch.setattr(sync_gateway, "PAGE_CANDLES", 50)
    with SimulatorServer(speed=0) as server, GrpcBrokerGateway(BrokerConfig.from_target(server.target)) as gateway:
        with pytest.raises(ServerError, match="holds bars of another page"):
            gateway.get_candles("005930", Timeframe.DAY, *HISTORY)


def test_a_server_from_before_layouts_answers_rows_and_the_client_reads_them(monkeypatch):
    answered = MarketDataService.GetCandles

    def old_server(self, request, context):  # unknown fields are ignored by an old server's parser
        request.ClearField("layout")
        request.ClearField("max_candles")
        return answered(self, request, context)

    monkeypatch.setattr(MarketDataService, "GetCandles", old_server)
    with SimulatorServer(speed=0) as server, GrpcBrokerGateway(BrokerConfig.from_target(server.target)) as gateway:
        rows = gateway.get_candles("005930", Timeframe.DAY, *HISTORY)
        assert len(rows) > 500
        assert gateway.get_candle_columns("005930", Timeframe.DAY, *HISTORY).to_candles() == rows
    monkeypatch.undo()
    with SimulatorServer(speed=0) as server, GrpcBrokerGateway(BrokerConfig.from_target(server.target)) as gateway:
        assert gateway.get_candles("005930", Timeframe.DAY, *HISTORY) == rows


def test_without_numpy_nothing_is_sent(simulator, monkeypatch):
    with GrpcBrokerGateway(BrokerConfig.from_target(simulator.target)) as gateway:
        simulator.stop(0)  # a call would fail with BrokerUnavailable: the missing package is named first
        monkeypatch.setitem(sys.modules, "numpy", None)
        with pytest.raises(ConfigurationError, match=r"pip install 'jts-broker\[pandas\]'"):
            gateway.get_candle_columns("005930", Timeframe.DAY, *HISTORY)
        monkeypatch.setitem(sys.modules, "pandas", None)
        with pytest.raises(ConfigurationError, match="pandas"):
            gateway.get_candles_frame("005930", Timeframe.DAY, *HISTORY)


def test_columns_are_served_from_the_offline_cache_during_an_outage(simulator, tmp_path):
    config = BrokerConfig.from_target(simulator.target, rate_limit=RateLimit(1000), offline_cache=tmp_path / "cache.sqlite")
    with GrpcBrokerGateway(config) as gateway:
        live = gateway.get_candle_columns("005930", Timeframe.DAY, *HISTORY)
        gateway.offline_cache.flush()
        simulator.stop(0)
        wait_until(lambda: gateway.status is ConnectionStatus.CONNECTING, what="connecting")
        cached = gateway.get_candle_columns("005930", Timeframe.DAY, *HISTORY)
        assert cached.source is DataSource.CACHE and cached.cached_at is not None and cached.age_s >= 0
        for name in ("time", "open", "high", "low", "close", "volume"):
            assert np.array_equal(getattr(cached, name), getattr(live, name))
        assert gateway.get_candles("005930", Timeframe.DAY, *HISTORY) == live.to_candles()
        with pytest.raises(BrokerUnavailable, match="holds no copy"):
            gateway.get_candle_columns("005930", Timeframe.DAY, date(2020, 1, 1), HISTORY[1])
