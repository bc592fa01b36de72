"""KisRestGateway on recorded and documented KIS bodies through ``responses`` (no network): the
headers and tr_ids it sends, paging, the token cache, error mapping, retries of reads only, and
orders at most once through the order journal."""

from __future__ import annotations

import copy
import email.utils
import json
import logging
import os
import stat
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from responses import matchers
from responses.registries import OrderedRegistry

from jts_broker import Side, Timeframe, limit_order
from jts_broker.domain.enums import JournalState, OrderStatus
from jts_broker.domain.errors import (
    AuthenticationFailed,
    ConfigurationError,
    DuplicateClientOrderId,
    InvalidRequest,
    OrderRejected,
    OrderStatusUnknown,
    RateLimitExceeded,
    ServerError,
    SymbolNotFound,
)
from jts_broker.domain.policies import RateLimit, RetryPolicy, Timeouts
from jts_broker.domain.timeutil import KST, now_kst
from jts_broker.kis import KisConfig, KisRestGateway
from jts_broker.kis import token as token_module

from .test_kis_parse import ASKING, body

BASE = "https://kis.test"
APP_KEY, APP_SECRET, ACCOUNT = "PSappkey0123456789abcdef", "s3cr3t-app-secret-value-xyz", "50123456-01"
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzUxMiJ9.test-token-value"
PRICE = f"{BASE}/uapi/domestic-stock/v1/quotations/inquire-price"
ASKING_URL = f"{BASE}/uapi/domestic-stock/v1/quotations/inquire-asking-price-exp-ccn"
BALANCE = f"{BASE}/uapi/domestic-stock/v1/trading/inquire-balance"
POWER = f"{BASE}/uapi/domestic-stock/v1/trading/inquire-psbl-order"
ORDERS = f"{BASE}/uapi/domestic-stock/v1/trading/inquire-daily-ccld"
ORDER_CASH = f"{BASE}/uapi/domestic-stock/v1/trading/order-cash"
CANCEL = f"{BASE}/uapi/domestic-stock/v1/trading/order-rvsecncl"
CHART = f"{BASE}/uapi/domestic-stock/v1/quotations/inquire-daily-itemchartprice"


def token_body() -> dict[str, Any]:
    expires = datetime.fromtimestamp(now_kst().timestamp() + 86400, KST).strftime("%Y-%m-%d %H:%M:%S")
    return {"access_token": TOKEN, "access_token_token_expired": expires, "token_type": "Bearer", "expires_in": 86400}


def config(tmp_path: Path, **kwargs: Any) -> KisConfig:
    options: dict[str, Any] = {"env": "paper", "base_url": BASE, "token_cache": tmp_path / "tokens", "order_journal": tmp_path / "journal.sqlite",
                               "rate_limit": RateLimit(1000), "retry": RetryPolicy(max_attempts=3, initial_backoff_s=0.01, max_backoff_s=0.02, budget_s=2.0),
                               "settle_s": 0.0}
    options.update(kwargs)
    return KisConfig(APP_KEY, APP_SECRET, ACCOUNT, **options)


@pytest.fixture
def kis() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.POST, f"{BASE}/oauth2/tokenP", json=token_body(),
                 match=[matchers.json_params_matcher({"grant_type": "client_credentials", "appkey": APP_KEY, "appsecret": APP_SECRET})])
        yield mock


@pytest.fixture
def gateway(tmp_path: Path, kis: responses.RequestsMock) -> Iterator[KisRestGateway]:
    with KisRestGateway(config(tmp_path)) as gw:
        yield gw
    gw.close()


def calls_to(mock: responses.RequestsMock, url: str) -> list[Any]:
    return [c for c in mock.calls if c.request.url.split("?")[0] == url]


def ccld_row(odno: str, *, qty: int = 10, price: int = 75000, side: str = "02", tmd: str | None = None, filled: int = 0, left: int | None = None,
             symbol: str = "005930") -> dict[str, str]:
    """A row of inquire-daily-ccld shaped as the workbook's example, for today."""
    row = copy.deepcopy(body("inquire-daily-ccld.doc-example.json")["output1"][0])
    now = now_kst()
    row.update({"ord_dt": now.strftime("%Y%m%d"), "odno": odno, "pdno": symbol, "ord_qty": str(qty), "ord_unpr": str(price), "sll_buy_dvsn_cd": side,
                "ord_tmd": tmd or now.strftime("%H%M%S"), "tot_ccld_qty": str(filled), "rmn_qty": str(qty - filled if left is None else left),
                "rjct_qty": "0", "avg_prvs": "75000" if filled else "0", "ord_dvsn_cd": "00", "ord_gno_brno": "06010"})
    return row


