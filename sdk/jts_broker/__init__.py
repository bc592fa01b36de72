"""jts-broker: a Python SDK for Korean stock brokers through the JTS gRPC gateway.

Prices are KRW ``Decimal``; times are tz-aware in Asia/Seoul; symbols are 6-character KRX codes.

    from jts_broker import BrokerConfig, GrpcBrokerGateway, Timeframe
    with GrpcBrokerGateway(BrokerConfig(grpc_port=50551)) as gateway:
        candles = gateway.get_candles("005930", Timeframe.DAY, date(2024, 1, 2), date(2024, 1, 31))

The domain's names are imported here; the gateways, the registry, the mock, the rate limiter and
the journal are imported on first use (PEP 562), so that ``import jts_broker.server`` or any
module of the domain does not load the client and its gRPC runtime: the layers hold at run time
too, not only for the import linter.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .domain.candle_columns import CandleColumns
from .domain.config import AccountConfig, BrokerConfig, Secret, TlsConfig
from .domain.connection import ConnectionStatusChange
from .domain.enums import (
    AccountType,
    BrokerType,
    ConnectionStatus,
    JournalState,
    Market,
    OrderStatus,
    OrderType,
    SecurityType,
    Side,
    Timeframe,
    TimeInForce,
)
from .domain.errors import (
    AccountNotFound,
    AuthenticationFailed,
    BrokerUnavailable,
    ConfigurationError,
    DeadlineExceeded,
    DuplicateClientOrderId,
    InvalidRequest,
    JtsBrokerError,
    NotFound,
    OrderNotFound,
    OrderRejected,
    OrderStatusUnknown,
    PermissionDenied,
    RateLimitExceeded,
    RequestCancelled,
    ServerError,
    SymbolNotFound,
)
from .domain.gateway import AsyncQuoteStream, IAsyncBrokerGateway, IBrokerGateway, QuoteStream
from .domain.market_data import Candle, Quote, QuoteGap, Symbol
from .domain.orders import limit_order, market_order, new_client_order_id
from .domain.policies import RateBudget, RateCategory, RateLimit, RateLimitPolicy, ReconnectPolicy, RetryPolicy, Timeouts
from .domain.provenance import DataSource, ResultList
from .domain.rate_limits import IRateLimiter, RateLimitUsage, WindowUsage
from .domain.symbols import normalize_symbol
from .domain.timeutil import KST
from .domain.trading import Account, Balance, JournalEntry, Order, OrderRequest, OrderResult, Position

if TYPE_CHECKING:
    from .client._generated.aio_gateway import AsyncGrpcBrokerGateway
    from .client._generated.gateway import GrpcBrokerGateway
    from .client.offline_cache import OfflineCache
    from .client.registry import BrokerHealth, BrokerRegistry
    from .journal import OrderJournal
    from .mock import MockBrokerGateway
    from .policies.rate_limiter import RateLimiter

_LAZY = {
    "AsyncGrpcBrokerGateway": ".client._generated.aio_gateway",
    "GrpcBrokerGateway": ".client._generated.gateway",
    "OfflineCache": ".client.offline_cache",
    "BrokerHealth": ".client.registry",
    "BrokerRegistry": ".client.registry",
    "OrderJournal": ".journal",
    "MockBrokerGateway": ".mock",
    "RateLimiter": ".policies.rate_limiter",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jts_broker' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__version__ = "0.1.0"

__all__ = [
    "KST",
    "Account",
    "AccountConfig",
    "AccountNotFound",
    "AccountType",
    "AsyncGrpcBrokerGateway",
    "AsyncQuoteStream",
    "AuthenticationFailed",
    "Balance",
    "BrokerConfig",
    "BrokerHealth",
    "BrokerRegistry",
    "BrokerType",
    "BrokerUnavailable",
    "Candle",
    "CandleColumns",
    "ConfigurationError",
    "ConnectionStatus",
    "ConnectionStatusChange",
    "DataSource",
    "DeadlineExceeded",
    "DuplicateClientOrderId",
    "GrpcBrokerGateway",
    "IAsyncBrokerGateway",
    "IBrokerGateway",
    "IRateLimiter",
    "InvalidRequest",
    "JournalEntry",
    "JournalState",
    "JtsBrokerError",
    "Market",
    "MockBrokerGateway",
    "NotFound",
    "OfflineCache",
    "Order",
    "OrderJournal",
    "OrderNotFound",
    "OrderRejected",
    "OrderRequest",
    "OrderResult",
    "OrderStatus",
    "OrderStatusUnknown",
    "OrderType",
    "PermissionDenied",
    "Position",
    "Quote",
    "QuoteGap",
    "QuoteStream",
    "RateBudget",
    "RateCategory",
    "RateLimit",
    "RateLimitExceeded",
    "RateLimitPolicy",
    "RateLimitUsage",
    "RateLimiter",
    "ReconnectPolicy",
    "RequestCancelled",
    "ResultList",
    "RetryPolicy",
    "Secret",
    "SecurityType",
    "ServerError",
    "Side",
    "Symbol",
    "SymbolNotFound",
    "TimeInForce",
    "Timeframe",
    "Timeouts",
    "TlsConfig",
    "WindowUsage",
    "__version__",
    "limit_order",
    "market_order",
    "new_client_order_id",
    "normalize_symbol",
]
