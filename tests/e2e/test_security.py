"""The whole system with security on: every gRPC server and client on mutual TLS, NATS with a
password and TLS. The five services run as processes (started here, not by the session's plain
stack); the CLI submits a batch through to COMPLETED. Clients without a valid certificate and NATS
clients without credentials are refused; the password never shows in logs, events or errors."""

from __future__ import annotations

import json
import os
import secrets
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import nats
import nats.errors
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nats.js.errors import NotFoundError

from devstack.certs import CertificateSet, write_certificates
from devstack.nats_server import NatsSecurity, NatsServer, free_port
from devstack.processes import ManagedProcess, spawn, stop
from services.mesh.settings import DEFAULT_ADDRS
from services.mesh.tls import GrpcTls
from tests.e2e.conftest import SAMPLE_CLASS, huleedu_argv
from tests.support import REPO_ROOT

SERVICES = (
    "content_service",
    "file_service",
    "batch_orchestrator",
    "essay_lifecycle",
    "spell_checker",
)
ADDR_OF = dict(zip(SERVICES, DEFAULT_ADDRS, strict=True))
PASSWORD = f"pw-{secrets.token_hex(12)}"  # unique, so finding it anywhere is a leak
USER = "huleedu"
SECURITY_VARIABLES = ("GRPC_TLS_", "NATS_TLS_", "NATS_URL")


@dataclass
class SecureStack:
    nats: NatsServer
    certs: CertificateSet
    addrs: dict[str, str]
    logs: Path
    processes: list[ManagedProcess]

    def service_env(self, **overrides: str) -> dict[str, str]:
        """What every service gets: its certificate (mTLS required), NATS with password + TLS."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(SECURITY_VARIABLES)}
        return {
            **base,
            **self.addrs,
            "NATS_URL": self.nats.url,
            "NATS_TLS_CA": str(self.certs.ca_cert),
            "GRPC_TLS_CERT": str(self.certs.server_cert),
            "GRPC_TLS_KEY": str(self.certs.server_key),
            "GRPC_TLS_CA": str(self.certs.ca_cert),
            "GRPC_TLS_REQUIRE_CLIENT_CERT": "true",
            "METRICS_ENABLED": "false",
            "SPELL_CHECKER_WORKERS": "1",
            "PYTHONUNBUFFERED": "1",
            **overrides,
        }

    def client_env(self, **overrides: str) -> dict[str, str]:
        """What the CLI gets: the client certificate and the same NATS settings."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(SECURITY_VARIABLES)}
        return {
            **base,
            **self.addrs,
            "NATS_URL": self.nats.url,
            "NATS_TLS_CA": str(self.certs.ca_cert),
            "GRPC_TLS_CA": str(self.certs.ca_cert),
            "GRPC_TLS_CERT": str(self.certs.client_cert),
            "GRPC_TLS_KEY": str(self.certs.client_key),
            **overrides,
        }

    @property
    def client_tls(self) -> GrpcTls:
        return GrpcTls(
            cert_file=self.certs.client_cert,
            key_file=self.certs.client_key,
            ca_file=self.certs.ca_cert,
        )

    @property
    def nats_port(self) -> int:
        return self.nats.port


def health(addr: str, tls: GrpcTls) -> str:
    """The serving status at `addr` as a client with `tls` sees it, or the error code's name."""
    if tls.dials_tls:
        channel = grpc.secure_channel(addr, tls.channel_credentials(), tls.channel_options())
    else:
        channel = grpc.insecure_channel(addr)
    with channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
        except grpc.RpcError as error:
            return error.code().name if isinstance(error, grpc.Call) else "ERROR"
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def nats_tls(ca: Path) -> ssl.SSLContext:
    """What nats_tls_context() builds from NATS_TLS_CA."""
    return ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))


