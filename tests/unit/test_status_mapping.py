"""Every gRPC status code maps to one typed error, and the simulator's direction inverts it."""

from __future__ import annotations

import grpc
import pytest

from jts_broker.client.channel import connect_failure
from jts_broker.contract._generated.pb import common_pb2
from jts_broker.contract.status import DETAIL_KEY, error_from_rpc, status_for_error
from jts_broker.domain import errors


class FakeRpcError(grpc.RpcError):
    """Stands in for a failed call: the unit under test only reads these three methods."""

    def __init__(self, code: grpc.StatusCode, details: str = "", detail: common_pb2.ErrorDetail | None = None) -> None:
        self._code, self._details = code, details
        self._trailing = ((DETAIL_KEY, detail.SerializeToString()),) if detail else ()

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self):
        return self._trailing


EXPECTED = {
    grpc.StatusCode.CANCELLED: errors.RequestCancelled,
    grpc.StatusCode.UNKNOWN: errors.ServerError,
    grpc.StatusCode.INVALID_ARGUMENT: errors.InvalidRequest,
    grpc.StatusCode.DEADLINE_EXCEEDED: errors.DeadlineExceeded,
    grpc.StatusCode.NOT_FOUND: errors.NotFound,
    grpc.StatusCode.ALREADY_EXISTS: errors.DuplicateClientOrderId,
    grpc.StatusCode.PERMISSION_DENIED: errors.PermissionDenied,
    grpc.StatusCode.RESOURCE_EXHAUSTED: errors.RateLimitExceeded,
    grpc.StatusCode.FAILED_PRECONDITION: errors.OrderRejected,
    grpc.StatusCode.ABORTED: errors.ServerError,
    grpc.StatusCode.OUT_OF_RANGE: errors.InvalidRequest,
    grpc.StatusCode.UNIMPLEMENTED: errors.ServerError,
    grpc.StatusCode.INTERNAL: errors.ServerError,
    grpc.StatusCode.UNAVAILABLE: errors.BrokerUnavailable,
    grpc.StatusCode.DATA_LOSS: errors.ServerError,
    grpc.StatusCode.UNAUTHENTICATED: errors.AuthenticationFailed,
}


def test_every_non_ok_status_code_is_covered():
    assert set(EXPECTED) == set(grpc.StatusCode) - {grpc.StatusCode.OK}


@pytest.mark.parametrize(("code", "cls"), EXPECTED.items(), ids=lambda v: getattr(v, "name", getattr(v, "__name__", "")))
def test_status_maps_to_its_typed_error(code, cls):
    error = error_from_rpc(FakeRpcError(code, "server said so"))
    assert type(error) is cls
    assert isinstance(error, errors.JtsBrokerError)
    assert error.message == "server said so"


def test_detail_carries_code_broker_code_order_id_and_retry_after():
    detail = common_pb2.ErrorDetail(code="RATE", message="slow down", broker_code="EGW00201", order_id="X-1", retry_after_seconds=0.25)
    error = error_from_rpc(FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, "ignored", detail))
    assert isinstance(error, errors.RateLimitExceeded)
    assert (error.message, error.code, error.broker_code, error.order_id, error.retry_after_s) == ("slow down", "RATE", "EGW00201", "X-1", 0.25)


@pytest.mark.parametrize(("code", "cls"), [("SYMBOL_NOT_FOUND", errors.SymbolNotFound), ("NO_PRICE_DATA", errors.SymbolNotFound),
                                           ("ACCOUNT_NOT_FOUND", errors.AccountNotFound), ("ORDER_NOT_FOUND", errors.OrderNotFound),
                                           ("SOMETHING_ELSE", errors.NotFound)])
def test_not_found_is_narrowed_by_the_detail_code(code, cls):
    error = error_from_rpc(FakeRpcError(grpc.StatusCode.NOT_FOUND, "", common_pb2.ErrorDetail(code=code, message="m")))
    assert type(error) is cls


def test_a_garbled_detail_does_not_hide_the_status():
    error = error_from_rpc(FakeRpcError(grpc.StatusCode.UNAVAILABLE, "down"))
    error_garbled = FakeRpcError(grpc.StatusCode.UNAVAILABLE, "down")
    error_garbled._trailing = ((DETAIL_KEY, b"\xff\xff\xff"),)
    assert type(error) is type(error_from_rpc(error_garbled)) is errors.BrokerUnavailable


@pytest.mark.parametrize("cls", [errors.InvalidRequest, errors.SymbolNotFound, errors.AccountNotFound, errors.OrderNotFound, errors.OrderRejected,
                                 errors.DuplicateClientOrderId, errors.AuthenticationFailed, errors.PermissionDenied, errors.RateLimitExceeded,
                                 errors.BrokerUnavailable, errors.DeadlineExceeded, errors.RequestCancelled, errors.ServerError])
def test_server_direction_round_trips_to_the_same_class(cls):
    sent = cls("why", code={errors.SymbolNotFound: "SYMBOL_NOT_FOUND", errors.AccountNotFound: "ACCOUNT_NOT_FOUND",
                            errors.OrderNotFound: "ORDER_NOT_FOUND"}.get(cls, "C"), order_id="O-1")
    status, detail = status_for_error(sent)
    received = error_from_rpc(FakeRpcError(status, sent.message, detail))
    assert type(received) is cls
    assert (received.message, received.order_id) == ("why", "O-1")


@pytest.mark.parametrize(("details", "tls", "code", "says"), [
    ("failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: Failed to connect to remote host: Connection refused",
     False, "CONNECT_TIMEOUT", "within 2 s: UNKNOWN: ipv4:127.0.0.1:1: Failed to connect to remote host: Connection refused"),
    ("failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: Tls handshake failed (TSI_PROTOCOL_FAILURE): "
     "SSL_ERROR_SSL: CERTIFICATE_VERIFY_FAILED", True, "TLS_HANDSHAKE_FAILED", "CERTIFICATE_VERIFY_FAILED; check tls.root_certificates"),
    ("failed to connect to all addresses; last error: UNAVAILABLE: ipv4:127.0.0.1:1: Socket closed", False, "CONNECT_TIMEOUT",
     "does the server require TLS?"),
    ("failed to connect to all addresses; last error: UNAVAILABLE: ipv4:127.0.0.1:1: Socket closed", True, "CONNECT_TIMEOUT",
     "does the server require a client certificate?"),
    ("", False, "CONNECT_TIMEOUT", "cannot reach the gateway at h:1 within 2 s"),
])
def test_a_connect_failure_names_its_cause(details, tls, code, says):
    error = connect_failure("h:1", 2.0, details, tls)
    assert isinstance(error, errors.BrokerUnavailable) and error.code == code and says in str(error)