def oid(odno: str) -> str:
    """The SDK's id of today's KIS order ``odno`` at branch 06010 (YYYYMMDD-ORGNO-ODNO)."""
    return f"{now_kst():%Y%m%d}-06010-{odno}"


def ccld(*rows: dict[str, str]) -> dict[str, Any]:
    page = copy.deepcopy(body("inquire-daily-ccld.doc-example.json"))
    page["output1"] = list(rows)
    return page


# -- the calls it makes ----------------------------------------------------------------------------
def test_a_quote_is_two_reads_with_kis_headers(gateway: KisRestGateway, kis: responses.RequestsMock) -> None:
    common = {"authorization": f"Bearer {TOKEN}", "appkey": APP_KEY, "appsecret": APP_SECRET, "custtype": "P", "tr_cont": ""}
    params = matchers.query_param_matcher({"FID_COND_MRKT_DIV_CODE": "J", "FID_INPUT_ISCD": "005930"})
    kis.add(responses.GET, PRICE, json=body("inquire-price.json"), match=[matchers.header_matcher({**common, "tr_id": "FHKST01010100"}), params])
    kis.add(responses.GET, ASKING_URL, json=ASKING, match=[matchers.header_matcher({**common, "tr_id": "FHKST01010200"}), params])
    quote = gateway.get_quote("A005930")
    assert (quote.symbol, quote.price, quote.upper_limit, quote.bid, quote.ask) == ("005930", Decimal(75700), Decimal(100400), Decimal(75700), Decimal(75800))


def test_a_symbol_not_listed_is_refused_before_any_call(gateway: KisRestGateway, kis: responses.RequestsMock) -> None:
    before = len(kis.calls)
    with pytest.raises(SymbolNotFound):
        gateway.get_quote("999999")
    assert len(kis.calls) == before


def test_symbols_come_from_the_bundled_listing(gateway: KisRestGateway) -> None:
    (samsung,) = [s for s in gateway.get_symbols("삼성전자") if s.code == "005930"]
    assert samsung.name == "삼성전자"


def test_balance_pages_follow_tr_cont_with_the_context_keys(tmp_path: Path) -> None:
    first, second = body("inquire-balance.json"), body("inquire-balance.json")
    first["ctx_area_nk100"] = "NEXTKEY" + " " * 93
    second["output1"] = [dict(first["output1"][0], pdno="005930", prdt_name="삼성전자", hldg_qty="5", ord_psbl_qty="5", pchs_amt="375000")]
    with responses.RequestsMock(registry=OrderedRegistry) as mock:
        mock.add(responses.POST, f"{BASE}/oauth2/tokenP", json=token_body())
        mock.add(responses.GET, BALANCE, json=first, headers={"tr_cont": "M"},
                 match=[matchers.header_matcher({"tr_id": "VTTC8434R", "tr_cont": ""}),
                        matchers.query_param_matcher({"CTX_AREA_NK100": "", "CANO": "50123456", "ACNT_PRDT_CD": "01"}, strict_match=False)])
        mock.add(responses.GET, BALANCE, json=second, headers={"tr_cont": "D"},
                 match=[matchers.header_matcher({"tr_id": "VTTC8434R", "tr_cont": "N"}),
                        matchers.query_param_matcher({"CTX_AREA_NK100": first["ctx_area_nk100"], "CTX_AREA_FK100": first["ctx_area_fk100"]},
                                                     strict_match=False)])
        with KisRestGateway(config(tmp_path)) as gateway:
            positions = gateway.get_positions()
        gateway.close()
    assert [(p.symbol, p.quantity) for p in positions] == [("005930", 5), ("009150", 1660)]


def test_paging_stops_at_the_page_cap(tmp_path: Path, kis: responses.RequestsMock) -> None:
    kis.add(responses.GET, BALANCE, json=body("inquire-balance.json"), headers={"tr_cont": "F"})
    with KisRestGateway(config(tmp_path, max_pages=3)) as gateway, pytest.raises(ServerError, match="more than 3 pages") as caught:
        gateway.get_positions()
    gateway.close()
    assert caught.value.code == "TOO_MANY_PAGES" and len(calls_to(kis, BALANCE)) == 3


def test_balance_reads_buying_power_from_the_orderable_cash(gateway: KisRestGateway, kis: responses.RequestsMock) -> None:
    kis.add(responses.GET, BALANCE, json=body("inquire-balance.json"), headers={"tr_cont": "D"})
    kis.add(responses.GET, POWER, json=body("inquire-psbl-order.json"), match=[matchers.header_matcher({"tr_id": "VTTC8908R"})])
    balance = gateway.get_balance()
    assert (balance.cash, balance.buying_power, balance.total_equity) == (Decimal(346455), Decimal(741_191_178), Decimal(2_106_055))


