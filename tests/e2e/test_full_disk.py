"""A full disk is a fault the stack survives (issue 14): the local stack as `make up` starts it,
with its whole run directory (JetStream store and logs) on a 64 MiB file system.

Content fills JetStream until it refuses writes. It refuses them cleanly at its own limit
(max_file_store, half the disk), long before the disk is full, so no stream takes a critical
write error. The services that met the refusal answer NOT_SERVING and log the stream and the fix.
Deleting the filler content is all it takes: they answer SERVING again by themselves, and the
batch whose upload was refused, and the next one, complete."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from devstack.stack import NATS, SERVICES, StackAddresses
from huleedu.common.v1 import common_pb2
from huleedu.content.v1 import content_service_pb2, content_service_pb2_grpc
from huleedu.file.v1 import file_service_pb2, file_service_pb2_grpc
from services.mesh.connection import connect_nats
from services.mesh.grpc_channel import grpc_channel
from services.mesh.health_probe import check_health
from tests.conftest import settings_for
from tests.e2e.conftest import devstack, register_essays
from tests.harness.mesh_calls import MeshCalls
from tests.small_disk import MIB, small_disk
from tests.support import CORPUS, unique, wait_until

DISK_MIB = 64
FILLER_BYTES = 4 * MIB
ESSAYS = sorted((CORPUS / "essays").glob("e000*.txt"))
WAITING_BATCH = ESSAYS[:3]
NEXT_BATCH = ESSAYS[3:6]
# Who writes what when content is put and an essay uploaded, and what each says when refused.
REFUSED_STREAMS = {
    "content_service": "OBJ_content",
    "file_service": "KV_file_service_batch_files",
}


@dataclass(frozen=True)
class DiskStack:
    """The local stack running from a run directory on the small disk."""

    run_dir: Path
    addresses: StackAddresses

    def addr(self, service: str) -> str:
        """The gRPC address of a service, by its name (e.g. `content_service`)."""
        spec = next(spec for spec in SERVICES if spec.name == service)
        return self.addresses.services[spec.addr_variable]

    def log(self, name: str) -> str:
        """Everything a process has logged so far."""
        return (self.run_dir / "logs" / f"{name}.log").read_text(errors="replace")

    def jetstream(self) -> dict[str, object]:
        """nats-server's /jsz: its limit and what it stores."""
        url = f"http://127.0.0.1:{self.addresses.monitor_port}/jsz"
        with urllib.request.urlopen(url, timeout=5) as reply:
            document: dict[str, object] = json.load(reply)
        return document


def _devstack(run_dir: Path, *command: str) -> subprocess.CompletedProcess[str]:
    # The limit must come from the disk, not from a developer's setting.
    env = {k: v for k, v in os.environ.items() if k != "NATS_MAX_FILE_STORE"}
    return devstack(run_dir, *command, env=env)


@pytest.fixture
def disk_stack(tmp_path: Path) -> Iterator[DiskStack]:
    """`devstack up` with its run directory on a fresh 64 MiB file system; down afterwards."""
    with small_disk(tmp_path, DISK_MIB) as disk:
        run_dir = disk / "run"
        started = _devstack(run_dir, "--free-ports", "up")
        try:
            assert started.returncode == 0, f"devstack up failed:\n{started.stderr}"
            yield DiskStack(run_dir, StackAddresses.read(run_dir / "stack.env"))
        finally:
            stopped = _devstack(run_dir, "down")
            assert stopped.returncode == 0, stopped.stderr


@pytest.fixture
async def calls(disk_stack: DiskStack) -> AsyncIterator[MeshCalls]:
    """A client that retries what gets no answer, as a teacher's CLI does."""
    client = MeshCalls(
        bos=[disk_stack.addr("batch_orchestrator")],
        files=[disk_stack.addr("file_service")],
        els=[disk_stack.addr("essay_lifecycle")],
        give_up_after_s=60.0,
    )
    yield client
    await client.close()


