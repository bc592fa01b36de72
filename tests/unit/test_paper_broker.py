"""The paper-trading engine: KRX checks, fills, fees, the order lifecycle, deduplication."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

import pytest

from jts_broker import (
    Account,
    AccountNotFound,
    AccountType,
    DuplicateClientOrderId,
    InvalidRequest,
    Market,
    OrderNotFound,
    OrderRejected,
    OrderStatus,
    SecurityType,
    Side,
    Symbol,
    SymbolNotFound,
    TimeInForce,
    limit_order,
    market_order,
)
from jts_broker.domain.enums import MarketPhase
from jts_broker.domain.market_data import Candle
from jts_broker.domain.orders import prepare_order
from jts_broker.domain.timeutil import KST
from jts_broker.paper.broker import PaperBroker
from jts_broker.paper.market import BarMarket, DailyBar

D = Decimal
ACC = "P-1"
DAY1, DAY2, DAY3 = date(2026, 3, 16), date(2026, 3, 17), date(2026, 3, 18)


def place(broker: PaperBroker, order):
    """What a gateway does before an order reaches the broker: check it and give it a client order id."""
    return broker.place(prepare_order(order))


def _minute(day: date, hhmm: str, o: int, h: int, lo: int, c: int, volume: int) -> Candle:
    return Candle(datetime.combine(day, time.fromisoformat(hhmm), tzinfo=KST), D(o), D(h), D(lo), D(c), volume)


def make_broker(cash: int = 10_000_000, volume: int = 400_000, minute_volume: int = 4_000, days: int = 1) -> PaperBroker:
    """DAY2's first minutes are real 1-minute bars, so the path is known price by price (four a
    minute, 15 s apart): 09:00 flat at 77,300; 09:01 down to 76,000 (77,300, 77,300, 76,000,
    76,000); 09:02 up to 79,000 (76,000, 76,000, 79,000, 79,000); then a bridge to the close,
    78,500. The size at the touch is a quarter of the minute's volume (``minute_volume`` // 4).
    ``days=2`` replays DAY3 too."""
    symbols = [Symbol("005930", "삼성전자", Market.KOSPI, SecurityType.STOCK), Symbol("069500", "KODEX 200", Market.KOSPI, SecurityType.ETF),
               Symbol("000001", "Halted", Market.KOSDAQ, SecurityType.STOCK)]
    daily = {
        "005930": [DailyBar(DAY1, D(77000), D(77500), D(76500), D(77300), 1000), DailyBar(DAY2, D(77300), D(79000), D(76000), D(78500), volume),
                   DailyBar(DAY3, D(78000), D(78600), D(77800), D(78200), volume)],
        "069500": [DailyBar(DAY1, D(43335), D(43400), D(43200), D(43300), 1000), DailyBar(DAY2, D(43300), D(43500), D(43100), D(43400), volume),
                   DailyBar(DAY3, D(43400), D(43500), D(43300), D(43400), volume)],
        "000001": [DailyBar(DAY1, D(1000), D(1000), D(1000), D(1000), 10)],
    }
    minute = {"005930": [_minute(DAY2, "09:00", 77300, 77300, 77300, 77300, minute_volume),
                         _minute(DAY2, "09:01", 77300, 77300, 76000, 76000, minute_volume),
                         _minute(DAY2, "09:02", 76000, 79000, 76000, 79000, minute_volume)]}
    market = BarMarket(symbols, daily, DAY2, DAY2 if days == 1 else DAY3, minute=minute)
    return PaperBroker(market, [Account(ACC, "p", AccountType.PAPER)], D(cash))


def at(broker: PaperBroker, hhmm: str, day: date = DAY2) -> None:
    """Move the broker's market clock to ``hhmm`` (Asia/Seoul) of ``day``, matching on the way."""
    broker.market.clock.advance_to(datetime.combine(day, time.fromisoformat(hhmm), tzinfo=KST))


def test_quotes_start_at_the_open_with_limits_from_the_previous_close():
    broker = make_broker()
    quote = broker.market.quote("005930")
    assert (quote.price, quote.previous_close, quote.lower_limit, quote.upper_limit) == (D(77300), D(77300), D(54200), D(100400))
    assert quote.ask == D(77400) and quote.bid == D(77300) and quote.ask_size == 1000


