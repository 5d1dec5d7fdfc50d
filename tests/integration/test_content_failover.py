"""The Content Service client against real Content Services: dialling two instances
(CONTENT_SERVICE_ADDR as a list), the calls that follow the loss of one are answered by the
other; and however many calls its users make at once, at most `max_in_flight` are out."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from huleedu.common.v1 import common_pb2
from services.mesh.consumer import TransientError
from services.mesh.content_client import ContentClient
from services.mesh.settings import NatsSettings, env_dial_target
from tests.integration.test_file_service_support import running_content_service
from tests.support import unique, wait_until


async def test_calls_survive_the_loss_of_one_of_two_content_instances(
    nats_settings: NatsSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(running_content_service(nats_settings))
        second = await stack.enter_async_context(running_content_service(nats_settings))
        monkeypatch.setenv(
            "CONTENT_SERVICE_ADDR", f"127.0.0.1:{first.grpc.port},127.0.0.1:{second.grpc.port}"
        )
        client = ContentClient(env_dial_target("CONTENT_SERVICE_ADDR"), timeout_s=5)
        try:
            stored = await client.put(
                unique("essay").encode(),
                common_pb2.CONTENT_KIND_RAW_UPLOAD,
                "text/plain",
                tenant="",
            )
            await first.grpc.stop(0.5)  # the instance goes away; its NATS side is irrelevant

            async def answered() -> bool:
                try:
                    await client.get(stored, tenant="")
                except TransientError:  # the call that found the stopped instance first
                    return False
                return True

            await wait_until(answered, timeout_s=20, message="the other instance to answer")
            for n in range(10):  # every call now goes to the instance still up
                data = f"essay {n} {unique('x')}".encode()
                storage_id = await client.put(
                    data, common_pb2.CONTENT_KIND_RAW_UPLOAD, "text/plain", tenant=""
                )
                assert await client.get(storage_id, tenant="") == data
        finally:
            await client.close()


async def test_a_burst_of_calls_keeps_at_most_max_in_flight_out_and_all_succeed(
    nats_settings: NatsSettings,
) -> None:
    async with running_content_service(nats_settings) as content:
        client = ContentClient(f"127.0.0.1:{content.grpc.port}", timeout_s=30, max_in_flight=3)
        try:
            essays = [f"essay {n} {unique('burst')}".encode() for n in range(40)]
            ids = await asyncio.gather(
                *(
                    client.put(essay, common_pb2.CONTENT_KIND_RAW_UPLOAD, "text/plain", tenant="")
                    for essay in essays
                )
            )
            assert [await client.get(storage_id, tenant="") for storage_id in ids] == essays
        finally:
            await client.close()
    assert client.peak_in_flight == 3
