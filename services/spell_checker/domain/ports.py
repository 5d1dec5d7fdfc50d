"""What the Spell Checker needs from outside, as protocols the adapters and test fakes satisfy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from google.protobuf.message import Message

from huleedu.common.v1 import common_pb2
from services.spell_checker.domain.model import CheckResult


class ContentStore(Protocol):
    """Reads essays and stores corrected text (the Content Service)."""

    async def get(self, storage_id: str) -> bytes:
        """The bytes stored under `storage_id`."""
        ...

    async def put(
        self, content: bytes, kind: common_pb2.ContentKind.ValueType, media_type: str
    ) -> str:
        """Store `content`; return its storage id."""
        ...


class CheckerPool(Protocol):
    """Checks one essay off the event loop (the worker pool)."""

    async def check(self, language: str, text: str, allowed_words: Sequence[str]) -> CheckResult:
        """Check `text` in `language`."""
        ...


class EventSink(Protocol):
    """Publishes events (the mesh EventPublisher)."""

    async def publish(self, event: Message) -> object:
        """Publish `event` and wait until the stream has it."""
        ...
