"""Real essays at class size: 30 corpus essays as one batch, and 10 batches submitted at once."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.e2e.conftest import E2EStack, huleedu, submit_json
from tests.support import CORPUS

ESSAYS = sorted((CORPUS / "essays").glob("e*.txt"))

pytestmark = pytest.mark.skipif(len(ESSAYS) < 80, reason="the corpus is not beside the repository")


def class_folder(root: Path, essays: list[Path]) -> Path:
    root.mkdir(parents=True)
    for essay in essays:
        shutil.copy(essay, root / essay.name)
    return root


def test_thirty_corpus_essays_as_one_batch(stack: E2EStack, tmp_path: Path) -> None:
    folder = class_folder(tmp_path / "class", ESSAYS[:30])
    document = submit_json(stack, folder)
    assert document["status"] == "COMPLETED"
    assert document["failures"] == [] and document["excess"] == []
    assert sorted(e["file_name"] for e in document["essays"]) == [p.name for p in ESSAYS[:30]]
    assert {e["status"] for e in document["essays"]} == {"SPELLCHECKED_SUCCESS"}
    assert all(e["word_count"] > 100 for e in document["essays"])
    assert sum(e["correction_count"] for e in document["essays"]) > 30


def test_ten_batches_submitted_at_once(stack: E2EStack, tmp_path: Path) -> None:
    folders = [
        class_folder(tmp_path / f"class-{n}", ESSAYS[30 + 5 * n : 35 + 5 * n]) for n in range(10)
    ]
    with ThreadPoolExecutor(max_workers=10) as pool:
        documents = list(pool.map(lambda folder: submit_json(stack, folder), folders))
    assert len({document["batch_id"] for document in documents}) == 10
    for folder, document in zip(folders, documents, strict=True):
        assert document["status"] == "COMPLETED", document
        names = sorted(essay["file_name"] for essay in document["essays"])
        assert names == sorted(path.name for path in folder.iterdir())
        assert {e["status"] for e in document["essays"]} == {"SPELLCHECKED_SUCCESS"}
    listed = huleedu(stack, "batches", "--limit", "100", "--json")
    assert listed.returncode == 0, listed.stderr
    for document in documents:
        assert document["batch_id"] in listed.stdout
