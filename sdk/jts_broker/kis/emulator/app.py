"""The KIS emulator's HTTP application (Flask): KIS's endpoints, headers, error bodies and limits
over the paper engine. What it reproduces and what it does not: see :mod:`jts_broker.kis.emulator`.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import random
import secrets
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import flask
import flask_sock  # type: ignore[import-untyped]  # no type information shipped
from werkzeug.datastructures import Headers

from jts_broker.domain.enums import Side, Timeframe
from jts_broker.domain.errors import JtsBrokerError
from jts_broker.domain.timeutil import KST, now_kst, start_of_day
from jts_broker.domain.trading import OrderRequest
from jts_broker.paper.broker import PaperBroker

from .. import endpoints as ep
from . import shapes

log = logging.getLogger(__name__)

BRANCH = "06010"
"""The order branch (``KRX_FWDG_ORD_ORGNO``) the emulator's orders carry."""
TOKEN_INTERVAL_S = 60.0
"""KIS issues one token a minute per app key (``EGW00133``)."""


@dataclass(frozen=True, slots=True)
class Faults:
    """Faults the emulator injects, like ``serve``'s.

    Attributes:
        drop_after_commit: fraction of order-cash answers cut after the order was taken (the
            connection closes with no answer).
        latency_s: added to every successful answer after its work is done (an order is taken,
            its answer late), seconds.
        error_5xx: fraction of reads answered HTTP 500 with no KIS body.
        seed: of the random draws (None: unseeded).
    """

    drop_after_commit: float = 0.0
    latency_s: float = 0.0
    error_5xx: float = 0.0
    seed: int | None = None


class KisError(Exception):
    """A KIS refusal: ``rt_cd`` 1 with ``msg_cd``/``msg1``, on HTTP ``status``."""

    def __init__(self, msg_cd: str, msg1: str, status: int = 200) -> None:
        super().__init__(msg1)
        self.msg_cd, self.msg1, self.status = msg_cd, msg1, status


class EmulatorState:
    """Everything the emulator knows: tokens, budgets, order numbers, the paper engine. One lock."""

    def __init__(self, broker: PaperBroker, env: str, *, credentials: Mapping[str, str] | None, rate_per_s: int, token_ttl_s: float,
                 faults: Faults) -> None:
        self.broker = broker
        self.market = broker.market
        self.env = env
        self.credentials = dict(credentials) if credentials is not None else None
        self.rate_per_s = rate_per_s
        self.token_ttl_s = token_ttl_s
        self.faults = faults
        self.random = random.Random(faults.seed)
        self.lock = threading.Lock()
        self.tokens: dict[str, tuple[str, float]] = {}  # token -> (app key, expiry epoch)
        self.issued: dict[str, tuple[str, float]] = {}  # app key -> (its current token, when issued)
        self.calls: dict[str, deque[float]] = {}
        self.numbers: dict[date, itertools.count[int]] = {}  # KIS numbers orders per day (and branch)
        self.orders: dict[tuple[date, str], tuple[str, datetime]] = {}  # (day, ODNO) -> (paper order id, placed at)
        self.cancels: dict[tuple[date, str], list[tuple[str, datetime, int]]] = {}  # the original's key -> [(ODNO, at, quantity)]
        self.clock_skew_s = 0.0
        """KIS's clock less the machine's, seconds: order times and the ``Date`` header follow it."""
        self.stats: Counter[str] = Counter()
        self.approvals: set[str] = set()
        self.ping_interval_s = 10.0
        """Seconds between the feed's PINGPONG messages."""
        self.feed_extra_fields = 0
        """Fields appended to every feed record, as KIS adds fields over time (clients must
        tolerate them)."""
        self.stopping = threading.Event()

    def tr_ids(self, name: str) -> str:
        real, paper = ep.TR_IDS[name]
        return real if self.env == "real" else paper

    def now(self) -> datetime:
        """KIS's clock (the machine's, plus ``clock_skew_s``)."""
        return now_kst() + timedelta(seconds=self.clock_skew_s)

    def next_odno(self, day: date) -> str:
        """The next order number of ``day`` (call with the lock held)."""
        return f"{next(self.numbers.setdefault(day, itertools.count(1))):010d}"


def _json(body: dict[str, Any], status: int = 200, tr_cont: str = "") -> flask.Response:
    response = flask.jsonify(body)
    response.status_code = status
    response.headers["tr_cont"] = tr_cont
    return response


