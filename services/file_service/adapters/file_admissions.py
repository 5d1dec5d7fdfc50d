"""The different files each batch has taken: KV bucket `file_service_batch_files`, one list of
SHA-256s per batch (a protobuf ListValue), grown by compare-and-set so that concurrent uploads on
any number of instances never admit more than the limit."""

from __future__ import annotations

from google.protobuf import struct_pb2
from nats.js.kv import KeyValue

from services.file_service.adapters.kv_keys import batch_key
from services.mesh.kv import update_document

BATCH_FILES_BUCKET = "file_service_batch_files"


class KvFileAdmissions:
    """Admits a batch's files up to its limit; a file admitted once stays admitted."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def admit(self, batch_id: str, content_sha256: str, limit: int) -> bool:
        """Count the file among the batch's files unless `limit` are counted already."""
        admitted = False

        def add(doc: struct_pb2.ListValue | None) -> struct_pb2.ListValue | None:
            nonlocal admitted
            files = doc if doc is not None else struct_pb2.ListValue()
            if any(value.string_value == content_sha256 for value in files.values):
                admitted = True
                return None
            if len(files.values) >= limit:
                admitted = False
                return None
            files.values.add(string_value=content_sha256)
            admitted = True
            return files

        await update_document(self._kv, batch_key(batch_id), struct_pb2.ListValue, add)
        return admitted