def test_daily_candles_page_back_by_date_range_100_rows_a_call(gateway: KisRestGateway, kis: responses.RequestsMock) -> None:
    template = body("inquire-daily-itemchartprice.D-005930-trimmed.json")
    days = [d for d in (date(2024, 1, 1) + timedelta(days=n) for n in range(200)) if d.weekday() < 5][:130]

    def page(chosen: list[Any]) -> dict[str, Any]:
        out = copy.deepcopy(template)
        out["output2"] = [dict(template["output2"][0], stck_bsop_date=d.strftime("%Y%m%d")) for d in sorted(chosen, reverse=True)]
        return out

    kis.add(responses.GET, CHART, json=page(days[30:]), match=[matchers.query_param_matcher(
        {"FID_INPUT_DATE_1": days[0].strftime("%Y%m%d"), "FID_INPUT_DATE_2": days[-1].strftime("%Y%m%d"), "FID_PERIOD_DIV_CODE": "D",
         "FID_ORG_ADJ_PRC": "1"}, strict_match=False)])
    # The next call ends the day before the oldest row answered (KIS answers newest first).
    kis.add(responses.GET, CHART, json=page(days[:30]), match=[matchers.query_param_matcher(
        {"FID_INPUT_DATE_2": (days[30] - timedelta(days=1)).strftime("%Y%m%d")}, strict_match=False)])
    candles = gateway.get_candles("005930", Timeframe.DAY, days[0], days[-1])
    assert [c.time.date() for c in candles] == days
    assert len(calls_to(kis, CHART)) == 2


# -- errors ----------------------------------------------------------------------------------------
def refusal(msg_cd: str, msg1: str) -> dict[str, str]:
    return {"rt_cd": "1", "msg_cd": msg_cd, "msg1": msg1}


def test_egw00201_is_a_rate_limit_refusal_and_is_not_retried(gateway: KisRestGateway, kis: responses.RequestsMock) -> None:
    kis.add(responses.GET, PRICE, json=refusal("EGW00201", "초당 거래건수를 초과하였습니다."), status=500)
    with pytest.raises(RateLimitExceeded) as caught:
        gateway.check_health()
    error = caught.value
    assert (error.code, error.broker_code, error.broker_message, error.retry_after_s) == ("BROKER_RATE_LIMIT", "EGW00201", "초당 거래건수를 초과하였습니다.", 1.0)
    assert len(calls_to(kis, PRICE)) == 1


def test_a_read_is_retried_after_http_5xx_and_a_broken_connection(tmp_path: Path) -> None:
    with responses.RequestsMock(registry=OrderedRegistry) as mock:
        mock.add(responses.POST, f"{BASE}/oauth2/tokenP", json=token_body())
        mock.add(responses.GET, PRICE, body="<html>bad gateway</html>", status=502)
        mock.add(responses.GET, PRICE, body=requests.ConnectionError("reset by peer"))
        mock.add(responses.GET, PRICE, json=body("inquire-price.json"))
        with KisRestGateway(config(tmp_path)) as gateway:
            gateway.check_health()
        gateway.close()
        assert len(calls_to(mock, PRICE)) == 3


def test_paper_key_on_the_real_domain_is_a_configuration_error(gateway: KisRestGateway, kis: responses.RequestsMock) -> None:
    kis.add(responses.GET, PRICE, json=refusal("EGW02004", "실전투자 TR 이 아닙니다."), status=500)
    with pytest.raises(ConfigurationError) as caught:
        gateway.check_health()
    assert caught.value.code == "KIS_DOMAIN" and caught.value.broker_code == "EGW02004"


def test_an_expired_token_is_renewed_once_and_the_call_sent_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(token_module, "ISSUE_INTERVAL_S", 0.0)  # the test does not wait out KIS's minute
    with responses.RequestsMock(registry=OrderedRegistry) as mock:
        mock.add(responses.POST, f"{BASE}/oauth2/tokenP", json=token_body())
        mock.add(responses.GET, PRICE, json=refusal("EGW00123", "기간이 만료된 token 입니다."), status=500)
        renewed = dict(token_body(), access_token="eyJrenewed")
        mock.add(responses.POST, f"{BASE}/oauth2/tokenP", json=renewed)
        mock.add(responses.GET, PRICE, json=body("inquire-price.json"), match=[matchers.header_matcher({"authorization": "Bearer eyJrenewed"})])
        with KisRestGateway(config(tmp_path)) as gateway:
            gateway.check_health()
        gateway.close()
    stored = json.loads((tmp_path / "tokens" / f"{gateway.kis.key_fingerprint}.json").read_text())
    assert stored["access_token"] == "eyJrenewed"