def wait_serving(addr: str, tls: GrpcTls, name: str, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while (status := health(addr, tls)) != "SERVING":
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} at {addr} not SERVING over mutual TLS: {status}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureStack]:
    folder = Path(tmp_path_factory.mktemp("secure-stack"))
    certs = write_certificates(folder / "certs")
    server = NatsServer(
        folder / "nats",
        security=NatsSecurity(
            user=USER, password=PASSWORD, tls_cert=certs.server_cert, tls_key=certs.server_key
        ),
    )
    server.start()
    stack = SecureStack(
        server,
        certs,
        {ADDR_OF[name]: f"127.0.0.1:{free_port()}" for name in SERVICES},
        folder / "logs",
        [],
    )
    try:
        for name in SERVICES:
            stack.processes.append(
                spawn(
                    name,
                    [sys.executable, "-m", f"services.{name}"],
                    log_path=stack.logs / f"{name}.log",
                    env=stack.service_env(),
                    cwd=REPO_ROOT,
                    marker=f"services.{name}",
                )
            )
        for name in SERVICES:
            wait_serving(stack.addrs[ADDR_OF[name]], stack.client_tls, name)
        yield stack
    finally:
        for process in reversed(stack.processes):
            stop(process)
        server.stop()


def cli(
    stack: SecureStack, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*huleedu_argv(), *args],
        env=env if env is not None else stack.client_env(),
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO_ROOT,
        check=False,
    )


def test_a_batch_goes_through_to_completed_with_mtls_and_nats_auth_and_tls(
    secure: SecureStack,
) -> None:
    files = sorted(SAMPLE_CLASS.iterdir())[:4]  # .txt, .docx, .pdf, .html
    submitted = cli(secure, "submit", "--json", "--quiet", *map(str, files))
    assert submitted.returncode == 0, submitted.stderr
    document = json.loads(submitted.stdout)
    assert document["status"] == "COMPLETED", document
    assert [essay["status"] for essay in document["essays"]] == ["SPELLCHECKED_SUCCESS"] * 4

    # the CLI reads the event log over NATS with the password and TLS too
    events = cli(secure, "events", "--batch", document["batch_id"], "--json")
    assert events.returncode == 0, events.stderr
    kinds = {json.loads(line)["type"].rsplit(".", 1)[-1] for line in events.stdout.splitlines()}
    assert {"BatchEssaysRegistered", "SpellcheckGroupCompleted", "ELSBatchPhaseOutcome"} <= kinds

    # every server says at start that it serves mutual TLS
    for name in SERVICES:
        lines = (secure.logs / f"{name}.log").read_text().splitlines()
        listening = [json.loads(line) for line in lines if "grpc server listening" in line]
        assert [entry["transport"] for entry in listening] == ["mutual TLS"], name


@pytest.mark.parametrize("name", SERVICES)
def test_a_client_without_a_valid_certificate_is_refused(
    secure: SecureStack, name: str, tmp_path: Path
) -> None:
    addr = secure.addrs[ADDR_OF[name]]
    stranger = write_certificates(tmp_path / "another-ca")
    assert health(addr, secure.client_tls) == "SERVING"
    for client in (
        GrpcTls(),  # plaintext
        GrpcTls(ca_file=secure.certs.ca_cert),  # TLS, but no client certificate
        GrpcTls(  # a certificate signed by a CA the services do not trust
            cert_file=stranger.client_cert,
            key_file=stranger.client_key,
            ca_file=secure.certs.ca_cert,
        ),
    ):
        assert health(addr, client) == "UNAVAILABLE", client


def test_the_cli_without_its_certificate_is_refused_with_a_clear_message(
    secure: SecureStack,
) -> None:
    env = secure.client_env()
    for variable in ("GRPC_TLS_CERT", "GRPC_TLS_KEY"):
        env.pop(variable)
    refused = cli(secure, "batches", env=env)
    assert refused.returncode != 0
    assert "cannot reach" in refused.stderr and "Traceback" not in refused.stderr


