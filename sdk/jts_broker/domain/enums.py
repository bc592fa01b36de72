"""Enumerations of the domain. Values are lower-case strings, stable for JSON and config files."""

from __future__ import annotations

from enum import StrEnum


class BrokerType(StrEnum):
    """Brokerage behind a gateway."""

    KIS = "kis"
    """Korea Investment & Securities Open API (REST)."""
    CREON = "creon"
    """Daishin Securities Creon Plus (COM, Windows only)."""
    KIWOOM = "kiwoom"
    """Kiwoom Securities OpenAPI+ (OCX, Windows only)."""
    MOCK = "mock"
    """No real broker: the in-memory mock or the simulator."""


class AccountType(StrEnum):
    """Whether an account trades real money."""

    REAL = "real"
    PAPER = "paper"


class ConnectionStatus(StrEnum):
    """State of a gateway's connection to its server."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    ERROR = "error"


class Market(StrEnum):
    """KRX market of listing."""

    KOSPI = "kospi"
    KOSDAQ = "kosdaq"
    KONEX = "konex"


class SecurityType(StrEnum):
    """Kind of security; decides the tick-size table and the transaction tax."""

    STOCK = "stock"
    ETF = "etf"
    ETN = "etn"
    ELW = "elw"


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    LIMIT = "limit"
    """At the limit price or better (지정가)."""
    MARKET = "market"
    """At the best available prices (시장가); carries no price."""


class TimeInForce(StrEnum):
    DAY = "day"
    """Works until filled, cancelled, or the end of the trading day."""
    IOC = "ioc"
    """Immediate or cancel: fills what it can at once, cancels the rest."""
    FOK = "fok"
    """Fill or kill: fills completely at once or not at all."""


class OrderStatus(StrEnum):
    """Where an order is in its lifecycle."""

    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_final(self) -> bool:
        """True when the order can no longer change (filled, cancelled, rejected, expired)."""
        return self not in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED)


class Timeframe(StrEnum):
    """Length of one candle."""

    MINUTE_1 = "1m"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class JournalState(StrEnum):
    """Where an order of the order journal stands (``jts_broker.journal``)."""

    SENDING = "sending"
    """Written before the request left; the answer is awaited (or the sender died waiting)."""
    UNKNOWN = "unknown"
    """The call ended without an answer (``OrderStatusUnknown``, an interrupt): to be reconciled."""
    PLACED = "placed"
    """The broker holds the order (``order_id``, ``status`` as last seen)."""
    REJECTED = "rejected"
    """The broker refused it and recorded the refusal (``detail`` says why)."""
    NOT_PLACED = "not_placed"
    """Definitely not at the broker: refused before it was handled, or not found by a lookup
    after its sender had ended."""

    @property
    def is_resolved(self) -> bool:
        return self in (JournalState.PLACED, JournalState.REJECTED, JournalState.NOT_PLACED)


class MarketPhase(StrEnum):
    """Where the trading day is (KRX regular session; hours in :func:`jts_broker.domain.krx.session_hours`)."""

    OPENING_AUCTION = "opening_auction"
    """08:30-09:00: orders are collected for the opening single-price auction; nothing trades."""
    CONTINUOUS = "continuous"
    """09:00-15:20: continuous trading."""
    CLOSING_AUCTION = "closing_auction"
    """15:20-15:30: orders are collected for the closing single-price auction; nothing trades."""
    CLOSED = "closed"
    """Outside the regular session (before 08:30, after 15:30, a day without trading)."""
