"""The domain metrics of the services, in one place so the list is easy to read and document.

Labels have bounded cardinality: states, outcomes, reasons, codes. Never batch or essay ids.
The per-state gauges are set by a `KvCensus` (services.mesh.kv_census) from a watch of the
service's KV bucket, so every instance reports the same whole-system count: aggregate them with
`max`, not `sum`.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ESSAYS_BY_STATE = Gauge(
    "huleedu_essays",
    "Essays of registered batches by state (ELS, from a watch of els_batches).",
    ["state"],
)
BATCHES_BY_STATE = Gauge(
    "huleedu_batches",
    "Batches by status (BOS, from a watch of bos_batches).",
    ["state"],
)
SLOT_ASSIGNMENTS = Counter(
    "huleedu_slot_assignments_total",
    "Uploads ELS resolved: assigned to a slot, failed a slot (validation), held until the "
    "registration, or reported as excess (no_free_slot, duplicate_content, batch_closed).",
    ["outcome"],
)
EXTRACTION_FAILURES = Counter(
    "huleedu_extraction_failures_total",
    "Uploads the File Service rejected, by validation error code.",
    ["code"],
)
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
