"""The Swedish checker (`sv`): wordfreq's word list, compounds, å ä ö, names, and the
wrong-language warning, on sentences of SweLL learner text (../shared/corpus/swedish, read here)."""

from __future__ import annotations

import pytest

from services.spell_checker.adapters.checkers import LanguageCheckers
from services.spell_checker.adapters.dictionaries import dictionary_fingerprint
from services.spell_checker.adapters.word_lists import (
    DOTLESS_RATIO,
    ENGLISH_RATIO,
    KEEP_COMMONEST,
    WORDS,
    drop_dotless_spellings,
    drop_english,
)
from services.spell_checker.domain.checker import EssayChecker
from tests.harness.spellcheck_common import read_essays
from tests.harness.swedish_corpus import joined, read_sentences, texts


@pytest.fixture(scope="module")
def swedish(checkers: LanguageCheckers) -> EssayChecker:
    return checkers.checker("sv")


@pytest.fixture(scope="module")
def sentences() -> list[list[tuple[str, bool]]]:
    return read_sentences()


def test_the_dictionary_is_wordfreqs_most_frequent_words(swedish: EssayChecker) -> None:
    lexicon = swedish.lexicon
    assert WORDS["sv"] * 0.9 < len(lexicon.words) <= WORDS["sv"]
    for word in ("och", "är", "skolan", "böcker", "därför", "hår", "far", "by", "man"):
        assert lexicon.knows(word), word
    # undotted (`känner`), and English quoted in Swedish web text
    for word in ("kanner", "vanner", "nagonting", "second", "profit"):
        assert not lexicon.knows(word), word
    assert dictionary_fingerprint("sv") == dictionary_fingerprint("sv")
    assert dictionary_fingerprint("sv") != dictionary_fingerprint("en")


def test_words_typed_without_their_dots_are_dropped_when_the_dotted_word_is_common() -> None:
    frequency = {"känner": 100 * DOTLESS_RATIO, "kanner": 99, "hår": 50, "har": 10_000, "far": 200}
    frequency["får"] = 200 * DOTLESS_RATIO - 1
    assert drop_dotless_spellings(frequency) == {
        "känner": 100 * DOTLESS_RATIO,
        "hår": 50,  # more dots than `har`: its own word
        "har": 10_000,
        "far": 200,  # `får` is not DOTLESS_RATIO times as frequent
        "får": 200 * DOTLESS_RATIO - 1,
    }


def test_english_words_are_dropped_past_the_commonest_swedish_ones() -> None:
    common = {f"ord{n}": 1_000_000 - n for n in range(KEEP_COMMONEST)}
    frequency = {**common, "the": 900, "news": 10, "man": 5, "skola": 10}
    english = {"the": 50_000_000, "news": 10 * ENGLISH_RATIO, "man": 5 * ENGLISH_RATIO - 1}
    kept = drop_english(frequency, english)
    assert list(kept)[KEEP_COMMONEST:] == ["man", "skola"]
    assert drop_english({"the": 900}, english) == {"the": 900}  # among the commonest


@pytest.mark.parametrize(
    ("sentence", "fixed"),
    [
        (0, "Nu ska jag berätta om det ."),  # brätta
        (32, "Jag behöver pengar för nya klassen ."),  # behöber
        (139, "Jag tycker att du har många optioner för att träffa nya vänner ."),  # vanner
        (272, "Jag tycker att buss är mycket bättre än bil ."),  # bätter
    ],
)
def test_misspellings_in_learner_sentences_are_fixed(
    swedish: EssayChecker, sentences: list[list[tuple[str, bool]]], sentence: int, fixed: str
) -> None:
    text = joined([sentences[sentence]]).text
    assert swedish.check(text).corrected_text == fixed + "\n"


def test_sentences_annotated_correct_are_almost_never_changed(
    swedish: EssayChecker, sentences: list[list[tuple[str, bool]]]
) -> None:
    correct = [s for s in sentences if all(ok for _, ok in s)][:1500]
    changed = words = 0
    for first in range(0, len(correct), 10):
        text = joined(correct[first : first + 10])
        result = swedish.check(text.text)
        assert result.warning == ""
        changed += len(result.corrections)
        words += result.word_count
    assert words > 10_000
    assert changed <= 0.005 * words  # bench.spellcheck_swedish: 0.18 % of correct word tokens


def test_compounds_of_known_words_are_not_corrected(swedish: EssayChecker) -> None:
    text = (
        "Skolbiblioteket var stängt efter fotbollsmatchen, så vi gick till gatuköket med "
        "pojkvännen och kvinnofängelset syntes bakom klassrumsfönstren."
    )
    result = swedish.check(text)
    assert result.corrected_text == text
    assert result.unknown_words == ()
    for word in ("skolbiblioteket", "gatuköket", "kvinnofängelset", "klassrumsfönstren"):
        assert not swedish.lexicon.knows(word), f"{word} is in the word list: no compound test"


def test_a_compound_one_edit_from_a_word_is_that_word_misspelled(swedish: EssayChecker) -> None:
    assert swedish.check("Vi läser bocker därfor.").corrected_text == "Vi läser böcker därför."


def test_dotted_letters_are_letters_not_accents(swedish: EssayChecker) -> None:
    assert swedish.check("Hennes hår är långt och min far är här.").corrections == ()
    # `skölan` is not `skolan` with an accent (as `naïve` is `naive`): it is a misspelling
    assert swedish.check("Det var battre igår i skölan.").corrected_text == (
        "Det var bättre igår i skolan."
    )


def test_names_are_capitalised_and_nouns_are_not(swedish: EssayChecker) -> None:
    text = "Vi åkte till Lindköping med Mohammed. Skolan ligger nära."
    assert swedish.check(text).corrected_text == text
    assert swedish.check("Skolna ligger nära.").corrected_text == "Skolan ligger nära."


def test_an_english_essay_checked_as_swedish_gets_the_warning(swedish: EssayChecker) -> None:
    for _, essay in read_essays(20):
        result = swedish.check(essay)
        assert "are not sv words" in result.warning, essay[:80]
        assert result.corrected_text == essay


def test_swedish_learner_text_gets_no_warning(swedish: EssayChecker) -> None:
    for text in list(texts(10))[:150]:
        assert swedish.check(text.text).warning == "", text.text[:80]


def test_english_quoted_in_a_swedish_essay_is_left_as_written(swedish: EssayChecker) -> None:
    text = (
        "Min mormor säger alltid samma sak till mig. Hon sa: I love you more than anything in "
        "the world. Jag tror att hon menar det, eftersom hon alltid ler när hon säger det."
    )
    result = swedish.check(text)
    assert result.corrected_text == text
    assert {"more", "than", "anything"} <= set(result.unknown_words)
    # An English word alone is not turned into a Swedish one either (`make` is not `makt`).
    assert swedish.check("Vi ska make det bättre i skolan nästa vecka.").corrections == ()
