"""KIS answers -> domain values: one function per message, every field read through one
:class:`Fields` reader, so a missing or unreadable field is a ``ServerError`` (code
``MALFORMED_RESPONSE``) that names the message and the field. Unknown extra fields are ignored
(KIS adds fields over time; one recorded key even has a space in it).

KIS writes every value as a string (``"stck_prpr": "75700"``); prices become ``Decimal`` from that
string, never through a float; dates are ``YYYYMMDD`` and times ``HHMMSS`` in Asia/Seoul.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from jts_broker.domain.enums import OrderStatus, OrderType, Side, Timeframe, TimeInForce
from jts_broker.domain.errors import ServerError
from jts_broker.domain.market_data import Candle, Quote
from jts_broker.domain.timeutil import KST, period_start, start_of_day
from jts_broker.domain.trading import Balance, Order, Position

_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")

_ORDER_TYPES = {
    # KIS ORD_DVSN: (order type, time in force)
    "00": (OrderType.LIMIT, TimeInForce.DAY), "01": (OrderType.MARKET, TimeInForce.DAY),
    "11": (OrderType.LIMIT, TimeInForce.IOC), "12": (OrderType.LIMIT, TimeInForce.FOK),
    "13": (OrderType.MARKET, TimeInForce.IOC), "14": (OrderType.MARKET, TimeInForce.FOK),
}
ORDER_DIVISIONS = {kinds: code for code, kinds in _ORDER_TYPES.items()}
"""(order type, time in force) -> KIS ``ORD_DVSN``."""
SIDE_CODES = {"01": Side.SELL, "02": Side.BUY}
"""KIS ``SLL_BUY_DVSN_CD``."""


class Fields:
    """One JSON object of message ``message``, read field by field."""

    def __init__(self, data: object, message: str) -> None:
        if not isinstance(data, Mapping):
            raise ServerError(f"KIS {message}: expected an object, got {type(data).__name__}", code="MALFORMED_RESPONSE")
        self.data = data
        self.message = message

    def _bad(self, name: str, why: str) -> ServerError:
        return ServerError(f"KIS {self.message}: field {name} {why}", code="MALFORMED_RESPONSE")

    def text(self, name: str) -> str:
        value = self.data.get(name)
        if value is None:
            raise self._bad(name, "is missing")
        if not isinstance(value, str):
            raise self._bad(name, f"must be a string, got {value!r}")
        return value

    def decimal(self, name: str) -> Decimal:
        """A number as KIS writes it: digits, an optional sign and fraction (``"-1600"``,
        ``"135440.2517"``); no exponent, no NaN."""
        raw = self.text(name)
        if not _NUMBER.fullmatch(raw.strip()):
            raise self._bad(name, f"must be a decimal number, got {raw!r}")
        return Decimal(raw.strip())

    def price(self, name: str) -> Decimal:
        """A KRW amount (``Decimal``), negatives allowed (profit and loss)."""
        return self.decimal(name)

    def integer(self, name: str) -> int:
        value = self.decimal(name)
        if value != value.to_integral_value():
            raise self._bad(name, f"must be a whole number, got {self.text(name)!r}")
        return int(value)

    def day(self, name: str) -> date:
        raw = self.text(name)
        try:
            return datetime.strptime(raw, "%Y%m%d").date()
        except ValueError:
            raise self._bad(name, f"must be a date YYYYMMDD, got {raw!r}") from None

    def clock(self, name: str) -> time:
        raw = self.text(name)
        try:
            return datetime.strptime(raw, "%H%M%S").time()
        except ValueError:
            raise self._bad(name, f"must be a time HHMMSS, got {raw!r}") from None

    def child(self, name: str) -> Fields:
        if name not in self.data:
            raise self._bad(name, "is missing")
        return Fields(self.data[name], f"{self.message}.{name}")

    def rows(self, name: str) -> list[Fields]:
        """The objects of list ``name``; KIS answers ``[{}]`` where it has no rows: those are skipped."""
        value = self.data.get(name)
        if value is None:
            raise self._bad(name, "is missing")
        if not isinstance(value, list):
            raise self._bad(name, f"must be a list, got {type(value).__name__}")
        return [Fields(row, f"{self.message}.{name}[{n}]") for n, row in enumerate(value) if row != {}]


def at(day: date, clock: time) -> datetime:
    return datetime.combine(day, clock, tzinfo=KST)


def quote(symbol: str, price_body: Mapping[str, Any], asking_body: Mapping[str, Any], received: datetime) -> Quote:
    """A quote from inquire-price (FHKST01010100) and inquire-asking-price-exp-ccn (FHKST01010200).

    ``time`` is the order book's time (``aspr_acpt_hour``) on the day ``received`` (when the answer
    came), not later than ``received``; ``previous_close`` is KIS's base price ``stck_sdpr``."""
    out = Fields(price_body, "inquire-price").child("output")
    book = Fields(asking_body, "inquire-asking-price").child("output1")
    stamp = at(received.date(), book.clock("aspr_acpt_hour"))
    return Quote(symbol=symbol, time=min(stamp, received), price=out.price("stck_prpr"), open=out.price("stck_oprc"),
                 high=out.price("stck_hgpr"), low=out.price("stck_lwpr"), previous_close=out.price("stck_sdpr"),
                 upper_limit=out.price("stck_mxpr"), lower_limit=out.price("stck_llam"), bid=book.price("bidp1"), ask=book.price("askp1"),
                 bid_size=book.integer("bidp_rsqn1"), ask_size=book.integer("askp_rsqn1"), volume=out.integer("acml_vol"))


