"""Storage health against a real nats-server 2.15.1: what JetStream answers when its store is
full, what the service then learns, and what brings writes back.

At its own limit (max_file_store, here NATS_MAX_FILE_STORE) JetStream refuses a write with 10023
and takes writes again as soon as data is deleted: the probe finds out with no write of the
service's. A disk that fills up under JetStream instead (a small tmpfs, JetStream's limit above
it) breaks each stream that writes to it: its writes go unanswered, and stay so after the space
is freed, until nats-server restarts."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats.errors
import pytest
from google.protobuf import wrappers_pb2
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import APIError
from nats.js.kv import KeyValue

from devstack.nats_server import NatsServer
from huleedu.events.v1 import events_pb2
from services.mesh.connection import connect_nats
from services.mesh.event_ids import new_metadata
from services.mesh.kv import update_document
from services.mesh.publisher import EventPublisher
from services.mesh.storage_health import LIMIT_FIX, RESTART_FIX, storage_health
from services.mesh.streams import EVENTS_STREAM, ensure_kv, ensure_streams
from tests.conftest import settings_for
from tests.small_disk import MIB, small_disk
from tests.support import unique, wait_until

DOC_BYTES = 200 * 1024


@pytest.fixture
def limited_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NatsServer]:
    """A nats-server whose JetStream stores at most 2 MB (NATS_MAX_FILE_STORE)."""
    monkeypatch.setenv("NATS_MAX_FILE_STORE", "2MB")
    server = NatsServer(tmp_path / "nats")
    server.start()
    yield server
    server.stop()


async def connected(server: NatsServer) -> tuple[Client, JetStreamContext]:
    """A connection whose JetStream requests give up after 1 s, as a test can afford."""
    return await connect_nats(settings_for(server.url, request_timeout_s=1.0), "storage-test")


@pytest.fixture
async def limited(limited_server: NatsServer) -> AsyncIterator[JetStreamContext]:
    """JetStream of the limited server, with the event stream provisioned."""
    client, js = await connected(limited_server)
    await ensure_streams(js, settings_for(limited_server.url))
    yield js
    await client.close()


async def write_doc(kv: KeyValue, key: str, size: int = DOC_BYTES) -> None:
    """Store a document of `size` random bytes under `key` with the mesh's KV helper."""
    document = wrappers_pb2.BytesValue(value=os.urandom(size))
    await update_document(kv, key, wrappers_pb2.BytesValue, lambda _: document)


async def test_at_its_limit_jetstream_refuses_and_the_probe_sees_it_take_writes_again(
    limited: JetStreamContext, limited_server: NatsServer
) -> None:
    bucket = unique("full").replace("-", "_")
    kv = await ensure_kv(limited, bucket, settings_for(limited_server.url))
    health = storage_health(limited)
    with pytest.raises(APIError) as refused:
        for n in range(100):
            await write_doc(kv, f"doc-{n}")
    with pytest.raises(APIError):
        event = events_pb2.BatchEssaysRegistered(
            metadata=new_metadata("test", correlation_id=unique("c")), batch_id=unique("b")
        )
        await EventPublisher(limited, "test").publish(event)

    assert refused.value.err_code == 10023
    assert health.stalled
    faults = {fault.stream: fault for fault in health.faults}
    assert set(faults) == {f"KV_{bucket}", EVENTS_STREAM}
    assert faults[f"KV_{bucket}"].err_code == 10023
    assert faults[f"KV_{bucket}"].fix == LIMIT_FIX
    assert f"JetStream stores nothing in KV_{bucket}: insufficient resources" in (
        faults[f"KV_{bucket}"].describe()
    )

    await limited.purge_stream(f"KV_{bucket}")
    await wait_until(lambda: not health.stalled, timeout_s=10, message="writes stored again")
    # The probes left one empty message, under a key no document has.
    assert (await limited.stream_info(f"KV_{bucket}")).state.messages == 1
    assert not (await kv.get("storage_probe")).value
    await write_doc(kv, "after")


@pytest.fixture
def disk_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NatsServer]:
    """A nats-server with its store on a 16 MiB file system and JetStream's limit above it."""
    monkeypatch.setenv("NATS_MAX_FILE_STORE", "1GB")
    with small_disk(tmp_path, 16) as disk:
        server = NatsServer(disk / "nats", log_file=tmp_path / "nats-server.log")
        server.start()
        try:
            yield server
        finally:
            server.stop()


def fill(directory: Path) -> Path:
    """Write a file until the file system is full, as other programs' files or logs would."""
    filler = directory / "filler"
    with open(filler, "wb") as file:
        try:
            while True:
                file.write(bytes(MIB))
                file.flush()
        except OSError as error:
            assert error.errno == 28, error  # ENOSPC
    return filler


async def test_a_disk_that_fills_up_breaks_the_stream_until_nats_server_restarts(
    disk_server: NatsServer,
) -> None:
    client, js = await connected(disk_server)
    try:
        bucket = unique("disk").replace("-", "_")
        kv = await ensure_kv(js, bucket, settings_for(disk_server.url))
        await write_doc(kv, "before", 1024)
        health = storage_health(js)
        filler = fill(disk_server.store_dir.parent)

        with pytest.raises((nats.errors.TimeoutError, APIError)):
            await write_doc(kv, "full", 64 * 1024)
        await wait_until(lambda: health.stalled, timeout_s=10, message="the stream faulted")
        (fault,) = health.faults
        assert fault.stream == f"KV_{bucket}" and fault.fix == RESTART_FIX

        filler.unlink()
        # Space is back, and still the stream stores nothing.
        with pytest.raises(nats.errors.TimeoutError):
            await write_doc(kv, "freed", 1024)
        assert health.stalled

        disk_server.stop()
        disk_server.start()
        await wait_until(lambda: not health.stalled, timeout_s=20, message="writes stored again")
        await write_doc(kv, "restarted", 1024)
    finally:
        await client.close()
    log = await asyncio.to_thread(disk_server.log_file.read_text, errors="replace")
    assert f"JetStream stream '$G > KV_{bucket}' critical write error" in log
