"""The paper-trading broker: accounts in KRW, KRX order checks, fills against a BarMarket.

Rules (KRX unless said otherwise):
- Checks before acceptance, in order: the account exists (AccountNotFound); the order is
  well-formed and carries a client order id (InvalidRequest, see ``check_order``); the symbol is
  listed (SymbolNotFound). Then, recorded as a REJECTED order with an id and raised as
  OrderRejected: the market is in session, 08:30-15:30 of a trading day (MARKET_CLOSED); IOC and
  FOK are not taken during the auctions (TIME_IN_FORCE_NOT_ALLOWED); the symbol trades today
  (NO_SESSION); the price is on the tick grid (TICK_SIZE) and inside the daily limits
  (PRICE_LIMIT), buying power covers price x quantity plus commission (market buys are reserved
  at the upper limit: INSUFFICIENT_BUYING_POWER), sellable shares cover a sell
  (INSUFFICIENT_QUANTITY). Short selling is not allowed.
- Deduplication: a client order id seen before in the account returns the first order
  (``duplicate=True``; a rejected one is raised again); with different parameters it raises
  DuplicateClientOrderId. Nothing is ever created twice.
- Fills, at the events of the market clock (:mod:`jts_broker.paper.clock`):
  - orders placed during the opening auction (08:30-09:00) or the closing auction (15:20-15:30)
    wait for it; the auction fills every order whose limit allows (market orders: all) at the
    single printed price, the day's open or close; working orders of continuous trading take
    part in the closing auction too;
  - in continuous trading an order marketable on arrival (market, or a limit at or through the
    touch) fills at the touch: a buy at the ask, a sell at the bid, never worse than its limit;
    what a limit order leaves rests and fills only at its own price, once the path trades at or
    through it (never better because the path jumped past it); a market order's rest takes the
    touch of later events. A resting limit fills when the path touches it: no queue ahead of it
    is modelled (optimistic for a price many orders wait at);
  - each fill takes at most ``participation`` x the shares the path traded at that price point
    (the auctions: their volume), which the orders of one event share in time priority: a large
    order fills in parts, event after event; where nothing traded, nothing fills;
  - DAY orders still working after the closing auction expire (EXPIRED, reason given); IOC
    cancels what does not fill at once; FOK fills completely or is cancelled.
- Money: commission ``commission_rate`` of each fill's amount, and on sells the transaction tax
  of the session date (``krx.sell_tax_rate``), each rounded down to the won. Average prices
  exclude fees; realized P&L is net of both commissions and the tax. Cash moves at once
  (it is the D+2 deposit: T+2 settlement is not modelled separately).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal

from jts_broker.domain import krx
from jts_broker.domain.enums import MarketPhase, OrderStatus, OrderType, SecurityType, Side, TimeInForce
from jts_broker.domain.errors import AccountNotFound, ConfigurationError, DuplicateClientOrderId, OrderNotFound, OrderRejected
from jts_broker.domain.orders import check_order, is_same_order
from jts_broker.domain.trading import Account, Balance, Order, OrderRequest, OrderResult, Position

from .market import BarMarket

DEFAULT_COMMISSION_RATE = Decimal("0.00015")
"""0.015% of the traded amount, a typical online brokerage rate."""

_WON = Decimal(1)
_CENT = Decimal("0.01")


def _floor_won(amount: Decimal) -> Decimal:
    return amount.quantize(_WON, ROUND_FLOOR)


@dataclass
class _Holding:
    quantity: int = 0
    cost: Decimal = Decimal(0)  # sum of purchase amounts of the shares held, fees excluded
    fees: Decimal = Decimal(0)  # buy commissions of the shares held, charged to realized P&L on sale

    @property
    def average_price(self) -> Decimal:
        return (self.cost / self.quantity).quantize(_CENT) if self.quantity else Decimal(0)


@dataclass
class _Book:
    account: Account
    cash: Decimal
    realized_pnl: Decimal = Decimal(0)
    holdings: dict[str, _Holding] = field(default_factory=dict)
    by_client_id: dict[str, str] = field(default_factory=dict)


@dataclass
class _Working:
    """The mutable state of one order; ``snapshot()`` gives the frozen domain object."""

    request: OrderRequest
    order_id: str
    created: object
    status: OrderStatus = OrderStatus.ACCEPTED
    filled: int = 0
    filled_amount: Decimal = Decimal(0)
    commission: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    reserved: Decimal = Decimal(0)  # cash held for the unfilled rest of a buy
    reject_code: str = ""
    reject_reason: str = ""
    updated: object = None

    def snapshot(self) -> Order:
        r = self.request
        return Order(
            order_id=self.order_id, client_order_id=r.client_order_id, account_id=r.account_id, symbol=r.symbol,
            side=r.side, order_type=r.order_type, time_in_force=r.time_in_force, quantity=r.quantity, price=r.price,
            status=self.status, filled_quantity=self.filled,
            average_fill_price=(self.filled_amount / self.filled).quantize(_CENT) if self.filled else None,
            commission=self.commission, tax=self.tax, reject_code=self.reject_code, reject_reason=self.reject_reason,
            created_time=self.created, updated_time=self.updated or self.created,  # type: ignore[arg-type]
        )

    @property
    def remaining(self) -> int:
        return self.request.quantity - self.filled


class PaperBroker:
    """Paper accounts trading against ``market``. Thread-safe (one lock around the books).

    Args:
        market: prices and the replay clock.
        accounts: the paper accounts.
        initial_cash: starting cash of each account, KRW.
        commission_rate: fraction of each fill's amount charged as commission.
        order_id_prefix: prefix of the order ids this broker assigns.
        participation: fraction (0-1] of the size shown at the touch one event's fills may take.
    """

    def __init__(self, market: BarMarket, accounts: Iterable[Account], initial_cash: Decimal = Decimal(100_000_000),
                 commission_rate: Decimal = DEFAULT_COMMISSION_RATE, order_id_prefix: str = "SIM", participation: float = 1.0) -> None:
        if not 0 < participation <= 1:
            raise ConfigurationError(f"participation must be in (0, 1], got {participation}", code="INVALID_PARTICIPATION")
        self.market = market
        self.participation = participation
        self.commission_rate = commission_rate
        self._books = {a.account_id: _Book(a, Decimal(initial_cash)) for a in sorted(accounts, key=lambda a: a.account_id)}
        self._orders: dict[str, _Working] = {}
        self._ids = itertools.count(1)
        self._prefix = order_id_prefix
        self._lock = threading.RLock()
        self._consumed: dict[tuple[str, Side, int], int] = {}  # depth used per (symbol, side, step)
        market.clock.subscribe(self.on_event)

    # -- reads ---------------------------------------------------------------------------------

    def accounts(self) -> list[Account]:
        return [b.account for b in self._books.values()]

    def _book(self, account_id: str) -> _Book:
        try:
            return self._books[account_id]
        except KeyError:
            raise AccountNotFound(f"account {account_id} is not known", code="ACCOUNT_NOT_FOUND") from None

    def balance(self, account_id: str) -> Balance:
        with self._lock:
            book = self._book(account_id)
            reserved = sum((w.reserved for w in self._orders.values() if w.request.account_id == account_id), Decimal(0))
            positions = self._positions(book)
            market_value = sum((p.market_value for p in positions), Decimal(0))
            unrealized = sum((p.unrealized_pnl for p in positions), Decimal(0))
            return Balance(account_id, book.cash, book.cash - reserved, market_value, book.cash + market_value, unrealized, book.realized_pnl, self.market.now(), "KRW")

    def positions(self, account_id: str) -> list[Position]:
        with self._lock:
            return self._positions(self._book(account_id))

    def _positions(self, book: _Book) -> list[Position]:
        out = []
        for code, holding in sorted(book.holdings.items()):
            if holding.quantity <= 0:
                continue
            last = self.market.quote(code).price
            value = last * holding.quantity
            out.append(Position(book.account.account_id, code, self.market.symbol(code).name, holding.quantity, holding.quantity - self._selling(book, code),
                                holding.average_price, last, value, value - holding.cost))
        return out

    def _selling(self, book: _Book, code: str) -> int:
        return sum(w.remaining for w in self._orders.values()
                   if w.request.account_id == book.account.account_id and w.request.symbol == code
                   and w.request.side is Side.SELL and not w.status.is_final)

    def order(self, order_id: str) -> Order:
        with self._lock:
            return self._working(order_id).snapshot()

    def order_by_client_id(self, account_id: str, client_order_id: str) -> Order:
        with self._lock:
            order_id = self._book(account_id).by_client_id.get(client_order_id)
            if order_id is None:
                raise OrderNotFound(f"no order with client order id {client_order_id} in account {account_id}", code="ORDER_NOT_FOUND")
            return self._orders[order_id].snapshot()

    def orders(self, account_id: str) -> list[Order]:
        with self._lock:
            self._book(account_id)
            return [w.snapshot() for w in self._orders.values() if w.request.account_id == account_id]

    def _working(self, order_id: str) -> _Working:
        try:
            return self._orders[order_id]
        except KeyError:
            raise OrderNotFound(f"order {order_id} does not exist", code="ORDER_NOT_FOUND") from None

    # -- orders --------------------------------------------------------------------------------

    def place(self, request: OrderRequest) -> OrderResult:
        """Check, record and match an order. See the module docstring for the rules and errors."""
        with self._lock:
            request = check_order(request)  # a request without a client order id is refused, never given one here
            book = self._book(request.account_id)
            existing = book.by_client_id.get(request.client_order_id)
            if existing is not None:
                return self._duplicate(self._orders[existing], request)
            symbol = self.market.symbol(request.symbol)
            now = self.market.now()  # the replay clock, as quotes follow it
            working = _Working(request, f"{self._prefix}-{next(self._ids):08d}", now)
            phase = self.market.clock.phase  # read once: the check and the match must agree on it
            rejection = self._check(book, working, symbol.security_type, phase)
            self._orders[working.order_id] = working
            book.by_client_id[request.client_order_id] = working.order_id
            if rejection:
                working.status, (working.reject_code, working.reject_reason) = OrderStatus.REJECTED, rejection
                raise OrderRejected(rejection[1], code=rejection[0], order_id=working.order_id)
            if phase is MarketPhase.CONTINUOUS:
                self._match(working, immediate=True)
            return OrderResult(working.snapshot())

    def _duplicate(self, working: _Working, request: OrderRequest) -> OrderResult:
        if not is_same_order(working.snapshot(), request):
            raise DuplicateClientOrderId(
                f"client order id {request.client_order_id} already names order {working.order_id} with other parameters",
                code="DUPLICATE_CLIENT_ORDER_ID", order_id=working.order_id)
        if working.status is OrderStatus.REJECTED:
            raise OrderRejected(working.reject_reason, code=working.reject_code, order_id=working.order_id)
        return OrderResult(working.snapshot(), duplicate=True)

    def _check(self, book: _Book, working: _Working, security_type: SecurityType, phase: MarketPhase) -> tuple[str, str] | None:
        r = working.request
        if phase is MarketPhase.CLOSED:
            return "MARKET_CLOSED", (f"the market is closed at {self.market.now():%Y-%m-%d %H:%M} KST: orders are taken from 08:30 to 15:30 "
                                     f"of a trading day" + (" (the replay has ended)" if self.market.clock.ended else ""))
        if phase is not MarketPhase.CONTINUOUS and r.time_in_force is not TimeInForce.DAY:
            return "TIME_IN_FORCE_NOT_ALLOWED", f"{r.time_in_force.value.upper()} orders are not taken during the {phase.value.replace('_', ' ')} (KRX)"
        if not self.market.is_trading(r.symbol):
            return "NO_SESSION", f"{r.symbol} does not trade on {self.market.session_date} (halted, delisted or not yet listed)"
        quote = self.market.quote(r.symbol)
        if r.price is not None:
            market, day = self.market.symbol(r.symbol).market, self.market.session_date
            if not krx.is_on_tick(r.price, security_type, market=market, on=day):
                tick = krx.tick_size(r.price, security_type, market=market, on=day)
                return "TICK_SIZE", f"price {r.price:,} is off the tick grid: the tick at that price is {tick:,} KRW (rules of {day})"
            if not quote.lower_limit <= r.price <= quote.upper_limit:
                return "PRICE_LIMIT", (f"price {r.price:,} is outside today's limits {quote.lower_limit:,}-{quote.upper_limit:,} "
                                       f"(previous close {quote.previous_close:,} +-{krx.limit_rate(market, day):.0%})")
        if r.side is Side.BUY:
            unit = r.price if r.price is not None else quote.upper_limit
            working.reserved = self._with_commission(unit * r.quantity)
            free = book.cash - sum((w.reserved for w in self._orders.values() if w.request.account_id == r.account_id), Decimal(0))
            if working.reserved > free:
                needed = working.reserved
                working.reserved = Decimal(0)
                return "INSUFFICIENT_BUYING_POWER", f"buying power {free:,} KRW does not cover {needed:,} KRW"
        else:
            holding = book.holdings.get(r.symbol, _Holding())
            sellable = holding.quantity - self._selling(book, r.symbol)
            if r.quantity > sellable:
                return "INSUFFICIENT_QUANTITY", f"{sellable} shares of {r.symbol} are sellable, {r.quantity} asked"
        return None

    def _with_commission(self, amount: Decimal) -> Decimal:
        return amount + _floor_won(amount * self.commission_rate)

    def reset(self, cash: Decimal) -> None:
        """Every account back to ``cash`` with no holdings, orders or P&L (order ids go on
        counting, so an id is never reused)."""
        with self._lock:
            self._books = {i: _Book(b.account, Decimal(cash)) for i, b in self._books.items()}
            self._orders.clear()
            self._consumed.clear()

    def cancel(self, order_id: str) -> Order:
        """Cancel the unfilled rest. OrderRejected (ORDER_NOT_CANCELLABLE) when already final."""
        with self._lock:
            working = self._working(order_id)
            if working.status.is_final:
                raise OrderRejected(f"order {order_id} is {working.status.value} and cannot be cancelled",
                                    code="ORDER_NOT_CANCELLABLE", order_id=order_id)
            self._finish(working, OrderStatus.CANCELLED)
            return working.snapshot()

    def _finish(self, working: _Working, status: OrderStatus) -> None:
        working.status = status
        working.reserved = Decimal(0)
        working.updated = self.market.now()

    def on_event(self, moment: datetime) -> None:
        """Match working orders at a clock event (the broker listens to its market's clock): the
        opening auction at the open print, resting orders at every price of continuous trading,
        the closing auction at the close print, after which day orders expire."""
        hours = krx.session_hours(moment.date())
        t = moment.timetz().replace(tzinfo=None)
        with self._lock:
            step = self.market.step
            self._consumed = {key: used for key, used in self._consumed.items() if key[2] >= step}  # earlier events' liquidity is gone
            working = [w for w in self._orders.values() if not w.status.is_final]
            if t == hours.open or t == hours.close:
                for w in working:
                    self._auction(w)
                if t == hours.close:
                    for w in working:
                        if not w.status.is_final:
                            w.reject_code, w.reject_reason = "EXPIRED", f"day order expired at the close of {moment.date()} ({hours.close:%H:%M})"
                            self._finish(w, OrderStatus.EXPIRED)
            elif hours.open < t < hours.closing_auction:
                for w in working:
                    self._match(w, immediate=False)

    def _liquidity(self, working: _Working, traded: int) -> tuple[tuple[str, Side, int], int]:
        """What the orders of this event on this side may still take of ``traded`` shares."""
        r = working.request
        key = (r.symbol, r.side, self.market.step)
        share = max(1, int(traded * self.participation)) if traded > 0 else 0  # nothing traded: nothing to take
        return key, max(0, share - self._consumed.get(key, 0))

    def _take(self, working: _Working, key: tuple[str, Side, int], quantity: int, price: Decimal) -> None:
        if quantity:
            self._consumed[key] = self._consumed.get(key, 0) + quantity
            self._fill(working, quantity, price)
        if working.remaining == 0:
            self._finish(working, OrderStatus.FILLED)

    def _auction(self, working: _Working) -> None:
        """A single-price auction: the order fills at the printed price when its limit allows, up
        to the auction's volume (the opening auction's is the first minute's)."""
        r = working.request
        price = self.market.quote(r.symbol).price
        if r.order_type is OrderType.LIMIT and (r.price < price if r.side is Side.BUY else r.price > price):  # type: ignore[operator]
            return
        key, available = self._liquidity(working, self.market.auction_volume(r.symbol))
        self._take(working, key, min(working.remaining, available), price)

    def _match(self, working: _Working, immediate: bool) -> None:
        """Continuous trading. On arrival a marketable order (a market order, or a limit at or
        through the touch) fills at the touch, never worse than its limit. A market order's rest
        fills at the touch of later events; a limit order's rest is a resting order and fills
        only at its own price, once the path trades at or through it: never better because the
        path jumped past it, nor because the price moved on after a partial fill (an exchange's
        book would fill the resting limit first)."""
        r = working.request
        quote = self.market.quote(r.symbol)
        buy = r.side is Side.BUY
        touch = quote.ask if buy else quote.bid
        limit = r.price
        price: Decimal | None
        if limit is None:
            price = touch
        elif immediate:
            price = touch if (touch <= limit if buy else touch >= limit) else None
        else:
            price = limit if (quote.price <= limit if buy else quote.price >= limit) else None
        key, available = self._liquidity(working, quote.ask_size if buy else quote.bid_size)
        quantity = min(working.remaining, available) if price is not None else 0
        if r.time_in_force is TimeInForce.FOK and quantity < working.remaining:
            quantity = 0
        self._take(working, key, quantity, price or touch)
        if immediate and not working.status.is_final and r.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
            self._finish(working, OrderStatus.CANCELLED)

    def _fill(self, working: _Working, quantity: int, price: Decimal) -> None:
        r = working.request
        book = self._books[r.account_id]
        amount = price * quantity
        commission = _floor_won(amount * self.commission_rate)
        holding = book.holdings.setdefault(r.symbol, _Holding())
        if r.side is Side.BUY:
            book.cash -= amount + commission
            holding.quantity += quantity
            holding.cost += amount
            holding.fees += commission
            unit = r.price if r.price is not None else self.market.quote(r.symbol).upper_limit
            working.reserved = self._with_commission(unit * (working.remaining - quantity))
        else:
            symbol = self.market.symbol(r.symbol)
            tax = _floor_won(amount * krx.sell_tax_rate(self.market.session_date, symbol.market, symbol.security_type))
            cost = (holding.cost * quantity / holding.quantity).quantize(_CENT)
            buy_fees = (holding.fees * quantity / holding.quantity).quantize(_CENT)
            holding.quantity -= quantity
            holding.cost = holding.cost - cost if holding.quantity else Decimal(0)
            holding.fees = holding.fees - buy_fees if holding.quantity else Decimal(0)
            book.cash += amount - commission - tax
            book.realized_pnl += amount - cost - buy_fees - commission - tax
            working.tax += tax
        working.filled += quantity
        working.filled_amount += amount
        working.commission += commission
        working.status = OrderStatus.PARTIALLY_FILLED
        working.updated = self.market.now()
