"""Event handlers: BatchEssaysRegistered tells the File Service which batches exist."""

from __future__ import annotations

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