def period_candles(body: Mapping[str, Any], timeframe: Timeframe) -> list[Candle]:
    """Day, week or month candles of inquire-daily-itemchartprice (FHKST03010100), oldest first.
    KIS dates a week's or month's row by its last trading day; ``Candle.time`` is the period's
    start (Monday, the 1st), as for every candle of the SDK."""
    rows = Fields(body, "inquire-daily-itemchartprice").rows("output2")
    candles = [Candle(period_start(timeframe, start_of_day(row.day("stck_bsop_date"))), row.price("stck_oprc"), row.price("stck_hgpr"),
                      row.price("stck_lwpr"), row.price("stck_clpr"), row.integer("acml_vol")) for row in rows]
    return sorted(candles, key=lambda c: c.time)


def minute_candles(body: Mapping[str, Any], message: str) -> list[Candle]:
    """1-minute candles of inquire-time-itemchartprice (FHKST03010200) or
    inquire-time-dailychartprice (FHKST03010230), oldest first. ``Candle.time`` is KIS's
    ``stck_bsop_date`` + ``stck_cntg_hour`` as given."""
    rows = Fields(body, message).rows("output2")
    candles = [Candle(at(row.day("stck_bsop_date"), row.clock("stck_cntg_hour")), row.price("stck_oprc"), row.price("stck_hgpr"),
                      row.price("stck_lwpr"), row.price("stck_prpr"), row.integer("cntg_vol")) for row in rows]
    return sorted(candles, key=lambda c: c.time)


