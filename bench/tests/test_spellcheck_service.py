"""A few annotated essays, and a few SweLL texts as `sv`, through the running stack
(bench.spellcheck_service): the corrections GetEssay gives back, scored, are the in-process
engine's."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.spellcheck_quality import choose_swell
from bench.spellcheck_scoring import GOLD, annotated_essays, tally
from bench.spellcheck_service import (
    SPELL_CHECKER,
    StackRun,
    check_through_service,
    cpu_ms_per_essay,
    rebase,
)
from bench.spellcheck_swedish import tally as tally_swell
from services.spell_checker.adapters.checkers import CheckerConfig, Engine, LanguageCheckers
from services.spell_checker.domain.model import Correction
from tests.harness.swedish_corpus import SWELL, LabelledText

pytestmark = pytest.mark.skipif(
    not (GOLD.is_file() and SWELL.is_file()), reason="../shared/corpus is not there"
)
ESSAYS = 6
SWELL_TEXTS = 3
TAGS = ("en", "en-GB")


@pytest.fixture(scope="module")
def chosen() -> dict[str, tuple[str, list[tuple[int, int, str]]]]:
    """The first essays with annotated errors, and one the File Service repairs (a line
    separator), so that offsets are rebased."""
    essays = annotated_essays()
    with_errors = [name for name, (_, spans) in essays.items() if spans][: ESSAYS - 1]
    return {name: essays[name] for name in [*with_errors, "e2944.txt"]}


@pytest.fixture(scope="module")
def swedish() -> dict[str, LabelledText]:
    """The first SweLL texts."""
    return choose_swell(SWELL_TEXTS)


@pytest.fixture(scope="module")
def run(
    chosen: dict[str, tuple[str, list[tuple[int, int, str]]]], swedish: dict[str, LabelledText]
) -> StackRun:
    files = {name: text for name, (text, _) in chosen.items()}
    jobs = {tag: files for tag in TAGS}
    jobs["sv"] = {name: labelled.text for name, labelled in swedish.items()}
    return check_through_service(jobs, timeout_s=240, settings={"SPELL_CHECKER_WORKERS": "1"})


def test_the_service_corrects_as_the_engine_does(
    run: StackRun,
    chosen: dict[str, tuple[str, list[tuple[int, int, str]]]],
    tmp_path: Path,
) -> None:
    checkers = LanguageCheckers(CheckerConfig(Engine.SYMSPELL, tmp_path))
    for tag in TAGS:
        service = run.tags[tag].essays
        assert set(service) == set(chosen)
        assert {e.status for e in service.values()} == {"SPELLCHECKED_SUCCESS"}
        ours = {name: checkers.check(tag, text).corrections for name, (text, _) in chosen.items()}
        assert {n: e.result.corrections for n, e in service.items()} == ours
        spans = {name: essay_spans for name, (_, essay_spans) in chosen.items()}
        by_service = tally((service[n].result.corrections, s) for n, s in spans.items())
        in_process = tally((ours[n], s) for n, s in spans.items())
        assert by_service == in_process
        assert by_service["right"] > 0


def test_the_service_checks_swedish_as_the_engine_does(
    run: StackRun, swedish: dict[str, LabelledText], tmp_path: Path
) -> None:
    checkers = LanguageCheckers(CheckerConfig(Engine.SYMSPELL, tmp_path))
    service = run.tags["sv"].essays
    ours = {name: checkers.check("sv", labelled.text) for name, labelled in swedish.items()}
    assert {n: e.result.corrections for n, e in service.items()} == {
        n: r.corrections for n, r in ours.items()
    }
    by_service = tally_swell((swedish[n], service[n].result) for n in sorted(swedish))
    assert by_service == tally_swell((swedish[n], ours[n]) for n in sorted(swedish))
    assert by_service["texts"] == SWELL_TEXTS and by_service["correct_word_tokens"] > 0


def test_the_service_read_back_the_repaired_text_and_rebased_its_offsets(
    run: StackRun, chosen: dict[str, tuple[str, list[tuple[int, int, str]]]]
) -> None:
    repaired = run.tags["en"].essays["e2944.txt"]
    original = chosen["e2944.txt"][0]
    assert repaired.text != original and "\u2028" in original
    for correction in repaired.result.corrections:
        end = correction.offset + correction.length
        assert original[correction.offset : end] == correction.original


def test_cpu_is_counted_for_the_workers_and_the_mesh(run: StackRun) -> None:
    cpu = cpu_ms_per_essay(run.tags["en"])
    assert 0 < cpu["spell_checker_workers"] <= cpu["spell_checker_with_workers"] < cpu["mesh_total"]
    assert SPELL_CHECKER in cpu
    assert len(run.worker_rss_mib) == 1 and run.worker_rss_mib[0] > 0


def test_an_offset_past_a_removed_character_moves_back_to_the_original() -> None:
    original = "Hi\ufeff thier friend"
    extracted = "Hi thier friend"
    moved = rebase(Correction(3, 5, "thier", "their"), extracted, original)
    assert moved.offset == 4 and original[4:9] == "thier"
    same = Correction(3, 5, "thier", "their")
    assert rebase(same, extracted, extracted) is same
