"""Event handlers: apply the event to the batch's tracker by compare-and-set, then publish what
the tracker says the event derived. A redelivered event changes nothing and publishes the same
events again, with the same ids."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from huleedu.common.v1 import common_pb2
from huleedu.events.v1 import events_pb2
from services.essay_lifecycle.domain import (
    derived,
    erasure,
    group_results,
    phases,
    readiness,
    slots,
)
from services.essay_lifecycle.domain.errors import InvalidEventError
from services.essay_lifecycle.domain.ports import (
    BatchTracker,
    ContentEraser,
    DeadlineScheduler,
    EssayIndex,
    EventPublisher,
    TrackerRepository,
)
from services.essay_lifecycle.domain.tracker import Change, is_open, require_id
from services.essay_lifecycle.domain.transitions import RefusedTransition
from services.mesh.consumer import Delivery, Handler, PermanentError

log = logging.getLogger(__name__)

Step = Callable[[BatchTracker | None], Change]
UploadObserver = Callable[[BatchTracker, str], None]


def _ignore(_tracker: BatchTracker, _event_id: str) -> None:
    return None


def _now() -> Timestamp:
    now = Timestamp()
    now.GetCurrentTime()
    return now


class EssayLifecycleHandlers:
    """The handlers of every event ELS consumes."""

    def __init__(
        self,
        trackers: TrackerRepository,
        essays: EssayIndex,
        publisher: EventPublisher,
        deadlines: DeadlineScheduler,
        contents: ContentEraser,
        *,
        rules: slots.ReadinessRules,
        clock: Callable[[], Timestamp] = _now,
        on_upload: UploadObserver = _ignore,
        on_registered: UploadObserver = _ignore,
        spellcheck_group_size: int = derived.SPELLCHECK_GROUP_SIZE,
    ) -> None:
        self._trackers = trackers
        self._essays = essays
        self._publisher = publisher
        self._deadlines = deadlines
        self._contents = contents
        self._rules = rules
        self._clock = clock
        self._on_upload = on_upload  # metrics: what became of an upload
        self._on_registered = on_registered
        self._group_size = spellcheck_group_size

    def handlers(self) -> Mapping[type[Message], Handler]:
        """The handler of each event type, for the consumer runner."""
        routes: dict[type[Message], Callable[[Any, Delivery], Awaitable[None]]] = {
            events_pb2.BatchEssaysRegistered: lambda e, _: self.on_batch_registered(e),
            events_pb2.EssayContentProvisioned: lambda e, d: self.on_upload(e, d.stream_seq),
            events_pb2.EssayValidationFailed: lambda e, d: self.on_upload(e, d.stream_seq),
            events_pb2.BatchReadinessDeadlineReached: lambda e, _: self.on_deadline(e),
            events_pb2.BatchSpellcheckInitiateCommand: lambda e, _: self.on_spellcheck_command(e),
            events_pb2.SpellcheckGroupCompleted: lambda e, _: self.on_spellcheck_group_completed(e),
            events_pb2.EssaySpellcheckCompleted: lambda e, _: self.on_spellcheck_completed(e),
            events_pb2.BatchErasureRequested: lambda e, _: self.on_erasure_requested(e),
        }
        return {event_type: _at_the_edge(handler) for event_type, handler in routes.items()}

    async def on_batch_registered(self, event: events_pb2.BatchEssaysRegistered) -> None:
        """Create the slots, assign held uploads, schedule the deadline."""
        now = self._clock()
        tracker = await self._apply(
            event.batch_id, lambda t: slots.apply_registration(t, event, self._rules, now)
        )
        if tracker is None or not tracker.registered or tracker.erased:
            return
        self._on_registered(tracker, event.metadata.event_id)
        await self._essays.add(tracker.batch_id, [s.essay.essay_id for s in tracker.slots])
        if is_open(tracker):
            await self._deadlines.schedule(derived.deadline_reached(tracker, now), tracker.deadline)
        await self._publish(derived.readiness_events(tracker, event.metadata.event_id, now))

    async def on_upload(
        self,
        event: events_pb2.EssayContentProvisioned | events_pb2.EssayValidationFailed,
        stream_sequence: int = 0,
    ) -> None:
        """Assign the upload to a slot, report it as excess, or hold it until registration."""
        now = self._clock()
        upload = slots.upload_of(event, stream_sequence)
        tracker = await self._apply(
            event.batch_id, lambda t: slots.apply_upload(t, upload, now), late=event
        )
        if tracker is not None and not tracker.erased:
            self._on_upload(tracker, event.metadata.event_id)
            await self._publish(derived.readiness_events(tracker, event.metadata.event_id, now))

    async def on_deadline(self, event: events_pb2.BatchReadinessDeadlineReached) -> None:
        """Close a batch still open at its deadline: partially ready or timed out."""
        now = self._clock()
        tracker = await self._apply(
            event.batch_id, lambda t: readiness.apply_deadline(t, event, now)
        )
        if tracker is None:
            log.warning("deadline of a batch ELS does not know; ignored")
            return
        if tracker.erased:
            return
        await self._publish(derived.readiness_events(tracker, event.metadata.event_id, now))

    async def on_spellcheck_command(self, event: events_pb2.BatchSpellcheckInitiateCommand) -> None:
        """Send the ready essays to the spell checker, in groups (derived.spellcheck_requests)."""
        now = self._clock()
        tracker = await self._apply(
            event.batch_id, lambda t: phases.apply_spellcheck_command(t, event, now)
        )
        assert tracker is not None  # the domain refuses unknown batches
        if tracker.erased:
            return
        progress = phases.find_phase(tracker, common_pb2.Phase.PHASE_SPELLCHECK)
        if progress is None:
            return
        requests: list[Message] = list(
            derived.spellcheck_requests(tracker, progress, now, self._group_size)
        )
        await self._publish(
            requests + derived.events_after_phase_event(tracker, event.metadata.event_id, now)
        )

    async def on_spellcheck_completed(self, event: events_pb2.EssaySpellcheckCompleted) -> None:
        """Record the essay's result; publish the phase outcome when it was the last one."""
        now = self._clock()
        tracker = await self._apply(
            event.batch_id, lambda t: phases.apply_spellcheck_result(t, event, now), late=event
        )
        if tracker is None or tracker.erased:
            return  # an erased batch or essay: what the result stored was erased instead
        await self._publish(derived.events_after_phase_event(tracker, event.metadata.event_id, now))

    async def on_spellcheck_group_completed(
        self, event: events_pb2.SpellcheckGroupCompleted
    ) -> None:
        """Record the group's results in one update; publish the phase outcome when one of them
        was the phase's last."""
        now = self._clock()
        results = group_results.essay_results(event)
        tracker = await self._apply(
            event.batch_id, lambda t: group_results.apply_group_results(t, results, now)
        )
        if tracker is None:
            return
        await self._erase_pending(tracker)  # what results stored for erased essays, if any
        if tracker.erased:
            return
        await self._publish(
            [
                outcome
                for result in results
                for outcome in derived.events_after_phase_event(
                    tracker, result.metadata.event_id, now
                )
            ]
        )

    async def on_erasure_requested(self, event: events_pb2.BatchErasureRequested) -> None:
        """Erase the batch (or its essays named): their contents, through the Content Service,
        and what ELS holds of them; the batch's tracker becomes a tombstone. The erased essays'
        uploads are announced (EssayUploadsErased) for the File Service to forget."""
        now = self._clock()
        require_id(event.batch_id, "batch_id")
        if event.essay_ids:
            tracker = await self._apply(
                event.batch_id, lambda t: erasure.erase_essays(t, event, now)
            )
            essay_ids = list(event.essay_ids)
        else:
            essay_ids = []

            def bury(doc: BatchTracker | None) -> Change:
                nonlocal essay_ids  # the essays of the tracker the tombstone replaces
                essay_ids = [] if doc is None else [s.essay.essay_id for s in doc.slots]
                return Change(erasure.tombstone(doc, event))

            tracker = await self._apply(event.batch_id, bury)
        if tracker is None:
            return
        await self._essays.erase(event.batch_id, essay_ids, whole_batch=not event.essay_ids)
        await self._announce_erased_uploads(tracker, event.metadata.event_id, now)
        await self._erase_pending(tracker)
        if not tracker.erased:
            await self._publish(
                derived.events_after_phase_event(tracker, event.metadata.event_id, now)
            )

    async def _announce_erased_uploads(
        self, tracker: BatchTracker, causation_id: str, now: Timestamp
    ) -> None:
        """Publish the erased uploads waiting in the tracker, then mark them announced."""
        announcement = derived.uploads_erased(tracker, causation_id, now)
        if announcement is None:
            return
        uploads = list(announcement.uploads)
        await self._publish([announcement])
        await self._apply(tracker.batch_id, lambda t: erasure.uploads_announced(t, uploads))

    async def _erase_pending(self, tracker: BatchTracker) -> None:
        """Erase the tracker's pending contents, then mark them done."""
        pending = list(tracker.pending_erasure)
        if not pending:
            return
        await self._contents.erase(pending, tenant=tracker.tenant_id, holder=tracker.batch_id)
        await self._apply(tracker.batch_id, lambda t: erasure.erased_done(t, pending))
        log.info("contents erased", extra={"batch_id": tracker.batch_id, "contents": len(pending)})

    async def _apply(
        self,
        batch_id: str,
        step: Step,
        *,
        late: events_pb2.EssayContentProvisioned
        | events_pb2.EssayValidationFailed
        | events_pb2.EssaySpellcheckCompleted
        | None = None,
    ) -> BatchTracker | None:
        """Apply `step` by compare-and-set. With `late`, an event that may come after its batch or
        essay was erased: then what it stored is erased instead of applied."""
        require_id(batch_id, "batch_id")
        refused: tuple[RefusedTransition, ...] = ()
        erasing = False

        def mutate(doc: BatchTracker | None) -> BatchTracker | None:
            nonlocal refused, erasing
            doomed = None if late is None or doc is None else erasure.late_contents(doc, late)
            erasing = doomed is not None
            change = (
                erasure.hold_for_erasure(doc, doomed) if doc and doomed is not None else step(doc)
            )
            refused = change.refused
            return change.tracker

        tracker = await self._trackers.update(batch_id, mutate)
        for refusal in refused:
            log.warning("transition refused: %s", refusal.describe())
        if erasing and tracker is not None:
            await self._erase_pending(tracker)
            if not tracker.erased:  # an erased essay's late result: nothing else to do
                return None
        return tracker

    async def _publish(self, events: Sequence[Message]) -> None:
        if events:
            await asyncio.gather(*(self._publisher.publish(event) for event in events))


def _at_the_edge(handler: Callable[[Any, Delivery], Awaitable[None]]) -> Handler:
    """Adapt a handler to the consumer runner; a domain refusal becomes a DLQ'd PermanentError."""

    async def run(event: Message, delivery: Delivery) -> None:
        try:
            await handler(event, delivery)
        except InvalidEventError as error:
            raise PermanentError(str(error)) from error

    return run
