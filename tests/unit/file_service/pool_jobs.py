"""Jobs for extraction-pool tests; module-level so worker processes can import them by name."""

from __future__ import annotations

import os
import time

from services.file_service.domain.extraction import (
    ExtractionLimits,
    ExtractionOutcome,
    process_upload,
)


def hang_or_extract(content: bytes, file_name: str, limits: ExtractionLimits) -> ExtractionOutcome:
    """Hangs forever on b"HANG" (sleeping), spins on b"SPIN" (busy), dies on b"DIE",
    raises on b"RAISE", and otherwise extracts."""
    if content == b"HANG":
        time.sleep(3600)
    if content == b"SPIN":
        while True:
            pass
    if content == b"DIE":
        os._exit(3)
    if content == b"RAISE":
        raise RuntimeError("parser bug")
    if content == b"PID":
        return ExtractionOutcome(detected_format="txt", text=str(os.getpid()), word_count=1)
    return process_upload(content, file_name, limits)
