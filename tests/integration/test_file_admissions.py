"""KvFileAdmissions on a real nats-server: two instances admitting one batch's uploads at once
never take more files than the limit, and each upload learns its own answer; an erased essay's
file is forgotten (its place nulled), admitted again in a new generation, and a redelivered
forgetting leaves the new admission alone."""

from __future__ import annotations

import asyncio

from google.protobuf import struct_pb2

from services.file_service.adapters.file_admissions import KvFileAdmissions
from services.file_service.adapters.kv_keys import batch_key
from services.file_service.domain.uploads import Admission, file_upload_id_for
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
            admission, _ = await instances[n % 2].admit(batch_id, files[n], LIMIT)
            return admission != Admission.REFUSED

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
        assert [(await i.admit(batch_id, admitted[0], LIMIT))[0] for i in instances] == [
            Admission.KNOWN
        ] * 2
        assert (await instances[1].admit(batch_id, "f" * 64, LIMIT))[0] == Admission.REFUSED
    finally:
        for client, _ in connections:
            await client.drain()


async def test_a_forgotten_file_is_admitted_again_in_a_new_generation(
    nats_settings: NatsSettings,
) -> None:
    bucket = unique("admissions").replace("-", "_")
    client, js = await connect_nats(nats_settings, "admissions-forget")
    try:
        kv = await ensure_kv(js, bucket, nats_settings)
        admissions = KvFileAdmissions(kv)
        batch_id = unique("batch")
        kept, erased = "a" * 64, "b" * 64
        assert await admissions.admit(batch_id, kept, LIMIT) == (Admission.NEW, 0)
        assert await admissions.admit(batch_id, erased, LIMIT) == (Admission.NEW, 0)
        first = (erased, file_upload_id_for(batch_id, erased))

        await admissions.forget(batch_id, [first])
        stored = await read_document(kv, batch_key(batch_id), struct_pb2.ListValue)
        assert stored is not None
        assert [v.WhichOneof("kind") for v in stored[0].values] == ["string_value", "null_value"]
        assert erased not in str(stored[0])
        assert await admissions.admit(batch_id, erased, LIMIT) == (Admission.NEW, 1)

        await admissions.forget(batch_id, [first])  # redelivered: the new admission stays
        assert await admissions.admit(batch_id, erased, LIMIT) == (Admission.KNOWN, 1)
        assert await admissions.admit(batch_id, kept, LIMIT) == (Admission.KNOWN, 0)
        # the new admission is forgotten by its own upload id
        await admissions.forget(batch_id, [(erased, file_upload_id_for(batch_id, erased, 1))])
        assert await admissions.admit(batch_id, erased, LIMIT) == (Admission.NEW, 2)
        # forgotten files count against the limit
        for n in range(LIMIT - 4):
            assert (await admissions.admit(batch_id, f"{n:064x}", LIMIT))[0] == Admission.NEW
        assert (await admissions.admit(batch_id, "f" * 64, LIMIT))[0] == Admission.REFUSED
    finally:
        await client.drain()
