"""RegisterBatch and the announcement of batches whose BatchEssaysRegistered is not yet out.

The batch is stored first, marked "unannounced", then BatchEssaysRegistered is published and the
mark removed. If the publish fails the RPC fails (UNAVAILABLE) but the batch is not lost: the
announcer republishes every marked batch (same event id) at start and every few seconds, so a
stored batch always reaches ELS and, through its readiness deadline, an end state.

A request with a request_id gets ids derived from it, so a retry (or a twin sent at the same
time) tries to store the same batch id: the repository keeps the first, and the retry returns it
if the fields match (announcing it if it still awaits that), or fails with RequestIdReused.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

from huleedu.internal.bos.v1.batch_record_pb2 import BatchRecord
from services.batch_orchestrator.domain.errors import BackendUnavailable, RequestIdReused
from services.batch_orchestrator.domain.ports import BatchRepository, Clock, EventPublisher
from services.batch_orchestrator.domain.publishing import publish_registered
from services.batch_orchestrator.domain.registration import (
    BatchIds,
    BatchRequest,
    Registration,
    RegistrationPolicy,
    ids_for_request,
    new_batch,
    registration_differences,
    validate_registration,
)

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

    async def register(self, request: BatchRequest) -> BatchRecord:
        """Validate, store, then announce a new batch, or return the batch an earlier call with
        the same request_id registered; InvalidRequest, RequestIdReused or BackendUnavailable."""
        registration = validate_registration(request, self._policy)
        ids = self._ids(registration)
        added = await self._repository.add(
            new_batch(
                registration,
                batch_id=ids.batch_id,
                essay_ids=ids.essay_ids,
                correlation_id=ids.correlation_id,
                now=self._clock(),
            )
        )
        batch = added.batch
        context = {"batch_id": batch.batch_id, "expected": registration.expected_essay_count}
        if added.created:
            log.info("batch registered", extra=context)
        else:
            differences = registration_differences(registration, batch)
            if differences:
                raise RequestIdReused(batch.batch_id, differences)
            log.info("batch registered earlier under this request_id", extra=context)
        if added.unannounced:
            try:
                await self._announce(batch)
            except BackendUnavailable as error:
                retry = (
                    "repeat this request (same request_id) to get it"
                    if registration.request_id
                    else "register again"
                )
                raise BackendUnavailable(
                    f"batch {batch.batch_id} is stored but not yet announced ({error}); BOS will "
                    f"announce it shortly, or {retry}"
                ) from error
        return batch

    def _ids(self, registration: Registration) -> BatchIds:
        if registration.request_id:
            return ids_for_request(
                registration.request_id,
                registration.expected_essay_count,
                registration.tenant_id,
            )
        return BatchIds(
            batch_id=self._new_id(),
            essay_ids=tuple(self._new_id() for _ in range(registration.expected_essay_count)),
            correlation_id=self._new_id(),
        )

    async def _announce(self, batch: BatchRecord) -> None:
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
                # Finishes an add cut off before the index key, so the batch is also listed.
                await self._repository.add(batch)
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
