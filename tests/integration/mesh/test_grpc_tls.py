"""gRPC TLS and mutual TLS through the bootstrap, with certificates from `make certs`' generator."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devstack.certs import CertificateSet, write_certificates
from huleedu.content.v1 import content_service_pb2_grpc
from services.mesh.grpc_channel import grpc_channel
from services.mesh.grpc_server import GrpcServer, start_grpc_server
from services.mesh.settings import SettingsError
from services.mesh.tls import GrpcTls

SERVICE = "huleedu.content.v1.ContentService"
CHECK = health_pb2.HealthCheckRequest(service=SERVICE)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertificateSet:
    return write_certificates(Path(tmp_path_factory.mktemp("certs")))


async def serve(tls: GrpcTls) -> GrpcServer:
    return await start_grpc_server(
        "127.0.0.1:0",
        lambda s: content_service_pb2_grpc.add_ContentServiceServicer_to_server(
            content_service_pb2_grpc.ContentServiceServicer(), s
        ),
        [SERVICE],
        tls=tls,
    )


async def check(port: int, tls: GrpcTls) -> int:
    async with grpc_channel(f"127.0.0.1:{port}", tls=tls) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(CHECK, timeout=5)
        return int(reply.status)


async def test_tls_server_answers_a_client_that_trusts_its_ca(certs: CertificateSet) -> None:
    server = await serve(GrpcTls(cert_file=certs.server_cert, key_file=certs.server_key))
    try:
        assert await check(server.port, GrpcTls(ca_file=certs.ca_cert)) == 1
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await check(server.port, GrpcTls())  # plaintext client
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await server.stop(0)


async def test_mutual_tls_refuses_a_client_without_a_valid_certificate(
    certs: CertificateSet, tmp_path: Path
) -> None:
    server = await serve(
        GrpcTls(
            cert_file=certs.server_cert,
            key_file=certs.server_key,
            ca_file=certs.ca_cert,
            require_client_cert=True,
        )
    )
    stranger = write_certificates(tmp_path / "other-ca")
    try:
        with_client_cert = GrpcTls(
            cert_file=certs.client_cert, key_file=certs.client_key, ca_file=certs.ca_cert
        )
        assert await check(server.port, with_client_cert) == 1
        for client in (
            GrpcTls(ca_file=certs.ca_cert),  # no client certificate
            GrpcTls(  # a certificate from a CA the server does not trust
                cert_file=stranger.client_cert,
                key_file=stranger.client_key,
                ca_file=certs.ca_cert,
            ),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await check(server.port, client)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await server.stop(0)


def test_tls_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, certs: CertificateSet
) -> None:
    monkeypatch.setenv("GRPC_TLS_CERT", "/nonexistent/cert.pem")
    with pytest.raises(SettingsError, match="GRPC_TLS_CERT"):
        GrpcTls.from_env()
    monkeypatch.setenv("GRPC_TLS_CERT", str(certs.server_cert))
    with pytest.raises(SettingsError, match="GRPC_TLS_KEY"):
        GrpcTls.from_env()
    monkeypatch.setenv("GRPC_TLS_KEY", str(certs.server_key))
    monkeypatch.setenv("GRPC_TLS_REQUIRE_CLIENT_CERT", "true")
    with pytest.raises(SettingsError, match="GRPC_TLS_CA"):
        GrpcTls.from_env()
    monkeypatch.setenv("GRPC_TLS_CA", str(certs.ca_cert))
    assert GrpcTls.from_env().require_client_cert
