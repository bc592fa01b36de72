"""Offline mode against a real simulator: reads served from the SQLite cache while the server is
down (marked CACHE, with their age), orders refused fast, live data again once it is back."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from jts_broker import (
    AsyncGrpcBrokerGateway,
    BrokerConfig,
    BrokerUnavailable,
    ConfigurationError,
    ConnectionStatus,
    DataSource,
    GrpcBrokerGateway,
    RateLimit,
    Side,
    Timeframe,
    Timeouts,
    limit_order,
)
from jts_broker.client.registry import BrokerRegistry
from jts_broker.server import SimulatorServer
from tests.conftest import ACCOUNT, wait_until

pytestmark = pytest.mark.integration

CACHE, LIVE = DataSource.CACHE, DataSource.LIVE
HISTORY = (date(2024, 1, 1), date(2026, 3, 16))  # every day before the replayed session: final candles


def config_for(server: SimulatorServer, cache: Path, connect_s: float = 1.0) -> BrokerConfig:
    return BrokerConfig.from_target(server.target, rate_limit=RateLimit(10_000), offline_cache=cache, timeouts=Timeouts(connect_s=connect_s))


def wait_for(gateway, status: ConnectionStatus) -> None:
    wait_until(lambda: gateway.status is status, what=f"status {status.value}")


def warm(gateway) -> None:
    """Reads that fill the cache while the server is up."""
    gateway.get_accounts()
    gateway.get_symbols()
    gateway.get_candles("005930", Timeframe.DAY, *HISTORY)
    gateway.get_quote("005930")
    gateway.get_balance(ACCOUNT)
    gateway.get_positions(ACCOUNT)
    gateway.offline_cache.flush()


def test_an_outage_is_served_from_the_cache_and_live_data_returns_by_itself(simulator, tmp_path):
    with GrpcBrokerGateway(config_for(simulator, tmp_path / "cache.sqlite")) as gateway:
        live_candles = gateway.get_candles("005930", Timeframe.DAY, *HISTORY)
        assert live_candles.source is LIVE and live_candles.age_s == 0
        warm(gateway)

        simulator.stop(0)
        wait_for(gateway, ConnectionStatus.CONNECTING)
        candles = gateway.get_candles("005930", Timeframe.DAY, *HISTORY)
        assert candles.source is CACHE and candles == live_candles and candles.age_s >= 0 and candles.cached_at.tzinfo is not None
        symbols = gateway.get_symbols("005930")
        assert symbols.source is CACHE and [s.code for s in symbols] == ["005930"]  # filtered from the cached master
        assert gateway.get_symbol("000660").name
        quote = gateway.get_quote("005930")
        assert quote.source is CACHE and quote.age_s >= 0 and quote.price > 0
        assert gateway.get_balance(ACCOUNT).source is CACHE
        assert gateway.get_positions(ACCOUNT).source is CACHE
        assert gateway.get_accounts().source is CACHE

        with pytest.raises(BrokerUnavailable) as refused:
            gateway.place_order(limit_order(ACCOUNT, "005930", Side.BUY, 1, quote.lower_limit))
        assert refused.value.code == "NOT_CONNECTED"  # at once, from the known status: nothing was sent, no connect tried

        simulator.start()
        wait_for(gateway, ConnectionStatus.CONNECTED)
        assert gateway.get_quote("005930").source is LIVE
        assert gateway.get_candles("005930", Timeframe.DAY, *HISTORY).source is LIVE


def test_what_was_never_cached_is_an_error_not_an_empty_result(simulator, tmp_path):
    with GrpcBrokerGateway(config_for(simulator, tmp_path / "cache.sqlite")) as gateway:
        gateway.get_candles("005930", Timeframe.DAY, *HISTORY)
        gateway.offline_cache.flush()
        simulator.stop(0)
        wait_for(gateway, ConnectionStatus.CONNECTING)
        with pytest.raises(BrokerUnavailable, match="holds no copy"):
            gateway.get_quote("000660")
        with pytest.raises(BrokerUnavailable, match="holds no copy"):  # wider than what was fetched
            gateway.get_candles("005930", Timeframe.DAY, date(2023, 1, 1), HISTORY[1])
        with pytest.raises(BrokerUnavailable, match="holds no copy"):  # the session's candle is unfinished: never cached
            gateway.get_candles("005930", Timeframe.DAY, date(2026, 3, 17), date(2026, 3, 17))
        assert gateway.get_candles("005930", Timeframe.DAY, date(2025, 1, 1), date(2025, 1, 31)).source is CACHE  # inside the span


def test_the_cache_survives_a_restart_of_the_client(simulator, tmp_path):
    cache = tmp_path / "cache.sqlite"
    with GrpcBrokerGateway(config_for(simulator, cache)) as gateway:
        warm(gateway)
    simulator.stop(0)
    gateway = GrpcBrokerGateway(config_for(simulator, cache, connect_s=0.3))  # a new process would do the same
    try:
        candles = gateway.get_candles("005930", Timeframe.DAY, *HISTORY)  # the first call waits for the connect timeout
        assert candles.source is CACHE and len(candles) > 500
        assert gateway.get_balance(ACCOUNT).source is CACHE  # default account from the cached account list
    finally:
        gateway.close()


WRITER = """
import sys
from datetime import date
from pathlib import Path
from jts_broker import BrokerConfig, GrpcBrokerGateway, RateLimit, Timeframe
target, cache, code = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
with GrpcBrokerGateway(BrokerConfig.from_target(target, rate_limit=RateLimit(10_000), offline_cache=cache)) as gateway:
    for _ in range(20):
        gateway.get_candles(code, Timeframe.DAY, date(2020, 1, 1), date(2026, 3, 16))
        gateway.get_quote(code)
