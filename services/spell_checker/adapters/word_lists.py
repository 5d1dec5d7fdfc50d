"""Dictionaries from wordfreq's word lists, for the languages pyspellchecker ships none for
(Swedish): read from the installed package, cut to the words a learner's essay is checked with."""

from __future__ import annotations

import hashlib
import importlib.metadata
import unicodedata
from collections import defaultdict
from collections.abc import Iterator, Mapping
from pathlib import Path

from wordfreq import available_languages, read_cBpack

from services.spell_checker.domain.languages import WORDFREQ_LANGUAGES, UnsupportedLanguageError

WORDLIST = "large"
# The most frequent words kept. wordfreq's long tail holds misspellings (`kanner`, `komer`,
# `nagonting`) and Norwegian (`penger`, `burde`) beside rare compounds, which the compound rule
# (domain.compounds) accepts anyway. On SweLL (bench.spellcheck_swedish), against 100,000 words:
# all 340,000 change 77 fewer of the 84,155 tokens annotated correct but flag 373 fewer of the
# 20,650 annotated wrong; 50,000 change 99 more and flag 217 more.
WORDS: dict[str, int] = {"sv": 100_000}
# A word the list also has with å, ä or ö, this many times as often, is that word typed
# without the dots (`vanner`/`vänner`) more often than it is a word of its own. At 20 times,
# `far` (`får`) and `sa` (`så`) went too: 29 more changes of tokens annotated correct on SweLL.
DOTLESS_RATIO = 100
_DOTTED = str.maketrans("åäö", "aao")
# Swedish web text quotes English: a word English writes this many times as often as Swedish
# (`because`, `people`, `their`) is dropped, so that an English essay checked as Swedish is seen
# to be one (domain.checker.FOREIGN_SHARE), unless it is among the commonest Swedish words (`by`,
# `all`, `be`, `man` are Swedish too; `the` stays with them). Without this, none of 500 English
# corpus essays checked as `sv` got the warning; with it, all do.
ENGLISH_RATIO = 30
KEEP_COMMONEST = 1_000
# Frequencies as counts per billion words (wordfreq's are fractions).
_PER = 1_000_000_000


def _check(language: str) -> None:
    if language not in WORDFREQ_LANGUAGES:
        raise UnsupportedLanguageError(language)


def word_frequencies(language: str) -> dict[str, int]:
    """The language's words and their frequencies per billion words, most frequent first."""
    _check(language)
    frequencies: dict[str, int] = {}
    for listed, count in _ranked(language):
        word = unicodedata.normalize("NFC", listed)
        if word.isalpha() and word not in frequencies:
            frequencies[word] = count
            if len(frequencies) == WORDS[language]:
                break
    english = {word: count for word, count in _ranked("en") if word in frequencies}
    return drop_dotless_spellings(drop_english(frequencies, english))


# The English words an essay in a wordfreq language may quote and leave as written: this many of
# the commonest (its own dictionary's words are known anyway).
QUOTED_ENGLISH_WORDS = 20_000


def quoted_english(language: str) -> frozenset[str]:
    """The commonest English words, which an essay in `language` (Swedish) quotes: left as
    written rather than "corrected" into a word of the language (`make` is not `makt`)."""
    _check(language)
    words: set[str] = set()
    for listed, _count in _ranked("en"):
        if listed.isalpha() and listed.isascii():
            words.add(listed)
            if len(words) == QUOTED_ENGLISH_WORDS:
                break
    return frozenset(words)


def _ranked(language: str) -> Iterator[tuple[str, int]]:
    """The word list's words, most frequent first, with their counts per billion words. Read
    from its file, not through wordfreq's functions, which keep every list they read in memory."""
    buckets = read_cBpack(available_languages(WORDLIST)[language])
    for centibels, words in enumerate(buckets):
        count = max(1, round(_PER * 10 ** (-centibels / 100)))
        for word in words:
            yield word, count


def drop_english(frequency: Mapping[str, int], english: Mapping[str, int]) -> dict[str, int]:
    """`frequency` (most frequent first) without the English words quoted in the language's
    text: ENGLISH_RATIO times as frequent in `english`, past its KEEP_COMMONEST words."""
    return {
        word: count
        for rank, (word, count) in enumerate(frequency.items())
        if rank < KEEP_COMMONEST or english.get(word, 0) < ENGLISH_RATIO * count
    }


def _dotless_groups(frequency: Mapping[str, int]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for word in frequency:
        groups[word.translate(_DOTTED)].append(word)
    return groups


def drop_dotless_spellings(frequency: Mapping[str, int]) -> dict[str, int]:
    """`frequency` without the words that are another word's å, ä or ö left undotted: one
    spelled the same but for dots, with fewer dots and DOTLESS_RATIO times less frequent."""
    kept: dict[str, int] = {}
    for group in _dotless_groups(frequency).values():
        top = max(group, key=frequency.__getitem__)
        dots = _dots(top)
        for word in group:
            count = frequency[word]
            if word == top or _dots(word) >= dots or count * DOTLESS_RATIO > frequency[top]:
                kept[word] = count
    return {word: kept[word] for word in frequency if word in kept}


def _dots(word: str) -> int:
    return sum(word.count(letter) for letter in "åäö")


def fingerprint(language: str) -> str:
    """SHA-256 of the word list's file, the wordfreq version and the cut-offs applied to it."""
    _check(language)
    paths = available_languages(WORDLIST)
    digest = hashlib.sha256()
    for code in (language, "en"):
        digest.update(Path(paths[code]).read_bytes())
    version = importlib.metadata.version("wordfreq")
    cuts = f"{WORDS[language]} {DOTLESS_RATIO} {ENGLISH_RATIO} {KEEP_COMMONEST}"
    digest.update(f"\x00wordfreq {version} {cuts}".encode())
    return digest.hexdigest()
