"""Upload ids, names, the ledger's record encoding, the events a record becomes, settings."""

from __future__ import annotations

import pytest

from huleedu.common.v1 import common_pb2
from huleedu.events.v1 import events_pb2
from services.file_service.adapters.announcer import outcome_event
from services.file_service.adapters.kv_keys import batch_key
from services.file_service.adapters.upload_ledger import decode_record, encode_record, record_key
from services.file_service.domain.errors import RejectionCode
from services.file_service.domain.uploads import (
    UploadRecord,
    UploadStatus,
    display_file_name,
    file_upload_id_for,
    outcome_event_id_for,
    receipt_for,
)
from services.file_service.settings import FileServiceSettings
from services.mesh.settings import SettingsError

SHA = "ab" * 32


def record(**changes: object) -> UploadRecord:
    values: dict[str, object] = {
        "batch_id": "batch-1",
        "correlation_id": "corr-1",
        "file_upload_id": file_upload_id_for("batch-1", SHA),
        "event_id": outcome_event_id_for("batch-1", SHA),
        "file_name": "essay.txt",
        "content_sha256": SHA,
        "content_md5": "cd" * 16,
        "file_size_bytes": 1234,
        "raw_storage_id": SHA,
        "detected_format": "txt",
        "text_storage_id": "ef" * 32,
        "word_count": 321,
        "occurred_at_ms": 1_700_000_000_123,
    }
    values.update(changes)
    return UploadRecord(**values)  # type: ignore[arg-type]


def test_ids_are_deterministic_per_batch_content_and_generation() -> None:
    assert file_upload_id_for("b", SHA) == file_upload_id_for("b", SHA, 0)
    assert file_upload_id_for("b", SHA) != file_upload_id_for("c", SHA)
    assert file_upload_id_for("b", SHA) != outcome_event_id_for("b", SHA)
    # admitted again after its essay's erasure, in a later generation: a new upload
    assert file_upload_id_for("b", SHA) != file_upload_id_for("b", SHA, 1)
    assert outcome_event_id_for("b", SHA) != outcome_event_id_for("b", SHA, 1)


def test_file_name_is_data_only() -> None:
    name = "../../etc/passwd\x00\x1b[31m\r\nessay\u202e.txt"
    shown = display_file_name(name)
    assert shown == "../../etc/passwd\ufffd\ufffd[31m\ufffd\ufffdessay\ufffd.txt"
    assert display_file_name("x" * 1000) == "x" * 255
    assert display_file_name("  Cafe\u0301.docx ") == "Café.docx"


def test_record_round_trips_through_the_ledger_encoding() -> None:
    for original in (record(), record(rejection=RejectionCode.NO_TEXT_LAYER, detail="scan")):
        assert decode_record(encode_record(original)) == original


def test_record_keys_are_valid_kv_keys_for_any_batch_id() -> None:
    assert record_key("0b6f-41aa_x", SHA) == f"0b6f-41aa_x.{SHA}"
    hashed = batch_key("batch with spaces/and*wildcards")
    assert hashed.startswith("=") and len(hashed) == 65
    assert batch_key("=" + "0" * 64) != "=" + "0" * 64


def test_accepted_record_becomes_content_provisioned() -> None:
    event = outcome_event(record())
    assert isinstance(event, events_pb2.EssayContentProvisioned)
    assert event.metadata.event_id == outcome_event_id_for("batch-1", SHA)
    assert event.metadata.correlation_id == "corr-1"
    assert event.metadata.producer == "file_service"
    assert event.metadata.occurred_at.ToMilliseconds() == 1_700_000_000_123
    assert (event.content_sha256, event.word_count, event.file_size_bytes) == (SHA, 321, 1234)
    assert outcome_event(record()) == event  # a re-publish is byte-for-byte the same event


def test_rejected_record_becomes_validation_failed() -> None:
    event = outcome_event(record(rejection=RejectionCode.CORRUPT_FILE, detail="Broken."))
    assert isinstance(event, events_pb2.EssayValidationFailed)
    assert event.error_code == common_pb2.VALIDATION_ERROR_CODE_CORRUPT_FILE
    assert event.detail == "Broken."


def test_every_rejection_code_exists_in_the_contract() -> None:
    for code in RejectionCode:
        assert common_pb2.ValidationErrorCode.Value(f"VALIDATION_ERROR_CODE_{code.value}")


def test_duplicate_receipt_keeps_the_first_outcome() -> None:
    rejected = record(rejection=RejectionCode.CONTENT_TOO_SHORT, detail="Too short.")
    receipt = receipt_for(rejected, "again.txt", duplicate=True)
    assert receipt.status is UploadStatus.DUPLICATE
    assert receipt.rejection is RejectionCode.CONTENT_TOO_SHORT
    assert "Too short." in receipt.detail and receipt.file_name == "again.txt"


def test_settings_defaults_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FILE_MIN_WORDS", "FILE_MAX_WORDS", "FILE_EXTRACTION_TIMEOUT_S"):
        monkeypatch.delenv(name, raising=False)
    defaults = FileServiceSettings.from_env()
    assert (defaults.limits.min_words, defaults.limits.max_words) == (25, 10_000)
    assert defaults.ingest.max_upload_bytes == 10 * 1024 * 1024
    assert defaults.grpc_max_message_bytes > defaults.ingest.max_upload_bytes

    monkeypatch.setenv("FILE_MIN_WORDS", "5")
    monkeypatch.setenv("FILE_EXTRACTION_TIMEOUT_S", "2.5")
    monkeypatch.setenv("FILE_REGISTRATION_WAIT_S", "0")
    settings = FileServiceSettings.from_env()
    assert settings.limits.min_words == 5
    assert settings.pool.timeout_s == 2.5
    assert settings.ingest.registration_wait_s == 0.0


@pytest.mark.parametrize(
    ("name", "value"),
    [("FILE_MIN_WORDS", "many"), ("FILE_EXTRACTION_WORKERS", "0"), ("FILE_MAX_WORDS", "3")],
)
def test_bad_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match="FILE_"):
        FileServiceSettings.from_env()
