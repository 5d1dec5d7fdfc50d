"""Durable deadlines with JetStream message schedules: the schedule is a stored message, so the
deadline fires while ELS is down (ELS's durable consumer sees it when it returns), and fires once
however many ELS instances share the consumer."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC

from google.protobuf.timestamp_pb2 import Timestamp

from huleedu.events.v1 import events_pb2
from services.essay_lifecycle.domain.ports import EventPublisher
from services.mesh import subjects

HEADER_SCHEDULE = "Nats-Schedule"
HEADER_SCHEDULE_TARGET = "Nats-Schedule-Target"
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def schedule_subject(batch_id: str) -> str:
    """The batch's own schedule subject: the server keeps one schedule per subject (a new one
    replaces the old), so batches must not share one."""
    token = batch_id if _TOKEN_RE.match(batch_id) else hashlib.sha256(batch_id.encode()).hexdigest()
    return f"{subjects.BATCH_READINESS_DEADLINE_SCHEDULE}.{token}"


def schedule_header(at: Timestamp) -> str:
    """`@at <RFC 3339 UTC>` with milliseconds; a time in the past fires at once."""
    moment = at.ToDatetime(tzinfo=UTC)
    return "@at " + moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JetStreamDeadlineScheduler:
    """Publishes the deadline event as a schedule that targets the deadline subject."""

    def __init__(self, publisher: EventPublisher) -> None:
        self._publisher = publisher

    async def schedule(
        self, event: events_pb2.BatchReadinessDeadlineReached, at: Timestamp
    ) -> None:
        """Store the schedule; re-publishing it (same event id) is dropped or replaces it."""
        await self._publisher.publish(
            event,
            subject=schedule_subject(event.batch_id),
            headers={
                HEADER_SCHEDULE: schedule_header(at),
                HEADER_SCHEDULE_TARGET: subjects.BATCH_READINESS_DEADLINE,
            },
        )
