"""Events carry ids, never essay text: every string an event type can carry (in itself or in a
message inside it) is listed here with why it is not essay text, and essay text (corrections,
unknown words) lives in the Content Service, where erasing an essay reaches it. An event stays in
HULEEDU_EVENTS for 7 days and in the DLQ, out of erasure's reach. A new string field fails this
test until someone says here why it cannot hold essay text.

tests/integration/test_events_carry_no_essay_text.py runs a batch through the five services and
checks every stored event against the essays' words."""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from huleedu.events.v1 import events_pb2

ID = "an id, a hash or a storage id, made by a service"
FILE_NAME = "the uploaded file's name, as the client sent it (metadata, not the essay)"
TAG = "a language tag or a course code the teacher chose"
SENTENCE = "a sentence a service wrote, with counts and names only, never quoting the file"

# Every string field reachable from an event type, with why it is not essay text.
NOT_ESSAY_TEXT: dict[str, str] = {
    "huleedu.common.v1.EventMetadata.event_id": ID,
    "huleedu.common.v1.EventMetadata.correlation_id": ID,
    "huleedu.common.v1.EventMetadata.causation_id": ID,
    "huleedu.common.v1.EventMetadata.producer": "the producing service's name",
    "huleedu.common.v1.EssayRef.essay_id": ID,
    "huleedu.common.v1.EssayRef.text_storage_id": ID,
    "huleedu.common.v1.EssayRef.original_file_name": FILE_NAME,
    "huleedu.common.v1.ValidationFailure.file_upload_id": ID,
    "huleedu.common.v1.ValidationFailure.original_file_name": FILE_NAME,
    "huleedu.common.v1.ValidationFailure.detail": SENTENCE,
    "huleedu.common.v1.ValidationFailure.essay_id": ID,
    "huleedu.events.v1.BatchEssaysRegistered.batch_id": ID,
    "huleedu.events.v1.BatchEssaysRegistered.essay_ids": ID,
    "huleedu.events.v1.BatchEssaysRegistered.course_code": TAG,
    "huleedu.events.v1.BatchEssaysRegistered.language": TAG,
    "huleedu.events.v1.BatchEssaysRegistered.tenant_id": ID,
    "huleedu.events.v1.EssayContentProvisioned.batch_id": ID,
    "huleedu.events.v1.EssayContentProvisioned.file_upload_id": ID,
    "huleedu.events.v1.EssayContentProvisioned.original_file_name": FILE_NAME,
    "huleedu.events.v1.EssayContentProvisioned.raw_storage_id": ID,
    "huleedu.events.v1.EssayContentProvisioned.text_storage_id": ID,
    "huleedu.events.v1.EssayContentProvisioned.content_md5": ID,
    "huleedu.events.v1.EssayContentProvisioned.content_sha256": ID,
    "huleedu.events.v1.EssayValidationFailed.batch_id": ID,
    "huleedu.events.v1.EssayValidationFailed.file_upload_id": ID,
    "huleedu.events.v1.EssayValidationFailed.original_file_name": FILE_NAME,
    "huleedu.events.v1.EssayValidationFailed.detail": SENTENCE,
    "huleedu.events.v1.EssayValidationFailed.raw_storage_id": ID,
    "huleedu.events.v1.EssayValidationFailed.content_sha256": ID,
    "huleedu.events.v1.BatchEssaysReady.batch_id": ID,
    "huleedu.events.v1.BatchReadinessTimedOut.batch_id": ID,
    "huleedu.events.v1.BatchReadinessTimedOut.reason": SENTENCE,
    "huleedu.events.v1.ExcessContentProvisioned.batch_id": ID,
    "huleedu.events.v1.ExcessContentProvisioned.text_storage_id": ID,
    "huleedu.events.v1.ExcessContentProvisioned.original_file_name": FILE_NAME,
    "huleedu.events.v1.ExcessContentProvisioned.file_upload_id": ID,
    "huleedu.events.v1.ExcessContentProvisioned.content_sha256": ID,
    "huleedu.events.v1.BatchSpellcheckInitiateCommand.batch_id": ID,
    "huleedu.events.v1.BatchSpellcheckInitiateCommand.language": TAG,
    "huleedu.events.v1.EssayLifecycleSpellcheckRequest.batch_id": ID,
    "huleedu.events.v1.EssayLifecycleSpellcheckRequest.essay_id": ID,
    "huleedu.events.v1.EssayLifecycleSpellcheckRequest.text_storage_id": ID,
    "huleedu.events.v1.EssayLifecycleSpellcheckRequest.language": TAG,
    "huleedu.events.v1.EssayLifecycleSpellcheckRequest.allowed_words": (
        "the teacher's allow-list for the batch, not words taken from an essay (no producer "
        "sets it yet)"
    ),
    "huleedu.events.v1.EssayLifecycleSpellcheckRequest.tenant_id": ID,
    "huleedu.events.v1.EssaySpellcheckCompleted.batch_id": ID,
    "huleedu.events.v1.EssaySpellcheckCompleted.essay_id": ID,
    "huleedu.events.v1.EssaySpellcheckCompleted.corrected_text_storage_id": ID,
    "huleedu.events.v1.EssaySpellcheckCompleted.error": SENTENCE,
    "huleedu.events.v1.EssaySpellcheckCompleted.warning": SENTENCE,
    "huleedu.events.v1.EssaySpellcheckCompleted.details_storage_id": ID,
    "huleedu.events.v1.SpellcheckGroupRequested.batch_id": ID,
    "huleedu.events.v1.SpellcheckGroupRequested.language": TAG,
    "huleedu.events.v1.SpellcheckGroupRequested.tenant_id": ID,
    "huleedu.events.v1.SpellcheckGroupRequested.Essay.essay_id": ID,
    "huleedu.events.v1.SpellcheckGroupRequested.Essay.text_storage_id": ID,
    "huleedu.events.v1.SpellcheckGroupRequested.Essay.allowed_words": (
        "the teacher's allow-list for the batch, not words taken from an essay (no producer "
        "sets it yet)"
    ),
    "huleedu.events.v1.SpellcheckGroupCompleted.batch_id": ID,
    "huleedu.events.v1.SpellcheckGroupCompleted.Result.essay_id": ID,
    "huleedu.events.v1.SpellcheckGroupCompleted.Result.corrected_text_storage_id": ID,
    "huleedu.events.v1.SpellcheckGroupCompleted.Result.details_storage_id": ID,
    "huleedu.events.v1.SpellcheckGroupCompleted.Result.error": SENTENCE,
    "huleedu.events.v1.SpellcheckGroupCompleted.Result.warning": SENTENCE,
    "huleedu.events.v1.ELSBatchPhaseOutcome.batch_id": ID,
    "huleedu.events.v1.ELSBatchPhaseOutcome.failed_essay_ids": ID,
    "huleedu.events.v1.BatchReadinessDeadlineReached.batch_id": ID,
    "huleedu.events.v1.BatchErasureRequested.batch_id": ID,
    "huleedu.events.v1.BatchErasureRequested.tenant_id": ID,
    "huleedu.events.v1.BatchErasureRequested.essay_ids": ID,
    "huleedu.events.v1.EssayUploadsErased.batch_id": ID,
    "huleedu.events.v1.EssayUploadsErased.Upload.content_sha256": ID,
    "huleedu.events.v1.EssayUploadsErased.Upload.file_upload_id": ID,
}

