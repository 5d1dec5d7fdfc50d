"""The English noisy channel, on the real dictionaries: frequencies, the learned edits and the
word pairs around a misspelling."""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt
import pytest

from services.spell_checker.adapters.checkers import LanguageCheckers
from services.spell_checker.domain.checker import EssayChecker
from services.spell_checker.domain.context import BigramContext, Context, WordCounts
from services.spell_checker.domain.corrector import MemoizedCorrector
from services.spell_checker.domain.model import Correction, apply_corrections
from services.spell_checker.domain.ranking import (
    CHANNEL_WEIGHT,
    NoisyChannelCorrector,
    RankingWeights,
)


@pytest.fixture(scope="module")
def corrector(checkers: LanguageCheckers) -> MemoizedCorrector:
    return checkers.corrector("en")


def test_the_likeliest_error_wins_over_the_most_frequent_word(
    corrector: MemoizedCorrector,
) -> None:
    assert corrector.correct("recieve", Context("to", "a")) == "receive"  # i and e swapped
    assert corrector.correct("definately") == "definitely"  # a vowel for a vowel
    assert corrector.correct("beatiful") == "beautiful"
    assert corrector.correct("becuase") == "because"


def test_the_neighbours_choose_between_close_candidates(corrector: MemoizedCorrector) -> None:
    assert corrector.correct("lether", Context("", "jacket")) == "leather"
    assert corrector.correct("lether", Context("a", "from")) == "letter"
    assert corrector.correct("wnat", Context("i", "to")) == "want"


def test_candidates_are_remembered_without_their_context(corrector: MemoizedCorrector) -> None:
    corrector.correct("lethers")
    hits = corrector.hits
    corrector.correct("lethers", Context("old", "jackets"))
    assert corrector.hits == hits + 1


def test_a_real_word_the_dictionary_lacks_is_left_alone(corrector: MemoizedCorrector) -> None:
    # `cafe` is common English (not in pyspellchecker's list): neither safe nor café
    assert corrector.correct("cafe") is None
    assert corrector.correct("zxqvbw") is None  # nothing near


def test_an_unsure_choice_is_not_made(checkers: LanguageCheckers) -> None:
    engine = checkers.corrector("en").engine
    assert isinstance(engine, NoisyChannelCorrector)
    ranking = engine.candidates("mony")  # money or many
    sure = RankingWeights(min_posterior=0.99)
    assert engine.choose(ranking, Context("", "blue")) is None
    engine.weights, kept = RankingWeights(min_posterior=0.0), engine.weights
    try:
        assert engine.choose(ranking, Context("", "blue")) in {"money", "many"}
        engine.weights = sure
        assert engine.choose(ranking, Context()) is None  # money and many are close
        assert engine.choose(ranking, Context("how", "people")) == "many"
        assert engine.choose(ranking, Context("much", "")) == "money"
    finally:
        engine.weights = kept


def test_in_an_essay_the_fix_depends_on_the_sentence(english: EssayChecker) -> None:
    text = "She bought a lether jacket. I wrote a lether from home."
    assert english.check(text).corrected_text == (
        "She bought a leather jacket. I wrote a letter from home."
    )


def test_word_pair_evidence_is_pointwise_mutual_information() -> None:
    words = WordCounts([("red", 100.0), ("wine", 100.0), ("car", 100.0), ("the", 700.0)])
    pairs = WordCounts([("red wine", 50.0), ("the car", 10.0)])
    context = BigramContext(words, pairs)
    red, car = context.evidence(["red", "car"], Context("", "wine"))
    assert red == pytest.approx(1.609, abs=0.001)  # log(50 * 1000 / (100 * 100))
    assert car < 0  # an unlisted pair counts against, as at most half the rarest listed pair
    assert context.evidence(["red"], Context()) == [0.0]
    assert context.evidence(["unheard"], Context("the", "")) == [0.0]
    assert words.get("wine") == 100.0 and words.get("beer") == 0.0 and len(pairs) == 2


