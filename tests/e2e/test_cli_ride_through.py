"""`huleedu submit` of a class while nats-server is SIGKILLed and restarted twice (down 3 s each):
meanwhile the services hold calls or refuse them (UNAVAILABLE, or no answer in time), the CLI asks
again what was refused (saying so once per outage), and the command ends as if nothing had
happened: exit 0, every essay spell-checked."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from devstack.chaos import ChaosStack
from examples.sample_class import ESSAYS
from tests.e2e.chaos_rig import CHAOS_ENV
from tests.e2e.conftest import SAMPLE_CLASS, huleedu_argv
from tests.support import REPO_ROOT, wait_until

DOWN_S = 3.0


def copy_class(folder: Path) -> Path:
    """The sample class without its broken file, so that every essay can succeed."""
    folder.mkdir()
    for essay in ESSAYS:
        shutil.copy(SAMPLE_CLASS / essay.file_name, folder / essay.file_name)
    return folder


async def collect_lines(stream: asyncio.StreamReader, lines: list[str]) -> None:
    async for raw in stream:
        lines.append(raw.decode().rstrip("\n"))


async def nats_outage(stack: ChaosStack, cli: asyncio.subprocess.Process) -> None:
    """SIGKILL nats-server while the CLI runs, and start it again after DOWN_S."""
    assert cli.returncode is None, "the CLI finished before the fault"
    await asyncio.to_thread(stack.kill_nats)
    await asyncio.sleep(DOWN_S)  # the fault itself
    await asyncio.to_thread(stack.start_nats)


def a_line_after(
    lines: list[str], seen: int, cli: asyncio.subprocess.Process
) -> Callable[[], bool]:
    return lambda: len(lines) > seen or cli.returncode is not None


@pytest.mark.timeout(180)
async def test_submit_rides_through_two_nats_restarts(tmp_path: Path) -> None:
    folder = copy_class(tmp_path / "class")
    stack = ChaosStack(tmp_path / "stack", env=CHAOS_ENV)
    await asyncio.to_thread(stack.start)
    try:
        started = time.monotonic()
        cli = await asyncio.create_subprocess_exec(
            *huleedu_argv(),
            "submit",
            "--json",
            str(folder),
            env={**os.environ, **stack.client_env()},
            cwd=REPO_ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert cli.stdout is not None and cli.stderr is not None
        stderr: list[str] = []
        reading = asyncio.create_task(collect_lines(cli.stderr, stderr))
        stdout = asyncio.create_task(cli.stdout.read())
        await wait_until(
            lambda: any("uploading" in line for line in stderr) or cli.returncode is not None,
            timeout_s=30,
            message="the CLI to register the batch",
        )
        await nats_outage(stack, cli)  # while it uploads
        # The second outage once the CLI shows it is moving again.
        await wait_until(a_line_after(stderr, len(stderr), cli), timeout_s=60, message="progress")
        await nats_outage(stack, cli)
        await asyncio.wait_for(cli.wait(), timeout=120)
        await reading
        output = await stdout
    finally:
        await asyncio.to_thread(stack.stop)
    print(f"huleedu submit took {time.monotonic() - started:.1f} s; stderr:", *stderr, sep="\n")
    assert cli.returncode == 0, "\n".join(stderr)
    assert not any("Traceback" in line for line in stderr)
    document = json.loads(output)
    assert document["status"] == "COMPLETED"
    assert sorted(e["file_name"] for e in document["essays"]) == sorted(e.file_name for e in ESSAYS)
    assert {e["status"] for e in document["essays"]} == {"SPELLCHECKED_SUCCESS"}
    # One line per outage of a service, not one per attempt.
    retrying = [line for line in stderr if "retrying for up to" in line]
    for title in ("Batch Orchestrator", "File Service", "Essay Lifecycle Service"):
        assert sum(title in line for line in retrying) <= 2, retrying
