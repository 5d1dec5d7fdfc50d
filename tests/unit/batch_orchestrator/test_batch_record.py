"""BOS stores a BatchRecord (internal) and answers a Batch (public): every public field must keep
its number, type and cardinality in the record, so a record becomes the API message by its bytes,
and a field only the record has never reaches a client."""

from __future__ import annotations

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.timestamp_pb2 import Timestamp

from huleedu.batch.v1 import batch_service_pb2 as pb
from huleedu.common.v1 import common_pb2
from huleedu.internal.bos.v1.batch_record_pb2 import BatchRecord
from services.batch_orchestrator.entrypoints.grpc_servicer import as_api


def _shape(field: FieldDescriptor) -> tuple[int, int, str, bool]:
    kind = field.message_type or field.enum_type
    return (field.number, field.type, kind.full_name if kind else "", field.is_repeated)


def test_every_public_batch_field_has_the_same_number_and_type_in_the_record() -> None:
    record_fields = {field.name: _shape(field) for field in BatchRecord.DESCRIPTOR.fields}
    for field in pb.Batch.DESCRIPTOR.fields:
        assert record_fields.get(field.name) == _shape(field), field.name


def test_a_record_answers_as_the_same_batch() -> None:
    record = BatchRecord(
        batch_id="b-1",
        status=common_pb2.BATCH_STATUS_SPELLCHECKING,
        course_code="ENG5",
        language="en",
        essay_ids=["e-1", "e-2"],
        counts=pb.BatchCounts(expected=2, assigned=2),
        phase_states=[pb.PhaseState(phase=common_pb2.PHASE_SPELLCHECK)],
        created_at=Timestamp(seconds=1_700_000_000),
        ready_essays=[common_pb2.EssayRef(essay_id="e-1", text_storage_id="t-1")],
        failed_essay_ids=["e-2"],
    )
    batch = as_api(record)
    assert batch.SerializeToString(deterministic=True) == record.SerializeToString(
        deterministic=True
    )
    assert batch.batch_id == "b-1" and list(batch.essay_ids) == ["e-1", "e-2"]


def test_a_field_only_the_record_has_is_left_out_of_the_answer() -> None:
    unknown_to_the_api = b"\xf8\x06\x01"  # field 111, varint 1: a field the public Batch lacks
    record = BatchRecord.FromString(
        BatchRecord(batch_id="b-1").SerializeToString() + unknown_to_the_api
    )
    batch = as_api(record)
    assert batch.SerializeToString() == pb.Batch(batch_id="b-1").SerializeToString()
