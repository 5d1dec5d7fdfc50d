"""Every entry of the bad-input catalogue gets its code from the extraction pipeline: directly, or,
for files that loop or eat memory, from the extraction pool's time and memory limits."""

from __future__ import annotations

import asyncio
import socket

import pytest

from services.file_service.adapters.extraction_pool import ExtractionPool, PoolSettings
from services.file_service.domain.extraction import (
    ExtractionLimits,
    ExtractionOutcome,
    process_upload,
)
from tests.unit.file_service import hostile_files
from tests.unit.file_service.catalogue import ACCEPTED, BadInput, bad_inputs, essay, waves

DIRECT = [bad for bad in bad_inputs() if not bad.contained]
CONTAINED = [bad for bad in bad_inputs() if bad.contained]
# Production limits are 20 s and 1 GiB. A bomb is a bomb at 512 MiB, given all the time it needs
# on a busy machine; a loop is a loop at 3 s.
MIB = 1024 * 1024
PATIENT_POOL = PoolSettings(workers=2, timeout_s=60.0, memory_limit_bytes=512 * MIB)
STRICT_POOL = PoolSettings(workers=2, timeout_s=3.0, memory_limit_bytes=512 * MIB)


def _check(bad: BadInput, outcome: ExtractionOutcome) -> None:
    got = outcome.rejection.value if outcome.rejection else ACCEPTED
    assert got == bad.expected, (bad.label, outcome.detail)
    if outcome.rejection is not None:
        assert outcome.detail.endswith("."), "a rejection says what to do in a sentence"
        assert outcome.text == ""


def test_catalogue_is_big_enough() -> None:
    assert len(bad_inputs()) >= 25
    assert len({bad.label for bad in bad_inputs()}) == len(bad_inputs())
    assert CONTAINED, "some entries must need the pool's limits"
    assert sum(len(wave) for wave in waves()) == len(bad_inputs())
    assert sorted(bad.label for bad in CONTAINED) == sorted(
        bad.label for wave in waves()[1:] for bad in wave
    )


@pytest.mark.parametrize("bad", DIRECT, ids=lambda bad: bad.label)
def test_bad_input_gets_its_code(bad: BadInput) -> None:
    _check(bad, process_upload(bad.content, bad.file_name, ExtractionLimits()))


@pytest.mark.parametrize(("wave", "settings"), [(1, PATIENT_POOL), (2, STRICT_POOL)])
async def test_files_that_loop_or_eat_memory_get_their_code_from_the_pool_limits(
    wave: int, settings: PoolSettings
) -> None:
    pool = ExtractionPool(settings, ExtractionLimits())
    await pool.start()
    try:
        hostile = waves()[wave]
        outcomes = await asyncio.gather(*(pool.extract(b.content, b.file_name) for b in hostile))
        for bad, outcome in zip(hostile, outcomes, strict=True):
            _check(bad, outcome)
        # every worker that was killed was replaced; the pool still reads essays
        assert len(pool.worker_pids) == settings.workers
        assert (await pool.extract(essay(7), "after.txt")).accepted
    finally:
        await pool.stop()


def test_a_docx_that_points_outside_itself_fetches_nothing_and_reads_only_the_essay() -> None:
    text = essay(8).decode()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        document = hostile_files.docx_with_external_references(text, url)

        outcome = process_upload(document, "linked.docx", ExtractionLimits())

        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected: no relationship or entity was fetched
    assert outcome.accepted
    assert "root:" not in outcome.text and "passwd" not in outcome.text
    assert text.split()[0] in outcome.text and text.split()[-1] in outcome.text