"""


def test_concurrent_processes_share_one_cache_file(simulator, tmp_path):
    cache = tmp_path / "shared.sqlite"
    codes = ["005930", "000660", "035420"]
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, simulator.target, str(cache), code], stderr=subprocess.PIPE, text=True)
               for code in codes]
    with GrpcBrokerGateway(config_for(simulator, cache)) as gateway:  # and this process writes too
        for _ in range(20):
            gateway.get_candles("005380", Timeframe.DAY, date(2020, 1, 1), HISTORY[1])
        gateway.offline_cache.flush()
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
    simulator.stop(0)
    gateway = GrpcBrokerGateway(config_for(simulator, cache, connect_s=0.3))
    try:
        for code in [*codes, "005380"]:
            candles = gateway.get_candles(code, Timeframe.DAY, date(2020, 1, 1), HISTORY[1])
            assert candles.source is CACHE and len(candles) > 1000
        assert all(gateway.get_quote(code).source is CACHE for code in codes)
    finally:
        gateway.close()


@pytest.mark.parametrize("content", [b"this is not a database, it is somebody's notes\n" * 100, "sqlite-foreign", "sqlite-foreign-meta"])
def test_a_corrupt_or_foreign_cache_file_is_a_clear_error_and_is_left_untouched(tmp_path, content):
    path = tmp_path / "cache.sqlite"
    if isinstance(content, str):
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE recipes (name TEXT)")
            db.execute("INSERT INTO recipes VALUES ('kimchi')")
            if content.endswith("meta"):  # even a table named like ours does not make it ours
                db.execute("CREATE TABLE meta (key TEXT, value TEXT)")
                db.execute("INSERT INTO meta VALUES ('application', 'recipe box')")
        db.close()
    else:
        path.write_bytes(content)
    before = path.read_bytes()
    config_file = tmp_path / "jts-broker.toml"
    config_text = f"[cache]\npath = '{path}'\n[brokers.a]\nport = 50551\n"
    config_file.write_text(config_text)
    with pytest.raises(ConfigurationError, match=r"offline cache .* is unusable") as caught:
        GrpcBrokerGateway(BrokerConfig(offline_cache=path))
    assert "move the file away" in str(caught.value)
    with BrokerRegistry.from_config(config_file) as registry, pytest.raises(ConfigurationError, match="unusable"):
        registry.gateway("a")
    assert path.read_bytes() == before
    assert config_file.read_text() == config_text  # the user's config is never touched


def test_the_async_gateway_serves_the_cache_during_an_outage(simulator, tmp_path):
    async def scenario() -> None:
        async with AsyncGrpcBrokerGateway(config_for(simulator, tmp_path / "cache.sqlite")) as gateway:
            assert (await gateway.get_quote("005930")).source is LIVE
            symbol = await gateway.get_symbol("000660")
            live = await gateway.get_candles("000660", Timeframe.DAY, *HISTORY)
            gateway.offline_cache.flush()
            simulator.stop(0)
            while gateway.status is ConnectionStatus.CONNECTED:
                await asyncio.sleep(0.01)
            cached = await gateway.get_candles("000660", Timeframe.DAY, *HISTORY)
            assert cached.source is CACHE and cached == live
            assert (await gateway.get_quote("005930")).source is CACHE
            assert await gateway.get_symbol("000660") == symbol
            with pytest.raises(BrokerUnavailable, match="holds no copy"):
                await gateway.get_symbol("005380")
            simulator.start()
            while gateway.status is not ConnectionStatus.CONNECTED:
                await asyncio.sleep(0.01)
            assert (await gateway.get_quote("005930")).source is LIVE

    asyncio.run(scenario())
