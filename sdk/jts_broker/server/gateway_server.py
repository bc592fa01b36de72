"""``GatewayServer``: one gRPC gateway server for any blocking broker backend, with health checks,
reflection, and the backend-independent interceptors (bearer token, injected faults, broker
budgets)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent import futures
from datetime import date
from typing import Protocol, Self

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from jts_broker.contract._generated.pb import market_data_pb2, market_data_pb2_grpc, trading_pb2, trading_pb2_grpc
from jts_broker.contract.wire import MAX_MESSAGE_BYTES
from jts_broker.domain.enums import BrokerType
from jts_broker.domain.errors import BrokerUnavailable, ConfigurationError
from jts_broker.domain.gateway import IBrokerGateway
from jts_broker.domain.policies import RateLimitPolicy
from jts_broker.domain.timeutil import now_kst

from .auth import ServerTls, TokenInterceptor
from .faults import FaultInjector, FaultInterceptor, FaultPlan
from .interceptors import ServerInterceptor
from .limits import BudgetEnforcer, RateLimitInterceptor
from .services import MarketDataService, TradingService
from .streams import StreamGuard

SERVICE_NAMES = (
    market_data_pb2.DESCRIPTOR.services_by_name["MarketDataService"].full_name,
    trading_pb2.DESCRIPTOR.services_by_name["TradingService"].full_name,
)


class ExtraService(Protocol):
    """A service served beside the contract's (e.g. the simulator's control service)."""

    name: str
    """Its full name, e.g. ``jts.broker.v1.SimulatorControlService``."""

    def add_to(self, server: grpc.Server) -> None: ...


DEFAULT_MAX_WORKERS = 64
"""Handler threads of a ``GatewayServer`` unless told otherwise."""


class GatewayServer:
    """The jts.broker.v1 contract served over ``backend``.

    Args:
        backend: the broker behind the server (``PaperGateway``, ``KisRestGateway``): its calls
            block a handler thread each.
        host: interface to bind; loopback by default (bind "0.0.0.0" only with ``tls`` and
            ``token`` set, on a trusted network).
        port: TCP port; 0 picks a free one (read it from :attr:`port` after :meth:`start`).
        today: the backend's current trading date (default: today in Asia/Seoul); candles before
            its period are final.
        max_workers: handler threads. Every open stream holds one for its lifetime: each
            connected gateway's health watch and each quote subscription.
        max_streams: the most streams open at once (default ``max_workers`` less 16): the other
            threads always serve unary calls. Over it, a health watch is refused as unimplemented
            (the client then checks health with unary calls) and a quote stream with
            RESOURCE_EXHAUSTED (see :mod:`jts_broker.server.streams`).
        rate_limits: budgets to enforce per account and category like a broker; None: none.
        broker_type: whose error codes to answer with when a budget is exceeded.
        faults: faults to inject from the start (change them later through :attr:`faults`).
        tls: serve TLS (optionally requiring client certificates); None: plaintext.
        token: bearer token every jts.broker.v1 call must carry; None: no check.
    """

    def __init__(self, backend: IBrokerGateway, host: str = "127.0.0.1", port: int = 0, *, today: Callable[[], date] | None = None,
                 max_workers: int = DEFAULT_MAX_WORKERS, max_streams: int | None = None, rate_limits: RateLimitPolicy | None = None, broker_type: BrokerType = BrokerType.MOCK,
                 faults: FaultPlan | tuple[FaultPlan, ...] | None = None, tls: ServerTls | None = None, token: str | None = None) -> None:
        self.backend = backend
        self.host = host
        self._requested_port = port
        self._today = today or (lambda: now_kst().date())
        self._max_workers = max_workers
        streams = max_workers - 16 if max_streams is None else max_streams
        if not 0 < streams < max_workers:
            raise ConfigurationError(f"max_streams must be 1 to max_workers - 1 ({max_workers - 1}), got {streams}")
        self.streams = StreamGuard(streams)
        self.enforcer = BudgetEnforcer(rate_limits, broker_type) if rate_limits else None
        self.faults = FaultInjector(*([faults] if isinstance(faults, FaultPlan) else faults or ()))
        self.tls = tls
        self._token = token
        self._server: grpc.Server | None = None
        self._health: health.HealthServicer | None = None
        self._extra: list[ExtraService] = []
        self.port = 0

    def add_service(self, service: ExtraService) -> None:
        """Serve ``service`` too, from the next :meth:`start`: the bearer token guards it as it
        does the contract's services; injected faults and broker budgets apply to those only."""
        self._extra.append(service)

    @property
    def target(self) -> str:
        """``host:port`` to connect to."""
        return f"{self.host}:{self.port}"

    def start(self) -> Self:
        """Bind and start serving; returns self.

        Raises:
            BrokerUnavailable: the port cannot be bound (in use, or no permission).
        """
        options = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES), ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.so_reuseport", 0)]
        # Order matters: a stream over the cap never takes a thread; an unauthenticated call is
        # refused before it costs anything; injected
        # faults come before the budget, as a network fault would.
        interceptors: list[ServerInterceptor] = [self.streams]
        if self._token:
            interceptors.append(TokenInterceptor(self._token))
        interceptors.append(FaultInterceptor(self.faults))
        if self.enforcer:
            interceptors.append(RateLimitInterceptor(self.enforcer))
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=self._max_workers, thread_name_prefix="jts-gateway"), options=options,
                             interceptors=interceptors)
        market_data_pb2_grpc.add_MarketDataServiceServicer_to_server(MarketDataService(self.backend, self._today), server)  # type: ignore[no-untyped-call]  # protoc's glue
        trading_pb2_grpc.add_TradingServiceServicer_to_server(TradingService(self.backend), server)  # type: ignore[no-untyped-call]  # protoc's glue
        for service in self._extra:
            service.add_to(server)
        names = (*SERVICE_NAMES, *(s.name for s in self._extra))
        # grpcio-health-checking workaround: in its default non-blocking mode the servicer sends
        # each watcher's update, and waits for the send, while holding its lock, and a watch that
        # closes meanwhile needs that lock on the thread that completes sends: stop() (which tells
        # watchers NOT_SERVING) then deadlocks with clients' health streams ending. In blocking mode
        # an update only queues to the watcher; each watch holds a worker thread while open.
        # tests/integration/test_reconnect.py::test_stopping_while_health_streams_close_never_hangs
        self._health = health.HealthServicer(experimental_non_blocking=False)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        for name in ("", *names):
            self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        reflection.enable_server_reflection((*names, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
        try:
            # Once bound, the server keeps its port across stop() and start().
            self._requested_port = self.port or self._requested_port
            address = f"{self.host}:{self._requested_port}"
            self.port = server.add_secure_port(address, self.tls.credentials()) if self.tls else server.add_insecure_port(address)
        except RuntimeError as exc:
            raise BrokerUnavailable(f"cannot bind {self.host}:{self._requested_port}: {exc}", code="BIND_FAILED") from exc
        if not self.port:
            raise BrokerUnavailable(f"cannot bind {self.host}:{self._requested_port} (in use?)", code="BIND_FAILED")
        server.start()
        self._server = server
        return self

    def stop(self, grace_s: float = 1.0) -> None:
        """Tell health watchers NOT_SERVING, then stop; in-flight calls get ``grace_s`` seconds."""
        if self._health is not None:
            self._health.enter_graceful_shutdown()
        if self._server is not None:
            self._server.stop(grace_s).wait()
            self._server = None

    def restart(self, grace_s: float = 1.0) -> Self:
        """Stop, then serve again on the same port with the same backend (a clean gateway
        restart). Returns self.

        Raises:
            BrokerUnavailable: the port could not be bound again.
        """
        self.stop(grace_s)
        return self.start()

    def wait(self) -> None:
        """Block until the server stops."""
        if self._server is not None:
            self._server.wait_for_termination()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
