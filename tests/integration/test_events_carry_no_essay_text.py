"""Events carry ids, never essay text, checked on what the five services really store: essays with
distinctive misspelled and unknown words go through the real services in this process, then every
message of HULEEDU_EVENTS and HULEEDU_DLQ (this module's own nats-server: all of them) and every
revision of ELS's KV documents is searched for the essays' words and for any 16 bytes of their
texts. Every event type of events.proto is seen, or listed in NOT_PRODUCED with why.

The essays' corrections and unknown words are stored in the Content Service instead, and GetEssay
still answers them (tests/unit/mesh/test_events_carry_no_essay_text.py checks every field of every
event type)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from huleedu.batch.v1 import batch_service_pb2
from huleedu.common.v1 import common_pb2
from huleedu.essay.v1 import essay_service_pb2
from huleedu.events.v1 import events_pb2
from huleedu.file.v1 import file_service_pb2
from services.essay_lifecycle.adapters.kv_store import BATCHES_BUCKET, ESSAYS_BUCKET
from services.mesh.publisher import HEADER_TYPE
from services.mesh.settings import NatsSettings
from services.mesh.streams import DLQ_STREAM, EVENTS_STREAM
from services.spell_checker.bootstrap import PROGRAM as SPELL_CHECKER
from tests.integration.test_hostile_grpc_support import Mesh, running_mesh
from tests.integration.test_spell_checker_support import spell_checker_settings
from tests.support import wait_until
from tests.unit.mesh.test_events_carry_no_essay_text import event_types

NatsJs = tuple[Client, JetStreamContext]
S = common_pb2.EssayStatus

# Names that share no word with the essays: a file name is not essay text, and may be in events.
CHECKED = {
    "essay-a.txt": (
        "Yesterday our teacher explained photosynthesis while everybody listened carefully. "
        "Unfortunatly several classmates recieved terrible marks becuase they forgot the "
        "experiment. Marguerite brought zorblefrump cookies for everybody afterwards, which "
        "tasted wonderfull and reminded everyone about autumn."
    ),
    "essay-b.txt": (
        "During summer holidays my grandmother teaches beekeeping near Vindeloppa village. Her "
        "hives produce delicous honey, and neighbours purchace jars every weekend. Sometimes "
        "quixotlyx visitors arrive unnanounced, wanting souvenirs, postcards and photographs."
    ),
}
TOO_SHORT = {"note-c.txt": "Flibbertigibbet marshmallow catastrophe overwhelmed Bartholomew."}
LATE = {
    "essay-d.txt": (
        "Thunderstorms frightened the neighbourhood cattle throughout Wednesday night. Farmers "
        "gathered lanterns, blankets, and thermoses before searching meadows carefully for "
        "wandering calves and sheperds who dissapeared somewhere beyond glimmerwold ridge."
    )
}
TIMED_OUT = {
    "essay-e.txt": (
        "Architecture students sketched cathedrals, bridges, and lighthouses during their "
        "excursion. Professor Okonkwo praised their perspectiv drawings, although several "
        "sketches lacked proportion and shading around complicated archways near the harbour."
    )
}
TEXTS = [
    text.encode("utf-8")
    for files in (CHECKED, TOO_SHORT, LATE, TIMED_OUT)
    for text in files.values()
]
WORDS = sorted({word.lower() for text in TEXTS for word in re.findall(rb"[A-Za-z]{6,}", text)})
WINDOW = 16

# Event types no service in this test produces, with why they cannot carry essay text.
NOT_PRODUCED = {
    "huleedu.events.v1.BatchErasureRequested": (
        "produced by DeleteBatch/DeleteEssay only; tests/integration/test_erasure.py reads every "
        "one its batches produce and holds them to ids (batch_id, tenant_id, essay_ids)"
    ),
    "huleedu.events.v1.EssayLifecycleSpellcheckRequest": (
        "one essay per request: what an ELS of before groups sends; "
        "tests/integration/test_spell_checker_service.py answers such requests through the real "
        "Spell Checker, and its fields are ids, a tag and the teacher's allow-list"
    ),
    "huleedu.events.v1.EssaySpellcheckCompleted": (
        "the answer to a one-essay request (above); the fields that carried essay text are "
        "deprecated and never set (tests/unit/mesh/test_events_carry_no_essay_text.py)"
    ),
    "huleedu.events.v1.EssayUploadsErased": (
        "produced by DeleteEssay only; tests/integration/test_erasure.py reads every one its "
        "batches produce and holds them to ids (batch_id, content_sha256, file_upload_id)"
    ),
}


@dataclass
class Stored:
    """One message a stream stored: where, its type and its bytes."""

    where: str
    type_name: str
    data: bytes


def leaks(data: bytes) -> list[str]:
    """The essays' words (6 letters or more) and 16-byte windows of their texts in `data`."""
    lowered = data.lower()
    found = [word.decode() for word in WORDS if word in lowered]
    found += [
        text[i : i + WINDOW].decode(errors="replace")
        for text in TEXTS
        for i in range(len(text) - WINDOW + 1)
        if text[i : i + WINDOW] in data
    ]
    return found


