"""jts-broker: a Python SDK for Korean stock brokers through the JTS gRPC gateway.

Prices are KRW ``Decimal``; times are tz-aware in Asia/Seoul; symbols are 6-character KRX codes.

    from jts_broker import BrokerConfig, GrpcBrokerGateway, Timeframe
    with GrpcBrokerGateway(BrokerConfig(grpc_port=50551)) as gateway:
        candles = gateway.get_candles("005930", Timeframe.DAY, date(2024, 1, 2), date(2024, 1, 31))
"""

from .client._generated.aio_gateway import AsyncGrpcBrokerGateway
from .client._generated.gateway import GrpcBrokerGateway
from .client.offline_cache import OfflineCache
from .client.registry import BrokerHealth, BrokerRegistry
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
from .journal import OrderJournal
from .mock import MockBrokerGateway
from .policies.rate_limiter import RateLimiter

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
