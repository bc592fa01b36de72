"""GrpcBrokerGateway and its asyncio twin against a real gateway server on a loopback port, over
each backend: the paper simulator, and KIS (``serve --backend kis``: KisRestGateway against the
KIS emulator over real HTTP). Where the backends legitimately differ, the test says so: KIS answers
an order as accepted (its fill shows in the order's status), reports no commission, tax or realized
profit per order, refuses with its own codes (``broker_code``), and stamps times on today's date."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from jts_broker import (
    KST,
    AccountNotFound,
    AsyncGrpcBrokerGateway,
    BrokerConfig,
    BrokerUnavailable,
    ConnectionStatus,
    GrpcBrokerGateway,
    InvalidRequest,
    OrderNotFound,
    OrderRejected,
    OrderStatus,
    Quote,
    Side,
    SymbolNotFound,
    Timeframe,
    Timeouts,
    limit_order,
    market_order,
)
from jts_broker.domain.policies import RateLimit, RetryPolicy
from jts_broker.domain.timeutil import now_kst
from jts_broker.kis import KisConfig, KisRestGateway
from jts_broker.kis.emulator import KisEmulator
from jts_broker.server import GatewayServer, SimulatorServer
from tests.conftest import ACCOUNT, AsyncAsSync
from tests.processes import free_port

pytestmark = pytest.mark.integration


class KisServer(GatewayServer):
    """The gateway server over KisRestGateway over the KIS emulator (real domain: past days'
    1-minute candles exist there), with the simulator's test handles: ``step()`` and ``market``."""

    def __init__(self, emulator: KisEmulator, folder: Path) -> None:
        self.emulator, self.market = emulator, emulator.state.market
        config = KisConfig("behaviour-app-key", "behaviour-app-secret", ACCOUNT, env="real", base_url=emulator.url,
                           token_cache=folder / "tokens", order_journal=folder / "kis-journal.sqlite", rate_limit=RateLimit(5000),
                           retry=RetryPolicy(max_attempts=2, initial_backoff_s=0.01, max_backoff_s=0.05, budget_s=2.0), settle_s=0.1)
        super().__init__(KisRestGateway(config), today=lambda: emulator.state.market.session_date)

    def step(self) -> bool:
        return self.emulator.step()


@pytest.fixture(params=["paper", "kis"])
def simulator(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SimulatorServer | KisServer]:
    """The gateway server of each backend, its replay clock stopped (tests step it)."""
    if request.param == "paper":
        with SimulatorServer(speed=0) as server:
            yield server
        return
    with KisEmulator(env="real", speed=0, rate_per_s=10_000) as emulator:
        server = KisServer(emulator, tmp_path)
        with server:
            yield server
        server.backend.close()


def is_kis(server: object) -> bool:
    return isinstance(server, KisServer)


def test_real_candle_of_2024_01_02(gateway):
    [candle] = gateway.get_candles("005930", Timeframe.DAY, date(2024, 1, 2), date(2024, 1, 2))
    assert candle.time == datetime(2024, 1, 2, tzinfo=KST)
    assert (candle.open, candle.high, candle.low, candle.close, candle.volume) == (78200, 79800, 78200, 79600, 17142847)
    assert isinstance(candle.close, Decimal)


def test_candles_are_ordered_and_cover_the_range(gateway):
    candles = gateway.get_candles("000660", Timeframe.DAY, date(2025, 1, 1), date(2025, 12, 31))
    times = [c.time for c in candles]
    assert times == sorted(times) and len(times) == len(set(times))
    assert times[0].date() == date(2025, 1, 2) and times[-1].date() == date(2025, 12, 30)
    weeks = gateway.get_candles("000660", Timeframe.WEEK, date(2025, 1, 1), date(2025, 12, 31))
    assert sum(w.volume for w in weeks) == sum(c.volume for c in candles)