def test_marketable_limit_buy_fills_at_the_ask_with_commission():
    broker = make_broker()
    result = place(broker, limit_order(ACC, "005930", Side.BUY, 10, 78000))
    order = result.order
    assert order.status is OrderStatus.FILLED and order.filled_quantity == 10
    assert order.average_fill_price == D(77400)  # price improvement: the ask, not the limit
    assert order.commission == D(116)  # floor(774,000 x 0.015%)
    balance = broker.balance(ACC)
    assert balance.cash == D(10_000_000 - 774_000 - 116)
    [position] = broker.positions(ACC)
    assert (position.quantity, position.average_price) == (10, D(77400))


def test_a_resting_limit_fills_at_its_own_price_when_the_path_jumps_past_it_and_can_be_cancelled():
    broker = make_broker()
    resting = place(broker, limit_order(ACC, "005930", Side.BUY, 5, 76500)).order
    other = place(broker, limit_order(ACC, "005930", Side.BUY, 5, 70000)).order
    assert resting.status is OrderStatus.ACCEPTED
    assert broker.balance(ACC).buying_power < broker.balance(ACC).cash  # reserved for the working orders
    at(broker, "09:01:15")  # still 77,300
    assert broker.order(resting.order_id).status is OrderStatus.ACCEPTED
    at(broker, "09:01:30")  # one step from 77,300 to 76,000: through the limit
    filled = broker.order(resting.order_id)
    assert filled.status is OrderStatus.FILLED and filled.average_fill_price == D(76500)  # its own price, never the 76,000 jumped to
    cancelled = broker.cancel(other.order_id)
    assert cancelled.status is OrderStatus.CANCELLED
    assert broker.balance(ACC).buying_power == broker.balance(ACC).cash
    with pytest.raises(OrderRejected) as info:
        broker.cancel(other.order_id)
    assert info.value.code == "ORDER_NOT_CANCELLABLE"


def test_the_rest_of_a_partly_filled_limit_fills_at_its_own_price_never_better():
    broker = make_broker(cash=1_000_000_000, minute_volume=40)  # 10 shares trade at each price point
    order = place(broker, limit_order(ACC, "005930", Side.BUY, 25, 77400)).order
    assert (order.filled_quantity, order.average_fill_price) == (10, D(77400))  # on arrival: the ask
    at(broker, "09:01:30")  # the path falls to 76,000: the rest rested at 77,400 and is filled there, not at 76,100
    filled = broker.order(order.order_id)
    assert filled.status is OrderStatus.FILLED and filled.average_fill_price == D(77400)


def test_where_nothing_traded_nothing_fills():
    broker = make_broker(minute_volume=0)
    order = place(broker, market_order(ACC, "005930", Side.BUY, 5)).order
    assert order.filled_quantity == 0 and broker.market.quote("005930").ask_size == 0
    at(broker, "09:02:30")  # 09:03 on is bridged with the day's remaining volume
    assert broker.order(order.order_id).filled_quantity == 0
    at(broker, "09:03:15")
    assert broker.order(order.order_id).status is OrderStatus.FILLED


def test_a_large_order_fills_in_parts_by_the_volume_at_the_touch():
    broker = make_broker(cash=1_000_000_000, minute_volume=40)  # size at the touch: 10 shares
    order = place(broker, market_order(ACC, "005930", Side.BUY, 25)).order
    assert (order.status, order.filled_quantity) == (OrderStatus.PARTIALLY_FILLED, 10)
    assert broker.market.advance()
    assert broker.order(order.order_id).filled_quantity == 20
    assert broker.market.advance()
    assert broker.order(order.order_id).status is OrderStatus.FILLED


def test_participation_caps_the_share_of_the_touch_an_order_takes():
    broker = make_broker(cash=1_000_000_000, minute_volume=40)
    broker.participation = 0.5
    order = place(broker, market_order(ACC, "005930", Side.BUY, 25)).order
    assert order.filled_quantity == 5


