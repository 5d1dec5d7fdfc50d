"""The one lifecycle of the five services' processes (services.mesh.runtime), run as
`python -m services.<name>`: a malformed setting exits 2 naming it; a start that fails exits 1
saying what to check, after closing what it had opened; SIGTERM after a clean start exits 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from devstack.nats_server import NatsServer, free_port, nats_server_binary
from services.mesh.runtime import EXIT_BAD_SETTINGS, EXIT_START_FAILED
from tests.support import REPO_ROOT

# Each service, with one of its own settings made malformed.
SERVICES = {
    "content_service": "CONTENT_MAX_OBJECT_BYTES",
    "file_service": "FILE_MAX_WORDS",
    "batch_orchestrator": "BOS_MAX_ESSAYS",
    "essay_lifecycle": "ELS_CONSUMER_CONCURRENCY",
    "spell_checker": "SPELL_CHECKER_WORKERS",
}


def run(name: str, env: dict[str, str], timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", f"services.{name}"],
        env={**os.environ, "METRICS_ENABLED": "false", **env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_a_malformed_setting_exits_2_naming_it(name: str) -> None:
    variable = SERVICES[name]

    done = run(name, {variable: "lots"})

    assert done.returncode == EXIT_BAD_SETTINGS
    assert done.stderr.startswith(f"{name}: ") and variable in done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def nats_without_jetstream() -> Iterator[str]:
    """A nats-server with JetStream off: every service's provisioning goes unanswered."""
    port = free_port()
    process = subprocess.Popen(
        [nats_server_binary(), "-p", str(port), "-a", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"nats://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait()


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_a_start_that_fails_exits_1_saying_what_to_check(
    name: str, nats_without_jetstream: str
) -> None:
    done = run(
        name,
        {
            "NATS_URL": nats_without_jetstream,
            "NATS_PROVISION_WAIT_S": "1",
            "SPELL_CHECKER_WORKERS": "1",
            f"{name.upper()}_ADDR": "127.0.0.1:0",
        },
    )

    assert done.returncode == EXIT_START_FAILED, done.stderr[-2000:]
    assert f"{name} did not start" in done.stderr
    assert "NATS_PROVISION_WAIT_S" in done.stderr
    assert "nats disconnected" in done.stderr  # what the start had opened was closed


def test_sigterm_after_a_clean_start_exits_0(nats_server: NatsServer) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "services.content_service"],
        env={
            **os.environ,
            "METRICS_ENABLED": "false",
            "NATS_URL": nats_server.url,
            "CONTENT_SERVICE_ADDR": "127.0.0.1:0",
        },
        cwd=REPO_ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        if "content service ready" in line:
            break
    process.send_signal(signal.SIGTERM)
    rest = process.stderr.read()
    assert process.wait(timeout=30) == 0
    assert "content service stopped" in rest
