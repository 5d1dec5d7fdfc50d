"""Content addressing: a storage id is the lowercase hex SHA-256 of the bytes, so the same bytes
are stored once and anyone can verify what they read."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TypeVar, cast

from services.mesh.hashing import hashed

_STORAGE_ID = re.compile(r"^[0-9a-f]{64}$")
_MEDIA_TYPE = re.compile(r"^[\x20-\x7e]{1,255}$")
DEFAULT_MEDIA_TYPE = "application/octet-stream"
_T = TypeVar("_T")
MAX_BATCH_ITEMS = 100
# Contents up to this size (every essay text) are hashed on the event loop: a thread hop costs
# more than hashing them, and the loop is held for a tenth of a millisecond at most.


class ContentKind(StrEnum):
    """What stored bytes are; names match `huleedu.common.v1.ContentKind`."""

    RAW_UPLOAD = "RAW_UPLOAD"
    EXTRACTED_TEXT = "EXTRACTED_TEXT"
    CORRECTED_TEXT = "CORRECTED_TEXT"
    SPELLCHECK_DETAILS = "SPELLCHECK_DETAILS"


class InvalidContentRequestError(ValueError):
    """The request is malformed (bad storage id, no kind, bad media type); `field` is the path
    of the bad field (`requests[3].kind`)."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class ContentTooLargeError(ValueError):
    """The bytes are over the configured size limit."""


class ContentNotFoundError(LookupError):
    """Nothing is stored under the storage id."""


class ContentCorruptedError(RuntimeError):
    """The stored bytes no longer hash to their storage id."""


class ErasureNotPermittedError(PermissionError):
    """The caller may not erase content (only services and admins may)."""


@dataclass(frozen=True)
class StoredContent:
    """Bytes with what they are (kind None: stored without one, by another writer)."""

    content: bytes
    kind: ContentKind | None
    media_type: str


@dataclass(frozen=True)
class Erasure:
    """What an erasure did: the ids whose last holder was released, their bytes gone (ids with
    nothing stored among them, so a repeated erasure answers the same), and the ids another
    holder of the tenant still holds."""

    erased: list[str]
    kept: list[str]


@dataclass(frozen=True)
class PutResult:
    """Where bytes are stored and whether they were there already."""

    storage_id: str
    already_stored: bool
    size_bytes: int


class ContentRepository(Protocol):
    """Durable storage of content objects by storage id, each with the holders that keep it."""

    async def put(self, storage_id: str, stored: StoredContent, holder: str) -> bool:
        """Store the object under the id, held by `holder` ("": none); False when it was stored
        already (the holder is then added to its holders)."""
        ...

    async def put_many(
        self, objects: Sequence[tuple[str, StoredContent]], holder: str
    ) -> list[bool]:
        """`put` for every object (distinct ids), in order."""
        ...

    async def release(self, storage_id: str, holder: str) -> bool:
        """Take `holder` off the object's holders ("": every holder); True when another holder
        still holds it, else it is erased (nothing stored: False)."""
        ...

    async def get(self, storage_id: str) -> StoredContent | None:
        """The object stored under the id, or None."""
        ...

    async def get_many(self, storage_ids: Sequence[str]) -> list[StoredContent | None]:
        """`get` for every id, in order."""
        ...


def storage_id_for(content: bytes) -> str:
    """The storage id of `content`."""
    return hashlib.sha256(content).hexdigest()


async def content_digest(content: bytes) -> bytes:
    """The SHA-256 of `content`; large contents are hashed off the event loop."""
    return await hashed(content, lambda data: hashlib.sha256(data).digest())


def object_key(tenant: str, storage_id: str) -> str:
    """Where the tenant's copy of the content is kept: content is keyed per tenant, so knowing a
    hash reads nothing of another tenant's, and erasing one tenant's copy leaves the others'
    (ADR 0009). The content of no tenant (authentication off) is keyed by its hash alone."""
    return f"{tenant}_{storage_id}" if tenant else storage_id


def check_storage_id(storage_id: str) -> None:
    """Refuse anything that is not 64 lowercase hex characters."""
    if not _STORAGE_ID.match(storage_id):
        raise InvalidContentRequestError(
            f"storage_id {storage_id[:80]!r} is not a storage id: expected 64 lowercase hex "
            "characters (the SHA-256 of the content)",
            field="storage_id",
        )


