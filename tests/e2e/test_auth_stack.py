"""The local stack with authentication on, as `make up` starts it (`devstack --auth up`): the
services verify bearer tokens, `up` logs the CLI in to the tenant demo, the sample class runs
through with that token, and another school's teacher (`huleedu login`) sees none of it."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.stack import StackAddresses
from tests.e2e.conftest import E2EStack, devstack, huleedu, huleedu_argv
from tests.support import REPO_ROOT

SAMPLE = REPO_ROOT / "examples" / "essays"


@pytest.fixture(scope="module")
def authed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[E2EStack, Path]]:
    """A stack with --auth on free ports, its CLI token file in a temporary directory."""
    run_dir = tmp_path_factory.mktemp("authed")
    token = run_dir / "cli-token"
    env = {**os.environ, "HULEEDU_TOKEN_FILE": str(token)}
    started = devstack(run_dir, "--auth", "--free-ports", "up", env=env)
    if started.returncode != 0:
        devstack(run_dir, "down")
        pytest.fail(f"`devstack --auth up` failed ({started.returncode}):\n{started.stderr}")
    try:
        assert f"a teacher token for tenant demo in {token}" in started.stderr
        addresses = StackAddresses.read(run_dir / "stack.env")
        yield E2EStack({**addresses.env(), "HULEEDU_TOKEN_FILE": str(token)}, run_dir), run_dir
    finally:
        stopped = devstack(run_dir, "down")
        assert stopped.returncode == 0, stopped.stderr


def _as(stack: E2EStack, **env: str) -> E2EStack:
    return E2EStack({**stack.env, **env}, stack.run_dir)


def test_the_sample_class_runs_with_the_token_up_wrote_and_other_schools_see_nothing(
    authed: tuple[E2EStack, Path], tmp_path: Path
) -> None:
    stack, run_dir = authed
    result = huleedu(stack, "submit", "--json", str(SAMPLE))
    assert result.returncode == 0, result.stderr
    batch_id = json.loads(result.stdout)["batch_id"]
    status = huleedu(stack, "status", "--json", batch_id)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["tenant_id"] == "demo"

    other = _as(stack, HULEEDU_TOKEN_FILE=str(tmp_path / "other-token"))
    login = huleedu(
        other, "login", "--tenant", "other-school", "--issuer-key", str(run_dir / "auth/issuer.pem")
    )
    assert login.returncode == 0, login.stderr
    assert "logged in to tenant other-school" in login.stdout
    hidden = huleedu(other, "status", batch_id)
    assert hidden.returncode == 1
    assert "NOT_FOUND" in hidden.stderr or "no batch" in hidden.stderr, hidden.stderr
    listed = huleedu(other, "batches", "--json")
    assert listed.returncode == 0, listed.stderr
    assert batch_id not in listed.stdout


def test_a_cli_without_a_token_is_told_how_to_get_one(
    authed: tuple[E2EStack, Path], tmp_path: Path
) -> None:
    stack, _ = authed
    anonymous = _as(stack, HULEEDU_TOKEN_FILE=str(tmp_path / "none"))
    result = huleedu(anonymous, "batches")
    assert result.returncode == 1
    assert "bearer token" in result.stderr and "huleedu login" in result.stderr
    assert "Traceback" not in result.stderr


def test_login_without_a_stack_key_says_what_to_do(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            *huleedu_argv(),
            *("login", "--tenant", "demo", "--issuer-key", str(tmp_path / "missing.pem")),
        ],
        env={**os.environ, "HULEEDU_TOKEN_FILE": str(tmp_path / "t")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "make up" in result.stderr
