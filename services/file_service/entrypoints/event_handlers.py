"""Event handlers: BatchEssaysRegistered tells the File Service which batches exist,
BatchErasureRequested that one is gone, EssayUploadsErased which uploads' essays are gone."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from google.protobuf.message import Message

from huleedu.events.v1 import events_pb2
from services.file_service.adapters.batch_registry import KvBatchRegistry
from services.mesh.consumer import Delivery, Handler, PermanentError

log = logging.getLogger(__name__)
_SHA256 = re.compile(r"[0-9a-f]{64}")
ForgetUploads = Callable[[str, Sequence[tuple[str, str]]], Awaitable[int]]
E = TypeVar("E", bound=Message)


def _batch_event(event: Message, kind: type[E]) -> E:
    """`event` as a `kind` naming a batch; anything else is dead-lettered."""
    if not isinstance(event, kind):
        raise PermanentError(f"expected {kind.__name__}, got {type(event).__name__}")
    if not getattr(event, "batch_id", ""):
        raise PermanentError(f"{kind.__name__} without a batch_id")
    return event


def registration_handler(registry: KvBatchRegistry) -> Handler:
    """The handler that records each registered batch (NATS errors raise, so it is retried)."""

    async def on_batch_registered(event: Message, delivery: Delivery) -> None:
        await registry.record(_batch_event(event, events_pb2.BatchEssaysRegistered))

    return on_batch_registered


def erasure_handler(registry: KvBatchRegistry, forget: Callable[[str], Awaitable[None]]) -> Handler:
    """The handler that erases what the File Service holds of an erased batch. An erasure of some
    essays is ELS's to resolve to uploads: it announces them in EssayUploadsErased."""

    async def on_erasure(event: Message, delivery: Delivery) -> None:
        erasure = _batch_event(event, events_pb2.BatchErasureRequested)
        if erasure.essay_ids:
            return
        registry.forget(erasure.batch_id)
        await forget(erasure.batch_id)

    return on_erasure


def uploads_erased_handler(forget: ForgetUploads) -> Handler:
    """The handler that forgets the uploads of erased essays (idempotent: see UploadEraser)."""

    async def on_uploads_erased(event: Message, delivery: Delivery) -> None:
        erased = _batch_event(event, events_pb2.EssayUploadsErased)
        for upload in erased.uploads:
            if not _SHA256.fullmatch(upload.content_sha256) or not upload.file_upload_id:
                raise PermanentError(
                    "EssayUploadsErased names an upload without a lowercase hex SHA-256 and an "
                    f"upload id (content_sha256 {upload.content_sha256[:80]!r})"
                )
        uploads = [(u.content_sha256, u.file_upload_id) for u in erased.uploads]
        records = await forget(erased.batch_id, uploads)
        log.info(
            "erased essays' uploads forgotten",
            extra={"batch_id": erased.batch_id, "uploads": len(uploads), "records": records},
        )

    return on_uploads_erased
