"""Content objects in the JetStream Object Store bucket `content`: the object name is the key
the domain gives (`object_key`: the tenant and the storage id); kind and media type are object
headers.

Objects are written here, in the Object Store's own layout (chunks on `$O.content.C.<nuid>`, then
the meta message on `$O.content.M.<name>`), not with nats-py's `ObjectStore.put`: when the ack of
the meta message is lost (a nats-server killed or slow to answer), nats-py purges the chunks
although the meta message may be stored, which leaves an object whose chunks are gone. Reads of
it then wait forever, and a later put of the same bytes found it "already stored" (seen in the
chaos suite: an essay ended FAILED after its every read timed out). Here an object's chunks go on
a subject named after its storage id, each written only if the one before it is the subject's
last message: a put cut off anywhere is completed by the next put of the same bytes (which clears
what it left), and leaves no orphaned chunks behind. The check rides on the publishes, so a put
costs no extra request beyond one direct get of the meta message.

Reads are direct gets too (the last meta message, then the chunks by subject), not nats-py's
`ObjectStore.get`, which creates an ordered consumer per read. A direct get may be answered by
any replica, and one that lags may not have a new object yet (seen on three nodes: one in ten
reads of just-stored objects said "not found" while a replica caught up after a pause); the
bytes are addressed by their hash, so whatever a replica returns is either right or fails the
digest. Only the stream leader's answer can fail a read: not found, missing chunks and a failed
digest are asked again of the leader (`STREAM.MSG.GET`) before they are answered, and so is a
direct get no replica answers within DIRECT_GET_WAIT_S (a stalled one still gets its share).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime

from nats.errors import NoRespondersError
from nats.js import JetStreamContext
from nats.js.api import Header, ObjectInfo, ObjectMetaOptions, RawStreamMsg
from nats.js.errors import APIError, NotFoundError
from nats.js.kv import MSG_ROLLUP_SUBJECT

from services.content_service.domain.content import (
    DEFAULT_MEDIA_TYPE,
    ContentCorruptedError,
    ContentKind,
    StoredContent,
    content_digest,
)
from services.mesh.atomic_batch import Outgoing, every_result, store_together
from services.mesh.direct_get import last_messages
from services.mesh.nats_internals import connection_of
from services.mesh.storage_health import storage_health

CONTENT_BUCKET = "content"
HEADER_KIND = "Huleedu-Content-Kind"
HEADER_MEDIA_TYPE = "Huleedu-Media-Type"
CHUNK_BYTES = 128 * 1024
_EXPECTED_LAST_SUBJECT_SEQ = "Nats-Expected-Last-Subject-Sequence"
_WRONG_LAST_SEQUENCE = 10071  # JetStream's answer when that expectation does not hold
_DIGEST_PREFIX = "SHA-256="
# A read of a stored object that gets no chunks for this long is answered as unavailable
# instead of waiting for the caller's deadline; meanwhile it asks again after these pauses.
READ_TIMEOUT_S = 5.0
_FIRST_PAUSE_S = 0.05
_LONGEST_PAUSE_S = 0.5
# A direct get is answered in well under a millisecond; one not answered in this long went to a
# replica that is stalled and is asked again of the stream leader.
DIRECT_GET_WAIT_S = 1.0


def _header(headers: dict[str, object] | None, name: str) -> str:
    # Headers are stored the way the Go client writes them: name -> list of values.
    value = (headers or {}).get(name)
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return "" if value is None else str(value)


def _expected_digest(storage_id: str, info: ObjectInfo) -> bytes:
    """The SHA-256 the meta message gives, "SHA-256=<base64url>" as the Go client writes it."""
    text = info.digest or ""
    if text[: len(_DIGEST_PREFIX)].upper() != _DIGEST_PREFIX:
        raise ContentCorruptedError(f"the meta message of {storage_id} has no SHA-256 digest")
    encoded = text[len(_DIGEST_PREFIX) :]
    try:
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except ValueError as error:
        raise ContentCorruptedError(f"the digest of {storage_id} is unreadable") from error


class _ChunksMissing(Exception):
    """Fewer chunks on the stream than the meta message counts (now, or on this replica)."""


class ObjectStoreRepository:
    """A content repository on a JetStream Object Store bucket (the stream `OBJ_<bucket>`,
    created with allow_direct by nats-py's create_object_store)."""

    def __init__(self, js: JetStreamContext, bucket: str = CONTENT_BUCKET):
        self._js = js
        self._bucket = bucket
        self._stream = f"OBJ_{bucket}"

    def _chunk_subject(self, nuid: str) -> str:
        return f"$O.{self._bucket}.C.{nuid}"

    def _meta_subject(self, name: str) -> str:
        return f"$O.{self._bucket}.M.{base64.urlsafe_b64encode(name.encode()).decode()}"

    async def exists(self, storage_id: str) -> bool:
        """True when a live object is stored under the id with every one of its chunks: one
        direct get when nothing is stored, two for a stored one-chunk object. A replica that
        lags may answer False; the put that follows then finds the chunks on the leader."""
        return await self._stored(storage_id, direct=True)

    async def _stored(self, storage_id: str, *, direct: bool) -> bool:
        try:
            info = await self._meta(storage_id, direct=direct)
        except ContentCorruptedError:
            return False  # an unreadable meta message: the put writes it again
        return info is not None and await self._has_all_chunks(info, direct=direct)

    async def exists_many(self, storage_ids: Sequence[str]) -> list[bool]:
        """`exists` for every id, from one batched direct get of their meta messages and chunks;
        an id that answer does not settle (more than one chunk, or chunks under another nuid) is
        asked alone, and so is every id when no replica answers it in time."""
        found = await self._last_messages(storage_ids)
        if found is None:
            return list(await asyncio.gather(*(self.exists(i) for i in storage_ids)))

        async def stored(storage_id: str) -> bool:
            try:
                info = self._meta_in(storage_id, found)
            except ContentCorruptedError:
                return False  # as in _stored: the put writes it again
            if info is None:
                return False
            if self._chunks_in(storage_id, info, found) is not None:
                return True
            return await self.exists(storage_id)

        return list(await asyncio.gather(*(stored(i) for i in storage_ids)))

    async def get_many(self, storage_ids: Sequence[str]) -> list[StoredContent | None]:
        """`get` for every id. An object of at most one chunk comes from one batched direct get
        of every meta message and chunk, checked against its digest; any other (not found in that
        answer, of more chunks, failing its digest there) goes through `get`, which asks the
        leader before it answers."""
        found = await self._last_messages(storage_ids) or {}

        async def read(storage_id: str) -> StoredContent | None:
            with contextlib.suppress(ContentCorruptedError):
                info = self._meta_in(storage_id, found)
                parts = None if info is None else self._chunks_in(storage_id, info, found)
                if info is not None and parts is not None:
                    return await self._checked(storage_id, info, parts)
            return await self.get(storage_id)

        return list(await asyncio.gather(*(read(i) for i in storage_ids)))

    async def _last_messages(self, storage_ids: Sequence[str]) -> dict[str, RawStreamMsg] | None:
        """The meta message and the last chunk of every id, by subject, as one replica has them
        (services.mesh.direct_get); None when no replica answers in time."""
        subjects = [
            subject
            for storage_id in storage_ids
            for subject in (self._meta_subject(storage_id), self._chunk_subject(storage_id))
        ]
        try:
            async with asyncio.timeout(DIRECT_GET_WAIT_S):
                return await last_messages(self._js, self._stream, subjects)
        except (TimeoutError, NoRespondersError, APIError):
            return None

    def _meta_in(self, storage_id: str, found: dict[str, RawStreamMsg]) -> ObjectInfo | None:
        """The object's live info from its meta message in `found`, or None."""
        meta = found.get(self._meta_subject(storage_id))
        return None if meta is None else self._info(storage_id, meta)

    def _chunks_in(
        self, storage_id: str, info: ObjectInfo, found: dict[str, RawStreamMsg]
    ) -> list[bytes] | None:
        """The object's chunks when `found` holds all of them (none for no bytes, else its one
        chunk on the subject named after its id), or None."""
        if info.nuid != storage_id or (info.chunks or 0) > 1:
            return None
        if not info.chunks:
            return []
        chunk = found.get(self._chunk_subject(storage_id))
        return None if chunk is None else [chunk.data or b""]

    async def _has_all_chunks(self, info: ObjectInfo, *, direct: bool) -> bool:
        chunks = info.chunks or 0
        subject = self._chunk_subject(info.nuid or "")
        if chunks == 0:
            return True
        if chunks == 1:
            # A chunk subject only ever holds the chunks of one object, written in order (or,
            # written by nats-py, all of them): one message there is the whole object.
            return await self._message(subject, direct=direct) is not None
        stream = await self._js.stream_info(self._stream, subjects_filter=subject)
        return (stream.state.subjects or {}).get(subject, 0) == chunks

    async def put(self, storage_id: str, stored: StoredContent) -> bool:
        """Store the bytes, waiting for JetStream to acknowledge every chunk, then the meta;
        False when the object turned out to be stored already. A full store or disk makes the
        service answer NOT_SERVING (services.mesh.storage_health)."""
        with storage_health(self._js).watch(self._stream):
            return await self._write_object(storage_id, stored)

    async def put_many(self, objects: Sequence[tuple[str, StoredContent]]) -> list[bool]:
        """Store every object (distinct ids). Objects of one chunk go in atomic batches, each
        object's chunk then its meta message (services.mesh.atomic_batch): one commit for all
        of them. The others, and all of a batch the stream refused (an object another writer
        stored or left half-stored meanwhile), are put one by one as `put` does."""
        single = [i for i, (_, stored) in enumerate(objects) if len(stored.content) <= CHUNK_BYTES]
        several = sorted(set(range(len(objects))) - set(single))
        batched, each = await asyncio.gather(
            store_together(
                connection_of(self._js),
                [self._one_chunk_messages(*objects[i]) for i in single],
                alone=lambda k: self.put(*objects[single[k]]),
                together=lambda _where, _k: True,
            ),
            asyncio.gather(*(self.put(*objects[i]) for i in several), return_exceptions=True),
        )
        outcome = dict(zip(single + several, batched + each, strict=True))
        return [
            bool(written) for written in every_result([outcome[i] for i in range(len(objects))])
        ]

    def _one_chunk_messages(self, storage_id: str, stored: StoredContent) -> list[Outgoing]:
        """An object of at most one chunk as `_write_object` writes it: its chunk on an empty
        subject (none for no bytes), then its meta message."""
        chunk = (
            [
                Outgoing(
                    self._chunk_subject(storage_id),
                    stored.content,
                    {_EXPECTED_LAST_SUBJECT_SEQ: "0"},
                )
            ]
            if stored.content
            else []
        )
        return [*chunk, self._meta_message(storage_id, stored, len(chunk))]

    async def _write_object(self, storage_id: str, stored: StoredContent) -> bool:
        chunk_subject = self._chunk_subject(storage_id)
        try:
            chunks = await self._write_chunks(chunk_subject, stored.content)
        except APIError as error:
            if error.err_code != _WRONG_LAST_SEQUENCE:
                raise
            if await self._stored(storage_id, direct=False):
                return False  # stored before (a lagging replica said not) or by another instance
            # An earlier put of these bytes, cut off, left chunks on the subject, or another
            # instance is writing them now: one of the two starts again (the other's next chunk
            # is then refused), so chunks of two writers never interleave.
            await self._js.purge_stream(self._stream, subject=chunk_subject)
            chunks = await self._write_chunks(chunk_subject, stored.content)
        meta = self._meta_message(storage_id, stored, chunks)
        await self._js.publish(meta.subject, meta.payload, headers=dict(meta.headers))
        return True

    def _meta_message(self, storage_id: str, stored: StoredContent, chunks: int) -> Outgoing:
        kind = stored.kind.value if stored.kind is not None else ""
        # The storage id is the content's SHA-256 (checked by the domain): no second hashing.
        # A tenant's key ends with the storage id: the SHA-256 is its last 64 characters.
        digest = base64.urlsafe_b64encode(bytes.fromhex(storage_id[-64:])).decode()
        info = ObjectInfo(
            name=storage_id,
            bucket=self._bucket,
            nuid=storage_id,
            size=len(stored.content),
            chunks=chunks,
            mtime=datetime.now(UTC).isoformat(),
            digest=f"{_DIGEST_PREFIX}{digest}",
            description=f"{kind} {stored.media_type}".strip(),
            headers={HEADER_KIND: [kind], HEADER_MEDIA_TYPE: [stored.media_type]},
            options=ObjectMetaOptions(max_chunk_size=CHUNK_BYTES),
        )
        return Outgoing(
            self._meta_subject(storage_id),
            json.dumps(info.as_dict()).encode(),
            {Header.ROLLUP: MSG_ROLLUP_SUBJECT},
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
        """The object under the id, its chunk count and digest checked, or None. Chunks still
        missing after READ_TIMEOUT_S raise TimeoutError (the caller may try again later)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READ_TIMEOUT_S
        with contextlib.suppress(_ChunksMissing, ContentCorruptedError):
            found = await self._read(storage_id, direct=True)
            if found is not None:
                return found
        # Not there, incomplete or failing its digest on a replica, which may lag: only the
        # leader's answer counts, and chunks it lacks are waited for (a put may complete them).
        pause = _FIRST_PAUSE_S
        while True:
            try:
                return await self._read(storage_id, direct=False)
            except _ChunksMissing:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError(
                        f"the chunks of {storage_id} were not all readable within "
                        f"{READ_TIMEOUT_S:g} s"
                    ) from None
                await asyncio.sleep(min(pause, remaining))
                pause = min(2 * pause, _LONGEST_PAUSE_S)

    async def _read(self, storage_id: str, *, direct: bool) -> StoredContent | None:
        info = await self._meta(storage_id, direct=direct)
        if info is None:
            return None
        return await self._checked(
            storage_id, info, await self._read_chunks(storage_id, info, direct=direct)
        )

    async def _checked(
        self, storage_id: str, info: ObjectInfo, parts: Sequence[bytes]
    ) -> StoredContent:
        """The object from its chunks, checked against the meta's digest."""
        content = b"".join(parts)
        if await content_digest(content) != _expected_digest(storage_id, info):
            raise ContentCorruptedError(f"the chunks under {storage_id} fail its digest")
        kind = _header(info.headers, HEADER_KIND)
        return StoredContent(
            content=content,
            kind=ContentKind(kind) if kind in ContentKind.__members__ else None,
            media_type=_header(info.headers, HEADER_MEDIA_TYPE) or DEFAULT_MEDIA_TYPE,
        )

    async def _meta(self, storage_id: str, *, direct: bool) -> ObjectInfo | None:
        """The object's live meta message, or None."""
        message = await self._message(self._meta_subject(storage_id), direct=direct)
        return None if message is None else self._info(storage_id, message)

    @staticmethod
    def _info(storage_id: str, message: RawStreamMsg) -> ObjectInfo | None:
        """A meta message read: the object's info, or None when it says the object is deleted."""
        try:
            info = ObjectInfo.from_response(json.loads(message.data or b""))
        except (ValueError, TypeError, AttributeError) as error:
            raise ContentCorruptedError(
                f"the meta message of {storage_id} is unreadable"
            ) from error
        return None if info.deleted else info

    async def _read_chunks(self, storage_id: str, info: ObjectInfo, *, direct: bool) -> list[bytes]:
        """All the object's chunks, as many as the meta counts."""
        if not info.nuid:
            raise ContentCorruptedError(f"the meta message of {storage_id} names no chunks")
        subject = self._chunk_subject(info.nuid)
        count = info.chunks or 0
        parts: list[bytes] = []
        if count == 1:
            last = await self._message(subject, direct=direct)
            if last is None:
                raise _ChunksMissing
            parts.append(last.data or b"")
        after = 0
        while len(parts) < count:
            chunk = await self._message(subject, direct=direct, after=after)
            if chunk is None:
                raise _ChunksMissing
            parts.append(chunk.data or b"")
            after = chunk.seq or 0
        return parts

    async def _message(
        self, subject: str, *, direct: bool, after: int | None = None
    ) -> RawStreamMsg | None:
        """The subject's last message, or (with `after`) its first one after that sequence;
        None when there is none. Direct: a replica answers (the leader when none does in
        DIRECT_GET_WAIT_S); else the stream leader."""
        if direct:
            try:
                return await asyncio.wait_for(
                    self._stream_message(subject, direct=True, after=after), DIRECT_GET_WAIT_S
                )
            except (TimeoutError, NoRespondersError):
                # A replica that is stalled (a slow disk, a paused process) still gets its share
                # of direct gets, or none serves them yet (one just restarted, catching up).
                pass
        return await self._stream_message(subject, direct=False, after=after)

    async def _stream_message(
        self, subject: str, *, direct: bool, after: int | None
    ) -> RawStreamMsg | None:
        try:
            if after is None:
                return await self._js.get_last_msg(self._stream, subject, direct=direct)
            return await self._js.get_msg(
                self._stream, seq=after + 1, subject=subject, next=True, direct=direct
            )
        except NotFoundError:
            return None