def test_candle_columns_equal_the_rows_on_every_backend(gateway):
    rows = gateway.get_candles("000660", Timeframe.DAY, date(2025, 1, 1), date(2025, 12, 31))
    columns = gateway.get_candle_columns("000660", Timeframe.DAY, date(2025, 1, 1), date(2025, 12, 31))
    assert len(rows) > 200 and columns.to_candles() == list(rows) and columns.price_scale == 0


def test_minute_candles_where_held(gateway, simulator):
    bars = gateway.get_candles("005930", Timeframe.MINUTE_1, date(2025, 6, 13), date(2025, 6, 13))
    assert len(bars) == 360 and bars[0].time == datetime(2025, 6, 13, 9, 0, tzinfo=KST)
    assert [b.time for b in bars] == sorted({b.time for b in bars})
    if is_kis(simulator):
        return  # KIS has every day's minutes: "not held" is the simulator's
    with pytest.raises(InvalidRequest, match=r"exist for .* only"):
        gateway.get_candles("005930", Timeframe.MINUTE_1, date(2024, 1, 2), date(2024, 1, 2))


def test_candles_many_fetches_in_parallel_inside_the_budget(gateway):
    result = gateway.get_candles_many(["005930", "A000660", "035420"], Timeframe.DAY, date(2024, 1, 2), date(2024, 1, 5))
    assert list(result) == ["005930", "000660", "035420"]
    assert all(len(c) == 4 for c in result.values())
    with pytest.raises(SymbolNotFound):
        gateway.get_candles_many(["005930", "999999"], Timeframe.DAY, date(2024, 1, 2), date(2024, 1, 5))


def test_symbol_master_search(gateway, simulator):
    found = gateway.get_symbols("삼성전자")
    assert [s.code for s in found] == ["005930", "005935"]
    everything = gateway.get_symbols()
    assert len(everything) == 2881
    etf = gateway.get_symbol("069500")
    assert etf.security_type.value == "etf" and not etf.without_prices
    # The simulator says which symbols its data covers; KIS has prices for all.
    covered = [s.code for s in everything if not s.without_prices]
    assert len(covered) == (2881 if is_kis(simulator) else 15) and gateway.get_symbol("000810").without_prices is not is_kis(simulator)


def test_a_session_from_quote_to_cancel(gateway, simulator):
    quote = gateway.get_quote("005930")
    assert quote.previous_close == Decimal(188700) and quote.time.tzinfo == KST
    filled = gateway.place_order(limit_order(ACCOUNT, "005930", Side.BUY, 10, quote.ask))
    assert not filled.duplicate and gateway.get_order_status(filled.order_id).status is OrderStatus.FILLED
    assert filled.status is (OrderStatus.ACCEPTED if is_kis(simulator) else OrderStatus.FILLED)  # KIS answers before the fill
    [position] = gateway.get_positions()
    assert (position.quantity, position.symbol_name) == (10, "삼성전자")  # the key entities are whole (E03)
    assert gateway.get_balance().currency == "KRW"
    working = gateway.place_order(limit_order(ACCOUNT, "005930", Side.BUY, 1, quote.lower_limit))
    assert working.status is OrderStatus.ACCEPTED
    assert gateway.get_order_status(working.order_id).status is OrderStatus.ACCEPTED
    assert gateway.cancel_order(working.order_id).status is OrderStatus.CANCELLED
    assert [o.order_id for o in gateway.list_orders()] == [filled.order_id, working.order_id]
    sold = gateway.place_order(market_order(ACCOUNT, "005930", Side.SELL, 10))
    assert gateway.get_order_status(sold.order_id).status is OrderStatus.FILLED
    assert gateway.get_positions() == []
    if is_kis(simulator):
        return  # KIS reports no tax, commission or realized profit per order
    assert sold.order.tax > 0
    assert gateway.get_balance().realized_pnl == sold.order.average_fill_price * 10 - quote.ask * 10 - filled.order.commission - sold.order.commission - sold.order.tax


