"""Two Spell Checker processes (`python -m services.spell_checker`) on the one durable consumer:
every request is answered exactly once, also while one of them shuts down mid-batch."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from devstack.nats_server import NatsServer
from huleedu.common.v1 import common_pb2
from huleedu.events.v1 import events_pb2
from services.content_service.bootstrap import PROGRAM as CONTENT
from services.content_service.bootstrap import ContentService
from services.mesh.content_client import ContentClient
from services.mesh.publisher import EventPublisher
from services.mesh.settings import NatsSettings
from tests.harness.coordination_harness import EventTap, ServiceProcess
from tests.integration.test_spell_checker_support import (
    MAX_DELIVER,
    completions,
    content_settings,
    request_all,
    store_essays,
)
from tests.support import unique, wait_until

NatsJs = tuple[Client, JetStreamContext]


@pytest.fixture(scope="module")
async def content_service(nats_settings: NatsSettings) -> AsyncIterator[ContentService]:
    service = await CONTENT.start(content_settings(nats_settings))
    yield service
    await service.stop()


def spell_checker_process(
    nats_url: str, content_port: int, log_path: Path, cache_dir: Path
) -> ServiceProcess:
    return ServiceProcess(
        "services.spell_checker",
        addr_variable="SPELL_CHECKER_ADDR",
        nats_url=nats_url,
        log_path=log_path,
        extra_env={
            "CONTENT_SERVICE_ADDR": f"127.0.0.1:{content_port}",
            "SPELL_CHECKER_WORKERS": "1",
            "SPELL_CHECKER_INDEX_CACHE_DIR": str(cache_dir),
            "NATS_MAX_DELIVER": str(MAX_DELIVER),
        },
    )


def children_of(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def log_messages(process: ServiceProcess) -> list[dict[str, object]]:
    lines = process.log_path.read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


async def test_two_processes_answer_every_request_exactly_once(
    nats_server: NatsServer,
    nats_js: NatsJs,
    content_service: ContentService,
    completions_tap: EventTap,
    tmp_path: Path,
) -> None:
    instances = [
        spell_checker_process(
            nats_server.url, content_service.port, tmp_path / f"spell-{n}.log", tmp_path / "idx"
        )
        for n in (1, 2)
    ]
    content = ContentClient(f"127.0.0.1:{content_service.port}")
    publisher = EventPublisher(nats_js[1], "test")
    try:
        await asyncio.gather(*(instance.start(timeout_s=60) for instance in instances))
        essays = await store_essays(content, 80, skip=100)
        first_batch, second_batch = unique("batch"), unique("batch")
        first = await request_all(publisher, first_batch, essays[:50])
        await wait_until(
            lambda: len(completions(completions_tap, first_batch)) >= len(first),
            timeout_s=60,
            message="the first batch answered",
        )
        second = await request_all(publisher, second_batch, essays[50:])
        assert await instances[0].stop() == 0  # SIGTERM mid-batch: it finishes what it holds
        await wait_until(
            lambda: len(completions(completions_tap, second_batch)) >= len(second),
            timeout_s=60,
            message="the second batch answered by the instance still running",
        )
    finally:
        await asyncio.gather(*(instance.stop() for instance in instances))
        await content.close()

    for batch_id, requested in ((first_batch, first), (second_batch, second)):
        done = completions(completions_tap, batch_id)
        assert Counter(c.essay_id for c in done) == Counter(list(requested))  # each once
        assert {c.status for c in done} == {common_pb2.SPELLCHECK_STATUS_SUCCESS}
        assert set(
            completions_tap.id_counts(events_pb2.EssaySpellcheckCompleted, {batch_id}).values()
        ) == {1}

    logs = [log_messages(instance) for instance in instances]
    checked = [sum(1 for entry in log if entry["message"] == "essay checked") for log in logs]
    assert all(count > 0 for count in checked), checked  # both instances did work
    assert sum(checked) >= len(first) + len(second)
    for log in logs:
        (ready,) = [entry for entry in log if entry["message"] == "spell checker ready"]
        assert float(str(ready["start_up_s"])) < 20  # 1-3 s on a quiet machine; loose for CI
        assert float(str(ready["rss_total_mib"])) < 1024
        assert log[-1]["message"] == "spell checker stopped"


async def test_a_killed_spell_checker_leaves_no_worker_behind(
    nats_server: NatsServer, content_service: ContentService, tmp_path: Path
) -> None:
    instance = spell_checker_process(
        nats_server.url, content_service.port, tmp_path / "spell.log", tmp_path / "idx"
    )
    instance.env["SPELL_CHECKER_WORKERS"] = "2"
    await instance.start(timeout_s=60)
    assert instance.process is not None
    pid = instance.process.pid
    children = children_of(pid)
    assert len(children) >= 2  # the two workers (and multiprocessing's resource tracker)
    await instance.stop(kill=True)

    def all_gone() -> bool:
        return not any(Path(f"/proc/{child}").exists() for child in children)

    await wait_until(all_gone, timeout_s=10, message="the workers of the killed process to exit")
