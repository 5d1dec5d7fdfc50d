"""The Content Service as the File Service's content store (over the mesh ContentClient)."""

from __future__ import annotations

from huleedu.common.v1 import common_pb2
from services.mesh.content_client import ContentClient

TEXT_MEDIA_TYPE = "text/plain; charset=utf-8"


class GrpcContentStore:
    """Stores raw uploads and extracted text in the Content Service."""

    def __init__(self, client: ContentClient) -> None:
        self._client = client

    async def put_raw(self, content: bytes, media_type: str) -> str:
        """Store an upload's bytes as RAW_UPLOAD."""
        return await self._client.put(content, common_pb2.CONTENT_KIND_RAW_UPLOAD, media_type)

    async def put_text(self, text: str) -> str:
        """Store extracted text as EXTRACTED_TEXT (UTF-8)."""
        return await self._client.put(
            text.encode("utf-8"), common_pb2.CONTENT_KIND_EXTRACTED_TEXT, TEXT_MEDIA_TYPE
        )
