"""The event publisher of the domain ports, over the mesh's one publisher."""

from __future__ import annotations

import nats.errors
from google.protobuf.message import Message

from services.batch_orchestrator.domain.errors import BackendUnavailable
from services.mesh.publisher import EventPublisher, PublishResult


class JetStreamEventPublisher:
    """Publishes through services.mesh.publisher; NATS failures become BackendUnavailable."""

    def __init__(self, publisher: EventPublisher) -> None:
        self._publisher = publisher

    async def publish(self, event: Message) -> PublishResult:
        """Publish `event` on its subject and wait for JetStream to store it."""
        try:
            return await self._publisher.publish(event)
        except (nats.errors.Error, TimeoutError) as error:
            name = event.DESCRIPTOR.name
            raise BackendUnavailable(
                f"publishing {name}: {type(error).__name__}: {error}"
            ) from error
