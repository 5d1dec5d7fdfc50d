"""The poison catalogue of test_poison_events.py (no tests here): which consumers read each
subject, the ways a message is spoiled, what each subject × case × consumer must come to (the DLQ
unless OUTCOMES says otherwise), and the builders of the poison messages themselves."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable

from google.protobuf.message import Message

from huleedu.common.v1 import common_pb2
from huleedu.events.v1 import events_pb2
from services.mesh import subjects
from services.mesh.event_ids import new_metadata
from services.mesh.publisher import HEADER_CORRELATION, HEADER_MSG_ID, HEADER_TYPE
from tests.support import unique

E = events_pb2
DLQ = "DLQ"
HANDLED = "handled"  # acknowledged after doing what the event says
HELD = "held"  # ELS keeps an upload until its batch's registration arrives (by design)
IGNORED = "ignored"  # acknowledged without effect, with a log line naming the batch

# Which consumers read each subject (each service's durable, as its bootstrap declares it).
CONSUMERS: dict[str, tuple[str, ...]] = {
    subjects.BATCH_ESSAYS_REGISTERED: ("file_service", "els"),
    subjects.ESSAY_CONTENT_PROVISIONED: ("els",),
    subjects.ESSAY_VALIDATION_FAILED: ("els",),
    subjects.BATCH_READINESS_DEADLINE: ("els",),
    subjects.BATCH_SPELLCHECK_INITIATE: ("els",),
    subjects.ESSAY_SPELLCHECK_COMPLETED: ("els",),
    subjects.SPELLCHECK_GROUP_COMPLETED: ("els",),
    subjects.BATCH_ESSAYS_READY: ("bos",),
    subjects.BATCH_READINESS_TIMED_OUT: ("bos",),
    subjects.EXCESS_CONTENT_PROVISIONED: ("bos",),
    subjects.BATCH_PHASE_OUTCOME: ("bos",),
    subjects.ESSAY_SPELLCHECK_REQUESTED: ("spell_checker",),
    subjects.SPELLCHECK_GROUP_REQUESTED: ("spell_checker",),
}
CASES = (
    "random bytes, no headers",
    "random bytes typed as the subject's event",
    "valid event of another type",
    "batch that does not exist",
    "no metadata",
    "metadata without event_id",
    "no batch_id",
)
# What each case must come to, per subject and consumer; every cell not listed here is DLQ.
OUTCOMES: dict[tuple[str, str, str], str] = {
    # The registration is what makes a batch exist: a new batch id is a new batch to both.
    (subjects.BATCH_ESSAYS_REGISTERED, "batch that does not exist", "file_service"): HANDLED,
    (subjects.BATCH_ESSAYS_REGISTERED, "batch that does not exist", "els"): HANDLED,
    # Content may arrive before ELS sees the registration: it waits for it.
    (subjects.ESSAY_CONTENT_PROVISIONED, "batch that does not exist", "els"): HELD,
    (subjects.ESSAY_VALIDATION_FAILED, "batch that does not exist", "els"): HELD,
    (subjects.BATCH_READINESS_DEADLINE, "batch that does not exist", "els"): IGNORED,
    # The Spell Checker knows no batches: it checks the essay and answers; ELS then dead-letters
    # the answer (a completion for a batch it does not know: that row of this table).
    (subjects.ESSAY_SPELLCHECK_REQUESTED, "batch that does not exist", "spell_checker"): HANDLED,
    (subjects.SPELLCHECK_GROUP_REQUESTED, "batch that does not exist", "spell_checker"): HANDLED,
}
# The log line that says an IGNORED event was ignored.
IGNORED_LOG = {subjects.BATCH_READINESS_DEADLINE: "deadline of a batch ELS does not know"}


def expected(subject: str, case: str, consumer: str) -> str:
    return OUTCOMES.get((subject, case, consumer), DLQ)


def valid_event(subject: str, batch_id: str, text_storage_id: str) -> Message:
    """A well-formed event of the subject's type for `batch_id`."""
    meta = new_metadata("poison-test", correlation_id=unique("corr"))
    essay_id = str(uuid.uuid4())
    ref = common_pb2.EssayRef(essay_id=essay_id, text_storage_id=text_storage_id)
    sha = "ab" * 32
    build: dict[str, Callable[[], Message]] = {
        subjects.BATCH_ESSAYS_REGISTERED: lambda: E.BatchEssaysRegistered(
            metadata=meta,
            batch_id=batch_id,
            essay_ids=[str(uuid.uuid4()) for _ in range(2)],
            expected_essay_count=2,
            course_code="ENG5",
            language="en",
        ),
        subjects.ESSAY_CONTENT_PROVISIONED: lambda: E.EssayContentProvisioned(
            metadata=meta,
            batch_id=batch_id,
            file_upload_id=str(uuid.uuid4()),
            original_file_name="essay.txt",
            raw_storage_id=sha,
            text_storage_id=text_storage_id,
            content_sha256=sha,
            word_count=300,
        ),
        subjects.ESSAY_VALIDATION_FAILED: lambda: E.EssayValidationFailed(
            metadata=meta,
            batch_id=batch_id,
            file_upload_id=str(uuid.uuid4()),
            original_file_name="broken.pdf",
            error_code=common_pb2.VALIDATION_ERROR_CODE_CORRUPT_FILE,
            detail="The PDF cannot be read.",
            content_sha256=sha,
        ),
        subjects.BATCH_READINESS_DEADLINE: lambda: E.BatchReadinessDeadlineReached(
            metadata=meta, batch_id=batch_id
        ),
        subjects.BATCH_SPELLCHECK_INITIATE: lambda: E.BatchSpellcheckInitiateCommand(
            metadata=meta, batch_id=batch_id, essays=[ref], language="en"
        ),
        subjects.ESSAY_SPELLCHECK_COMPLETED: lambda: E.EssaySpellcheckCompleted(
            metadata=meta,
            batch_id=batch_id,
            essay_id=essay_id,
            status=common_pb2.SPELLCHECK_STATUS_SUCCESS,
            corrected_text_storage_id=text_storage_id,
        ),
        subjects.SPELLCHECK_GROUP_COMPLETED: lambda: E.SpellcheckGroupCompleted(
            metadata=meta,
            batch_id=batch_id,
            results=[
                E.SpellcheckGroupCompleted.Result(
                    essay_id=essay_id,
                    status=common_pb2.SPELLCHECK_STATUS_SUCCESS,
                    corrected_text_storage_id=text_storage_id,
                )
            ],
        ),
        subjects.BATCH_ESSAYS_READY: lambda: E.BatchEssaysReady(
            metadata=meta, batch_id=batch_id, ready_essays=[ref]
        ),
        subjects.BATCH_READINESS_TIMED_OUT: lambda: E.BatchReadinessTimedOut(
            metadata=meta, batch_id=batch_id, assigned=0, expected=2, reason="deadline passed"
        ),
        subjects.EXCESS_CONTENT_PROVISIONED: lambda: E.ExcessContentProvisioned(
            metadata=meta,
            batch_id=batch_id,
            text_storage_id=text_storage_id,
            original_file_name="extra.txt",
            reason=common_pb2.EXCESS_CONTENT_REASON_NO_FREE_SLOT,
        ),
        subjects.BATCH_PHASE_OUTCOME: lambda: E.ELSBatchPhaseOutcome(
            metadata=meta,
            batch_id=batch_id,
            phase=common_pb2.PHASE_SPELLCHECK,
            status=common_pb2.PHASE_STATUS_COMPLETED,
            processed_essays=[ref],
        ),
        subjects.ESSAY_SPELLCHECK_REQUESTED: lambda: E.EssayLifecycleSpellcheckRequest(
            metadata=meta,
            batch_id=batch_id,
            essay_id=essay_id,
            text_storage_id=text_storage_id,
            language="en",
        ),
        subjects.SPELLCHECK_GROUP_REQUESTED: lambda: E.SpellcheckGroupRequested(
            metadata=meta,
            batch_id=batch_id,
            language="en",
            essays=[
                E.SpellcheckGroupRequested.Essay(essay_id=essay_id, text_storage_id=text_storage_id)
            ],
        ),
    }
    return build[subject]()


