"""Event ids and metadata: pure functions, so that domain code can derive ids without importing
the publisher (and with it nats)."""

from __future__ import annotations

import uuid

from huleedu.common.v1 import common_pb2

_EVENT_ID_NAMESPACE = uuid.UUID("8a5c2f0e-6b1d-4c3e-9f47-2d1e0b9a7c55")


def derived_event_id(*parts: str) -> str:
    """A deterministic event id for an event derived from `parts` (e.g. batch id + "ready")."""
    return str(uuid.uuid5(_EVENT_ID_NAMESPACE, "\x1f".join(parts)))


def new_metadata(
    producer: str,
    *,
    correlation_id: str,
    causation_id: str = "",
    event_id: str | None = None,
) -> common_pb2.EventMetadata:
    """Metadata for a new event; a random event id unless a deterministic one is given."""
    metadata = common_pb2.EventMetadata(
        event_id=event_id or str(uuid.uuid4()),
        correlation_id=correlation_id,
        causation_id=causation_id,
        producer=producer,
    )
    metadata.occurred_at.GetCurrentTime()
    return metadata
