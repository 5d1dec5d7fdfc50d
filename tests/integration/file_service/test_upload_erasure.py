"""The File Service's erasure on a real nats-server: an erased essay's upload record is deleted
with erase (its file name gone from the bucket's store files, the neighbour's kept), a record of
the same file uploaded again since is kept, a redelivery changes nothing, a batch's erasure
leaves no record; and a bucket an earlier version made (nats-py's deny_delete) is purged instead,
with a warning."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from devstack.nats_server import NatsServer
from services.file_service.adapters.erasure import UploadEraser, forget_batch
from services.file_service.adapters.file_admissions import BATCH_FILES_BUCKET, KvFileAdmissions
from services.file_service.adapters.upload_ledger import UPLOADS_BUCKET, KvUploadLedger
from services.file_service.domain.uploads import Admission, UploadRecord, file_upload_id_for
from services.mesh.connection import connect_nats
from services.mesh.settings import NatsSettings
from services.mesh.streams import ensure_kv
from tests.conftest import settings_for
from tests.support import store_files_holding, unique

NatsJs = tuple[Client, JetStreamContext]
LIMIT = 10


def record(batch_id: str, text: str, file_name: str, generation: int = 0) -> UploadRecord:
    sha256 = hashlib.sha256(text.encode()).hexdigest()
    return UploadRecord(
        batch_id=batch_id,
        correlation_id=batch_id,
        file_upload_id=file_upload_id_for(batch_id, sha256, generation),
        event_id=unique("event"),
        file_name=file_name,
        content_sha256=sha256,
        content_md5="0" * 32,
        file_size_bytes=len(text),
        raw_storage_id=sha256,
        detected_format="txt",
        published=True,
    )


class Uploads:
    """The File Service's uploads and admissions buckets, and its eraser of uploads."""

    def __init__(self, nats: NatsJs, ledger: KvUploadLedger, admissions: KvFileAdmissions):
        self.client, self.js = nats
        self.ledger, self.admissions = ledger, admissions
        self.eraser: UploadEraser | None = None

    @classmethod
    async def on(cls, nats: NatsJs, settings: NatsSettings) -> Uploads:
        client, js = nats
        uploads_kv = await ensure_kv(js, UPLOADS_BUCKET, settings)
        admissions = KvFileAdmissions(await ensure_kv(js, BATCH_FILES_BUCKET, settings))
        made = cls(nats, KvUploadLedger(uploads_kv, client), admissions)
        made.eraser = UploadEraser(js, uploads_kv, admissions)
        return made

    async def add(self, upload: UploadRecord) -> None:
        admission, _ = await self.admissions.admit(upload.batch_id, upload.content_sha256, LIMIT)
        assert admission == Admission.NEW
        assert await self.ledger.create(upload)

    async def forget(self, upload: UploadRecord) -> int:
        assert self.eraser is not None
        ids = [(upload.content_sha256, upload.file_upload_id)]
        return await self.eraser.forget(upload.batch_id, ids)


def uploads_stream(store_dir: Path) -> list[Path]:
    return [path for path in store_dir.rglob(f"KV_{UPLOADS_BUCKET}") if path.is_dir()]


async def test_an_erased_upload_leaves_no_byte_and_its_neighbour_stays(
    nats_js: NatsJs, nats_settings: NatsSettings, nats_server: NatsServer
) -> None:
    uploads = await Uploads.on(nats_js, nats_settings)
    batch_id = unique("batch")
    doomed = record(batch_id, "the doomed essay", f"{unique('doomed')}.txt")
    kept = record(batch_id, "the kept essay", f"{unique('kept')}.txt")
    await uploads.add(doomed)
    await uploads.add(kept)
    store = uploads_stream(nats_server.store_dir)
    assert store_files_holding(store, doomed.file_name.encode())

    assert await uploads.forget(doomed) == 1
    assert await uploads.forget(doomed) == 0  # redelivered: nothing more to do

    assert await uploads.ledger.get(batch_id, doomed.content_sha256) is None
    assert store_files_holding(store, doomed.file_name.encode()) == []
    assert await uploads.ledger.get(batch_id, kept.content_sha256) == kept
    assert store_files_holding(store, kept.file_name.encode())

    # the same file uploaded again is a new upload; the old erasure delivered again keeps it
    admission, generation = await uploads.admissions.admit(batch_id, doomed.content_sha256, LIMIT)
    assert (admission, generation) == (Admission.NEW, 1)
    again = record(batch_id, "the doomed essay", doomed.file_name, generation)
    assert again.file_upload_id != doomed.file_upload_id
    assert await uploads.ledger.create(again)
    assert await uploads.forget(doomed) == 0
    assert await uploads.ledger.get(batch_id, doomed.content_sha256) == again

    await forget_batch(uploads.js, batch_id)
    await forget_batch(uploads.js, batch_id)  # redelivered
    for upload in (again, kept):
        assert await uploads.ledger.get(batch_id, upload.content_sha256) is None
        assert store_files_holding(store, upload.file_name.encode()) == []


async def test_a_bucket_made_by_an_earlier_version_is_purged_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = NatsServer(tmp_path)
    server.start()
    try:
        settings = settings_for(server.url)
        client, js = await connect_nats(settings, "earlier-version")
        try:
            await js.create_key_value(bucket=UPLOADS_BUCKET, history=1)  # with deny_delete
            uploads = await Uploads.on((client, js), settings)
            batch_id = unique("batch")
            doomed = record(batch_id, "an essay", "essay.txt")
            await uploads.add(doomed)

            with caplog.at_level(logging.WARNING):
                assert await uploads.forget(doomed) == 1
                await forget_batch(js, batch_id)

            assert await uploads.ledger.get(batch_id, doomed.content_sha256) is None
            warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
            assert warnings and all("refuses message deletes" in w for w in warnings)
        finally:
            await client.drain()
    finally:
        server.stop()
