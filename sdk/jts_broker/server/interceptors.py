"""The one way the simulator's interceptors wrap a jts.broker.v1 handler (grpcio server
interceptors cannot see the request, so each one wraps the handler it is given).

Every service method of the contract is unary-unary or unary-stream; ``wrap`` keeps the
handler's serializers and runs ``before`` (which may abort the call) ahead of it and, for a
unary call, ``after`` once it has answered.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc

from jts_broker.contract._generated.pb import common_pb2
from jts_broker.contract.status import DETAIL_KEY
from jts_broker.contract.wire import read_only_methods

if TYPE_CHECKING:  # grpc-stubs types these as generic; grpcio's own classes cannot be subscripted
    Handler = grpc.RpcMethodHandler[Any, Any]
    ServerInterceptor = grpc.ServerInterceptor[Any, Any]
else:
    Handler = grpc.RpcMethodHandler
    ServerInterceptor = grpc.ServerInterceptor


class ContractInterceptor(ServerInterceptor, abc.ABC):
    """An interceptor of the jts.broker.v1 methods only: health checks and reflection pass by."""

    def __init__(self) -> None:
        self._read_only = read_only_methods()

    def intercept_service(self, continuation: Callable[[Any], Any], details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(details)
        if handler is None or details.method not in self._read_only:
            return handler
        return self.intercept(handler, details.method.rsplit("/", 1)[-1], self._read_only[details.method])

    @abc.abstractmethod
    def intercept(self, handler: Handler, name: str, read_only: bool) -> Handler:
        """The handler to use for RPC ``name`` (e.g. ``"PlaceOrder"``); usually ``wrap(handler, ...)``."""


Before = Callable[[Any, grpc.ServicerContext], None]
After = Callable[[Any, grpc.ServicerContext, Any], None]


def abort(context: grpc.ServicerContext, status: grpc.StatusCode, detail: common_pb2.ErrorDetail, message: str = "") -> None:
    """End the call with ``status``, the structured detail in the trailing metadata."""
    context.set_trailing_metadata(((DETAIL_KEY, detail.SerializeToString()),))
    context.abort(status, message or detail.message)


def wrap(handler: Handler, before: Before, after: After | None = None) -> Handler:
    """A copy of ``handler`` that calls ``before(request, context)`` first and, for unary calls,
    ``after(request, context, response)`` before the response is sent."""
    if handler.unary_unary is not None:
        inner = handler.unary_unary

        def unary(request: Any, context: grpc.ServicerContext) -> Any:
            before(request, context)
            response = inner(request, context)
            if after is not None:
                after(request, context, response)
            return response

        return grpc.unary_unary_rpc_method_handler(unary, handler.request_deserializer, handler.response_serializer)
    inner_stream = handler.unary_stream
    assert inner_stream is not None, "every method of the contract is unary-unary or unary-stream"

    def stream(request: Any, context: grpc.ServicerContext) -> Any:
        before(request, context)
        yield from inner_stream(request, context)

    return grpc.unary_stream_rpc_method_handler(stream, handler.request_deserializer, handler.response_serializer)
