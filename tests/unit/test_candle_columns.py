"""Candles as packed columns: rows -> columns -> wire -> columns -> rows is the identity, value for
value; the numpy arrays and the pandas frame hold exact integers and tz-aware times."""

from __future__ import annotations

import decimal
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jts_broker import MockBrokerGateway, Timeframe
from jts_broker.contract._generated.pb import market_data_pb2
from jts_broker.contract.columns import packed_from_proto, packed_to_proto
from jts_broker.domain.candle_columns import CandleColumns, PackedCandles, bar_ints, merge, need, pack_candles, transpose, unpack
from jts_broker.domain.errors import ConfigurationError, ServerError
from jts_broker.domain.market_data import Candle
from jts_broker.domain.timeutil import KST


@st.composite
def prices(draw: st.DrawFn) -> Decimal:
    """A positive price with 0 to 4 decimal places, written with or without trailing zeros."""
    places = draw(st.integers(0, 4))
    value = Decimal(draw(st.integers(1, 10**10))).scaleb(-places)
    return value.normalize() if draw(st.booleans()) else value


@st.composite
def candle_lists(draw: st.DrawFn) -> list[Candle]:
    seconds = sorted(draw(st.sets(st.integers(946_684_800, 4_102_444_800), max_size=40)))  # 2000 .. 2100, whole seconds
    return [Candle(datetime.fromtimestamp(s, KST), draw(prices()), draw(prices()), draw(prices()), draw(prices()), draw(st.integers(0, 10**15)))
            for s in seconds]


def wire(packed: PackedCandles) -> PackedCandles:
    """Through the contract's message and its bytes, as a client receives it."""
    return packed_from_proto(market_data_pb2.CandleColumns.FromString(packed_to_proto(packed).SerializeToString()))


@settings(max_examples=200, deadline=None)
@given(candle_lists())
def test_rows_through_the_wire_columns_come_back_equal_value_for_value(candles):
    back = unpack(wire(pack_candles(candles)))
    assert back == candles  # Decimal equality is by value: 9550.50 == 9550.5
    assert all(b.time.tzinfo is KST and b.time == c.time for b, c in zip(back, candles, strict=True))


@settings(max_examples=100, deadline=None)
@given(candle_lists())
def test_a_program_that_lowered_decimal_precision_still_gets_exact_prices(candles):
    with decimal.localcontext() as context:
        context.prec = 6  # 123456.75 would round to 123457 in this context
        packed = wire(pack_candles(candles))
        assert unpack(packed) == candles and CandleColumns.from_packed("005930", Timeframe.DAY, packed).to_candles() == candles


@settings(max_examples=200, deadline=None)
@given(candle_lists())
def test_numpy_columns_and_the_frame_hold_the_exact_integers(candles):
    packed = wire(pack_candles(candles))
    columns = CandleColumns.from_packed("005930", Timeframe.DAY, packed)
    assert len(columns) == len(candles) and columns.to_candles() == candles
    scale = columns.price_scale
    assert scale == max((bar_ints(c).places for c in candles), default=0)
    for name in ("open", "high", "low", "close", "volume"):
        array = getattr(columns, name)
        assert array.dtype == np.int64 and not array.flags.writeable
    assert columns.time.dtype == np.dtype("datetime64[s]")
    frame = columns.to_frame()
    assert isinstance(frame.index.dtype, pd.DatetimeTZDtype) and str(frame.index.dtype.tz) == "Asia/Seoul" and frame.index.name == "time"
    assert list(frame.dtypes) == [np.dtype(np.int64)] * 5 and list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert frame.attrs["price_scale"] == scale and frame.attrs["symbol"] == "005930"
    for i, candle in enumerate(candles):
        assert frame.index[i].to_pydatetime() == candle.time
        assert np.datetime64(int(candle.time.timestamp()), "s") == columns.time[i]
        for name in ("open", "high", "low", "close"):
            # an exact integer: the price in units of 10**-scale KRW, no float anywhere
            assert Decimal(int(frame[name].iloc[i])) == getattr(candle, name).scaleb(scale)
        assert int(frame["volume"].iloc[i]) == candle.volume


@settings(max_examples=100, deadline=None)
@given(candle_lists(), st.integers(1, 10))
def test_pages_merged_equal_the_whole_answer(candles, page):
    pages = [wire(pack_candles(candles[i:i + page])) for i in range(0, len(candles), page)] or [wire(pack_candles([]))]
    assert unpack(merge(pages)) == candles
    assert merge(pages).price_scale == pack_candles(candles).price_scale


@given(st.lists(st.tuples(st.integers(), st.integers(), st.integers()), max_size=50))
def test_transpose_gives_each_column_in_row_order(rows):
    assert transpose(rows, 3) == [[row[j] for row in rows] for j in range(3)]


def test_a_whole_number_written_with_decimals_needs_no_places():
    candle = Candle(datetime(2026, 3, 2, tzinfo=KST), Decimal("79600.00"), Decimal("7.97E+4"), Decimal(79500), Decimal("79600"), 1)
    packed = pack_candles([candle])
    assert packed.price_scale == 0 and list(packed.open) == [79600] and list(packed.high) == [79700]


def test_malformed_columns_are_a_server_error_not_a_shorter_answer():
    message = market_data_pb2.CandleColumns(times=[1, 2], open=[1, 2], high=[1, 2], low=[1, 2], close=[1], volume=[1, 2])
    with pytest.raises(ServerError, match="different lengths"):
        packed_from_proto(message)
    with pytest.raises(ServerError, match="price scale 19"):
        packed_from_proto(market_data_pb2.CandleColumns(price_scale=19))


def test_what_columns_cannot_hold_is_refused():
    moment = datetime(2026, 3, 2, 9, 0, tzinfo=KST)
    with pytest.raises(ServerError, match="fraction of a second"):
        bar_ints(Candle(moment + timedelta(microseconds=5), Decimal(1), Decimal(1), Decimal(1), Decimal(1), 0))
    with pytest.raises(ServerError, match="19 decimal places"):
        bar_ints(Candle(moment, Decimal("1e-19"), Decimal(1), Decimal(1), Decimal(1), 0))
    with pytest.raises(ServerError, match="64 bits"):
        packed_to_proto(pack_candles([Candle(moment.astimezone(UTC), Decimal(2**63), Decimal(1), Decimal(1), Decimal(1), 0)]))


def test_without_numpy_the_error_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "numpy", None)
    with pytest.raises(ConfigurationError, match=r"jts-broker\[pandas\]") as error:
        need("numpy")
    assert error.value.code == "MISSING_DEPENDENCY"


def test_every_gateway_has_columns_through_the_interface():
    with MockBrokerGateway() as gateway:
        rows = gateway.get_candles("A005930", Timeframe.DAY, datetime(2025, 1, 1).date(), datetime(2025, 12, 31).date())
        columns = gateway.get_candle_columns("A005930", Timeframe.DAY, datetime(2025, 1, 1).date(), datetime(2025, 12, 31).date())
        assert columns.symbol == "005930" and len(rows) > 200 and columns.to_candles() == rows
        frame = gateway.get_candles_frame("005930", Timeframe.DAY, datetime(2025, 1, 1).date(), datetime(2025, 12, 31).date())
        assert frame["close"].tolist() == [int(c.close) for c in rows]
