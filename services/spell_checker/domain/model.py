"""What checking one essay produces, and how corrections are applied to the original text."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Correction:
    """One replaced word; offset and length count Unicode code points of the original text."""

    offset: int
    length: int
    original: str
    replacement: str


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The corrected text with every change that made it, and the words left as written."""

    corrected_text: str
    corrections: tuple[Correction, ...]
    unknown_words: tuple[str, ...]
    word_count: int
    warning: str = ""  # a caveat for the teacher, e.g. the essay is in another language


class CorrectionMismatchError(ValueError):
    """A correction does not fit the text it is applied to."""


def apply_corrections(text: str, corrections: Iterable[Correction]) -> str:
    """`text` with each correction applied; corrections must not overlap and must match the text."""
    pieces: list[str] = []
    position = 0
    for correction in sorted(corrections, key=lambda c: c.offset):
        end = correction.offset + correction.length
        if correction.offset < position or text[correction.offset : end] != correction.original:
            raise CorrectionMismatchError(
                f"correction {correction.original!r} at {correction.offset} does not fit the text"
            )
        pieces.append(text[position : correction.offset])
        pieces.append(correction.replacement)
        position = end
    pieces.append(text[position:])
    return "".join(pieces)
