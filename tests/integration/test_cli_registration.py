"""The CLI's RegisterBatch against a BOS that goes away after answering (a restart): with a
request_id it asks again until the real BOS (real nats-server, real gRPC server) is back, and the
retries register one batch. A BOS the CLI has never reached is reported at once."""

from __future__ import annotations

import argparse
import asyncio
import uuid

import grpc
import pytest

from devstack.nats_server import free_port
from huleedu.batch.v1 import batch_service_pb2 as pb
from services.batch_orchestrator.bootstrap import PROGRAM
from services.batch_orchestrator.domain.registration import RegistrationPolicy
from services.batch_orchestrator.settings import BosSettings
from services.cli.endpoints import resolve_endpoints
from services.cli.errors import EXIT_UNREACHABLE, CliError
from services.cli.mesh_client import MeshClient
from services.mesh.settings import NatsSettings
from tests.support import unique, wait_until


def client_for(addr: str, monkeypatch: pytest.MonkeyPatch) -> MeshClient:
    monkeypatch.setenv("BATCH_ORCHESTRATOR_ADDR", addr)
    return MeshClient(resolve_endpoints(argparse.Namespace()), timeout_s=5)


def request(request_id: str = "") -> pb.RegisterBatchRequest:
    return pb.RegisterBatchRequest(
        expected_essay_count=2, course_code=unique("ENG"), language="en", request_id=request_id
    )


async def test_register_batch_is_asked_again_until_bos_is_back_and_registers_once(
    nats_settings: NatsSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    addr = f"127.0.0.1:{free_port()}"
    settings = BosSettings(addr=addr, nats=nats_settings, policy=RegistrationPolicy())
    sent = request(str(uuid.uuid4()))
    async with client_for(addr, monkeypatch) as client:
        bos = await PROGRAM.start(settings)
        await client.list_batches(1)  # BOS has answered this command once
        await bos.stop()
        registering = asyncio.create_task(client.register_batch(sent))
        channel = client._channels[addr]
        # The first attempt has found nothing listening while BOS is away.
        await wait_until(
            lambda: channel.get_state() == grpc.ChannelConnectivity.TRANSIENT_FAILURE,
            message="the first attempt to fail",
        )
        bos = await PROGRAM.start(settings)
        try:
            registered = await asyncio.wait_for(registering, timeout=30)
            again = await client.register_batch(sent)
            listed = await client.list_batches(100)
        finally:
            await bos.stop()
    assert again.batch_id == registered.batch_id
    assert list(again.essay_ids) == list(registered.essay_ids) and len(registered.essay_ids) == 2
    ours = [batch for batch in listed.batches if batch.course_code == sent.course_code]
    assert [batch.batch_id for batch in ours] == [registered.batch_id]


@pytest.mark.parametrize("request_id", ["", str(uuid.uuid4())], ids=["without", "with"])
async def test_a_bos_never_reached_is_reported_at_once_with_or_without_a_request_id(
    request_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with client_for(f"127.0.0.1:{free_port()}", monkeypatch) as client:
        with pytest.raises(CliError) as raised:
            await asyncio.wait_for(client.register_batch(request(request_id)), timeout=5)
    assert raised.value.exit_code == EXIT_UNREACHABLE
    assert "start the stack" in raised.value.message
