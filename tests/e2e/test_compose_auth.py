"""docker compose with authentication on (`make test-compose`): every public service refuses a
call without a bearer token (UNAUTHENTICATED), the one command docs/compose.md gives prints a
token that takes the sample class through, another school's token does not see that batch, and
the one-shot `auth-init` service keeps the keys it created when it runs again."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import grpc
import pytest

from huleedu.batch.v1 import batch_service_pb2, batch_service_pb2_grpc
from huleedu.content.v1 import content_service_pb2, content_service_pb2_grpc
from huleedu.essay.v1 import essay_service_pb2, essay_service_pb2_grpc
from huleedu.file.v1 import file_service_pb2, file_service_pb2_grpc
from tests.e2e.conftest import SAMPLE_CLASS, E2EStack, huleedu
from tests.e2e.test_compose import compose
from tests.support import REPO_ROOT

pytestmark = pytest.mark.compose

# What a call without a token gets, from each public service: the interceptor answers before
# the request is looked at.
UNAUTHENTICATED_CALLS: dict[str, tuple[Any, str, Any]] = {
    "BATCH_ORCHESTRATOR_ADDR": (
        batch_service_pb2_grpc.BatchOrchestratorServiceStub,
        "ListBatches",
        batch_service_pb2.ListBatchesRequest(),
    ),
    "FILE_SERVICE_ADDR": (
        file_service_pb2_grpc.FileServiceStub,
        "UploadFile",
        file_service_pb2.UploadFileRequest(batch_id=str(uuid.uuid4()), file_name="a.txt"),
    ),
    "CONTENT_SERVICE_ADDR": (
        content_service_pb2_grpc.ContentServiceStub,
        "GetContent",
        content_service_pb2.GetContentRequest(storage_id="0" * 64),
    ),
    "ESSAY_LIFECYCLE_ADDR": (
        essay_service_pb2_grpc.EssayLifecycleServiceStub,
        "GetEssay",
        essay_service_pb2.GetEssayRequest(essay_id=str(uuid.uuid4())),
    ),
}
# The keys `auth-init` created, as the services see them (read-only, in the `cli` container).
KEY_FILES = ("/auth/issuer.pem", "/auth/services.pem", "/auth/jwks.json")
HASH_KEYS = (
    "import hashlib, sys; "
    "print(*(hashlib.sha256(open(p, 'rb').read()).hexdigest() for p in sys.argv[1:]))"
)


VENV_BIN = Path(sys.executable).parent
# docs/compose.md's "Tokens" block: a token in one command, the CLI and grpcurl with it
# (tests/integration/devstack/test_compose_file.py checks that the docs show it so).
DOCS_TOKENS = """\
export HULEEDU_TOKEN=$(docker compose run --rm -T cli huleedu login --tenant demo --print)
.venv/bin/huleedu submit examples/essays
grpcurl -plaintext -H "authorization: Bearer $HULEEDU_TOKEN" -d '{"page_size": 10}' \\
  127.0.0.1:50053 huleedu.batch.v1.BatchOrchestratorService/ListBatches
"""


@pytest.fixture(autouse=True)
def _compose_stack(stack: E2EStack) -> None:
    if not stack.external:
        pytest.skip("runs against the docker compose stack (make test-compose)")


def compose_token(tenant: str) -> str:
    """The token docs/compose.md's one command prints for a teacher of `tenant`."""
    token = compose("run", "--rm", "-T", "cli", "huleedu", "login", "--tenant", tenant, "--print")
    return token.strip()


def key_hashes() -> list[str]:
    return compose("run", "--rm", "-T", "cli", "python", "-c", HASH_KEYS, *KEY_FILES).split()


def as_token(stack: E2EStack, token: str) -> E2EStack:
    return E2EStack({**stack.env, "HULEEDU_TOKEN": token}, stack.run_dir)


@pytest.mark.parametrize("variable", sorted(UNAUTHENTICATED_CALLS))
def test_a_call_without_a_token_is_refused_unauthenticated(stack: E2EStack, variable: str) -> None:
    stub_class, method, request = UNAUTHENTICATED_CALLS[variable]
    with (
        grpc.insecure_channel(stack.addr(variable)) as channel,
        pytest.raises(grpc.RpcError) as refused,
    ):
        getattr(stub_class(channel), method)(request, timeout=30)

    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "bearer token" in (refused.value.details() or "")


@pytest.mark.skipif(not (VENV_BIN / "grpcurl").exists(), reason="grpcurl is not installed")
def test_the_docs_token_commands_work_as_written() -> None:
    """Run from the repository root as the docs say; only `.venv/bin/` is where this
    virtualenv is, and HULEEDU_TOKEN starts unset."""
    script = DOCS_TOKENS.replace(".venv/bin/", f"{VENV_BIN}/")
    env = {key: value for key, value in os.environ.items() if key != "HULEEDU_TOKEN"}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
        env={**env, "PATH": f"{VENV_BIN}{os.pathsep}{env['PATH']}"},
        check=False,
    )

    assert done.returncode == 0, done.stderr
    submitted = re.search(r"batch ([0-9a-f-]{36})", done.stderr + done.stdout)
    assert submitted is not None, done.stdout
    # ListBatches, newest first, with the token: the batch just submitted, in the tenant demo.
    assert f'"batch_id": "{submitted.group(1)}"' in done.stdout
    assert '"tenant_id": "demo"' in done.stdout


def test_the_sample_class_goes_through_with_the_token_compose_prints(stack: E2EStack) -> None:
    tenant = f"school-{uuid.uuid4().hex[:8]}"
    teacher = as_token(stack, compose_token(tenant))

    submitted = huleedu(teacher, "submit", "--json", str(SAMPLE_CLASS))

    assert submitted.returncode == 0, submitted.stderr
    result = json.loads(submitted.stdout)
    assert result["status"] == "COMPLETED_WITH_FAILURES"  # the sample class's one broken file
    checked = [e for e in result["essays"] if e["status"] == "SPELLCHECKED_SUCCESS"]
    assert len(checked) == len(result["essays"]) - len(result["failures"]) > 0
    status = huleedu(teacher, "status", "--json", result["batch_id"])
    assert status.returncode == 0 and json.loads(status.stdout)["tenant_id"] == tenant
    other = as_token(stack, compose_token(f"other-{uuid.uuid4().hex[:8]}"))
    hidden = huleedu(other, "status", result["batch_id"])
    assert hidden.returncode == 1 and "NOT_FOUND" in hidden.stderr, hidden.stderr
    anonymous = as_token(stack, "")
    refused = huleedu(anonymous, "status", result["batch_id"])
    assert refused.returncode == 1 and "UNAUTHENTICATED" in refused.stderr


def test_auth_init_run_again_keeps_the_keys_and_the_tokens_they_signed(stack: E2EStack) -> None:
    tenant = f"school-{uuid.uuid4().hex[:8]}"
    teacher = as_token(stack, compose_token(tenant))
    before = key_hashes()

    again = compose("run", "--rm", "-T", "auth-init")
    compose("up", "--detach", "--wait")

    assert "kept the keys" in again
    assert key_hashes() == before and len(before) == len(KEY_FILES)
    assert len(set(before)) == len(KEY_FILES)
    listed = huleedu(teacher, "batches", "--json")
    assert listed.returncode == 0, listed.stderr
    jwks = json.loads(compose("run", "--rm", "-T", "cli", "cat", "/auth/jwks.json"))
    assert {key["kid"] for key in jwks["keys"]} == {"huleedu-dev", "huleedu-services"}
