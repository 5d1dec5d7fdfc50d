"""What the File Service erases: of a batch (BatchErasureRequested) its registration, its upload
records and its admitted files; of erased essays (EssayUploadsErased) their upload records, and
their files stop counting as admitted. The messages that held them are erased by sequence, their
bytes overwritten (services.mesh.message_erasure: a purge would leave them in the store's files).
The contents themselves are erased by ELS through the Content Service.

A bucket made by an earlier version refuses message deletes (nats-py's `deny_delete`, which no
update takes back): its messages are purged instead, with a warning, since their bytes stay in
the store's files until nats-server compacts them (docs/security.md says how to remake it)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence

from nats.js import JetStreamContext
from nats.js.errors import KeyDeletedError, KeyNotFoundError
from nats.js.kv import KeyValue

from services.file_service.adapters.batch_registry import BATCHES_BUCKET
from services.file_service.adapters.file_admissions import BATCH_FILES_BUCKET, KvFileAdmissions
from services.file_service.adapters.kv_keys import batch_key
from services.file_service.adapters.upload_ledger import UPLOADS_BUCKET, decode_record, record_key
from services.mesh.message_erasure import DeletesDenied, erase_message, erase_subject

log = logging.getLogger(__name__)


async def _erased(
    js: JetStreamContext, bucket: str, subject: str, erase: Awaitable[object]
) -> None:
    """Run `erase`; in a bucket that refuses message deletes, purge `subject` instead."""
    try:
        await erase
    except DeletesDenied:
        log.warning(
            "KV bucket %s refuses message deletes (made by an earlier version): purged instead; "
            "the bytes stay in the store's files until compacted. Remake the bucket to erase",
            bucket,
        )
        await js.purge_stream(f"KV_{bucket}", subject=subject)


async def forget_batch(js: JetStreamContext, batch_id: str) -> None:
    """Erase every message of the batch's keys in the File Service's three buckets
    (idempotent)."""
    key = batch_key(batch_id)
    for bucket, keys in (
        (BATCHES_BUCKET, key),
        (UPLOADS_BUCKET, f"{key}.>"),
        (BATCH_FILES_BUCKET, key),
    ):
        subject = f"$KV.{bucket}.{keys}"
        await _erased(js, bucket, subject, erase_subject(js, f"KV_{bucket}", subject))


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
            key = record_key(batch_id, content_sha256)
            try:
                entry = await self._uploads.get(key)
            except (KeyNotFoundError, KeyDeletedError):
                continue
            revision = entry.revision
            if revision is None or (
                entry.value and decode_record(entry.value).file_upload_id != file_upload_id
            ):
                continue
            await _erased(
                self._js,
                UPLOADS_BUCKET,
                f"$KV.{UPLOADS_BUCKET}.{key}",
                erase_message(self._js, f"KV_{UPLOADS_BUCKET}", revision),
            )
            erased += 1
        await self._admissions.forget(batch_id, uploads)
        return erased
