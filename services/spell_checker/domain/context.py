"""What the words around a misspelling say about the word meant: word-pair counts.

`BigramContext.evidence` is how much more (or less) often a candidate follows the word before it
and precedes the word after it than it occurs at all: the pointwise mutual information of the
two pairs, summed, so a word with no neighbours, or neighbours the counts do not know, gets 0.
A candidate of two words (`a lot` for `alot`) is weighed by its first word after the word before
and its last before the word after.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# A pair rarer than the counts' own cut-off is not listed: its count is taken as this share of
# the smallest listed one, and its absence is evidence only against the candidate.
UNLISTED_PAIR_SHARE = 0.5
EVIDENCE_LIMIT = 8.0  # natural log: no single pair of words decides more than this


@dataclass(frozen=True)
class Context:
    """The lookup forms of the words just before and after a word in the same sentence, with
    nothing but spaces between; "" where there is none."""

    previous: str = ""
    following: str = ""


NO_CONTEXT = Context()


class WordCounts:
    """Counts of words or word pairs (`"of the"`), as sorted 64-bit string hashes beside the
    counts: a few MiB for the hundreds of thousands of entries a dict holds in tens."""

    def __init__(self, items: Iterable[tuple[str, float]]) -> None:
        pairs = {hash(key): count for key, count in items}
        hashes = np.fromiter(pairs.keys(), dtype=np.int64, count=len(pairs))
        counts = np.fromiter(pairs.values(), dtype=np.float64, count=len(pairs))
        order = np.argsort(hashes)
        self._hashes: npt.NDArray[np.int64] = hashes[order]
        self._counts: npt.NDArray[np.float64] = counts[order]
        self.total = float(counts.sum())
        self.smallest = float(counts.min()) if len(counts) else 0.0

    def __len__(self) -> int:
        return len(self._hashes)

    def get(self, key: str) -> float:
        """The count of `key`; 0 when not listed (or, once in 2**64, another key's)."""
        wanted = hash(key)  # `lookup` of one key, without building its arrays
        at = int(self._hashes.searchsorted(wanted))
        if at < len(self._hashes) and self._hashes[at] == wanted:
            return float(self._counts[at])
        return 0.0

    def lookup(self, keys: list[str]) -> npt.NDArray[np.float64]:
        """The counts of `keys` in one search."""
        wanted = np.fromiter((hash(k) for k in keys), dtype=np.int64, count=len(keys))
        at = np.searchsorted(self._hashes, wanted).clip(max=max(len(self._hashes) - 1, 0))
        if not len(self._hashes):
            return np.zeros(len(keys))
        return np.where(self._hashes[at] == wanted, self._counts[at], 0.0)


class BigramContext:
    """Evidence from the neighbouring words, from word and word-pair counts of one corpus."""

    def __init__(self, words: WordCounts, pairs: WordCounts) -> None:
        self._words = words
        self._pairs = pairs
        self._unlisted = UNLISTED_PAIR_SHARE * pairs.smallest

    def evidence(self, candidates: list[str], context: Context) -> list[float]:
        """For each candidate, log(P(candidate | previous) / P(candidate)) plus
        log(P(following | candidate) / P(following)), each limited to ±EVIDENCE_LIMIT."""
        if not (context.previous or context.following) or not candidates:
            return [0.0] * len(candidates)
        n = len(candidates)
        one_word = not any(" " in c for c in candidates)  # most: one count serves both sides
        firsts = candidates if one_word else [c.split(" ", 1)[0] for c in candidates]
        lasts = candidates if one_word else [c.rsplit(" ", 1)[-1] for c in candidates]
        words = firsts if one_word else [*firsts, *lasts]
        unigrams = self._words.lookup([*words, context.previous or " ", context.following or " "])
        previous, following = unigrams[-2], unigrams[-1]
        first_counts = unigrams[:n].tolist()
        last_counts = first_counts if one_word else unigrams[n : 2 * n].tolist()
        pairs: list[str] = []
        if previous:
            pairs += [f"{context.previous} {c}" for c in firsts]
        if following:
            pairs += [f"{c} {context.following}" for c in lasts]
        if not pairs:
            return [0.0] * n
        counts = self._pairs.lookup(pairs)
        total = self._words.total
        scores = [0.0] * n
        offset = 0
        for neighbour, own in ((previous, first_counts), (following, last_counts)):
            if not neighbour:
                continue
            for k, count in enumerate(own):
                if count:
                    scores[k] += self._pointwise(counts[offset + k], count * neighbour / total)
            offset += n
        return scores

    def phrase_log_p(self, phrases: list[str]) -> list[float]:
        """log P of each two-word phrase (`"a lot"`) among all the counted word pairs; -inf for
        a pair the counts do not list."""
        total = self._pairs.total
        return [
            math.log(count / total) if count else -math.inf
            for count in self._pairs.lookup(phrases).tolist()
        ]

    def _pointwise(self, pair: float, independent: float) -> float:
        if pair:
            return max(-EVIDENCE_LIMIT, min(EVIDENCE_LIMIT, math.log(pair / independent)))
        return max(-EVIDENCE_LIMIT, min(0.0, math.log(self._unlisted / independent)))
