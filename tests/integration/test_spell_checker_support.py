"""Helpers for the Spell Checker integration tests (no tests here): essays stored in a real
Content Service, requests published on the real stream, completions read back from it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

from huleedu.common.v1 import common_pb2
from huleedu.events.v1 import events_pb2
from services.content_service.settings import ContentServiceSettings
from services.mesh.content_client import ContentClient
from services.mesh.event_ids import new_metadata
from services.mesh.publisher import EventPublisher
from services.mesh.settings import NatsSettings
from services.spell_checker.adapters.checkers import CheckerConfig, Engine
from services.spell_checker.settings import SpellCheckerSettings
from tests.harness.coordination_harness import EventTap
from tests.harness.spellcheck_common import read_essays
from tests.support import unique

MAX_DELIVER = 3  # every Spell Checker of the session binds the durable with the same config
ESSAY_MEDIA_TYPE = "text/plain; charset=utf-8"


@dataclasses.dataclass(frozen=True)
class StoredEssay:
    """A corpus essay as the Content Service holds it."""

    name: str
    text: str
    storage_id: str


def content_settings(nats: NatsSettings) -> ContentServiceSettings:
    """A Content Service on a free port."""
    return ContentServiceSettings(
        addr="127.0.0.1:0", max_object_bytes=10 * 1024 * 1024, log_level="INFO", nats=nats
    )


def spell_checker_settings(
    nats: NatsSettings, content_port: int, cache_dir: Path, **overrides: object
) -> SpellCheckerSettings:
    """An in-process Spell Checker on a free port with two workers."""
    settings = SpellCheckerSettings(
        addr="127.0.0.1:0",
        content_addr=f"127.0.0.1:{content_port}",
        nats=dataclasses.replace(nats, max_deliver=MAX_DELIVER),
        workers=2,
        in_flight=8,
        max_group=4,
        default_language="en",
        retry_delay_s=0.2,
        log_level="INFO",
        checker=CheckerConfig(Engine.SYMSPELL, cache_dir, allowed_words=("huleedu",)),
    )
    return dataclasses.replace(settings, **overrides)  # type: ignore[arg-type]


async def store_essays(content: ContentClient, count: int, skip: int = 0) -> list[StoredEssay]:
    """Put `count` corpus essays (after the first `skip`) into the Content Service."""
    essays = read_essays(skip + count)[skip:]
    return [
        StoredEssay(
            name,
            text,
            await content.put(
                text.encode("utf-8"),
                common_pb2.CONTENT_KIND_EXTRACTED_TEXT,
                ESSAY_MEDIA_TYPE,
                tenant="",
            ),
        )
        for name, text in essays
    ]


def spellcheck_request(
    batch_id: str, storage_id: str, *, language: str = "en", essay_id: str | None = None
) -> events_pb2.EssayLifecycleSpellcheckRequest:
    """A request as ELS sends it."""
    return events_pb2.EssayLifecycleSpellcheckRequest(
        metadata=new_metadata("essay_lifecycle", correlation_id=batch_id),
        batch_id=batch_id,
        essay_id=essay_id or unique("essay"),
        text_storage_id=storage_id,
        language=language,
    )


async def request_all(
    publisher: EventPublisher, batch_id: str, essays: Iterable[StoredEssay]
) -> dict[str, StoredEssay]:
    """Publish one request per essay; return the essays by essay id."""
    by_essay: dict[str, StoredEssay] = {}
    for essay in essays:
        request = spellcheck_request(batch_id, essay.storage_id)
        await publisher.publish(request)
        by_essay[request.essay_id] = essay
    return by_essay


def completions(tap: EventTap, batch_id: str) -> list[events_pb2.EssaySpellcheckCompleted]:
    """The completions the stream stored for the batch."""
    return tap.of(events_pb2.EssaySpellcheckCompleted, {batch_id})
