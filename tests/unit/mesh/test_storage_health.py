"""StorageHealth on a fake JetStream that answers as nats-server 2.15.1 does with a full store:
which answers fault a stream, what the log line says to do, when a probe confirms an unanswered
write, and what clears a fault."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, cast

import nats.errors
import pytest
from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import (
    APIError,
    BadRequestError,
    KeyWrongLastSequenceError,
    ServerError,
    ServiceUnavailableError,
)

from services.mesh.storage_health import (
    LIMIT_FIX,
    MAX_BYTES_FIX,
    RESTART_FIX,
    StorageHealth,
    storage_health,
)
from tests.support import wait_until

STREAM = "KV_file_service_batch_files"


class FakeJetStream:
    """The three requests StorageHealth makes, answered as scripted (None: success)."""

    def __init__(self) -> None:
        self.publish_error: Exception | None = None
        self.info_error: Exception | None = None
        self.published: list[str] = []
        self.infos = 0
        self.purged: list[tuple[str, str | None]] = []

    async def publish(self, subject: str, payload: bytes = b"", **_: Any) -> PubAck:
        self.published.append(subject)
        if self.publish_error is not None:
            raise self.publish_error
        return PubAck(stream=STREAM, seq=len(self.published))

    async def stream_info(self, name: str) -> SimpleNamespace:
        self.infos += 1
        if self.info_error is not None:
            raise self.info_error
        bucket = name.removeprefix("KV_")
        return SimpleNamespace(config=SimpleNamespace(subjects=[f"$KV.{bucket}.>"]))

    async def purge_stream(
        self, name: str, subject: str | None = None, keep: int | None = None
    ) -> bool:
        assert keep == 1  # the latest probe stays: the stream's last sequence keeps a message
        self.purged.append((name, subject))
        return True


def probing() -> bool:
    """True while some StorageHealth probes a faulted stream."""
    return any(
        task.get_coro().__qualname__ == "StorageHealth._recover"  # type: ignore[union-attr]
        for task in asyncio.all_tasks()
    )


@pytest.fixture
async def js() -> AsyncIterator[FakeJetStream]:
    """A fake JetStream; afterwards its connection is closed, which ends any probing."""
    fake = FakeJetStream()
    yield fake
    fake.publish_error = fake.info_error = nats.errors.ConnectionClosedError()
    await wait_until(lambda: not probing(), timeout_s=5, message="probing ended")


def health_of(js: FakeJetStream) -> StorageHealth:
    return StorageHealth(cast(JetStreamContext, js), probe_interval_s=0.01)


def refusal(err_code: int, description: str) -> APIError:
    if err_code in (10023, 10077):
        return ServiceUnavailableError(code=503, err_code=err_code, description=description)
    return ServerError(code=500, err_code=err_code, description=description)


async def write(health: StorageHealth, error: Exception | None = None) -> None:
    """One write to STREAM that fails with `error` (None: stored)."""
    with health.watch(STREAM):
        await asyncio.sleep(0)
        if error is not None:
            raise error


@pytest.mark.parametrize(
    ("err_code", "description", "fix"),
    [
        (10023, "insufficient resources", LIMIT_FIX),
        (10047, "insufficient storage resources available", LIMIT_FIX),
        (10077, "maximum bytes exceeded", MAX_BYTES_FIX),
        (10051, "write /data/jetstream/1.blk: no space left on device", RESTART_FIX),
    ],
)
async def test_a_refused_write_faults_its_stream_at_once_with_the_fix(
    js: FakeJetStream,
    err_code: int,
    description: str,
    fix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    js.publish_error = refusal(err_code, description)  # the probes are refused too
    health = health_of(js)
    with pytest.raises(APIError):
        await write(health, refusal(err_code, description))

    assert health.stalled
    (fault,) = health.faults
    assert (fault.stream, fault.err_code, fault.fix) == (STREAM, err_code, fix)
    assert f"JetStream stores nothing in {STREAM}: {description}" in caplog.text
    assert f"Fix: {fix}" in caplog.text


@pytest.mark.parametrize(
    "answer",
    [
        BadRequestError(code=400, err_code=10071, description="wrong last sequence: 4"),
        KeyWrongLastSequenceError(description="wrong last sequence: 4"),  # no err_code
    ],
)
async def test_an_answer_that_is_not_about_storage_leaves_health_alone(
    js: FakeJetStream, answer: APIError
) -> None:
    health = health_of(js)
    with pytest.raises(APIError):
        await write(health, answer)
    assert not health.stalled


async def test_a_stored_write_clears_the_fault(js: FakeJetStream) -> None:
    js.publish_error = refusal(10023, "insufficient resources")
    health = health_of(js)
    with pytest.raises(APIError):
        await write(health, refusal(10023, "insufficient resources"))
    await write(health)
    assert not health.stalled and health.faults == ()


async def test_an_unanswered_write_faults_the_stream_when_the_probe_goes_unanswered_too(
    js: FakeJetStream,
) -> None:
    js.publish_error = nats.errors.TimeoutError()
    health = health_of(js)
    with pytest.raises(nats.errors.TimeoutError):
        await write(health, nats.errors.TimeoutError())

    await wait_until(lambda: health.stalled, timeout_s=5, message="the stream faulted")
    (fault,) = health.faults
    assert fault.err_code is None and fault.fix == RESTART_FIX
    assert "writes go unanswered while JetStream answers for the stream" in fault.describe()
    assert js.published[0] == "$KV.file_service_batch_files.storage_probe"


async def test_an_unanswered_write_whose_probe_is_stored_was_a_blip(js: FakeJetStream) -> None:
    health = health_of(js)
    with pytest.raises(nats.errors.TimeoutError):
        await write(health, nats.errors.TimeoutError())

    await wait_until(lambda: js.purged, timeout_s=5, message="the probe stored, earlier purged")
    assert js.purged == [(STREAM, "$KV.file_service_batch_files.storage_probe")]
    assert not health.stalled


class GoneDuringTheProbe(FakeJetStream):
    """The probe's publish goes unanswered because the server went away: nothing answers."""

    async def publish(self, subject: str, payload: bytes = b"", **_: Any) -> PubAck:
        self.published.append(subject)
        self.info_error = nats.errors.NoRespondersError()
        raise nats.errors.TimeoutError()


