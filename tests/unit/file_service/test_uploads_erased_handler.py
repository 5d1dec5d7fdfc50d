"""The File Service's handler of EssayUploadsErased, with a fake in place of the eraser: it
forgets exactly the uploads named, and an event it can never act on (no batch, an upload without
a SHA-256 or id, a SHA-256 that is not lowercase hex, which would be a wildcard in a KV subject)
is a PermanentError (the DLQ, with the reason), never a guess."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import pytest

from huleedu.events.v1 import events_pb2
from services.file_service.entrypoints.event_handlers import uploads_erased_handler
from services.mesh import subjects
from services.mesh.consumer import Delivery, PermanentError

SHA = "ab" * 32
Upload = events_pb2.EssayUploadsErased.Upload


class FakeEraser:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[tuple[str, str]]]] = []

    async def forget(self, batch_id: str, uploads: Sequence[tuple[str, str]]) -> int:
        self.calls.append((batch_id, list(uploads)))
        return len(uploads)


def delivery() -> Delivery:
    return Delivery(
        subject=subjects.ESSAY_UPLOADS_ERASED,
        num_delivered=1,
        max_deliver=5,
        stream_seq=1,
        headers={},
        msg=cast(Any, None),
    )


async def test_the_uploads_named_are_forgotten() -> None:
    eraser = FakeEraser()
    event = events_pb2.EssayUploadsErased(
        batch_id="b1", uploads=[Upload(content_sha256=SHA, file_upload_id="u1")]
    )
    await uploads_erased_handler(eraser.forget)(event, delivery())
    assert eraser.calls == [("b1", [(SHA, "u1")])]


@pytest.mark.parametrize(
    ("batch_id", "upload", "said"),
    [
        ("", Upload(content_sha256=SHA, file_upload_id="u1"), "without a batch_id"),
        ("b1", Upload(content_sha256=SHA), "upload id"),
        ("b1", Upload(content_sha256="", file_upload_id="u1"), "SHA-256"),
        ("b1", Upload(content_sha256=SHA.upper(), file_upload_id="u1"), "lowercase hex"),
        ("b1", Upload(content_sha256=">", file_upload_id="u1"), "'>'"),
    ],
)
async def test_an_upload_it_cannot_name_is_refused_for_good(
    batch_id: str, upload: events_pb2.EssayUploadsErased.Upload, said: str
) -> None:
    eraser = FakeEraser()
    event = events_pb2.EssayUploadsErased(batch_id=batch_id, uploads=[upload])
    with pytest.raises(PermanentError) as refused:
        await uploads_erased_handler(eraser.forget)(event, delivery())
    assert said in str(refused.value)
    assert eraser.calls == []


async def test_another_event_type_is_refused_for_good() -> None:
    with pytest.raises(PermanentError, match="expected EssayUploadsErased"):
        await uploads_erased_handler(FakeEraser().forget)(
            events_pb2.BatchErasureRequested(batch_id="b1"), delivery()
        )
