"""SweLL learner sentences (../shared/corpus/swedish, MultiGED 2023) as texts to check, each
token labelled `c` (correct) or `i` (needs correcting for any reason) and placed in the text."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from tests.support import CORPUS

SWELL = CORPUS / "swedish" / "sv_swell_train.tsv"
_ESCAPED_QUOTE = '\\"'


@dataclass(frozen=True)
class Token:
    """One labelled token and where it is in its text."""

    text: str
    correct: bool
    start: int
    end: int


@dataclass(frozen=True)
class LabelledText:
    """Sentences joined into one text, tokens separated by one space."""

    text: str
    tokens: tuple[Token, ...]


def read_sentences() -> list[list[tuple[str, bool]]]:
    """Each sentence of the corpus as (token, labelled correct) pairs, in file order."""
    if not SWELL.is_file():
        raise FileNotFoundError(f"no {SWELL}: is ../shared/corpus beside the repository?")
    sentences: list[list[tuple[str, bool]]] = []
    current: list[tuple[str, bool]] = []
    for line in SWELL.read_text(encoding="utf-8").split("\n"):
        if not line:
            if current:
                sentences.append(current)
            current = []
            continue
        token, label = line.rsplit("\t", 1)
        current.append(('"' if token == _ESCAPED_QUOTE else token, label == "c"))
    if current:
        sentences.append(current)
    return sentences


def joined(sentences: Sequence[Sequence[tuple[str, bool]]]) -> LabelledText:
    """The sentences as one text, a space between tokens and a line break between sentences."""
    pieces: list[str] = []
    tokens: list[Token] = []
    position = 0
    for sentence in sentences:
        for number, (token, correct) in enumerate(sentence):
            if number:
                pieces.append(" ")
                position += 1
            tokens.append(Token(token, correct, position, position + len(token)))
            pieces.append(token)
            position += len(token)
        pieces.append("\n")
        position += 1
    return LabelledText("".join(pieces), tuple(tokens))


def texts(sentences_per_text: int) -> Iterator[LabelledText]:
    """The corpus as texts of `sentences_per_text` consecutive sentences (it has no essay
    boundaries)."""
    sentences = read_sentences()
    for first in range(0, len(sentences), sentences_per_text):
        yield joined(sentences[first : first + sentences_per_text])
