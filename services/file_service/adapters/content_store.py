"""The Content Service as the File Service's content store (over the mesh ContentClient)."""

from __future__ import annotations

from huleedu.common.v1 import common_pb2
from services.mesh.content_client import ContentClient

TEXT_MEDIA_TYPE = "text/plain; charset=utf-8"


class GrpcContentStore:
    """Stores raw uploads and extracted text in the Content Service, in one call per upload."""

    def __init__(self, client: ContentClient) -> None:
        self._client = client

    async def put_upload(
        self, content: bytes, media_type: str, text: str | None
    ) -> tuple[str, str]:
        """Store the upload's bytes as RAW_UPLOAD and its text as EXTRACTED_TEXT. A text whose
        UTF-8 is the upload's bytes (a plain-text essay) has the same storage id: it is stored
        once, as the upload, and read back under that id (content is addressed by its bytes)."""
        raw = (content, common_pb2.CONTENT_KIND_RAW_UPLOAD, media_type)
        encoded = None if text is None else text.encode("utf-8")
        if encoded is None or encoded == content:
            raw_id = await self._client.put(*raw)
            return raw_id, "" if encoded is None else raw_id
        raw_id, text_id = await self._client.put_many(
            [raw, (encoded, common_pb2.CONTENT_KIND_EXTRACTED_TEXT, TEXT_MEDIA_TYPE)]
        )
        return raw_id, text_id
