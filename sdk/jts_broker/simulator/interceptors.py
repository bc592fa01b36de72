"""The one way the simulator's interceptors wrap a jts.broker.v1 handler (grpcio server
interceptors cannot see the request, so each one wraps the handler it is given).

Every service method of the contract is unary-unary or unary-stream; ``wrap`` keeps the
handler's serializers and runs ``before`` (which may abort the call) ahead of it and, for a
unary call, ``after`` once it has answered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from jts_broker._generated.pb import common_pb2
from jts_broker._transport.status import DETAIL_KEY

Before = Callable[[Any, grpc.ServicerContext], None]
After = Callable[[Any, grpc.ServicerContext, Any], None]


def abort(context: grpc.ServicerContext, status: grpc.StatusCode, detail: common_pb2.ErrorDetail, message: str = "") -> None:
    """End the call with ``status``, the structured detail in the trailing metadata."""
    context.set_trailing_metadata(((DETAIL_KEY, detail.SerializeToString()),))
    context.abort(status, message or detail.message)


def wrap(handler: grpc.RpcMethodHandler, before: Before, after: After | None = None) -> grpc.RpcMethodHandler:
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

    def stream(request: Any, context: grpc.ServicerContext) -> Any:
        before(request, context)
        yield from inner_stream(request, context)

    return grpc.unary_stream_rpc_method_handler(stream, handler.request_deserializer, handler.response_serializer)