@pytest.fixture(scope="module")
async def stack(
    nats_settings: NatsSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Mesh]:
    async with running_mesh(nats_settings) as mesh:
        checker = await SPELL_CHECKER.start(
            spell_checker_settings(
                nats_settings, mesh.content.port, tmp_path_factory.mktemp("spell-index")
            )
        )
        try:
            yield mesh
        finally:
            await checker.stop()


async def _register(mesh: Mesh, count: int, timeout_s: int) -> str:
    registered = await mesh.batch_stub.RegisterBatch(
        batch_service_pb2.RegisterBatchRequest(
            expected_essay_count=count,
            course_code="ENG5",
            language="en",
            readiness=common_pb2.ReadinessConfig(
                timeout_seconds=timeout_s, partial_batch_threshold=1.0
            ),
        )
    )
    return registered.batch_id


async def _upload(mesh: Mesh, batch_id: str, files: dict[str, str]) -> None:
    """Upload `files` to a batch just registered. This mesh's File Service waits only 0.3 s for a
    registration it has not seen yet, then answers NOT_FOUND, which is safe to send again: sent
    again until the registration has reached it."""

    async def requests() -> AsyncIterator[file_service_pb2.UploadFilesRequest]:
        for name, text in files.items():
            yield file_service_pb2.UploadFilesRequest(
                batch_id=batch_id, file_name=name, content=text.encode("utf-8")
            )

    async def sent() -> bool:
        try:
            await mesh.file_stub.UploadFiles(requests())
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND and "not registered" in (
                error.details() or ""
            ):
                return False
            raise
        return True

    await wait_until(sent, timeout_s=30, message=f"the File Service to take batch {batch_id}")


async def _batch_status(mesh: Mesh, batch_id: str) -> common_pb2.BatchStatus.ValueType:
    response = await mesh.batch_stub.GetBatch(batch_service_pb2.GetBatchRequest(batch_id=batch_id))
    return response.batch.status


async def _stored(js: JetStreamContext, stream: str) -> list[Stored]:
    info = await js.stream_info(stream)
    stored = []
    for seq in range(max(info.state.first_seq, 1), info.state.last_seq + 1):
        try:
            msg = await js.get_msg(stream, seq=seq)
        except NotFoundError:  # removed (a fired schedule): nothing stored there any more
            continue
        headers = msg.headers or {}
        stored.append(Stored(f"{stream} #{seq}", headers.get(HEADER_TYPE, ""), msg.data or b""))
    return stored