# Fields that held essay text before it moved to the Content Service. `buf breaking` (FILE rules)
# refuses removing a field even when its number is reserved, so they stay, deprecated; no producer
# sets them (the integration test decodes every stored event to check).
NEVER_SET: dict[str, str] = {
    "huleedu.events.v1.EssaySpellcheckCompleted.corrections": "details_storage_id",
    "huleedu.events.v1.EssaySpellcheckCompleted.unknown_words": "details_storage_id",
}

_OPAQUE = {"google.protobuf.Timestamp"}  # numbers only


def event_types() -> list[Descriptor]:
    """Every message of huleedu.events.v1: the events and commands of the mesh."""
    return list(events_pb2.DESCRIPTOR.message_types_by_name.values())


def _fields(message: Descriptor, seen: frozenset[str] = frozenset()) -> Iterator[FieldDescriptor]:
    """Every field reachable from `message`, nested messages included (each type once per
    path)."""
    for field in message.fields:
        yield field
        nested = field.message_type
        if (
            nested is not None
            and nested.full_name not in _OPAQUE
            and nested.full_name not in seen
            and not field.GetOptions().deprecated
        ):
            yield from _fields(nested, seen | {message.full_name})


def test_every_string_an_event_can_carry_is_known_not_to_be_essay_text() -> None:
    strings = {
        field.full_name
        for event in event_types()
        for field in _fields(event)
        if field.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES)
        and not field.GetOptions().deprecated
    }
    unexplained = sorted(strings - NOT_ESSAY_TEXT.keys())
    assert unexplained == [], "say in NOT_ESSAY_TEXT why these cannot carry essay text"
    assert sorted(NOT_ESSAY_TEXT.keys() - strings) == [], "stale entries"


def test_the_fields_that_carried_essay_text_are_deprecated_and_listed() -> None:
    deprecated = {
        field.full_name
        for event in event_types()
        for field in _fields(event)
        if field.GetOptions().deprecated
    }
    assert deprecated == NEVER_SET.keys()
    completed = events_pb2.EssaySpellcheckCompleted.DESCRIPTOR
    for name in NEVER_SET.values():
        assert name in completed.fields_by_name
