"""MockBrokerGateway: the whole interface in memory, deterministic, on the KRX grid."""

from __future__ import annotations

import inspect
import itertools
from datetime import date
from decimal import Decimal

import pytest

from jts_broker import (
    IAsyncBrokerGateway,
    IBrokerGateway,
    InvalidRequest,
    MockBrokerGateway,
    OrderRejected,
    OrderStatus,
    Side,
    SymbolNotFound,
    Timeframe,
    limit_order,
)
from jts_broker.domain import krx
from tests.conftest import wait_until

SESSION = date(2026, 3, 17)


@pytest.fixture
def mock():
    gateway = MockBrokerGateway(seed=7, session_date=SESSION)
    yield gateway
    gateway.close()


def test_interfaces_cannot_be_instantiated():
    for interface in (IBrokerGateway, IAsyncBrokerGateway):
        with pytest.raises(TypeError):
            interface()  # type: ignore[abstract]


def test_the_async_interface_mirrors_the_blocking_one():
    def public(cls):
        return {n for n, v in vars(cls).items() if not n.startswith("_") and (callable(v) or isinstance(v, property))}

    # The async twin adds one thing: status changes as an async iterator.
    assert public(IBrokerGateway) == public(IAsyncBrokerGateway) - {"status_changes"}
    # unresolved_orders reads the local order journal: no network, so no coroutine.
    for name in public(IBrokerGateway) - {"status", "rate_limiter", "stream_quotes", "subscribe_status", "unresolved_orders"}:
        assert inspect.iscoroutinefunction(getattr(IAsyncBrokerGateway, name)), name


def test_same_seed_same_data_and_other_seed_other_data(mock):
    twin = MockBrokerGateway(seed=7, session_date=SESSION)
    other = MockBrokerGateway(seed=8, session_date=SESSION)
    args = ("005930", Timeframe.DAY, date(2025, 1, 1), SESSION)
    assert mock.get_candles(*args) == twin.get_candles(*args)
    assert mock.get_candles(*args) != other.get_candles(*args)
    later = MockBrokerGateway(seed=7, session_date=date(2026, 6, 30))
    assert later.get_candles("005930", Timeframe.DAY, date(2025, 1, 1), date(2026, 3, 16)) == mock.get_candles("005930", Timeframe.DAY, date(2025, 1, 1), date(2026, 3, 16))
    for g in (twin, other, later):
        g.close()


def test_generated_prices_respect_tick_sizes_and_daily_limits(mock):
    for symbol in mock.get_symbols():
        candles = mock.get_candles(symbol.code, Timeframe.DAY, date(2020, 1, 1), SESSION)
        assert len(candles) > 1000
        for previous, candle in itertools.pairwise(candles):
            lower, upper = krx.price_limits(previous.close, symbol.security_type)
            for price in (candle.open, candle.high, candle.low, candle.close):
                assert krx.is_on_tick(price, symbol.security_type), (symbol.code, candle)
                assert lower <= price <= upper, (symbol.code, candle)
            assert candle.low <= min(candle.open, candle.close) <= max(candle.open, candle.close) <= candle.high


def test_trading_through_the_mock(mock):
    quote = mock.get_quote("A005930")
    result = mock.place_order(limit_order("MOCK-0001", "005930", Side.BUY, 3, quote.ask))
    assert result.status is OrderStatus.FILLED
    [position] = mock.get_positions()
    assert (position.quantity, position.symbol_name) == (3, "삼성전자") and mock.get_balance().currency == "KRW"
    assert mock.get_balance().cash < Decimal(100_000_000)
    with pytest.raises(OrderRejected):
        mock.place_order(limit_order("MOCK-0001", "005930", Side.BUY, 1, quote.upper_limit + krx.tick_size(quote.upper_limit) * 10))
    with pytest.raises(SymbolNotFound):
        mock.get_quote("999999")
    with pytest.raises(InvalidRequest):
        mock.get_candles("005930", Timeframe.DAY, date(2025, 2, 1), date(2025, 1, 1))


def test_weekly_and_monthly_candles_aggregate_the_days(mock):
    days = mock.get_candles("005930", Timeframe.DAY, date(2025, 3, 1), date(2025, 3, 31))
    [month] = mock.get_candles("005930", Timeframe.MONTH, date(2025, 3, 1), date(2025, 3, 31))
    assert (month.open, month.close, month.volume) == (days[0].open, days[-1].close, sum(c.volume for c in days))
    assert month.high == max(c.high for c in days) and month.low == min(c.low for c in days)
    weeks = mock.get_candles("005930", Timeframe.WEEK, date(2025, 3, 1), date(2025, 3, 31))
    assert sum(w.volume for w in weeks) == month.volume


def test_quote_stream_walks_the_session_to_the_close(mock):
    with mock.stream_quotes(["005930"]) as stream:
        prices = [q.price for q in stream]
    bar = mock.market.session_candle("005930")
    # one quote at the start, then one per event of the market clock until the day ends
    assert prices[0] == bar.open and prices[-1] == bar.close and len(prices) == mock.market.step + 1 and mock.market.clock.ended


def test_mock_status_listeners_outages_and_client_order_id_lookup():
    from jts_broker import BrokerUnavailable, ConnectionStatus, Side, limit_order

    mock = MockBrokerGateway(session_date=date(2026, 3, 17))
    seen = []
    mock.subscribe_status(lambda change: seen.append(change.status))
    assert mock.check_health() == 0.0 and mock.status is ConnectionStatus.CONNECTED
    quote = mock.get_quote("005930")
    placed = mock.place_order(limit_order("MOCK-0001", "005930", Side.BUY, 1, quote.lower_limit, client_order_id="mock-1"))
    assert mock.get_order_by_client_id("mock-1").order_id == placed.order_id
    mock.set_status(ConnectionStatus.ERROR, "rehearsal")
    with pytest.raises(BrokerUnavailable, match="rehearsal"):
        mock.get_quote("005930")
    mock.set_status(ConnectionStatus.CONNECTED)
    assert mock.get_quote("005930").price > 0
    mock.close()
    expected = [ConnectionStatus.CONNECTED, ConnectionStatus.ERROR, ConnectionStatus.CONNECTED, ConnectionStatus.DISCONNECTED]
    wait_until(lambda: len(seen) == 4, what="four status changes told")  # listeners run on the status thread
    assert seen == expected
