"""The Celery + Redis peer of the end-to-end benchmark (bench.celery_peer): a real redis-server
and a real Celery worker with one pool process check a small batch of corpus essays through a
chord, and store exactly the corrected texts our own engine gives for the same texts."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.celery_peer import CeleryPeer, essay_id, redis_server_binary
from bench.e2e_peer import plain_text_batches
from services.spell_checker.adapters.checkers import LanguageCheckers
from services.spell_checker.settings import SpellCheckerSettings

pytestmark = pytest.mark.skipif(
    redis_server_binary() is None,
    reason="redis-server is not installed (Debian: apt-get install -y redis-server)",
)


def test_the_peer_checks_a_batch_as_our_engine_does(tmp_path: Path) -> None:
    files = plain_text_batches(1, size=4)[0]

    with CeleryPeer(tmp_path, concurrency=1) as peer:
        run = peer.run([files], timeout_s=120)
        ((batch_id, essay_ids),) = run.batches.items()
        status = peer.batch_status(batch_id)
        corrected = peer.corrected_texts(batch_id, essay_ids)

    checkers = LanguageCheckers(SpellCheckerSettings.from_env().checker)
    expected = {essay_id(f): checkers.check("en", f.text).corrected_text for f in files}
    assert status["status"] == "done"
    assert status["essays"] == str(len(files))
    assert run.started <= run.finished
    assert corrected == expected
    assert any(corrected[essay_id(f)] != f.text for f in files), "no essay needed a correction"
