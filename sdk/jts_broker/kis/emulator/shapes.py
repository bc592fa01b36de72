"""Domain values -> KIS's JSON shapes, as the emulator answers them: every value a string, field
names as in KIS's recorded bodies (``tests/fixtures/kis/``), rows newest first where KIS's are."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from jts_broker.domain.enums import OrderStatus, OrderType, Side, Timeframe, TimeInForce
from jts_broker.domain.market_data import Candle, Quote, Symbol
from jts_broker.domain.timeutil import KST
from jts_broker.domain.trading import Balance, Order, Position

OK = {"rt_cd": "0", "msg_cd": "MCA00000", "msg1": "정상처리 되었습니다."}
DONE = {"rt_cd": "0", "msg_cd": "KIOK0510", "msg1": "조회가 완료되었습니다" + " " * 59}
ORDER_SENT = {"rt_cd": "0", "msg_cd": "APBK0013", "msg1": "주문 전송 완료 되었습니다."}
_DIVISIONS = {(OrderType.LIMIT, TimeInForce.DAY): "00", (OrderType.MARKET, TimeInForce.DAY): "01", (OrderType.LIMIT, TimeInForce.IOC): "11",
              (OrderType.LIMIT, TimeInForce.FOK): "12", (OrderType.MARKET, TimeInForce.IOC): "13", (OrderType.MARKET, TimeInForce.FOK): "14"}
DIVISION_KINDS = {code: kinds for kinds, code in _DIVISIONS.items()}


def num(value: Decimal | int, places: int = 0) -> str:
    """KIS's number: plain digits, ``places`` decimals."""
    return f"{Decimal(value):.{places}f}"


def ymd(day: date) -> str:
    return day.strftime("%Y%m%d")


def hms(moment: datetime) -> str:
    return moment.astimezone(KST).strftime("%H%M%S")


def price_output(quote: Quote, symbol: Symbol) -> dict[str, str]:
    change = quote.price - quote.previous_close
    sign = "2" if change > 0 else "5" if change < 0 else "3"
    rate = change / quote.previous_close * 100 if quote.previous_close else Decimal(0)
    return {"iscd_stat_cls_code": "55", "rprs_mrkt_kor_name": symbol.market.value.upper(), "temp_stop_yn": "N", "stck_prpr": num(quote.price),
            "prdy_vrss": num(change), "prdy_vrss_sign": sign, "prdy_ctrt": num(rate, 2), "acml_vol": num(quote.volume),
            "stck_oprc": num(quote.open), "stck_hgpr": num(quote.high), "stck_lwpr": num(quote.low), "stck_mxpr": num(quote.upper_limit),
            "stck_llam": num(quote.lower_limit), "stck_sdpr": num(quote.previous_close), "stck_shrn_iscd": symbol.code,
            "hts_deal_qty_unit_val": str(symbol.board_lot)}


def asking_output(quote: Quote) -> dict[str, dict[str, str]]:
    return {"output1": {"aspr_acpt_hour": hms(quote.time), "askp1": num(quote.ask), "bidp1": num(quote.bid), "askp_rsqn1": num(quote.ask_size),
                        "bidp_rsqn1": num(quote.bid_size), "total_askp_rsqn": num(quote.ask_size), "total_bidp_rsqn": num(quote.bid_size)},
            "output2": {"antc_cnpr": "0", "stck_prpr": num(quote.price), "stck_oprc": num(quote.open)}}


def period_rows(daily: list[Candle], timeframe: Timeframe) -> list[dict[str, str]]:
    """Rows of inquire-daily-itemchartprice, newest first; a week or month is dated by its last
    trading day, as KIS does."""
    groups: dict[tuple[int, int], list[Candle]] = {}
    for candle in daily:
        day = candle.time.date()
        key = (day.toordinal(), 0) if timeframe is Timeframe.DAY else day.isocalendar()[:2] if timeframe is Timeframe.WEEK else (day.year, day.month)
        groups.setdefault(key, []).append(candle)
    rows = []
    for group in groups.values():
        rows.append({"stck_bsop_date": ymd(group[-1].time.date()), "stck_clpr": num(group[-1].close), "stck_oprc": num(group[0].open),
                     "stck_hgpr": num(max(c.high for c in group)), "stck_lwpr": num(min(c.low for c in group)),
                     "acml_vol": num(sum(c.volume for c in group)), "acml_tr_pbmn": "0", "flng_cls_code": "00", "prtt_rate": "0.00",
                     "mod_yn": "N", "revl_issu_reas": ""})
    return sorted(rows, key=lambda r: r["stck_bsop_date"], reverse=True)


def minute_rows(candles: Iterable[Candle]) -> list[dict[str, str]]:
    """Rows of inquire-time-itemchartprice / -dailychartprice, newest first."""
    rows = [{"stck_bsop_date": ymd(c.time.date()), "stck_cntg_hour": hms(c.time), "stck_prpr": num(c.close), "stck_oprc": num(c.open),
             "stck_hgpr": num(c.high), "stck_lwpr": num(c.low), "cntg_vol": num(c.volume), "acml_tr_pbmn": "0"} for c in candles]
    return sorted(rows, key=lambda r: (r["stck_bsop_date"], r["stck_cntg_hour"]), reverse=True)