class ContentLibrary:
    """Stores and fetches content by SHA-256, within a size limit; one by one or in batches of
    up to MAX_BATCH_ITEMS, all or nothing."""

    def __init__(self, repository: ContentRepository, *, max_object_bytes: int) -> None:
        self._repository = repository
        self.max_object_bytes = max_object_bytes
        # What one batch answer may carry: the gRPC message limit is twice the object limit
        # plus room for the envelope (ContentServiceSettings.grpc_max_message_bytes).
        self.max_batch_bytes = 2 * max_object_bytes
        self._writing: dict[str, tuple[asyncio.Lock, int]] = {}

    async def put(
        self,
        content: bytes,
        kind: ContentKind | None,
        media_type: str,
        *,
        tenant: str = "",
        holder: str = "",
    ) -> PutResult:
        """Store `content` once for the tenant, held by `holder` (a batch id; "": none); a second
        put of the same bytes stores nothing, and adds its holder when that is a new one."""
        return await self._store(
            tenant, holder, content, kind, self._checked_media_type(content, kind, media_type)
        )

    async def put_many(
        self,
        items: Sequence[tuple[bytes, ContentKind | None, str]],
        *,
        tenant: str = "",
        holder: str = "",
    ) -> list[PutResult]:
        """Store every (content, kind, media type) not stored yet, together (the repository may
        write them with one commit), all held by `holder`; the results are in the items' order,
        and the same bytes twice in one request are written once. Nothing is stored when one of
        the items is refused."""
        _check_batch_size(len(items), "requests")
        objects = []
        for index, (content, kind, media_type) in enumerate(items):
            try:
                objects.append(
                    StoredContent(
                        content, kind, self._checked_media_type(content, kind, media_type)
                    )
                )
            except InvalidContentRequestError as error:
                raise InvalidContentRequestError(
                    f"requests[{index}]: {error}", field=f"requests[{index}].{error.field}"
                ) from error
            except ContentTooLargeError as error:
                raise ContentTooLargeError(f"requests[{index}]: {error}") from error
        ids = [(await content_digest(stored.content)).hex() for stored in objects]
        first: dict[str, StoredContent] = {}  # each key with the first item that has it
        for storage_id, stored in zip(ids, objects, strict=True):
            first.setdefault(object_key(tenant, storage_id), stored)
        async with contextlib.AsyncExitStack() as held:
            for key in sorted(first):  # one order for every caller: no deadlock
                await held.enter_async_context(self._lock(key))
            flags = await self._repository.put_many(list(first.items()), holder)
        written = {key for key, flag in zip(first, flags, strict=True) if flag}
        results = []
        for storage_id, stored in zip(ids, objects, strict=True):
            key = object_key(tenant, storage_id)
            results.append(
                PutResult(
                    storage_id,
                    already_stored=key not in written,
                    size_bytes=len(stored.content),
                )
            )
            written.discard(key)  # the same bytes again in this request: stored already
        return results

    def _checked_media_type(self, content: bytes, kind: ContentKind | None, media_type: str) -> str:
        """Refuse a put that breaks a rule; else the media type to store it with."""
        if len(content) > self.max_object_bytes:
            raise ContentTooLargeError(
                f"content is {len(content)} bytes; the limit is {self.max_object_bytes} bytes "
                "per object (CONTENT_MAX_OBJECT_BYTES)"
            )
        if kind is None:
            raise InvalidContentRequestError(
                "kind is not set: say " + ", ".join(ContentKind), field="kind"
            )
        media_type = media_type.strip() or DEFAULT_MEDIA_TYPE
        if not _MEDIA_TYPE.match(media_type):
            raise InvalidContentRequestError(
                "media_type must be 1-255 printable ASCII characters, e.g. text/plain",
                field="media_type",
            )
        return media_type

    async def _store(
        self, tenant: str, holder: str, content: bytes, kind: ContentKind | None, media_type: str
    ) -> PutResult:
        storage_id = (await content_digest(content)).hex()
        key = object_key(tenant, storage_id)
        async with self._lock(key):
            written = await self._repository.put(
                key, StoredContent(content, kind, media_type), holder
            )
        return PutResult(storage_id, already_stored=not written, size_bytes=len(content))

    async def erase(self, storage_ids: Sequence[str], *, tenant: str, holder: str) -> Erasure:
        """Release the tenant's contents under `storage_ids` from `holder` (a batch id; "":
        every holder); those no holder keeps any longer are erased. Ids with nothing stored
        count as erased, so erasing again answers the same."""
        _check_batch_size(len(storage_ids), "storage_ids")
        _check_storage_ids(storage_ids)
        unique = list(dict.fromkeys(storage_ids))
        keys = {storage_id: object_key(tenant, storage_id) for storage_id in unique}
        async with contextlib.AsyncExitStack() as held:
            for key in sorted(keys.values()):  # the puts' order: no deadlock
                await held.enter_async_context(self._lock(key))
            kept = await _all_in_order(
                [self._repository.release(keys[storage_id], holder) for storage_id in unique]
            )
        return Erasure(
            erased=[i for i, still in zip(unique, kept, strict=True) if not still],
            kept=[i for i, still in zip(unique, kept, strict=True) if still],
        )

    async def get(self, storage_id: str, *, tenant: str = "") -> StoredContent:
        """The tenant's content stored under `storage_id`, checked against its hash."""
        check_storage_id(storage_id)
        return await _checked(
            storage_id, await self._repository.get(object_key(tenant, storage_id))
        )

    async def get_many(
        self, storage_ids: Sequence[str], *, tenant: str = ""
    ) -> list[StoredContent]:
        """The tenant's content under every id, in the ids' order; one unknown id fails the
        whole call (its error names it)."""
        _check_batch_size(len(storage_ids), "storage_ids")
        _check_storage_ids(storage_ids)
        unique = list(dict.fromkeys(storage_ids))
        stored = await self._repository.get_many([object_key(tenant, i) for i in unique])
        checked = await _all_in_order(
            [_checked(storage_id, item) for storage_id, item in zip(unique, stored, strict=True)]
        )
        found = dict(zip(unique, checked, strict=True))
        total = sum(len(found[storage_id].content) for storage_id in storage_ids)
        if total > self.max_batch_bytes:
            raise ContentTooLargeError(
                f"the {len(storage_ids)} objects total {total} bytes; one answer carries at most "
                f"{self.max_batch_bytes} bytes: ask for fewer at once"
            )
        return [found[storage_id] for storage_id in storage_ids]

    @asynccontextmanager
    async def _lock(self, storage_id: str) -> AsyncIterator[None]:
        # Concurrent puts of the same bytes in this process write once (the others then see
        # it stored); the lock is dropped when nobody holds or waits for it.
        lock, users = self._writing.get(storage_id, (asyncio.Lock(), 0))
        self._writing[storage_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._writing[storage_id]
            if users <= 1:
                del self._writing[storage_id]
            else:
                self._writing[storage_id] = (lock, users - 1)


async def _checked(storage_id: str, stored: StoredContent | None) -> StoredContent:
    """What the repository returned for the id, refused when missing or not matching its hash."""
    if stored is None:
        raise ContentNotFoundError(f"no content is stored under {storage_id}")
    if (await content_digest(stored.content)).hex() != storage_id:
        raise ContentCorruptedError(f"content under {storage_id} does not match its hash")
    return stored


def _check_storage_ids(storage_ids: Sequence[str]) -> None:
    for index, storage_id in enumerate(storage_ids):
        try:
            check_storage_id(storage_id)
        except InvalidContentRequestError as error:
            raise InvalidContentRequestError(
                f"storage_ids[{index}]: {error}", field=f"storage_ids[{index}]"
            ) from error


def _check_batch_size(count: int, field: str) -> None:
    if count > MAX_BATCH_ITEMS:
        raise InvalidContentRequestError(
            f"{field} has {count} items; a batch holds at most {MAX_BATCH_ITEMS}", field=field
        )


async def _all_in_order(calls: Sequence[Awaitable[_T]]) -> list[_T]:
    """Await every call concurrently; the results in order, or the first failure in order
    (after all of them finished, so none is left running)."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return cast(list[_T], results)
