"""The File Service's domain metric. Labels: codes only, never ids or file names."""

from __future__ import annotations

from prometheus_client import Counter

EXTRACTION_FAILURES = Counter(
    "huleedu_extraction_failures_total",
    "Uploads the File Service rejected, by validation error code.",
    ["code"],
)
