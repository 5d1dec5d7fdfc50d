"""RegisterBatch validation and the new batch document."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from huleedu.common.v1 import common_pb2
from services.batch_orchestrator.domain.errors import InvalidRequest
from services.batch_orchestrator.domain.registration import (
    BatchRequest,
    RegistrationPolicy,
    ids_for_request,
    new_batch,
    parse_batch_id,
    registration_differences,
    validate_registration,
)

POLICY = RegistrationPolicy(
    max_essays=500, default_timeout_s=600, max_timeout_s=604800, default_partial_threshold=1.0
)
GOOD = {"expected_essay_count": 3, "course_code": "ENG5", "language": "en"}


def request(**changes: object) -> BatchRequest:
    return BatchRequest(**{**GOOD, **changes})  # type: ignore[arg-type]


def test_defaults_are_resolved() -> None:
    registration = validate_registration(request(), POLICY)
    assert registration.phases == (common_pb2.PHASE_SPELLCHECK,)
    assert registration.timeout_seconds == 600
    assert registration.partial_batch_threshold == 1.0


def test_given_values_are_kept_and_normalised() -> None:
    registration = validate_registration(
        request(
            language=" EN ",
            course_code=" ENG5 ",
            phases=[common_pb2.PHASE_SPELLCHECK],
            timeout_seconds=30,
            partial_batch_threshold=0.5,
            title="Essays",
        ),
        POLICY,
    )
    assert (registration.language, registration.course_code) == ("en", "ENG5")
    assert registration.timeout_seconds == 30
    assert registration.partial_batch_threshold == 0.5


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"expected_essay_count": 0}, "expected_essay_count"),
        ({"expected_essay_count": 501}, "expected_essay_count"),
        ({"course_code": "  "}, "course_code"),
        ({"course_code": "x" * 65}, "course_code"),
        ({"course_code": "ENG\n5"}, "course_code"),
        ({"language": ""}, "language"),
        ({"language": "eng"}, "language"),
        ({"language": "en-GBR"}, "language"),
        ({"language": "en-GB-oxendict"}, "language"),
        ({"language": "e1"}, "language"),
        ({"phases": [common_pb2.PHASE_UNSPECIFIED]}, "phases"),
        ({"phases": [99]}, "phases"),
        ({"phases": [common_pb2.PHASE_SPELLCHECK] * 2}, "phases"),
        ({"timeout_seconds": 604801}, "readiness.timeout_seconds"),
        ({"partial_batch_threshold": 1.5}, "readiness.partial_batch_threshold"),
        ({"partial_batch_threshold": -0.1}, "readiness.partial_batch_threshold"),
        ({"partial_batch_threshold": math.nan}, "readiness.partial_batch_threshold"),
        ({"title": "t" * 201}, "title"),
        ({"teacher_reference": "r" * 201}, "teacher_reference"),
        ({"request_id": "r" * 129}, "request_id"),
        ({"request_id": "two words"}, "request_id"),
        ({"request_id": " padded"}, "request_id"),
        ({"request_id": "*.>"}, "request_id"),
        ({"request_id": "åäö"}, "request_id"),
        ({"request_id": "line\nbreak"}, "request_id"),
    ],
)
def test_each_bad_field_is_named(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        validate_registration(request(**changes), POLICY)
    assert [v.field for v in raised.value.violations] == [field]
    assert str(raised.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("written", "stored"),
    [("en", "en"), ("EN", "en"), ("en-GB", "en-GB"), ("en_gb", "en-GB"), (" sv-se ", "sv-SE")],
)
def test_a_language_tag_is_stored_in_its_canonical_case(written: str, stored: str) -> None:
    assert validate_registration(request(language=written), POLICY).language == stored


def test_every_bad_field_is_reported_at_once() -> None:
    with pytest.raises(InvalidRequest) as raised:
        validate_registration(request(expected_essay_count=0, language="", course_code=""), POLICY)
    assert {v.field for v in raised.value.violations} == {
        "expected_essay_count",
        "course_code",
        "language",
    }


def test_the_maximum_is_configurable() -> None:
    small = RegistrationPolicy(max_essays=2)
    with pytest.raises(InvalidRequest, match="between 1 and 2"):
        validate_registration(request(expected_essay_count=3), small)


def test_new_batch_awaits_content_with_its_deadline() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    registration = validate_registration(request(timeout_seconds=90), POLICY)
    batch = new_batch(
        registration, batch_id="b", essay_ids=["e1", "e2", "e3"], correlation_id="c", now=now
    )
    assert batch.status == common_pb2.BATCH_STATUS_AWAITING_CONTENT
    assert list(batch.essay_ids) == ["e1", "e2", "e3"]
    assert batch.counts.expected == 3
    assert batch.deadline.ToDatetime(tzinfo=UTC) == now + timedelta(seconds=90)
    assert [s.status for s in batch.phase_states] == [common_pb2.PHASE_STATUS_PENDING]


def test_batch_ids_must_be_uuids() -> None:
    assert parse_batch_id(" 0B8E7C1E-4F6A-4D3B-9A52-3C2F1D0E9B8A ") == (
        "0b8e7c1e-4f6a-4d3b-9a52-3c2f1d0e9b8a"
    )
    for bad in ("", "batch-1", "0b8e7c1e", "../etc"):
        with pytest.raises(InvalidRequest, match="batch_id"):
            parse_batch_id(bad)


def test_request_ids_within_the_limits_are_kept_as_sent() -> None:
    for request_id in ("", "a", "r" * 128, str(uuid.uuid4()), "Order-17:retry.2_b"):
        assert validate_registration(request(request_id=request_id), POLICY).request_id == (
            request_id
        )


def test_a_request_id_gives_the_same_ids_every_time() -> None:
    first = ids_for_request("order-17", 3)
    assert ids_for_request("order-17", 3) == first
    assert uuid.UUID(first.batch_id).version == 5
    every = [first.batch_id, first.correlation_id, *first.essay_ids]
    assert len(set(every)) == 5
    assert ids_for_request("order-17", 5).essay_ids[:3] == first.essay_ids
    other = ids_for_request("order-18", 3)
    assert not set(every) & {other.batch_id, other.correlation_id, *other.essay_ids}


def test_a_repeated_registration_differs_in_nothing_once_defaults_are_resolved() -> None:
    stored = new_batch(
        validate_registration(request(title="Essays", request_id="r1"), POLICY),
        batch_id="b",
        essay_ids=["e1", "e2", "e3"],
        correlation_id="c",
        now=datetime(2026, 1, 2, tzinfo=UTC),
    )
    explicit = request(
        title=" Essays ",
        language="EN",
        phases=[common_pb2.PHASE_SPELLCHECK],
        timeout_seconds=600,
        partial_batch_threshold=1.0,
        request_id="r1",
    )
    assert registration_differences(validate_registration(explicit, POLICY), stored) == []

    changed = request(expected_essay_count=4, course_code="ENG6", title="Essays", request_id="r1")
    assert registration_differences(validate_registration(changed, POLICY), stored) == [
        "expected_essay_count was 3, now 4",
        "course_code was 'ENG5', now 'ENG6'",
    ]