def test_token_issue_throttled_is_a_rate_limit(tmp_path: Path) -> None:
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{BASE}/oauth2/tokenP", status=403,
                 json={"error_description": "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)", "error_code": "EGW00133"})
        gateway = KisRestGateway(config(tmp_path))
        with pytest.raises(RateLimitExceeded) as caught:
            gateway.connect()
        gateway.close()
    assert caught.value.code == "TOKEN_RATE_LIMIT" and caught.value.broker_code == "EGW00133"


def test_a_wrong_app_secret_is_an_authentication_failure(tmp_path: Path) -> None:
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, f"{BASE}/oauth2/tokenP", status=403, json={"error_description": "유효하지 않은 AppSecret입니다.", "error_code": "EGW00105"})
        gateway = KisRestGateway(config(tmp_path))
        with pytest.raises(AuthenticationFailed):
            gateway.connect()
        assert gateway.status.value == "error"
        gateway.close()


# -- the token cache -------------------------------------------------------------------------------
def test_the_token_is_issued_once_and_cached_for_the_user_only(tmp_path: Path, kis: responses.RequestsMock) -> None:
    for _ in range(3):  # three gateways, as three runs of a script would
        gateway = KisRestGateway(config(tmp_path))
        gateway.connect()
        gateway.close()
    assert len(calls_to(kis, f"{BASE}/oauth2/tokenP")) == 1
    (cached,) = (tmp_path / "tokens").glob("*.json")
    assert stat.S_IMODE(os.stat(cached).st_mode) == 0o600
    assert APP_KEY not in cached.name and APP_SECRET not in cached.read_text()


def test_secrets_never_reach_a_repr_an_error_or_a_log(tmp_path: Path, kis: responses.RequestsMock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    kis.add(responses.GET, PRICE, json=refusal("EGW00201", "초당 거래건수를 초과하였습니다."), status=500)
    gateway = KisRestGateway(config(tmp_path))
    gateway.connect()
    with pytest.raises(RateLimitExceeded) as caught:
        gateway.check_health()
    gateway.close()
    seen = " ".join([repr(gateway), repr(gateway.kis), str(gateway.kis), str(caught.value), repr(caught.value), caplog.text, repr(gateway.config)])
    for secret in (APP_KEY, APP_SECRET, TOKEN):
        assert secret not in seen


# -- orders ----------------------------------------------------------------------------------------
def order(cid: str = "order-1", price: int = 75000) -> Any:
    return limit_order(ACCOUNT, "005930", Side.BUY, 10, price, client_order_id=cid)


def cash_answer(odno: str) -> dict[str, Any]:
    answer = body("order-cash.doc-example.json")
    answer["output"] = dict(answer["output"], ODNO=odno, ORD_TMD=now_kst().strftime("%H%M%S"))
    return answer


def test_an_order_is_sent_as_kis_writes_it_and_journaled(gateway: KisRestGateway, kis: responses.RequestsMock) -> None:
    kis.add(responses.POST, ORDER_CASH, json=cash_answer("0000000101"), match=[
        matchers.header_matcher({"tr_id": "VTTC0012U"}),
        matchers.json_params_matcher({"CANO": "50123456", "ACNT_PRDT_CD": "01", "PDNO": "005930", "ORD_DVSN": "00", "ORD_QTY": "10",
                                      "ORD_UNPR": "75000", "EXCG_ID_DVSN_CD": "KRX", "SLL_TYPE": "", "CNDT_PRIC": ""})])
    result = gateway.place_order(order())
    assert (result.order_id, result.client_order_id, result.status, result.duplicate) == (oid("0000000101"), "order-1", OrderStatus.ACCEPTED, False)
    assert gateway.journal is not None
    entry = gateway.journal.entry(ACCOUNT, "order-1")
    assert entry is not None and (entry.state, entry.order_id) == (JournalState.PLACED, oid("0000000101")) and entry.sent_at is not None


def test_a_repeated_client_order_id_returns_the_order_and_sends_nothing(gateway: KisRestGateway, kis: responses.RequestsMock) -> None:
    kis.add(responses.POST, ORDER_CASH, json=cash_answer("0000000101"))
    kis.add(responses.GET, ORDERS, json=ccld(ccld_row("0000000101")))
    gateway.place_order(order())
    again = gateway.place_order(order())
    assert (again.order_id, again.duplicate, again.client_order_id) == (oid("0000000101"), True, "order-1")
    assert len(calls_to(kis, ORDER_CASH)) == 1
    with pytest.raises(DuplicateClientOrderId):
        gateway.place_order(order(price=76000))
    assert len(calls_to(kis, ORDER_CASH)) == 1


def test_a_refused_order_keeps_kis_words_and_is_journaled_rejected(gateway: KisRestGateway, kis: responses.RequestsMock) -> None:
    kis.add(responses.POST, ORDER_CASH, json=refusal("APBK0919", "주문가능금액을 초과 했습니다"))
    with pytest.raises(OrderRejected) as caught:
        gateway.place_order(order())
    assert (caught.value.broker_code, caught.value.broker_message) == ("APBK0919", "주문가능금액을 초과 했습니다")
    assert gateway.journal is not None and gateway.journal.entry(ACCOUNT, "order-1").state is JournalState.REJECTED  # type: ignore[union-attr]


def test_an_answer_lost_after_kis_took_the_order_binds_the_order_found(gateway: KisRestGateway, kis: responses.RequestsMock) -> None:
    kis.add(responses.POST, ORDER_CASH, body=requests.ReadTimeout("no answer"))
    other = ccld_row("0000000050", price=74000)  # another order of the day: not it
    kis.add(responses.GET, ORDERS, json=ccld(other, ccld_row("0000000102")))
    result = gateway.place_order(order())
    assert (result.order_id, result.client_order_id) == (oid("0000000102"), "order-1")
    assert len(calls_to(kis, ORDER_CASH)) == 1
    assert gateway.journal is not None and gateway.journal.entry(ACCOUNT, "order-1").order_id == oid("0000000102")  # type: ignore[union-attr]


def test_an_order_not_found_after_a_broken_call_is_sent_again_under_its_id(tmp_path: Path) -> None:
    # "Not found" is certain only twice the order deadline after the send, with KIS's clock known
    # (the lookup's Date header): then the order goes again, under the same client order id.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.POST, f"{BASE}/oauth2/tokenP", json=token_body())
        mock.add(responses.POST, ORDER_CASH, body=requests.ConnectionError("connection reset"))
        mock.add(responses.POST, ORDER_CASH, json=cash_answer("0000000103"))  # the second send (it repeats from here)
        mock.add(responses.GET, ORDERS, json=ccld(), headers={"Date": email.utils.formatdate(usegmt=True)})
        with KisRestGateway(config(tmp_path, timeouts=Timeouts(order_s=0.3))) as gateway:
            result = gateway.place_order(order())
        gateway.close()
        sends, lookups = calls_to(mock, ORDER_CASH), calls_to(mock, ORDERS)
        assert result.order_id == oid("0000000103") and len(sends) == 2 and len(lookups) >= 1


def test_not_found_proves_nothing_without_kis_clock(tmp_path: Path) -> None:
    # A lookup without a Date header cannot place the send on KIS's clock: never "not placed".
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.POST, f"{BASE}/oauth2/tokenP", json=token_body())
        mock.add(responses.POST, ORDER_CASH, body=requests.ConnectionError("connection reset"))
        mock.add(responses.GET, ORDERS, json=ccld())
        with KisRestGateway(config(tmp_path, timeouts=Timeouts(order_s=0.1))) as gateway, pytest.raises(OrderStatusUnknown):
            gateway.place_order(order())
        gateway.close()
        assert len(calls_to(mock, ORDER_CASH)) == 1


