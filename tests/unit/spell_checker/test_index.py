"""The symmetric-delete index finds every word within two edits (and only adds candidates)."""

from __future__ import annotations

import random

import numpy as np
from rapidfuzz.distance import DamerauLevenshtein

from services.spell_checker.domain.index import (
    SymmetricDeleteIndex,
    build_index,
    deletion_hashes,
    query_hashes,
    word_codes,
)


def deletions(word: str) -> set[str]:
    one = {word[:i] + word[i + 1 :] for i in range(len(word))}
    two = {w[:i] + w[i + 1 :] for w in one for i in range(len(w))}
    return {word} | one | two


def whole_hash(word: str) -> int:
    return int(deletion_hashes(word_codes([word], len(word)))[0, 0])


def test_deletion_hashes_equal_the_hashes_of_the_deleted_strings() -> None:
    for word in ["teacher", "aab", "straße", "ab", "x", "می\u200cخواهم"]:
        row = {int(h) for h in deletion_hashes(word_codes([word], len(word)))[0]}
        assert row == {whole_hash(w) if w else _empty_hash() for w in deletions(word)}


def _empty_hash() -> int:
    return int(deletion_hashes(word_codes(["ab"], 2))[0, -1])  # "ab" with both letters deleted


def test_every_word_within_two_edits_is_a_candidate() -> None:
    rng = random.Random(7)
    alphabet = "abcdeé"
    vocabulary = sorted({"".join(rng.choices(alphabet, k=rng.randint(1, 7))) for _ in range(3000)})
    index = SymmetricDeleteIndex(build_index(vocabulary, lambda w: True))
    for _ in range(300):
        query = "".join(rng.choices(alphabet, k=rng.randint(1, 8)))
        found = {vocabulary[i] for i in index.candidate_ids(query).tolist()}
        near = {w for w in vocabulary if DamerauLevenshtein.distance(query, w) <= 2}
        assert near <= found, (query, near - found)


def test_a_transposition_with_an_insertion_between_is_two_edits() -> None:
    # "ab" -> "ba" -> "bca": two edits for pyspellchecker and for true Damerau-Levenshtein,
    # three for the restricted (OSA) distance most SymSpell implementations use.
    index = SymmetricDeleteIndex(build_index(["bca", "zzzz"], lambda w: True))
    assert index.candidate_ids("ab").tolist() == [0]
    assert DamerauLevenshtein.distance("ab", "bca") == 2


def test_excluded_words_are_not_indexed_and_ids_are_positions() -> None:
    words = ["alpha", "10", "beta", "alpah"]
    arrays = build_index(words, lambda w: not w.isdigit())
    assert set(arrays.word_ids.tolist()) == {0, 2, 3}
    assert np.all(np.diff(arrays.keys.astype(np.int64)) >= 0)
    index = SymmetricDeleteIndex(arrays)
    assert {words[i] for i in index.candidate_ids("alpa").tolist()} >= {"alpha", "alpah"}


def test_repeated_deletions_are_stored_once() -> None:
    arrays = build_index(["aab"], lambda w: True)
    pairs = list(zip(arrays.keys.tolist(), arrays.word_ids.tolist(), strict=True))
    assert len(pairs) == len(set(pairs)) == len(deletions("aab"))


def test_empty_query_and_empty_index() -> None:
    assert SymmetricDeleteIndex(build_index([], lambda w: True)).candidate_ids("abc").size == 0
    assert SymmetricDeleteIndex(build_index(["abc"], lambda w: True)).candidate_ids("").size == 0


def test_a_query_is_hashed_as_the_index_hashes_its_words() -> None:
    rng = random.Random(7)
    letters = "abcdefghijklmnopqrstuvwxyzåäöéß'\u0301\u200c"
    words = ["teacher", "aab", "straße", "ab", "x", "می\u200cخواهم", "\U0001f600x"]
    words += ["".join(rng.choice(letters) for _ in range(rng.randint(1, 60))) for _ in range(500)]
    for word in words:
        expected = deletion_hashes(word_codes([word], len(word)))[0]
        found = query_hashes(word)
        assert found.dtype == expected.dtype
        assert np.array_equal(found, expected), word