def other_type(subject: str) -> str:
    """A subject whose event type the same consumer also handles, if there is one, so that the
    wrong type cannot be refused for want of a handler."""
    consumer = CONSUMERS[subject][-1]
    siblings = [s for s, readers in CONSUMERS.items() if consumer in readers and s != subject]
    return siblings[0] if siblings else subjects.BATCH_ESSAYS_READY


def poison(subject: str, case: str, text_storage_id: str) -> tuple[bytes, dict[str, str], str]:
    """The bytes, headers and batch id of one poison message."""
    batch_id = str(uuid.uuid4())
    rng = random.Random(f"{subject}/{case}")
    if case == "random bytes, no headers":
        return rng.randbytes(200), {}, batch_id
    event = valid_event(subject, batch_id, text_storage_id)
    if case == "random bytes typed as the subject's event":
        return rng.randbytes(200), headers_of(event, str(uuid.uuid4())), batch_id
    if case == "valid event of another type":
        event = valid_event(other_type(subject), batch_id, text_storage_id)
    elif case == "no metadata":
        event.ClearField("metadata")
    elif case == "metadata without event_id":
        getattr(event, "metadata").ClearField("event_id")  # noqa: B009
    elif case == "no batch_id":
        event.ClearField("batch_id")  # type: ignore[arg-type]
    return event.SerializeToString(), headers_of(event, str(uuid.uuid4())), batch_id


def headers_of(event: Message, message_id: str) -> dict[str, str]:
    metadata: common_pb2.EventMetadata = getattr(event, "metadata")  # noqa: B009
    return {
        HEADER_MSG_ID: message_id,
        HEADER_TYPE: event.DESCRIPTOR.full_name,
        HEADER_CORRELATION: metadata.correlation_id,
    }