def test_two_word_candidates_are_weighed_by_their_outer_words() -> None:
    words = WordCounts([("red", 100.0), ("wine", 100.0), ("a", 500.0), ("the", 700.0)])
    pairs = WordCounts([("red wine", 50.0), ("the red", 80.0), ("a red", 10.0)])
    context = BigramContext(words, pairs)
    # `a red` after nothing and before `wine`: its last word's pair, as `red` alone gets
    assert context.evidence(["a red", "red"], Context("", "wine")) == pytest.approx(
        [1.946, 1.946],
        abs=0.001,  # log(50 * 1400 / (100 * 100))
    )
    # after `the`: its first word's pair (`the a`, unlisted), not `the red`
    phrase, word = context.evidence(["a red", "red"], Context("the", ""))
    assert phrase < 0 < word
    # `red wine`: 50 of the 140 pairs counted
    assert context.phrase_log_p(["red wine", "red car"]) == [
        pytest.approx(-1.030, abs=0.001),
        -np.inf,
    ]


def test_two_words_typed_as_one_are_written_apart(english: EssayChecker) -> None:
    # `alot` was `allot`: the pair `a lot` is far likelier, and the words around it agree
    result = english.check("There are alot of cars. Alot more people came.")
    assert result.corrected_text == "There are a lot of cars. A lot more people came."
    assert result.corrections == (
        Correction(10, 4, "alot", "a lot"),
        Correction(24, 4, "Alot", "A lot"),
    )
    assert fixed(english, "We stood infront of the house.") == "We stood in front of the house."
    assert fixed(english, "They help eachother.") == "They help each other."
    # a word one edit from a common word stays that word, though `be for` is a pair too
    assert fixed(english, "I had never seen it befor.") == "I had never seen it before."


def test_words_spelled_by_ear_are_found_past_two_edits(corrector: MemoizedCorrector) -> None:
    # from the training split of the misspelling lists: each three or more edits away
    assert corrector.engine.candidates("butefl").candidates[0][0] == "beautiful"
    assert corrector.engine.candidates("beaurocracy").candidates[0][0] == "bureaucracy"
    assert corrector.engine.candidates("misslinious").candidates[0][0] == "miscellaneous"


def test_skipping_hopeless_alignments_keeps_the_same_candidates(
    checkers: LanguageCheckers,
) -> None:
    engine = checkers.corrector("en").engine
    assert isinstance(engine, NoisyChannelCorrector)
    everything = NoisyChannelCorrector.__new__(NoisyChannelCorrector)
    everything.__dict__.update(engine.__dict__)
    everything._scored = functools.partial(_score_all, engine)  # type: ignore[method-assign]
    for word in (
        "recieve",
        "tomorow",
        "wich",
        "enviroment",
        "becouse",
        "lether",
        "butefl",
        "bigginging",
    ):
        kept, every = engine.candidates(word), everything.candidates(word)
        assert kept.candidates[:3] == every.candidates[:3], word
        # the misspellings of the skipped candidates add next to nothing
        assert kept.written == pytest.approx(every.written, abs=0.01), word


def _score_all(
    engine: NoisyChannelCorrector,
    word: str,
    ids: npt.NDArray[np.uint32],
    _: object,
    alike: npt.NDArray[np.bool_],
    rivals: object = None,
) -> tuple[list[tuple[str, float]], float]:
    """Every candidate aligned, none skipped: what `_scored` must keep the best of."""
    words = engine._lexicon.words
    errors = [engine._channel.log_probability(words[i], word) for i in ids.tolist()]
    priors = [float(engine._prior[i]) for i in ids.tolist()]
    likeness = engine.likeness(word, ids, alike).tolist()
    scored = [
        (words[i], prior + CHANNEL_WEIGHT * error + like)
        for i, prior, error, like in zip(ids.tolist(), priors, errors, likeness, strict=True)
    ]
    misspelled = [prior + error for prior, error in zip(priors, errors, strict=True)]
    return scored, float(np.logaddexp.reduce(misspelled))


def test_long_words_are_found_three_edits_away(corrector: MemoizedCorrector) -> None:
    # from the training split of the misspelling lists: no dictionary word is within two edits
    assert corrector.engine.candidates("appresteate").candidates[0][0] == "appreciate"
    assert corrector.engine.candidates("documtations").candidates[0][0] == "documentation"
    assert corrector.engine.candidates("comittmend").candidates[0][0] == "commitment"


def fixed(checker: EssayChecker, text: str) -> str:
    result = checker.check(text)
    assert apply_corrections(text, result.corrections) == result.corrected_text
    return result.corrected_text
