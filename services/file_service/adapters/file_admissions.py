"""The different files each batch has taken: KV bucket `file_service_batch_files`, one list of
SHA-256s per batch (a protobuf ListValue), grown by compare-and-set so that concurrent uploads on
any number of instances never admit more than the limit. The uploads of one batch that arrive
while its list is being written are admitted together by the next write (group commit).

The list only grows: a file of an erased essay (EssayUploadsErased) leaves a null in its place,
so each admission keeps its position, which its upload's ids derive from (a file admitted again
after its erasure is a new upload, with new ids), and the erased SHA-256 is gone from the list."""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf import struct_pb2
from nats.js.kv import KeyValue

from services.file_service.adapters.kv_keys import batch_key
from services.file_service.domain.uploads import Admission, file_upload_id_for
from services.mesh.kv import DocumentCache, GroupCommitter

BATCH_FILES_BUCKET = "file_service_batch_files"


class KvFileAdmissions:
    """Admits a batch's files up to its limit; a file admitted once stays admitted until its
    essay is erased."""

    def __init__(self, kv: KeyValue, cache: DocumentCache | None = None) -> None:
        self._committer = GroupCommitter(
            kv, struct_pb2.ListValue, cache if cache is not None else DocumentCache()
        )

    async def admit(self, batch_id: str, content_sha256: str, limit: int) -> tuple[Admission, int]:
        """Count the file among the batch's files unless `limit` are counted already (erased
        ones included); with the file's position in the batch's list (0 when refused)."""
        admission, position = Admission.REFUSED, 0

        def add(doc: struct_pb2.ListValue | None) -> struct_pb2.ListValue | None:
            # The last run decides: it is the one applied to the stored list.
            nonlocal admission, position
            files = doc if doc is not None else struct_pb2.ListValue()
            for index, value in enumerate(files.values):
                if value.string_value == content_sha256:
                    admission, position = Admission.KNOWN, index
                    return None
            if len(files.values) >= limit:
                admission, position = Admission.REFUSED, 0
                return None
            admission, position = Admission.NEW, len(files.values)
            files.values.add(string_value=content_sha256)
            return files

        await self._committer.update(batch_key(batch_id), add)
        return admission, position

    async def forget(self, batch_id: str, uploads: Iterable[tuple[str, str]]) -> None:
        """Null the admissions of these uploads (SHA-256, upload id): only the admission the
        upload id was derived from (or, for an upload of an earlier version, that has no
        position, the file's only one), so a file admitted again since is kept (idempotent)."""
        wanted = set(uploads)

        def drop(doc: struct_pb2.ListValue | None) -> struct_pb2.ListValue | None:
            if doc is None:
                return None
            changed = False
            for index, value in enumerate(doc.values):
                sha256 = value.string_value
                if not sha256:
                    continue
                ids = (file_upload_id_for(batch_id, sha256, at) for at in (index, None))
                if any((sha256, upload_id) in wanted for upload_id in ids):
                    value.null_value = struct_pb2.NULL_VALUE
                    changed = True
            return doc if changed else None

        await self._committer.update(batch_key(batch_id), drop)
