"""The local stack as `make up` leaves it, and what docker compose would run checked against it:
the containers' commands are the commands running here, and the containers' health probe
answers for every service here."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.nats_server import free_port
from devstack.stack import SERVICES
from tests.e2e.conftest import E2EStack, huleedu
from tests.support import REPO_ROOT

PROBE = REPO_ROOT / "docker" / "healthcheck.py"


def compose_services() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    return dict(document["services"])


def local_only(stack: E2EStack) -> Path:
    if stack.run_dir is None:
        pytest.skip("the stack was not started by the suite")
    return stack.run_dir


def probe(addr: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(PROBE), addr],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize("spec", SERVICES, ids=[spec.name for spec in SERVICES])
def test_the_container_health_probe_answers_for_each_service(stack: E2EStack, spec: Any) -> None:
    result = probe(stack.addr(spec.addr_variable))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("SERVING")


def test_the_probe_fails_where_nothing_listens() -> None:
    result = probe(f"127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert result.stdout.strip().endswith("UNREACHABLE")


def test_the_stack_runs_the_commands_the_containers_run(stack: E2EStack) -> None:
    run_dir = local_only(stack)
    containers = {
        service["command"][2]: service
        for service in compose_services().values()
        if service.get("image") == "huleedu-mesh:dev" and service["command"][:2] == ["python", "-m"]
    }
    for spec in SERVICES:
        pid = int((run_dir / "pids" / f"{spec.name}.pid").read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:3]
        assert cmdline[1:] == ["-m", spec.module]
        assert containers[spec.module]["command"] == ["python", "-m", spec.module]
        assert (run_dir / "logs" / f"{spec.name}.log").stat().st_size > 0


def test_status_reports_every_process_serving(stack: E2EStack) -> None:
    run_dir = local_only(stack)
    result = subprocess.run(
        [sys.executable, "-m", "devstack", "--run-dir", str(run_dir), "status"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout
    assert result.stdout.count(" SERVING") == len(SERVICES)
    assert "nats-server" in result.stdout


def test_a_second_up_on_the_same_run_directory_is_refused(stack: E2EStack) -> None:
    run_dir = local_only(stack)
    result = subprocess.run(
        [sys.executable, "-m", "devstack", "--run-dir", str(run_dir), "up"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "already running" in result.stderr and "Traceback" not in result.stderr


def test_the_cli_says_what_to_start_when_a_service_is_down(stack: E2EStack) -> None:
    closed = f"127.0.0.1:{free_port()}"
    result = huleedu(
        stack, "status", str(uuid.uuid4()), "--batch-orchestrator-addr", closed, timeout_s=30
    )
    assert result.returncode == 3
    assert result.stderr == (
        f"huleedu: cannot reach Batch Orchestrator at {closed}: start the stack with "
        "`make up` (or set BATCH_ORCHESTRATOR_ADDR)\n"
    )
