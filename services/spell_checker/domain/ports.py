"""What the Spell Checker needs from outside, as protocols the adapters and test fakes satisfy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from google.protobuf.message import Message

from huleedu.common.v1 import common_pb2
from services.spell_checker.domain.model import CheckResult


class ContentStore(Protocol):
    """Reads essays and stores corrected text (the Content Service), as the essay's tenant."""

    async def get(self, storage_id: str, *, tenant: str) -> bytes:
        """The bytes the tenant stored under `storage_id`."""
        ...

    async def put(
        self,
        content: bytes,
        kind: common_pb2.ContentKind.ValueType,
        media_type: str,
        *,
        tenant: str,
    ) -> str:
        """Store `content` as the tenant's; return its storage id."""
        ...

    async def get_many(self, storage_ids: Sequence[str], *, tenant: str) -> list[bytes]:
        """The bytes the tenant stored under each id, in order; fails as a whole if any id is
        unknown."""
        ...

    async def put_many(
        self,
        items: Sequence[tuple[bytes, common_pb2.ContentKind.ValueType, str]],
        *,
        tenant: str,
        holder: str = "",
    ) -> list[str]:
        """Store each (content, kind, media type) as the tenant's, held by `holder` (the
        batch); their storage ids, in order."""
        ...


class CheckerPool(Protocol):
    """Checks essays off the event loop (the worker pool)."""

    async def check(self, language: str, text: str, allowed_words: Sequence[str]) -> CheckResult:
        """Check `text` in `language`."""
        ...

    async def check_many(
        self, essays: Sequence[tuple[str, str, Sequence[str]]]
    ) -> list[CheckResult]:
        """Check each (language, text, allowed words), in order; the work is shared among the
        workers. Fails as a whole if any check fails."""
        ...


class EventSink(Protocol):
    """Publishes events (the mesh EventPublisher)."""

    async def publish(self, event: Message) -> object:
        """Publish `event` and wait until the stream has it."""
        ...