def _refusal(error: KisError) -> flask.Response:
    return _json({"rt_cd": "1", "msg_cd": error.msg_cd, "msg1": error.msg1}, error.status)


def _drop_connection() -> flask.Response:
    """Close the client's connection with no answer (the order stays taken)."""
    sock = flask.request.environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    return flask.Response(status=500)


def create_app(state: EmulatorState) -> flask.Flask:
    """The Flask application of ``state``."""
    app = flask.Flask("jts_broker.kis.emulator")
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # KIS answers in UTF-8 Korean

    def body() -> dict[str, Any]:
        data = flask.request.get_json(silent=True)
        if not isinstance(data, dict):
            raise KisError("OPSQ0001", "요청 본문이 JSON 객체가 아닙니다 (the request body is not a JSON object)")
        return data

    def app_key_of(data: Mapping[str, Any], secret_field: str) -> str:
        key, secret = str(data.get("appkey", "")), str(data.get(secret_field, ""))
        if not key or not secret or (state.credentials is not None and state.credentials.get(key) != secret):
            raise KisError("EGW00105", "유효하지 않은 AppSecret입니다.", 403)
        return key

    # -- tokens -----------------------------------------------------------------------------------
    @app.post(ep.TOKEN.path)
    def token() -> flask.Response:
        try:
            data = body()
            key = app_key_of(data, "appsecret")
        except KisError as error:
            return _json({"error_code": error.msg_cd, "error_description": error.msg1}, 403)
        now = time.time()
        with state.lock:
            current = state.issued.get(key)
            if current is not None and now - current[1] < TOKEN_INTERVAL_S:
                state.stats["token_refused"] += 1
                return _json({"error_code": "EGW00133", "error_description": "접근토큰 발급 잠시 후 다시 시도하세요(1분당 1회)"}, 403)
            value = f"emu-{secrets.token_urlsafe(24)}"
            state.tokens[value] = (key, now + state.token_ttl_s)
            state.issued[key] = (value, now)
            state.stats["tokens_issued"] += 1
        expires = datetime.fromtimestamp(now + state.token_ttl_s, KST).strftime("%Y-%m-%d %H:%M:%S")
        return _json({"access_token": value, "access_token_token_expired": expires, "token_type": "Bearer", "expires_in": int(state.token_ttl_s)})

    @app.post(ep.REVOKE.path)
    def revoke() -> flask.Response:
        data = flask.request.get_json(silent=True) or {}
        with state.lock:
            state.tokens.pop(str(data.get("token", "")), None)
        return _json({"code": 200, "message": "접근토큰 폐기에 성공하였습니다"})

    @app.post(ep.APPROVAL.path)
    def approval() -> flask.Response:
        try:
            app_key_of(body(), "secretkey")
        except KisError as error:
            return _json({"error_code": error.msg_cd, "error_description": error.msg1}, 403)
        key = f"{secrets.token_hex(4)}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"
        with state.lock:
            state.approvals.add(key)
        return _json({"approval_key": key})

    sock = flask_sock.Sock(app)

    @sock.route("/tryitout")  # type: ignore[untyped-decorator]
    def feed(ws: Any) -> None:
        """KIS's real-time feed: subscriptions of H0STCNT0 and H0STASP0, a frame per symbol each
        time the replay steps, PINGPONG every ``ping_interval_s``."""
        subscribed: dict[tuple[str, str], None] = {}
        step, next_ping = state.market.step, time.monotonic() + state.ping_interval_s
        with state.lock:
            state.stats["feed_sessions"] += 1
        while ws.connected and not state.stopping.is_set():
            message = ws.receive(timeout=0.05)
            if message is not None:
                reply = feed_control(message, subscribed)
                if reply is not None:
                    ws.send(reply)
            if time.monotonic() >= next_ping:
                ws.send(json.dumps({"header": {"tr_id": "PINGPONG", "datetime": state.now().strftime("%Y%m%d%H%M%S")}}))
                next_ping = time.monotonic() + state.ping_interval_s
            if state.market.step != step:
                step = state.market.step
                for tr_id, code in list(subscribed):
                    ws.send(feed_frame(tr_id, code))

    def feed_control(message: str, subscribed: dict[tuple[str, str], None]) -> str | None:
        try:
            data = json.loads(message)
            header = data["header"]
            if header.get("tr_id") == "PINGPONG":  # the client's echo
                with state.lock:
                    state.stats["feed_pongs"] += 1
                return None
            request = data["body"]["input"]
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        tr_id, code, kind = str(request.get("tr_id", "")), str(request.get("tr_key", "")), header.get("tr_type")

        def answer(rt_cd: str, msg_cd: str, msg1: str) -> str:
            body: dict[str, Any] = {"rt_cd": rt_cd, "msg_cd": msg_cd, "msg1": msg1}
            if rt_cd == "0":
                body["output"] = {"iv": secrets.token_hex(8), "key": secrets.token_hex(16)}
            return json.dumps({"header": {"tr_id": tr_id, "tr_key": code, "encrypt": "N"}, "body": body})

        with state.lock:
            approved = header.get("approval_key") in state.approvals
        if not approved:
            return answer("1", "OPSP8996", "invalid approval : NOT FOUND")
        if tr_id not in ("H0STCNT0", "H0STASP0"):
            return answer("1", "OPSP0011", "invalid tr_id")
        if kind == "2":
            subscribed.pop((tr_id, code), None)
            return answer("0", "OPSP0001", "UNSUBSCRIBE SUCCESS")
        if len(subscribed) >= 40:
            return answer("1", "OPSP0008", "MAX SUBSCRIBE OVER")
        subscribed[(tr_id, code)] = None
        return answer("0", "OPSP0000", "SUBSCRIBE SUCCESS")

    def feed_frame(tr_id: str, code: str) -> str:
        quote = state.market.quote(code)
        extra = ["0"] * state.feed_extra_fields
        if tr_id == "H0STCNT0":
            fields = shapes.trade_record(quote, state.now().date()) + extra
        else:
            fields = shapes.book_record(quote) + extra
        return f"0|{tr_id}|001|{'^'.join(fields)}"

    # -- the calls --------------------------------------------------------------------------------
    def kis_call(*tr_names: str, read: bool = True) -> Callable[[Callable[..., tuple[dict[str, Any], bool]]], Callable[[], flask.Response]]:
        """Wrap a handler with what every KIS call goes through: the token, the app key, the
        tr_id, the per-second budget and the injected faults."""

        def wrap(handler: Callable[..., tuple[dict[str, Any], bool]]) -> Callable[[], flask.Response]:
            @functools.wraps(handler)
            def view() -> flask.Response:
                headers = flask.request.headers
                try:
                    tr_id = headers.get("tr_id", "")
                    by_id = {state.tr_ids(n): n for n in tr_names if state.tr_ids(n)}
                    if tr_id not in by_id:
                        other = {real if state.env == "paper" else paper for n in tr_names for real, paper in [ep.TR_IDS[n]]}
                        if tr_id in other:
                            raise KisError("EGW02004", "실전/모의투자 TR 이 아닙니다 (a transaction of the other domain).", 500)
                        raise KisError("OPSQ0002", f"없는 서비스 코드 입니다 (unknown tr_id {tr_id!r}).")
                    _authorize(headers)
                    if read and state.faults.error_5xx and state.random.random() < state.faults.error_5xx:
                        state.stats["faults_5xx"] += 1
                        return flask.Response("<html><body>502 Bad Gateway</body></html>", status=502, content_type="text/html")
                    out, more = handler(by_id[tr_id])
                except KisError as error:
                    return _refusal(error)
                if state.faults.latency_s:
                    time.sleep(state.faults.latency_s)  # after the work: an order is taken, its answer late
                cont = headers.get("tr_cont", "")
                return _json(out, tr_cont=("M" if cont == "N" else "F") if more else ("E" if cont == "N" else "D"))

            return view

        return wrap

    def _authorize(headers: Headers) -> None:
        scheme, _, value = headers.get("authorization", "").partition(" ")
        now = time.time()
        with state.lock:
            found = state.tokens.get(value) if scheme.lower() == "bearer" else None
            if found is None:
                raise KisError("EGW00121", "유효하지 않은 token 입니다.", 500)
            key, expires = found
            if now >= expires:
                raise KisError("EGW00123", "기간이 만료된 token 입니다.", 500)
            if headers.get("appkey") != key or (state.credentials is not None and state.credentials.get(key) != headers.get("appsecret")):
                raise KisError("EGW00105", "유효하지 않은 AppSecret입니다.", 500)
            window = state.calls.setdefault(key, deque())
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= state.rate_per_s:
                state.stats["rate_limited"] += 1
                raise KisError("EGW00201", "초당 거래건수를 초과하였습니다.", 500)
            window.append(now)
            state.stats["calls"] += 1

    def arg(name: str) -> str:
        return flask.request.args.get(name, "")

    def day_arg(value: str, name: str) -> date:
        try:
            return datetime.strptime(value, "%Y%m%d").date()
        except ValueError:
            raise KisError("OPSQ0003", f"{name} 는 YYYYMMDD 이어야 합니다 (got {value!r}).") from None

    def market_call(fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except JtsBrokerError as exc:
            raise KisError(f"EMUL_{exc.code or 'ERROR'}", exc.message) from None

    def page_index() -> int:
        if flask.request.headers.get("tr_cont") != "N":
            return 0
        marker = arg("CTX_AREA_NK100").strip()
        return int(marker[4:]) if marker.startswith("page") and marker[4:].isdigit() else 0

    def contexts(index: int) -> dict[str, str]:
        return {"ctx_area_fk100": f"{arg('CANO')}^{arg('ACNT_PRDT_CD')}^".ljust(100), "ctx_area_nk100": f"page{index + 1}".ljust(100)}

    def account() -> str:
        key = f"{arg('CANO') or body().get('CANO', '')}-{arg('ACNT_PRDT_CD') or body().get('ACNT_PRDT_CD', '')}"
        if key not in {a.account_id for a in state.broker.accounts()}:
            raise KisError("OPSQ0013", f"계좌번호가 유효하지 않습니다 (no account {key}).")
        return key

    @app.get(ep.PRICE.path)
    @kis_call("price")
    def price(tr_id: str) -> tuple[dict[str, Any], bool]:
        code = arg("FID_INPUT_ISCD")
        quote = market_call(lambda: state.market.quote(code))
        return shapes.answer(output=shapes.price_output(quote, state.market.symbol(code))), False

    @app.get(ep.ASKING_PRICE.path)
    @kis_call("asking_price")
    def asking_price(tr_id: str) -> tuple[dict[str, Any], bool]:
        code = arg("FID_INPUT_ISCD")
        return shapes.answer(**shapes.asking_output(market_call(lambda: state.market.quote(code)))), False

    @app.get(ep.DAILY_CHART.path)
    @kis_call("daily_chart")
    def daily_chart(tr_id: str) -> tuple[dict[str, Any], bool]:
        code, period = arg("FID_INPUT_ISCD"), arg("FID_PERIOD_DIV_CODE")
        timeframe = {"D": Timeframe.DAY, "W": Timeframe.WEEK, "M": Timeframe.MONTH}.get(period)
        if timeframe is None:
            raise KisError("OPSQ0003", f"FID_PERIOD_DIV_CODE 는 D, W, M 입니다 (got {period!r}).")
        first, last = day_arg(arg("FID_INPUT_DATE_1"), "FID_INPUT_DATE_1"), day_arg(arg("FID_INPUT_DATE_2"), "FID_INPUT_DATE_2")
        if last < first:
            return shapes.answer(output1={}, output2=[{}]), False
        daily = market_call(lambda: state.market.candles(code, Timeframe.DAY, start_of_day(first), start_of_day(last + timedelta(days=1))))
        rows = shapes.period_rows(daily, timeframe)[:100]
        return shapes.answer(output1={"stck_shrn_iscd": code, "hts_kor_isnm": state.market.symbol(code).name}, output2=rows or [{}]), False

    def minute_answer(code: str, day: date, hour: str, count: int) -> dict[str, Any]:
        try:
            until = datetime.combine(day, datetime.strptime(hour, "%H%M%S").time(), tzinfo=KST)
        except ValueError:
            raise KisError("OPSQ0003", f"FID_INPUT_HOUR_1 는 HHMMSS 입니다 (got {hour!r}).") from None
        bars = market_call(lambda: state.market.candles(code, Timeframe.MINUTE_1, start_of_day(day), until + timedelta(seconds=1)))
        rows = shapes.minute_rows(bars)[:count]
        return shapes.answer(output1={"stck_prpr": "0", "hts_kor_isnm": state.market.symbol(code).name}, output2=rows or [{}])

    @app.get(ep.TODAY_MINUTES.path)
    @kis_call("today_minutes")
    def today_minutes(tr_id: str) -> tuple[dict[str, Any], bool]:
        return minute_answer(arg("FID_INPUT_ISCD"), state.market.session_date, arg("FID_INPUT_HOUR_1"), 30), False

    @app.get(ep.DAY_MINUTES.path)
    @kis_call("day_minutes")
    def day_minutes(tr_id: str) -> tuple[dict[str, Any], bool]:
        return minute_answer(arg("FID_INPUT_ISCD"), day_arg(arg("FID_INPUT_DATE_1"), "FID_INPUT_DATE_1"), arg("FID_INPUT_HOUR_1"), 120), False

    @app.get(ep.BALANCE.path)
    @kis_call("balance")
    def balance(tr_id: str) -> tuple[dict[str, Any], bool]:
        account_id = account()
        rows = [shapes.holding_row(p) for p in market_call(lambda: state.broker.positions(account_id))]
        index = page_index()
        chosen, more = shapes.page(rows, 50 if state.env == "real" else 20, index)
        summary = shapes.balance_summary(market_call(lambda: state.broker.balance(account_id)))
        return {**contexts(index), "output1": chosen, "output2": [summary], **shapes.DONE}, more

    @app.get(ep.BUYING_POWER.path)
    @kis_call("buying_power")
    def buying_power(tr_id: str) -> tuple[dict[str, Any], bool]:
        power = market_call(lambda: state.broker.balance(account())).buying_power
        return {"output": {"ord_psbl_cash": shapes.num(power), "max_buy_amt": shapes.num(power)}, **shapes.DONE}, False

    @app.get(ep.SELLABLE.path)
    @kis_call("sellable")
    def sellable(tr_id: str) -> tuple[dict[str, Any], bool]:
        account_id, code = account(), arg("PDNO")
        held = [p for p in market_call(lambda: state.broker.positions(account_id)) if p.symbol == code]
        free = held[0].sellable_quantity if held else 0
        name = market_call(lambda: state.market.symbol(code)).name
        return {"output": {"pdno": code, "prdt_name": name, "cblc_qty": shapes.num(held[0].quantity if held else 0),
                           "ord_psbl_qty": shapes.num(free)}, **shapes.DONE}, False

    @app.get(ep.CANCELLABLE.path)
    @kis_call("cancellable")
    def cancellable(tr_id: str) -> tuple[dict[str, Any], bool]:
        account_id, today = account(), state.now().date()
        with state.lock:
            placed = [(odno, order_id, at) for (day, odno), (order_id, at) in state.orders.items() if day == today]
        rows = []
        for odno, order_id, at in placed:
            order = state.broker.order(order_id)
            if order.account_id != account_id or order.status.is_final:
                continue
            full = shapes.order_row(order, odno, BRANCH, at, 0)
            rows.append({key: full[key] for key in ("ord_gno_brno", "odno", "orgn_odno", "pdno", "ord_qty", "ord_unpr", "ord_tmd", "tot_ccld_qty",
                                                    "sll_buy_dvsn_cd", "ord_dvsn_cd")}
                        | {"psbl_qty": full["rmn_qty"], "prdt_name": order.symbol, "tot_ccld_amt": "0", "mgco_aptm_odno": ""})
        index = page_index()
        chosen, more = shapes.page(rows, 20, index)
        return {**contexts(index), "output": chosen, **shapes.DONE}, more

    @app.get(ep.DAILY_ORDERS.path)
    @kis_call("daily_orders")
    def daily_orders(tr_id: str) -> tuple[dict[str, Any], bool]:
        account_id = account()
        first, last = day_arg(arg("INQR_STRT_DT"), "INQR_STRT_DT"), day_arg(arg("INQR_END_DT"), "INQR_END_DT")
        rows = []
        with state.lock:
            placed = list(state.orders.items())
            cancels = {k: list(v) for k, v in state.cancels.items()}
        for (_, odno), (order_id, at) in placed:
            order = state.broker.order(order_id)
            if order.account_id != account_id or not first <= at.date() <= last:
                continue
            if (arg("PDNO") and order.symbol != arg("PDNO")) or (arg("ODNO") and odno != arg("ODNO").zfill(10)):
                continue
            key = (at.date(), odno)
            cancelled = sum(q for _, _, q in cancels.get(key, []))
            row = shapes.order_row(order, odno, BRANCH, at, cancelled)
            rows.append(row)
            rows.extend(shapes.cancel_row(row, c_odno, c_at, q) for c_odno, c_at, q in cancels.get(key, []) if not arg("ODNO"))
        rows.sort(key=lambda r: (r["ord_dt"], r["ord_tmd"], r["odno"]), reverse=arg("INQR_DVSN") != "01")
        index = page_index()
        chosen, more = shapes.page(rows, 20, index)
        total = {"tot_ord_qty": shapes.num(sum(int(r["ord_qty"]) for r in rows)), "tot_ccld_qty": shapes.num(sum(int(r["tot_ccld_qty"]) for r in rows)),
                 "tot_ccld_amt": "0", "prsm_tlex_smtl": "0", "pchs_avg_pric": "0.0000"}
        return {**contexts(index), "output1": chosen, "output2": total, **shapes.DONE}, more

    @app.post(ep.ORDER_CASH.path)
    @kis_call("order_buy", "order_sell", read=False)
    def order_cash(tr_id: str) -> tuple[dict[str, Any], bool]:
        data = body()
        account_id = account()
        kinds = shapes.DIVISION_KINDS.get(str(data.get("ORD_DVSN", "")))
        if kinds is None:
            raise KisError("APBK0015", f"주문구분이 유효하지 않습니다 (ORD_DVSN {data.get('ORD_DVSN')!r}).")
        try:
            quantity, price = int(str(data.get("ORD_QTY", ""))), Decimal(str(data.get("ORD_UNPR", "")))
        except (ValueError, InvalidOperation):
            raise KisError("APBK0016", "주문수량 또는 단가가 유효하지 않습니다 (ORD_QTY, ORD_UNPR).") from None
        if data.get("EXCG_ID_DVSN_CD", "KRX") not in ("KRX", ""):
            raise KisError("APBK0017", f"거래소 {data.get('EXCG_ID_DVSN_CD')!r} 는 모의 환경에서 지원하지 않습니다.")
        side = Side.BUY if tr_id == "order_buy" else Side.SELL
        placed_at = state.now()
        with state.lock:
            odno = state.next_odno(placed_at.date())
        request = OrderRequest(account_id, str(data.get("PDNO", "")), side, quantity, kinds[0], None if price == 0 else price, kinds[1],
                               client_order_id=f"kis-{placed_at:%Y%m%d}-{odno}")
        result = market_call(lambda: state.broker.place(request))
        with state.lock:
            state.orders[(placed_at.date(), odno)] = (result.order_id, placed_at)
            state.stats["orders"] += 1
        if state.faults.drop_after_commit and state.random.random() < state.faults.drop_after_commit:
            state.stats["answers_dropped"] += 1
            raise _Dropped()
        return {"output": {"KRX_FWDG_ORD_ORGNO": BRANCH, "ODNO": odno, "ORD_TMD": shapes.hms(placed_at)}, **shapes.ORDER_SENT}, False

    @app.post(ep.ORDER_CANCEL.path)
    @kis_call("order_cancel", read=False)
    def order_cancel(tr_id: str) -> tuple[dict[str, Any], bool]:
        data = body()
        account()
        original = str(data.get("ORGN_ODNO", "")).zfill(10)
        if data.get("RVSE_CNCL_DVSN_CD") != "02":
            raise KisError("APBK1000", "정정은 에뮬레이터에서 지원하지 않습니다 (amendments are not emulated: RVSE_CNCL_DVSN_CD 02 only).")
        today = state.now().date()  # KIS cancels the day's orders
        with state.lock:
            found = state.orders.get((today, original))
        if found is None or data.get("KRX_FWDG_ORD_ORGNO") != BRANCH:
            raise KisError("APBK0904", f"원주문번호가 존재하지 않습니다 (no order {original} at branch {data.get('KRX_FWDG_ORD_ORGNO')!r}).")
        before = state.broker.order(found[0])
        cancelled = market_call(lambda: state.broker.cancel(found[0]))
        at = state.now()
        with state.lock:
            odno = state.next_odno(at.date())
            state.cancels.setdefault((today, original), []).append((odno, at, cancelled.quantity - before.filled_quantity))
        return {"output": {"KRX_FWDG_ORD_ORGNO": BRANCH, "ODNO": odno, "ORD_TMD": shapes.hms(at)}, **shapes.ORDER_SENT}, False

    @app.errorhandler(_Dropped)
    def dropped(_: _Dropped) -> flask.Response:
        return _drop_connection()

    @app.get("/_emulator/stats")
    def stats() -> flask.Response:
        """What the emulator counted (tokens issued, calls, refusals, orders, faults): for tests."""
        with state.lock:
            return flask.jsonify(dict(state.stats))

    return app


class _Dropped(Exception):
    """An order-cash answer to cut (``Faults.drop_after_commit``)."""
