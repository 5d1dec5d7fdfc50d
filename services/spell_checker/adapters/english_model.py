"""The noisy-channel model for English, loaded from the installed packages: word frequencies
(wordfreq, or pyspellchecker's own counts), word-pair counts (symspellpy's bigram dictionary)
and the learned edit table shipped beside the domain code."""

from __future__ import annotations

import importlib.resources
import json
import math
from collections.abc import Iterator
from enum import StrEnum

import numpy as np
import numpy.typing as npt
import wordfreq

from services.spell_checker.domain.channel import EditModel
from services.spell_checker.domain.context import BigramContext, WordCounts
from services.spell_checker.domain.far import FirstLetterIndex
from services.spell_checker.domain.index import SymmetricDeleteIndex
from services.spell_checker.domain.lexicon import Lexicon
from services.spell_checker.domain.ranking import NoisyChannelCorrector, RankingWeights
from services.spell_checker.domain.sounds import SoundIndex

EDIT_TABLE = "edit_model.json"
SYMSPELL_WORDS = "frequency_dictionary_en_82_765.txt"
SYMSPELL_PAIRS = "frequency_bigramdictionary_en_243_342.txt"
# A word wordfreq does not list is rarer than its rarest (zipf 1, one in 10**8).
UNLISTED_WORD_LOG_P = math.log(1e-9)


class Prior(StrEnum):
    """Where P(intended word) comes from."""

    WORDFREQ = "wordfreq"  # wordfreq's English "large" list (many sources, maintained)
    PYSPELLCHECKER = "pyspellchecker"  # the dictionary's own counts


def edit_model() -> EditModel:
    """The learned edit table (bench.learn_edits wrote it)."""
    source = importlib.resources.files("services.spell_checker.domain").joinpath(EDIT_TABLE)
    return EditModel.from_table(json.loads(source.read_text(encoding="utf-8")))


def _wordfreq_english() -> Iterator[tuple[str, float]]:
    """wordfreq's English large list as (word, frequency), read from its file rather than its
    cached dictionary, so the 300,000 words do not stay in memory after loading."""
    path = importlib.resources.files("wordfreq").joinpath("data", "large_en.msgpack.gz")
    with importlib.resources.as_file(path) as file:
        buckets = wordfreq.read_cBpack(str(file))
    for centibels, bucket in enumerate(buckets):
        frequency = wordfreq.cB_to_freq(-centibels)
        for word in bucket:
            yield word, frequency


def _symspell_counts(name: str) -> Iterator[tuple[str, float]]:
    text = importlib.resources.files("symspellpy").joinpath(name).read_text(encoding="utf-8")
    for line in text.splitlines():
        *words, count = line.split()
        yield " ".join(words), float(count)


def english_corrector(
    lexicon: Lexicon,
    index: SymmetricDeleteIndex,
    weights: RankingWeights,
    prior: Prior = Prior.WORDFREQ,
) -> NoisyChannelCorrector:
    """The noisy-channel corrector over the English dictionary."""
    written = WordCounts(_wordfreq_english())
    log_prior: npt.NDArray[np.float32]
    if prior is Prior.WORDFREQ:
        frequencies = written.lookup(list(lexicon.words))
    else:
        counts = np.fromiter(lexicon.frequency.values(), dtype=np.float64)
        frequencies = counts / counts.sum()
    with np.errstate(divide="ignore"):
        log_prior = np.where(frequencies > 0, np.log(frequencies), UNLISTED_WORD_LOG_P).astype(
            np.float32
        )

    def log_written(word: str) -> float:
        frequency = written.get(word)
        return math.log(frequency) if frequency else -math.inf

    context = BigramContext(
        WordCounts(_symspell_counts(SYMSPELL_WORDS)), WordCounts(_symspell_counts(SYMSPELL_PAIRS))
    )
    return NoisyChannelCorrector(
        lexicon,
        index,
        channel=edit_model(),
        prior=log_prior,
        written=log_written,
        context=context,
        sounds=SoundIndex(lexicon.words, lexicon.is_candidate),
        far=FirstLetterIndex(lexicon.words, lexicon.is_candidate),
        weights=weights,
    )
