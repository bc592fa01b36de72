"""Transport security against a real simulator: TLS (server and mutual), bearer tokens, and
secrets that never show in a repr."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
import trustme
from grpc_health.v1 import health_pb2, health_pb2_grpc

from jts_broker import (
    AsyncGrpcBrokerGateway,
    AuthenticationFailed,
    BrokerConfig,
    BrokerUnavailable,
    ConnectionStatus,
    GrpcBrokerGateway,
    RateLimit,
    Timeouts,
    TlsConfig,
)
from jts_broker.server import SimulatorServer
from jts_broker.server.auth import ServerTls
from tests.conftest import AsyncAsSync

pytestmark = pytest.mark.integration

TOKEN = "s3cret-token-value"


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, Path | bytes]:
    """A throwaway CA, a server certificate for loopback and a client certificate."""
    folder = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("trader@jts-broker.test")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    client.private_key_pem.write_to_path(str(folder / "client.key"))
    for i, pem in enumerate(client.cert_chain_pems):
        pem.write_to_path(str(folder / "client.pem"), append=i > 0)
    return {
        "ca": folder / "ca.pem", "client_cert": folder / "client.pem", "client_key": folder / "client.key",
        "server_chain": b"".join(p.bytes() for p in server.cert_chain_pems), "server_key": server.private_key_pem.bytes(),
        "ca_pem": ca.cert_pem.bytes(),
    }


def _config(server: SimulatorServer, **kwargs) -> BrokerConfig:
    return BrokerConfig.from_target(server.target, rate_limit=RateLimit(1000), timeouts=Timeouts(connect_s=1.0), **kwargs)


@pytest.fixture
def secure_server(pki):
    tls = ServerTls(pki["server_chain"], pki["server_key"])
    with SimulatorServer(speed=0, tls=tls, token=TOKEN) as server:
        yield server


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_tls_with_the_right_token_works(kind, secure_server, pki):
    config = _config(secure_server, tls=TlsConfig(root_certificates=pki["ca"]), token=TOKEN)
    gateway = GrpcBrokerGateway(config) if kind == "sync" else AsyncAsSync(AsyncGrpcBrokerGateway(config))
    try:
        assert gateway.get_quote("005930").price > 0
    finally:
        gateway.close() if kind == "sync" else gateway.shutdown()


@pytest.mark.parametrize("token", ["wrong-token", None])
def test_a_wrong_or_missing_token_is_authentication_failed(secure_server, pki, token):
    gateway = GrpcBrokerGateway(_config(secure_server, tls=TlsConfig(root_certificates=pki["ca"]), token=token))
    with pytest.raises(AuthenticationFailed) as caught:
        gateway.get_quote("005930")  # a wrong token at connect, a missing one at the call
    gateway.close()
    assert caught.value.status == "UNAUTHENTICATED"
    assert ("invalid" if token else "missing") in str(caught.value)
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_wrong_token_fails_at_connect_not_at_the_first_call(kind, secure_server, pki):
    config = _config(secure_server, tls=TlsConfig(root_certificates=pki["ca"]), token="wrong-token")
    gateway = GrpcBrokerGateway(config) if kind == "sync" else AsyncAsSync(AsyncGrpcBrokerGateway(config))
    with pytest.raises(AuthenticationFailed, match="invalid bearer token"):
        gateway.connect()
    assert gateway.status is ConnectionStatus.ERROR
    gateway.close() if kind == "sync" else gateway.shutdown()


def test_health_needs_no_token_but_refuses_a_wrong_one(secure_server, pki):
    channel = grpc.secure_channel(secure_server.target, grpc.ssl_channel_credentials(pki["ca_pem"]))
    health = health_pb2_grpc.HealthStub(channel)
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as caught:
        health.Check(health_pb2.HealthCheckRequest(), timeout=5, metadata=(("authorization", "Bearer wrong"),))
    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    channel.close()


def test_a_plaintext_client_cannot_reach_a_tls_server(secure_server):
    gateway = GrpcBrokerGateway(_config(secure_server, token=TOKEN))
    with pytest.raises(BrokerUnavailable) as caught:
        gateway.connect()
    gateway.close()
    assert caught.value.code == "CONNECT_TIMEOUT" and "does the server require TLS?" in str(caught.value)


def test_a_tls_client_of_a_plaintext_server_is_told_the_handshake_failed(simulator, pki):
    gateway = GrpcBrokerGateway(_config(simulator, tls=TlsConfig(root_certificates=pki["ca"])))
    with pytest.raises(BrokerUnavailable) as caught:
        gateway.connect()
    gateway.close()
    assert caught.value.code == "TLS_HANDSHAKE_FAILED" and "WRONG_VERSION_NUMBER" in str(caught.value)


def test_a_server_certificate_from_another_ca_is_refused(secure_server, tmp_path):
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    for gateway in (GrpcBrokerGateway(_config(secure_server, tls=TlsConfig(root_certificates=other), token=TOKEN)),
                    AsyncAsSync(AsyncGrpcBrokerGateway(_config(secure_server, tls=TlsConfig(root_certificates=other), token=TOKEN)))):
        with pytest.raises(BrokerUnavailable) as caught:
            gateway.connect()
        gateway.close() if isinstance(gateway, GrpcBrokerGateway) else gateway.shutdown()
        assert caught.value.code == "TLS_HANDSHAKE_FAILED" and "CERTIFICATE_VERIFY_FAILED" in str(caught.value)


def test_mutual_tls_needs_the_client_certificate(pki):
    tls = ServerTls(pki["server_chain"], pki["server_key"], client_ca=pki["ca_pem"])
    with SimulatorServer(speed=0, tls=tls) as server:
        with_cert = TlsConfig(root_certificates=pki["ca"], client_certificate=pki["client_cert"], client_key=pki["client_key"])
        with GrpcBrokerGateway(_config(server, tls=with_cert)) as gateway:
            assert gateway.get_quote("005930").price > 0
        without = GrpcBrokerGateway(_config(server, tls=TlsConfig(root_certificates=pki["ca"])))
        with pytest.raises(BrokerUnavailable) as caught:
            without.connect()
        without.close()
    assert caught.value.code == "CONNECT_TIMEOUT" and "client certificate" in str(caught.value)


def test_secrets_never_show_in_reprs(pki):
    config = BrokerConfig(token=TOKEN, tls=TlsConfig(root_certificates=pki["ca"]))
    assert TOKEN not in repr(config) and TOKEN not in str(config)
    assert "***" in repr(config)
    assert config.token.reveal() == TOKEN
    assert "BEGIN" not in repr(ServerTls(pki["server_chain"], pki["server_key"]))


def test_unreadable_tls_files_are_a_configuration_error(tmp_path):
    from jts_broker import ConfigurationError

    gateway = GrpcBrokerGateway(BrokerConfig(tls=TlsConfig(root_certificates=tmp_path / "missing.pem")))
    with pytest.raises(ConfigurationError, match=r"missing\.pem"):
        gateway.connect()
    gateway.close()
