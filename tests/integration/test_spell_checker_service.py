"""The Spell Checker end to end on a real nats-server and a real Content Service (in-process)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from huleedu.common.v1 import common_pb2
from huleedu.events.v1 import events_pb2
from services.content_service.bootstrap import PROGRAM as CONTENT
from services.content_service.bootstrap import ContentService
from services.mesh import subjects
from services.mesh.content_client import ContentClient
from services.mesh.dead_letters import HEADER_DLQ_REASON
from services.mesh.publisher import HEADER_MSG_ID, HEADER_TYPE, EventPublisher
from services.mesh.settings import NatsSettings
from services.mesh.streams import DLQ_STREAM
from services.spell_checker.bootstrap import PROGRAM as SPELL_CHECKER
from services.spell_checker.bootstrap import SpellCheckerService
from services.spell_checker.domain.model import Correction, apply_corrections
from services.spell_checker.entrypoints.event_handlers import completion_event_id
from tests.harness.coordination_harness import EventTap
from tests.integration.test_spell_checker_support import (
    completions,
    content_settings,
    request_all,
    spell_checker_settings,
    spellcheck_request,
    store_essays,
)
from tests.support import unique, wait_until

NatsJs = tuple[Client, JetStreamContext]
SUCCESS = common_pb2.SPELLCHECK_STATUS_SUCCESS
FAILED = common_pb2.SPELLCHECK_STATUS_FAILED


@dataclass
class Running:
    content_service: ContentService
    spell_checker: SpellCheckerService
    content: ContentClient


@pytest.fixture(scope="module")
async def running(
    nats_settings: NatsSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Running]:
    content_service = await CONTENT.start(content_settings(nats_settings))
    spell_checker = await SPELL_CHECKER.start(
        spell_checker_settings(
            nats_settings, content_service.port, tmp_path_factory.mktemp("spell-index")
        )
    )
    content = ContentClient(f"127.0.0.1:{content_service.port}")
    yield Running(content_service, spell_checker, content)
    await content.close()
    await spell_checker.stop()
    await content_service.stop()


async def answered(
    tap: EventTap, batch_id: str, count: int
) -> list[events_pb2.EssaySpellcheckCompleted]:
    """The batch's completions once there are `count` of them."""
    return await wait_until(
        lambda: len(completions(tap, batch_id)) == count and completions(tap, batch_id),
        timeout_s=30,
        message=f"{count} requests answered",
    )


async def test_every_request_is_answered_and_its_corrected_text_stored(
    running: Running, nats_js: NatsJs, completions_tap: EventTap
) -> None:
    essays = await store_essays(running.content, 40)
    batch_id = unique("batch")
    by_essay = await request_all(EventPublisher(nats_js[1], "test"), batch_id, essays)
    done = await wait_until(
        lambda: (
            len(completions(completions_tap, batch_id)) >= len(by_essay)
            and completions(completions_tap, batch_id)
        ),
        timeout_s=60,
        message="a completion for every request",
    )
    assert sorted(c.essay_id for c in done) == sorted(by_essay)
    assert {c.status for c in done} == {SUCCESS}
    assert sum(c.correction_count for c in done) > 0
    for completed in done:
        original = by_essay[completed.essay_id].text
        stored = (
            await running.content.get(completed.corrected_text_storage_id, tenant="")
        ).decode()
        # The corrections are essay text: stored in the Content Service, the event has their id.
        details = common_pb2.SpellcheckDetails()
        if completed.details_storage_id:
            details.ParseFromString(
                await running.content.get(completed.details_storage_id, tenant="")
            )
        corrections = [
            Correction(c.offset, c.length, c.original, c.replacement) for c in details.corrections
        ]
        assert stored == apply_corrections(original, corrections)
        assert completed.word_count > 0 and completed.correction_count == len(corrections)
        assert completed.metadata.correlation_id == batch_id


async def test_each_english_tag_corrects_with_its_own_spelling(
    running: Running, nats_js: NatsJs, completions_tap: EventTap
) -> None:
    text = "The neigborhood was beatiful, and my favourite colour is the favorite color here."
    storage_id = await running.content.put(
        text.encode(),
        common_pb2.CONTENT_KIND_EXTRACTED_TEXT,
        "text/plain; charset=utf-8",
        tenant="",
    )
    batch_id = unique("batch")
    publisher = EventPublisher(nats_js[1], "test")
    requests = {
        tag: spellcheck_request(batch_id, storage_id, language=tag)
        for tag in ("en", "en-GB", "EN_us")
    }
    for request in requests.values():
        await publisher.publish(request)
    done = await answered(completions_tap, batch_id, 3)
    texts = {
        completed.essay_id: (
            await running.content.get(completed.corrected_text_storage_id, tenant="")
        ).decode()
        for completed in done
    }
    # `en` writes British fixes too in an essay that spells a word British-only (`colour`)
    british = text.replace("neigborhood", "neighbourhood").replace("beatiful", "beautiful")
    assert texts[requests["en"].essay_id] == british
    assert texts[requests["en-GB"].essay_id] == british
    assert texts[requests["EN_us"].essay_id] == (
        "The neighborhood was beautiful, and my favorite color is the favorite color here."
    )


