"""How bench.spellcheck_report judges the targets and writes the report (made-up figures)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from bench.spellcheck_report import markdown, targets, write_report
from bench.spellcheck_scoring import TAGS


def gold(precision: float, recall: float) -> dict[str, Any]:
    return {
        "essays": 10,
        "annotated_errors": 20,
        "changes": 20,
        "right": 17,
        "wrong_word": 1,
        "false": 2,
        "fix_precision": precision,
        "recall": recall,
        "most_common_false": [["colour -> color", 2]],
    }


def swell(changed_pct: float) -> dict[str, Any]:
    return {
        "texts": 3,
        "texts_warned_wrong_language": 0,
        "correct_word_tokens": 1000,
        "correct_changed": int(10 * changed_pct),
        "correct_changed_pct": changed_pct,
        "incorrect_word_tokens": 100,
        "incorrect_flagged": 10,
        "incorrect_flagged_pct": 10.0,
        "incorrect_changed": 8,
        "incorrect_changed_pct": 8.0,
    }


CPU = {"mesh_total": 6.0, "spell_checker_with_workers": 2.5, "spell_checker_workers": 2.0}
MEMORY = {"rss_after_mib": 170.0, "rss_added_mib": 70.0, "uss_added_mib": 69.0, "load_s": 0.9}


def a_result() -> dict[str, Any]:
    """Every target met."""
    english = {
        tag: {
            "service": {
                **gold(0.9, 0.85),
                "tuning_half": gold(0.9, 0.85),
                "report_half": gold(0.86, 0.81),
            },
            "in_process": {**gold(0.9, 0.85)},
            "essays_corrected_differently": 0,
            "differences": [],
            "essays_not_spellchecked": 0,
            "essays_repaired_by_file_service": 1,
            "service_seconds": 3.0,
            "cpu_ms_per_essay": CPU,
            "in_process_cpu_ms_per_essay": 1.5,
        }
        for tag in TAGS
    }
    entry = {
        "pairs_scored": 100,
        "plain_pyspellchecker_percent": 50.0,
        "ours_top1_percent": 61.0,
        "top1_points_over_plain": 11.0,
        "ours_percent": 55.0,
    }
    return {
        "generated_at": "2026-12-04T17:00:00+00:00",
        "tree": {"commit": "abc1234", "uncommitted_changes": False},
        "machine": {"cpus": 2, "platform": "Linux"},
        "english": english,
        "swedish": {
            "texts_of_sentences": 10,
            "service": swell(0.5),
            "in_process": swell(0.5),
            "texts_corrected_differently": 0,
            "texts_repaired_by_file_service": 0,
            "cpu_ms_per_text": CPU,
        },
        "old_engine": {
            "essays": 10,
            "seed": 10,
            **{
                tag: {
                    "pyspellchecker": gold(0.5, 0.7),
                    "ours": gold(0.9, 0.85),
                    "pyspellchecker_cpu_ms_per_essay": {**CPU, "spell_checker_with_workers": 400.0},
                }
                for tag in TAGS
            },
        },
        "lists": {
            "lists": {"aspell": entry, "wikipedia": entry},
            "speed_per_word": {
                "words": 200,
                "ms_per_word_pyspellchecker_correction": 100.0,
                "ms_per_word_ours": 0.5,
                "times_faster": 200.0,
            },
        },
        "worker_memory_mib": {lang: MEMORY for lang in ("en", "en-GB", "en-US", "sv")},
        "service_worker_rss_mib": [210.0, 205.0],
        "budget": {"mesh_cpu_ms_per_essay": 12.0, "source": "issue 15"},
    }


def unmet(result: dict[str, Any]) -> list[str]:
    return [t["target"] for t in targets(result) if not t["met"]]


def test_every_target_is_met_by_figures_past_it() -> None:
    assert unmet(a_result()) == []


def test_a_figure_short_of_its_target_is_not_met() -> None:
    result = a_result()
    result["english"]["en-GB"]["service"]["report_half"]["fix_precision"] = 0.84
    result["lists"]["lists"]["aspell"] = {
        **result["lists"]["lists"]["aspell"],
        "top1_points_over_plain": 9.0,
    }
    result["lists"]["speed_per_word"]["times_faster"] = 99.0
    result["english"]["en"]["cpu_ms_per_essay"] = {**CPU, "mesh_total": 12.5}
    result["swedish"]["service"] = swell(1.2)
    assert unmet(result) == [
        "`en-GB` fix precision ≥ 85 % (service, report half)",
        "top 1 ≥ plain pyspellchecker + 10 points on every misspelling list",
        "≥ 100× faster per word than pyspellchecker's correction()",
        "`en` CPU per essay, whole mesh ≤ 12 ms (issue 15's budget)",
        "`sv`: tokens annotated correct changed ≤ 1 % (service)",
    ]


def test_a_service_that_corrects_otherwise_than_the_engine_fails_its_check() -> None:
    result = a_result()
    result["english"]["en-US"]["essays_corrected_differently"] = 2
    assert unmet(result) == ["the service corrects every essay as the engine in-process does"]


def test_the_report_marks_each_target_and_shows_each_section(tmp_path: Path) -> None:
    result = copy.deepcopy(a_result())
    result["english"]["en"]["service"]["recall"] = 0.5
    result["english"]["en"]["service"]["report_half"]["recall"] = 0.5
    result["targets"] = targets(result)
    paths = write_report(result, tmp_path, "quality")
    text = paths["md"].read_text()
    assert text == markdown(result)
    assert (
        "| `en` recall ≥ 80 % (service, report half) | 50.0 % (all essays 50.0 %) | **not met** |"
        in text
    )
    assert text.count("| **not met** |") == 1
    for heading in ("through the service", "old engine", "Swedish", "Misspelling lists", "CPU"):
        assert heading in text
    assert paths["json"].is_file()


def test_the_report_shows_the_precision_ceiling_when_measured() -> None:
    result = copy.deepcopy(a_result())
    ceiling = {
        "annotated_errors": 20,
        "unannotated_confirmed_misspellings": {"contraction without its apostrophe": 1},
        "most_common_unannotated": [["dont", 1]],
        "fix_precision_ceiling": 0.9524,
    }
    for tag in TAGS:
        result["english"][tag]["ceiling"] = {"all": ceiling, "report_half": ceiling}
    result["targets"] = targets(result)
    text = markdown(result)
    assert "86.0 % (all essays 90.0 %); at most 95.2 % on this gold | met |" in text
    assert "| `en-GB` | 20 | 1 | dont (1) | 95.2 % |" in text
    assert "95.2 %" not in markdown(a_result() | {"targets": targets(a_result())})