def positions(account_id: str, pages: Sequence[Mapping[str, Any]], names: Mapping[str, str]) -> list[Position]:
    """Holdings of inquire-balance (TTTC8434R / VTTC8434R) ``output1`` over every page, one
    :class:`Position` per symbol (KIS lists cash and each loan separately: they are summed, the
    average price weighted by quantity), ordered by symbol; symbols held at 0 shares are left out.
    ``names`` gives symbol names where KIS's ``prdt_name`` is empty."""
    merged: dict[str, list[Fields]] = {}
    for page in pages:
        for row in Fields(page, "inquire-balance").rows("output1"):
            merged.setdefault(row.text("pdno"), []).append(row)
    out = []
    for code in sorted(merged):
        rows = merged[code]
        quantity = sum(r.integer("hldg_qty") for r in rows)
        if quantity == 0:
            continue
        cost = sum((r.price("pchs_amt") for r in rows), Decimal(0))
        last = rows[0].price("prpr")
        value = sum((r.price("evlu_amt") for r in rows), Decimal(0))
        out.append(Position(account_id=account_id, symbol=code, symbol_name=rows[0].text("prdt_name") or names.get(code, ""),
                            quantity=quantity, sellable_quantity=sum(r.integer("ord_psbl_qty") for r in rows),
                            average_price=(cost / quantity).quantize(Decimal("0.0001")), last_price=last, market_value=value,
                            unrealized_pnl=sum((r.price("evlu_pfls_amt") for r in rows), Decimal(0))))
    return out


def buying_power(body: Mapping[str, Any]) -> Decimal:
    """Cash an order may spend now (``ord_psbl_cash``) of inquire-psbl-order (TTTC8908R)."""
    return Fields(body, "inquire-psbl-order").child("output").price("ord_psbl_cash")


def sellable(body: Mapping[str, Any]) -> tuple[str, int]:
    """(symbol, shares that may be sold now) of inquire-psbl-sell (TTTC8408R): ``pdno`` and
    ``ord_psbl_qty``."""
    out = Fields(body, "inquire-psbl-sell").child("output")
    return out.text("pdno"), out.integer("ord_psbl_qty")


def cancellable(pages: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], int]:
    """The orders KIS would cancel now, by (branch, ODNO), with the quantity it would cancel, of
    inquire-psbl-rvsecncl (TTTC0084R) ``output`` over every page (``ord_gno_brno``, ``odno``,
    ``psbl_qty``); orders with nothing left to cancel are left out."""
    rows = [row for page in pages for row in Fields(page, "inquire-psbl-rvsecncl").rows("output")]
    return {(row.text("ord_gno_brno"), row.text("odno")): quantity for row in rows if (quantity := row.integer("psbl_qty")) > 0}


def balance(account_id: str, body: Mapping[str, Any], buying_power: Decimal, received: datetime) -> Balance:
    """The account summary of inquire-balance ``output2[0]``: ``cash`` is the D+2 deposit
    (``prvs_rcdl_excc_amt``), ``market_value`` ``scts_evlu_amt``, ``total_equity``
    ``tot_evlu_amt``, ``unrealized_pnl`` ``evlu_pfls_smtl_amt``; ``buying_power`` is given (see
    :func:`buying_power`). KIS reports no realized profit here: ``realized_pnl`` is 0."""
    rows = Fields(body, "inquire-balance").rows("output2")
    if not rows:
        raise ServerError("KIS inquire-balance: output2 holds no summary row", code="MALFORMED_RESPONSE")
    row = rows[0]
    return Balance(account_id=account_id, cash=row.price("prvs_rcdl_excc_amt"), buying_power=buying_power,
                   market_value=row.price("scts_evlu_amt"), total_equity=row.price("tot_evlu_amt"),
                   unrealized_pnl=row.price("evlu_pfls_smtl_amt"), realized_pnl=Decimal(0), time=received)


def order_row_status(row: Fields, today: date) -> OrderStatus:
    """An order's status from its inquire-daily-ccld row: refused quantity -> REJECTED; all filled
    -> FILLED; nothing left working but not all filled -> CANCELLED; still working on a past day
    -> EXPIRED; some filled -> PARTIALLY_FILLED; else ACCEPTED."""
    quantity, filled, left, refused = row.integer("ord_qty"), row.integer("tot_ccld_qty"), row.integer("rmn_qty"), row.integer("rjct_qty")
    if refused and filled == 0:
        return OrderStatus.REJECTED
    if filled >= quantity:
        return OrderStatus.FILLED
    if left == 0:
        return OrderStatus.CANCELLED
    if row.day("ord_dt") < today:
        return OrderStatus.EXPIRED
    return OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.ACCEPTED


