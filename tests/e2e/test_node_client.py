"""The public gRPC API from another language: clients/node/e2e.mjs (Node.js, @grpc/grpc-js and
@grpc/proto-loader, versions locked in clients/node/package-lock.json) walks the stack straight
from proto/: health on all five, reflection v1, RegisterBatch, UploadFiles, WatchBatch, GetBatch,
GetContent, and one bad request whose structured details (AIP-193) it decodes and checks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from google import rpc

from tests.e2e.conftest import E2EStack
from tests.support import REPO_ROOT

CLIENT = REPO_ROOT / "clients" / "node"
# .ci/run sets it: where the suite must prove the Node client, a missing Node fails instead of
# skipping.
REQUIRED = os.environ.get("HULEEDU_REQUIRE_NODE") == "1"


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        if REQUIRED:
            pytest.fail(
                f"{name} is not installed (HULEEDU_REQUIRE_NODE=1): apt-get install nodejs npm"
            )
        pytest.skip(f"{name} is not installed: the Node client test needs Node.js and npm")
    return found


@pytest.fixture(scope="module")
def node_client() -> str:
    """`npm ci` from the lock file (once per session), then the node binary."""
    node, npm = _tool("node"), _tool("npm")
    installed = CLIENT / "node_modules" / ".package-lock.json"
    lock = CLIENT / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=CLIENT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    return node


def test_the_node_client_walks_the_api_and_reads_structured_errors(
    stack: E2EStack, node_client: str
) -> None:
    google_protos = Path(
        rpc.__path__[0]
    ).parent.parent  # googleapis-common-protos' google/rpc/*.proto
    done = subprocess.run(
        [node_client, "e2e.mjs"],
        cwd=CLIENT,
        env={
            **os.environ,
            **stack.env,
            "PROTO_DIR": str(REPO_ROOT / "proto"),
            "GOOGLE_PROTO_DIR": str(google_protos),
            "ESSAYS_DIR": str(REPO_ROOT / "examples" / "essays"),
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(seen["serving"].values()) == {"SERVING"} and len(seen["serving"]) == 5
    assert "huleedu.batch.v1.BatchOrchestratorService" in seen["listed"]
    assert seen["statuses"][-1] == "BATCH_STATUS_COMPLETED"
    assert seen["corrected_bytes"] > 0
    assert seen["bad_request"] == {
        "code": 3,
        "reason": "INVALID_REQUEST",
        "fields": ["course_code", "expected_essay_count"],
    }
