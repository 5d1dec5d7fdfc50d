"""KvFileAdmissions on a real nats-server: two instances admitting one batch's uploads at once
never take more files than the limit, and each upload learns its own answer."""

from __future__ import annotations

import asyncio

from google.protobuf import struct_pb2

from services.file_service.adapters.file_admissions import KvFileAdmissions
from services.file_service.adapters.kv_keys import batch_key
from services.file_service.domain.uploads import Admission
from services.mesh.connection import connect_nats
from services.mesh.kv import read_document
from services.mesh.settings import NatsSettings
from services.mesh.streams import ensure_kv
from tests.support import unique

LIMIT = 5


async def test_two_instances_never_admit_more_than_the_limit(nats_settings: NatsSettings) -> None:
    bucket = unique("admissions").replace("-", "_")
    connections = [await connect_nats(nats_settings, f"admissions-{n}") for n in range(2)]
    try:
        kvs = [await ensure_kv(js, bucket, nats_settings) for _, js in connections]
        instances = [KvFileAdmissions(kv) for kv in kvs]
        batch_id = unique("batch")
        files = [f"{n:064x}" for n in range(40)]

        async def upload(n: int) -> bool:
            return await instances[n % 2].admit(batch_id, files[n], LIMIT) != Admission.REFUSED

        for _ in range(3):  # later rounds: warm caches, stale on one instance at least
            answers = await asyncio.gather(*(upload(n) for n in range(len(files))))
            stored = await read_document(kvs[0], batch_key(batch_id), struct_pb2.ListValue)
            assert stored is not None
            admitted = [value.string_value for value in stored[0].values]
            assert len(admitted) == LIMIT
            assert sorted(f for f, answer in zip(files, answers, strict=True) if answer) == sorted(
                admitted
            )
        # A file admitted once stays admitted, on either instance.
        assert [await i.admit(batch_id, admitted[0], LIMIT) for i in instances] == [
            Admission.KNOWN
        ] * 2
        assert await instances[1].admit(batch_id, "f" * 64, LIMIT) == Admission.REFUSED
    finally:
        for client, _ in connections:
            await client.drain()
