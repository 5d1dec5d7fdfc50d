"""The local stack with authentication on, as `make up` starts it (`devstack --auth up`): the
services verify bearer tokens, `up` logs the CLI in to the tenant demo, the sample class runs
through with that token, and another school's teacher (`huleedu login`) sees none of it."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

from tests.e2e.conftest import E2EStack, huleedu, huleedu_argv
from tests.support import REPO_ROOT

SAMPLE = REPO_ROOT / "examples" / "essays"


def _as(stack: E2EStack, **env: str) -> E2EStack:
    return E2EStack({**stack.env, **env}, stack.run_dir)


def submit_unique_essay(stack: E2EStack, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`huleedu submit --json` of a sample essay made unique, so no other batch holds its bytes
    (erasing the batch frees them)."""
    essay = tmp_path / "only-here.txt"
    essay.write_text(
        (SAMPLE / "amira_hassan_phones.txt").read_text(encoding="utf-8")
        + f"\nWritten once, for this test {uuid.uuid4()}.\n",
        encoding="utf-8",
    )
    submitted = huleedu(stack, "submit", "--json", str(essay))
    assert submitted.returncode == 0, submitted.stderr
    return submitted


def test_the_sample_class_runs_with_the_token_up_wrote_and_other_schools_see_nothing(
    authed_stack: E2EStack, tmp_path: Path
) -> None:
    stack = authed_stack
    assert stack.run_dir is not None
    result = huleedu(stack, "submit", "--json", str(SAMPLE))
    assert result.returncode == 0, result.stderr
    batch_id = json.loads(result.stdout)["batch_id"]
    status = huleedu(stack, "status", "--json", batch_id)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["tenant_id"] == "demo"

    other = _as(stack, HULEEDU_TOKEN_FILE=str(tmp_path / "other-token"))
    login = huleedu(
        other,
        "login",
        "--tenant",
        "other-school",
        "--issuer-key",
        str(stack.run_dir / "auth/issuer.pem"),
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
    authed_stack: E2EStack, tmp_path: Path
) -> None:
    stack = authed_stack
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


def test_huleedu_delete_erases_a_batch_only_for_its_school(
    authed_stack: E2EStack, tmp_path: Path
) -> None:
    stack = authed_stack
    assert stack.run_dir is not None
    submitted = submit_unique_essay(stack, tmp_path)  # bytes no other batch holds
    batch_id = json.loads(submitted.stdout)["batch_id"]

    other = _as(stack, HULEEDU_TOKEN_FILE=str(tmp_path / "other-token"))
    issuer = str(stack.run_dir / "auth/issuer.pem")
    assert (
        huleedu(other, "login", "--tenant", "other-school", "--issuer-key", issuer).returncode == 0
    )
    refused = huleedu(other, "delete", batch_id)
    assert refused.returncode == 1 and "NOT_FOUND" in refused.stderr

    corrected = json.loads(submitted.stdout)["essays"][0]["corrected_text_storage_id"]
    erased = huleedu(stack, "delete", batch_id)
    assert erased.returncode == 0, erased.stderr
    assert f"batch {batch_id}: erasure ordered" in erased.stdout
    gone = huleedu(stack, "status", batch_id)
    assert gone.returncode == 1 and "NOT_FOUND" in gone.stderr

    def text_erased() -> bool:
        read = huleedu(stack, "text", corrected)
        return read.returncode == 1 and "NOT_FOUND" in read.stderr

    # ELS asks the Content Service to erase it, each service as its own NATS user.
    deadline = time.monotonic() + 30
    while not text_erased():
        assert time.monotonic() < deadline, "the corrected text was not erased"
        time.sleep(0.2)
    nats_log = (stack.run_dir / "logs" / "nats-server.log").read_text()
    assert "Permissions Violation" not in nats_log


def test_huleedu_audit_reads_the_tokens_school(authed_stack: E2EStack, tmp_path: Path) -> None:
    stack = authed_stack
    batch_id = json.loads(submit_unique_essay(stack, tmp_path).stdout)["batch_id"]

    audit = huleedu(stack, "audit", "--json", batch_id)
    assert audit.returncode == 0, audit.stderr
    records = [json.loads(line) for line in audit.stdout.splitlines()]
    assert records and {record["tenant"] for record in records} == {"demo"}
    assert any(record["service"] == "file_service" for record in records), records

    elsewhere = huleedu(stack, "audit", "--tenant", "other-school", batch_id)
    assert elsewhere.returncode == 2
    assert "not the tenant of the CLI's token (demo)" in elsewhere.stderr
