"""``StreamGuard``: idle streams never starve unary calls.

A grpcio server gives every call a thread of its pool for its whole life, and a stream lives long:
each connected client's health watch, each quote subscription. Left alone, enough of them take
every thread and unary calls (quotes, orders) wait behind them. So at most ``max_streams`` streams
are open at once; the rest of the pool is kept for unary calls. A stream over the cap is refused:
a health ``Watch`` with UNIMPLEMENTED (the client then checks health with unary ``Check`` calls,
as it does with a server that cannot stream), a quote stream with RESOURCE_EXHAUSTED (code
``TOO_MANY_STREAMS``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from grpc_health.v1 import health

from jts_broker.contract._generated.pb import common_pb2

from .interceptors import ServerInterceptor, abort

WATCH = f"/{health.SERVICE_NAME}/Watch"


class StreamGuard(ServerInterceptor):
    """At most ``max_streams`` response streams open at once (see the module)."""

    def __init__(self, max_streams: int) -> None:
        self.max_streams = max_streams
        self._open = 0
        self._lock = threading.Lock()

    @property
    def open_streams(self) -> int:
        return self._open

    def intercept_service(self, continuation: Callable[[Any], Any], details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(details)
        if handler is None or handler.unary_stream is None:
            return handler
        inner, method = handler.unary_stream, details.method

        def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            with self._lock:
                admitted = self._open < self.max_streams
                if admitted:
                    self._open += 1
            if not admitted:
                message = f"the server holds {self.max_streams} open streams, its most"
                if method == WATCH:
                    context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{message}: check health with Check")
                abort(context, grpc.StatusCode.RESOURCE_EXHAUSTED,
                      common_pb2.ErrorDetail(code="TOO_MANY_STREAMS", message=f"{message}; close one or try later", retry_after_seconds=5.0))
            try:
                yield from inner(request, context)
            finally:
                with self._lock:
                    self._open -= 1

        return grpc.unary_stream_rpc_method_handler(stream, handler.request_deserializer, handler.response_serializer)