def order(account_id: str, row: Fields, order_id: str, client_order_id: str, today: date) -> Order:
    """An :class:`Order` (with id ``order_id``) from one inquire-daily-ccld (TTTC0081R) ``output1`` row. KIS reports no
    commission or tax per order (``commission`` and ``tax`` are 0) and no time of the last fill
    (``updated_time`` is the order's time)."""
    side = SIDE_CODES.get(row.text("sll_buy_dvsn_cd"))
    if side is None:
        raise ServerError(f"KIS {row.message}: field sll_buy_dvsn_cd must be 01 or 02, got {row.text('sll_buy_dvsn_cd')!r}", code="MALFORMED_RESPONSE")
    order_type, tif = _ORDER_TYPES.get(row.text("ord_dvsn_cd"), (OrderType.LIMIT, TimeInForce.DAY))
    status = order_row_status(row, today)
    filled = row.integer("tot_ccld_qty")
    created = at(row.day("ord_dt"), row.clock("ord_tmd"))
    price = row.price("ord_unpr")
    return Order(order_id=order_id, client_order_id=client_order_id, account_id=account_id, symbol=row.text("pdno"), side=side,
                 order_type=order_type, time_in_force=tif, quantity=row.integer("ord_qty"),
                 price=None if order_type is OrderType.MARKET or not price else price, status=status, filled_quantity=filled,
                 average_fill_price=row.price("avg_prvs") if filled else None, commission=Decimal(0), tax=Decimal(0),
                 reject_code="BROKER_REJECTED" if status is OrderStatus.REJECTED else "",
                 reject_reason="refused by KIS" if status is OrderStatus.REJECTED else "", created_time=created, updated_time=created)


def order_rows(pages: Sequence[Mapping[str, Any]]) -> list[Fields]:
    """The original orders of inquire-daily-ccld pages (a cancel or an amendment is a row of its
    own whose ``orgn_odno`` names the order it changes: those are left out)."""
    rows = [row for page in pages for row in Fields(page, "inquire-daily-ccld").rows("output1")]
    return [row for row in rows if not row.data.get("orgn_odno", "").strip()]


def order_answer(body: Mapping[str, Any]) -> tuple[str, str, time]:
    """(KRX_FWDG_ORD_ORGNO, ODNO, ORD_TMD) of an order-cash or order-rvsecncl answer."""
    out = Fields(body, "order").child("output")
    return out.text("KRX_FWDG_ORD_ORGNO"), out.text("ODNO"), out.clock("ORD_TMD")


# -- the WebSocket feed -------------------------------------------------------------------------------
TRADE_COLUMNS = (
    "MKSC_SHRN_ISCD", "STCK_CNTG_HOUR", "STCK_PRPR", "PRDY_VRSS_SIGN", "PRDY_VRSS", "PRDY_CTRT", "WGHN_AVRG_STCK_PRC", "STCK_OPRC",
    "STCK_HGPR", "STCK_LWPR", "ASKP1", "BIDP1", "CNTG_VOL", "ACML_VOL", "ACML_TR_PBMN", "SELN_CNTG_CSNU", "SHNU_CNTG_CSNU",
    "NTBY_CNTG_CSNU", "CTTR", "SELN_CNTG_SMTN", "SHNU_CNTG_SMTN", "CCLD_DVSN", "SHNU_RATE", "PRDY_VOL_VRSS_ACML_VOL_RATE", "OPRC_HOUR",
    "OPRC_VRSS_PRPR_SIGN", "OPRC_VRSS_PRPR", "HGPR_HOUR", "HGPR_VRSS_PRPR_SIGN", "HGPR_VRSS_PRPR", "LWPR_HOUR", "LWPR_VRSS_PRPR_SIGN",
    "LWPR_VRSS_PRPR", "BSOP_DATE", "NEW_MKOP_CLS_CODE", "TRHT_YN", "ASKP_RSQN1", "BIDP_RSQN1", "TOTAL_ASKP_RSQN", "TOTAL_BIDP_RSQN",
    "VOL_TNRT", "PRDY_SMNS_HOUR_ACML_VOL", "PRDY_SMNS_HOUR_ACML_VOL_RATE", "HOUR_CLS_CODE", "MRKT_TRTM_CLS_CODE", "VI_STND_PRC",
)
"""The fields of a H0STCNT0 (trade) record, by position (KIS's sample ``ccnl_krx.py``). KIS appends
fields over time: a record may be longer, never shorter."""
BOOK_COLUMNS = ("MKSC_SHRN_ISCD", "BSOP_HOUR", "HOUR_CLS_CODE", *(f"ASKP{n}" for n in range(1, 11)), *(f"BIDP{n}" for n in range(1, 11)),
                *(f"ASKP_RSQN{n}" for n in range(1, 11)), *(f"BIDP_RSQN{n}" for n in range(1, 11)))
