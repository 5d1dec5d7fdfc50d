"""Candidates three edits away: the dictionary words a long misspelling may still have meant when
nothing within two edits explains it well (`appresteate`, `documtations`, `comittmend`).

The symmetric-delete index (`index.SymmetricDeleteIndex`) stops at two edits: a third would
multiply its size. Instead the words are kept in one list per first two letters, ordered by
length, and the words of the typed word's first two letters and a length within three of its
own are compared with it: first by their sets of letters (a numpy pass), then the few left by
rapidfuzz's Levenshtein distance, about 0.06 ms a word in all. Writers seldom get the first
letters of a long word wrong: on the training split of the misspelling lists, top 1 was within
0.3 points of searching every word of the same first letter (0.5 ms a word).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

FAR_DISTANCE = 3
PREFIX = 2  # letters a candidate shares with the typed word's start


class FirstLetterIndex:
    """The ids of the dictionary words by their first PREFIX letters, ordered by length, with
    the words beside them (references to the lexicon's own strings) and their letter sets: a
    few MiB in all."""

    def __init__(self, words: Sequence[str], include: Callable[[str], bool]) -> None:
        by_prefix: defaultdict[str, list[int]] = defaultdict(list)
        for word_id, word in enumerate(words):
            if word and include(word):
                by_prefix[word[:PREFIX]].append(word_id)
        self._ids: dict[str, npt.NDArray[np.uint32]] = {}
        self._words: dict[str, list[str]] = {}
        self._lengths: dict[str, npt.NDArray[np.int32]] = {}
        self._letters: dict[str, npt.NDArray[np.uint32]] = {}
        for prefix, ids in by_prefix.items():
            ids.sort(key=lambda word_id: len(words[word_id]))
            self._ids[prefix] = np.asarray(ids, dtype=np.uint32)
            self._words[prefix] = [words[word_id] for word_id in ids]
            self._lengths[prefix] = np.fromiter(
                (len(words[word_id]) for word_id in ids), dtype=np.int32, count=len(ids)
            )
            self._letters[prefix] = np.fromiter(
                (letter_set(words[word_id]) for word_id in ids), dtype=np.uint32, count=len(ids)
            )

    def near(self, word: str) -> npt.NDArray[np.uint32]:
        """The ids of the words that start with `word`'s first PREFIX letters and are at most
        FAR_DISTANCE insertions, deletions and substitutions from it."""
        prefix = word[:PREFIX]
        lengths = self._lengths.get(prefix)
        if lengths is None:
            return np.empty(0, dtype=np.uint32)
        low = int(np.searchsorted(lengths, len(word) - FAR_DISTANCE, side="left"))
        high = int(np.searchsorted(lengths, len(word) + FAR_DISTANCE, side="right"))
        # an edit adds or removes at most two letters of a word's set of letters
        differing = np.bitwise_count(self._letters[prefix][low:high] ^ letter_set(word))
        close = np.flatnonzero(differing <= 2 * FAR_DISTANCE) + low
        if not len(close):
            return np.empty(0, dtype=np.uint32)
        words = self._words[prefix]
        distances: npt.NDArray[np.int32] = process.cdist(
            [word],
            [words[k] for k in close.tolist()],
            scorer=Levenshtein.distance,
            score_cutoff=FAR_DISTANCE,
            dtype=np.int32,
        )[0]
        found: npt.NDArray[np.uint32] = self._ids[prefix][close[distances <= FAR_DISTANCE]]
        return found


def letter_set(word: str) -> int:
    """The letters of `word` as bits (a to z, and any other character on one of six bits)."""
    bits = 0
    for character in word:
        offset = ord(character) - 97
        bits |= 1 << (offset if 0 <= offset < 26 else 26 + ord(character) % 6)
    return bits