async def test_an_unanswered_write_while_jetstream_answers_nothing_teaches_nothing() -> None:
    js = GoneDuringTheProbe()
    health = health_of(js)
    with pytest.raises(nats.errors.TimeoutError):
        await write(health, nats.errors.TimeoutError())

    # The probe's publish timed out and asking for the stream failed: that ends the check.
    await wait_until(lambda: js.infos == 2, timeout_s=5, message="the check")
    assert js.published and not health.stalled


async def test_the_probe_clears_the_fault_once_jetstream_stores_again(js: FakeJetStream) -> None:
    js.publish_error = refusal(10023, "insufficient resources")
    health = health_of(js)
    with pytest.raises(APIError):
        await write(health, refusal(10023, "insufficient resources"))
    await wait_until(lambda: len(js.published) >= 2, timeout_s=5, message="probes while full")
    assert health.stalled

    js.publish_error = None
    await wait_until(lambda: not health.stalled, timeout_s=5, message="the probe stored")
    assert js.purged[-1] == (STREAM, "$KV.file_service_batch_files.storage_probe")


async def test_probing_ends_when_the_connection_is_closed(js: FakeJetStream) -> None:
    js.publish_error = refusal(10023, "insufficient resources")
    health = health_of(js)
    with pytest.raises(APIError):
        await write(health, refusal(10023, "insufficient resources"))
    js.publish_error = nats.errors.ConnectionClosedError()
    await wait_until(lambda: not probing(), timeout_s=5, message="probing stopped")
    assert health.stalled


def test_each_jetstream_context_has_one_storage_health() -> None:
    first, second = cast(JetStreamContext, FakeJetStream()), cast(JetStreamContext, FakeJetStream())
    assert storage_health(first) is storage_health(first)
    assert storage_health(first) is not storage_health(second)
