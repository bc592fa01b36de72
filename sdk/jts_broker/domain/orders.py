"""Checks an order before it leaves the process, and helpers to build one."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from decimal import Decimal, InvalidOperation

from .enums import OrderType, Side, TimeInForce
from .errors import InvalidRequest
from .symbols import normalize_symbol
from .trading import Order, OrderRequest
from .validation import check_account_id

CLIENT_ORDER_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
"""The form of a client order id: 1-40 characters of letters, digits, ``_`` and ``-``."""


def new_client_order_id() -> str:
    """A fresh client order id: ``"jts-"`` and 32 random hex digits (UUID4)."""
    return f"jts-{uuid.uuid4().hex}"


def to_price(value: object, *, name: str = "price") -> Decimal:
    """A price in KRW as ``Decimal`` from a ``Decimal``, an ``int`` or a decimal string.

    Raises:
        InvalidRequest: a ``float`` (it cannot hold most prices exactly), a ``bool``, a value that
            is not a finite number, or one that is not > 0.
    """
    if isinstance(value, bool) or isinstance(value, float):
        raise InvalidRequest(f"{name} must be a Decimal, int or decimal string, not {type(value).__name__} {value!r}: a float cannot hold prices exactly",
                             code="INVALID_PRICE")
    try:
        price = value if isinstance(value, Decimal) else Decimal(value)  # type: ignore[arg-type]
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidRequest(f"{name} must be a number, got {value!r}", code="INVALID_PRICE") from None
    if not price.is_finite() or price <= 0:
        raise InvalidRequest(f"{name} must be a finite number > 0, got {price}", code="INVALID_PRICE")
    return price


def prepare_order(order: OrderRequest) -> OrderRequest:
    """The order a client sends: :func:`check_order` of ``order``, with a fresh client order id
    (:func:`new_client_order_id`) when it has none.

    Raises:
        InvalidRequest: the first problem found; nothing is sent.
    """
    if isinstance(order, OrderRequest) and not order.client_order_id:
        order = replace(order, client_order_id=new_client_order_id())
    return check_order(order)


def check_order(order: OrderRequest) -> OrderRequest:
    """Validate ``order`` and return it normalized. A broker checks what it receives with this:
    the client order id is required, as it is what the broker deduplicates on.

    Checks what needs no market data: the account id, the symbol (normalized to the short
    code), the enums, quantity (a whole number >= 1), price (present, KRW, whole won and > 0 for
    limit orders; absent for market orders), and the client order id's form. Tick size, price
    limits and buying power depend on the market and are the broker's to check
    (:class:`~jts_broker.OrderRejected`).

    Raises:
        InvalidRequest: the first problem found; nothing is sent.
    """
    if not isinstance(order, OrderRequest):
        raise InvalidRequest(f"place_order takes an OrderRequest, not {type(order).__name__}")
    check_account_id(order.account_id)
    symbol = normalize_symbol(order.symbol)
    for value, enum in ((order.side, Side), (order.order_type, OrderType), (order.time_in_force, TimeInForce)):
        if not isinstance(value, enum):
            raise InvalidRequest(f"{enum.__name__} expected, got {value!r}")
    if isinstance(order.quantity, bool) or not isinstance(order.quantity, int) or order.quantity < 1:
        raise InvalidRequest(f"quantity must be a whole number of shares >= 1, got {order.quantity!r}", code="INVALID_QUANTITY")
    price: Decimal | None = None
    if order.order_type is OrderType.LIMIT:
        if order.price is None:
            raise InvalidRequest("a limit order needs a price", code="INVALID_PRICE")
        price = to_price(order.price)
        if price != price.to_integral_value():
            raise InvalidRequest(f"price must be a whole number of KRW, got {price:,f}", code="INVALID_PRICE")
        price = price.quantize(Decimal(1))
    elif order.price is not None:
        raise InvalidRequest("a market order carries no price", code="INVALID_PRICE")
    if not order.client_order_id:
        raise InvalidRequest("client_order_id is required: the broker deduplicates orders on it (two requests without one "
                             "could make two orders)", code="MISSING_CLIENT_ORDER_ID")
    check_client_order_id(order.client_order_id)
    return replace(order, symbol=symbol, price=price)


def check_client_order_id(value: object) -> str:
    """``value`` when it is a client order id: 1-40 characters of ``[A-Za-z0-9_-]``.

    Raises:
        InvalidRequest: anything else (code ``INVALID_CLIENT_ORDER_ID``).
    """
    if not isinstance(value, str) or not CLIENT_ORDER_ID.fullmatch(value):
        raise InvalidRequest(f"client_order_id must be 1-40 characters of [A-Za-z0-9_-], got {value!r}", code="INVALID_CLIENT_ORDER_ID")
    return value


def is_same_order(order: Order | OrderRequest, request: OrderRequest) -> bool:
    """Whether ``order`` (as the broker holds it, or as once sent) is the one ``request`` asks
    for: the same account, symbol, side, type,
    time in force, quantity and price. The broker's rule for a repeated client order id: the same
    order again is a duplicate (nothing new is made), another order under it is refused."""
    fields = ("account_id", "symbol", "side", "order_type", "time_in_force", "quantity", "price")
    return all(getattr(order, f) == getattr(request, f) for f in fields)


def limit_order(account_id: str, symbol: str, side: Side, quantity: int, price: Decimal | int | str, *, time_in_force: TimeInForce = TimeInForce.DAY, client_order_id: str = "") -> OrderRequest:
    """A limit order at ``price`` KRW (validated when placed)."""
    return OrderRequest(account_id, symbol, side, quantity, OrderType.LIMIT, price, time_in_force, client_order_id)  # type: ignore[arg-type]


def market_order(account_id: str, symbol: str, side: Side, quantity: int, *, time_in_force: TimeInForce = TimeInForce.DAY, client_order_id: str = "") -> OrderRequest:
    """A market order (validated when placed)."""
    return OrderRequest(account_id, symbol, side, quantity, OrderType.MARKET, None, time_in_force, client_order_id)
