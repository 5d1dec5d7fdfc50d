"""What the File Service erases: of a batch (BatchErasureRequested) its registration, its upload
records and its admitted files; of erased essays (EssayUploadsErased) their upload records, and
their files stop counting as admitted. The messages that held them are erased by sequence, their
bytes overwritten (services.mesh.message_erasure: a purge would leave them in the store's files).
The contents themselves are erased by ELS through the Content Service."""

from __future__ import annotations

from collections.abc import Sequence

from nats.js import JetStreamContext
from nats.js.errors import KeyDeletedError, KeyNotFoundError
from nats.js.kv import KeyValue

from services.file_service.adapters.batch_registry import BATCHES_BUCKET
from services.file_service.adapters.file_admissions import BATCH_FILES_BUCKET, KvFileAdmissions
from services.file_service.adapters.kv_keys import batch_key
from services.file_service.adapters.upload_ledger import UPLOADS_BUCKET, decode_record, record_key
from services.mesh.message_erasure import erase_message, erase_subject


async def forget_batch(js: JetStreamContext, batch_id: str) -> None:
    """Erase every message of the batch's keys in the File Service's three buckets
    (idempotent)."""
    key = batch_key(batch_id)
    for bucket, keys in (
        (BATCHES_BUCKET, key),
        (UPLOADS_BUCKET, f"{key}.>"),
        (BATCH_FILES_BUCKET, key),
    ):
        await erase_subject(js, f"KV_{bucket}", f"$KV.{bucket}.{keys}")


class UploadEraser:
    """Forgets the uploads of erased essays: each one's record, and its admission."""

    def __init__(self, js: JetStreamContext, uploads: KeyValue, admissions: KvFileAdmissions):
        self._js = js
        self._uploads = uploads
        self._admissions = admissions

    async def forget(self, batch_id: str, uploads: Sequence[tuple[str, str]]) -> int:
        """Erase the records of these uploads (SHA-256, upload id) of the batch, then their
        admissions. A record of the same file uploaded again since (another upload id) is kept,
        so a redelivered erasure changes nothing. Returns how many records were erased."""
        erased = 0
        for content_sha256, file_upload_id in uploads:
            try:
                entry = await self._uploads.get(record_key(batch_id, content_sha256))
            except (KeyNotFoundError, KeyDeletedError):
                continue
            revision = entry.revision
            if revision is None or (
                entry.value and decode_record(entry.value).file_upload_id != file_upload_id
            ):
                continue
            await erase_message(self._js, f"KV_{UPLOADS_BUCKET}", revision)
            erased += 1
        await self._admissions.forget(batch_id, uploads)
        return erased
