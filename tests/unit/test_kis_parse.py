"""KIS answers -> domain values, on the real and documented bodies of tests/fixtures/kis/ (copied
from ../shared/fixtures/kis/; provenance in its README). An unknown extra field changes nothing; a
missing required field is a ServerError naming it."""

from __future__ import annotations

import copy
import json
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from jts_broker.domain.enums import OrderStatus, OrderType, Side, Timeframe, TimeInForce
from jts_broker.domain.errors import ServerError
from jts_broker.domain.timeutil import KST
from jts_broker.kis import parse
from jts_broker.kis.token import parse_token

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kis"
RECEIVED = datetime(2024, 5, 10, 15, 40, tzinfo=KST)

# KIS has no recorded inquire-asking-price-exp-ccn body in the fixtures: this one is built from the
# field names of KIS's workbook (sheet 주식현재가 호가/예상체결), values chosen for the test.
ASKING = {"output1": {"aspr_acpt_hour": "153000", "askp1": "75800", "bidp1": "75700", "askp_rsqn1": "120345", "bidp_rsqn1": "98765",
                      "askp2": "75900", "bidp2": "75600"},
          "output2": {"antc_cnpr": "0"}, "rt_cd": "0", "msg_cd": "MCA00000", "msg1": "정상처리 되었습니다."}