async def test_a_nats_client_without_valid_credentials_or_tls_is_refused(
    secure: SecureStack,
) -> None:
    port = secure.nats_port
    errors: list[str] = []

    async def record(error: Exception) -> None:
        errors.append(str(error))

    tls = nats_tls(secure.certs.ca_cert)
    attempts = {
        "no credentials": (f"tls://127.0.0.1:{port}", tls),
        "wrong password": (f"tls://{USER}:not-the-password@127.0.0.1:{port}", tls),
        "right password, no TLS": (f"nats://{USER}:{PASSWORD}@127.0.0.1:{port}", None),
    }
    for case, (url, context) in attempts.items():
        with pytest.raises((nats.errors.Error, OSError, TimeoutError)):
            client = await nats.connect(
                url, allow_reconnect=False, connect_timeout=3, tls=context, error_cb=record
            )
            await client.close()
            pytest.fail(f"{case}: connected")
    assert any("authorization violation" in error.lower() for error in errors), errors
    # and the right credentials with TLS do connect
    client = await nats.connect(secure.nats.url, connect_timeout=3, tls=tls, error_cb=record)
    await client.close()


def test_a_wrong_or_malformed_nats_url_is_reported_without_its_password(
    secure: SecureStack, tmp_path: Path
) -> None:
    # Errors: a service whose NATS_URL carries a wrong password (it keeps retrying, saying why)
    # and one whose NATS_URL is malformed (it exits naming the variable); the CLI with the wrong
    # password too. None may echo the password.
    wrong = f"wrong-{secrets.token_hex(8)}"
    bad_url = f"tls://{USER}:{wrong}@127.0.0.1:{secure.nats_port}"
    outputs: dict[str, str] = {}
    for case, url, says in (
        ("wrong password", bad_url, "authorization violation"),
        ("malformed URL", bad_url + "x:", "NATS_URL="),
    ):
        log = tmp_path / f"{case}.log"
        process = spawn(
            case,
            [sys.executable, "-m", "services.batch_orchestrator"],
            log_path=log,
            env=secure.service_env(
                NATS_URL=url, BATCH_ORCHESTRATOR_ADDR=f"127.0.0.1:{free_port()}"
            ),
            cwd=REPO_ROOT,
            marker="services.batch_orchestrator",
        )
        try:
            deadline = time.monotonic() + 60
            while says.lower() not in log.read_text().lower():
                assert time.monotonic() < deadline, f"{case}: never said {says!r}"
                time.sleep(0.1)
        finally:
            stop(process)
        outputs[case] = log.read_text()
    events = cli(secure, "events", "--last", "1", env=secure.client_env(NATS_URL=bad_url))
    assert events.returncode != 0
    outputs["cli with the wrong password"] = events.stdout + events.stderr
    for case, output in outputs.items():
        assert wrong not in output, case


async def test_the_nats_password_appears_in_no_log_and_no_stored_message(
    secure: SecureStack,
) -> None:
    # Logs: every service and the nats-server, after a whole batch went through.
    logs = {path.name: path.read_text() for path in secure.logs.glob("*.log")}
    logs["nats-server"] = secure.nats.log_file.read_text()
    assert len(logs) == len(SERVICES) + 1
    assert all("nats connected" in logs[f"{name}.log"] for name in SERVICES)
    for name, text in logs.items():
        assert PASSWORD not in text, name

    # Events and state: every message of every stream (events, DLQ, KV buckets, object store).
    stored = await stored_messages(secure)
    assert stored > 50
    assert PASSWORD in secure.nats.url  # the secret really was in NATS_URL


async def stored_messages(secure: SecureStack) -> int:
    """Read every message of every stream and check none holds the password; their count."""
    client = await nats.connect(
        secure.nats.url, tls=nats_tls(secure.certs.ca_cert), connect_timeout=3
    )
    js = client.jetstream()
    count = 0
    try:
        for info in await js.streams_info():
            state, name = info.state, info.config.name
            assert name is not None
            for seq in range(max(state.first_seq, 1), state.last_seq + 1):
                try:
                    msg = await js.get_msg(name, seq)
                except NotFoundError:
                    continue  # deleted (KV history, purges)
                blob = (msg.data or b"") + repr(msg.headers).encode()
                assert PASSWORD.encode() not in blob, (name, seq)
                count += 1
    finally:
        await client.close()
    return count
