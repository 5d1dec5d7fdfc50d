"""RegisterBatch: validation of the request, the ids and the new batch it makes, and whether a
stored batch is the one a repeated request (same request_id) asks for."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from huleedu.batch.v1.batch_service_pb2 import BatchCounts, PhaseState
from huleedu.common.v1 import common_pb2
from huleedu.internal.bos.v1.batch_record_pb2 import BatchRecord
from services.batch_orchestrator.domain.errors import FieldViolation, InvalidRequest
from services.mesh.free_text import text_problem

MAX_COURSE_CODE_CHARS = 64
MAX_TITLE_CHARS = 200
MAX_TEACHER_REFERENCE_CHARS = 200
MAX_REQUEST_ID_CHARS = 128
# The phases a batch may ask for; the pipeline runs them in this order.
SUPPORTED_PHASES: tuple[common_pb2.Phase.ValueType, ...] = (common_pb2.PHASE_SPELLCHECK,)
# A BCP 47 language tag of a language and an optional region: `en`, `en-GB`, `sv-SE`.
_LANGUAGE_RE = re.compile(r"^([a-z]{2})(?:-([a-z]{2}|[0-9]{3}))?$")
_REQUEST_ID_RE = re.compile(rf"[A-Za-z0-9._:-]{{1,{MAX_REQUEST_ID_CHARS}}}")
# The ids of a batch registered with a request_id derive from it under this namespace. Never
# change it: a retry reaching a BOS with another namespace would register a second batch.
REQUEST_ID_NAMESPACE = uuid.UUID("e7bccb28-7bb2-4807-a7d1-6a57f31a0beb")


@dataclass(frozen=True)
class RegistrationPolicy:
    """Limits and defaults of RegisterBatch (see the BOS_* settings)."""

    max_essays: int = 500
    default_timeout_s: int = 600
    max_timeout_s: int = 7 * 24 * 3600
    default_partial_threshold: float = 1.0


@dataclass(frozen=True)
class BatchRequest:
    """A RegisterBatch request as the client sent it; 0 and empty mean "take the default"."""

    expected_essay_count: int
    course_code: str
    language: str
    phases: Sequence[int] = ()
    timeout_seconds: int = 0
    partial_batch_threshold: float = 0.0
    title: str = ""
    teacher_reference: str = ""
    request_id: str = ""
    tenant_id: str = ""  # the caller's tenant and subject, from its token
    created_by: str = ""


@dataclass(frozen=True)
class Registration:
    """A validated request with every default resolved."""

    expected_essay_count: int
    course_code: str
    language: str
    phases: tuple[common_pb2.Phase.ValueType, ...]
    timeout_seconds: int
    partial_batch_threshold: float
    title: str
    teacher_reference: str
    request_id: str
    tenant_id: str = ""
    created_by: str = ""


@dataclass(frozen=True)
class BatchIds:
    """The ids a registration gives a batch: its own, one per essay slot, and its correlation id."""

    batch_id: str
    essay_ids: tuple[str, ...]
    correlation_id: str


def validate_registration(request: BatchRequest, policy: RegistrationPolicy) -> Registration:
    """The request with defaults resolved; InvalidRequest names every bad field."""
    problems: list[FieldViolation] = []

    def bad(field: str, problem: str) -> None:
        problems.append(FieldViolation(field, problem))

    if not 1 <= request.expected_essay_count <= policy.max_essays:
        bad(
            "expected_essay_count",
            f"must be between 1 and {policy.max_essays}, got {request.expected_essay_count}",
        )
    course_code = request.course_code.strip()
    if not course_code:
        bad("course_code", "is required, e.g. ENG5")
    elif (problem := text_problem(course_code)) is not None:
        bad("course_code", problem)
    elif len(course_code) > MAX_COURSE_CODE_CHARS or not course_code.isprintable():
        bad("course_code", f"must be at most {MAX_COURSE_CODE_CHARS} printable characters")
    language = request.language.strip()
    tag = _LANGUAGE_RE.match(language.replace("_", "-").lower())
    if not language:
        bad("language", 'is required: a language tag such as "en", "en-GB" or "sv"')
    elif tag is None:
        bad(
            "language",
            'must be a language tag (ISO 639-1 language, optional region) such as "en", '
            f'"en-GB" or "sv", got {shown(language)}',
        )
    else:
        language = tag[1] + (f"-{tag[2].upper()}" if tag[2] else "")
    phases = _phases(request.phases, bad)
    timeout = request.timeout_seconds or policy.default_timeout_s
    if not 1 <= timeout <= policy.max_timeout_s:
        bad(
            "readiness.timeout_seconds",
            f"must be between 1 and {policy.max_timeout_s} (0 takes the default "
            f"{policy.default_timeout_s}), got {request.timeout_seconds}",
        )
    threshold = request.partial_batch_threshold or policy.default_partial_threshold
    if math.isnan(threshold) or not 0.0 <= threshold <= 1.0:
        bad(
            "readiness.partial_batch_threshold",
            f"must be between 0 and 1 (0 takes the default {policy.default_partial_threshold}), "
            f"got {request.partial_batch_threshold}",
        )
    title = request.title.strip()
    if (problem := text_problem(title)) is not None:
        bad("title", problem)
    elif len(title) > MAX_TITLE_CHARS:
        bad("title", f"must be at most {MAX_TITLE_CHARS} characters")
    teacher_reference = request.teacher_reference.strip()
    if (problem := text_problem(teacher_reference)) is not None:
        bad("teacher_reference", problem)
    elif len(teacher_reference) > MAX_TEACHER_REFERENCE_CHARS:
        bad("teacher_reference", f"must be at most {MAX_TEACHER_REFERENCE_CHARS} characters")
    if request.request_id and not _REQUEST_ID_RE.fullmatch(request.request_id):
        bad(
            "request_id",
            f"must be 1 to {MAX_REQUEST_ID_CHARS} characters from A-Z, a-z, 0-9, '.', '_', ':' "
            f"and '-' (a UUID is recommended), got {shown(request.request_id)}",
        )
    if problems:
        raise InvalidRequest(problems)
    return Registration(
        expected_essay_count=request.expected_essay_count,
        course_code=course_code,
        language=language,
        phases=phases,
        timeout_seconds=timeout,
        partial_batch_threshold=threshold,
        title=title,
        teacher_reference=teacher_reference,
        request_id=request.request_id,
        tenant_id=request.tenant_id,
        created_by=request.created_by,
    )


def ids_for_request(request_id: str, essay_count: int, tenant_id: str = "") -> BatchIds:
    """The ids of the batch registered for `request_id` in `tenant_id`: the same on every call
    and every BOS, so that a retry, or a twin call racing the first, names the same batch; two
    tenants using the same request_id get two batches."""
    name = f"{tenant_id}\x1f{request_id}" if tenant_id else request_id
    batch = uuid.uuid5(REQUEST_ID_NAMESPACE, name)
    return BatchIds(
        batch_id=str(batch),
        essay_ids=tuple(str(uuid.uuid5(batch, f"essay_id.{n}")) for n in range(essay_count)),
        correlation_id=str(uuid.uuid5(batch, "correlation_id")),
    )


def registration_differences(registration: Registration, batch: BatchRecord) -> list[str]:
    """How `registration` differs from the one that made the stored `batch`, one entry per
    request field (empty: the same registration). Defaults are resolved on both sides."""
    pairs: list[tuple[str, object, object]] = [
        ("expected_essay_count", batch.counts.expected, registration.expected_essay_count),
        ("course_code", batch.course_code, registration.course_code),
        ("language", batch.language, registration.language),
        ("phases", tuple(batch.phases), registration.phases),
        (
            "readiness.timeout_seconds",
            batch.readiness.timeout_seconds,
            registration.timeout_seconds,
        ),
        (
            "readiness.partial_batch_threshold",
            batch.readiness.partial_batch_threshold,
            registration.partial_batch_threshold,
        ),
        ("title", batch.title, registration.title),
        ("teacher_reference", batch.teacher_reference, registration.teacher_reference),
    ]
    return [
        f"{field} was {_quoted(stored)}, now {_quoted(requested)}"
        for field, stored, requested in pairs
        if stored != requested
    ]


def _quoted(value: object) -> str:
    if isinstance(value, str):
        return shown(value, limit=32)
    if isinstance(value, tuple):
        return "[" + ", ".join(_phase_name(phase) for phase in value) + "]"
    return str(value)


def _phases(
    requested: Sequence[int], bad: Callable[[str, str], None]
) -> tuple[common_pb2.Phase.ValueType, ...]:
    if not requested:
        return SUPPORTED_PHASES
    chosen: list[common_pb2.Phase.ValueType] = []
    for value in requested:
        phase = next((p for p in SUPPORTED_PHASES if p == value), None)
        if phase is None:
            supported = ", ".join(common_pb2.Phase.Name(p) for p in SUPPORTED_PHASES)
            bad("phases", f"{_phase_name(value)} is not a phase BOS runs (supported: {supported})")
        elif phase in chosen:
            bad("phases", f"{common_pb2.Phase.Name(phase)} is listed twice")
        else:
            chosen.append(phase)
    return tuple(p for p in SUPPORTED_PHASES if p in chosen)


def _phase_name(value: int) -> str:
    try:
        return common_pb2.Phase.Name(value)  # type: ignore[arg-type]
    except ValueError:
        return f"phase {value}"


def shown(value: str, limit: int = 64) -> str:
    """`value` quoted for an error message, cut at `limit` characters: a status message echoing
    a 10,000-character field would pass gRPC's 8 KiB metadata limit and reach the client as
    RESOURCE_EXHAUSTED instead of the real error."""
    return repr(value) if len(value) <= limit else f"{value[:limit]!r}… ({len(value)} characters)"


def parse_batch_id(text: str) -> str:
    """The canonical form of a batch id; InvalidRequest unless it is a UUID."""
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise InvalidRequest.single(
            "batch_id",
            f"must be a UUID like 0b8e7c1e-4f6a-4d3b-9a52-3c2f1d0e9b8a, got {shown(text)}",
        ) from None


def new_batch(
    registration: Registration,
    *,
    batch_id: str,
    essay_ids: Sequence[str],
    correlation_id: str,
    now: datetime,
) -> BatchRecord:
    """The document of a newly registered batch, awaiting content."""
    if len(essay_ids) != registration.expected_essay_count:
        raise ValueError("one essay id per expected essay")
    batch = BatchRecord(
        batch_id=batch_id,
        status=common_pb2.BATCH_STATUS_AWAITING_CONTENT,
        course_code=registration.course_code,
        language=registration.language,
        title=registration.title,
        teacher_reference=registration.teacher_reference,
        essay_ids=list(essay_ids),
        readiness=common_pb2.ReadinessConfig(
            timeout_seconds=registration.timeout_seconds,
            partial_batch_threshold=registration.partial_batch_threshold,
        ),
        phases=list(registration.phases),
        counts=BatchCounts(expected=registration.expected_essay_count),
        phase_states=[
            PhaseState(phase=phase, status=common_pb2.PHASE_STATUS_PENDING)
            for phase in registration.phases
        ],
        correlation_id=correlation_id,
        tenant_id=registration.tenant_id,
        created_by=registration.created_by,
    )
    batch.created_at.FromDatetime(now)
    batch.updated_at.FromDatetime(now)
    batch.deadline.FromDatetime(now + timedelta(seconds=registration.timeout_seconds))
    return batch
