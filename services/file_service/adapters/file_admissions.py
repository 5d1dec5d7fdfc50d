"""The different files each batch has taken: KV bucket `file_service_batch_files`, one list of
SHA-256s per batch (a protobuf ListValue), grown by compare-and-set so that concurrent uploads on
any number of instances never admit more than the limit. The uploads of one batch that arrive
while its list is being written are admitted together by the next write (group commit).

The file of an erased essay (EssayUploadsErased) is forgotten: a null takes its place, so the
erased SHA-256 is gone and the file counts against the limit still. A file admitted while n files
of the batch are forgotten is listed as `<sha256>/<n>`: its generation, which its upload's ids
derive from, so the same file admitted again after its erasure is a new upload."""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf import struct_pb2
from nats.js.kv import KeyValue

from services.file_service.adapters.kv_keys import batch_key
from services.file_service.domain.uploads import Admission, file_upload_id_for
from services.mesh.kv import DocumentCache, GroupCommitter

BATCH_FILES_BUCKET = "file_service_batch_files"


def _admitted(value: struct_pb2.Value) -> tuple[str, int] | None:
    """The SHA-256 and generation of a listed file; None for a forgotten one."""
    if not value.string_value:
        return None
    sha256, _, generation = value.string_value.partition("/")
    return sha256, int(generation or 0)


class KvFileAdmissions:
    """Admits a batch's files up to its limit; a file admitted once stays admitted until its
    essay is erased."""

    def __init__(self, kv: KeyValue, cache: DocumentCache | None = None) -> None:
        self._committer = GroupCommitter(
            kv, struct_pb2.ListValue, cache if cache is not None else DocumentCache()
        )

    async def admit(self, batch_id: str, content_sha256: str, limit: int) -> tuple[Admission, int]:
        """Count the file among the batch's files unless `limit` are counted already (forgotten
        ones too); with the file's generation (0 when refused)."""
        admission, generation = Admission.REFUSED, 0

        def add(doc: struct_pb2.ListValue | None) -> struct_pb2.ListValue | None:
            # The last run decides: it is the one applied to the stored list.
            nonlocal admission, generation
            files = doc if doc is not None else struct_pb2.ListValue()
            listed = [_admitted(value) for value in files.values]
            known = next((entry for entry in listed if entry and entry[0] == content_sha256), None)
            if known is not None:
                admission, generation = Admission.KNOWN, known[1]
                return None
            if len(files.values) >= limit:
                admission, generation = Admission.REFUSED, 0
                return None
            admission, generation = Admission.NEW, listed.count(None)
            suffix = f"/{generation}" if generation else ""
            files.values.add(string_value=content_sha256 + suffix)
            return files

        await self._committer.update(batch_key(batch_id), add)
        return admission, generation

    async def forget(self, batch_id: str, uploads: Iterable[tuple[str, str]]) -> None:
        """Forget the files of these uploads (SHA-256, upload id): only the admission the upload
        id derives from, so a file admitted again since stays (idempotent)."""
        wanted = set(uploads)

        def drop(doc: struct_pb2.ListValue | None) -> struct_pb2.ListValue | None:
            if doc is None:
                return None
            changed = False
            for value in doc.values:
                entry = _admitted(value)
                if entry is None:
                    continue
                sha256, generation = entry
                if (sha256, file_upload_id_for(batch_id, sha256, generation)) in wanted:
                    value.null_value = struct_pb2.NULL_VALUE
                    changed = True
            return doc if changed else None

        await self._committer.update(batch_key(batch_id), drop)
