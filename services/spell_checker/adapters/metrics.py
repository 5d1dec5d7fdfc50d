"""The Spell Checker's domain metrics. Labels: statuses only, never ids."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

SPELLCHECK_CORRECTIONS = Counter(
    "huleedu_spellcheck_corrections_total",
    "Corrections the Spell Checker made.",
)
SPELLCHECK_ESSAYS = Counter(
    "huleedu_spellcheck_essays_total",
    "Essays the Spell Checker finished, by status (success, failed).",
    ["status"],
)
SPELLCHECK_SECONDS = Histogram(
    "huleedu_spellcheck_essay_seconds",
    "Time to spell-check one essay: read, check, store the corrected text.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
