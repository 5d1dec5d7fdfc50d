"""A stack that is not running: one line saying what to start, exit code 3, no traceback, and at
once: the retry horizon is for outages of a service the command has reached. (Only closed ports
on 127.0.0.1 are dialled.)"""

from __future__ import annotations

import pytest

from devstack.nats_server import free_port
from services.cli.app import run
from services.cli.endpoints import resolve_endpoints
from services.cli.errors import EXIT_UNREACHABLE, EXIT_USAGE, CliError
from tests.support import REPO_ROOT

BATCH_ID = "0b8e7c1e-4f6a-4d3b-9a52-3c2f1d0e9b8a"


def test_a_service_that_is_down_is_named_with_what_to_start(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("BATCH_ORCHESTRATOR_ADDR", closed)
    assert run(["status", BATCH_ID]) == EXIT_UNREACHABLE
    assert capsys.readouterr().err == (
        f"huleedu: cannot reach Batch Orchestrator at {closed}: start the stack with `make up` "
        "(or set BATCH_ORCHESTRATOR_ADDR)\n"
    )


def test_a_flag_overrides_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ESSAY_LIFECYCLE_ADDR", "127.0.0.1:1")
    closed = f"127.0.0.1:{free_port()}"
    assert run(["essays", BATCH_ID, "--essay-lifecycle-addr", closed]) == EXIT_UNREACHABLE
    assert f"cannot reach Essay Lifecycle Service at {closed}" in capsys.readouterr().err


def test_nats_that_is_down_is_named_with_what_to_start(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    assert run(["events", "--nats-url", url]) == EXIT_UNREACHABLE
    assert capsys.readouterr().err == (
        f"huleedu: cannot reach NATS at {url}: start the stack with `make up` (or set NATS_URL)\n"
    )


def test_submit_to_a_stack_that_is_down_says_so_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCH_ORCHESTRATOR_ADDR", f"127.0.0.1:{free_port()}")
    assert run(["submit", str(REPO_ROOT / "examples" / "essays"), "--quiet"]) == EXIT_UNREACHABLE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "resume with `huleedu submit --request-id " in err


def test_a_malformed_address_variable_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FILE_SERVICE_ADDR", "no-port")
    with pytest.raises(CliError) as error:
        resolve_endpoints(type("Args", (), {})())
    assert error.value.exit_code == EXIT_USAGE
    assert "FILE_SERVICE_ADDR" in error.value.message
