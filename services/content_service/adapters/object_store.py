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

Holders: the meta message lists who holds the object (HEADER_HOLDERS, batch ids) in its headers.
A new object's meta lists its first holder; a put of stored bytes by a holder not listed yet
writes the meta again with it, compare-and-set on the meta subject; one by a listed holder writes
nothing. Objects stored before holders existed list none: they are held by nobody. A meta written
again keeps the one before it (no rollup): every meta message of an object is erased with it.

Erasure (`release`): a holder is taken off the list the same way; when none is left, a tombstone
meta message (deleted) is written compare-and-set, then every chunk below it and every meta
message up to it are erased (message_erasure: the bytes overwritten). A put that raced it either
added its holder before the tombstone (the erasure then sees it and keeps the object) or sees no
live object and writes it anew: its chunks come after the tombstone, out of the erasure's reach,
and its meta message is written only if the meta subject's last message is still the one the put
saw, so no meta message ever names chunks an erasure removed. An erasure cut off anywhere is
finished by the next one (the tombstone is still the last meta message).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from nats.errors import NoRespondersError
from nats.js import JetStreamContext
from nats.js.api import Header, ObjectInfo, RawStreamMsg
from nats.js.errors import APIError, NotFoundError
from nats.js.kv import MSG_ROLLUP_SUBJECT

from services.content_service.adapters import object_meta
from services.content_service.domain.content import (
    DEFAULT_MEDIA_TYPE,
    ContentCorruptedError,
    StoredContent,
    content_digest,
)
from services.mesh.atomic_batch import Outgoing, every_result, store_together
from services.mesh.direct_get import last_messages
from services.mesh.message_erasure import erase_subject
from services.mesh.nats_internals import connection_of
from services.mesh.storage_health import storage_health

CONTENT_BUCKET = "content"
CHUNK_BYTES = 128 * 1024
_EXPECTED_LAST_SUBJECT_SEQ = "Nats-Expected-Last-Subject-Sequence"
_WRONG_LAST_SEQUENCE = 10071  # JetStream's answer when that expectation does not hold
# A put or release whose compare-and-set on the meta subject lost to another writer reads again
# and retries, this many times in all; past that the conflict is raised (UNAVAILABLE, retry).
_ATTEMPTS = 5
_T = TypeVar("_T")
# A read of a stored object that gets no chunks for this long is answered as unavailable
# instead of waiting for the caller's deadline; meanwhile it asks again after these pauses.
READ_TIMEOUT_S = 5.0
_FIRST_PAUSE_S = 0.05
_LONGEST_PAUSE_S = 0.5
# A direct get is answered in well under a millisecond; one not answered in this long went to a
# replica that is stalled and is asked again of the stream leader.
DIRECT_GET_WAIT_S = 1.0


