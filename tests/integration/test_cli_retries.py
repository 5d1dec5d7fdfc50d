"""The CLI against services that are unavailable for a while: real grpc.aio servers on port 0
(BOS, the File Service and ELS, scripted to answer UNAVAILABLE first, as they do while their NATS
is away). The CLI asks again, says so in one line, and past the retry horizon names the command
that resumes."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shlex
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from huleedu.batch.v1 import batch_service_pb2 as bpb
from huleedu.batch.v1 import batch_service_pb2_grpc as bgrpc
from huleedu.common.v1 import common_pb2
from huleedu.essay.v1 import essay_service_pb2 as epb
from huleedu.essay.v1 import essay_service_pb2_grpc as egrpc
from huleedu.file.v1 import file_service_pb2 as fpb
from huleedu.file.v1 import file_service_pb2_grpc as fgrpc
from services.cli.app import run
from services.cli.endpoints import resolve_endpoints
from services.cli.errors import EXIT_OK, EXIT_UNREACHABLE
from services.cli.mesh_client import MeshClient
from services.cli.retry import HORIZON_VARIABLE, RetryHorizon
from services.mesh.grpc_server import start_grpc_server
from services.mesh.settings import DEFAULT_ADDRS

NAMESPACE = uuid.UUID("0f3c5a52-8a4e-4c1b-9a57-1d1f6f1b2c3d")
NATS_AWAY = "storage or event stream unavailable (nats: timeout)"
AWAITING = common_pb2.BATCH_STATUS_AWAITING_CONTENT
COMPLETED = common_pb2.BATCH_STATUS_COMPLETED


@dataclass
class Unavailable:
    """When a scripted service answers UNAVAILABLE: for its first `first_calls` calls, and for
    `seconds` after its first call."""

    first_calls: int = 0
    seconds: float = 0.0
    calls: int = 0
    _first_call_at: float | None = None

    def refuses(self) -> bool:
        """Count a call; True if it is to be refused."""
        self.calls += 1
        now = time.monotonic()
        if self._first_call_at is None:
            self._first_call_at = now
        return self.calls <= self.first_calls or now - self._first_call_at < self.seconds

    def heal(self) -> None:
        """Answer every call from now on."""
        self.first_calls, self.seconds = 0, 0.0


@dataclass
class ScriptedBatch:
    """A batch as the scripted services know it."""

    batch_id: str
    essay_ids: list[str]
    file_names: list[str] = field(default_factory=list)
    completed: asyncio.Event = field(default_factory=asyncio.Event)

    def message(self) -> bpb.Batch:
        done = self.completed.is_set()
        count = len(self.essay_ids)
        return bpb.Batch(
            batch_id=self.batch_id,
            status=COMPLETED if done else AWAITING,
            essay_ids=self.essay_ids,
            counts=bpb.BatchCounts(
                expected=count, assigned=count if done else 0, spellchecked=count if done else 0
            ),
        )

    def essays(self) -> list[epb.Essay]:
        return [
            epb.Essay(
                essay_id=essay_id,
                batch_id=self.batch_id,
                status=common_pb2.ESSAY_STATUS_SPELLCHECKED_SUCCESS,
                original_file_name=name,
                word_count=3,
            )
            for essay_id, name in zip(self.essay_ids, self.file_names, strict=False)
        ]


async def refuse(context: grpc.aio.ServicerContext[object, object], detail: str) -> None:
    await context.abort(grpc.StatusCode.UNAVAILABLE, detail)


class ScriptedMesh(
    bgrpc.BatchOrchestratorServiceServicer,
    fgrpc.FileServiceServicer,
    egrpc.EssayLifecycleServiceServicer,
):
    """BOS, the File Service and ELS in one: a batch is registered per request_id, completes
    when its files are uploaded, and each of its essays is then spell-checked."""

    def __init__(self) -> None:
        self.batches: dict[str, ScriptedBatch] = {}
        self.request_ids: list[str] = []
        self.upload_streams: list[list[str]] = []
        self.files_unavailable = Unavailable()
        self.essays_unavailable = Unavailable()
        self.watch_breaks = 0
        self.watch_opens = 0

    def complete(self, batch_id: str, file_names: list[str]) -> None:
        batch = self.batches[batch_id]
        batch.file_names = file_names
        batch.completed.set()

    async def RegisterBatch(
        self, request: bpb.RegisterBatchRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> bpb.RegisterBatchResponse:
        self.request_ids.append(request.request_id)
        batch_id = str(uuid.uuid5(NAMESPACE, request.request_id))
        essay_ids = [
            str(uuid.uuid5(NAMESPACE, f"{batch_id}/{n}"))
            for n in range(request.expected_essay_count)
        ]
        self.batches.setdefault(batch_id, ScriptedBatch(batch_id, essay_ids))
        return bpb.RegisterBatchResponse(batch_id=batch_id, essay_ids=essay_ids)

    async def GetBatch(
        self, request: bpb.GetBatchRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> bpb.GetBatchResponse:
        return bpb.GetBatchResponse(batch=self.batches[request.batch_id].message())

    async def WatchBatch(
        self, request: bpb.WatchBatchRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> AsyncIterator[bpb.WatchBatchResponse]:
        self.watch_opens += 1
        batch = self.batches[request.batch_id]
        yield bpb.WatchBatchResponse(batch=batch.message())
        if self.watch_breaks:
            self.watch_breaks -= 1
            await refuse(context, "watch lost: nats: connection closed")
        await batch.completed.wait()
        yield bpb.WatchBatchResponse(batch=batch.message())

    async def UploadFiles(
        self,
        request_iterator: AsyncIterator[fpb.UploadFilesRequest],
        context: grpc.aio.ServicerContext[object, object],
    ) -> fpb.UploadFilesResponse:
        requests = [request async for request in request_iterator]
        names = [request.file_name for request in requests]
        self.upload_streams.append(names)
        if self.files_unavailable.refuses():
            await refuse(
                context,
                f"file #1 ({names[0]!r}): {NATS_AWAY}; nothing about this file was "
                "acknowledged; retry the upload (duplicates are detected)",
            )
        self.complete(requests[0].batch_id, names)
        return fpb.UploadFilesResponse(
            receipts=[
                fpb.FileReceipt(file_name=name, status=fpb.UPLOAD_STATUS_ACCEPTED) for name in names
            ]
        )

    async def ListBatchEssays(
        self, request: epb.ListBatchEssaysRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> epb.ListBatchEssaysResponse:
        if self.essays_unavailable.refuses():
            await refuse(context, f"essay state unavailable: reading {request.batch_id}: timeout")
        return epb.ListBatchEssaysResponse(essays=self.batches[request.batch_id].essays())

    async def GetEssay(
        self, request: epb.GetEssayRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> epb.GetEssayResponse:
        if self.essays_unavailable.refuses():
            await refuse(context, f"essay state unavailable: reading {request.essay_id}: timeout")
        essays = [essay for batch in self.batches.values() for essay in batch.essays()]
        return epb.GetEssayResponse(essay=next(e for e in essays if e.essay_id == request.essay_id))


@pytest.fixture
async def mesh(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ScriptedMesh]:
    """The scripted services on one port 0 server; every *_ADDR points at it."""
    scripted = ScriptedMesh()

    def register(server: grpc.aio.Server) -> None:
        bgrpc.add_BatchOrchestratorServiceServicer_to_server(scripted, server)
        fgrpc.add_FileServiceServicer_to_server(scripted, server)
        egrpc.add_EssayLifecycleServiceServicer_to_server(scripted, server)

    server = await start_grpc_server("127.0.0.1:0", register, [])
    for variable in DEFAULT_ADDRS:
        monkeypatch.setenv(variable, f"127.0.0.1:{server.port}")
    monkeypatch.delenv(HORIZON_VARIABLE, raising=False)
    try:
        yield scripted
    finally:
        await server.stop(grace_s=0)


@pytest.fixture
def essays(tmp_path: Path) -> Path:
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("ada.txt", "bo.txt", "cy.txt"):
        (folder / name).write_text(f"An essay by {name}.")
    return folder


async def huleedu(*argv: str) -> int:
    """The CLI's own entry point, in a thread of its own (it runs its own event loop)."""
    return await asyncio.to_thread(run, list(argv))