async def test_no_event_and_no_els_document_holds_essay_text(stack: Mesh, nats_js: NatsJs) -> None:
    mesh, js = stack, nats_js[1]
    essays = mesh.essay_stub
    # A batch spell-checked end to end, with a file too short to be an essay and a late one.
    checked = await _register(mesh, len(CHECKED) + len(TOO_SHORT), timeout_s=600)
    await _upload(mesh, checked, CHECKED | TOO_SHORT)

    async def spellchecked() -> bool:
        status = await _batch_status(mesh, checked)
        return status == common_pb2.BATCH_STATUS_COMPLETED_WITH_FAILURES

    await wait_until(spellchecked, timeout_s=60, message="the batch spell-checked")
    await _upload(mesh, checked, LATE)  # the batch is closed: reported as excess
    # A batch whose deadline passes with one essay of two.
    timed_out = await _register(mesh, 2, timeout_s=1)
    await _upload(mesh, timed_out, TIMED_OUT)

    async def failed() -> bool:
        return await _batch_status(mesh, timed_out) == common_pb2.BATCH_STATUS_FAILED

    await wait_until(failed, timeout_s=30, message="the second batch timed out")

    async def excess_reported() -> list[Stored] | None:
        events = await _stored(js, EVENTS_STREAM)
        excess = events_pb2.ExcessContentProvisioned.DESCRIPTOR.full_name
        return events if any(e.type_name == excess for e in events) else None

    events = await wait_until(excess_reported, timeout_s=30, message="the late essay reported")
    dead_letters = await _stored(js, DLQ_STREAM)
    # Every revision the buckets keep, read from their streams (nats-py's kv.keys() can miss its
    # end-of-values marker on a busy machine and say there are none).
    documents = await _stored(js, f"KV_{BATCHES_BUCKET}") + await _stored(js, f"KV_{ESSAYS_BUCKET}")

    # The detector finds what the events used to carry.
    old_style = events_pb2.EssaySpellcheckCompleted(unknown_words=["zorblefrump"])
    assert leaks(old_style.SerializeToString()) == ["zorblefrump"]

    for stored in events + dead_letters + documents:
        assert leaks(stored.data) == [], f"{stored.where} ({stored.type_name}) holds essay text"

    by_name = {t.full_name: t for t in event_types()}
    seen = {e.type_name for e in events + dead_letters}
    assert seen <= by_name.keys()
    assert sorted(by_name.keys() - seen) == sorted(NOT_PRODUCED)
    # The spell checks' outcomes name where the corrections are, by id.
    completed_type = events_pb2.SpellcheckGroupCompleted.DESCRIPTOR.full_name
    results = [
        result
        for e in events
        if e.type_name == completed_type
        for result in events_pb2.SpellcheckGroupCompleted.FromString(e.data).results
    ]
    succeeded = [r for r in results if r.status == common_pb2.SPELLCHECK_STATUS_SUCCESS]
    assert len(succeeded) == len(CHECKED)
    assert all(r.details_storage_id and r.correction_count for r in succeeded)

    # GetEssay still answers the corrections and unknown words, from the Content Service.
    listed = await essays.ListBatchEssays(
        essay_service_pb2.ListBatchEssaysRequest(batch_id=checked)
    )
    answered = [
        (await essays.GetEssay(essay_service_pb2.GetEssayRequest(essay_id=essay.essay_id))).essay
        for essay in listed.essays
        if essay.status == S.ESSAY_STATUS_SPELLCHECKED_SUCCESS
    ]
    assert len(answered) == len(CHECKED)
    for essay in answered:
        assert essay.spellcheck_details_storage_id
        assert len(essay.corrections) == essay.correction_count > 0
    made = {(c.original.lower(), c.replacement.lower()) for e in answered for c in e.corrections}
    assert {("recieved", "received"), ("delicous", "delicious")} <= made
    unknown = {w.lower() for e in answered for w in e.unknown_words}
    assert "zorblefrump" in unknown
    assert all(not e.corrections and not e.unknown_words for e in listed.essays)
