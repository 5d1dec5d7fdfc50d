"""The running system for the E2E suite: one stack per session, started the way `make up` starts
it (`python -m devstack up`, here on free ports with a temporary run directory), or, with
HULEEDU_E2E_STACK=external, the stack already running at NATS_URL and the *_ADDR variables (how
`make compose-e2e` runs the suite against docker compose; its calls then carry the token the CLI
would send: HULEEDU_TOKEN, else the file `huleedu login` writes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devstack.stack import StackAddresses
from huleedu.batch.v1 import batch_service_pb2
from services.cli.credentials import bearer_token
from services.mesh.settings import DEFAULT_ADDRS, DEFAULT_NATS_URL
from tests.e2e.chaos_faults import SEEDS_USED
from tests.harness.mesh_calls import MeshCalls
from tests.support import REPO_ROOT

SAMPLE_CLASS = REPO_ROOT / "examples" / "essays"


@dataclass(frozen=True)
class E2EStack:
    """Where the stack under test listens; `run_dir` is None for an external stack."""

    env: dict[str, str]
    run_dir: Path | None

    @property
    def external(self) -> bool:
        """True when the suite did not start the stack (docker compose)."""
        return self.run_dir is None

    def addr(self, variable: str) -> str:
        """A service's address, e.g. addr("BATCH_ORCHESTRATOR_ADDR")."""
        return self.env[variable]

    @property
    def nats_url(self) -> str:
        """The NATS URL."""
        return self.env["NATS_URL"]

    @property
    def call_metadata(self) -> tuple[tuple[str, str], ...]:
        """The metadata of a gRPC call made straight from a test: the bearer token of a stack
        that needs one (HULEEDU_TOKEN), else none."""
        token = self.env.get("HULEEDU_TOKEN", "")
        return (("authorization", f"Bearer {token}"),) if token else ()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The chaos seeds of this run, so that any failure can be replayed (CHAOS_SEED=<seed>)."""
    for seed in SEEDS_USED:
        terminalreporter.write_line(f"chaos seed {seed}: replay with CHAOS_SEED={seed}")


def devstack(
    run_dir: Path, *command: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m devstack --run-dir RUN_DIR COMMAND...`, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "devstack", "--run-dir", str(run_dir), *command],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO_ROOT,
        check=False,
        env=env,
    )


async def register_essays(calls: MeshCalls, essays: Sequence[Path], title: str) -> str:
    """RegisterBatch with one slot per essay (English, ENG5); the batch id."""
    reply = await calls.register(
        batch_service_pb2.RegisterBatchRequest(
            expected_essay_count=len(essays), course_code="ENG5", language="en", title=title
        )
    )
    return reply.batch_id


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EStack]:
    """The stack every E2E test uses."""
    if os.environ.get("HULEEDU_E2E_STACK") == "external":
        env = {name: os.environ.get(name, default) for name, default in DEFAULT_ADDRS.items()}
        env["NATS_URL"] = os.environ.get("NATS_URL", DEFAULT_NATS_URL)
        env["HULEEDU_TOKEN"] = bearer_token() or ""
        yield E2EStack(env, None)
        return
    run_dir = tmp_path_factory.mktemp("stack")
    started = devstack(run_dir, "--free-ports", "up")
    if started.returncode != 0:
        devstack(run_dir, "down")
        pytest.fail(f"`devstack up` failed ({started.returncode}):\n{started.stderr}")
    try:
        addresses = StackAddresses.read(run_dir / "stack.env")
        yield E2EStack(addresses.env(), run_dir)
    finally:
        stopped = devstack(run_dir, "down")
        assert stopped.returncode == 0, stopped.stderr


@pytest.fixture(scope="session")
def authed_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EStack]:
    """A second stack, as `make up` starts it (`devstack --auth up`): the services verify bearer
    tokens, and `up` logged the CLI in to the tenant demo (HULEEDU_TOKEN_FILE in its env)."""
    run_dir = tmp_path_factory.mktemp("authed")
    token = run_dir / "cli-token"
    # HULEEDU_TOKEN (an external stack's token) would win over the file `up` writes.
    env = {**os.environ, "HULEEDU_TOKEN_FILE": str(token), "HULEEDU_TOKEN": ""}
    started = devstack(run_dir, "--auth", "--free-ports", "up", env=env)
    if started.returncode != 0:
        devstack(run_dir, "down")
        pytest.fail(f"`devstack --auth up` failed ({started.returncode}):\n{started.stderr}")
    try:
        assert f"a teacher token for tenant demo in {token}" in started.stderr
        addresses = StackAddresses.read(run_dir / "stack.env")
        yield E2EStack(
            {**addresses.env(), "HULEEDU_TOKEN_FILE": str(token), "HULEEDU_TOKEN": ""}, run_dir
        )
    finally:
        stopped = devstack(run_dir, "down")
        assert stopped.returncode == 0, stopped.stderr


def huleedu_argv() -> list[str]:
    """The installed console script, else the module."""
    script = Path(sys.executable).parent / "huleedu"
    return [str(script)] if script.exists() else [sys.executable, "-m", "services.cli"]


def huleedu(
    stack: E2EStack, *args: str, timeout_s: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """Run the CLI against the stack, as a user would."""
    return subprocess.run(
        [*huleedu_argv(), *args],
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=REPO_ROOT,
        check=False,
    )


def submit_json(stack: E2EStack, *paths: Path | str) -> dict[str, Any]:
    """`huleedu submit --json PATH...`, checked to exit 0, parsed."""
    result = huleedu(stack, "submit", "--json", *map(str, paths))
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    assert "Traceback" not in result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document
