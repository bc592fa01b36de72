"""The SDK's error tree. Every failure a caller can see is one of these.

::

    JtsBrokerError
    ├── ConfigurationError        bad or missing configuration (raised locally)
    ├── InvalidRequest            malformed arguments (locally, or INVALID_ARGUMENT / OUT_OF_RANGE)
    ├── NotFound                  NOT_FOUND
    │   ├── SymbolNotFound        code SYMBOL_NOT_FOUND or NO_PRICE_DATA
    │   ├── AccountNotFound       code ACCOUNT_NOT_FOUND
    │   └── OrderNotFound         code ORDER_NOT_FOUND
    ├── OrderRejected             FAILED_PRECONDITION: the broker refused a well-formed order
    ├── DuplicateClientOrderId    ALREADY_EXISTS: a client order id reused for a different order
    ├── AuthenticationFailed      UNAUTHENTICATED
    ├── PermissionDenied          PERMISSION_DENIED
    ├── RateLimitExceeded         RESOURCE_EXHAUSTED, or a local rate-limit wait that ran out
    ├── BrokerUnavailable         UNAVAILABLE, or no connection could be made
    │   ├── DeadlineExceeded      DEADLINE_EXCEEDED: no answer in time
    │   └── OrderStatusUnknown    an order's fate could not be established after a broken call
    ├── RequestCancelled          CANCELLED
    └── ServerError               INTERNAL, UNKNOWN, DATA_LOSS, UNIMPLEMENTED, ABORTED

Errors that come from a gRPC call are raised ``from`` the ``grpc.RpcError`` (see
``__cause__``) and carry the status name (``status``, e.g. ``"UNAVAILABLE"``) and the server's
structured detail: ``code`` (e.g. ``"TICK_SIZE"``), ``broker_code`` (e.g. KIS ``"EGW00201"``)
and, where the server recorded one, ``order_id``.
The mapping itself lives in one place, ``jts_broker.contract.status``.
"""

from __future__ import annotations


class JtsBrokerError(Exception):
    """Base of every error the SDK raises.

    Attributes:
        message: human-readable reason.
        code: stable machine-readable reason from the server or the SDK (e.g. ``"TICK_SIZE"``);
            empty when there is none.
        broker_code: the broker's own error code (e.g. KIS ``"EGW00201"``); empty when none.
        broker_message: the broker's own words for it (KIS ``msg1``), trailing spaces removed;
            empty when none (over gRPC it is part of ``message``).
        order_id: the order concerned, when the server recorded one; empty otherwise.
        status: the gRPC status name when the error came from a call (e.g. ``"UNAVAILABLE"``);
            empty for errors raised in the SDK before or without a call.
    """

    def __init__(self, message: str, *, code: str = "", broker_code: str = "", order_id: str = "", status: str = "",
                 broker_message: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.broker_code = broker_code
        self.broker_message = broker_message
        self.order_id = order_id
        self.status = status

    def __str__(self) -> str:
        return f"{self.message} [{self.code}]" if self.code else self.message


class ConfigurationError(JtsBrokerError):
    """The configuration is missing or invalid."""


class InvalidRequest(JtsBrokerError, ValueError):
    """The request is malformed: refused before the network, or by the server (INVALID_ARGUMENT)."""


class NotFound(JtsBrokerError, LookupError):
    """The symbol, account or order does not exist."""


class SymbolNotFound(NotFound):
    """The symbol is not listed, or the server holds no prices for it."""


class AccountNotFound(NotFound):
    """The account is not known to the gateway."""


class OrderNotFound(NotFound):
    """No order has that id."""


class OrderRejected(JtsBrokerError):
    """The broker refused a well-formed order; ``code`` and ``message`` say why.

    Typical codes: ``TICK_SIZE``, ``PRICE_LIMIT``, ``INSUFFICIENT_BUYING_POWER``,
    ``INSUFFICIENT_QUANTITY``, ``NO_SESSION``, ``ORDER_NOT_CANCELLABLE``. When the broker
    recorded the rejected order, ``order_id`` names it.
    """


class DuplicateClientOrderId(JtsBrokerError):
    """A client order id already names a different order in this account."""


class AuthenticationFailed(JtsBrokerError):
    """The server did not accept the credentials."""


class PermissionDenied(JtsBrokerError):
    """The credentials are valid but not allowed to do this."""


class RateLimitExceeded(JtsBrokerError):
    """A rate limit was hit: by the server (RESOURCE_EXHAUSTED) or by a bounded local wait.

    Attributes:
        retry_after_s: seconds to wait before trying again (0.0 when unknown).
    """

    def __init__(self, message: str, *, retry_after_s: float = 0.0, **kwargs: str) -> None:
        super().__init__(message, **kwargs)
        self.retry_after_s = retry_after_s


class BrokerUnavailable(JtsBrokerError):
    """The gateway server cannot be reached or is not serving."""


class DeadlineExceeded(BrokerUnavailable):
    """No answer within the deadline."""


class OrderStatusUnknown(BrokerUnavailable):
    """A call to place (or cancel) an order broke after it may have reached the broker, and the
    gateway could not find out (within ``RetryPolicy.budget_s``) whether it took effect. The order
    may exist: look it up with ``get_order_by_client_id(client_order_id)`` (a cancel: with
    ``get_order_status(order_id)``) before sending it again. The order journal lists it as
    unresolved until it is reconciled.

    Attributes:
        client_order_id: the id the order was sent with (empty for a cancel).
    """

    def __init__(self, message: str, *, client_order_id: str = "", **kwargs: str) -> None:
        super().__init__(message, **kwargs)
        self.client_order_id = client_order_id


class RequestCancelled(JtsBrokerError):
    """The call was cancelled (by the caller, or the server shutting down)."""


class ServerError(JtsBrokerError):
    """The server failed or does not implement the call."""
