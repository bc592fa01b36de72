"""Orders on KIS at most once, though KIS has no client order id.

KIS's order-cash answers with its own order number (``KRX_FWDG_ORD_ORGNO`` + ``ODNO``) and knows
nothing of the caller's client order id. So the order journal (``jts_broker.journal``) binds them:
the client order id, the request and the send time are written before order-cash leaves, and the
order number once it answers.

- A client order id already bound returns the journaled order (``duplicate=True``); nothing is sent.
- A call that broke after the request may have arrived (no answer in time, a broken connection,
  HTTP 5xx, an unreadable answer) is reconciled against the day's orders (inquire-daily-ccld): the
  orders of the same symbol, side, quantity and price (or market type), ordered no earlier than the
  send time (on KIS's clock, learned from the ``Date`` header of the lookup itself, less
  ``CLOCK_TOLERANCE_S``), and bound to no other journal entry. One candidate binds; several end in
  ``OrderStatusUnknown`` naming them, as does one candidate while another unresolved entry of the
  same parameters could be it. None means not placed only once no request of it can still arrive
  (twice the order deadline after the send, and ``KisConfig.settle_s`` after the failure), and only
  when KIS's clock is known: then it is sent again under the same client order id.
- Never a second order-cash for one client order id while the first is unresolved: an entry whose
  sender is alive (a call in flight, in this process or another) is never reconciled or resent; one
  whose sender ended is reconciled first.
- An order's id is ``YYYYMMDD-ORGNO-ODNO`` (the order date, KIS's ``KRX_FWDG_ORD_ORGNO`` and
  ``ODNO``): KIS numbers orders per branch and day, so the number alone is not unique. A plain
  ``ODNO`` is accepted as today's.

A refusal (``rt_cd`` != 0: ``OrderRejected``, ``EGW00201``, token errors) means KIS did not take
the order; a request that never connected was not sent.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from datetime import time as clock_time
from decimal import Decimal

from jts_broker.domain.enums import JournalState, OrderStatus, OrderType, Side
from jts_broker.domain.errors import (
    AccountNotFound,
    BrokerUnavailable,
    ConfigurationError,
    JtsBrokerError,
    OrderNotFound,
    OrderRejected,
    OrderStatusUnknown,
    ServerError,
)
from jts_broker.domain.orders import is_same_order, prepare_order
from jts_broker.domain.timeutil import KST, now_kst
from jts_broker.domain.trading import JournalEntry, Order, OrderRequest, OrderResult
from jts_broker.journal import OrderJournal, current_owner
from jts_broker.policies.retrying import RecoveryBackoff

from . import endpoints as ep
from . import parse
from .config import KisConfig, KisEnv
from .http import NOT_SENT_CODES, KisHttp

log = logging.getLogger(__name__)

CLOCK_TOLERANCE_S = 5.0
"""How much earlier than the send time (on KIS's clock) a candidate may be stamped: KIS stamps
orders and its ``Date`` header to the second, and the two may come from different machines."""


def _ambiguous(exc: JtsBrokerError) -> bool:
    """Whether a failed order call may have reached KIS and been taken."""
    if isinstance(exc, BrokerUnavailable):
        return exc.code not in NOT_SENT_CODES
    return isinstance(exc, ServerError)  # HTTP 5xx without a refusal, an unreadable answer, an unknown gateway code


def order_id(day: date, branch: str, odno: str) -> str:
    """The SDK's id of a KIS order (see the module)."""
    return f"{day:%Y%m%d}-{branch}-{odno}"


def split_order_id(value: str) -> tuple[date, str, str]:
    """(order date, branch or "", ODNO) of an order id; a plain ODNO is today's, any branch.

    Raises:
        OrderNotFound: not a KIS order id (code ``ORDER_NOT_FOUND``).
    """
    parts = value.split("-")
    try:
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            return datetime.strptime(parts[0], "%Y%m%d").date(), parts[1], parts[2]
    except ValueError:
        pass
    if len(parts) == 1 and value.isdigit():
        return now_kst().date(), "", value.zfill(10)
    raise OrderNotFound(f"{value!r} is not a KIS order id (YYYYMMDD-ORGNO-ODNO, or today's ODNO)", code="ORDER_NOT_FOUND", order_id=value)


def _same_parameters(a: OrderRequest, b: OrderRequest) -> bool:
    fields = ("account_id", "symbol", "side", "order_type", "time_in_force", "quantity", "price")
    return all(getattr(a, f) == getattr(b, f) for f in fields)


class KisOrders:
    """Placing, cancelling and looking up orders of one KIS account (see the module)."""

    def __init__(self, config: KisConfig, http: KisHttp, journal: OrderJournal | None) -> None:
        self.config = config
        self.http = http
        self.journal = journal

    # -- lookups ----------------------------------------------------------------------------------
    def _rows(self, since: date, until: date | None = None, *, odno: str = "", symbol: str = "") -> list[parse.Fields]:
        params = {"CANO": self.config.cano, "ACNT_PRDT_CD": self.config.product_code, "INQR_STRT_DT": since.strftime("%Y%m%d"),
                  "INQR_END_DT": (until or now_kst().date()).strftime("%Y%m%d"), "SLL_BUY_DVSN_CD": "00", "PDNO": symbol, "CCLD_DVSN": "00",
                  "INQR_DVSN": "01", "INQR_DVSN_3": "00", "ORD_GNO_BRNO": "", "ODNO": odno, "INQR_DVSN_1": "", "EXCG_ID_DVSN_CD": "KRX"}
        return parse.order_rows(list(self.http.pages(ep.DAILY_ORDERS, "daily_orders", params)))

    @staticmethod
    def _id_of(row: parse.Fields) -> str:
        return order_id(row.day("ord_dt"), row.text("ord_gno_brno"), row.text("odno"))

    def _client_id(self, oid: str) -> str:
        entry = self.journal.by_order_id(oid) if self.journal is not None else None
        return entry.client_order_id if entry is not None else ""

    def _order(self, row: parse.Fields, client_order_id: str | None = None) -> Order:
        oid = self._id_of(row)
        return parse.order(self.config.account, row, oid, self._client_id(oid) if client_order_id is None else client_order_id,
                           now_kst().date())

    def _row(self, oid: str) -> parse.Fields:
        day, branch, odno = split_order_id(oid)
        for row in self._rows(day, day, odno=odno):
            if row.text("odno") == odno and branch in ("", row.text("ord_gno_brno")):
                return row
        raise OrderNotFound(f"KIS has no order {oid} in account {self.config.account}", code="ORDER_NOT_FOUND", order_id=oid)

    def get(self, oid: str) -> Order:
        """One order by its id (see the module). Raises ``OrderNotFound``."""
        return self._order(self._row(oid))

    def today(self) -> list[Order]:
        """Today's orders, oldest first."""
        orders = [self._order(row) for row in self._rows(now_kst().date())]
        return sorted(orders, key=lambda o: (o.created_time, o.order_id))

    def _settled_entry(self, entry: JournalEntry) -> JournalEntry:
        """``entry`` after reconciling it, when no live call is settling it; raises
        ``OrderStatusUnknown`` while its outcome stays unknown (in flight, or KIS cannot tell)."""
        assert self.journal is not None
        if entry.state not in (JournalState.SENDING, JournalState.UNKNOWN):
            return entry
        abandoned = {(e.account_id, e.client_order_id) for e in self.journal.abandoned()}
        if (entry.account_id, entry.client_order_id) in abandoned:
            self.reconcile([entry])
            entry = self.journal.entry(entry.account_id, entry.client_order_id) or entry
        if entry.state in (JournalState.SENDING, JournalState.UNKNOWN):
            live = entry.state is JournalState.SENDING and (entry.account_id, entry.client_order_id) not in abandoned
            raise OrderStatusUnknown(f"KIS order {entry.client_order_id} "
                                     + ("is being sent by a live call" if live else f"has an unknown outcome ({entry.detail or 'no answer'})")
                                     + "; not sent again", code="ORDER_STATUS_UNKNOWN", client_order_id=entry.client_order_id)
        return entry

    def by_client_id(self, client_order_id: str) -> Order:
        """The order placed under ``client_order_id``, through the journal (an entry whose sender
        ended is reconciled first).

        Raises:
            OrderNotFound: no order under it, or it was not placed.
            OrderStatusUnknown: its outcome is not known yet (being sent, or KIS cannot tell).
        """
        if self.journal is None:  # KIS knows no client order ids: without the journal, nobody can tell
            raise OrderStatusUnknown(f"KIS orders cannot be found by client order id without an order journal ({client_order_id})",
                                     code="NO_ORDER_JOURNAL", client_order_id=client_order_id)
        entry = self.journal.entry(self.config.account, client_order_id)
        if entry is not None:
            entry = self._settled_entry(entry)
        if entry is None or not entry.order_id:
            why = "the order journal has no order under it" if entry is None else f"its journal entry is {entry.state.value}"
            raise OrderNotFound(f"no KIS order has client order id {client_order_id} ({why})", code="ORDER_NOT_FOUND")
        return self._order(self._bound_row(entry), client_order_id)

    def _bound_row(self, entry: JournalEntry) -> parse.Fields:
        """The row of the order ``entry`` is bound to. KIS's list may lag its answer: a bound order
        it does not list yet is unknown, never "not found" (which would invite a second order)."""
        try:
            return self._row(entry.order_id)
        except OrderNotFound:
            raise OrderStatusUnknown(f"KIS order {entry.client_order_id} is bound to {entry.order_id}, which KIS does not list (yet)",
                                     code="ORDER_STATUS_UNKNOWN", client_order_id=entry.client_order_id) from None

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
            OrderStatusUnknown: it may have been placed and KIS could not tell in time, or it is
                being sent by a live call; the journal keeps it unresolved.
            ConfigurationError: the journal cannot be written (code ``JOURNAL_WRITE``): not sent.
        """
        prepared = prepare_order(order)
        if prepared.account_id != self.config.account:
            raise AccountNotFound(f"account {prepared.account_id} is not this KIS gateway's ({self.config.account})", code="ACCOUNT_NOT_FOUND")
        journal = self.journal
        if journal is not None:
            done = self._journaled(prepared)
            if done is not None:
                return done
        self._check_sellable(prepared)
        if journal is not None:
            if not journal.record(prepared, self.config.timeouts.order_s, claim=True):
                # Another call (thread or process) took this client order id between the look and the write.
                raise OrderStatusUnknown(f"KIS order {prepared.client_order_id} was just taken by another call; not sent again",
                                         code="ORDER_STATUS_UNKNOWN", client_order_id=prepared.client_order_id)
        try:
            return self._send(prepared)
        except BaseException as exc:
            if not isinstance(exc, JtsBrokerError):  # Ctrl-C, a cancelled task: raised as it is
                self._note(OrderJournal.unknown, prepared.account_id, prepared.client_order_id, f"interrupted ({type(exc).__name__})")
                exc.add_note(f"KIS order {prepared.client_order_id} may have been placed: look it up with "
                             f"get_order_by_client_id({prepared.client_order_id!r}) before placing it again")
            else:
                self._release(prepared, exc)
            raise

    def _release(self, order: OrderRequest, exc: JtsBrokerError) -> None:
        """An error left ``_send`` without an outcome written (a journal write, a row that cannot be
        read): the entry is UNKNOWN, not SENDING by this live process for good (which no lookup
        would ever settle)."""
        if self.journal is None:
            return
        entry = self.journal.entry(order.account_id, order.client_order_id)
        if entry is not None and entry.state is JournalState.SENDING and entry.owner == current_owner():
            self._note(OrderJournal.unknown, order.account_id, order.client_order_id, f"the call ended without an outcome ({exc})")

    def _check_sellable(self, order: OrderRequest) -> None:
        """On the real domain, a sell is checked against KIS's own sellable quantity first
        (inquire-psbl-sell; paper has no such call): a sell of shares not held is refused here
        with the SDK's code, as the paper engine refuses it, and spends no order.

        Raises:
            OrderRejected: code ``INSUFFICIENT_QUANTITY``.
        """
        if order.side is not Side.SELL or self.config.kis_env is not KisEnv.REAL:
            return
        params = {"CANO": self.config.cano, "ACNT_PRDT_CD": self.config.product_code, "PDNO": order.symbol}
        _, free = parse.sellable(self.http.read(ep.SELLABLE, "sellable", params).body)
        if order.quantity > free:
            raise OrderRejected(f"{free} shares of {order.symbol} are sellable, {order.quantity} asked (KIS inquire-psbl-sell)",
                                code="INSUFFICIENT_QUANTITY")

    def _journaled(self, order: OrderRequest) -> OrderResult | None:
        """What the journal already knows of ``order``'s client order id: the order it is bound to
        (a duplicate), or None to send it (never seen, or known not placed). Raises
        ``OrderStatusUnknown`` while its outcome is unknown: never a second send meanwhile."""
        assert self.journal is not None
        entry = self.journal.entry(order.account_id, order.client_order_id)
        if entry is None or not is_same_order(entry.request, order):
            return None  # new, or another order under the id: record() refuses that one
        entry = self._settled_entry(entry)
        if entry.order_id and entry.state in (JournalState.PLACED, JournalState.REJECTED):
            return OrderResult(self._order(self._bound_row(entry), order.client_order_id), duplicate=True)
        return None

    def _recovery_budget(self) -> RecoveryBackoff:
        # Long enough to see "not found" become certain (twice the order deadline after the send).
        need = 2 * self.config.timeouts.order_s + self.config.settle_s + 1.0
        return RecoveryBackoff(replace(self.config.retry, budget_s=max(self.config.retry.budget_s, need)))

    def _send(self, order: OrderRequest) -> OrderResult:
        budget = self._recovery_budget()
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
            placed = self._accepted(order, order_id(now_kst().date(), orgno, odno), stamp)
            self._note(OrderJournal.placed, placed)
            log.info("KIS order %s placed as %s", order.client_order_id, placed.order_id)
            return OrderResult(placed)

    def _leaving(self, order: OrderRequest, sent_at: list[float]) -> None:
        """The request leaves now (its rate-limit token taken): noted in the journal first; a
        journal that cannot note it stops the send (a send it did not note could later be taken
        for one that never left)."""
        if self.journal is not None:
            try:
                self.journal.sending(order.account_id, order.client_order_id)
            except Exception as exc:
                raise ConfigurationError(f"order journal {self.journal.path} cannot note the send of {order.client_order_id} ({exc}); "
                                         f"the order was not sent", code="JOURNAL_WRITE") from exc
        sent_at.append(time.time())

    def _accepted(self, order: OrderRequest, oid: str, stamp: clock_time) -> Order:
        created = datetime.combine(now_kst().date(), stamp, tzinfo=KST)
        return Order(order_id=oid, client_order_id=order.client_order_id, account_id=order.account_id, symbol=order.symbol,
                     side=order.side, order_type=order.order_type, time_in_force=order.time_in_force, quantity=order.quantity,
                     price=order.price, status=OrderStatus.ACCEPTED, filled_quantity=0, average_fill_price=None, commission=Decimal(0),
                     tax=Decimal(0), reject_code="", reject_reason="", created_time=created, updated_time=created)

    def _recover(self, order: OrderRequest, sent_at: float, failure: JtsBrokerError, budget: RecoveryBackoff) -> OrderResult | None:
        """After an ambiguous failure: the order found at KIS (bound in the journal), or None when
        it is certainly not there (send it again). Raises ``OrderStatusUnknown`` when KIS cannot
        tell within the budget, or several orders could be it."""
        failed_at = time.time()
        certain_at = max(sent_at + 2 * self.config.timeouts.order_s, failed_at + self.config.settle_s)
        last: BaseException = failure
        while True:
            try:
                candidates, trusted = self._candidates(order, sent_at)
            except JtsBrokerError as exc:
                candidates, trusted, last = None, False, exc
            if candidates:
                found = self._order(self._only(order, candidates), order.client_order_id)
                if not self._bind(found):
                    raise self._unknown(order, f"order {found.order_id} was bound to another client order id meanwhile")
                log.warning("KIS order %s: the answer was lost (%s); found as %s", order.client_order_id, failure, found.order_id)
                return OrderResult(found)
            if candidates is not None and trusted and time.time() >= certain_at:
                # One write, straight from SENDING to SENDING again: never NOT_PLACED in between, where a
                # lookup by client order id (a gRPC client recovering) would take it as free to resend.
                if self.journal is not None:
                    self.journal.record(order, self.config.timeouts.order_s)
                log.warning("KIS order %s: not placed after %s; sending it again", order.client_order_id, failure)
                return None
            delay = budget.next_delay(last)
            if delay is None:
                raise self._unknown(order, f"KIS could not tell in time ({last})")
            if candidates is not None:  # looked, nothing yet: look again once it could be certain, or sooner
                delay = min(delay, max(0.05, certain_at - time.time()))
            time.sleep(delay)

    def _bind(self, found: Order) -> bool:
        """Bind ``found`` to its client order id in the journal; False only when the journal holds
        its order id under another client order id (never two entries for one order). A journal
        that cannot be written is logged: the order is found all the same."""
        if self.journal is None:
            return True
        try:
            return self.journal.placed(found)
        except Exception:
            log.warning("order journal %s could not be written", self.journal.path, exc_info=True)
            return True

    def _only(self, order: OrderRequest, candidates: list[parse.Fields]) -> parse.Fields:
        """The one candidate; ``OrderStatusUnknown`` when several orders could be it, or another
        unresolved order of the same parameters could be the one found."""
        if len(candidates) > 1:
            raise self._unknown(order, f"{len(candidates)} orders at KIS could be it ({', '.join(self._id_of(c) for c in candidates)})")
        rivals = self._rivals(order)
        if rivals:
            raise self._unknown(order, f"order {self._id_of(candidates[0])} could also be the unresolved {', '.join(rivals)}")
        return candidates[0]

    def _rivals(self, order: OrderRequest) -> list[str]:
        """Client order ids of the other unresolved entries with ``order``'s parameters: any of
        them could be the order a lookup finds."""
        unresolved = self.journal.unresolved() if self.journal is not None else []
        return [e.client_order_id for e in unresolved if e.client_order_id != order.client_order_id and _same_parameters(e.request, order)]

    def _unknown(self, order: OrderRequest, why: str) -> OrderStatusUnknown:
        message = (f"KIS order {order.client_order_id} may have been placed: {why}; look it up with "
                   f"get_order_by_client_id({order.client_order_id!r}) before placing it again")
        self._note(OrderJournal.unknown, order.account_id, order.client_order_id, why)
        return OrderStatusUnknown(message, code="ORDER_STATUS_UNKNOWN", client_order_id=order.client_order_id)

    def _candidates(self, request: OrderRequest, sent_at: float) -> tuple[list[parse.Fields], bool]:
        """KIS's orders that could be ``request`` sent at ``sent_at`` (epoch seconds, local clock),
        bound to no other journal entry; and whether KIS's clock was known to compare them (when
        not, finding none proves nothing)."""
        rows = self._rows(datetime.fromtimestamp(sent_at - 3600, KST).date(), symbol=request.symbol)
        offset = self.http.clock_offset_s  # learned from this very lookup's answer
        earliest = datetime.fromtimestamp(sent_at + (offset or 0.0) - CLOCK_TOLERANCE_S, KST).replace(microsecond=0)
        division = parse.ORDER_DIVISIONS[(request.order_type, request.time_in_force)]
        out = []
        for row in rows:
            created = parse.at(row.day("ord_dt"), row.clock("ord_tmd"))
            if (row.text("pdno") != request.symbol or parse.SIDE_CODES.get(row.text("sll_buy_dvsn_cd")) is not request.side
                    or row.integer("ord_qty") != request.quantity or created < earliest or row.text("ord_dvsn_cd") != division
                    or (request.order_type is not OrderType.MARKET and row.price("ord_unpr") != request.price)):
                continue
            bound = self.journal.by_order_id(self._id_of(row)) if self.journal is not None else None
            if bound is None or bound.client_order_id == request.client_order_id:
                out.append(row)
        return out, offset is not None

    # -- cancelling -------------------------------------------------------------------------------
    def cancel(self, oid: str) -> Order:
        """Cancel the unfilled rest of order ``oid``; the order as KIS then reports it.

        Raises:
            OrderNotFound: no such order.
            OrderRejected: it is final (code ``ORDER_NOT_CANCELLABLE``), or KIS refused the cancel.
            BrokerUnavailable: the outcome could not be learned within ``retry.budget_s``.
        """
        row = self._row(oid)
        oid = self._id_of(row)
        self._check_cancellable(row, oid)
        budget = RecoveryBackoff(self.config.retry)
        resent = False
        while True:
            current = self._order(row)
            if current.status.is_final:
                raise OrderRejected(f"KIS order {oid} is {current.status.value}: nothing to cancel", code="ORDER_NOT_CANCELLABLE", order_id=oid)
            body = {"CANO": self.config.cano, "ACNT_PRDT_CD": self.config.product_code, "KRX_FWDG_ORD_ORGNO": row.text("ord_gno_brno"),
                    "ORGN_ODNO": row.text("odno"), "ORD_DVSN": row.text("ord_dvsn_cd"), "RVSE_CNCL_DVSN_CD": "02", "ORD_QTY": "0",
                    "ORD_UNPR": "0", "QTY_ALL_ORD_YN": "Y", "EXCG_ID_DVSN_CD": "KRX"}
            try:
                self.http.order(ep.ORDER_CANCEL, "order_cancel", body)
            except OrderRejected:
                if not resent:
                    raise
                # The first cancel, whose answer was lost, may have done it: KIS refuses the second.
                after = self.get(oid)
                if after.status.is_final:
                    return after
                raise
            except JtsBrokerError as exc:
                if not _ambiguous(exc):
                    raise
                failure: BaseException = exc
            else:
                return self._after_cancel(oid)
            # Broken after it may have arrived: ask for the order before sending the cancel again.
            while True:
                delay = budget.next_delay(failure)
                if delay is None:
                    raise BrokerUnavailable(f"cancel of KIS order {oid}: outcome unknown ({failure}); check get_order_status",
                                            code="CANCEL_STATUS_UNKNOWN", order_id=oid)
                time.sleep(delay)
                try:
                    row = self._row(oid)
                    break
                except JtsBrokerError as exc:
                    failure = exc
            if self._order(row).status is OrderStatus.CANCELLED:
                return self._order(row)
            resent = True

    def _check_cancellable(self, row: parse.Fields, oid: str) -> None:
        """On the real domain, KIS's own list of cancellable orders (inquire-psbl-rvsecncl; paper has
        no such call) must hold the order: else it is refused here (``ORDER_NOT_CANCELLABLE``)."""
        if self.config.kis_env is not KisEnv.REAL:
            return
        params = {"CANO": self.config.cano, "ACNT_PRDT_CD": self.config.product_code, "INQR_DVSN_1": "0", "INQR_DVSN_2": "0"}
        open_orders = parse.cancellable(list(self.http.pages(ep.CANCELLABLE, "cancellable", params)))
        if (row.text("ord_gno_brno"), row.text("odno")) not in open_orders:
            status = self._order(row).status.value
            raise OrderRejected(f"KIS order {oid} cannot be cancelled: KIS lists nothing of it to cancel (status {status})",
                                code="ORDER_NOT_CANCELLABLE", order_id=oid)

    def _after_cancel(self, oid: str) -> Order:
        """The order once KIS confirms the cancel (within ``settle_s``), or as it then stands."""
        deadline = time.monotonic() + self.config.settle_s
        while True:
            order = self.get(oid)
            if order.status.is_final or time.monotonic() >= deadline:
                return order
            time.sleep(min(0.2, self.config.settle_s))

    # -- the journal ------------------------------------------------------------------------------
    def reconcile(self, entries: list[JournalEntry] | None = None) -> list[JournalEntry]:
        """Settle unresolved journal entries no live call is settling (default: all such) against
        KIS's order list; what is still unresolved, oldest first."""
        journal = self.journal
        if journal is None:
            return []
        for entry in journal.abandoned() if entries is None else entries:
            if entry.sent_at is None:
                journal.not_found(entry)  # never left its sender (abandoned: the sender ended or gave up)
                continue
            candidates, trusted = self._candidates(entry.request, entry.sent_at.timestamp())
            if len(candidates) == 1:
                if not self._rivals(entry.request):
                    journal.placed(self._order(candidates[0], entry.client_order_id), revision=entry.revision)
            elif not candidates and trusted:
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