def test_a_live_send_is_never_reconciled_or_sent_again(gateway: KisRestGateway, kis: responses.RequestsMock) -> None:
    # As the gateway server would see it: a client looks up (or resends) an order whose first send
    # is still waiting in this process (SENDING, sender alive, nothing left yet).
    assert gateway.journal is not None
    gateway.journal.record(order(), 10.0)
    with pytest.raises(OrderStatusUnknown, match="being sent by a live call"):
        gateway.get_order_by_client_id("order-1")
    with pytest.raises(OrderStatusUnknown):
        gateway.place_order(order())
    assert not calls_to(kis, ORDER_CASH) and not calls_to(kis, ORDERS)
    assert gateway.journal.entry(ACCOUNT, "order-1").state is JournalState.SENDING  # type: ignore[union-attr]


def test_a_rival_unresolved_order_of_the_same_parameters_makes_a_candidate_ambiguous(gateway: KisRestGateway, kis: responses.RequestsMock) -> None:
    assert gateway.journal is not None
    gateway.journal.record(order("rival"), 10.0)
    gateway.journal.unknown(ACCOUNT, "rival", "its answer was lost")
    kis.add(responses.POST, ORDER_CASH, body=requests.ReadTimeout("no answer"))
    kis.add(responses.GET, ORDERS, json=ccld(ccld_row("0000000110")), headers={"Date": email.utils.formatdate(usegmt=True)})
    with pytest.raises(OrderStatusUnknown, match="could also be the unresolved rival"):
        gateway.place_order(order("mine"))
    assert len(calls_to(kis, ORDER_CASH)) == 1


