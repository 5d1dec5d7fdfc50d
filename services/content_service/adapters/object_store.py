"""Content objects in the JetStream Object Store bucket `content`: the object name is the
storage id; kind and media type are object headers.

Objects are written here, in the Object Store's own layout (chunks on `$O.content.C.<nuid>`, then
the meta message on `$O.content.M.<name>`), not with nats-py's `ObjectStore.put`: when the ack of
the meta message is lost (a nats-server killed or slow to answer), nats-py purges the chunks
although the meta message may be stored, which leaves an object whose chunks are gone. Reads of
it then wait forever, and a later put of the same bytes found it "already stored" (seen in the
chaos suite: an essay ended FAILED after its every read timed out). Here an object's chunks go on
a subject named after its storage id, each written only if the one before it is the subject's
last message: a put cut off anywhere is completed by the next put of the same bytes (which clears
what it left), and leaves no orphaned chunks behind. The check rides on the publishes, so a put
costs no extra request.
"""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime

from nats.js import JetStreamContext
from nats.js.api import Header, ObjectInfo, ObjectMetaOptions
from nats.js.errors import (
    APIError,
    DigestMismatchError,
    ObjectDeletedError,
    ObjectNotFoundError,
)
from nats.js.kv import MSG_ROLLUP_SUBJECT
from nats.js.object_store import ObjectStore

from services.content_service.domain.content import (
    DEFAULT_MEDIA_TYPE,
    ContentCorruptedError,
    ContentKind,
    StoredContent,
)
from services.mesh.storage_health import storage_health

CONTENT_BUCKET = "content"
HEADER_KIND = "Huleedu-Content-Kind"
HEADER_MEDIA_TYPE = "Huleedu-Media-Type"
CHUNK_BYTES = 128 * 1024
_EXPECTED_LAST_SUBJECT_SEQ = "Nats-Expected-Last-Subject-Sequence"
_WRONG_LAST_SEQUENCE = 10071  # JetStream's answer when that expectation does not hold
# A read of a stored object that gets no chunks for this long is answered as unavailable
# instead of waiting for the caller's deadline.
READ_TIMEOUT_S = 5.0


def _header(headers: dict[str, object] | None, name: str) -> str:
    # Headers are stored the way the Go client writes them: name -> list of values.
    value = (headers or {}).get(name)
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return "" if value is None else str(value)


class ObjectStoreRepository:
    """A content repository on a JetStream Object Store bucket."""

    def __init__(self, store: ObjectStore, js: JetStreamContext, bucket: str = CONTENT_BUCKET):
        self._store = store
        self._js = js
        self._bucket = bucket
        self._stream = f"OBJ_{bucket}"

    def _chunk_subject(self, nuid: str) -> str:
        return f"$O.{self._bucket}.C.{nuid}"

    def _meta_subject(self, name: str) -> str:
        return f"$O.{self._bucket}.M.{base64.urlsafe_b64encode(name.encode()).decode()}"

    async def exists(self, storage_id: str) -> bool:
        """True when a live object is stored under the id with every one of its chunks."""
        try:
            info = await self._store.get_info(storage_id)
        except (ObjectNotFoundError, ObjectDeletedError):
            return False
        return await self._chunks_on_stream(info.nuid or "") == (info.chunks or 0)

    async def _chunks_on_stream(self, nuid: str) -> int:
        subject = self._chunk_subject(nuid)
        stream = await self._js.stream_info(self._stream, subjects_filter=subject)
        return (stream.state.subjects or {}).get(subject, 0)

    async def put(self, storage_id: str, stored: StoredContent) -> None:
        """Store the bytes, waiting for JetStream to acknowledge every chunk, then the meta; a
        full store or disk makes the service answer NOT_SERVING (services.mesh.storage_health)."""
        with storage_health(self._js).watch(self._stream):
            await self._write_object(storage_id, stored)

    async def _write_object(self, storage_id: str, stored: StoredContent) -> None:
        kind = stored.kind.value if stored.kind is not None else ""
        chunk_subject = self._chunk_subject(storage_id)
        try:
            chunks = await self._write_chunks(chunk_subject, stored.content)
        except APIError as error:
            if error.err_code != _WRONG_LAST_SEQUENCE:
                raise
            if await self.exists(storage_id):
                return  # another instance stored the same bytes meanwhile
            # An earlier put of these bytes, cut off, left chunks on the subject, or another
            # instance is writing them now: one of the two starts again (the other's next chunk
            # is then refused), so chunks of two writers never interleave.
            await self._js.purge_stream(self._stream, subject=chunk_subject)
            chunks = await self._write_chunks(chunk_subject, stored.content)
        # The storage id is the content's SHA-256 (checked by the domain): no second hashing.
        digest = base64.urlsafe_b64encode(bytes.fromhex(storage_id)).decode()
        info = ObjectInfo(
            name=storage_id,
            bucket=self._bucket,
            nuid=storage_id,
            size=len(stored.content),
            chunks=chunks,
            mtime=datetime.now(UTC).isoformat(),
            digest=f"SHA-256={digest}",
            description=f"{kind} {stored.media_type}".strip(),
            headers={HEADER_KIND: [kind], HEADER_MEDIA_TYPE: [stored.media_type]},
            options=ObjectMetaOptions(max_chunk_size=CHUNK_BYTES),
        )
        await self._js.publish(
            self._meta_subject(storage_id),
            json.dumps(info.as_dict()).encode(),
            headers={Header.ROLLUP: MSG_ROLLUP_SUBJECT},
        )

    async def _write_chunks(self, subject: str, content: bytes) -> int:
        """Publish the chunks in order, each only if the one before it is the subject's last
        message (the first only on an empty subject): nothing is ever interleaved or appended
        to what an earlier put left. Returns how many chunks were written."""
        last = 0
        chunks = 0
        for start in range(0, len(content), CHUNK_BYTES):
            ack = await self._js.publish(
                subject,
                content[start : start + CHUNK_BYTES],
                headers={_EXPECTED_LAST_SUBJECT_SEQ: str(last)},
            )
            last = ack.seq
            chunks += 1
        return chunks

    async def get(self, storage_id: str) -> StoredContent | None:
        """The object under the id (the client checks the chunks' digest), or None."""
        try:
            result = await asyncio.wait_for(self._store.get(storage_id), READ_TIMEOUT_S)
        except (ObjectNotFoundError, ObjectDeletedError):
            return None
        except DigestMismatchError as error:
            raise ContentCorruptedError(f"the chunks under {storage_id} fail its digest") from error
        headers = result.info.headers
        kind = _header(headers, HEADER_KIND)
        return StoredContent(
            content=bytes(result.data or b""),
            kind=ContentKind(kind) if kind in ContentKind.__members__ else None,
            media_type=_header(headers, HEADER_MEDIA_TYPE) or DEFAULT_MEDIA_TYPE,
        )
