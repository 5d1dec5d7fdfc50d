"""Noisy-channel ranking of corrections: the word meant is the one that best explains what was
typed, in the words around it, unless the word as written explains it better.

A candidate's score is log P(w) + log P(typed | w) + λ·context evidence, where P(w) is the
word's frequency, P(typed | w) the learned error model (`channel.EditModel`), and the evidence
comes from word pairs (`context.BigramContext`). Every dictionary word within two edits competes
at once: a likely double edit may beat an unlikely single one. The typed word itself competes
too, as a word meant as written (a name, a compound, a rare word the dictionary lacks) with its
own frequency (at least `RankingWeights.written_floor`) times `keep_weight`; a fix is made only
when the best candidate's posterior against the others and the written word reaches
`min_posterior`, otherwise the word is reported as unknown.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

from services.spell_checker.domain.channel import EditModel
from services.spell_checker.domain.context import BigramContext, Context
from services.spell_checker.domain.corrector import MAX_DISTANCE, Ranking
from services.spell_checker.domain.index import SymmetricDeleteIndex
from services.spell_checker.domain.lexicon import Lexicon
from services.spell_checker.domain.variants import is_british_form

KEPT_CANDIDATES = 6  # per word, for the context to reorder: the rest are too far behind


@dataclass(frozen=True)
class RankingWeights:
    """The model's free parameters, chosen on the tuning half of the spelling gold essays
    (`python -m bench.tune_ranking`, bench/results/ranking_tuning.json): the most precise point
    whose recall is the tier rule's (62.9 % precision, 65.4 % recall on that half). It leaves a
    word unknown rather than guess between close candidates (`Tehn`: then or the)."""

    context: float = 1.0  # λ: weight of the neighbours' evidence
    written_floor: float = -20.0  # log P of a word meant as written that no frequency list has
    keep_weight: float = -2.0  # log of how much likelier "meant as written" is than one edit
    min_posterior: float = 0.9  # the best fix's share of the probability, to be made


class NoisyChannelCorrector:
    """Ranks the dictionary words within two edits of a typed word by their posterior."""

    def __init__(
        self,
        lexicon: Lexicon,
        index: SymmetricDeleteIndex,
        *,
        channel: EditModel,
        prior: npt.NDArray[np.float32],
        written: Callable[[str], float],
        context: BigramContext | None,
        weights: RankingWeights = RankingWeights(),
    ) -> None:
        """`prior` holds log P(w) by word id; `written(word)` is log P of any word (-inf when
        unknown)."""
        self._lexicon = lexicon
        self._index = index
        self._channel = channel
        self._prior = prior
        self._written = written
        self._context = context
        self.weights = weights  # read at each choice: a tuning run may set other weights

    def candidates(self, word: str) -> Ranking:
        """The best candidates for `word` before its context is seen, and the written word's
        own score."""
        lexicon = self._lexicon
        if lexicon.is_known(word) or not lexicon.should_check(word):
            return Ranking(((word, 0.0),))
        ids = self._index.candidate_ids(word)
        words = lexicon.words
        candidates = [words[i] for i in ids.tolist()]
        written = self._written(word)
        if not candidates:
            return Ranking((), written)
        distances = process.cdist(
            [word], candidates, scorer=DamerauLevenshtein.distance, score_cutoff=MAX_DISTANCE
        )[0]
        near = np.flatnonzero(distances <= MAX_DISTANCE)
        channel = self._channel.log_probability
        scored = [
            (candidates[k], float(self._prior[ids[k]]) + channel(candidates[k], word))
            for k in near.tolist()
        ]
        scored.sort(key=lambda pair: (-pair[1], pair[0]))
        best = tuple(scored[:KEPT_CANDIDATES])
        if any(is_british_form(word, c) for c, _ in best):
            # another spelling of a dictionary word (`favourite`): the dictionary's spelling
            # decides, as for `en-US` (`en` and `en-GB` accept British words before asking)
            written = -math.inf
        return Ranking(best, written)

    def choose(self, ranking: Ranking, context: Context) -> str | None:
        """The candidate to write in this context, or None to leave the word as unknown."""
        if ranking.written is None:
            return ranking.candidates[0][0] if ranking.candidates else None
        if not ranking.candidates:
            return None
        weights = self.weights
        keep = max(ranking.written, weights.written_floor) + weights.keep_weight
        words = [w for w, _ in ranking.candidates]
        scores = [s for _, s in ranking.candidates]
        if self._context is not None and weights.context:
            evidence = self._context.evidence(words, context)
            scores = [s + weights.context * e for s, e in zip(scores, evidence, strict=True)]
        best = max(range(len(scores)), key=scores.__getitem__)
        top = scores[best]
        total = math.fsum(math.exp(s - top) for s in scores) + math.exp(keep - top)
        return words[best] if 1 / total >= weights.min_posterior else None