async def test_a_swedish_essay_is_corrected_in_swedish(
    running: Running, nats_js: NatsJs, completions_tap: EventTap
) -> None:
    text = (
        "Jag behöber pengar till skolbiblioteket. Mina vanner tycker att fotbollsmatchen var "
        "bätter än förra året, och Anna från Lindköping håller med."
    )
    storage_id = await running.content.put(
        text.encode(),
        common_pb2.CONTENT_KIND_EXTRACTED_TEXT,
        "text/plain; charset=utf-8",
        tenant="",
    )
    batch_id = unique("batch")
    publisher = EventPublisher(nats_js[1], "test")
    requests = [spellcheck_request(batch_id, storage_id, language=tag) for tag in ("sv", "sv-SE")]
    for request in requests:
        await publisher.publish(request)
    done = await answered(completions_tap, batch_id, 2)
    assert {c.status for c in done} == {SUCCESS}
    for completed in done:
        stored = (
            await running.content.get(completed.corrected_text_storage_id, tenant="")
        ).decode()
        assert stored == (
            "Jag behöver pengar till skolbiblioteket. Mina vänner tycker att fotbollsmatchen var "
            "bättre än förra året, och Anna från Lindköping håller med."
        )
        assert completed.correction_count == 3 and completed.warning == ""


async def test_unsupported_language_and_missing_content_fail_with_a_reason(
    running: Running, nats_js: NatsJs, completions_tap: EventTap
) -> None:
    (essay,) = await store_essays(running.content, 1)
    batch_id = unique("batch")
    publisher = EventPublisher(nats_js[1], "test")
    danish = spellcheck_request(batch_id, essay.storage_id, language="da")
    missing = spellcheck_request(batch_id, "0" * 64)
    await publisher.publish(danish)
    await publisher.publish(missing)
    done = await answered(completions_tap, batch_id, 2)
    by_essay = {c.essay_id: c for c in done}
    assert by_essay[danish.essay_id].status == FAILED
    assert "'da' is not supported" in by_essay[danish.essay_id].error
    assert by_essay[missing.essay_id].status == FAILED
    assert by_essay[missing.essay_id].error.startswith("gave up after retries: content service")


async def test_a_redelivered_request_is_answered_once(
    running: Running, nats_js: NatsJs, completions_tap: EventTap, caplog: pytest.LogCaptureFixture
) -> None:
    (essay,) = await store_essays(running.content, 1, skip=50)
    batch_id = unique("batch")
    publisher = EventPublisher(nats_js[1], "test")
    request = spellcheck_request(batch_id, essay.storage_id)
    answer_id = completion_event_id(request)
    caplog.set_level(logging.INFO, logger="services.mesh.publisher")

    def answer_dropped_as_duplicate() -> bool:
        return any(
            getattr(record, "event_id", None) == answer_id
            and record.getMessage() == "duplicate event dropped by JetStream"
            for record in caplog.records
        )

    # The same request stored twice, as a redelivery after a lost ack hands it over again: the
    # second copy once the first is answered. (Signals of these two messages only: the durable is
    # shared with the session's other tests, whose leftover requests may still be in retries.)
    await publisher.publish(request, headers={HEADER_MSG_ID: unique("first")})
    await wait_until(
        lambda: completions(completions_tap, batch_id), timeout_s=60, message="first answered"
    )
    await publisher.publish(request, headers={HEADER_MSG_ID: unique("again")})
    await wait_until(
        answer_dropped_as_duplicate, timeout_s=60, message="the second answer dropped as a copy"
    )
    (completed,) = completions(completions_tap, batch_id)
    assert completed.metadata.event_id == completion_event_id(request)
    assert completions_tap.id_counts(events_pb2.EssaySpellcheckCompleted, {batch_id}) == {
        completed.metadata.event_id: 1
    }


async def test_an_undecodable_request_goes_to_the_dlq(running: Running, nats_js: NatsJs) -> None:
    _, js = nats_js
    marker = unique("garbage")
    await js.publish(
        subjects.ESSAY_SPELLCHECK_REQUESTED,
        b"\xff\xfe not a protobuf",
        headers={
            HEADER_MSG_ID: marker,
            HEADER_TYPE: events_pb2.EssayLifecycleSpellcheckRequest.DESCRIPTOR.full_name,
            "Test-Marker": marker,
        },
    )

    async def dead_lettered() -> dict[str, str] | None:
        subscription = await js.subscribe(
            subjects.dlq_subject(subjects.ESSAY_SPELLCHECK_REQUESTED),
            stream=DLQ_STREAM,
            ordered_consumer=True,
        )
        try:
            while True:
                try:
                    msg = await subscription.next_msg(timeout=0.3)
                except TimeoutError:
                    return None
                if (msg.headers or {}).get("Test-Marker") == marker:
                    return dict(msg.headers or {})
        finally:
            await subscription.unsubscribe()

    headers = await wait_until(dead_lettered, timeout_s=20, message="the request in the DLQ")
    assert "cannot decode" in headers[HEADER_DLQ_REASON]
