"""Every document of the shared corpus (pdf, docx, rtf, html) extracts or is rejected with the
right code, and where upstream ships expected output our text matches it; every student essay
is accepted with its text intact."""

from __future__ import annotations

import collections
import csv
import difflib
import logging
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from services.file_service.domain.extract_markup import html_to_text
from services.file_service.domain.extraction import (
    ExtractionLimits,
    extract_text,
    process_upload,
)
from services.file_service.domain.formats import detect_format
from services.file_service.domain.text import normalise_text, words
from tests.support import CORPUS
from tests.unit.file_service.corpus_expectations import EXPECTED_OUTCOMES, TEXT_CHECKS, ExpectedText

FOLDERS = ("pdf", "docx", "rtf", "html")


@pytest.fixture(autouse=True)
def quiet_pypdf() -> Iterator[None]:
    """pypdf warns at length about damaged files; the service's workers silence it too."""
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


@dataclass(frozen=True)
class CorpusDocument:
    """One row of a corpus folder's index.tsv."""

    key: str
    category: str
    expected_output: str


def corpus_documents() -> list[CorpusDocument]:
    """Every indexed document of the four document folders."""
    documents = []
    for folder in FOLDERS:
        with open(CORPUS / folder / "index.tsv", encoding="utf-8", newline="") as index:
            for row in csv.DictReader(index, delimiter="\t"):
                expected = f"{folder}/{row['expected_output']}" if row["expected_output"] else ""
                documents.append(
                    CorpusDocument(f"{folder}/{row['file']}", row["category"], expected)
                )
    return documents


DOCUMENTS = corpus_documents()


def test_every_indexed_document_has_an_expected_outcome() -> None:
    assert {document.key for document in DOCUMENTS} == set(EXPECTED_OUTCOMES)
    assert len(DOCUMENTS) == 100


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda document: document.key)
def test_corpus_document_outcome(document: CorpusDocument) -> None:
    content = (CORPUS / document.key).read_bytes()
    outcome = process_upload(content, document.key.rsplit("/", 1)[1], ExtractionLimits())

    got = outcome.rejection.value if outcome.rejection else "ACCEPTED"
    assert got == EXPECTED_OUTCOMES[document.key], f"{document.category}: {outcome.detail}"
    if outcome.accepted:
        assert outcome.detected_format == document.key.split("/")[0]
        assert outcome.text.endswith("\n")
        assert outcome.text.encode("utf-8")


def _words(text: str) -> list[str]:
    return [word.lower() for word in words(unicodedata.normalize("NFC", text))]


def _flat(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


@pytest.mark.parametrize(
    "document",
    [document for document in DOCUMENTS if document.expected_output],
    ids=lambda document: document.key,
)
def test_corpus_text_matches_upstream_expectation(document: CorpusDocument) -> None:
    content = (CORPUS / document.key).read_bytes()
    name = document.key.rsplit("/", 1)[1]
    ours = normalise_text(
        extract_text(content, detect_format(content, name), ExtractionLimits().docx).text
    )
    expected = (CORPUS / document.expected_output).read_text(encoding="utf-8")
    if document.expected_output.endswith(".html"):
        expected = html_to_text(expected)  # Readability's article: what a reader sees of it
    check = TEXT_CHECKS.get(document.key, ExpectedText.EXACT)

    if check is ExpectedText.EXACT:
        assert _flat(ours) == _flat(expected)
        return
    mine, theirs = _words(ours), _words(expected)
    matcher = difflib.SequenceMatcher(None, theirs, mine, autojunk=False)
    in_order = sum(block.size for block in matcher.get_matching_blocks())
    if check is ExpectedText.ARTICLE_IN_PAGE:
        assert in_order / len(theirs) >= 0.99  # the article, in order, inside the page's text
    elif check is ExpectedText.CLOSE:
        assert matcher.ratio() >= 0.99
    elif check is ExpectedText.MOSTLY:
        assert in_order / len(theirs) >= 0.88
    elif check is ExpectedText.SAME_WORDS_OTHER_ORDER:
        shared = collections.Counter(theirs) & collections.Counter(mine)
        assert sum(shared.values()) / len(theirs) >= 0.95
    elif check is ExpectedText.OURS_INSIDE:
        assert in_order / len(mine) >= 0.99


def test_every_essay_is_accepted_with_its_text() -> None:
    limits = ExtractionLimits()
    paths = sorted((CORPUS / "essays").glob("e*.txt"))
    assert len(paths) == 2500
    for path in paths:
        content = path.read_bytes()
        outcome = process_upload(content, path.name, limits)
        assert outcome.accepted, f"{path.name}: {outcome.detail}"
        assert _flat(outcome.text) == _flat(content.decode("utf-8")), path.name