def test_a_resend_with_the_same_client_order_id_creates_nothing(gateway):
    order = limit_order(ACCOUNT, "005930", Side.BUY, 2, 190000, client_order_id="resend-1")
    first = gateway.place_order(order)
    second = gateway.place_order(order)
    assert second.duplicate and second.order_id == first.order_id
    assert len(gateway.list_orders()) == 1


@pytest.mark.parametrize(
    ("call", "error", "code"),
    [
        (lambda g: g.get_quote("999999"), SymbolNotFound, "SYMBOL_NOT_FOUND"),
        (lambda g: g.place_order(limit_order(ACCOUNT, "999999", Side.BUY, 1, 1000)), SymbolNotFound, "SYMBOL_NOT_FOUND"),
        (lambda g: g.place_order(limit_order(ACCOUNT, "005930", Side.BUY, 1, 190050)), OrderRejected, "TICK_SIZE"),
        (lambda g: g.place_order(limit_order(ACCOUNT, "005930", Side.BUY, 1, 300000)), OrderRejected, "PRICE_LIMIT"),
        (lambda g: g.place_order(limit_order(ACCOUNT, "005930", Side.BUY, 0, 190000)), InvalidRequest, "INVALID_QUANTITY"),
        (lambda g: g.place_order(limit_order("00000000-00", "005930", Side.BUY, 1, 190000)), AccountNotFound, "ACCOUNT_NOT_FOUND"),
        (lambda g: g.get_balance("00000000-00"), AccountNotFound, "ACCOUNT_NOT_FOUND"),
        (lambda g: g.cancel_order("SIM-99999999"), OrderNotFound, "ORDER_NOT_FOUND"),
        (lambda g: g.get_candles("005930", Timeframe.DAY, datetime(2024, 1, 2), datetime(2024, 1, 3)), InvalidRequest, ""),
    ],
    ids=["unknown-symbol-quote", "unknown-symbol-order", "off-tick", "beyond-limit", "quantity-0", "unknown-account-order",
         "unknown-account-balance", "unknown-order", "naive-datetime"],
)
def test_failures_are_typed_errors_chained_from_grpc(gateway, simulator, call, error, code):
    with pytest.raises(error) as info:
        call(gateway)
    if is_kis(simulator) and error is OrderRejected:  # KIS refuses with its own codes (the emulator's: EMUL_<reason>)
        assert (info.value.code, info.value.broker_code) == ("BROKER_REJECTED", f"EMUL_{code}")
    else:
        assert info.value.code == code
    local = code in ("INVALID_QUANTITY", "")  # caught before the network: nothing to chain from
    assert isinstance(info.value.__cause__, grpc.RpcError) != local


def test_the_simulator_refuses_malformed_orders_itself(simulator):
    """The server does not trust the client's checks: a raw request with quantity 0 is refused."""
    from jts_broker.contract._generated.pb import common_pb2, trading_pb2, trading_pb2_grpc

    with grpc.insecure_channel(simulator.target) as channel:
        stub = trading_pb2_grpc.TradingServiceStub(channel)
        request = trading_pb2.PlaceOrderRequest(account_id=ACCOUNT, client_order_id="raw-1", symbol="005930", side=1, order_type=1,
                                                time_in_force=1, quantity=0, price=common_pb2.Decimal(value="190000"))
        with pytest.raises(grpc.RpcError) as info:
            stub.PlaceOrder(request)
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        request.quantity, request.side = 1, 0
        with pytest.raises(grpc.RpcError) as info:
            stub.PlaceOrder(request)
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT and "side is missing" in info.value.details()


