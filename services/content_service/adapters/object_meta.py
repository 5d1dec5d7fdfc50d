"""The meta message of a content object, as the Object Store's JSON `ObjectInfo`: its size,
chunk count and SHA-256, and in its headers (name -> list of values, as the Go client writes
them) the content's kind, media type and holders. Building and reading it; no I/O."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime

from nats.js.api import ObjectInfo, ObjectMetaOptions

from services.content_service.domain.content import (
    ContentCorruptedError,
    ContentKind,
    StoredContent,
)

HEADER_KIND = "Huleedu-Content-Kind"
HEADER_MEDIA_TYPE = "Huleedu-Media-Type"
HEADER_HOLDERS = "Huleedu-Holders"  # who holds the object (batch ids), one value each
_DIGEST_PREFIX = "SHA-256="


def header(info: ObjectInfo, name: str) -> str:
    """The first value of the header `name`, or ""."""
    value = (info.headers or {}).get(name)
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return "" if value is None else str(value)


def holders(info: ObjectInfo) -> list[str]:
    """Who holds the object, as its meta message lists them (none before holders existed)."""
    value = (info.headers or {}).get(HEADER_HOLDERS)
    if isinstance(value, list):
        return [str(holder) for holder in value]
    return [] if not value else [str(value)]


def kind_of(info: ObjectInfo) -> ContentKind | None:
    """The content's kind, None when stored without one (by another writer)."""
    kind = header(info, HEADER_KIND)
    return ContentKind(kind) if kind in ContentKind.__members__ else None


def expected_digest(storage_id: str, info: ObjectInfo) -> bytes:
    """The SHA-256 the meta message gives, "SHA-256=<base64url>" as the Go client writes it."""
    text = info.digest or ""
    if text[: len(_DIGEST_PREFIX)].upper() != _DIGEST_PREFIX:
        raise ContentCorruptedError(f"the meta message of {storage_id} has no SHA-256 digest")
    encoded = text[len(_DIGEST_PREFIX) :]
    try:
        return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except ValueError as error:
        raise ContentCorruptedError(f"the digest of {storage_id} is unreadable") from error


def read_info(storage_id: str, data: bytes | None) -> ObjectInfo | None:
    """A meta message read: the object's info, or None when it says the object is deleted."""
    try:
        info = ObjectInfo.from_response(json.loads(data or b""))
    except (ValueError, TypeError, AttributeError) as error:
        raise ContentCorruptedError(f"the meta message of {storage_id} is unreadable") from error
    return None if info.deleted else info


def new_info(
    storage_id: str,
    bucket: str,
    stored: StoredContent,
    chunks: int,
    *,
    holder: str,
    chunk_bytes: int,
) -> ObjectInfo:
    """The info of a new object of `chunks` chunks on the subject named after its id, listing
    `holder` ("": none)."""
    kind = stored.kind.value if stored.kind is not None else ""
    # The storage id is the content's SHA-256 (checked by the domain): no second hashing.
    # A tenant's key ends with the storage id: the SHA-256 is its last 64 characters.
    digest = base64.urlsafe_b64encode(bytes.fromhex(storage_id[-64:])).decode()
    headers = {HEADER_KIND: [kind], HEADER_MEDIA_TYPE: [stored.media_type]}
    if holder:
        headers[HEADER_HOLDERS] = [holder]
    return ObjectInfo(
        name=storage_id,
        bucket=bucket,
        nuid=storage_id,
        size=len(stored.content),
        chunks=chunks,
        mtime=_now(),
        digest=f"{_DIGEST_PREFIX}{digest}",
        description=f"{kind} {stored.media_type}".strip(),
        headers=headers,
        options=ObjectMetaOptions(max_chunk_size=chunk_bytes),
    )


def with_holders(info: ObjectInfo, listed: list[str]) -> ObjectInfo:
    """The same object, held by `listed` (none: the header is left out)."""
    headers = {
        name: value for name, value in (info.headers or {}).items() if name != HEADER_HOLDERS
    }
    if listed:
        headers[HEADER_HOLDERS] = listed
    return replace(info, headers=headers, mtime=_now())


def tombstone(storage_id: str, bucket: str) -> ObjectInfo:
    """The info that says the object is deleted (what nats-py's ObjectStore.delete writes)."""
    return ObjectInfo(
        name=storage_id,
        bucket=bucket,
        nuid=storage_id,
        size=0,
        chunks=0,
        mtime=_now(),
        deleted=True,
    )


def encoded(info: ObjectInfo) -> bytes:
    """The meta message's payload."""
    return json.dumps(info.as_dict()).encode()


def _now() -> str:
    return datetime.now(UTC).isoformat()
