"""Content objects in the JetStream Object Store bucket `content`: the object name is the
storage id; kind and media type are object headers."""

from __future__ import annotations

from nats.js.api import ObjectMeta
from nats.js.errors import ObjectDeletedError, ObjectNotFoundError
from nats.js.object_store import ObjectStore

from services.content_service.domain.content import DEFAULT_MEDIA_TYPE, ContentKind, StoredContent

CONTENT_BUCKET = "content"
HEADER_KIND = "Huleedu-Content-Kind"
HEADER_MEDIA_TYPE = "Huleedu-Media-Type"


def _header(headers: dict[str, object] | None, name: str) -> str:
    # Headers are stored the way the Go client writes them: name -> list of values.
    value = (headers or {}).get(name)
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return "" if value is None else str(value)


class ObjectStoreRepository:
    """A content repository on a JetStream Object Store bucket."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    async def exists(self, storage_id: str) -> bool:
        """True when a live object is stored under the id."""
        try:
            await self._store.get_info(storage_id)
        except (ObjectNotFoundError, ObjectDeletedError):
            return False
        return True

    async def put(self, storage_id: str, stored: StoredContent) -> None:
        """Store the bytes, waiting for JetStream to acknowledge every chunk."""
        kind = stored.kind.value if stored.kind is not None else ""
        meta = ObjectMeta(
            name=storage_id,
            description=f"{kind} {stored.media_type}".strip(),
            headers={
                HEADER_KIND: [kind],
                HEADER_MEDIA_TYPE: [stored.media_type],
            },
        )
        await self._store.put(storage_id, stored.content, meta=meta)

    async def get(self, storage_id: str) -> StoredContent | None:
        """The object under the id (the client checks the chunks' digest), or None."""
        try:
            result = await self._store.get(storage_id)
        except (ObjectNotFoundError, ObjectDeletedError):
            return None
        headers = result.info.headers
        kind = _header(headers, HEADER_KIND)
        return StoredContent(
            content=bytes(result.data or b""),
            kind=ContentKind(kind) if kind in ContentKind.__members__ else None,
            media_type=_header(headers, HEADER_MEDIA_TYPE) or DEFAULT_MEDIA_TYPE,
        )
