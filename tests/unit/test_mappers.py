"""The generated mappers: domain -> proto -> domain is the identity for every entity, and the
upb and betterproto2 twins read the same bytes into identical domain objects."""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jts_broker.contract._generated import betterproto_mappers as bpm
from jts_broker.contract._generated import mappers as pbm
from jts_broker.contract._generated.betterproto.jts.broker import v1 as bp
from jts_broker.contract._generated.pb import market_data_pb2, simulator_pb2, trading_pb2
from jts_broker.domain import enums
from jts_broker.domain.errors import ServerError
from jts_broker.domain.market_data import Candle, Quote, Symbol
from jts_broker.domain.simulation import ClockState
from jts_broker.domain.timeutil import KST
from jts_broker.domain.trading import Account, Balance, Order, OrderRequest, OrderResult, Position

prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999999"), places=2, allow_nan=False, allow_infinity=False)
money = st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=4, allow_nan=False, allow_infinity=False)
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)).map(lambda d: d.astimezone(KST))
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
qty = st.integers(min_value=0, max_value=10**12)

ENTITIES = {
    Symbol: st.builds(Symbol, code=text, name=text, market=st.sampled_from(enums.Market), security_type=st.sampled_from(enums.SecurityType),
                      sector=text, listed_date=st.none() | st.dates(min_value=datetime(1950, 1, 1).date()), board_lot=st.integers(1, 100)),
    Candle: st.builds(Candle, time=times, open=prices, high=prices, low=prices, close=prices, volume=qty),
    Quote: st.builds(Quote, symbol=text, time=times, price=prices, open=prices, high=prices, low=prices, previous_close=prices, upper_limit=prices,
                     lower_limit=prices, bid=prices, ask=prices, bid_size=qty, ask_size=qty, volume=qty),
    Account: st.builds(Account, account_id=text, account_name=text, account_type=st.sampled_from(enums.AccountType)),
    Balance: st.builds(Balance, account_id=text, cash=money, buying_power=money, market_value=money, total_equity=money, unrealized_pnl=money,
                       realized_pnl=money, time=times),
    Position: st.builds(Position, account_id=text, symbol=text, quantity=qty, sellable_quantity=qty, average_price=prices, last_price=prices,
                        market_value=money, unrealized_pnl=money),
    OrderRequest: st.builds(OrderRequest, account_id=text, symbol=text, side=st.sampled_from(enums.Side), quantity=qty,
                            order_type=st.sampled_from(enums.OrderType), price=st.none() | prices, time_in_force=st.sampled_from(enums.TimeInForce),
                            client_order_id=text),
}
ENTITIES[Order] = st.builds(Order, order_id=text, client_order_id=text, account_id=text, symbol=text, side=st.sampled_from(enums.Side),
                            order_type=st.sampled_from(enums.OrderType), time_in_force=st.sampled_from(enums.TimeInForce), quantity=qty,
                            price=st.none() | prices, status=st.sampled_from(enums.OrderStatus), filled_quantity=qty,
                            average_fill_price=st.none() | prices, commission=money, tax=money, reject_code=text, reject_reason=text,
                            created_time=times, updated_time=times)
ENTITIES[OrderResult] = st.builds(OrderResult, order=ENTITIES[Order], duplicate=st.booleans())
days = st.dates(min_value=date(1950, 1, 1))
counts = st.integers(min_value=0, max_value=10**6)
ENTITIES[ClockState] = st.builds(ClockState, now=times, trading_day=days, phase=st.sampled_from(enums.MarketPhase),
                                 speed=st.floats(min_value=0, max_value=1e6, allow_nan=False), paused=st.booleans(), ended=st.booleans(),
                                 first_day=days, last_day=days, day_number=counts, day_count=counts, step=counts)

PROTO = {Symbol: (market_data_pb2.Symbol, bp.Symbol, "symbol"), Candle: (market_data_pb2.Candle, bp.Candle, "candle"),
         Quote: (market_data_pb2.Quote, bp.Quote, "quote"), Account: (trading_pb2.Account, bp.Account, "account"),
         Balance: (trading_pb2.Balance, bp.Balance, "balance"), Position: (trading_pb2.Position, bp.Position, "position"),
         OrderRequest: (trading_pb2.PlaceOrderRequest, bp.PlaceOrderRequest, "order_request"), Order: (trading_pb2.Order, bp.Order, "order"),
         OrderResult: (trading_pb2.PlaceOrderResponse, bp.PlaceOrderResponse, "order_result"),
         ClockState: (simulator_pb2.ClockState, bp.ClockState, "clock_state")}
