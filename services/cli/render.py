"""Text for people: tables, the progress line, a batch's details and corrections highlighted in
an essay. Plain text with ANSI colour only when asked for (a terminal)."""

from __future__ import annotations

import difflib
import re
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from google.protobuf.timestamp_pb2 import Timestamp

from huleedu.batch.v1.batch_service_pb2 import Batch
from huleedu.common.v1 import common_pb2
from huleedu.common.v1.common_pb2 import Correction
from services.cli.results import batch_status, error_code, excess_reason

_RED_STRUCK = "\x1b[31;9m"
_GREEN = "\x1b[32;1m"
_RESET = "\x1b[0m"


def format_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, max_width: int = 60
) -> str:
    """Columns padded to their widest cell; cells but the last are cut at `max_width`."""

    def cut(cell: str) -> str:
        cell = " ".join(cell.split())
        return cell if len(cell) <= max_width else cell[: max_width - 1] + "…"

    cells = [
        [cut(cell) for cell in row[:-1]] + [" ".join(row[-1].split())] for row in (header, *rows)
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cells
    ]
    return "\n".join(lines)


class ProgressLine:
    """A progress line on stderr: rewritten in place on a terminal, else printed when it
    changes."""

    def __init__(self, stream: TextIO, *, enabled: bool = True) -> None:
        self._stream = stream
        self._enabled = enabled
        self._tty = stream.isatty()
        self._last = ""
        self._started = time.monotonic()

    @property
    def elapsed_s(self) -> float:
        """Seconds since the line was created."""
        return time.monotonic() - self._started

    def show(self, text: str) -> None:
        """Show the current state."""
        if not self._enabled:
            return
        if self._tty:
            self._stream.write(f"\r{text}  {self.elapsed_s:5.1f} s\x1b[K")
            self._stream.flush()
        elif text != self._last:
            self._stream.write(f"{text}  {self.elapsed_s:5.1f} s\n")
            self._stream.flush()
        self._last = text

    def finish(self) -> None:
        """End the line on a terminal."""
        if self._enabled and self._tty and self._last:
            self._stream.write("\n")
            self._stream.flush()


def print_note(stream: TextIO, text: str) -> None:
    """A line of its own on `stream`; on a terminal it first clears a progress line being
    rewritten in place (the next update draws it again below)."""
    clear = "\r\x1b[K" if stream.isatty() else ""
    stream.write(f"{clear}{text}\n")
    stream.flush()


def announce_on_stderr(text: str) -> None:
    """The retry lines: `huleedu: …` on stderr, clear of the progress line."""
    print_note(sys.stderr, f"huleedu: {text}")


def timestamp_text(value: Timestamp) -> str:
    """An RFC 3339 UTC time to the second, or "-" when unset."""
    if value.seconds == 0 and value.nanos == 0:
        return "-"
    return value.ToDatetime().strftime("%Y-%m-%d %H:%M:%SZ")


def batch_details(batch: Batch) -> str:
    """A batch as `huleedu status` prints it."""
    counts = batch.counts
    lines = [
        f"batch        {batch.batch_id}",
        f"status       {batch_status(batch.status)}"
        + (f"  ({batch.failure_reason})" if batch.failure_reason else ""),
        f"course       {batch.course_code}  language {batch.language}"
        + (f"  title {batch.title!r}" if batch.title else ""),
        f"created      {timestamp_text(batch.created_at)}   "
        f"completed {timestamp_text(batch.completed_at)}   "
        f"deadline {timestamp_text(batch.deadline)}",
        f"essays       expected {counts.expected} · assigned {counts.assigned} · "
        f"failed validation {counts.failed_validation} · excess {counts.excess} · "
        f"spell-checked {counts.spellchecked} · spell check failed {counts.spellcheck_failed}",
    ]
    for state in batch.phase_states:
        phase = common_pb2.Phase.Name(state.phase).removeprefix("PHASE_")
        status = common_pb2.PhaseStatus.Name(state.status).removeprefix("PHASE_STATUS_")
        lines.append(
            f"phase        {phase} {status}  started {timestamp_text(state.started_at)}  "
            f"finished {timestamp_text(state.finished_at)}"
        )
    for failure in batch.validation_failures:
        if failure.essay_id in batch.erased_essay_ids:
            continue  # its name and detail were erased with it; the erased line counts it
        lines.append(
            f"failed       {failure.original_file_name}: {error_code(failure.error_code)}: "
            f"{failure.detail}"
        )
    if batch.erased_essay_ids:
        lines.append(f"erased       {', '.join(batch.erased_essay_ids)}")
    for item in batch.excess_content:
        lines.append(f"excess       {item.original_file_name}: {excess_reason(item.reason)}")
    if batch.partial:
        lines.append(f"partial      ready at the deadline with {batch.missing_count} missing")
    return "\n".join(lines)


def apply_corrections(original: str, corrections: Sequence[Correction]) -> str:
    """The original text with every correction applied (offsets in code points)."""
    parts: list[str] = []
    position = 0
    for correction in sorted(corrections, key=lambda c: c.offset):
        parts.append(original[position : correction.offset])
        parts.append(correction.replacement)
        position = correction.offset + correction.length
    parts.append(original[position:])
    return "".join(parts)


def _mark(removed: str, added: str, color: bool) -> str:
    if color:
        return f"{_RED_STRUCK}{removed}{_RESET}{_GREEN}{added}{_RESET}"
    return f"[-{removed}-]{{+{added}+}}"


def highlight_corrections(original: str, corrections: Sequence[Correction], color: bool) -> str:
    """The original text with each correction shown in place: `[-recieve-]{+receive+}`, or red
    struck-through and green on a terminal."""
    parts: list[str] = []
    position = 0
    for correction in sorted(corrections, key=lambda c: c.offset):
        end = correction.offset + correction.length
        parts.append(original[position : correction.offset])
        parts.append(_mark(original[correction.offset : end], correction.replacement, color))
        position = end
    parts.append(original[position:])
    return "".join(parts)


def highlight_word_diff(original: str, corrected: str, color: bool) -> str:
    """A word-by-word diff of two texts, for when the corrections do not explain the corrected
    text."""
    old = re.split(r"(\s+)", original)
    new = re.split(r"(\s+)", corrected)
    parts: list[str] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            parts.append("".join(old[i1:i2]))
        else:
            parts.append(_mark("".join(old[i1:i2]), "".join(new[j1:j2]), color))
    return "".join(parts)
