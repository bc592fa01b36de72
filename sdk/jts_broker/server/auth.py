"""Transport security of the simulator: TLS server credentials and a bearer-token check.

The token travels as call metadata ``authorization: Bearer <token>``, as gRPC's own access-token
credentials send it. Health checks and reflection need no token, as on most gateways, so a load
balancer can probe a server it is not authorized to use; but a token that is presented must be
valid everywhere, health included, so a client with a wrong token learns it when it connects
(``AuthenticationFailed`` from ``connect()``) instead of being reported CONNECTED.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from jts_broker.contract._generated.pb import common_pb2

from .interceptors import ServerInterceptor, abort, wrap

_EXEMPT_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")


@dataclass(frozen=True, slots=True, repr=False)
class ServerTls:
    """TLS of the simulator, as PEM bytes.

    Attributes:
        certificate_chain: the server's certificate (and intermediates).
        private_key: the server's private key.
        client_ca: when set, clients must present a certificate signed by this CA (mutual TLS).
    """

    certificate_chain: bytes
    private_key: bytes
    client_ca: bytes | None = None

    def __repr__(self) -> str:  # never print the key
        return f"ServerTls(mutual={self.client_ca is not None})"

    @classmethod
    def from_files(cls, cert: Path, key: Path, client_ca: Path | None = None) -> ServerTls:
        """Read the PEM files. Raises OSError when one cannot be read."""
        return cls(cert.read_bytes(), key.read_bytes(), client_ca.read_bytes() if client_ca else None)

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials([(self.private_key, self.certificate_chain)], root_certificates=self.client_ca,
                                           require_client_auth=self.client_ca is not None)


class TokenInterceptor(ServerInterceptor):
    """Refuses jts.broker.v1 calls without ``authorization: Bearer <token>``, and any call with a
    wrong one (UNAUTHENTICATED)."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("the token must not be empty")
        self._expected = f"Bearer {token}".encode()

    def intercept_service(self, continuation: Callable[[Any], Any], details: grpc.HandlerCallDetails) -> Any:
        presented = next((v for k, v in details.invocation_metadata or () if k == "authorization"), "")
        value = presented.encode() if isinstance(presented, str) else presented
        if not value and details.method.startswith(_EXEMPT_PREFIXES):
            return continuation(details)
        if hmac.compare_digest(value, self._expected):  # constant time: no timing oracle on the token
            return continuation(details)
        reason = "missing bearer token" if not value else "invalid bearer token"
        handler = continuation(details)
        if handler is None:
            return None

        def deny(request: Any, context: grpc.ServicerContext) -> None:
            abort(context, grpc.StatusCode.UNAUTHENTICATED, common_pb2.ErrorDetail(code="UNAUTHENTICATED", message=reason))

        return wrap(handler, deny)
