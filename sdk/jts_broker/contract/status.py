"""The one boundary between gRPC status codes and the SDK's error tree, both ways.

Clients turn a ``grpc.RpcError`` into a typed error with :func:`error_from_rpc`; servers turn a
typed error back into a status and an ``ErrorDetail`` with :func:`status_for_error`. The detail
travels as serialized ``jts.broker.v1.ErrorDetail`` in the binary trailing metadata entry
``jts-error-detail-bin``. Which statuses a read may be retried on (:func:`is_retryable`) and how
long a server asked to wait (:func:`retry_after_s`) are read here too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import grpc
from google.protobuf.message import DecodeError

from jts_broker.contract._generated.pb import common_pb2
from jts_broker.domain import errors

DETAIL_KEY = "jts-error-detail-bin"

_ERROR_FOR_STATUS: dict[grpc.StatusCode, type[errors.JtsBrokerError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: errors.InvalidRequest,
    grpc.StatusCode.OUT_OF_RANGE: errors.InvalidRequest,
    grpc.StatusCode.NOT_FOUND: errors.NotFound,
    grpc.StatusCode.FAILED_PRECONDITION: errors.OrderRejected,
    grpc.StatusCode.ALREADY_EXISTS: errors.DuplicateClientOrderId,
    grpc.StatusCode.UNAUTHENTICATED: errors.AuthenticationFailed,
    grpc.StatusCode.PERMISSION_DENIED: errors.PermissionDenied,
    grpc.StatusCode.RESOURCE_EXHAUSTED: errors.RateLimitExceeded,
    grpc.StatusCode.UNAVAILABLE: errors.BrokerUnavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: errors.DeadlineExceeded,
    grpc.StatusCode.CANCELLED: errors.RequestCancelled,
    grpc.StatusCode.INTERNAL: errors.ServerError,
    grpc.StatusCode.UNKNOWN: errors.ServerError,
    grpc.StatusCode.DATA_LOSS: errors.ServerError,
    grpc.StatusCode.UNIMPLEMENTED: errors.ServerError,
    grpc.StatusCode.ABORTED: errors.ServerError,
}

_NOT_FOUND_BY_CODE: dict[str, type[errors.NotFound]] = {
    "SYMBOL_NOT_FOUND": errors.SymbolNotFound,
    "NO_PRICE_DATA": errors.SymbolNotFound,
    "ACCOUNT_NOT_FOUND": errors.AccountNotFound,
    "ORDER_NOT_FOUND": errors.OrderNotFound,
}

# Reverse direction: the most specific class wins (walk the error's MRO).
_STATUS_FOR_ERROR: dict[type[errors.JtsBrokerError], grpc.StatusCode] = {
    errors.InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.OrderRejected: grpc.StatusCode.FAILED_PRECONDITION,
    errors.DuplicateClientOrderId: grpc.StatusCode.ALREADY_EXISTS,
    errors.AuthenticationFailed: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.RateLimitExceeded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    errors.BrokerUnavailable: grpc.StatusCode.UNAVAILABLE,
    errors.RequestCancelled: grpc.StatusCode.CANCELLED,
    errors.ConfigurationError: grpc.StatusCode.FAILED_PRECONDITION,
    errors.ServerError: grpc.StatusCode.INTERNAL,
}


def _detail(exc: grpc.RpcError) -> common_pb2.ErrorDetail:
    trailing = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
    # grpc-stubs 1.53 types metadata entries as an opaque class; they are (key, value) pairs.
    for key, value in cast("Iterable[tuple[str, str | bytes]]", trailing or ()):
        if key == DETAIL_KEY and isinstance(value, bytes):
            try:
                return common_pb2.ErrorDetail.FromString(value)
            except DecodeError:
                break  # a garbled detail must not hide the status itself
    return common_pb2.ErrorDetail()


RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED})
"""The statuses after which a read is tried again: the call did not happen, or may be tried again later."""


def is_retryable(exc: BaseException) -> bool:
    """True for a gRPC error (grpc.aio's included) whose status is in :data:`RETRYABLE`."""
    return isinstance(exc, grpc.RpcError) and hasattr(exc, "code") and exc.code() in RETRYABLE


def retry_after_s(exc: BaseException) -> float:
    """Seconds the server asked the caller to wait (``ErrorDetail.retry_after_seconds`` of a
    RESOURCE_EXHAUSTED, as brokers give with a rate-limit refusal); 0.0 when it did not say."""
    if not isinstance(exc, grpc.RpcError) or not hasattr(exc, "code") or exc.code() is not grpc.StatusCode.RESOURCE_EXHAUSTED:
        return 0.0
    return max(0.0, _detail(exc).retry_after_seconds)


def error_from_rpc(exc: grpc.RpcError, method: str = "") -> errors.JtsBrokerError:
    """The typed error for a failed call; raise it ``from exc``.

    The class follows the status code (see the tree in ``jts_broker.domain.errors``);
    NOT_FOUND is narrowed by the detail's code to ``SymbolNotFound``, ``AccountNotFound`` or
    ``OrderNotFound``. The message is the server's, else the status details, else the code.
    """
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    detail = _detail(exc)
    details = exc.details() if hasattr(exc, "details") else ""
    message = detail.message or details or f"{method or 'call'} failed with {code.name}"
    cls = _ERROR_FOR_STATUS.get(code, errors.ServerError)
    if cls is errors.NotFound:
        cls = _NOT_FOUND_BY_CODE.get(detail.code, errors.NotFound)
    kwargs = {"code": detail.code, "broker_code": detail.broker_code, "order_id": detail.order_id, "status": code.name}
    if cls is errors.RateLimitExceeded:
        return errors.RateLimitExceeded(message, retry_after_s=detail.retry_after_seconds, **kwargs)
    return cls(message, **kwargs)


def status_for_error(error: errors.JtsBrokerError) -> tuple[grpc.StatusCode, common_pb2.ErrorDetail]:
    """The status code and detail a server sends for ``error`` (the inverse of :func:`error_from_rpc`)."""
    code = next(_STATUS_FOR_ERROR[c] for c in type(error).__mro__ if c in _STATUS_FOR_ERROR)
    detail = common_pb2.ErrorDetail(code=error.code, message=error.message, broker_code=error.broker_code, order_id=error.order_id)
    if isinstance(error, errors.RateLimitExceeded):
        detail.retry_after_seconds = error.retry_after_s
    return code, detail