def test_an_unknown_gateway_code_on_an_order_is_looked_up_not_called_refused(gateway: KisRestGateway, kis: responses.RequestsMock) -> None:
    kis.add(responses.POST, ORDER_CASH, json=refusal("EGW00999", "게이트웨이 오류"), status=500)
    kis.add(responses.GET, ORDERS, json=ccld(ccld_row("0000000111")), headers={"Date": email.utils.formatdate(usegmt=True)})
    result = gateway.place_order(order())
    assert result.order_id == oid("0000000111") and len(calls_to(kis, ORDER_CASH)) == 1


def test_several_candidates_are_unknown_and_nothing_is_sent_again(gateway: KisRestGateway, kis: responses.RequestsMock) -> None:
    kis.add(responses.POST, ORDER_CASH, body=requests.ReadTimeout("no answer"))
    kis.add(responses.GET, ORDERS, json=ccld(ccld_row("0000000104"), ccld_row("0000000105")))
    with pytest.raises(OrderStatusUnknown, match=f"{oid('0000000104')}, {oid('0000000105')}") as caught:
        gateway.place_order(order())
    assert caught.value.client_order_id == "order-1" and len(calls_to(kis, ORDER_CASH)) == 1
    assert [e.client_order_id for e in gateway.unresolved_orders()] == ["order-1"]
    with pytest.raises(OrderStatusUnknown):  # never a second order-cash while the first is unresolved
        gateway.place_order(order())
    assert len(calls_to(kis, ORDER_CASH)) == 1


def test_an_order_bound_to_another_client_order_id_is_no_candidate(gateway: KisRestGateway, kis: responses.RequestsMock) -> None:
    kis.add(responses.POST, ORDER_CASH, json=cash_answer("0000000106"))
    gateway.place_order(order("first"))
    kis.replace(responses.POST, ORDER_CASH, body=requests.ReadTimeout("no answer"))
    kis.add(responses.GET, ORDERS, json=ccld(ccld_row("0000000106"), ccld_row("0000000107")))
    result = gateway.place_order(order("second"))
    assert result.order_id == oid("0000000107")


def test_a_cancel_names_the_order_by_its_branch_and_number(tmp_path: Path) -> None:
    with responses.RequestsMock(registry=OrderedRegistry) as mock:
        mock.add(responses.POST, f"{BASE}/oauth2/tokenP", json=token_body())
        mock.add(responses.GET, ORDERS, json=ccld(ccld_row("0000000108")))
        mock.add(responses.POST, CANCEL, json=body("order-rvsecncl.json"), match=[
            matchers.header_matcher({"tr_id": "VTTC0013U"}),
            matchers.json_params_matcher({"CANO": "50123456", "ACNT_PRDT_CD": "01", "KRX_FWDG_ORD_ORGNO": "06010", "ORGN_ODNO": "0000000108",
                                          "ORD_DVSN": "00", "RVSE_CNCL_DVSN_CD": "02", "ORD_QTY": "0", "ORD_UNPR": "0", "QTY_ALL_ORD_YN": "Y",
                                          "EXCG_ID_DVSN_CD": "KRX"})])
        mock.add(responses.GET, ORDERS, json=ccld(ccld_row("0000000108", left=0)))
        with KisRestGateway(config(tmp_path)) as gateway:
            cancelled = gateway.cancel_order("0000000108")
        gateway.close()
    assert cancelled.status is OrderStatus.CANCELLED


def test_a_filled_order_is_not_cancellable(gateway: KisRestGateway, kis: responses.RequestsMock) -> None:
    kis.add(responses.GET, ORDERS, json=ccld(ccld_row("0000000109", filled=10)))
    with pytest.raises(OrderRejected) as caught:
        gateway.cancel_order("0000000109")
    assert caught.value.code == "ORDER_NOT_CANCELLABLE" and not calls_to(kis, CANCEL)


def test_todays_minute_candles_page_back_30_a_call(gateway: KisRestGateway, kis: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch) -> None:
    import jts_broker.kis.gateway as kis_gateway

    today = date(2026, 12, 2)
    monkeypatch.setattr(kis_gateway, "now_kst", lambda: datetime(2026, 12, 2, 16, 0, tzinfo=KST))  # after the close
    template = body("inquire-time-dailychartprice.doc-example.json")["output2"][0]
    asked: list[str] = []

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        hour = request.params["FID_INPUT_HOUR_1"]
        asked.append(hour)
        until = datetime.combine(today, datetime.strptime(hour, "%H%M%S").time())
        minutes = [until - timedelta(minutes=n) for n in range(30)]
        rows = [dict(template, stck_bsop_date="20261202", stck_cntg_hour=m.strftime("%H%M%S"))
                for m in minutes if m.time() >= datetime(2026, 1, 1, 9, 0).time() and m.time() <= datetime(2026, 1, 1, 15, 30).time()]
        return 200, {}, json.dumps({"output1": {}, "output2": rows or [{}], "rt_cd": "0", "msg_cd": "MCA00000", "msg1": "ok"})

    kis.add_callback(responses.GET, f"{BASE}/uapi/domestic-stock/v1/quotations/inquire-time-itemchartprice", callback=answer,
                     match=[matchers.header_matcher({"tr_id": "FHKST03010200"})])
    bars = gateway.get_candles("005930", Timeframe.MINUTE_1, today, today)
    assert bars[0].time == datetime(2026, 12, 2, 9, 0, tzinfo=KST) and bars[-1].time == datetime(2026, 12, 2, 15, 30, tzinfo=KST)
    assert [b.time for b in bars] == sorted({b.time for b in bars}) and len(bars) == 391  # 09:00 to 15:30, each minute once
    assert asked[0] == "153000" and len(asked) == 14  # 30 a call, back from the close


