"""RegisterBatch and the announcement of batches whose BatchEssaysRegistered is not yet out.

The batch is stored first, marked "unannounced", then BatchEssaysRegistered is published and the
mark removed. If the publish fails the RPC fails (UNAVAILABLE) but the batch is not lost: the
announcer republishes every marked batch (same event id) at start and every few seconds, so a
stored batch always reaches ELS and, through its readiness deadline, an end state.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

from huleedu.batch.v1.batch_service_pb2 import Batch
from services.batch_orchestrator.domain.errors import BackendUnavailable
from services.batch_orchestrator.domain.ports import BatchRepository, Clock, EventPublisher
from services.batch_orchestrator.domain.registration import (
    BatchRequest,
    RegistrationPolicy,
    new_batch,
    validate_registration,
)
from services.batch_orchestrator.service_layer.publishing import publish_registered

log = logging.getLogger(__name__)

# A mark this old without a batch belongs to a registration that failed before storing it.
ABANDONED_MARK_S = 60.0


def _new_uuid() -> str:
    return str(uuid.uuid4())


class BatchRegistrar:
    """Registers batches and makes sure each one is announced."""

    def __init__(
        self,
        repository: BatchRepository,
        publisher: EventPublisher,
        policy: RegistrationPolicy,
        *,
        clock: Clock,
        new_id: Callable[[], str] = _new_uuid,
        announce_grace_s: float = 5.0,
    ) -> None:
        self._repository = repository
        self._publisher = publisher
        self._policy = policy
        self._clock = clock
        self._new_id = new_id
        # A registration younger than this is probably still publishing; leave it to its RPC.
        self._announce_grace_s = announce_grace_s

    async def register(self, request: BatchRequest) -> Batch:
        """Validate, store, then announce a new batch; InvalidRequest or BackendUnavailable."""
        registration = validate_registration(request, self._policy)
        batch = new_batch(
            registration,
            batch_id=self._new_id(),
            essay_ids=[self._new_id() for _ in range(registration.expected_essay_count)],
            correlation_id=self._new_id(),
            now=self._clock(),
        )
        await self._repository.add(batch)
        log.info(
            "batch registered",
            extra={"batch_id": batch.batch_id, "expected": registration.expected_essay_count},
        )
        try:
            await self._announce(batch)
        except BackendUnavailable as error:
            raise BackendUnavailable(
                f"batch {batch.batch_id} is stored but not yet announced ({error}); BOS will "
                "announce it shortly, or register again"
            ) from error
        return batch

    async def _announce(self, batch: Batch) -> None:
        await publish_registered(self._publisher, batch)
        await self._repository.mark_announced(batch.batch_id)

    async def announce_pending(self) -> int:
        """Publish BatchEssaysRegistered for every stored batch not yet announced."""
        announced = 0
        for pending in await self._repository.unannounced():
            if pending.age_s < self._announce_grace_s:
                continue
            batch = await self._repository.get(pending.batch_id)
            if batch is not None:
                await self._announce(batch)
                announced += 1
                log.warning(
                    "announced a batch its RegisterBatch left unannounced",
                    extra={"batch_id": pending.batch_id},
                )
            elif pending.age_s >= ABANDONED_MARK_S:
                await self._repository.mark_announced(pending.batch_id)
        return announced

    async def run_announcer(self, interval_s: float) -> None:
        """Announce pending batches now and every `interval_s` until cancelled."""
        while True:
            try:
                await self.announce_pending()
            except BackendUnavailable as error:
                log.warning("announcing pending batches failed; will retry: %s", error)
            except Exception:
                # A bug must not end the loop that keeps stored batches from hanging.
                log.exception("announcing pending batches failed; will retry")
            await asyncio.sleep(interval_s)
