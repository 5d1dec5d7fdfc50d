"""A SpellcheckGroupCompleted, applied as its essays' one-essay results would be: each result
takes the event id its one-essay completion would have had (from the request's id), so a group
delivered twice, or an essay reported again in another completion, is recorded once."""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.timestamp_pb2 import Timestamp

from huleedu.common.v1 import common_pb2
from huleedu.events.v1 import events_pb2
from services.essay_lifecycle.domain import erasure, phases
from services.essay_lifecycle.domain.tracker import BatchTracker, Change
from services.essay_lifecycle.domain.transitions import RefusedTransition
from services.mesh.event_ids import derived_event_id


def essay_results(
    event: events_pb2.SpellcheckGroupCompleted,
) -> list[events_pb2.EssaySpellcheckCompleted]:
    """Each essay's outcome as the EssaySpellcheckCompleted the Spell Checker would have sent
    for a one-essay request with the group request's id."""
    request_id = event.metadata.causation_id
    results = []
    for item in event.results:
        metadata = common_pb2.EventMetadata()
        metadata.CopyFrom(event.metadata)
        metadata.event_id = derived_event_id(
            event.batch_id, item.essay_id, request_id, "spellcheck_completed"
        )
        # A result's fields are EssaySpellcheckCompleted's, by name (events.proto says so).
        fields = {field.name: getattr(item, field.name) for field in item.DESCRIPTOR.fields}
        results.append(
            events_pb2.EssaySpellcheckCompleted(
                metadata=metadata, batch_id=event.batch_id, **fields
            )
        )
    return results


def apply_group_results(
    tracker: BatchTracker | None,
    results: Sequence[events_pb2.EssaySpellcheckCompleted],
    now: Timestamp,
) -> Change:
    """Record each result; what a result stored for an erased batch or essay is held for erasure
    instead (erasure.late_contents), as for a one-essay result."""
    refused: list[RefusedTransition] = []
    held: list[str] = []
    changed = False
    for result in results:
        doomed = None if tracker is None else erasure.late_contents(tracker, result)
        if doomed is not None:
            held.extend(doomed)
            continue
        change = phases.apply_spellcheck_result(tracker, result, now)
        refused.extend(change.refused)
        if change.tracker is not None:
            tracker, changed = change.tracker, True
    if held and tracker is not None:
        holding = erasure.hold_for_erasure(tracker, held)
        if holding.tracker is not None:
            tracker, changed = holding.tracker, True
    return Change(tracker if changed else None, tuple(refused))
