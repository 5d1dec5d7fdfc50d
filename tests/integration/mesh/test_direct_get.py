"""One batched direct get for the last message of many subjects (services.mesh.direct_get), on a
real nats-server."""

from __future__ import annotations

import pytest
from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.js import JetStreamContext
from nats.js.api import StreamConfig

from services.mesh.direct_get import MAX_SUBJECTS, last_messages
from tests.support import unique

JS = tuple[Client, JetStreamContext]


async def _stream(js: JetStreamContext, *, allow_direct: bool = True) -> str:
    """A new stream taking the subjects `<its name>.>`."""
    name = unique("direct").replace("-", "_")
    await js.add_stream(StreamConfig(name=name, subjects=[f"{name}.>"], allow_direct=allow_direct))
    return name


async def test_the_last_message_of_each_subject_and_nothing_for_empty_ones(nats_js: JS) -> None:
    _, js = nats_js
    stream = prefix = await _stream(js)
    await js.publish(f"{prefix}.a", b"a1")
    await js.publish(f"{prefix}.b", b"b1", headers={"Kind": "test"})
    await js.publish(f"{prefix}.a", b"a2")

    found = await last_messages(
        js, stream, [f"{prefix}.a", f"{prefix}.b", f"{prefix}.none", f"{prefix}.a"]
    )

    assert {subject: message.data for subject, message in found.items()} == {
        f"{prefix}.a": b"a2",
        f"{prefix}.b": b"b1",
    }
    assert found[f"{prefix}.a"].seq == 3
    assert (found[f"{prefix}.b"].headers or {}).get("Kind") == "test"


async def test_no_subject_with_a_message_is_an_empty_answer(nats_js: JS) -> None:
    _, js = nats_js
    stream = prefix = await _stream(js)

    assert await last_messages(js, stream, [f"{prefix}.x", f"{prefix}.y"]) == {}


async def test_more_subjects_than_one_request_may_name_go_in_several(nats_js: JS) -> None:
    """nats-server answers 413 to more than 1,024 subjects in one request."""
    _, js = nats_js
    stream = prefix = await _stream(js)
    subjects = [f"{prefix}.{i}" for i in range(MAX_SUBJECTS + 200)]
    for subject in subjects[::50]:
        await js.publish(subject, subject.encode())

    found = await last_messages(js, stream, subjects)

    assert sorted(found) == sorted(subjects[::50])
    assert all(message.data == subject.encode() for subject, message in found.items())


async def test_a_stream_without_direct_gets_has_no_responders(nats_js: JS) -> None:
    _, js = nats_js
    stream = prefix = await _stream(js, allow_direct=False)
    await js.publish(f"{prefix}.a", b"a")

    with pytest.raises(NoRespondersError):
        await last_messages(js, stream, [f"{prefix}.a"])
