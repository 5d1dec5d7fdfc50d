"""Announces an upload record as EssayContentProvisioned or EssayValidationFailed."""

from __future__ import annotations

from google.protobuf.message import Message

from huleedu.common.v1 import common_pb2
from huleedu.events.v1 import events_pb2
from services.file_service.domain.uploads import UploadRecord
from services.mesh.publisher import EventPublisher

PRODUCER = "file_service"


def outcome_event(record: UploadRecord) -> Message:
    """The event for a record; the same record always gives the same event (id, time, fields)."""
    metadata = common_pb2.EventMetadata(
        event_id=record.event_id,
        correlation_id=record.correlation_id,
        producer=PRODUCER,
    )
    metadata.occurred_at.FromMilliseconds(record.occurred_at_ms)
    if record.rejection is None:
        return events_pb2.EssayContentProvisioned(
            metadata=metadata,
            batch_id=record.batch_id,
            file_upload_id=record.file_upload_id,
            original_file_name=record.file_name,
            raw_storage_id=record.raw_storage_id,
            text_storage_id=record.text_storage_id,
            content_md5=record.content_md5,
            content_sha256=record.content_sha256,
            file_size_bytes=record.file_size_bytes,
            word_count=record.word_count,
        )
    return events_pb2.EssayValidationFailed(
        metadata=metadata,
        batch_id=record.batch_id,
        file_upload_id=record.file_upload_id,
        original_file_name=record.file_name,
        error_code=common_pb2.ValidationErrorCode.Value(
            f"VALIDATION_ERROR_CODE_{record.rejection.value}"
        ),
        detail=record.detail,
        raw_storage_id=record.raw_storage_id,
        content_sha256=record.content_sha256,
        file_size_bytes=record.file_size_bytes,
    )


class JetStreamAnnouncer:
    """Publishes a record's event through the mesh publisher and waits for the PubAck."""

    def __init__(self, publisher: EventPublisher) -> None:
        self._publisher = publisher

    async def announce(self, record: UploadRecord) -> bool:
        """True when this publish stored the event; False when JetStream dropped a duplicate."""
        result = await self._publisher.publish(outcome_event(record))
        return not result.duplicate
