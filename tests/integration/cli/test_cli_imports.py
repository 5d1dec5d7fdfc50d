"""`huleedu` starts cheap: the entry module, `--help` and a usage error load neither gRPC, NATS,
protobuf, asyncio nor OpenTelemetry (checked in a fresh interpreter each); and every command
the parser knows has a runner in the module app.py dispatches it to."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from services.cli import app, service_commands, stream_commands

# Runs `huleedu ARGV` (none: only imports the console script's module) in a fresh interpreter,
# then prints its exit code and which of the heavy packages it loaded.
PROBE = """
import contextlib, io, json, sys
HEAVY = ("grpc", "nats", "google.protobuf", "asyncio", "opentelemetry")
code = None
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    import services.cli.__main__
    if len(sys.argv) > 1:
        try:
            code = services.cli.__main__.run(sys.argv[1:])
        except SystemExit as exit:
            code = exit.code
heavy = sorted({name for name in sys.modules if name.startswith(HEAVY)})
print(json.dumps({"code": code, "heavy": heavy}))
"""


def probe(*argv: str) -> tuple[int | None, list[str]]:
    """The exit code of `huleedu ARGV` and the heavy modules it loaded."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return found["code"], found["heavy"]


def test_importing_the_entry_point_loads_no_grpc_or_nats() -> None:
    assert probe() == (None, [])


@pytest.mark.parametrize(
    ("argv", "exit_code"),
    [
        (["--help"], 0),
        (["submit", "--help"], 0),
        (["submit"], 2),
        (["status"], 2),
        (["events", "--last", "x"], 2),
    ],
    ids=["help", "submit-help", "submit-without-paths", "status-without-id", "not-a-number"],
)
def test_help_and_usage_errors_load_no_grpc_or_nats(argv: list[str], exit_code: int) -> None:
    assert probe(*argv) == (exit_code, [])


def test_every_command_has_a_runner_in_the_module_it_is_dispatched_to() -> None:
    parser = app.parser()
    (subparsers,) = [a for a in parser._actions if a.dest == "command"]
    names = set(subparsers.choices)  # type: ignore[arg-type]
    assert set(stream_commands.COMMANDS) == app.STREAM_COMMANDS
    assert set(service_commands.COMMANDS) == names - app.STREAM_COMMANDS - app.LOCAL_COMMANDS
    assert {"login"} == app.LOCAL_COMMANDS
