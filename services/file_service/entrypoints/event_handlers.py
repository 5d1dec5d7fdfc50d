"""Event handlers: BatchEssaysRegistered tells the File Service which batches exist, and
BatchErasureRequested that one is gone."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from google.protobuf.message import Message

from huleedu.events.v1 import events_pb2
from services.file_service.adapters.batch_registry import KvBatchRegistry
from services.mesh.consumer import Delivery, Handler, PermanentError


def registration_handler(registry: KvBatchRegistry) -> Handler:
    """The handler that records each registered batch (NATS errors raise, so it is retried)."""

    async def on_batch_registered(event: Message, delivery: Delivery) -> None:
        if not isinstance(event, events_pb2.BatchEssaysRegistered):
            raise PermanentError(f"expected BatchEssaysRegistered, got {type(event).__name__}")
        if not event.batch_id:
            raise PermanentError("BatchEssaysRegistered without a batch_id")
        await registry.record(event)

    return on_batch_registered


def erasure_handler(registry: KvBatchRegistry, forget: Callable[[str], Awaitable[None]]) -> Handler:
    """The handler that erases what the File Service holds of an erased batch. An erasure of some
    essays only leaves the upload records (their names and ids), which ELS's slots no longer
    point at."""

    async def on_erasure(event: Message, delivery: Delivery) -> None:
        if not isinstance(event, events_pb2.BatchErasureRequested):
            raise PermanentError(f"expected BatchErasureRequested, got {type(event).__name__}")
        if not event.batch_id:
            raise PermanentError("BatchErasureRequested without a batch_id")
        if event.essay_ids:
            return
        registry.forget(event.batch_id)
        await forget(event.batch_id)

    return on_erasure
