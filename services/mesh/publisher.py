"""The one publisher: every event goes out with its id, type and correlation in headers, and
is not done until JetStream has acknowledged it."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from google.protobuf.message import Message
from nats.js import JetStreamContext

from huleedu.common.v1 import common_pb2
from services.mesh import subjects, tracing
from services.mesh.atomic_batch import Outgoing, Stored, TurnBatcher
from services.mesh.nats_internals import connection_of
from services.mesh.storage_health import storage_health
from services.mesh.streams import EVENTS_STREAM

log = logging.getLogger(__name__)

HEADER_MSG_ID = "Nats-Msg-Id"
HEADER_TYPE = "Huleedu-Type"
HEADER_CORRELATION = "Huleedu-Correlation-Id"


@dataclass(frozen=True)
class PublishResult:
    """Where JetStream stored the event, and whether it was a duplicate of one already stored."""

    stream: str
    seq: int
    duplicate: bool


def event_headers(event: Message) -> dict[str, str]:
    """The headers every event carries, taken from its metadata."""
    metadata: common_pb2.EventMetadata = getattr(event, "metadata")  # noqa: B009
    if not metadata.event_id:
        raise ValueError(f"{type(event).__name__} has no metadata.event_id")
    return {
        HEADER_MSG_ID: metadata.event_id,
        HEADER_TYPE: event.DESCRIPTOR.full_name,
        HEADER_CORRELATION: metadata.correlation_id,
    }


class EventPublisher:
    """Publishes protobuf events to the event stream and waits for the PubAck.

    Events published in the same turn of the event loop are stored together, as one atomic
    batch when there are enough of them (services.mesh.atomic_batch.TurnBatcher): one commit
    instead of one fsync and one ack each.
    """

    def __init__(self, js: JetStreamContext, producer: str) -> None:
        self._js = js
        self.producer = producer
        self._batcher = TurnBatcher(connection_of(js), self._publish_one, _batch_result)

    async def publish(
        self,
        event: Message,
        *,
        subject: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> PublishResult:
        """Publish `event`; a second publish with the same event id is reported as duplicate."""
        all_headers = event_headers(event)
        if headers:
            all_headers.update(headers)
        tracing.inject(all_headers)
        target = subject or subjects.subject_for(event)
        result = await self._batcher.store(Outgoing(target, event.SerializeToString(), all_headers))
        if result.duplicate:
            log.info(
                "duplicate event dropped by JetStream",
                extra={"subject": target, "event_id": all_headers[HEADER_MSG_ID]},
            )
        return result

    async def _publish_one(self, message: Outgoing) -> PublishResult:
        with storage_health(self._js).watch(EVENTS_STREAM):
            ack = await self._js.publish(
                message.subject, message.payload, headers=dict(message.headers)
            )
        return PublishResult(stream=ack.stream, seq=ack.seq, duplicate=bool(ack.duplicate))


def _batch_result(where: Stored) -> PublishResult:
    return PublishResult(stream=where.stream, seq=where.seq, duplicate=False)