def test_past_minute_candles_are_refused_on_the_paper_domain(gateway: KisRestGateway, kis: responses.RequestsMock) -> None:
    before = len(kis.calls)
    with pytest.raises(InvalidRequest) as caught:
        gateway.get_candles("005930", Timeframe.MINUTE_1, date(2025, 6, 13), date(2025, 6, 13))
    assert caught.value.code == "NOT_ON_PAPER" and len(kis.calls) == before


def test_a_token_issue_whose_answer_was_lost_still_counts_for_the_minute(tmp_path: Path) -> None:
    from jts_broker.domain.errors import DeadlineExceeded
    from jts_broker.kis.token import ISSUE_INTERVAL_S, KisTokens

    answers: list[Any] = [DeadlineExceeded("no answer", code="READ_TIMEOUT"), token_body()]
    waits: list[float] = []

    def issue() -> dict[str, Any]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    tokens = KisTokens(tmp_path, "fingerprint", issue, sleep=waits.append)
    with pytest.raises(DeadlineExceeded):
        tokens.get()  # KIS may have issued it: the attempt is on file
    assert tokens.get().reveal() == TOKEN
    assert len(waits) == 1 and ISSUE_INTERVAL_S - 1 < waits[0] <= ISSUE_INTERVAL_S  # waited out the minute of the lost attempt
    assert stat.S_IMODE(os.stat(tmp_path / "fingerprint.attempt").st_mode) == 0o600


