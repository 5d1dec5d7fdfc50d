"""The one essay state machine: every state change of an essay goes through `transition`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias

from google.protobuf.timestamp_pb2 import Timestamp

from huleedu.common.v1 import common_pb2
from huleedu.essay.v1 import essay_service_pb2

EssayStatus: TypeAlias = common_pb2.EssayStatus.ValueType
S = common_pb2.EssayStatus

# Every allowed change of an essay's state; anything else is refused.
TRANSITIONS: Mapping[EssayStatus, frozenset[EssayStatus]] = {
    S.ESSAY_STATUS_UNSPECIFIED: frozenset({S.ESSAY_STATUS_AWAITING_CONTENT}),
    S.ESSAY_STATUS_AWAITING_CONTENT: frozenset(
        {S.ESSAY_STATUS_READY_FOR_PROCESSING, S.ESSAY_STATUS_VALIDATION_FAILED}
    ),
    S.ESSAY_STATUS_READY_FOR_PROCESSING: frozenset({S.ESSAY_STATUS_AWAITING_SPELLCHECK}),
    S.ESSAY_STATUS_AWAITING_SPELLCHECK: frozenset(
        {S.ESSAY_STATUS_SPELLCHECKED_SUCCESS, S.ESSAY_STATUS_SPELLCHECK_FAILED}
    ),
}

# An erased essay (DeleteEssay) is not a state change but a replacement (domain/erasure.py): it
# leaves the table, and ends whatever phase it was in.
TERMINAL_PHASE_STATES: frozenset[EssayStatus] = frozenset(
    {S.ESSAY_STATUS_SPELLCHECKED_SUCCESS, S.ESSAY_STATUS_SPELLCHECK_FAILED, S.ESSAY_STATUS_ERASED}
)


@dataclass(frozen=True)
class RefusedTransition:
    """A state change that the table does not allow; it was not applied."""

    essay_id: str
    current: EssayStatus
    requested: EssayStatus
    cause: str

    def describe(self) -> str:
        """A sentence for the log."""
        return (
            f"essay {self.essay_id}: {S.Name(self.current)} -> {S.Name(self.requested)} "
            f"is not an allowed transition ({self.cause})"
        )


def is_allowed(current: EssayStatus, requested: EssayStatus) -> bool:
    """True when the table allows `current` -> `requested`."""
    return requested in TRANSITIONS.get(current, frozenset())


def transition(
    essay: essay_service_pb2.Essay,
    requested: EssayStatus,
    at: Timestamp,
    *,
    cause: str,
    reason: str = "",
) -> RefusedTransition | None:
    """Move `essay` to `requested` and add it to the timeline, or refuse and change nothing."""
    if not is_allowed(essay.status, requested):
        return RefusedTransition(essay.essay_id, essay.status, requested, cause)
    essay.status = requested
    change = essay.timeline.add(status=requested, reason=reason)
    change.at.CopyFrom(at)
    return None