MAPPING = Path(__file__).parents[2] / "codegen" / "mapping.toml"


def test_every_mapped_entity_is_covered():
    """Every pair codegen/mapping.toml maps is round-tripped below (the mappers pass arguments by
    position: these tests are what catches one out of place)."""
    mapped = tomllib.loads(MAPPING.read_text())["messages"]
    assert set(PROTO) == set(ENTITIES)
    assert {(pb.DESCRIPTOR.name, f"{entity.__module__.rsplit('.', 1)[-1]}.{entity.__name__}") for entity, (pb, _, _) in PROTO.items()} == set(mapped.items())


@pytest.mark.parametrize("entity", list(ENTITIES), ids=lambda e: e.__name__)
def test_round_trip_through_the_wire_in_both_runtimes(entity):
    pb_cls, bp_cls, name = PROTO[entity]

    @settings(max_examples=40, deadline=None)
    @given(ENTITIES[entity])
    def check(value):
        # upb: domain -> proto -> bytes -> proto -> domain
        wire = getattr(pbm, f"{name}_to_proto")(value).SerializeToString()
        assert getattr(pbm, f"{name}_from_proto")(pb_cls.FromString(wire)) == value
        # betterproto2 reads the very same bytes into the very same domain object ...
        assert getattr(bpm, f"{name}_from_proto")(bp_cls.parse(wire)) == value
        # ... and writes bytes upb reads back to it.
        assert getattr(pbm, f"{name}_from_proto")(pb_cls.FromString(bytes(getattr(bpm, f"{name}_to_proto")(value)))) == value

    check()


def test_times_come_back_in_seoul_and_decimals_keep_their_scale():
    candle = Candle(datetime(2024, 1, 2, tzinfo=KST) + timedelta(microseconds=7), Decimal("79600"), Decimal("79800"), Decimal("78200"),
                    Decimal("70512.50"), 1)
    back = pbm.candle_from_proto(pbm.candle_to_proto(candle))
    assert back.time.tzinfo == KST and back.time == candle.time
    assert str(back.close) == "70512.50"


def test_plain_notation_on_the_wire():
    assert pbm.decimal_to_proto(Decimal("1E+3")).value == "1000"


def test_missing_required_values_raise_instead_of_defaulting():
    with pytest.raises(ServerError, match=r"Candle\.open"):
        pbm.candle_from_proto(market_data_pb2.Candle(time=pbm.timestamp_to_proto(datetime(2024, 1, 2, tzinfo=KST))))
    with pytest.raises(ServerError, match="time"):
        pbm.candle_from_proto(market_data_pb2.Candle())
    with pytest.raises(ServerError, match=r"Order\.side"):
        pbm.order_from_proto(trading_pb2.Order())
    with pytest.raises(ServerError, match="not a decimal"):
        pbm.decimal_from_proto(pbm.common_pb2.Decimal(value="12abc"))


@pytest.mark.parametrize("runtime", [pbm, bpm])
def test_a_quote_missing_a_price_names_the_field_and_a_bad_price_is_never_cached(runtime):
    # The mappers read decimals through one cache of parsed texts: a failure must raise every time
    # (never be remembered as a value), and the field a missing price belongs to is named.
    quote = pbm.quote_to_proto(Quote("005930", datetime(2024, 1, 2, 9, tzinfo=KST), *[Decimal(70000)] * 9, 1, 2, 3))
    quote.ClearField("bid")
    wire = quote.SerializeToString()
    read = (lambda b: pbm.quote_from_proto(market_data_pb2.Quote.FromString(b))) if runtime is pbm else (lambda b: bpm.quote_from_proto(bp.Quote.parse(b)))
    with pytest.raises(ServerError, match=r"Quote\.bid is missing"):
        read(wire)
    for _ in range(2):
        quote.bid.value = "NaN"
        with pytest.raises(ServerError, match="not a finite decimal"):
            read(quote.SerializeToString())
    quote.bid.value = "69900"
    assert read(quote.SerializeToString()).bid == Decimal(69900)
