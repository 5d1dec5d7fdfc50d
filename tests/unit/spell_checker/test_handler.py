"""The spell-check request handler, with fakes for the Content Service, the pool and NATS."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import pytest
from google.protobuf.message import Message

from huleedu.common.v1 import common_pb2
from huleedu.common.v1.common_pb2 import SpellcheckDetails
from huleedu.events.v1 import events_pb2
from services.mesh.consumer import PermanentError, TransientError
from services.mesh.content_client import ContentNotFoundError, ContentRejectedError
from services.mesh.event_ids import new_metadata
from services.mesh.outage import DependencyUnavailable
from services.spell_checker.domain.checker import EssayChecker
from services.spell_checker.domain.languages import resolve_language
from services.spell_checker.domain.model import CheckResult, apply_corrections
from services.spell_checker.entrypoints.event_handlers import (
    SpellcheckRequestHandler,
    completion_event_id,
    group_completion_event_id,
)

SUCCESS = common_pb2.SPELLCHECK_STATUS_SUCCESS
FAILED = common_pb2.SPELLCHECK_STATUS_FAILED


class FakeContent:
    """Content Service in a dict; `failures` are raised by the next calls, one each."""

    def __init__(self) -> None:
        self.stored: dict[str, bytes] = {}
        self.kinds: dict[str, int] = {}
        self.failures: list[Exception] = []
        self.calls: list[str] = []

    def add(self, text: str | bytes) -> str:
        storage_id = uuid.uuid4().hex
        self.stored[storage_id] = text.encode() if isinstance(text, str) else text
        return storage_id

    async def get(self, storage_id: str, *, tenant: str) -> bytes:
        self.calls.append("get")
        if self.failures:
            raise self.failures.pop(0)
        if storage_id not in self.stored:
            raise ContentNotFoundError(f"no content {storage_id}")
        return self.stored[storage_id]

    async def put(
        self,
        content: bytes,
        kind: common_pb2.ContentKind.ValueType,
        media_type: str,
        *,
        tenant: str,
    ) -> str:
        self.calls.append("put")
        return self._store(content, kind)

    def _store(self, content: bytes, kind: common_pb2.ContentKind.ValueType) -> str:
        storage_id = next((k for k, v in self.stored.items() if v == content), None)
        storage_id = storage_id or f"sha-{len(self.stored)}"
        self.stored[storage_id] = content
        self.kinds[storage_id] = kind
        return storage_id

    async def get_many(self, storage_ids: Sequence[str], *, tenant: str) -> list[bytes]:
        self.calls.append(f"get_many {len(storage_ids)}")
        if self.failures:
            raise self.failures.pop(0)
        missing = [i for i in storage_ids if i not in self.stored]
        if missing:
            raise ContentNotFoundError(f"no content {missing[0]}")
        return [self.stored[i] for i in storage_ids]

    async def put_many(
        self,
        items: Sequence[tuple[bytes, common_pb2.ContentKind.ValueType, str]],
        *,
        tenant: str,
        holder: str = "",
    ) -> list[str]:
        self.calls.append(f"put_many {len(items)}")
        return [self._store(content, kind) for content, kind, _ in items]


class InlineChecker:
    """Runs the real English checker on the event loop (the pool's job in the service)."""

    def __init__(self, english: EssayChecker) -> None:
        self._english = english
        self.calls = 0
        self.groups: list[int] = []

    async def check(self, language: str, text: str, allowed_words: Sequence[str]) -> CheckResult:
        self.calls += 1
        assert language == "en"
        return self._english.check(text, allowed_words)

    async def check_many(
        self, essays: Sequence[tuple[str, str, Sequence[str]]]
    ) -> list[CheckResult]:
        self.groups.append(len(essays))
        return [await self.check(*essay) for essay in essays]


class FakeEvents:
    def __init__(self) -> None:
        self.published: list[events_pb2.EssaySpellcheckCompleted] = []
        self.groups: list[events_pb2.SpellcheckGroupCompleted] = []

    async def publish(self, event: Message) -> object:
        if isinstance(event, events_pb2.SpellcheckGroupCompleted):
            self.groups.append(event)
            return None
        assert isinstance(event, events_pb2.EssaySpellcheckCompleted)
        self.published.append(event)
        return None


def details(content: FakeContent, done: events_pb2.EssaySpellcheckCompleted) -> SpellcheckDetails:
    """The corrections and unknown words the completion points at; the event itself carries no
    essay text."""
    assert not done.corrections and not done.unknown_words
    assert content.kinds[done.details_storage_id] == common_pb2.CONTENT_KIND_SPELLCHECK_DETAILS
    return SpellcheckDetails.FromString(content.stored[done.details_storage_id])


@pytest.fixture
def content() -> FakeContent:
    return FakeContent()


@pytest.fixture
def events() -> FakeEvents:
    return FakeEvents()


@pytest.fixture
def checker(english: EssayChecker) -> InlineChecker:
    return InlineChecker(english)


@pytest.fixture
def handler(
    content: FakeContent, checker: InlineChecker, events: FakeEvents
) -> SpellcheckRequestHandler:
    return SpellcheckRequestHandler(
        content=content,
        checker=checker,
        events=events,
        default_language="en",
        retry_delay_s=0.5,
        max_group=4,
    )


def request(storage_id: str, language: str = "en") -> events_pb2.EssayLifecycleSpellcheckRequest:
    return events_pb2.EssayLifecycleSpellcheckRequest(
        metadata=new_metadata("essay_lifecycle", correlation_id=f"corr-{uuid.uuid4().hex}"),
        batch_id=f"batch-{uuid.uuid4().hex[:8]}",
        essay_id=f"essay-{uuid.uuid4().hex[:8]}",
        text_storage_id=storage_id,
        language=language,
    )


async def test_a_checked_essay_is_stored_and_reported(
    handler: SpellcheckRequestHandler, content: FakeContent, events: FakeEvents
) -> None:
    original = "I beleive teh Huleedu platfrom is good."
    asked = request(content.add(original))
    asked.allowed_words.append("huleedu")
    await handler.handle(asked, last_attempt=False)
    (done,) = events.published
    assert done.status == SUCCESS and done.error == ""
    assert (done.batch_id, done.essay_id) == (asked.batch_id, asked.essay_id)
    assert done.metadata.event_id == completion_event_id(asked)
    assert done.metadata.correlation_id == asked.metadata.correlation_id
    assert done.metadata.causation_id == asked.metadata.event_id
    assert done.metadata.producer == "spell_checker"
    found = details(content, done)
    assert [(c.original, c.replacement) for c in found.corrections] == [
        ("beleive", "believe"),
        ("teh", "the"),
        ("platfrom", "platform"),
    ]
    assert done.correction_count == 3 and done.word_count == 7
    corrected = content.stored[done.corrected_text_storage_id].decode()
    assert corrected == "I believe the Huleedu platform is good."
    assert content.kinds[done.corrected_text_storage_id] == common_pb2.CONTENT_KIND_CORRECTED_TEXT
    assert apply_corrections(original, found.corrections) == corrected  # type: ignore[arg-type]
    # One write for the corrected text and the details together.
    assert content.calls == ["get", "put_many 2"]


async def test_an_essay_with_nothing_to_list_stores_no_details(
    handler: SpellcheckRequestHandler, content: FakeContent, events: FakeEvents
) -> None:
    await handler.handle(request(content.add("All is well here.")), last_attempt=False)
    (done,) = events.published
    assert done.status == SUCCESS and done.details_storage_id == ""
    assert content.calls == ["get", "put_many 1"]


async def test_the_same_details_are_the_same_bytes_and_the_same_storage_id(
    handler: SpellcheckRequestHandler, content: FakeContent, events: FakeEvents
) -> None:
    asked = request(content.add("Ths essay has a qwzxvbnmk in it."))
    await handler.handle(asked, last_attempt=False)
    await handler.handle(asked, last_attempt=False)
    first, again = events.published
    assert first.details_storage_id and first.details_storage_id == again.details_storage_id
    assert details(content, first).unknown_words == ["qwzxvbnmk"]


async def test_an_essay_in_another_language_is_stored_unchanged_with_the_warning(
    handler: SpellcheckRequestHandler, content: FakeContent, events: FakeEvents
) -> None:
    swedish = (
        "Jag tycker att skolan borde börja senare på morgonen. Många elever är trötta och kan "
        "inte koncentrera sig under första lektionen, och lärarna skulle också tjäna på det."
    )
    await handler.handle(request(content.add(swedish)), last_attempt=False)
    (done,) = events.published
    assert done.status == SUCCESS and done.correction_count == 0 and not done.corrections
    assert "seems to be in another language" in done.warning
    assert content.stored[done.corrected_text_storage_id].decode() == swedish


async def test_redelivery_publishes_the_same_event_id(
    handler: SpellcheckRequestHandler, content: FakeContent, events: FakeEvents
) -> None:
    asked = request(content.add("Helo world"))
    await handler.handle(asked, last_attempt=False)
    await handler.handle(asked, last_attempt=False)
    first, second = events.published
    assert first.metadata.event_id == second.metadata.event_id == completion_event_id(asked)
    other = request(asked.text_storage_id)
    assert completion_event_id(other) != completion_event_id(asked)


async def test_unsupported_language_fails_the_essay_without_reading_it(
    handler: SpellcheckRequestHandler, checker: InlineChecker, events: FakeEvents
) -> None:
    await handler.handle(request("never-read", language="da"), last_attempt=False)
    (done,) = events.published
    assert done.status == FAILED
    assert "language 'da' is not supported" in done.error
    assert "supported languages: en, en-GB, en-US, es" in done.error
    assert done.error.endswith(", fa, sv")
    assert done.corrected_text_storage_id == "" and checker.calls == 0


async def test_empty_language_takes_the_default(
    handler: SpellcheckRequestHandler, content: FakeContent, events: FakeEvents
) -> None:
    await handler.handle(request(content.add("Helo"), language=""), last_attempt=False)
    assert events.published[0].status == SUCCESS
    assert resolve_language("", "fr") == "fr"
    assert resolve_language("en_GB", "fr") == "en-GB"


@pytest.mark.parametrize(
    "failure",
    [
        TransientError("content service GetContent: ABORTED: try again"),
        ContentNotFoundError("content service GetContent x: NOT_FOUND: no such content"),
    ],
)
async def test_content_failures_are_retried_then_reported(
    handler: SpellcheckRequestHandler,
    content: FakeContent,
    events: FakeEvents,
    failure: Exception,
) -> None:
    asked = request(content.add("Helo"))
    content.failures.append(failure)
    with pytest.raises(TransientError) as raised:
        await handler.handle(asked, last_attempt=False)
    assert raised.value.delay_s == 0.5 and events.published == []
    content.failures.append(failure)
    await handler.handle(asked, last_attempt=True)
    (done,) = events.published
    assert done.status == FAILED and done.error.startswith("gave up after retries: content")
    assert done.metadata.event_id == completion_event_id(asked)


async def test_an_unavailable_content_service_is_waited_for_even_on_the_last_delivery(
    handler: SpellcheckRequestHandler, content: FakeContent, events: FakeEvents
) -> None:
    """The consumer runs the request again while the dependency is away; only after its whole
    horizon, on the last delivery, does the essay end FAILED."""
    asked = request(content.add("Helo"))
    content.failures.append(DependencyUnavailable("content service GetContent: UNAVAILABLE"))
    with pytest.raises(DependencyUnavailable):
        await handler.handle(asked, last_attempt=True)
    assert events.published == []
    content.failures.append(DependencyUnavailable("content service GetContent: UNAVAILABLE"))
    with pytest.raises(TransientError):
        await handler.handle(asked, last_attempt=False, give_up_on_dependencies=True)
    content.failures.append(DependencyUnavailable("content service GetContent: UNAVAILABLE"))
    await handler.handle(asked, last_attempt=True, give_up_on_dependencies=True)
    (done,) = events.published
    assert done.status == FAILED and "UNAVAILABLE" in done.error
    await handler.handle(asked, last_attempt=True)  # back: checked, under the same event id
    assert events.published[-1].status == SUCCESS
    assert events.published[-1].metadata.event_id == done.metadata.event_id


async def test_text_that_is_not_utf8_fails_at_once(
    handler: SpellcheckRequestHandler, content: FakeContent, events: FakeEvents
) -> None:
    await handler.handle(request(content.add(b"caf\xe9 latin-1")), last_attempt=False)
    (done,) = events.published
    assert done.status == FAILED and "not UTF-8" in done.error


async def test_a_rejected_store_fails_the_essay(
    handler: SpellcheckRequestHandler, content: FakeContent, events: FakeEvents
) -> None:
    asked = request(content.add("Helo"))

    async def refuse(*args: object, **kwargs: object) -> str:
        raise ContentRejectedError("content service PutContent: INVALID_ARGUMENT: no")

    content.put_many = refuse  # type: ignore[method-assign]
    await handler.handle(asked, last_attempt=False)
    assert events.published[0].status == FAILED
    assert "cannot store the corrected text" in events.published[0].error


async def test_an_unexpected_error_is_retried_and_reported_on_the_last_delivery(
    content: FakeContent, events: FakeEvents
) -> None:
    class BrokenChecker:
        async def check(self, language: str, text: str, allowed: Sequence[str]) -> CheckResult:
            raise RuntimeError("boom")

    handler = SpellcheckRequestHandler(
        content=content, checker=BrokenChecker(), events=events, default_language="en",
        retry_delay_s=0.1,
    )  # fmt: skip
    asked = request(content.add("Helo"))
    with pytest.raises(RuntimeError):
        await handler.handle(asked, last_attempt=False)
    await handler.handle(asked, last_attempt=True)
    assert events.published[0].status == FAILED and "boom" in events.published[0].error


@pytest.mark.parametrize("field", ["batch_id", "essay_id"])
async def test_a_request_without_its_ids_is_refused_unchecked_and_unanswered(
    handler: SpellcheckRequestHandler,
    content: FakeContent,
    checker: InlineChecker,
    events: FakeEvents,
    field: str,
) -> None:
    asked = request(content.add("An essay that nobody could take the answer of."))
    asked.ClearField(field)  # type: ignore[arg-type]
    with pytest.raises(PermanentError, match=field):
        await handler.handle(asked, last_attempt=False)
    assert checker.calls == 0 and events.published == []


async def test_requests_that_arrive_together_are_read_checked_and_stored_together(
    handler: SpellcheckRequestHandler,
    content: FakeContent,
    checker: InlineChecker,
    events: FakeEvents,
) -> None:
    texts = [f"Essay {n}: I beleive teh answer is {n}." for n in range(6)] + ["All fine here."]
    asked = [request(content.add(text)) for text in texts]
    for one in asked:
        one.batch_id = "batch-of-seven"  # one batch holds what is stored: one write per group

    await asyncio.gather(*(handler.handle(r, last_attempt=False) for r in asked))

    # Each group's corrected texts and details in one write; the essays with corrections have
    # the same details (same words at the same offsets): stored once per group.
    assert sorted(content.calls) == ["get_many 3", "get_many 4", "put_many 4", "put_many 5"]
    assert sorted(checker.groups) == [3, 4]
    by_essay = {e.essay_id: e for e in events.published}
    for asked_one, text in zip(asked, texts, strict=True):
        done = by_essay[asked_one.essay_id]
        assert done.status == SUCCESS
        assert done.metadata.event_id == completion_event_id(asked_one)
        corrected = content.stored[done.corrected_text_storage_id].decode()
        listed = details(content, done).corrections if done.details_storage_id else []
        assert corrected == apply_corrections(text, listed)  # type: ignore[arg-type]
        assert ("believe the" in corrected) == ("beleive" in text)


async def test_one_bad_essay_in_a_group_meets_its_own_error_and_the_rest_succeed(
    handler: SpellcheckRequestHandler, content: FakeContent, events: FakeEvents
) -> None:
    good = [request(content.add(f"Essay {n} is spelt rihgt.")) for n in range(2)]
    not_utf8 = request(content.add(b"\xff\xfe broken"))
    missing = request("no-such-id")

    outcomes = await asyncio.gather(
        *(handler.handle(r, last_attempt=False) for r in [*good, not_utf8, missing]),
        return_exceptions=True,
    )

    assert outcomes[:3] == [None, None, None]
    assert isinstance(outcomes[3], TransientError)  # not stored yet: retried by redelivery
    statuses = {e.essay_id: e.status for e in events.published}
    assert statuses == {
        good[0].essay_id: SUCCESS,
        good[1].essay_id: SUCCESS,
        not_utf8.essay_id: FAILED,
    }


async def test_a_group_redelivered_publishes_the_same_events_again(
    handler: SpellcheckRequestHandler, content: FakeContent, events: FakeEvents
) -> None:
    asked = [request(content.add(f"Essay {n} has a mistaek.")) for n in range(3)]
    for _ in range(2):
        await asyncio.gather(*(handler.handle(r, last_attempt=False) for r in asked))

    first, second = events.published[:3], events.published[3:]
    assert [e.SerializeToString() for e in first] != []
    assert {e.metadata.event_id for e in first} == {e.metadata.event_id for e in second}
    assert {e.corrected_text_storage_id for e in first} == {
        e.corrected_text_storage_id for e in second
    }


def group(*storage_ids: str, language: str = "en") -> events_pb2.SpellcheckGroupRequested:
    return events_pb2.SpellcheckGroupRequested(
        metadata=new_metadata("essay_lifecycle", correlation_id=f"corr-{uuid.uuid4().hex}"),
        batch_id=f"batch-{uuid.uuid4().hex[:8]}",
        language=language,
        essays=[
            events_pb2.SpellcheckGroupRequested.Essay(
                essay_id=f"essay-{n}-{uuid.uuid4().hex[:8]}", text_storage_id=storage_id
            )
            for n, storage_id in enumerate(storage_ids)
        ],
    )


async def test_a_group_is_read_checked_stored_and_reported_together(
    handler: SpellcheckRequestHandler,
    content: FakeContent,
    checker: InlineChecker,
    events: FakeEvents,
) -> None:
    texts = ["I beleive it.", "Teh end.", "All fine here."]
    asked = group(*(content.add(text) for text in texts))
    await handler.handle_group(asked, last_attempt=False)
    await handler.handle_group(asked, last_attempt=False)  # redelivered

    assert events.published == []  # a group is answered as a group
    first, again = events.groups
    assert first.metadata.event_id == again.metadata.event_id
    assert first.results == again.results
    assert first.batch_id == asked.batch_id
    assert first.metadata.causation_id == asked.metadata.event_id
    assert first.metadata.event_id == group_completion_event_id(asked)
    assert [r.essay_id for r in first.results] == [e.essay_id for e in asked.essays]
    assert {r.status for r in first.results} == {SUCCESS}
    assert checker.groups == [3, 3] and content.calls.count("get_many 3") == 2
    for result, text in zip(first.results, texts, strict=True):
        corrected = content.stored[result.corrected_text_storage_id].decode()
        listed = (
            SpellcheckDetails.FromString(content.stored[result.details_storage_id]).corrections
            if result.details_storage_id
            else []
        )
        assert corrected == apply_corrections(text, listed)  # type: ignore[arg-type]
        assert result.correction_count == len(listed)
    assert [r.correction_count for r in first.results] == [1, 1, 0]


async def test_an_essay_to_retry_holds_its_group_back_and_each_essay_is_reported_once(
    handler: SpellcheckRequestHandler, content: FakeContent, events: FakeEvents
) -> None:
    asked = group(content.add("Spelt rihgt."), content.add(b"\xff\xfe broken"), "no-such-id")
    good, broken, missing = (e.essay_id for e in asked.essays)
    with pytest.raises(TransientError):  # not stored yet: the group is redelivered
        await handler.handle_group(asked, last_attempt=False)
    assert events.groups == []

    await handler.handle_group(asked, last_attempt=True)
    (whole,) = events.groups
    assert {r.essay_id: r.status for r in whole.results} == {
        good: SUCCESS,
        broken: FAILED,
        missing: FAILED,
    }
    assert "not UTF-8" in whole.results[1].error
    assert whole.results[2].error.startswith("gave up after retries: ")
    assert whole.metadata.event_id == group_completion_event_id(asked)


async def test_a_group_waits_for_an_unavailable_dependency_without_reporting(
    handler: SpellcheckRequestHandler, content: FakeContent, events: FakeEvents
) -> None:
    asked = group(content.add("Helo"), content.add("Wrold"))
    content.failures.append(DependencyUnavailable("content service GetContent: UNAVAILABLE"))
    content.failures.append(DependencyUnavailable("content service GetContent: UNAVAILABLE"))
    content.failures.append(DependencyUnavailable("content service GetContent: UNAVAILABLE"))
    with pytest.raises(DependencyUnavailable):
        await handler.handle_group(asked, last_attempt=True)
    assert events.groups == []
    await handler.handle_group(asked, last_attempt=True)  # back
    assert [r.status for r in events.groups[0].results] == [SUCCESS, SUCCESS]


async def test_a_group_in_an_unsupported_language_fails_unread(
    handler: SpellcheckRequestHandler, content: FakeContent, events: FakeEvents
) -> None:
    asked = group(content.add("Hej"), content.add("Hallå"), language="xx-YY")
    await handler.handle_group(asked, last_attempt=False)
    (done,) = events.groups
    assert [r.status for r in done.results] == [FAILED, FAILED]
    assert all("xx-YY" in r.error for r in done.results)
    assert content.calls == []


@pytest.mark.parametrize("flaw", ["batch_id", "essays", "essay_id"])
async def test_a_group_without_its_ids_is_refused_unchecked(
    handler: SpellcheckRequestHandler,
    content: FakeContent,
    checker: InlineChecker,
    events: FakeEvents,
    flaw: str,
) -> None:
    asked = group(content.add("An essay."), content.add("Another."))
    if flaw == "essay_id":
        asked.essays[1].ClearField("essay_id")
    else:
        asked.ClearField(flaw)  # type: ignore[arg-type]
    with pytest.raises(PermanentError):
        await handler.handle_group(asked, last_attempt=False)
    assert checker.calls == 0 and events.groups == []