"""The leading fields of a H0STASP0 (order book) record, by position (``asking_price_krx.py``);
the record goes on with totals and expected-price fields this SDK does not read."""
FEED_COLUMNS = {"H0STCNT0": TRADE_COLUMNS, "H0STASP0": BOOK_COLUMNS}


def feed_records(frame: str) -> tuple[str, list[Fields]]:
    """(tr_id, records) of a plain data frame ``0|TR_ID|COUNT|f1^f2^...``: COUNT records of equal
    length, each read by position (extra trailing fields ignored).

    Raises:
        ServerError: a malformed frame, or a record shorter than the fields read (code
            ``MALFORMED_RESPONSE``, naming the first missing field).
    """
    parts = frame.split("|", 3)
    if len(parts) != 4 or parts[0] != "0" or not parts[2].isdigit() or int(parts[2]) < 1:
        raise ServerError(f"KIS feed: malformed frame {frame[:40]!r}", code="MALFORMED_RESPONSE")
    tr_id, count, values = parts[1], int(parts[2]), parts[3].split("^")
    columns = FEED_COLUMNS.get(tr_id)
    if columns is None:
        return tr_id, []
    size = len(values) // count
    if size * count != len(values):
        raise ServerError(f"KIS feed {tr_id}: {len(values)} fields do not split into {count} records", code="MALFORMED_RESPONSE")
    records = []
    for n in range(count):
        record = values[n * size:(n + 1) * size]
        if len(record) < len(columns):
            raise ServerError(f"KIS feed {tr_id}: field {columns[len(record)]} is missing", code="MALFORMED_RESPONSE")
        records.append(Fields(dict(zip(columns, record, strict=False)), f"feed {tr_id}"))
    return tr_id, records


def trade_update(quote: Quote, record: Fields) -> Quote:
    """``quote`` moved by a H0STCNT0 record: last price, the day's open, high, low and volume,
    best bid and ask with their sizes, and the time of the trade."""
    return replace(quote, time=at(record.day("BSOP_DATE"), record.clock("STCK_CNTG_HOUR")), price=record.price("STCK_PRPR"),
                   open=record.price("STCK_OPRC"), high=record.price("STCK_HGPR"), low=record.price("STCK_LWPR"), ask=record.price("ASKP1"),
                   bid=record.price("BIDP1"), ask_size=record.integer("ASKP_RSQN1"), bid_size=record.integer("BIDP_RSQN1"),
                   volume=record.integer("ACML_VOL"))


def book_update(quote: Quote, record: Fields) -> Quote:
    """``quote`` with the best bid and ask of a H0STASP0 record (its time stays the last trade's)."""
    return replace(quote, ask=record.price("ASKP1"), bid=record.price("BIDP1"), ask_size=record.integer("ASKP_RSQN1"),
                   bid_size=record.integer("BIDP_RSQN1"))
