"""How bench.spellcheck_swedish counts tokens, and the SweLL sentences it reads."""

from __future__ import annotations

from bench.spellcheck_swedish import measure
from services.spell_checker.domain.checker import EssayChecker
from services.spell_checker.domain.corrector import MemoizedCorrector, SymmetricDeleteCorrector
from services.spell_checker.domain.index import SymmetricDeleteIndex, build_index
from services.spell_checker.domain.lexicon import Lexicon
from tests.harness.swedish_corpus import joined, read_sentences


def tiny_checker() -> EssayChecker:
    lexicon = Lexicon({"nu": 9, "ska": 9, "jag": 9, "berätta": 5, "om": 9, "det": 9, "bra": 9})
    index = SymmetricDeleteIndex(build_index(lexicon.words, lexicon.is_candidate))
    corrector = MemoizedCorrector(SymmetricDeleteCorrector(lexicon, index), capacity=0)
    return EssayChecker(lexicon, corrector, language="sv")


def test_changes_and_unknown_words_are_counted_by_label() -> None:
    sentence = [
        ("Nu", True),
        ("ska", True),
        ("jag", True),
        ("brätta", False),  # changed: berätta
        ("om", True),
        ("dett", True),  # annotated correct, changed: det
        ("xyzzyq", False),  # unknown
        ("bra", False),  # annotated wrong, a known word: not flagged
        (".", True),
    ]
    result = measure(tiny_checker(), [joined([sentence])])
    assert result["correct_word_tokens"] == 5 and result["incorrect_word_tokens"] == 3
    assert result["correct_changed"] == 1
    assert result["incorrect_changed"] == 1
    assert result["incorrect_flagged"] == 2
    assert result["tokens_without_letters"] == 1
    assert result["most_common_changes_of_correct_tokens"] == [("dett -> det", 1)]


def test_joined_sentences_place_each_token() -> None:
    text = joined([[("Hej", True), ("!", True)], [('"', False), ("Då", True)]])
    assert text.text == 'Hej !\n" Då\n'
    assert [text.text[t.start : t.end] for t in text.tokens] == ["Hej", "!", '"', "Då"]


def test_the_corpus_has_the_sentences_and_tokens_its_readme_lists() -> None:
    sentences = read_sentences()
    assert len(sentences) == 6729
    assert sum(len(s) for s in sentences) == 115_203
    assert sum(not ok for s in sentences for _, ok in s) == 21_615