def test_two_calls_that_both_found_a_client_order_id_free_send_it_once(gateway: KisRestGateway, kis: responses.RequestsMock,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # The race the claim closes: both calls looked at the journal before either wrote to it.
    monkeypatch.setattr(gateway.orders, "_journaled", lambda order: None)
    kis.add(responses.POST, ORDER_CASH, json=cash_answer("0000000120"))
    gateway.place_order(order())
    with pytest.raises(OrderStatusUnknown, match="just taken by another call"):
        gateway.place_order(order())
    assert len(calls_to(kis, ORDER_CASH)) == 1


def test_on_the_real_domain_kis_own_pre_checks_refuse_before_any_order_call(tmp_path: Path, kis: responses.RequestsMock) -> None:
    kis.add(responses.GET, f"{BASE}/uapi/domestic-stock/v1/trading/inquire-psbl-sell", json=body("inquire-psbl-sell.json"),
            match=[matchers.header_matcher({"tr_id": "TTTC8408R"}), matchers.query_param_matcher({"PDNO": "005930"}, strict_match=False)])
    kis.add(responses.GET, f"{BASE}/uapi/domestic-stock/v1/trading/inquire-psbl-rvsecncl", json=body("inquire-psbl-rvsecncl.doc-example.json"),
            headers={"tr_cont": "D"}, match=[matchers.header_matcher({"tr_id": "TTTC0084R"})])
    kis.add(responses.GET, ORDERS, json=ccld(ccld_row("0000000130")))
    with KisRestGateway(config(tmp_path, env="real")) as gateway:
        with pytest.raises(OrderRejected) as refused:  # 1,744 sellable, 2,000 asked
            gateway.place_order(limit_order(ACCOUNT, "005930", Side.SELL, 2000, 75000, client_order_id="too-many"))
        assert refused.value.code == "INSUFFICIENT_QUANTITY"
        with pytest.raises(OrderRejected) as not_open:  # KIS lists nothing of it to cancel
            gateway.cancel_order(oid("0000000130"))
        assert not_open.value.code == "ORDER_NOT_CANCELLABLE"
    gateway.close()
    assert not calls_to(kis, ORDER_CASH) and not calls_to(kis, CANCEL)


def test_without_a_journal_a_client_order_id_is_unknown_never_not_found(tmp_path: Path, kis: responses.RequestsMock) -> None:
    with KisRestGateway(config(tmp_path, order_journal="none")) as gateway, pytest.raises(OrderStatusUnknown) as caught:
        gateway.get_order_by_client_id("anything")
    gateway.close()
    assert caught.value.code == "NO_ORDER_JOURNAL"


def test_a_bound_order_kis_does_not_list_yet_is_unknown_never_not_found(gateway: KisRestGateway, kis: responses.RequestsMock) -> None:
    kis.add(responses.POST, ORDER_CASH, json=cash_answer("0000000140"))
    kis.add(responses.GET, ORDERS, json=ccld())  # KIS's list lags its answer
    gateway.place_order(order())
    with pytest.raises(OrderStatusUnknown, match="does not list"):
        gateway.get_order_by_client_id("order-1")
    with pytest.raises(OrderStatusUnknown):
        gateway.place_order(order())
    assert len(calls_to(kis, ORDER_CASH)) == 1


def test_an_error_without_an_outcome_leaves_the_entry_unknown_not_sending(gateway: KisRestGateway, kis: responses.RequestsMock,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    kis.add(responses.POST, ORDER_CASH, json=cash_answer("0000000141"))

    def broken(*args: Any) -> Any:
        raise ServerError("cannot build the order", code="MALFORMED_RESPONSE")

    monkeypatch.setattr(gateway.orders, "_accepted", broken)
    with pytest.raises(ServerError):
        gateway.place_order(order())
    assert gateway.journal is not None
    assert gateway.journal.entry(ACCOUNT, "order-1").state is JournalState.UNKNOWN  # type: ignore[union-attr]
    assert [e.client_order_id for e in gateway.journal.abandoned()] == ["order-1"]  # reconcilable, not stuck


def test_a_second_cancel_refused_after_a_lost_answer_returns_the_cancelled_order(tmp_path: Path) -> None:
    with responses.RequestsMock(registry=OrderedRegistry) as mock:
        mock.add(responses.POST, f"{BASE}/oauth2/tokenP", json=token_body())
        mock.add(responses.GET, ORDERS, json=ccld(ccld_row("0000000150")))
        mock.add(responses.POST, CANCEL, body=requests.ReadTimeout("no answer"))
        mock.add(responses.GET, ORDERS, json=ccld(ccld_row("0000000150")))  # the list lags: still working
        mock.add(responses.POST, CANCEL, json=refusal("APBK0904", "원주문번호가 존재하지 않습니다"))
        mock.add(responses.GET, ORDERS, json=ccld(ccld_row("0000000150", left=0)))  # the first cancel did it
        with KisRestGateway(config(tmp_path)) as gateway:
            cancelled = gateway.cancel_order(oid("0000000150"))
        gateway.close()
    assert cancelled.status is OrderStatus.CANCELLED


def test_after_egw00201_the_caller_waits_its_retry_after_and_the_next_call_succeeds(tmp_path: Path) -> None:
    with responses.RequestsMock(registry=OrderedRegistry) as mock:
        mock.add(responses.POST, f"{BASE}/oauth2/tokenP", json=token_body())
        mock.add(responses.GET, PRICE, json=refusal("EGW00201", "초당 거래건수를 초과하였습니다."), status=500)
        mock.add(responses.GET, PRICE, json=body("inquire-price.json"))
        with KisRestGateway(config(tmp_path)) as gateway:
            with pytest.raises(RateLimitExceeded) as caught:
                gateway.check_health()
            assert caught.value.retry_after_s == 1.0
            gateway.check_health()  # the refused call was not resent behind the caller's back: this is the second
        gateway.close()
        assert len(calls_to(mock, PRICE)) == 2


def test_a_cached_token_is_renewed_ten_minutes_before_it_expires(tmp_path: Path) -> None:
    from jts_broker.kis.token import KisTokens

    now = time.time()
    soon = datetime.fromtimestamp(now + 300, KST).strftime("%Y-%m-%d %H:%M:%S")  # 5 minutes left
    issued: list[str] = []

    def issue() -> dict[str, Any]:
        issued.append("x")
        return token_body() if len(issued) > 1 else {"access_token": "eyJold", "access_token_token_expired": soon}

    waits: list[float] = []
    assert KisTokens(tmp_path, "fp", issue, sleep=waits.append).get().reveal() == "eyJold"  # just issued: used as given
    later = KisTokens(tmp_path, "fp", issue, sleep=waits.append)  # another process finds it cached with 5 minutes left
    assert later.get().reveal() == TOKEN and len(issued) == 2
    assert len(waits) == 1  # (not within a minute of the last issue: waited that out first)
    third = KisTokens(tmp_path, "fp", issue, sleep=waits.append)
    assert third.get().reveal() == TOKEN and len(issued) == 2  # the renewed one is fresh: no issue
