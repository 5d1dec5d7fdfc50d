"""The different files each batch has taken: KV bucket `file_service_batch_files`, one list of
SHA-256s per batch (a protobuf ListValue), grown by compare-and-set so that concurrent uploads on
any number of instances never admit more than the limit. The uploads of one batch that arrive
while its list is being written are admitted together by the next write (group commit)."""

from __future__ import annotations

from google.protobuf import struct_pb2
from nats.js.kv import KeyValue

from services.file_service.adapters.kv_keys import batch_key
from services.file_service.domain.uploads import Admission
from services.mesh.kv import DocumentCache, GroupCommitter

BATCH_FILES_BUCKET = "file_service_batch_files"


class KvFileAdmissions:
    """Admits a batch's files up to its limit; a file admitted once stays admitted."""

    def __init__(self, kv: KeyValue, cache: DocumentCache | None = None) -> None:
        self._committer = GroupCommitter(
            kv, struct_pb2.ListValue, cache if cache is not None else DocumentCache()
        )

    async def admit(self, batch_id: str, content_sha256: str, limit: int) -> Admission:
        """Count the file among the batch's files unless `limit` are counted already."""
        admission = Admission.REFUSED

        def add(doc: struct_pb2.ListValue | None) -> struct_pb2.ListValue | None:
            # The last run decides: it is the one applied to the stored list.
            nonlocal admission
            files = doc if doc is not None else struct_pb2.ListValue()
            if any(value.string_value == content_sha256 for value in files.values):
                admission = Admission.KNOWN
                return None
            if len(files.values) >= limit:
                admission = Admission.REFUSED
                return None
            files.values.add(string_value=content_sha256)
            admission = Admission.NEW
            return files

        await self._committer.update(batch_key(batch_id), add)
        return admission
