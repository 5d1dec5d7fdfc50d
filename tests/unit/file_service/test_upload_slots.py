"""UploadFiles' slots (FileServicer): small files are ingested many at once, a file takes one slot
per started MiB, so large files take turns; receipts keep the order the files came in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

from huleedu.file.v1 import file_service_pb2
from services.file_service.domain.uploads import Receipt, UploadStatus
from services.file_service.entrypoints.grpc_servicer import FileServicer
from services.mesh.auth import LOCAL_CALLER, acting_as

MIB = 1024 * 1024


class CountingIngestor:
    """Records how many files are being ingested at once; each takes a few loop turns."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0

    async def ingest(
        self, batch_id: str, file_name: str, content: bytes, *, tenant_id: str
    ) -> Receipt:
        self.now += 1
        self.most = max(self.most, self.now)
        for _ in range(5):
            await asyncio.sleep(0)
        self.now -= 1
        return Receipt(file_name, file_name, UploadStatus.ACCEPTED, "sha", "md5")


class RecordingAudit:
    """The servicer's audit hook, keeping what it was asked to record."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[tuple[str, Receipt]]]] = []

    async def record(self, context: Any, rpc: str, uploads: list[tuple[str, Receipt]]) -> None:
        self.calls.append((rpc, list(uploads)))


async def _requests(sizes: list[int]) -> AsyncIterator[file_service_pb2.UploadFilesRequest]:
    for index, size in enumerate(sizes):
        yield file_service_pb2.UploadFilesRequest(
            batch_id="b", file_name=f"f{index}", content=b"x" * size
        )


async def _upload(
    sizes: list[int], concurrency: int, audit: RecordingAudit | None = None
) -> tuple[list[str], int]:
    ingestor = CountingIngestor()
    hook = audit or RecordingAudit()
    servicer = FileServicer(cast(Any, ingestor), cast(Any, hook), upload_concurrency=concurrency)
    with acting_as(LOCAL_CALLER):
        reply = await servicer.UploadFiles(_requests(sizes), cast(Any, None))
    return [receipt.file_name for receipt in reply.receipts], ingestor.most


async def test_small_files_are_ingested_as_many_at_once_as_there_are_slots() -> None:
    names, most = await _upload([3000] * 40, concurrency=32)
    assert names == [f"f{index}" for index in range(40)]
    assert most == 32


async def test_a_file_takes_a_slot_per_started_mib() -> None:
    _, most = await _upload([2 * MIB + 1] * 6, concurrency=8)  # 3 slots each: two at once
    assert most == 2


async def test_a_file_larger_than_every_slot_still_goes_alone() -> None:
    names, most = await _upload([9 * MIB, 100, 9 * MIB], concurrency=4)
    assert names == ["f0", "f1", "f2"]
    assert most == 1


async def test_the_files_of_a_call_go_on_record_once_before_the_answer() -> None:
    audit = RecordingAudit()
    names, _ = await _upload([100] * 5, concurrency=4, audit=audit)
    assert len(audit.calls) == 1
    rpc, uploads = audit.calls[0]
    assert rpc == "UploadFiles"
    assert [(batch, receipt.file_name) for batch, receipt in uploads] == [("b", n) for n in names]
