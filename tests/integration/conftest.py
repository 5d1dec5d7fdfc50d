"""Fixtures the integration modules share, each started once per module that asks for it: one
`bos`, one `content` and one `mesh` (all four public services in this process), and the event
taps (`tap`: every event; `completions_tap`: the Spell Checker's EssaySpellcheckCompleted)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from services.content_service.bootstrap import ContentService
from services.mesh import subjects
from services.mesh.settings import NatsSettings
from tests.harness.coordination_harness import EventTap
from tests.integration.test_batch_orchestrator_support import Bos, running_bos
from tests.integration.test_file_service_support import running_content_service
from tests.integration.test_hostile_grpc_support import Mesh, running_mesh

NatsJs = tuple[Client, JetStreamContext]


@pytest.fixture(scope="module")
async def bos(nats_settings: NatsSettings) -> AsyncIterator[Bos]:
    """A Batch Orchestrator in this process."""
    async with running_bos(nats_settings) as running:
        yield running


@pytest.fixture(scope="module")
async def content(nats_settings: NatsSettings) -> AsyncIterator[ContentService]:
    """A Content Service in this process (modules that need other limits start their own)."""
    async with running_content_service(nats_settings) as service:
        yield service


@pytest.fixture(scope="module")
async def mesh(nats_settings: NatsSettings) -> AsyncIterator[Mesh]:
    """The four public services in this process, with their stubs."""
    async with running_mesh(nats_settings) as running:
        yield running


@pytest.fixture
async def tap(nats_js: NatsJs) -> AsyncIterator[EventTap]:
    """Every event on the stream from now on."""
    events = EventTap(nats_js[1])
    await events.start()
    yield events
    await events.stop()


@pytest.fixture
async def completions_tap(nats_js: NatsJs) -> AsyncIterator[EventTap]:
    """The EssaySpellcheckCompleted events from now on."""
    events = EventTap(nats_js[1], subjects.ESSAY_SPELLCHECK_COMPLETED)
    await events.start()
    yield events
    await events.stop()
