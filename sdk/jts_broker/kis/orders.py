"""Orders on KIS at most once, though KIS has no client order id.

KIS's order-cash answers with its own order number (``KRX_FWDG_ORD_ORGNO`` + ``ODNO``) and knows
nothing of the caller's client order id. So the order journal (``jts_broker.journal``) binds them:
the client order id, the request and the send time are written before order-cash leaves, and the
order number once it answers.

- A client order id already bound returns the journaled order (``duplicate=True``); nothing is sent.
- A call that broke after the request may have arrived (no answer in time, a broken connection,
  HTTP 5xx, an unreadable answer) is reconciled against the day's orders (inquire-daily-ccld): the
  orders of the same symbol, side, quantity and price (or market type), ordered no earlier than the
  send time (on KIS's clock, learned from its ``Date`` headers, less ``CLOCK_TOLERANCE_S``), and
  bound to no other journal entry. One candidate binds; none, once ``KisConfig.settle_s`` has passed
  since the failure, means it was not placed and it is sent again under the same client order id;
  several end in ``OrderStatusUnknown`` naming them.
- Never a second order-cash for one client order id while the first is unresolved: an unresolved
  entry is reconciled first.

A refusal (``rt_cd`` != 0: ``OrderRejected``, ``EGW00201``, token errors) means KIS did not take
the order; a request that never connected was not sent.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping
from datetime import date, datetime
from datetime import time as clock_time
from decimal import Decimal

from jts_broker.domain.enums import JournalState, OrderStatus, OrderType, Side
from jts_broker.domain.errors import (
    AccountNotFound,
    BrokerUnavailable,
    JtsBrokerError,
    OrderNotFound,
    OrderRejected,
    OrderStatusUnknown,
    ServerError,
)
from jts_broker.domain.orders import is_same_order, prepare_order
from jts_broker.domain.timeutil import KST, now_kst
from jts_broker.domain.trading import JournalEntry, Order, OrderRequest, OrderResult
from jts_broker.journal import OrderJournal
from jts_broker.policies.retrying import RecoveryBackoff

from . import endpoints as ep
from . import parse
from .config import KisConfig
from .http import NOT_SENT_CODES, KisHttp

log = logging.getLogger(__name__)

CLOCK_TOLERANCE_S = 2.0
"""How much earlier than the send time (on KIS's clock) a candidate may be stamped: KIS stamps
orders to the second, and its ``Date`` header is to the second too."""


def _ambiguous(exc: JtsBrokerError) -> bool:
    """Whether a failed order call may have reached KIS and been taken."""
    if isinstance(exc, BrokerUnavailable):
        return exc.code not in NOT_SENT_CODES
    return isinstance(exc, ServerError)  # HTTP 5xx without a refusal, an unreadable answer


class KisOrders:
    """Placing, cancelling and looking up orders of one KIS account (see the module)."""

    def __init__(self, config: KisConfig, http: KisHttp, journal: OrderJournal | None, names: Mapping[str, str]) -> None:
        self.config = config
        self.http = http
        self.journal = journal
        self._names = names

    # -- lookups ----------------------------------------------------------------------------------
    def _rows(self, since: date, *, odno: str = "", symbol: str = "") -> list[parse.Fields]:
        today = now_kst().date()
        params = {"CANO": self.config.cano, "ACNT_PRDT_CD": self.config.product_code, "INQR_STRT_DT": since.strftime("%Y%m%d"),
                  "INQR_END_DT": today.strftime("%Y%m%d"), "SLL_BUY_DVSN_CD": "00", "PDNO": symbol, "CCLD_DVSN": "00",
                  "INQR_DVSN": "01", "INQR_DVSN_3": "00", "ORD_GNO_BRNO": "", "ODNO": odno, "INQR_DVSN_1": "", "EXCG_ID_DVSN_CD": "KRX"}
        return parse.order_rows(list(self.http.pages(ep.DAILY_ORDERS, "daily_orders", params)))

    def _client_id(self, order_id: str) -> str:
        entry = self.journal.by_order_id(order_id) if self.journal is not None else None
        return entry.client_order_id if entry is not None else ""

    def _order(self, row: parse.Fields, client_order_id: str | None = None) -> Order:
        odno = row.text("odno")
        return parse.order(self.config.account, row, self._client_id(odno) if client_order_id is None else client_order_id, now_kst().date())

    def _row(self, order_id: str) -> parse.Fields:
        entry = self.journal.by_order_id(order_id) if self.journal is not None else None
        since = entry.created_at.date() if entry is not None else now_kst().date()
        for row in self._rows(since, odno=order_id):
            if row.text("odno") == order_id:
                return row
        raise OrderNotFound(f"KIS has no order {order_id} in account {self.config.account} since {since.isoformat()}", code="ORDER_NOT_FOUND",
                            order_id=order_id)

    def get(self, order_id: str) -> Order:
        """One order by its KIS order number (``ODNO``). Raises ``OrderNotFound``."""
        return self._order(self._row(order_id))

    def today(self) -> list[Order]:
        """Today's orders, oldest first."""
        orders = [self._order(row) for row in self._rows(now_kst().date())]
        return sorted(orders, key=lambda o: (o.created_time, o.order_id))

    def by_client_id(self, client_order_id: str) -> Order:
        """The order placed under ``client_order_id`` (through the journal; an unresolved entry
        is reconciled first). Raises ``OrderNotFound``."""
        entry = self.journal.entry(self.config.account, client_order_id) if self.journal is not None else None
        if entry is not None and entry.state in (JournalState.SENDING, JournalState.UNKNOWN):
            self.reconcile([entry])
            entry = self.journal.entry(self.config.account, client_order_id) if self.journal is not None else None
        if entry is None or not entry.order_id:
            why = "the order journal has no order under it" if entry is None else f"its journal entry is {entry.state.value}"
            raise OrderNotFound(f"no KIS order has client order id {client_order_id} ({why})", code="ORDER_NOT_FOUND")
        return self._order(self._row(entry.order_id), client_order_id)

    # -- placing ----------------------------------------------------------------------------------
    def _body(self, order: OrderRequest) -> dict[str, str]:
        division = parse.ORDER_DIVISIONS[(order.order_type, order.time_in_force)]
        return {"CANO": self.config.cano, "ACNT_PRDT_CD": self.config.product_code, "PDNO": order.symbol, "ORD_DVSN": division,
                "ORD_QTY": str(order.quantity), "ORD_UNPR": "0" if order.price is None else format(order.price, "f"),
                "EXCG_ID_DVSN_CD": "KRX", "SLL_TYPE": "01" if order.side is Side.SELL else "", "CNDT_PRIC": ""}

    def place(self, order: OrderRequest) -> OrderResult:
        """Place ``order`` at most once (see the module).

        Raises:
            InvalidRequest, AccountNotFound: before anything is sent.
            DuplicateClientOrderId: the client order id names another order in the journal.
            OrderRejected: KIS refused it (``broker_code``/``broker_message`` say why).
            RateLimitExceeded, AuthenticationFailed: KIS refused the call; nothing was placed.
            OrderStatusUnknown: it may have been placed and KIS could not tell within
                ``KisConfig.retry.budget_s``; the journal keeps it unresolved.
        """
        prepared = prepare_order(order)
        if prepared.account_id != self.config.account:
            raise AccountNotFound(f"account {prepared.account_id} is not this KIS gateway's ({self.config.account})", code="ACCOUNT_NOT_FOUND")
        journal = self.journal
        if journal is not None:
            done = self._journaled(prepared)
            if done is not None:
                return done
            journal.record(prepared, self.config.timeouts.order_s)
        try:
            return self._send(prepared)
        except BaseException as exc:
            if not isinstance(exc, JtsBrokerError):  # Ctrl-C, a cancelled task: raised as it is
                self._note(OrderJournal.unknown, prepared.account_id, prepared.client_order_id, f"interrupted ({type(exc).__name__})")
                exc.add_note(f"KIS order {prepared.client_order_id} may have been placed: look it up with "
                             f"get_order_by_client_id({prepared.client_order_id!r}) before placing it again")
            raise

    def _journaled(self, order: OrderRequest) -> OrderResult | None:
        """What the journal already knows of ``order``'s client order id: the order it is bound to
        (a duplicate), or None to send it (never seen, or known not placed)."""
        assert self.journal is not None
        entry = self.journal.entry(order.account_id, order.client_order_id)
        if entry is None or not is_same_order(entry.request, order):
            return None  # new, or another order under the id: record() refuses that one
        if entry.state in (JournalState.SENDING, JournalState.UNKNOWN):
            self.reconcile([entry])
            entry = self.journal.entry(order.account_id, order.client_order_id)
            assert entry is not None
            if entry.state in (JournalState.SENDING, JournalState.UNKNOWN):
                raise OrderStatusUnknown(f"KIS order {order.client_order_id} was sent before and its outcome is still unknown "
                                         f"({entry.detail or entry.state.value}); not sent again", code="ORDER_STATUS_UNKNOWN",
                                         client_order_id=order.client_order_id)
        if entry.order_id and entry.state in (JournalState.PLACED, JournalState.REJECTED):
            return OrderResult(self._order(self._row(entry.order_id), order.client_order_id), duplicate=True)
        return None

    def _send(self, order: OrderRequest) -> OrderResult:
        budget = RecoveryBackoff(self.config.retry)
        while True:
            sent_at: list[float] = []
            try:
                body = self.http.order(ep.ORDER_CASH, "order_buy" if order.side is Side.BUY else "order_sell", self._body(order),
                                       before_send=functools.partial(self._leaving, order, sent_at))
            except OrderRejected as exc:
                self._note(OrderJournal.rejected, order.account_id, order.client_order_id, str(exc))
                raise
            except JtsBrokerError as exc:
                if not sent_at or not _ambiguous(exc):
                    self._note(OrderJournal.not_placed, order.account_id, order.client_order_id, str(exc))
                    raise
                found = self._recover(order, sent_at[0], exc, budget)
                if found is not None:
                    return found
                continue  # not placed: send it again, under the same client order id
            try:
                orgno, odno, stamp = parse.order_answer(body)
            except ServerError as exc:  # KIS took it (rt_cd 0) but the answer cannot be read: find it
                found = self._recover(order, sent_at[0], exc, budget)
                if found is not None:
                    return found
                continue
            placed = self._accepted(order, odno, stamp)
            self._note(OrderJournal.placed, placed)
            log.info("KIS order %s placed as %s-%s", order.client_order_id, orgno, odno)
            return OrderResult(placed)

    def _leaving(self, order: OrderRequest, sent_at: list[float]) -> None:
        """The request leaves now (its rate-limit token taken): the time candidates are read from."""
        sent_at.append(time.time())
        self._note(OrderJournal.sending, order.account_id, order.client_order_id)

    def _accepted(self, order: OrderRequest, odno: str, stamp: clock_time) -> Order:
        created = datetime.combine(now_kst().date(), stamp, tzinfo=KST)
        return Order(order_id=odno, client_order_id=order.client_order_id, account_id=order.account_id, symbol=order.symbol,
                     side=order.side, order_type=order.order_type, time_in_force=order.time_in_force, quantity=order.quantity,
                     price=order.price, status=OrderStatus.ACCEPTED, filled_quantity=0, average_fill_price=None, commission=Decimal(0),
                     tax=Decimal(0), reject_code="", reject_reason="", created_time=created, updated_time=created)

    def _recover(self, order: OrderRequest, sent_at: float, failure: JtsBrokerError, budget: RecoveryBackoff) -> OrderResult | None:
        """After an ambiguous failure: the order found at KIS (bound in the journal), or None when
        it is certainly not there (send it again). Raises ``OrderStatusUnknown`` when KIS cannot
        tell within the budget, or several orders could be it."""
        failed_at = time.monotonic()
        last: BaseException = failure
        while True:
            try:
                candidates = self._candidates(order, sent_at)
            except JtsBrokerError as exc:
                candidates, last = None, exc
            if candidates is not None:
                if len(candidates) == 1:
                    found = self._order(candidates[0], order.client_order_id)
                    self._note(OrderJournal.placed, found)
                    log.warning("KIS order %s: the answer was lost (%s); found as %s", order.client_order_id, failure, found.order_id)
                    return OrderResult(found)
                if len(candidates) > 1:
                    names = ", ".join(c.text("odno") for c in candidates)
                    raise self._unknown(order, f"{len(candidates)} orders at KIS could be it ({names})")
                if time.monotonic() - failed_at >= self.config.settle_s:
                    self._note(OrderJournal.not_placed, order.account_id, order.client_order_id,
                               f"not at KIS {self.config.settle_s:g} s after the call broke ({failure})")
                    if self.journal is not None:
                        self.journal.record(order, self.config.timeouts.order_s)  # SENDING again before it leaves again
                    log.warning("KIS order %s: not placed after %s; sending it again", order.client_order_id, failure)
                    return None
            delay = budget.next_delay(last)
            if delay is None:
                raise self._unknown(order, f"KIS could not tell within {self.config.retry.budget_s:g} s ({last})")
            time.sleep(min(delay, max(0.05, self.config.settle_s / 4)) if candidates is not None else delay)

    def _unknown(self, order: OrderRequest, why: str) -> OrderStatusUnknown:
        message = (f"KIS order {order.client_order_id} may have been placed: {why}; look it up with "
                   f"get_order_by_client_id({order.client_order_id!r}) before placing it again")
        self._note(OrderJournal.unknown, order.account_id, order.client_order_id, why)
        return OrderStatusUnknown(message, code="ORDER_STATUS_UNKNOWN", client_order_id=order.client_order_id)

    def _candidates(self, order: OrderRequest | JournalEntry, sent_at: float) -> list[parse.Fields]:
        """Today's KIS orders that could be ``order`` sent at ``sent_at`` (epoch seconds, local
        clock), bound to no other journal entry."""
        request = order.request if isinstance(order, JournalEntry) else order
        offset = self.http.clock_offset_s or 0.0
        earliest = datetime.fromtimestamp(sent_at + offset - CLOCK_TOLERANCE_S, KST)
        out = []
        for row in self._rows(earliest.date(), symbol=request.symbol):
            created = parse.at(row.day("ord_dt"), row.clock("ord_tmd"))
            market = row.text("ord_dvsn_cd") in ("01", "13", "14")
            if (row.text("pdno") != request.symbol or parse.SIDE_CODES.get(row.text("sll_buy_dvsn_cd")) is not request.side
                    or row.integer("ord_qty") != request.quantity or created < earliest.replace(microsecond=0)
                    or market != (request.order_type is OrderType.MARKET)
                    or (not market and row.price("ord_unpr") != request.price)):
                continue
            bound = self.journal.by_order_id(row.text("odno")) if self.journal is not None else None
            if bound is None or bound.client_order_id == request.client_order_id:
                out.append(row)
        return out

    # -- cancelling -------------------------------------------------------------------------------
    def cancel(self, order_id: str) -> Order:
        """Cancel the unfilled rest of order ``order_id``; the order as KIS then reports it.

        Raises:
            OrderNotFound: no such order.
            OrderRejected: it is final (code ``ORDER_NOT_CANCELLABLE``), or KIS refused the cancel.
            BrokerUnavailable: the outcome could not be learned within ``retry.budget_s``.
        """
        row = self._row(order_id)
        budget = RecoveryBackoff(self.config.retry)
        while True:
            current = self._order(row)
            if current.status.is_final:
                raise OrderRejected(f"KIS order {order_id} is {current.status.value}: nothing to cancel", code="ORDER_NOT_CANCELLABLE",
                                    order_id=order_id)
            body = {"CANO": self.config.cano, "ACNT_PRDT_CD": self.config.product_code, "KRX_FWDG_ORD_ORGNO": row.text("ord_gno_brno"),
                    "ORGN_ODNO": order_id, "ORD_DVSN": row.text("ord_dvsn_cd"), "RVSE_CNCL_DVSN_CD": "02", "ORD_QTY": "0", "ORD_UNPR": "0",
                    "QTY_ALL_ORD_YN": "Y", "EXCG_ID_DVSN_CD": "KRX"}
            try:
                self.http.order(ep.ORDER_CANCEL, "order_cancel", body)
            except JtsBrokerError as exc:
                if not _ambiguous(exc):
                    raise
                failure: BaseException = exc
            else:
                return self._after_cancel(order_id, budget)
            # Broken after it may have arrived: ask for the order before sending the cancel again.
            while True:
                delay = budget.next_delay(failure)
                if delay is None:
                    raise BrokerUnavailable(f"cancel of KIS order {order_id}: outcome unknown ({failure}); check get_order_status",
                                            code="CANCEL_STATUS_UNKNOWN", order_id=order_id)
                time.sleep(delay)
                try:
                    row = self._row(order_id)
                    break
                except JtsBrokerError as exc:
                    failure = exc
            if self._order(row).status is OrderStatus.CANCELLED:
                return self._order(row)

    def _after_cancel(self, order_id: str, budget: RecoveryBackoff) -> Order:
        """The order once KIS confirms the cancel (within ``settle_s``), or as it then stands."""
        deadline = time.monotonic() + self.config.settle_s
        while True:
            order = self.get(order_id)
            if order.status.is_final or time.monotonic() >= deadline:
                return order
            time.sleep(min(0.2, self.config.settle_s))

    # -- the journal ------------------------------------------------------------------------------
    def reconcile(self, entries: list[JournalEntry] | None = None) -> list[JournalEntry]:
        """Settle unresolved journal entries (default: those no live call is settling) against
        KIS's order list; what is still unresolved, oldest first."""
        journal = self.journal
        if journal is None:
            return []
        for entry in journal.abandoned() if entries is None else entries:
            if entry.sent_at is None:
                journal.not_found(entry)
                continue
            candidates = self._candidates(entry, entry.sent_at.timestamp())
            if len(candidates) == 1:
                journal.placed(self._order(candidates[0], entry.client_order_id), revision=entry.revision)
            elif not candidates:
                journal.not_found(entry)
        return journal.unresolved()

    def _note(self, write: Callable[..., object], *args: object) -> None:
        """A journal write once the order may have left: a failure to write is logged, never
        raised over the order's outcome (the entry stays unresolved, and is reconciled later)."""
        if self.journal is None:
            return
        try:
            write(self.journal, *args)
        except Exception:
            log.warning("order journal %s could not be written", self.journal.path, exc_info=True)
