"""The Content Service as the File Service's content store (over the mesh ContentClient)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from huleedu.common.v1 import common_pb2
from services.mesh.batching import CallBatcher
from services.mesh.content_client import ContentClient

TEXT_MEDIA_TYPE = "text/plain; charset=utf-8"
# Uploads stored within this long of each other go in one BatchPutContent call (the files of an
# UploadFiles stream come out of extraction a fraction of a millisecond apart): one call, and one
# commit on the Content Service's side, for a dozen files instead of one each.
PUT_WINDOW_S = 0.005
MAX_UPLOADS_PER_CALL = 32  # two items each at most: within BatchPutContent's 100

Item = tuple[bytes, common_pb2.ContentKind.ValueType, str]


@dataclass(frozen=True)
class _Upload:
    content: bytes
    media_type: str
    text: str | None
    tenant: str
    batch_id: str  # holds the contents (EraseContent releases them)

    def items(self) -> list[Item]:
        """What to store: the raw bytes, and the text unless it is those very bytes."""
        raw: Item = (self.content, common_pb2.CONTENT_KIND_RAW_UPLOAD, self.media_type)
        encoded = None if self.text is None else self.text.encode("utf-8")
        if encoded is None or encoded == self.content:
            return [raw]
        return [raw, (encoded, common_pb2.CONTENT_KIND_EXTRACTED_TEXT, TEXT_MEDIA_TYPE)]

    def ids(self, stored: Sequence[str]) -> tuple[str, str]:
        """(raw id, text id) from the storage ids of `items()`."""
        if self.text is None:
            return stored[0], ""
        return stored[0], stored[-1]


class GrpcContentStore:
    """Stores raw uploads and extracted text in the Content Service: the uploads of a few
    milliseconds in one call."""

    def __init__(self, client: ContentClient, *, window_s: float = PUT_WINDOW_S) -> None:
        self._client = client
        self._uploads = CallBatcher(
            self._put_all, window_s=window_s, max_items=MAX_UPLOADS_PER_CALL
        )

    async def put_upload(
        self, content: bytes, media_type: str, text: str | None, *, tenant: str, batch_id: str
    ) -> tuple[str, str]:
        """Store the upload's bytes as RAW_UPLOAD and its text as EXTRACTED_TEXT. A text whose
        UTF-8 is the upload's bytes (a plain-text essay) has the same storage id: it is stored
        once, as the upload, and read back under that id (content is addressed by its bytes)."""
        return await self._uploads.call(_Upload(content, media_type, text, tenant, batch_id))

    async def _put_all(self, uploads: Sequence[_Upload]) -> list[tuple[str, str]]:
        """One BatchPutContent per batch among `uploads` (almost always one)."""
        batches = list(dict.fromkeys((upload.tenant, upload.batch_id) for upload in uploads))
        answers: dict[int, tuple[str, str]] = {}
        for tenant, batch_id in batches:
            mine = [
                (n, u)
                for n, u in enumerate(uploads)
                if (u.tenant, u.batch_id) == (tenant, batch_id)
            ]
            items = [upload.items() for _, upload in mine]
            stored = await self._client.put_many(
                [item for group in items for item in group], tenant=tenant, holder=batch_id
            )
            for (n, upload), group in zip(mine, items, strict=True):
                answers[n] = upload.ids(stored[: len(group)])
                stored = stored[len(group) :]
        return [answers[n] for n in range(len(uploads))]
