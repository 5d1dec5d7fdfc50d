"""The docker compose stack itself (`make test-compose`, which runs these with the rest of the E2E
suite against the containers): every container healthy, an image that holds only the product,
Prometheus scraping all five services, and a service container whose process is SIGKILLed brought
back by its restart policy with the batch in flight completed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.request
from typing import Any

import pytest

from tests.e2e.conftest import SAMPLE_CLASS, E2EStack, submit_json
from tests.support import REPO_ROOT, wait_until

pytestmark = pytest.mark.compose

SERVICES = (
    "content-service",
    "file-service",
    "batch-orchestrator",
    "essay-lifecycle",
    "spell-checker",
)
PROMETHEUS = "http://127.0.0.1:9090"


@pytest.fixture(autouse=True)
def _compose_stack(stack: E2EStack) -> None:
    if not stack.external:
        pytest.skip("runs against the docker compose stack (make test-compose)")


def compose(*args: str) -> str:
    """`docker compose ARGS...` in the repository; its output, checked to exit 0."""
    done = subprocess.run(
        ["docker", "compose", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"docker compose {' '.join(args)}: {done.stderr}"
    return done.stdout


def containers() -> dict[str, dict[str, Any]]:
    """The running containers of the single-node stack, by compose service."""
    lines = compose("ps", "--format", "json").splitlines()
    found = [json.loads(line) for line in lines if line.strip()]
    return {item["Service"]: item for item in found}


def inspect(service: str) -> dict[str, Any]:
    container = containers()[service]["ID"]
    done = subprocess.run(
        ["docker", "inspect", container], capture_output=True, text=True, timeout=60, check=True
    )
    state: dict[str, Any] = json.loads(done.stdout)[0]
    return state


def test_every_container_is_running_and_healthy() -> None:
    running = containers()

    assert set(SERVICES) | {"nats", "nats-box", "prometheus"} <= set(running)
    for name in (*SERVICES, "nats", "prometheus"):
        assert running[name]["State"] == "running", name
        assert running[name]["Health"] == "healthy", name


def test_the_image_holds_the_product_and_not_its_tooling() -> None:
    probe = (
        "import importlib.util as u; "
        "print(*[m for m in ('services.mesh', 'devstack', 'bench', 'tests', 'pytest') "
        "if u.find_spec(m) is not None])"
    )

    found = compose("exec", "-T", "content-service", "python", "-c", probe).split()

    assert found == ["services.mesh"]


async def test_prometheus_scrapes_all_five_services() -> None:
    def targets_up() -> set[str]:
        with urllib.request.urlopen(f"{PROMETHEUS}/api/v1/targets", timeout=5) as reply:
            active = json.load(reply)["data"]["activeTargets"]
        return {t["labels"]["service"] for t in active if t["health"] == "up"}

    wanted = {name.replace("-", "_") for name in SERVICES}

    await wait_until(
        lambda: wanted <= targets_up(),
        timeout_s=60,
        interval_s=1,
        message="every service's /metrics scraped",
    )

    assert targets_up() == wanted


async def test_a_sigkilled_service_container_is_restarted_and_its_batch_completes(
    stack: E2EStack,
) -> None:
    """The Spell Checker's process dies (SIGKILL from the host, as a crash would); compose's
    restart policy brings the container back, and the sample class submitted meanwhile completes
    with every good essay checked."""
    before = inspect("spell-checker")
    os.kill(before["State"]["Pid"], signal.SIGKILL)

    result = submit_json(stack, SAMPLE_CLASS)
    after = inspect("spell-checker")

    assert after["RestartCount"] > before["RestartCount"]
    assert result["status"] == "COMPLETED_WITH_FAILURES"  # the sample class's one broken file
    checked = [e for e in result["essays"] if e["status"] == "SPELLCHECKED_SUCCESS"]
    assert len(checked) == len(result["essays"]) - len(result["failures"])
    await wait_until(
        lambda: containers()["spell-checker"]["Health"] == "healthy",
        timeout_s=90,
        interval_s=0.5,
        message="the restarted Spell Checker healthy again",
    )