@pytest.mark.parametrize("kind", [GrpcBrokerGateway, AsyncGrpcBrokerGateway])
def test_an_unreachable_server_is_broker_unavailable(kind):
    gateway = AsyncAsSync(kind(BrokerConfig(grpc_port=free_port(), timeouts=Timeouts(connect_s=0.3)))) if kind is AsyncGrpcBrokerGateway \
        else kind(BrokerConfig(grpc_port=free_port(), timeouts=Timeouts(connect_s=0.3)))
    with pytest.raises(BrokerUnavailable, match="cannot reach"):
        gateway.get_quote("005930")
    # ERROR, and the health monitor goes on trying in the background (CONNECTING)
    assert gateway.status in (ConnectionStatus.ERROR, ConnectionStatus.CONNECTING)
    gateway.shutdown() if kind is AsyncGrpcBrokerGateway else gateway.close()
    assert gateway.status is ConnectionStatus.DISCONNECTED


@pytest.mark.parametrize("kind", [GrpcBrokerGateway, AsyncGrpcBrokerGateway])
def test_connect_checks_health_and_refuses_a_server_not_serving(kind, simulator):
    from grpc_health.v1 import health_pb2

    simulator._health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    gateway = kind(BrokerConfig.from_target(simulator.target))
    gateway = AsyncAsSync(gateway) if kind is AsyncGrpcBrokerGateway else gateway
    with pytest.raises(BrokerUnavailable) as info:
        gateway.connect()
    assert info.value.code == "NOT_SERVING" and gateway.status in (ConnectionStatus.ERROR, ConnectionStatus.CONNECTING)
    gateway.shutdown() if kind is AsyncGrpcBrokerGateway else gateway.close()


def test_a_server_gone_after_connect_is_broker_unavailable(gateway, simulator):
    gateway.get_quote("005930")
    simulator.stop(0)
    with pytest.raises(BrokerUnavailable) as info:
        gateway.get_quote("005930")
    assert isinstance(info.value.__cause__, grpc.RpcError)


def test_quote_stream_follows_the_replay(gateway, simulator):
    received = []
    with gateway.stream_quotes(["005930", "000660"]) as stream:
        for quote in stream:
            received.append(quote)
            if len(received) == 2:  # the current quote of each symbol: now move the replay
                threading.Thread(target=lambda: [simulator.step() for _ in range(3)]).start()
            if quote.time > received[0].time:
                break
    assert {q.symbol for q in received[:2]} == {"005930", "000660"}
    assert received[-1].time > received[0].time


def stamped_as_replayed(quote: Quote, target: Quote, simulator: object, opened: datetime) -> bool:
    """``quote`` carries the time the replay gave ``target``, as the backend stamps it."""
    if not is_kis(simulator):
        return quote.time == target.time
    # KIS stamps the replayed time of day on today's date, never later than the answer came
    # (kis.parse.quote): while that time of day is still ahead on this machine's clock (at night in
    # Seoul), the moment the answer came stands in for it.
    stamped = datetime.combine(quote.time.date(), target.time.timetz())
    return quote.time == stamped or (quote.time < stamped and opened <= quote.time <= now_kst())


def test_steps_taken_while_a_stream_opens_are_not_lost(gateway, simulator):
    opened = now_kst()
    stream = gateway.stream_quotes(["005930"])
    for _ in range(3):
        simulator.step()
    target = simulator.market.quote("005930")
    watchdog = threading.Timer(10, stream.__exit__, (None, None, None))  # ends the stream instead of hanging
    watchdog.start()
    try:
        seen = None
        for quote in stream:
            seen = quote
            if quote.price == target.price and stamped_as_replayed(quote, target, simulator, opened):
                break
    finally:
        watchdog.cancel()
        stream.__exit__(None, None, None)
    assert seen is not None and seen.price == target.price
    assert stamped_as_replayed(seen, target, simulator, opened), (seen.time, target.time)


def test_health_check_is_the_standard_service(simulator):
    with grpc.insecure_channel(simulator.target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for service in ("", "jts.broker.v1.MarketDataService", "jts.broker.v1.TradingService"):
            assert stub.Check(health_pb2.HealthCheckRequest(service=service)).status == health_pb2.HealthCheckResponse.SERVING
