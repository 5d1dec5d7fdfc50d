"""Stored messages decoded for people: fields by Huleedu-Type, and DLQ reasons."""

from __future__ import annotations

from datetime import UTC, datetime

from nats.js.api import RawStreamMsg

from huleedu.common.v1 import common_pb2
from huleedu.events.v1 import events_pb2
from services.cli.stream_view import decode_entry, format_entry

WHEN = datetime(2025, 9, 1, 8, 30, 0, 123456, tzinfo=UTC)


def stored(data: bytes, headers: dict[str, str], subject: str) -> RawStreamMsg:
    return RawStreamMsg(subject=subject, seq=42, data=data, headers=headers, time=WHEN)


def failed_upload() -> events_pb2.EssayValidationFailed:
    return events_pb2.EssayValidationFailed(
        metadata=common_pb2.EventMetadata(event_id="ev-1", producer="file_service"),
        batch_id="b-1",
        original_file_name="broken.pdf",
        error_code=common_pb2.VALIDATION_ERROR_CODE_CORRUPT_FILE,
    )


def test_an_event_is_decoded_by_its_type_header() -> None:
    message = stored(
        failed_upload().SerializeToString(),
        {"Huleedu-Type": "huleedu.events.v1.EssayValidationFailed"},
        "huleedu.file.essay_validation_failed.v1",
    )
    entry = decode_entry(message, dead_letters=False)
    assert entry["type"] == "EssayValidationFailed"
    assert entry["time"] == "2025-09-01T08:30:00.123Z"
    assert entry["producer"] == "file_service" and entry["batch_id"] == "b-1"
    assert entry["fields"]["error_code"] == "VALIDATION_ERROR_CODE_CORRUPT_FILE"
    assert "metadata" not in entry["fields"] and "dlq" not in entry
    first, second = format_entry(entry).splitlines()
    assert first == (
        "2025-09-01T08:30:00.123Z  #42  huleedu.file.essay_validation_failed.v1  "
        "EssayValidationFailed  from file_service"
    )
    assert '"original_file_name": "broken.pdf"' in second


def test_a_dead_letter_shows_why_and_survives_an_undecodable_body() -> None:
    headers = {
        "Huleedu-Type": "huleedu.events.v1.EssayValidationFailed",
        "Huleedu-Dlq-Reason": "cannot decode",
        "Huleedu-Dlq-Consumer": "essay_lifecycle/els",
        "Huleedu-Dlq-Original-Subject": "huleedu.file.essay_validation_failed.v1",
        "Huleedu-Dlq-Stream-Seq": "7",
        "Huleedu-Dlq-Deliveries": "1",
    }
    message = stored(b"\xff\xff\xff", headers, "dlq.huleedu.file.essay_validation_failed.v1")
    entry = decode_entry(message, dead_letters=True)
    assert "cannot decode as" in entry["undecoded"]
    assert entry["dlq"]["consumer"] == "essay_lifecycle/els"
    text = format_entry(entry)
    assert "dead-lettered by essay_lifecycle/els after 1 deliveries (was #7 on " in text
    assert text.endswith(": cannot decode")


def test_an_unknown_type_is_shown_as_bytes() -> None:
    entry = decode_entry(stored(b"\x01\x02", {}, "huleedu.x.v1"), dead_letters=False)
    assert entry["type"] == "(no Huleedu-Type)"
    assert entry["undecoded"].endswith("2 bytes: 0102")
