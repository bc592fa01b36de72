"""Trading entities: accounts, balances, positions and orders. Money is KRW ``Decimal``,
quantities are whole shares, times are tz-aware in Asia/Seoul."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from .enums import AccountType, JournalState, OrderStatus, OrderType, Side, TimeInForce
from .provenance import DataSource, age_s


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str
    account_name: str
    account_type: AccountType


@dataclass(frozen=True, slots=True)
class Balance:
    """Cash and valuation of one account, in ``currency`` (KRW), as ``Decimal``."""

    account_id: str
    cash: Decimal
    """Cash after all trades settle (D+2 deposit)."""
    buying_power: Decimal
    """Cash free for new buy orders."""
    market_value: Decimal
    total_equity: Decimal
    unrealized_pnl: Decimal
    realized_pnl: Decimal
    """Realized today by sells, net of the buy and sell commissions and the tax."""
    time: datetime
    """When the balance was computed, tz-aware (Asia/Seoul)."""
    currency: str = "KRW"
    """ISO 4217 code of every amount: ``"KRW"`` for KRX accounts."""
    source: DataSource = DataSource.LIVE
    """LIVE, or CACHE when served offline (see :mod:`jts_broker.domain.provenance`)."""
    cached_at: datetime | None = None
    """When a CACHE balance was live, tz-aware; None for LIVE."""

    @property
    def age_s(self) -> float:
        """Seconds since the balance was live (0.0 for LIVE)."""
        return age_s(self.cached_at)


@dataclass(frozen=True, slots=True)
class Position:
    """Shares of one symbol held in one account."""

    account_id: str
    symbol: str
    """KRX short code."""
    symbol_name: str
    """The symbol's short name in the symbol master (``"삼성전자"``)."""
    quantity: int
    sellable_quantity: int
    """Shares that may be sold now (quantity less working sell orders)."""
    average_price: Decimal
    """Average purchase price per share, fees excluded."""
    last_price: Decimal
    market_value: Decimal
    unrealized_pnl: Decimal


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order to place. Build it with :func:`jts_broker.limit_order` / :func:`market_order` or
    directly; the gateway validates it before any network call.

    ``price`` is the limit price in KRW (``Decimal`` or ``int``; a ``float`` is refused) and must be
    None for market orders. ``client_order_id`` is chosen by the SDK when empty; a caller who
    wants to resend safely after a crash passes its own (unique per account, at most 40
    characters of ``[A-Za-z0-9_-]``).
    """

    account_id: str
    symbol: str
    side: Side
    quantity: int
    order_type: OrderType = OrderType.LIMIT
    price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    client_order_id: str = ""


@dataclass(frozen=True, slots=True)
class Order:
    """An order and how far it has executed."""

    order_id: str
    client_order_id: str
    account_id: str
    symbol: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    quantity: int
    price: Decimal | None
    """Limit price; None for market orders."""
    status: OrderStatus
    filled_quantity: int
    average_fill_price: Decimal | None
    """Volume-weighted average fill price; None while nothing is filled."""
    commission: Decimal
    tax: Decimal
    """Sell-side transaction tax charged so far."""
    reject_code: str
    reject_reason: str
    created_time: datetime
    updated_time: datetime

    @property
    def remaining_quantity(self) -> int:
        """Shares still working (0 once the order is final)."""
        return 0 if self.status.is_final else self.quantity - self.filled_quantity


@dataclass(frozen=True, slots=True)
class OrderResult:
    """What placing an order returned: the order as the broker holds it, and whether the client
    order id matched an earlier order (``duplicate``: nothing new was created)."""

    order: Order
    duplicate: bool = False

    @property
    def order_id(self) -> str:
        return self.order.order_id

    @property
    def client_order_id(self) -> str:
        return self.order.client_order_id

    @property
    def status(self) -> OrderStatus:
        return self.order.status


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One order of the order journal (``jts_broker.journal``).

    Attributes:
        scope: the brokerage it was sent to (``"kis"``).
        request: the order as sent (its ``client_order_id`` is the key).
        state: see :class:`~jts_broker.domain.enums.JournalState`.
        order_id: the broker's order id, once known; empty before.
        status: the order's status at the broker when last seen; None before.
        detail: why it is REJECTED, NOT_PLACED or UNKNOWN, in words.
        owner: the process that sent it last (``host:pid-namespace:pid:start``).
        created_at, updated_at: tz-aware, Asia/Seoul.
        sent_at: when its request last left the process (tz-aware); None if it never did.
        deadline_s: the deadline its sends carried, seconds.
        revision: counts the writes to the entry (settling writes apply to the revision read).
    """

    scope: str
    request: OrderRequest
    state: JournalState
    order_id: str
    status: OrderStatus | None
    detail: str
    owner: str
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None = None
    deadline_s: float = 0.0
    revision: int = 0

    @property
    def account_id(self) -> str:
        return self.request.account_id

    @property
    def client_order_id(self) -> str:
        return self.request.client_order_id

    @property
    def symbol(self) -> str:
        return self.request.symbol

    @property
    def side(self) -> Side:
        return self.request.side

    @property
    def quantity(self) -> int:
        return self.request.quantity

    @property
    def price(self) -> Decimal | None:
        """The limit price sent, KRW; None for a market order."""
        return self.request.price