def test_ioc_cancels_the_rest_and_fok_fills_all_or_nothing():
    broker = make_broker(cash=1_000_000_000, minute_volume=40)
    ioc = place(broker, market_order(ACC, "005930", Side.BUY, 25, time_in_force=TimeInForce.IOC)).order
    assert (ioc.status, ioc.filled_quantity) == (OrderStatus.CANCELLED, 10)
    broker.market.advance()
    fok = place(broker, market_order(ACC, "005930", Side.BUY, 25, time_in_force=TimeInForce.FOK)).order
    assert (fok.status, fok.filled_quantity) == (OrderStatus.CANCELLED, 0)


def test_the_closing_auction_fills_at_the_close_and_day_orders_then_expire():
    broker = make_broker()
    resting = place(broker, limit_order(ACC, "005930", Side.BUY, 2, 70000)).order  # never reached
    at(broker, "15:25")
    assert broker.market.clock.phase is MarketPhase.CLOSING_AUCTION
    auction = place(broker, limit_order(ACC, "005930", Side.BUY, 3, 79000)).order
    assert auction.status is OrderStatus.ACCEPTED  # waits for the auction, even though marketable
    with pytest.raises(OrderRejected) as refused:
        place(broker, market_order(ACC, "005930", Side.BUY, 1, time_in_force=TimeInForce.IOC))
    assert refused.value.code == "TIME_IN_FORCE_NOT_ALLOWED"
    at(broker, "15:30")
    filled = broker.order(auction.order_id)
    assert filled.status is OrderStatus.FILLED and filled.average_fill_price == D(78500)  # the day's close, one price for all
    expired = broker.order(resting.order_id)
    assert expired.status is OrderStatus.EXPIRED and expired.reject_code == "EXPIRED" and "2026-03-17" in expired.reject_reason
    assert broker.balance(ACC).buying_power == broker.balance(ACC).cash  # nothing reserved any more
    with pytest.raises(OrderRejected) as closed:
        place(broker, limit_order(ACC, "005930", Side.BUY, 1, 78500))
    assert closed.value.code == "MARKET_CLOSED"


def test_the_opening_auction_fills_at_the_open_of_the_next_day():
    broker = make_broker(days=2)
    at(broker, "08:45", DAY3)
    assert broker.market.session_date == DAY3 and broker.market.clock.phase is MarketPhase.OPENING_AUCTION
    quote = broker.market.quote("005930")
    assert quote.price == D(78500) and quote.volume == 0  # before the open: yesterday's close, nothing traded
    order = place(broker, limit_order(ACC, "005930", Side.BUY, 4, 78300)).order
    assert order.status is OrderStatus.ACCEPTED
    at(broker, "09:00", DAY3)
    filled = broker.order(order.order_id)
    assert filled.status is OrderStatus.FILLED and filled.average_fill_price == D(78000)  # the open, below the limit: an auction's single price


def test_sell_charges_tax_and_realizes_pnl():
    broker = make_broker()
    place(broker, limit_order(ACC, "005930", Side.BUY, 10, 77400))
    at(broker, "09:02:30")  # the high, 79,000
    sell = place(broker, limit_order(ACC, "005930", Side.SELL, 10, 79000)).order
    assert sell.status is OrderStatus.FILLED and sell.average_fill_price == D(79000)
    assert sell.tax == D(1580)  # 790,000 x 0.20% (KOSPI, 2026)
    assert sell.commission == D(118)
    assert broker.positions(ACC) == []
    assert broker.balance(ACC).realized_pnl == D(790_000 - 774_000 - 116 - 118 - 1580)  # both commissions and the tax


def test_etfs_use_five_won_ticks_and_pay_no_tax():
    broker = make_broker()
    place(broker, limit_order(ACC, "069500", Side.BUY, 1, 43305))
    sell = place(broker, limit_order(ACC, "069500", Side.SELL, 1, 43300)).order
    assert sell.status is OrderStatus.FILLED and sell.tax == 0


