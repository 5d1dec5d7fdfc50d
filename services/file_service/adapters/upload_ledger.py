"""One record per distinct file per batch: KV bucket `file_service_uploads`, key
`<batch key>.<sha256>`, value JSON. `create` is atomic, so of two concurrent uploads of the
same bytes exactly one writes the record."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from nats.aio.client import Client as NATS
from nats.js.errors import KeyDeletedError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from services.file_service.adapters.kv_keys import batch_key
from services.file_service.domain.errors import RejectionCode
from services.file_service.domain.uploads import UploadRecord
from services.mesh.atomic_batch import Outgoing, TurnBatcher, kv_entry, kv_key_of

UPLOADS_BUCKET = "file_service_uploads"
_FIELDS = tuple(field.name for field in dataclasses.fields(UploadRecord))


def record_key(batch_id: str, content_sha256: str) -> str:
    """The KV key of a file's record in a batch."""
    return f"{batch_key(batch_id)}.{content_sha256}"


def encode_record(record: UploadRecord) -> bytes:
    """The record as JSON bytes."""
    # Flat fields only, so no dataclasses.asdict (it deep-copies every value, field by field).
    values = {name: getattr(record, name) for name in _FIELDS}
    return json.dumps(values, ensure_ascii=False, sort_keys=True).encode()


def decode_record(data: bytes) -> UploadRecord:
    """The record stored as JSON bytes."""
    values: dict[str, Any] = {k: v for k, v in json.loads(data).items() if k in _FIELDS}
    rejection = values.get("rejection")
    values["rejection"] = RejectionCode(rejection) if rejection else None
    return UploadRecord(**values)


class KvUploadLedger:
    """The upload records in a KV bucket. Records created in the same turn of the event loop
    (the files of one content call come back together) are created by one atomic batch."""

    def __init__(self, kv: KeyValue, nc: NATS) -> None:
        self._kv = kv
        self._creates = TurnBatcher(nc, self._create_alone, lambda _where: True)

    async def get(self, batch_id: str, content_sha256: str) -> UploadRecord | None:
        """The record of this file in this batch, if any."""
        try:
            entry = await self._kv.get(record_key(batch_id, content_sha256))
        except (KeyNotFoundError, KeyDeletedError):
            return None
        return decode_record(entry.value) if entry.value else None

    async def create(self, record: UploadRecord) -> bool:
        """Store the record unless one exists; False when one already did."""
        key = record_key(record.batch_id, record.content_sha256)
        return await self._creates.store(
            kv_entry(UPLOADS_BUCKET, key, encode_record(record), create=True)
        )

    async def _create_alone(self, record: Outgoing) -> bool:
        try:
            await self._kv.create(kv_key_of(UPLOADS_BUCKET, record), record.payload)
        except KeyWrongLastSequenceError:
            return False
        return True