def retrying(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "retrying for up to" in line]


async def test_submit_rides_through_a_file_service_outage_and_says_so_once(
    mesh: ScriptedMesh, essays: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # More refusals than gRPC's own retry policy makes attempts: the CLI's loop has to ask again.
    mesh.files_unavailable.first_calls = 12
    code = await huleedu("submit", str(essays), "--json")
    out, err = capsys.readouterr()
    assert code == EXIT_OK, err
    assert retrying(err) == [
        f"huleedu: File Service unavailable (UNAVAILABLE: file #1 ('ada.txt'): {NATS_AWAY}; "
        "nothing about this file was acknowledged; retry the upload (duplicates are detected)); "
        "retrying for up to 60 s"
    ]
    assert err.count("huleedu: File Service answers again") == 1
    assert "Traceback" not in err
    # Each attempt sent the whole stream again.
    assert mesh.upload_streams == [["ada.txt", "bo.txt", "cy.txt"]] * 13
    document = json.loads(out)
    assert {e["file_name"]: e["status"] for e in document["essays"]} == {
        "ada.txt": "SPELLCHECKED_SUCCESS",
        "bo.txt": "SPELLCHECKED_SUCCESS",
        "cy.txt": "SPELLCHECKED_SUCCESS",
    }


async def test_a_read_rides_through_two_seconds_of_outage(
    mesh: ScriptedMesh, essays: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await huleedu("submit", str(essays), "--quiet") == EXIT_OK
    (batch_id,) = mesh.batches
    capsys.readouterr()
    mesh.essays_unavailable.seconds = 2.0
    started = time.monotonic()
    code = await huleedu("essays", batch_id, "--json")
    out, err = capsys.readouterr()
    assert code == EXIT_OK, err
    assert time.monotonic() - started >= 2.0
    assert len(retrying(err)) == 1
    assert "Essay Lifecycle Service unavailable (UNAVAILABLE: essay state unavailable" in err
    assert sorted(e["original_file_name"] for e in json.loads(out)) == [
        "ada.txt",
        "bo.txt",
        "cy.txt",
    ]


async def test_past_the_horizon_submit_names_the_command_that_resumes_it(
    mesh: ScriptedMesh, essays: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mesh.files_unavailable.first_calls = 1_000_000
    code = await huleedu("submit", str(essays), "--retry-horizon", "1")
    _, err = capsys.readouterr()
    assert code == EXIT_UNREACHABLE
    assert len(retrying(err)) == 1 and retrying(err)[0].endswith("; retrying for up to 1 s")
    final = err.splitlines()[-1]
    assert final.startswith("huleedu: File Service unavailable (UNAVAILABLE: file #1")
    assert "; gave up after retrying for 1 s; resume with `huleedu submit --request-id " in final
    resume = re.search(r"resume with `huleedu ([^`]+)`", final)
    assert resume is not None
    (request_id,) = mesh.request_ids
    assert shlex.split(resume[1]) == [
        "submit",
        "--request-id",
        request_id,
        str(essays),
        "--retry-horizon",
        "1",
    ]
    # Once the File Service is back, the command named resumes the same batch.
    mesh.files_unavailable.heal()
    assert await huleedu(*shlex.split(resume[1])) == EXIT_OK, capsys.readouterr().err
    assert mesh.request_ids == [request_id, request_id]
    assert len(mesh.batches) == 1


async def test_a_read_past_the_horizon_says_to_run_it_again(
    mesh: ScriptedMesh,
    essays: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert await huleedu("submit", str(essays), "--quiet") == EXIT_OK
    (batch_id,) = mesh.batches
    capsys.readouterr()
    mesh.essays_unavailable.first_calls = 1_000_000
    monkeypatch.setenv(HORIZON_VARIABLE, "1")
    assert await huleedu("essays", batch_id) == EXIT_UNREACHABLE
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and lines[0].endswith("; retrying for up to 1 s")
    assert lines[1].endswith(
        "; gave up after retrying for 1 s; run the same command again once it answers"
    )


async def test_a_watch_that_breaks_unavailable_is_opened_again(mesh: ScriptedMesh) -> None:
    lines: list[str] = []
    endpoints = resolve_endpoints(argparse.Namespace())
    async with MeshClient(endpoints, retries=RetryHorizon(60.0, lines.append)) as client:
        registered = await client.register_batch(
            bpb.RegisterBatchRequest(expected_essay_count=1, request_id=str(uuid.uuid4()))
        )
        mesh.watch_breaks = 1
        seen = []
        async for batch in client.watch_batch(registered.batch_id):
            seen.append(batch.status)
            if len(seen) == 2:
                mesh.complete(registered.batch_id, ["ada.txt"])
    assert seen == [AWAITING, AWAITING, COMPLETED]
    assert mesh.watch_opens == 2
    assert lines == [
        "Batch Orchestrator unavailable (UNAVAILABLE: watch lost: nats: connection closed); "
        "retrying for up to 60 s",
        "Batch Orchestrator answers again",
    ]