@pytest.mark.parametrize(
    ("order", "code"),
    [
        (limit_order(ACC, "005930", Side.BUY, 1, 77350), "TICK_SIZE"),
        (limit_order(ACC, "005930", Side.BUY, 1, 100500), "PRICE_LIMIT"),
        (limit_order(ACC, "005930", Side.BUY, 1, 54100), "PRICE_LIMIT"),
        (limit_order(ACC, "005930", Side.BUY, 200, 77400), "INSUFFICIENT_BUYING_POWER"),
        (market_order(ACC, "005930", Side.BUY, 100), "INSUFFICIENT_BUYING_POWER"),  # reserved at the upper limit
        (limit_order(ACC, "005930", Side.SELL, 1, 77300), "INSUFFICIENT_QUANTITY"),
        (limit_order(ACC, "000001", Side.BUY, 1, 1000), "NO_SESSION"),
    ],
)
def test_rejections_are_recorded_with_a_reason(order, code):
    broker = make_broker()
    with pytest.raises(OrderRejected) as info:
        place(broker, order)
    assert info.value.code == code and info.value.order_id
    recorded = broker.order(info.value.order_id)
    assert (recorded.status, recorded.reject_code) == (OrderStatus.REJECTED, code)
    assert broker.balance(ACC).buying_power == broker.balance(ACC).cash  # nothing left reserved


def test_errors_before_acceptance_record_nothing():
    broker = make_broker()
    with pytest.raises(AccountNotFound):
        place(broker, limit_order("nope", "005930", Side.BUY, 1, 77400))
    with pytest.raises(SymbolNotFound):
        place(broker, limit_order(ACC, "999999", Side.BUY, 1, 77400))
    with pytest.raises(InvalidRequest):
        place(broker, limit_order(ACC, "005930", Side.BUY, 0, 77400))
    assert broker.orders(ACC) == []
    with pytest.raises(OrderNotFound):
        broker.order("SIM-404")


def test_a_client_order_id_is_never_executed_twice():
    broker = make_broker()
    first = place(broker, limit_order(ACC, "005930", Side.BUY, 10, 77400, client_order_id="c-1"))
    again = place(broker, limit_order(ACC, "005930", Side.BUY, 10, 77400, client_order_id="c-1"))
    assert again.duplicate and again.order == first.order
    assert len(broker.orders(ACC)) == 1 and broker.positions(ACC)[0].quantity == 10
    with pytest.raises(DuplicateClientOrderId):
        place(broker, limit_order(ACC, "005930", Side.BUY, 11, 77400, client_order_id="c-1"))
    assert broker.order_by_client_id(ACC, "c-1").order_id == first.order_id


def test_a_resent_rejected_order_is_rejected_again_with_the_same_id():
    broker = make_broker()
    with pytest.raises(OrderRejected) as first:
        place(broker, limit_order(ACC, "005930", Side.BUY, 1, 77350, client_order_id="c-2"))
    with pytest.raises(OrderRejected) as second:
        place(broker, limit_order(ACC, "005930", Side.BUY, 1, 77350, client_order_id="c-2"))
    assert first.value.order_id == second.value.order_id
    assert len(broker.orders(ACC)) == 1


def test_an_order_without_a_client_order_id_is_refused_not_given_one():
    # Two identical requests without an id must not make two orders: the broker cannot tell them apart.
    broker = make_broker()
    for _ in range(2):
        with pytest.raises(InvalidRequest) as caught:
            broker.place(limit_order(ACC, "005930", Side.BUY, 1, 77400))
        assert caught.value.code == "MISSING_CLIENT_ORDER_ID"
    assert broker.orders(ACC) == []


def test_a_quote_takes_its_price_and_its_time_from_the_same_step():
    # The clock may move while a quote is built (the simulator's clock thread): price and time
    # must both come from one reading of it. The path below moves the clock at the worst moment.
    broker = make_broker()
    market = broker.market
    path = market.path("005930", DAY2)
    assert path is not None
    expected = market.quote("005930")
    looked_up = path.index_at

    def moves_the_clock(moment):
        market.clock.step_events(20)
        return looked_up(moment)

    path.index_at = moves_the_clock
    quote = market.quote("005930")
    assert (quote.price, quote.time) == (expected.price, expected.time)


def test_order_and_balance_times_follow_the_replay_clock():
    broker = make_broker()
    placed = broker.place(limit_order(ACC, "005930", Side.BUY, 1, D(70000), client_order_id="clocked")).order
    assert placed.created_time == broker.market.now() and placed.created_time.date() == DAY2  # the replayed day, not the machine's
    broker.market.advance()
    cancelled = broker.cancel(placed.order_id)
    assert cancelled.updated_time == broker.market.now() > placed.created_time
    assert broker.balance(ACC).time == broker.market.now()