def body(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def kst(*args: int) -> datetime:
    return datetime(*args, tzinfo=KST)


def test_inquire_price_is_the_recorded_quote_of_005930() -> None:
    quote = parse.quote("005930", body("inquire-price.json"), ASKING, RECEIVED)
    assert (quote.price, quote.previous_close, quote.upper_limit, quote.lower_limit) == (Decimal(75700), Decimal(77300), Decimal(100400), Decimal(54200))
    assert (quote.open, quote.high, quote.low, quote.volume) == (Decimal(76100), Decimal(76600), Decimal(75600), 14_598_755)
    assert (quote.bid, quote.ask, quote.bid_size, quote.ask_size) == (Decimal(75700), Decimal(75800), 98765, 120345)
    assert quote.change == Decimal(-1600)
    assert quote.time == kst(2024, 5, 10, 15, 30) and quote.time.tzinfo is KST
    assert all(type(v) is Decimal for v in (quote.price, quote.open, quote.bid, quote.upper_limit))


def test_a_quote_is_never_stamped_after_it_was_received() -> None:
    early = datetime(2024, 5, 10, 10, 0, tzinfo=KST)  # the book's 15:30 cannot be later than the answer
    assert parse.quote("005930", body("inquire-price.json"), ASKING, early).time == early


def test_inquire_price_doc_example_is_000660_before_the_tick_reform() -> None:
    quote = parse.quote("000660", body("inquire-price.doc-example.json"), ASKING, RECEIVED)
    assert (quote.price, quote.upper_limit, quote.lower_limit, quote.volume) == (Decimal(128500), Decimal(167000), Decimal(90000), 2_669_075)


def test_monthly_candles_of_000050_oldest_first_at_each_months_start() -> None:
    candles = parse.period_candles(body("inquire-daily-itemchartprice.json"), Timeframe.MONTH)
    assert len(candles) == 24
    assert [c.time for c in candles] == sorted(c.time for c in candles)
    assert candles[0].time == kst(2022, 7, 1) and candles[-1].time == kst(2024, 6, 1)
    first, last = candles[0], candles[-1]
    assert (first.open, first.high, first.low, first.close, first.volume) == (Decimal(12300), Decimal(13950), Decimal(11500), Decimal(13150), 105_673)
    assert (last.open, last.high, last.low, last.close, last.volume) == (Decimal(7740), Decimal(8050), Decimal(7450), Decimal(7780), 120_364)


def test_daily_candle_of_005930_on_2024_05_10() -> None:
    (candle,) = parse.period_candles(body("inquire-daily-itemchartprice.D-005930-trimmed.json"), Timeframe.DAY)
    assert candle.time == kst(2024, 5, 10)
    assert (candle.open, candle.high, candle.low, candle.close, candle.volume) == (Decimal(80400), Decimal(81100), Decimal(78900), Decimal(79200), 16_976_124)


def test_minute_candles_of_a_past_day_oldest_first() -> None:
    candles = parse.minute_candles(body("inquire-time-dailychartprice.doc-example.json"), "inquire-time-dailychartprice")
    assert [c.time for c in candles] == [kst(2024, 11, 8, 12, 1), kst(2024, 11, 8, 13, 59), kst(2024, 11, 8, 14, 0)]
    last = candles[-1]
    assert (last.open, last.high, last.low, last.close, last.volume) == (Decimal(57300), Decimal(57400), Decimal(57200), Decimal(57300), 59_047)


def test_balance_and_positions_of_the_workbook_example() -> None:
    page = body("inquire-balance.json")
    power = parse.buying_power(body("inquire-psbl-order.json"))
    assert power == Decimal(741_191_178)
    balance = parse.balance("50123456-01", page, power, RECEIVED)
    assert (balance.cash, balance.buying_power, balance.market_value, balance.total_equity, balance.unrealized_pnl) == (
        Decimal(346455), Decimal(741_191_178), Decimal(1_759_600), Decimal(2_106_055), Decimal(-756_922))
    assert balance.currency == "KRW" and balance.time == RECEIVED
    (position,) = parse.positions("50123456-01", [page], {})
    # KIS lists the cash holding and the self-financed loan holding of 009150 apart: one position.
    assert (position.symbol, position.symbol_name, position.quantity, position.sellable_quantity) == ("009150", "삼성전기", 1660, 1614)
    assert position.average_price == ((Decimal(224_424_497) + Decimal(369_000)) / 1660).quantize(Decimal("0.0001"))  # cost-weighted


def test_daily_orders_of_the_workbook_example_are_two_refused_buys() -> None:
    rows = parse.order_rows([body("inquire-daily-ccld.doc-example.json")])
    orders = [parse.order("50123456-01", row, row.text("odno"), "", date(2022, 1, 3)) for row in rows]
    assert [o.order_id for o in orders] == ["0001568197", "0001568196"]
    order = orders[0]
    assert (order.side, order.order_type, order.time_in_force, order.quantity, order.price) == (Side.BUY, OrderType.LIMIT, TimeInForce.DAY, 10, Decimal(150000))
    assert order.status is OrderStatus.REJECTED and order.filled_quantity == 0 and order.average_fill_price is None
    assert order.created_time == kst(2022, 1, 3, 17, 1, 0) and order.symbol == "009150"


def test_sellable_and_cancellable_of_the_workbook_examples() -> None:
    assert parse.sellable(body("inquire-psbl-sell.json")) == ("005930", 1744)
    assert parse.cancellable([body("inquire-psbl-rvsecncl.doc-example.json")]) == {
        ("06010", "0001569139"): 1, ("06010", "0001569138"): 1}


def test_order_answers() -> None:
    assert parse.order_answer(body("order-cash.doc-example.json")) == ("06010", "0001569157", time(15, 52, 11))
    assert parse.order_answer(body("order-rvsecncl.json")) == ("03930", "0000503800", time(15, 24, 0))
    assert parse.order_answer(body("order-rvsecncl.doc-example.json")) == ("06010", "0001569139", time(13, 14, 38))


def test_token_answer() -> None:
    token = parse_token(body("oauth2-tokenP.json"), now=0.0)
    assert token.expires_at == kst(2023, 12, 22, 8, 16, 59).timestamp()
    assert token.value.reveal().startswith("eyJ") and "eyJ" not in repr(token)


# (fixture, what reads it, the field a test removes, where it lives)
READERS = [
    ("inquire-price.json", lambda b: parse.quote("005930", b, ASKING, RECEIVED), "stck_mxpr", ("output",)),
    ("inquire-daily-itemchartprice.json", lambda b: parse.period_candles(b, Timeframe.MONTH), "stck_hgpr", ("output2", 3)),
    ("inquire-daily-itemchartprice.D-005930-trimmed.json", lambda b: parse.period_candles(b, Timeframe.DAY), "acml_vol", ("output2", 0)),
    ("inquire-time-dailychartprice.doc-example.json", lambda b: parse.minute_candles(b, "m"), "stck_cntg_hour", ("output2", 1)),
    ("inquire-balance.json", lambda b: (parse.balance("a", b, Decimal(0), RECEIVED), parse.positions("a", [b], {})), "hldg_qty", ("output1", 1)),
    ("inquire-balance.json", lambda b: parse.balance("a", b, Decimal(0), RECEIVED), "tot_evlu_amt", ("output2", 0)),
    ("inquire-psbl-order.json", parse.buying_power, "ord_psbl_cash", ("output",)),
    ("inquire-daily-ccld.doc-example.json", lambda b: [parse.order("a", r, "id", "", date(2022, 1, 3)) for r in parse.order_rows([b])], "rjct_qty", ("output1", 0)),
    ("order-cash.doc-example.json", parse.order_answer, "ODNO", ("output",)),
    ("inquire-psbl-sell.json", parse.sellable, "ord_psbl_qty", ("output",)),
    ("inquire-psbl-rvsecncl.doc-example.json", lambda b: parse.cancellable([b]), "psbl_qty", ("output", 1)),
    ("order-rvsecncl.json", parse.order_answer, "KRX_FWDG_ORD_ORGNO", ("output",)),
]


def _inside(data: dict[str, Any], path: tuple[str | int, ...]) -> dict[str, Any]:
    for step in path:
        data = data[step]  # type: ignore[index]
    return data


@pytest.mark.parametrize(("name", "read", "field", "path"), READERS, ids=[f"{r[0]}:{r[2]}" for r in READERS])
def test_an_added_unknown_field_changes_nothing(name: str, read: Any, field: str, path: tuple[str | int, ...]) -> None:
    original = body(name)
    extended = copy.deepcopy(original)
    extended["new_top_level_field"] = "1"
    _inside(extended, path)["kis_added_this_later"] = "whatever"
    assert read(extended) == read(original)


@pytest.mark.parametrize(("name", "read", "field", "path"), READERS, ids=[f"{r[0]}:{r[2]}" for r in READERS])
def test_a_missing_required_field_is_a_typed_error_naming_it(name: str, read: Any, field: str, path: tuple[str | int, ...]) -> None:
    broken = body(name)
    del _inside(broken, path)[field]
    with pytest.raises(ServerError, match=rf"field {field} is missing") as caught:
        read(broken)
    assert caught.value.code == "MALFORMED_RESPONSE"


@pytest.mark.parametrize("value", ["", "12a", "NaN", "1e400000"])
def test_an_unreadable_number_is_a_typed_error_naming_the_field(value: str) -> None:
    broken = body("inquire-price.json")
    broken["output"]["stck_prpr"] = value
    with pytest.raises(ServerError, match="field stck_prpr") as caught:
        parse.quote("005930", broken, ASKING, RECEIVED)
    assert caught.value.code == "MALFORMED_RESPONSE"


def test_kis_empty_row_marker_means_no_rows() -> None:
    assert parse.period_candles({"output1": {}, "output2": [{}], "rt_cd": "0"}, Timeframe.DAY) == []


def feed_frame(tr_id: str, records: list[list[str]]) -> str:
    return f"0|{tr_id}|{len(records):03d}|" + "^".join(f for r in records for f in r)


def trade(code: str, price: str, extra: int = 0) -> list[str]:
    fields = ["0"] * (len(parse.TRADE_COLUMNS) + extra)
    fields[0], fields[1], fields[2], fields[7], fields[8], fields[9] = code, "093354", price, "75000", "76000", "74800"
    fields[10], fields[11], fields[13], fields[33], fields[36], fields[37] = "75800", "75700", "1234567", "20240510", "10", "20"
    return fields


def test_feed_records_are_read_by_position_and_tolerate_appended_fields() -> None:
    start = parse.quote("005930", body("inquire-price.json"), ASKING, RECEIVED)
    tr_id, records = parse.feed_records(feed_frame("H0STCNT0", [trade("005930", "75800", extra=3), trade("005930", "75900", extra=3)]))
    assert tr_id == "H0STCNT0" and len(records) == 2
    moved = parse.trade_update(start, records[1])
    assert (moved.price, moved.open, moved.high, moved.low, moved.ask, moved.bid, moved.volume) == (
        Decimal(75900), Decimal(75000), Decimal(76000), Decimal(74800), Decimal(75800), Decimal(75700), 1_234_567)
    assert moved.time == kst(2024, 5, 10, 9, 33, 54) and moved.upper_limit == start.upper_limit  # limits stay the day's
    book = ["005930", "093355", "0", *["75900"] * 10, *["75800"] * 10, *["7"] * 10, *["9"] * 10, "0", "0"]
    _, (record,) = parse.feed_records(feed_frame("H0STASP0", [book]))
    assert parse.book_update(moved, record).bid_size == 9


def test_a_short_feed_record_is_a_typed_error_naming_the_missing_field() -> None:
    short = trade("005930", "75800")[:20]
    with pytest.raises(ServerError, match="field SHNU_CNTG_SMTN is missing"):
        parse.feed_records(feed_frame("H0STCNT0", [short]))
    with pytest.raises(ServerError, match="malformed frame"):
        parse.feed_records("0|H0STCNT0|x|1^2")


PARSERS = {
    "inquire-price.json": lambda b: parse.quote("005930", b, ASKING, RECEIVED),
    "inquire-price.doc-example.json": lambda b: parse.quote("000660", b, ASKING, RECEIVED),
    "inquire-daily-itemchartprice.json": lambda b: parse.period_candles(b, Timeframe.MONTH),
    "inquire-daily-itemchartprice.D-005930-trimmed.json": lambda b: parse.period_candles(b, Timeframe.DAY),
    "inquire-time-dailychartprice.doc-example.json": lambda b: parse.minute_candles(b, "inquire-time-dailychartprice"),
    "inquire-balance.json": lambda b: (parse.balance("a", b, Decimal(0), RECEIVED), parse.positions("a", [b], {})),
    "inquire-psbl-order.json": parse.buying_power,
    "inquire-psbl-sell.json": parse.sellable,
    "inquire-psbl-rvsecncl.doc-example.json": lambda b: parse.cancellable([b]),
    "inquire-daily-ccld.doc-example.json": lambda b: [parse.order("a", r, "id", "", date(2022, 1, 3)) for r in parse.order_rows([b])],
    "order-cash.doc-example.json": parse.order_answer,
    "order-rvsecncl.json": parse.order_answer,
    "order-rvsecncl.doc-example.json": parse.order_answer,
    "oauth2-tokenP.json": lambda b: parse_token(b, now=0.0),
}


def test_every_recorded_and_documented_body_has_its_parser() -> None:
    """Every body of tests/fixtures/kis/ (the copy of ../shared/fixtures/kis/) reads into domain
    values; the tests above check the values."""
    names = sorted(p.name for p in FIXTURES.glob("*.json"))
    assert names == sorted(PARSERS)
    for name in names:
        assert PARSERS[name](body(name))
