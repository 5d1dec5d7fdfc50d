"""What the File Service erases of a batch (BatchErasureRequested): its registration, its upload
records and its admitted files, every revision (a purge by subject). The contents themselves are
erased by ELS through the Content Service."""

from __future__ import annotations

from nats.js import JetStreamContext

from services.file_service.adapters.batch_registry import BATCHES_BUCKET
from services.file_service.adapters.file_admissions import BATCH_FILES_BUCKET
from services.file_service.adapters.kv_keys import batch_key
from services.file_service.adapters.upload_ledger import UPLOADS_BUCKET


async def forget_batch(js: JetStreamContext, batch_id: str) -> None:
    """Purge the batch's keys from the File Service's three buckets (idempotent)."""
    key = batch_key(batch_id)
    for bucket, keys in (
        (BATCHES_BUCKET, key),
        (UPLOADS_BUCKET, f"{key}.>"),
        (BATCH_FILES_BUCKET, key),
    ):
        await js.purge_stream(f"KV_{bucket}", subject=f"$KV.{bucket}.{keys}")
