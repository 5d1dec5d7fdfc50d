"""Noisy-channel ranking of corrections: the word meant is the one that best explains what was
typed, in the words around it, unless the word as written explains it better.

A candidate's score is log P(w) + CHANNEL_WEIGHT·log P(typed | w) + likeness + λ·context
evidence, where P(w) is the word's frequency, P(typed | w) the learned error model
(`channel.EditModel`), the likeness two log-odds (a word that sounds like the typed one, a word
with another first letter), and the evidence comes from word pairs (`context.BigramContext`).
Every dictionary word within two edits competes at once, with the words that sound like the
typed one (`sounds.SoundIndex`) and, for a long word nothing nearer explains, words three edits
away (`far.FirstLetterIndex`): a likely double edit may beat an unlikely single one. So do two
dictionary words the typed one runs together (`a lot` for `alot`), by their pair's count. The
typed word itself competes too, as a word meant as written (a name, a compound, a rare word
the dictionary lacks) with its own frequency (at least `RankingWeights.written_floor`) times
`keep_weight`; a fix is made only when the best candidate's posterior against the others and
the written word reaches `min_posterior`, otherwise the word is reported as unknown.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

from services.spell_checker.domain.channel import MAX_EDIT_LOG_P, EditModel
from services.spell_checker.domain.context import BigramContext, Context
from services.spell_checker.domain.corrector import MAX_DISTANCE, Ranking
from services.spell_checker.domain.far import FAR_DISTANCE, FirstLetterIndex
from services.spell_checker.domain.index import SymmetricDeleteIndex
from services.spell_checker.domain.lexicon import Lexicon
from services.spell_checker.domain.sounds import SoundIndex
from services.spell_checker.domain.variants import is_british_form

KEPT_CANDIDATES = 6  # per word, for the context to reorder: the rest are too far behind
# Sound-alikes are weighed up to this many edits away (the farthest that found a word meant on
# the training split of the misspelling lists; a long word can be far and still sound alike).
SOUND_DISTANCE = 12
# Words three edits away (`far.FirstLetterIndex`) compete when the typed word is at least
# FAR_MIN_LENGTH long and no nearer candidate scores FAR_BELOW; only the FAR_ALIGNED most
# frequent are aligned (each alignment costs as much as the search). Chosen on the training split
# of the misspelling lists (800-pair samples), where they raised top-1 on aspell by 3.7 points,
# birkbeck 3.7, holbrook 0.3 and wikipedia 0.1, norvig unchanged; on the corpus essays, one
# unknown word in six asks for them (asking only when nothing nearer is found gained two thirds
# as much; aligning every one of them, 0.5 point more on aspell for six times the added
# alignments).
FAR_MIN_LENGTH = 6
FAR_BELOW = -20.0
FAR_ALIGNED = 3
# What each edit past the first is taken to cost at least, when deciding which candidates are
# worth aligning (`_scored`): the first edit costs at least MAX_EDIT_LOG_P. Not a true bound
# (an edit may be likelier, mostly in far sound-alikes), but against the true one (-0.69) top-1
# on the training split of the misspelling lists was the same, and on the tuning half of the
# spelling gold one false change more of 1,068, for 43 % fewer alignments on the corpus essays.
FURTHER_EDIT_LOG_P = -4.0
# The error model's weight against the prior: log P(w) + CHANNEL_WEIGHT · log P(typed | w). The
# edit probabilities come from misspellings alone, so they undersell how rarely a writer makes
# an unlikely error; chosen on the training split of the misspelling lists (800-pair samples),
# where 1.3 raised top-1 on four lists (aspell +1.1, birkbeck +0.4, norvig +3.5, wikipedia
# +1.1 points) and lowered none against 1.0.
CHANNEL_WEIGHT = 1.3
# Beside the error model, two log-odds on the candidate's likeness to the typed word, chosen on
# the training split of the misspelling lists (a grid, checked on its two halves): a word that
# sounds like it (`sounds.sound_key`) is e times likelier, one with another first letter e²
# times less likely (writers seldom get the first letter wrong). Top-1 there, with the words
# three edits away: aspell +2.4 points, birkbeck +0.4, holbrook +0.5, norvig -0.6 (one pair of
# 173), wikipedia 0.
SOUND_ALIKE_LOG_P = 1.0
FIRST_LETTER_LOG_P = 2.0
# log P(typed | meant) of two dictionary words typed as one (`alot` for `a lot`, `eachother`): the
# space dropped. The two compete as one candidate whose prior is the pair's share of the word-pair
# counts. Chosen on the training split of the misspelling lists: at -5 the two words are top-1
# for 21 of its 60 run-together pairs, and top-1 over its 24,277 words rises by 10 (-2: 26 pairs,
# 15 fewer overall; -4: 24 pairs, +6; -6: 16 pairs, +12; -8: 12 pairs, +9).
JOINED_LOG_P = -5.0


@dataclass(frozen=True)
class RankingWeights:
    """The model's free parameters, chosen on the tuning half of the spelling gold essays
    (`python -m bench.tune_ranking`, then a smaller grid by hand) with the likeliest-edits error
    model, sound-alike candidates, the written word less its candidates' misspellings, words
    three edits away and the likeness log-odds: 63.1 % precision and 69.4 % recall on that half
    for `en` (at min_posterior 0.85, 62.7 % and 70.9 %; before the last two, 62.7 % and
    68.5 %). It leaves a word unknown rather than guess between close candidates."""

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
        sounds: SoundIndex | None = None,
        far: FirstLetterIndex | None = None,
        weights: RankingWeights = RankingWeights(),
    ) -> None:
        """`prior` holds log P(w) by word id; `written(word)` is log P of any word (-inf when
        unknown)."""
        self._lexicon = lexicon
        self._index = index
        self._sounds = sounds
        self._far = far
        self._initials = np.fromiter(
            (ord(w[0]) if w else 0 for w in lexicon.words), dtype=np.int32, count=len(lexicon.words)
        )
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
        written = self._written(word)
        ids, distances = self._near(word, self._index.candidate_ids(word), MAX_DISTANCE)
        alike = np.zeros(len(ids), dtype=bool)
        if self._sounds is not None:
            sound_ids = self._sounds.candidate_ids(word)
            # which near words sound alike, which sound-alikes are not near: both lists are
            # short (50 and 7 ids on average), so a table of them costs less than np.isin
            same = ids[:, None] == sound_ids
            alike = same.any(axis=1)
            sounds = sound_ids[~same.any(axis=0)]
            far, far_distances = self._near(word, sounds, SOUND_DISTANCE)
            ids = np.concatenate([ids, far])
            distances = np.concatenate([distances, far_distances])
            alike = np.concatenate([alike, np.ones(len(far), dtype=bool)])
        scored, explained = self._scored(word, ids, distances, alike)
        joined, joined_explained = self._joined(word)
        scored += joined
        explained = float(np.logaddexp(explained, joined_explained))
        if self._far is not None and len(word) >= FAR_MIN_LENGTH:
            best_score = max((score for _, score in scored), default=-math.inf)
            if best_score < FAR_BELOW:
                far = np.setdiff1d(self._far.near(word), ids, assume_unique=True)
                far = far[np.argsort(-self._prior[far], kind="stable")[:FAR_ALIGNED]]
                distant = np.full(len(far), FAR_DISTANCE, dtype=np.int32)
                # (no sound-alike is left: they are all among `ids`)
                more, more_explained = self._scored(
                    word, far, distant, np.zeros(len(far), dtype=bool), scored
                )
                scored += more
                explained = float(np.logaddexp(explained, more_explained))
        if not scored:
            return Ranking((), written)
        written = _as_a_word_of_its_own(written, explained)
        scored.sort(key=lambda pair: (-pair[1], pair[0]))
        best = tuple(_one_word_per_spelling(scored[: 2 * KEPT_CANDIDATES])[:KEPT_CANDIDATES])
        if any(is_british_form(word, c) for c, _ in best):
            # another spelling of a dictionary word (`favourite`): the dictionary's spelling
            # decides, as for `en-US` (`en` and `en-GB` accept British words before asking)
            written = -math.inf
        return Ranking(best, written)

    def _joined(self, word: str) -> tuple[list[tuple[str, float]], float]:
        """The pairs of dictionary words `word` is written as one (`a lot` for `alot`) that the
        word-pair counts list, scored as one candidate each, and the log of how often they are
        typed as `word`."""
        if self._context is None:
            return [], -math.inf
        known = self._lexicon.frequency
        phrases = [
            f"{word[:cut]} {word[cut:]}"
            for cut in range(1, len(word))
            if word[:cut] in known and word[cut:] in known
        ]
        if not phrases:
            return [], -math.inf
        listed = [
            (phrase, log_p)
            for phrase, log_p in zip(phrases, self._context.phrase_log_p(phrases), strict=True)
            if log_p > -math.inf
        ]
        scored = [(phrase, log_p + CHANNEL_WEIGHT * JOINED_LOG_P) for phrase, log_p in listed]
        misspelled = [log_p + JOINED_LOG_P for _, log_p in listed]
        return scored, float(np.logaddexp.reduce(misspelled)) if misspelled else -math.inf

    def _near(
        self, word: str, ids: npt.NDArray[np.uint32], limit: int
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int32]]:
        """The words of `ids` at most `limit` edits from `word`, and their distances."""
        if not len(ids):
            return ids, np.empty(0, dtype=np.int32)
        words = self._lexicon.words
        distances = process.cdist(
            [word],
            [words[i] for i in ids.tolist()],
            scorer=DamerauLevenshtein.distance,
            score_cutoff=limit,
            dtype=np.int32,
        )[0]
        near = distances <= limit
        return ids[near], distances[near]

    def likeness(
        self, word: str, ids: npt.NDArray[np.uint32], alike: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.float64]:
        """What each candidate's sound (`alike`: it sounds like `word`) and first letter add to
        its score."""
        other_initial = self._initials[ids] != ord(word[0])
        return np.asarray(
            SOUND_ALIKE_LOG_P * alike - FIRST_LETTER_LOG_P * other_initial, dtype=np.float64
        )

    def _scored(
        self,
        word: str,
        ids: npt.NDArray[np.uint32],
        distances: npt.NDArray[np.int32],
        alike: npt.NDArray[np.bool_],
        rivals: list[tuple[str, float]] = [],  # noqa: B006 (read only)
    ) -> tuple[list[tuple[str, float]], float]:
        """The scores of the candidates that may be among the KEPT_CANDIDATES best (with the
        already scored `rivals`), and the log of how often they are misspelled as `word` (sum
        of P(w)·P(typed | w)). The error model is weighed likeliest first, by a ceiling of
        each score (its prior and what its number of edits costs at least), while a candidate
        can still get in: once a ceiling is below the kept ones' worst score, no later
        candidate can beat it. The alignments (`channel.EditModel`) are most of a word's cost;
        this skips most of them."""
        edits_past_first = (distances - 1).astype(np.float32)
        least = MAX_EDIT_LOG_P + FURTHER_EDIT_LOG_P * edits_past_first
        likeness = self.likeness(word, ids, alike)
        bound = self._prior[ids] + CHANNEL_WEIGHT * least + likeness
        order = np.argsort(-bound, kind="stable")
        channel = self._channel.log_probability
        words = self._lexicon.words
        prior = self._prior
        # the KEPT_CANDIDATES best scores so far, as a min-heap
        kept = heapq.nlargest(KEPT_CANDIDATES, (score for _, score in rivals))
        heapq.heapify(kept)
        scored: list[tuple[str, float]] = []
        misspelled: list[float] = []
        for i, ceiling, like in zip(
            ids[order].tolist(), bound[order].tolist(), likeness[order].tolist(), strict=True
        ):
            if len(kept) == KEPT_CANDIDATES and ceiling < kept[0]:
                break
            error = channel(words[i], word)
            score = float(prior[i]) + CHANNEL_WEIGHT * error + like
            scored.append((words[i], score))
            misspelled.append(float(prior[i]) + error)
            if len(kept) < KEPT_CANDIDATES:
                heapq.heappush(kept, score)
            elif score > kept[0]:
                heapq.heapreplace(kept, score)
        return scored, float(np.logaddexp.reduce(misspelled)) if misspelled else -math.inf

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


def _as_a_word_of_its_own(written: float, misspelled: float) -> float:
    """log P of the written word meant as written: its frequency less what misspellings of the
    candidates account for. wordfreq counts common misspellings (`becuase`, `advertisment`)
    from the web text they were typed in; that is the candidates' misspelling, not a word."""
    if written <= misspelled:
        return -math.inf
    return written + math.log1p(-math.exp(misspelled - written))


def _one_word_per_spelling(scored: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """`scored` (best first) with the British and American spellings of the best word as one
    candidate: the American (the dictionary's spelling, which `en-GB` respells), with their
    probabilities added. `travled` meant `traveled` or `travelled`: the same word, so the two
    must not split its probability and leave it unsure."""
    if not scored:
        return scored
    best, best_score = scored[0]
    others: list[tuple[str, float]] = []
    for candidate, score in scored[1:]:
        if _variants(candidate, best):
            best = best if is_british_form(candidate, best) else candidate
            best_score = float(np.logaddexp(best_score, score))
        else:
            others.append((candidate, score))
    return [(best, best_score), *others]


def _variants(one: str, other: str) -> bool:
    """Whether two words are the British and American spellings of one (`colour`, `color`);
    the cheap test first: such spellings start alike and differ by at most four letters."""
    if one[:2] != other[:2] or abs(len(one) - len(other)) > 4:
        return False
    return is_british_form(one, other) or is_british_form(other, one)
