"""Builders of the mesh events around ELS, as the File Service, BOS and the Spell Checker would
publish them; shared by the coordination benchmark and the ELS tests."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from huleedu.common.v1 import common_pb2
from huleedu.events.v1 import events_pb2
from services.mesh.event_ids import derived_event_id


def metadata(
    producer: str, correlation_id: str, event_id: str | None = None
) -> common_pb2.EventMetadata:
    """Metadata with a fresh (or the given) event id."""
    meta = common_pb2.EventMetadata(
        event_id=event_id or str(uuid.uuid4()), correlation_id=correlation_id, producer=producer
    )
    meta.occurred_at.GetCurrentTime()
    return meta


def new_batch(count: int) -> tuple[str, list[str]]:
    """A fresh batch id and `count` essay ids, as BOS would make them."""
    return str(uuid.uuid4()), [str(uuid.uuid4()) for _ in range(count)]


def registered(
    batch_id: str,
    essay_ids: Sequence[str],
    *,
    timeout_s: int = 600,
    threshold: float = 0.8,
    language: str = "en",
    correlation_id: str | None = None,
    event_id: str | None = None,
) -> events_pb2.BatchEssaysRegistered:
    """BatchEssaysRegistered with a deadline `timeout_s` from now."""
    event = events_pb2.BatchEssaysRegistered(
        metadata=metadata("batch_orchestrator", correlation_id or batch_id, event_id),
        batch_id=batch_id,
        essay_ids=list(essay_ids),
        expected_essay_count=len(essay_ids),
        course_code="ENG5",
        language=language,
        readiness=common_pb2.ReadinessConfig(
            timeout_seconds=timeout_s, partial_batch_threshold=threshold
        ),
        phases=[common_pb2.Phase.PHASE_SPELLCHECK],
    )
    event.deadline.FromDatetime(datetime.now(UTC) + timedelta(seconds=timeout_s))
    return event


def sha256_of(text: str) -> str:
    """Lowercase hex SHA-256 of the text's UTF-8 bytes."""
    return hashlib.sha256(text.encode()).hexdigest()


def provisioned(
    batch_id: str,
    file_name: str,
    *,
    body: str | None = None,
    correlation_id: str | None = None,
    event_id: str | None = None,
) -> events_pb2.EssayContentProvisioned:
    """EssayContentProvisioned for a file whose bytes are `body` (default: from the name)."""
    digest = sha256_of(body if body is not None else f"{batch_id}/{file_name}")
    return events_pb2.EssayContentProvisioned(
        metadata=metadata("file_service", correlation_id or batch_id, event_id),
        batch_id=batch_id,
        file_upload_id=derived_event_id(batch_id, digest),
        original_file_name=file_name,
        raw_storage_id=digest,
        text_storage_id=sha256_of(f"text:{digest}"),
        content_md5=hashlib.md5(digest.encode()).hexdigest(),
        content_sha256=digest,
        file_size_bytes=1000,
        word_count=200,
    )


def validation_failed(
    batch_id: str,
    file_name: str,
    *,
    body: str | None = None,
    code: common_pb2.ValidationErrorCode.ValueType = (
        common_pb2.ValidationErrorCode.VALIDATION_ERROR_CODE_EMPTY_CONTENT
    ),
    correlation_id: str | None = None,
) -> events_pb2.EssayValidationFailed:
    """EssayValidationFailed for a file whose bytes are `body` (default: from the name)."""
    digest = sha256_of(body if body is not None else f"{batch_id}/{file_name}")
    return events_pb2.EssayValidationFailed(
        metadata=metadata("file_service", correlation_id or batch_id),
        batch_id=batch_id,
        file_upload_id=derived_event_id(batch_id, digest),
        original_file_name=file_name,
        error_code=code,
        detail=f"{file_name} has no text",
        raw_storage_id=digest,
        content_sha256=digest,
        file_size_bytes=0,
    )


def spellcheck_command(
    ready: events_pb2.BatchEssaysReady, *, language: str = "en"
) -> events_pb2.BatchSpellcheckInitiateCommand:
    """The command BOS sends for a ready batch."""
    return events_pb2.BatchSpellcheckInitiateCommand(
        metadata=metadata(
            "batch_orchestrator",
            ready.metadata.correlation_id,
            derived_event_id(ready.batch_id, "spellcheck_initiate"),
        ),
        batch_id=ready.batch_id,
        essays=[
            common_pb2.EssayRef(essay_id=e.essay_id, text_storage_id=e.text_storage_id)
            for e in ready.ready_essays
        ],
        language=language,
    )


def spellcheck_completed(
    request: events_pb2.EssayLifecycleSpellcheckRequest,
    *,
    succeed: bool = True,
    details_storage_id: str = "",
) -> events_pb2.EssaySpellcheckCompleted:
    """The Spell Checker's answer to a request: when it succeeds, one correction, whose details
    are stored under `details_storage_id` (the event carries only the id)."""
    event = events_pb2.EssaySpellcheckCompleted(
        metadata=metadata(
            "spell_checker",
            request.metadata.correlation_id,
            derived_event_id(request.metadata.event_id, request.essay_id, "spellcheck_completed"),
        ),
        batch_id=request.batch_id,
        essay_id=request.essay_id,
        word_count=200,
    )
    event.metadata.causation_id = request.metadata.event_id
    if succeed:
        event.status = common_pb2.SpellcheckStatus.SPELLCHECK_STATUS_SUCCESS
        event.corrected_text_storage_id = sha256_of(f"corrected:{request.text_storage_id}")
        event.correction_count = 1
        event.details_storage_id = details_storage_id
    else:
        event.status = common_pb2.SpellcheckStatus.SPELLCHECK_STATUS_FAILED
        event.error = "stub spell checker failed this essay on purpose"
    return event


def essay_requests(
    groups: Sequence[events_pb2.SpellcheckGroupRequested],
) -> list[events_pb2.EssayLifecycleSpellcheckRequest]:
    """Each essay of ELS's group requests as the one-essay request it stands for: the group's
    batch, language, tenant and metadata (so its event id is the group's)."""
    return [
        events_pb2.EssayLifecycleSpellcheckRequest(
            metadata=group.metadata,
            batch_id=group.batch_id,
            essay_id=essay.essay_id,
            text_storage_id=essay.text_storage_id,
            language=group.language,
            allowed_words=essay.allowed_words,
            tenant_id=group.tenant_id,
        )
        for group in groups
        for essay in group.essays
    ]


def group_completed(
    group: events_pb2.SpellcheckGroupRequested,
    results: Sequence[events_pb2.EssaySpellcheckCompleted],
) -> events_pb2.SpellcheckGroupCompleted:
    """An answer to `group` reporting `results` (built by spellcheck_completed from
    essay_requests of the group), with an id derived from the essays it reports: the Spell
    Checker reports a group whole, once; a test may report an essay twice, which ELS must
    record once."""
    event = events_pb2.SpellcheckGroupCompleted(
        metadata=metadata(
            "spell_checker",
            group.metadata.correlation_id,
            derived_event_id(
                group.metadata.event_id,
                "spellcheck_group_completed",
                *(r.essay_id for r in results),
            ),
        ),
        batch_id=group.batch_id,
    )
    event.metadata.causation_id = group.metadata.event_id
    names = [field.name for field in events_pb2.SpellcheckGroupCompleted.Result.DESCRIPTOR.fields]
    for result in results:
        event.results.add(**{name: getattr(result, name) for name in names})
    return event