def holding_row(position: Position) -> dict[str, str]:
    return {"pdno": position.symbol, "prdt_name": position.symbol_name, "trad_dvsn_name": "현금", "hldg_qty": num(position.quantity),
            "ord_psbl_qty": num(position.sellable_quantity), "pchs_avg_pric": num(position.average_price, 4),
            "pchs_amt": num(position.average_price * position.quantity), "prpr": num(position.last_price), "evlu_amt": num(position.market_value),
            "evlu_pfls_amt": num(position.unrealized_pnl), "evlu_pfls_rt": "0.00", "loan_dt": "", "loan_amt": "0"}


def balance_summary(balance: Balance) -> dict[str, str]:
    return {"dnca_tot_amt": num(balance.cash), "nxdy_excc_amt": num(balance.cash), "prvs_rcdl_excc_amt": num(balance.cash),
            "scts_evlu_amt": num(balance.market_value), "tot_evlu_amt": num(balance.total_equity), "nass_amt": num(balance.total_equity),
            "pchs_amt_smtl_amt": num(balance.market_value - balance.unrealized_pnl), "evlu_amt_smtl_amt": num(balance.market_value),
            "evlu_pfls_smtl_amt": num(balance.unrealized_pnl), "asst_icdc_amt": "0"}


def order_row(order: Order, odno: str, branch: str, placed_at: datetime, cancelled: int) -> dict[str, str]:
    """An original order's row of inquire-daily-ccld."""
    division = _DIVISIONS[(order.order_type, order.time_in_force)]
    left = 0 if order.status.is_final else order.quantity - order.filled_quantity
    refused = order.quantity if order.status is OrderStatus.REJECTED else 0
    return {"ord_dt": ymd(placed_at.date()), "ord_gno_brno": branch, "odno": odno, "orgn_odno": "",
            "ord_dvsn_name": "시장가" if order.order_type is OrderType.MARKET else "지정가",
            "sll_buy_dvsn_cd": "01" if order.side is Side.SELL else "02", "sll_buy_dvsn_cd_name": "매도" if order.side is Side.SELL else "매수",
            "pdno": order.symbol, "ord_qty": num(order.quantity), "ord_unpr": num(order.price or 0), "ord_tmd": hms(placed_at),
            "tot_ccld_qty": num(order.filled_quantity), "avg_prvs": num(order.average_fill_price or 0),
            "tot_ccld_amt": num((order.average_fill_price or 0) * order.filled_quantity), "cncl_yn": "", "ord_dvsn_cd": division,
            "cncl_cfrm_qty": num(cancelled), "rmn_qty": num(left), "rjct_qty": num(refused), "excg_dvsn_cd": "02", "ord_orgno": branch}


def cancel_row(original: dict[str, str], odno: str, at: datetime, quantity: int) -> dict[str, str]:
    """The row of a cancel: an order of its own naming the original in ``orgn_odno``."""
    return {**original, "odno": odno, "orgn_odno": original["odno"], "ord_tmd": hms(at), "ord_qty": num(quantity), "tot_ccld_qty": "0",
            "cncl_yn": "Y", "cncl_cfrm_qty": num(quantity), "rmn_qty": "0", "sll_buy_dvsn_cd_name": original["sll_buy_dvsn_cd_name"] + "취소"}


def page(rows: list[dict[str, str]], size: int, index: int) -> tuple[list[dict[str, str]], bool]:
    """Page ``index`` (0-based) of ``rows`` and whether more follow."""
    return rows[index * size:(index + 1) * size], (index + 1) * size < len(rows)


def answer(**outputs: Any) -> dict[str, Any]:
    return {**outputs, **OK}


def trade_record(quote: Quote, today: date) -> list[str]:
    """A H0STCNT0 record (46 fields by position) of ``quote``, dated ``today``."""
    change = quote.price - quote.previous_close
    fields = ["0"] * 46
    fields[0], fields[1], fields[2] = quote.symbol, hms(quote.time), num(quote.price)
    fields[3], fields[4] = ("2" if change > 0 else "5" if change < 0 else "3"), num(change)
    fields[7], fields[8], fields[9], fields[10], fields[11] = num(quote.open), num(quote.high), num(quote.low), num(quote.ask), num(quote.bid)
    fields[13], fields[33], fields[36], fields[37] = num(quote.volume), ymd(today), num(quote.ask_size), num(quote.bid_size)
    return fields


def book_record(quote: Quote) -> list[str]:
    """A H0STASP0 record of ``quote``'s best bid and ask (the other nine levels zero), 59 fields."""
    fields = ["0"] * 59
    fields[0], fields[1] = quote.symbol, hms(quote.time)
    fields[3], fields[13], fields[23], fields[33] = num(quote.ask), num(quote.bid), num(quote.ask_size), num(quote.bid_size)
    return fields