def _seq(message: RawStreamMsg | None) -> int:
    """The message's sequence; 0 for none, which is what JetStream expects of an empty subject."""
    return 0 if message is None else message.seq or 0


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

    async def put(self, storage_id: str, stored: StoredContent, holder: str = "") -> bool:
        """Store the bytes held by `holder` ("" for none), waiting for JetStream to acknowledge
        every chunk, then the meta; False when the object turned out to be stored already (the
        holder is then listed). A full store or disk makes the service answer NOT_SERVING
        (services.mesh.storage_health)."""
        with storage_health(self._js).watch(self._stream):
            return await self._retried(
                lambda first: self._put_once(storage_id, stored, holder, direct=first)
            )

    async def _put_once(
        self, storage_id: str, stored: StoredContent, holder: str, *, direct: bool
    ) -> bool:
        meta = await self._message(self._meta_subject(storage_id), direct=direct)
        if await self._held(storage_id, meta, holder, direct=direct):
            return False
        return await self._write_object(storage_id, stored, holder, _seq(meta))

    async def _retried(self, attempt: Callable[[bool], Awaitable[_T]]) -> _T:
        """`attempt(True)`, then `attempt(False)` (reads from the stream leader) again while a
        compare-and-set in it finds another writer got there first, up to _ATTEMPTS times."""
        tries = 0
        while True:
            tries += 1
            try:
                return await attempt(tries == 1)
            except APIError as error:
                if error.err_code != _WRONG_LAST_SEQUENCE or tries >= _ATTEMPTS:
                    raise

    async def _held(
        self, storage_id: str, meta: RawStreamMsg | None, holder: str, *, direct: bool
    ) -> bool:
        """True when `meta` is the meta message of a live object with every one of its chunks;
        the holder is then listed (the meta written again, compare-and-set, when it was not)."""
        try:
            info = None if meta is None else self._info(storage_id, meta)
        except ContentCorruptedError:
            return False  # an unreadable meta message: the put writes it again
        if info is None or not await self._has_all_chunks(info, direct=direct):
            return False
        holders = object_meta.holders(info)
        if holder and holder not in holders:
            await self._rewrite_meta(storage_id, info, [*holders, holder], after=_seq(meta))
        return True

    async def put_many(
        self, objects: Sequence[tuple[str, StoredContent]], holder: str = ""
    ) -> list[bool]:
        """Store every object (distinct ids) held by `holder`, from one batched direct get of
        their meta messages and chunks: an object found stored and already held by the holder
        costs nothing more. New objects of one chunk go in atomic batches, each object's chunk
        then its meta message (services.mesh.atomic_batch): one commit for all of them. The
        others, and all of a batch the stream refused (an object another writer stored, left
        half-stored or erased meanwhile), are put one by one as `put` does."""
        found = await self._last_messages([storage_id for storage_id, _ in objects])
        stored_already: list[int] = []
        single: list[int] = []
        after: list[int] = []
        for index, (storage_id, stored) in enumerate(objects):
            if found is None:
                continue
            meta = found.get(self._meta_subject(storage_id))
            try:
                info = None if meta is None else self._info(storage_id, meta)
            except ContentCorruptedError:
                info = None  # as in _held: the put writes it again
            if info is None and len(stored.content) <= CHUNK_BYTES:
                single.append(index)
                after.append(_seq(meta))
            elif (
                info is not None
                and self._chunks_in(storage_id, info, found) is not None
                and (not holder or holder in object_meta.holders(info))
            ):
                stored_already.append(index)
        several = sorted(set(range(len(objects))) - set(single) - set(stored_already))
        batched, each = await asyncio.gather(
            store_together(
                connection_of(self._js),
                [
                    self._one_chunk_messages(*objects[i], holder, after[k])
                    for k, i in enumerate(single)
                ],
                alone=lambda k: self.put(*objects[single[k]], holder),
                together=lambda _where, _k: True,
            ),
            asyncio.gather(
                *(self.put(*objects[i], holder) for i in several), return_exceptions=True
            ),
        )
        outcome: dict[int, bool | BaseException] = dict.fromkeys(stored_already, False)
        outcome.update(zip(single + several, batched + each, strict=True))
        return [
            bool(written) for written in every_result([outcome[i] for i in range(len(objects))])
        ]

    def _one_chunk_messages(
        self, storage_id: str, stored: StoredContent, holder: str, after: int
    ) -> list[Outgoing]:
        """An object of at most one chunk as `_write_object` writes it: its chunk on an empty
        subject (none for no bytes), then its meta message if the meta subject's last message is
        still `after`."""
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
        return [*chunk, self._meta_message(storage_id, stored, len(chunk), holder, after)]

    async def _write_object(
        self, storage_id: str, stored: StoredContent, holder: str, after: int
    ) -> bool:
        """Write the chunks, then the meta message if the meta subject's last message is still
        the one at `after` (0: none): an erasure in between (a tombstone) refuses it."""
        chunk_subject = self._chunk_subject(storage_id)
        try:
            chunks = await self._write_chunks(chunk_subject, stored.content)
        except APIError as error:
            if error.err_code != _WRONG_LAST_SEQUENCE:
                raise
            meta = await self._message(self._meta_subject(storage_id), direct=False)
            if await self._held(storage_id, meta, holder, direct=False):
                return False  # stored before (a lagging replica said not) or by another instance
            # An earlier put of these bytes, cut off, left chunks on the subject, or another
            # instance is writing them now: one of the two starts again (the other's next chunk
            # is then refused), so chunks of two writers never interleave. They are erased, not
            # purged: a purge leaves their bytes in the store's files (message_erasure).
            await erase_subject(self._js, self._stream, chunk_subject)
            chunks = await self._write_chunks(chunk_subject, stored.content)
            after = _seq(meta)
        meta_message = self._meta_message(storage_id, stored, chunks, holder, after)
        await self._js.publish(
            meta_message.subject, meta_message.payload, headers=dict(meta_message.headers)
        )
        return True

    def _meta_message(
        self, storage_id: str, stored: StoredContent, chunks: int, holder: str, after: int
    ) -> Outgoing:
        info = object_meta.new_info(
            storage_id, self._bucket, stored, chunks, holder=holder, chunk_bytes=CHUNK_BYTES
        )
        return Outgoing(
            self._meta_subject(storage_id),
            object_meta.encoded(info),
            {Header.ROLLUP: MSG_ROLLUP_SUBJECT, _EXPECTED_LAST_SUBJECT_SEQ: str(after)},
        )

    async def _rewrite_meta(
        self, storage_id: str, info: ObjectInfo, holders: list[str], *, after: int
    ) -> int:
        """Write the object's meta message again with these holders if the meta subject's last
        message is still the one at `after`; returns its sequence. No rollup: the one before
        stays, to be erased with the object (a rollup would leave its bytes in the store)."""
        return await self._write_meta(
            storage_id, object_meta.with_holders(info, holders), after=after
        )

    async def _write_meta(self, storage_id: str, info: ObjectInfo, *, after: int) -> int:
        ack = await self._js.publish(
            self._meta_subject(storage_id),
            object_meta.encoded(info),
            headers={_EXPECTED_LAST_SUBJECT_SEQ: str(after)},
        )
        return ack.seq

    async def release(self, storage_id: str, holder: str) -> bool:
        """Take `holder` off the object's holders ("": all of them); True when another holder
        still holds it. Else it is erased: a tombstone meta message first, then every chunk and
        every meta message of the id, their bytes overwritten. Nothing stored: False."""
        with storage_health(self._js).watch(self._stream):
            return await self._retried(lambda _first: self._release_once(storage_id, holder))

    async def _release_once(self, storage_id: str, holder: str) -> bool:
        meta_subject = self._meta_subject(storage_id)
        chunk_subject = self._chunk_subject(storage_id)
        meta = await self._message(meta_subject, direct=False)
        try:
            info = None if meta is None else self._info(storage_id, meta)
        except ContentCorruptedError:
            info = None  # an unreadable meta message: erased like any other
        if info is not None:
            holders = object_meta.holders(info)
            left = [other for other in holders if other != holder] if holder else []
            if left:
                if left != holders:
                    await self._rewrite_meta(storage_id, info, left, after=_seq(meta))
                return True
        elif meta is None and await self._message(chunk_subject, direct=False) is None:
            return False
        tombstone = await self._write_tombstone(storage_id, after=_seq(meta))
        # Only below the tombstone: chunks above it are a new put's, which the erasure must not
        # touch (its meta message, expecting the tombstone or nothing, is then written).
        await erase_subject(self._js, self._stream, chunk_subject, below=tombstone)
        await erase_subject(self._js, self._stream, meta_subject, below=tombstone + 1)
        return False

    async def _write_tombstone(self, storage_id: str, *, after: int) -> int:
        """A meta message that says the object is deleted, written if the meta subject's last
        message is still the one at `after`; returns its sequence. From then on reads find
        nothing, and a put writes the object anew (its meta expecting this message)."""
        return await self._write_meta(
            storage_id, object_meta.tombstone(storage_id, self._bucket), after=after
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
        if await content_digest(content) != object_meta.expected_digest(storage_id, info):
            raise ContentCorruptedError(f"the chunks under {storage_id} fail its digest")
        return StoredContent(
            content=content,
            kind=object_meta.kind_of(info),
            media_type=object_meta.header(info, object_meta.HEADER_MEDIA_TYPE)
            or DEFAULT_MEDIA_TYPE,
        )

    async def _meta(self, storage_id: str, *, direct: bool) -> ObjectInfo | None:
        """The object's live meta message, or None."""
        message = await self._message(self._meta_subject(storage_id), direct=direct)
        return None if message is None else self._info(storage_id, message)

    @staticmethod
    def _info(storage_id: str, message: RawStreamMsg) -> ObjectInfo | None:
        """A meta message read: the object's info, or None when it says the object is deleted."""
        return object_meta.read_info(storage_id, message.data)

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
