"""Content addressing: a storage id is the lowercase hex SHA-256 of the bytes, so the same bytes
are stored once and anyone can verify what they read."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

_STORAGE_ID = re.compile(r"^[0-9a-f]{64}$")
_MEDIA_TYPE = re.compile(r"^[\x20-\x7e]{1,255}$")
DEFAULT_MEDIA_TYPE = "application/octet-stream"


class ContentKind(StrEnum):
    """What stored bytes are; names match `huleedu.common.v1.ContentKind`."""

    RAW_UPLOAD = "RAW_UPLOAD"
    EXTRACTED_TEXT = "EXTRACTED_TEXT"
    CORRECTED_TEXT = "CORRECTED_TEXT"


class InvalidContentRequestError(ValueError):
    """The request is malformed (bad storage id, no kind, bad media type)."""


class ContentTooLargeError(ValueError):
    """The bytes are over the configured size limit."""


class ContentNotFoundError(LookupError):
    """Nothing is stored under the storage id."""


class ContentCorruptedError(RuntimeError):
    """The stored bytes no longer hash to their storage id."""


@dataclass(frozen=True)
class StoredContent:
    """Bytes with what they are (kind None: stored without one, by another writer)."""

    content: bytes
    kind: ContentKind | None
    media_type: str


@dataclass(frozen=True)
class PutResult:
    """Where bytes are stored and whether they were there already."""

    storage_id: str
    already_stored: bool
    size_bytes: int


class ContentRepository(Protocol):
    """Durable storage of content objects by storage id."""

    async def exists(self, storage_id: str) -> bool:
        """True when an object is stored under the id."""
        ...

    async def put(self, storage_id: str, stored: StoredContent) -> None:
        """Store the object under the id."""
        ...

    async def get(self, storage_id: str) -> StoredContent | None:
        """The object stored under the id, or None."""
        ...


def storage_id_for(content: bytes) -> str:
    """The storage id of `content`."""
    return hashlib.sha256(content).hexdigest()


def check_storage_id(storage_id: str) -> None:
    """Refuse anything that is not 64 lowercase hex characters."""
    if not _STORAGE_ID.match(storage_id):
        raise InvalidContentRequestError(
            f"storage_id {storage_id[:80]!r} is not a storage id: expected 64 lowercase hex "
            "characters (the SHA-256 of the content)"
        )


class ContentLibrary:
    """Stores and fetches content by SHA-256, within a size limit."""

    def __init__(self, repository: ContentRepository, *, max_object_bytes: int) -> None:
        self._repository = repository
        self.max_object_bytes = max_object_bytes
        self._writing: dict[str, tuple[asyncio.Lock, int]] = {}

    async def put(self, content: bytes, kind: ContentKind | None, media_type: str) -> PutResult:
        """Store `content` once; a second put of the same bytes changes nothing."""
        if len(content) > self.max_object_bytes:
            raise ContentTooLargeError(
                f"content is {len(content)} bytes; the limit is {self.max_object_bytes} bytes "
                "per object (CONTENT_MAX_OBJECT_BYTES)"
            )
        if kind is None:
            raise InvalidContentRequestError(
                "kind is not set: say RAW_UPLOAD, EXTRACTED_TEXT or CORRECTED_TEXT"
            )
        media_type = media_type.strip() or DEFAULT_MEDIA_TYPE
        if not _MEDIA_TYPE.match(media_type):
            raise InvalidContentRequestError(
                "media_type must be 1-255 printable ASCII characters, e.g. text/plain"
            )
        storage_id = await asyncio.to_thread(storage_id_for, content)
        async with self._lock(storage_id):
            if await self._repository.exists(storage_id):
                return PutResult(storage_id, already_stored=True, size_bytes=len(content))
            await self._repository.put(storage_id, StoredContent(content, kind, media_type))
        return PutResult(storage_id, already_stored=False, size_bytes=len(content))

    async def get(self, storage_id: str) -> StoredContent:
        """The content stored under `storage_id`, checked against its hash."""
        check_storage_id(storage_id)
        stored = await self._repository.get(storage_id)
        if stored is None:
            raise ContentNotFoundError(f"no content is stored under {storage_id}")
        if await asyncio.to_thread(storage_id_for, stored.content) != storage_id:
            raise ContentCorruptedError(f"content under {storage_id} does not match its hash")
        return stored

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
