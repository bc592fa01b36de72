"""gRPC channels of the gateways: one per gateway, with the options every call needs, TLS when
configured, the call metadata that carries the bearer token, and the error for a channel that
did not become ready."""

from __future__ import annotations

import logging

import grpc
import grpc.aio

from jts_broker.contract.wire import MAX_MESSAGE_BYTES
from jts_broker.domain import errors
from jts_broker.domain.config import BrokerConfig, Secret

log = logging.getLogger("jts_broker.transport")
_LOOPBACK = ("127.", "localhost", "[::1]", "::1")

CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    # Reconnect fast after a gateway restart: grpc's default backoff waits a median 1.5 s
    # (up to 5.6 s); these bounds measured a 0.45 s median (DESIGN.md section 4).
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
)


def _secure(config: BrokerConfig) -> tuple[grpc.ChannelCredentials | None, tuple[tuple[str, int | str], ...]]:
    if config.tls is None:
        if config.token and not config.grpc_host.startswith(_LOOPBACK):
            log.warning("sending a bearer token in plaintext to %s: configure tls", config.target)
        return None, CHANNEL_OPTIONS
    roots, key, chain = config.tls.read()
    credentials = grpc.ssl_channel_credentials(root_certificates=roots, private_key=key, certificate_chain=chain)
    options: tuple[tuple[str, int | str], ...] = CHANNEL_OPTIONS
    if config.tls.server_name:
        options += (("grpc.ssl_target_name_override", config.tls.server_name),)
    return credentials, options


def open_channel(config: BrokerConfig) -> grpc.Channel:
    """A blocking channel to ``config.target`` (TLS when ``config.tls`` is set).

    Raises:
        ConfigurationError: a TLS file cannot be read.
    """
    credentials, options = _secure(config)
    if credentials is None:
        return grpc.insecure_channel(config.target, options=options)
    return grpc.secure_channel(config.target, credentials, options=options)


def open_aio_channel(config: BrokerConfig) -> grpc.aio.Channel:
    """The asyncio twin of :func:`open_channel`."""
    credentials, options = _secure(config)
    if credentials is None:
        return grpc.aio.insecure_channel(config.target, options=options)
    return grpc.aio.secure_channel(config.target, credentials, options=options)


def call_metadata(config: BrokerConfig) -> tuple[tuple[str, str], ...]:
    """Metadata sent with every call: the bearer token, when there is one."""
    token = config.token  # a Secret once the config is built (a str is wrapped by BrokerConfig)
    return (("authorization", f"Bearer {token.reveal()}"),) if isinstance(token, Secret) and token else ()


_LAST_ERROR = "last error: "


def connect_failure(target: str, connect_s: float, transport_error: str, tls: bool) -> errors.BrokerUnavailable:
    """The error for a channel not ready within ``connect_s`` seconds, naming why where grpc
    said so: ``transport_error`` is the details of a fail-fast call on that channel (e.g.
    "failed to connect to all addresses; last error: UNKNOWN: ipv4:...: Tls handshake failed
    ..."), or "" when grpc has none yet.

    Code ``TLS_HANDSHAKE_FAILED`` when the TLS handshake failed (untrusted server certificate,
    plaintext server); ``CONNECT_TIMEOUT`` otherwise, with a hint when the server closes the socket
    during the handshake (a TLS server meeting a plaintext client, or a server requiring a client
    certificate the client did not send).
    """
    reason = transport_error.split(_LAST_ERROR, 1)[-1].strip()
    if "handshake" in reason.lower():
        hint = ("check tls.root_certificates (the CA that signed the server's certificate), the client certificate if the server"
                " requires one, and that the server serves TLS")
        return errors.BrokerUnavailable(f"TLS handshake with the gateway at {target} failed: {reason}; {hint}", code="TLS_HANDSHAKE_FAILED")
    message = f"cannot reach the gateway at {target} within {connect_s:g} s"
    if reason:
        message += f": {reason}"
        if "socket closed" in reason.lower():  # the server hung up during the handshake
            message += (" (does the server require a client certificate? set tls.client_certificate and tls.client_key)" if tls
                        else " (does the server require TLS? set tls in the broker's config)")
    return errors.BrokerUnavailable(message, code="CONNECT_TIMEOUT")