async def fill_with_content(stack: DiskStack) -> tuple[list[str], str]:
    """PutContent of random bytes until the Content Service is refused; the ids stored and the
    refusal's message."""
    stored: list[str] = []
    async with grpc_channel(stack.addr("content_service")) as channel:
        content = content_service_pb2_grpc.ContentServiceStub(channel)
        for _ in range(DISK_MIB * MIB // FILLER_BYTES):
            request = content_service_pb2.PutContentRequest(
                content=os.urandom(FILLER_BYTES),
                kind=common_pb2.CONTENT_KIND_RAW_UPLOAD,
                media_type="application/octet-stream",
            )
            try:
                reply = await content.PutContent(request, timeout=30)
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.UNAVAILABLE, error
                return stored, error.details() or ""
            stored.append(reply.storage_id)
    raise AssertionError(
        f"{len(stored) * FILLER_BYTES / MIB:.0f} MiB stored on a {DISK_MIB} MiB disk"
    )


async def delete_content(stack: DiskStack, storage_ids: list[str]) -> None:
    """Delete objects from the Object Store, as an operator freeing space would: chunks first
    (the delete marker nats-py writes first is itself a write, refused while the store is
    full), then the object."""
    client, js = await connect_nats(settings_for(stack.addresses.nats_url), "full-disk-test")
    try:
        store = await js.object_store("content")
        for storage_id in storage_ids:
            info = await store.get_info(storage_id)
            await js.purge_stream("OBJ_content", subject=f"$O.content.C.{info.nuid}")
            await store.delete(storage_id)
    finally:
        await client.close()


async def upload_once(stack: DiskStack, batch_id: str, path: Path) -> grpc.StatusCode:
    """One UploadFile, not retried; its status code."""
    content = await asyncio.to_thread(path.read_bytes)
    async with grpc_channel(stack.addr("file_service")) as channel:
        files = file_service_pb2_grpc.FileServiceStub(channel)
        request = file_service_pb2.UploadFileRequest(
            batch_id=batch_id, file_name=path.name, content=content
        )
        try:
            await files.UploadFile(request, timeout=30)
        except grpc.aio.AioRpcError as error:
            return error.code()
    return grpc.StatusCode.OK


async def answers(stack: DiskStack, service: str, status: str) -> bool:
    """True when the service's gRPC health check answers `status` now."""
    return await asyncio.to_thread(check_health, stack.addr(service)) == status


async def test_a_full_store_refuses_cleanly_reports_not_serving_and_recovers_by_itself(
    disk_stack: DiskStack, calls: MeshCalls
) -> None:
    jsz = disk_stack.jetstream()
    limit = int(jsz["config"]["max_storage"])  # type: ignore[index]
    assert 0.4 * DISK_MIB * MIB < limit <= 0.5 * DISK_MIB * MIB, limit
    waiting = await register_essays(calls, WAITING_BATCH, unique("full-disk"))

    fillers, refusal = await fill_with_content(disk_stack)
    assert "insufficient resources" in refusal, refusal
    assert shutil.disk_usage(disk_stack.run_dir).free > DISK_MIB * MIB // 4
    assert await upload_once(disk_stack, waiting, WAITING_BATCH[0]) == grpc.StatusCode.UNAVAILABLE

    for service, stream in REFUSED_STREAMS.items():
        await wait_until(
            lambda service=service: answers(disk_stack, service, "NOT_SERVING"),
            timeout_s=10,
            message=f"{service} NOT_SERVING",
        )
        log = disk_stack.log(service)
        assert f"JetStream stores nothing in {stream}: insufficient resources" in log
        assert "Fix: delete data JetStream holds" in log and "NATS_MAX_FILE_STORE" in log

    await delete_content(disk_stack, fillers)

    async def all_serving() -> bool:
        states = await asyncio.gather(
            *(answers(disk_stack, spec.name, "SERVING") for spec in SERVICES)
        )
        return all(states)

    await wait_until(all_serving, timeout_s=20, message="every service SERVING again")
    await calls.upload_files(waiting, [(path.name, path.read_bytes()) for path in WAITING_BATCH])
    following = await register_essays(calls, NEXT_BATCH, unique("full-disk"))
    await calls.upload_files(following, [(path.name, path.read_bytes()) for path in NEXT_BATCH])
    done = await calls.wait_terminal([waiting, following], timeout_s=60)

    assert {batch.status for batch in done.values()} == {common_pb2.BATCH_STATUS_COMPLETED}
    nats_log = disk_stack.log(NATS)
    assert "critical write error" not in nats_log.lower()
    assert "no space left on device" not in nats_log
    for service in REFUSED_STREAMS:
        assert "JetStream stores writes again" in disk_stack.log(service)
