"""NATS with user/password and TLS: credentials and CA from settings; refused without them; the
password never appears in logs."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import nats
import nats.errors
import pytest

from devstack.certs import write_certificates
from devstack.nats_server import NatsSecurity, NatsServer
from services.mesh.connection import connect_nats
from services.mesh.logging import JsonFormatter
from services.mesh.streams import ensure_streams
from services.mesh.tls import nats_tls_context
from tests.conftest import settings_for

PASSWORD = "s3cret-Pa55word"


@pytest.fixture(scope="module")
def secured_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NatsServer, Path]]:
    folder = Path(tmp_path_factory.mktemp("secure-nats"))
    certs = write_certificates(folder / "certs")
    server = NatsServer(
        folder / "store",
        security=NatsSecurity(
            user="huleedu",
            password=PASSWORD,
            tls_cert=certs.server_cert,
            tls_key=certs.server_key,
        ),
    )
    server.start()
    yield server, certs.ca_cert
    server.stop()


async def test_client_with_credentials_and_ca_works_and_logs_no_password(
    secured_server: tuple[NatsServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, ca = secured_server
    monkeypatch.setenv("NATS_TLS_CA", str(ca))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("test"))
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    try:
        client, js = await connect_nats(settings_for(server.url), "secure-test")
        await ensure_streams(js, settings_for(server.url))
        await client.drain()
    finally:
        logging.getLogger().removeHandler(handler)
    output = stream.getvalue()
    assert "nats connected" in output
    assert PASSWORD not in output
    assert PASSWORD in server.url  # the credentials were really in NATS_URL


async def test_client_without_credentials_is_refused(
    secured_server: tuple[NatsServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, ca = secured_server
    monkeypatch.setenv("NATS_TLS_CA", str(ca))
    errors: list[str] = []

    async def record(error: Exception) -> None:
        errors.append(str(error))

    for url in (f"tls://127.0.0.1:{server.port}", f"tls://huleedu:wrong@127.0.0.1:{server.port}"):
        with pytest.raises(nats.errors.Error):
            await nats.connect(
                url,
                allow_reconnect=False,
                connect_timeout=3,
                tls=nats_tls_context(),
                error_cb=record,
            )
    assert errors
    assert all("authorization violation" in error.lower() for error in errors), errors
