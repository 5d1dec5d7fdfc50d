"""Subjects of the event stream and the protobuf type each one carries."""

from __future__ import annotations

from google.protobuf.message import Message

from huleedu.events.v1 import events_pb2

BATCH_ESSAYS_REGISTERED = "huleedu.batch.essays_registered.v1"
ESSAY_CONTENT_PROVISIONED = "huleedu.file.essay_content_provisioned.v1"
ESSAY_VALIDATION_FAILED = "huleedu.file.essay_validation_failed.v1"
BATCH_ESSAYS_READY = "huleedu.els.batch_essays_ready.v1"
BATCH_READINESS_TIMED_OUT = "huleedu.els.batch_readiness_timed_out.v1"
EXCESS_CONTENT_PROVISIONED = "huleedu.els.excess_content_provisioned.v1"
BATCH_SPELLCHECK_INITIATE = "huleedu.bos.batch_spellcheck_initiate.v1"
ESSAY_SPELLCHECK_REQUESTED = "huleedu.els.essay_spellcheck_requested.v1"
ESSAY_SPELLCHECK_COMPLETED = "huleedu.spellcheck.essay_spellcheck_completed.v1"
SPELLCHECK_GROUP_REQUESTED = "huleedu.els.spellcheck_group_requested.v1"
SPELLCHECK_GROUP_COMPLETED = "huleedu.spellcheck.spellcheck_group_completed.v1"
BATCH_PHASE_OUTCOME = "huleedu.els.batch_phase_outcome.v1"
BATCH_READINESS_DEADLINE = "huleedu.els.batch_readiness_deadline.v1"
BATCH_ERASURE_REQUESTED = "huleedu.bos.batch_erasure_requested.v1"
ESSAY_UPLOADS_ERASED = "huleedu.els.essay_uploads_erased.v1"
# Deadline schedules live under this prefix, one subject per batch (the server keeps one schedule
# per subject); at the scheduled time it stores the message on BATCH_READINESS_DEADLINE.
BATCH_READINESS_DEADLINE_SCHEDULE = "huleedu.els.batch_readiness_deadline_schedule.v1"

EVENTS_SUBJECTS = "huleedu.>"
DLQ_PREFIX = "dlq."
# The audit log's subjects (stream HULEEDU_AUDIT, services.mesh.audit): outside `huleedu.>`, which
# the event stream holds.
AUDIT_PREFIX = "audit.huleedu.v1."

SUBJECT_BY_TYPE: dict[type[Message], str] = {
    events_pb2.BatchEssaysRegistered: BATCH_ESSAYS_REGISTERED,
    events_pb2.EssayContentProvisioned: ESSAY_CONTENT_PROVISIONED,
    events_pb2.EssayValidationFailed: ESSAY_VALIDATION_FAILED,
    events_pb2.BatchEssaysReady: BATCH_ESSAYS_READY,
    events_pb2.BatchReadinessTimedOut: BATCH_READINESS_TIMED_OUT,
    events_pb2.ExcessContentProvisioned: EXCESS_CONTENT_PROVISIONED,
    events_pb2.BatchSpellcheckInitiateCommand: BATCH_SPELLCHECK_INITIATE,
    events_pb2.EssayLifecycleSpellcheckRequest: ESSAY_SPELLCHECK_REQUESTED,
    events_pb2.EssaySpellcheckCompleted: ESSAY_SPELLCHECK_COMPLETED,
    events_pb2.SpellcheckGroupRequested: SPELLCHECK_GROUP_REQUESTED,
    events_pb2.SpellcheckGroupCompleted: SPELLCHECK_GROUP_COMPLETED,
    events_pb2.ELSBatchPhaseOutcome: BATCH_PHASE_OUTCOME,
    events_pb2.BatchReadinessDeadlineReached: BATCH_READINESS_DEADLINE,
    events_pb2.BatchErasureRequested: BATCH_ERASURE_REQUESTED,
    events_pb2.EssayUploadsErased: ESSAY_UPLOADS_ERASED,
}
MESH_SUBJECTS = frozenset(SUBJECT_BY_TYPE.values())
_TYPE_BY_NAME: dict[str, type[Message]] = {
    message_type.DESCRIPTOR.full_name: message_type for message_type in SUBJECT_BY_TYPE
}


def subject_for(event: Message) -> str:
    """The subject an event of this type is published on."""
    try:
        return SUBJECT_BY_TYPE[type(event)]
    except KeyError:
        raise ValueError(f"{type(event).__name__} is not an event of the mesh") from None


def message_type_for(type_name: str) -> type[Message] | None:
    """The protobuf class for a `Huleedu-Type` header value, or None if unknown."""
    return _TYPE_BY_NAME.get(type_name)


def dlq_subject(subject: str) -> str:
    """The DLQ subject for a message that arrived on `subject`."""
    return f"{DLQ_PREFIX}{subject}"
