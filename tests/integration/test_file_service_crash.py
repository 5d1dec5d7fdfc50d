"""SIGKILL the File Service process in the middle of a batch upload, restart it, re-upload what
got no receipt: every file ends up with exactly one event."""

from __future__ import annotations

import asyncio
import collections
import hashlib
import signal
from pathlib import Path

import grpc
from nats.aio.client import Client
from nats.js import JetStreamContext

from devstack.nats_server import free_port
from huleedu.file.v1 import file_service_pb2
from services.content_service.bootstrap import ContentService
from services.mesh.settings import NatsSettings
from tests.integration.test_file_service_support import (
    file_stub,
    outcome_events,
    register_batch,
    service_subprocess,
    wait_serving,
)
from tests.support import wait_until
from tests.unit.file_service.catalogue import essay

FILES = 60
SERVICE = "huleedu.file.v1.FileService"


def _processes_with(marker: str) -> list[int]:
    """Pids of live processes whose environment contains `marker`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker.encode() in (proc / "environ").read_bytes():
                state = (proc / "stat").read_text().split()[2]
                if state != "Z":
                    found.append(int(proc.name))
        except OSError:
            continue
    return found


async def test_sigkill_mid_batch_then_reupload(
    nats_settings: NatsSettings,
    nats_js: tuple[Client, JetStreamContext],
    content: ContentService,
    tmp_path: Path,
) -> None:
    _, js = nats_js
    port = free_port()
    marker = f"FILE_SERVICE_ADDR=127.0.0.1:{port}"
    env = {
        "NATS_URL": nats_settings.url,
        "CONTENT_SERVICE_ADDR": f"127.0.0.1:{content.port}",
        "FILE_SERVICE_ADDR": f"127.0.0.1:{port}",
        "FILE_EXTRACTION_WORKERS": "2",
        "LOG_LEVEL": "WARNING",
        "METRICS_ENABLED": "false",
    }
    batch_id, _ = await register_batch(js, expected=FILES)
    uploads = {f"student-{n:02d}.txt": essay(400 + n) for n in range(FILES)}

    first = service_subprocess("services.file_service", env, tmp_path / "first.log")
    try:
        await wait_serving(port, SERVICE)
        async with file_stub(port) as stub:
            # A few at a time, as a teacher's client sends them: the service stores uploads that
            # arrive together together, so 60 sent at once could all be answered before a kill.
            in_flight = asyncio.Semaphore(4)
            receipt = asyncio.Event()

            async def upload(name: str, data: bytes) -> file_service_pb2.UploadFileResponse:
                request = file_service_pb2.UploadFileRequest(
                    batch_id=batch_id, file_name=name, content=data
                )
                async with in_flight:
                    response = await stub.UploadFile(request, timeout=60)
                receipt.set()
                return response

            calls = {
                name: asyncio.create_task(upload(name, data)) for name, data in uploads.items()
            }
            await asyncio.wait_for(receipt.wait(), timeout=30)  # a first receipt
            first.send_signal(signal.SIGKILL)
            results = await asyncio.gather(*calls.values(), return_exceptions=True)
    finally:
        first.kill()
        first.wait(timeout=10)

    answered = {
        name
        for name, result in zip(calls, results, strict=True)
        if isinstance(result, file_service_pb2.UploadFileResponse)
    }
    failures = [result for result in results if isinstance(result, BaseException)]
    assert answered and failures, "the kill must land mid-batch"
    assert all(isinstance(failure, grpc.aio.AioRpcError) for failure in failures)
    # its extraction workers and fork server do not outlive it
    await wait_until(lambda: not _processes_with(marker), timeout_s=15, message="orphans gone")

    second = service_subprocess("services.file_service", env, tmp_path / "second.log")
    try:
        await wait_serving(port, SERVICE)
        async with file_stub(port) as stub:
            retried = await asyncio.gather(
                *(
                    stub.UploadFile(
                        file_service_pb2.UploadFileRequest(
                            batch_id=batch_id, file_name=name, content=uploads[name]
                        ),
                        timeout=60,
                        # The calls that failed after the kill left the connection to this
                        # port backing off; wait for it instead of failing at once.
                        wait_for_ready=True,
                    )
                    for name in sorted(set(uploads) - answered)
                )
            )
    finally:
        second.terminate()
        second.wait(timeout=30)
    assert second.returncode == 0, "SIGTERM is a graceful stop"

    assert {response.receipt.status for response in retried} <= {
        file_service_pb2.UPLOAD_STATUS_ACCEPTED,
        file_service_pb2.UPLOAD_STATUS_DUPLICATE,
    }
    events = await outcome_events(js, batch_id)
    per_file = collections.Counter(event.content_sha256 for event in events)
    expected = {hashlib.sha256(data).hexdigest() for data in uploads.values()}
    assert set(per_file) == expected
    assert set(per_file.values()) == {1}
