"""One EssayChecker per language for this process, built on first use from the dictionary and
the shared index cache."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from services.spell_checker.adapters import word_lists
from services.spell_checker.adapters.dictionaries import load_spellchecker
from services.spell_checker.adapters.english_model import Prior, english_corrector
from services.spell_checker.adapters.index_cache import IndexCache
from services.spell_checker.domain.checker import EssayChecker
from services.spell_checker.domain.compounds import COMPOUNDING_LANGUAGES, CompoundSplitter
from services.spell_checker.domain.corrector import (
    CandidateSource,
    MemoizedCorrector,
    PySpellCheckerCorrector,
    SymmetricDeleteCorrector,
)
from services.spell_checker.domain.languages import (
    SUPPORTED_TAGS,
    WORDFREQ_LANGUAGES,
    UnsupportedLanguageError,
    dictionary_of,
)
from services.spell_checker.domain.lexicon import Lexicon
from services.spell_checker.domain.model import CheckResult
from services.spell_checker.domain.ranking import RankingWeights
from services.spell_checker.domain.variants import british_only, british_spelling, inflected

log = logging.getLogger(__name__)

# Debian's wbritish (SCOWL): British spellings an `en` essay may use (colour, centre, organise).
BRITISH_WORDS = Path("/usr/share/dict/british-english")


class WordListMissingError(FileNotFoundError):
    """A configured word list is not where the settings say."""


def read_word_list(path: Path) -> list[str]:
    """The words of a word list (one per line), as written there."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise WordListMissingError(
            f"SPELL_CHECKER_BRITISH_WORDS: no word list at {path}. Install Debian's wbritish "
            "(apt-get install wbritish), point the setting at another British word list, or "
            "set it to none to check English against American spellings only"
        ) from None
    return [word for word in map(str.strip, lines) if word]


def british_words(listed: Iterable[str]) -> frozenset[str]:
    """The common words of a British word list, in the checker's lookup form: lower case only
    (names are left to the proper-noun rule), straight apostrophes."""
    return frozenset(word for word in listed if word.islower())


def proper_nouns(listed: Iterable[str], common: frozenset[str], lexicon: Lexicon) -> dict[str, str]:
    """The dictionary words a word list writes only with a capital (`Brazilian`, `Hollywood`,
    not `August`, which it lists as `august` too: `common`, its lower-case words), by their
    lower-case form: a fix into one of them is written that way."""
    return {
        lower: word
        for word in listed
        if word[:1].isupper()
        and word[1:].islower()
        and (lower := word.lower()) not in common
        and lower in lexicon.frequency
    }


@dataclass(frozen=True)
class BritishSpellings:
    """The British spellings English takes as written, and those that mark an essay British."""

    words: frozenset[str]  # the list, with the regular endings it leaves out (`behaviours`)
    only: frozenset[str]  # those American spells otherwise (`colour`, `behaviours`)


def british_spellings(listed: frozenset[str], american: Lexicon) -> BritishSpellings:
    """The British word list completed with the endings it leaves out of British-only words, and
    those words: `behaviour` is listed without `behaviours`, which was changed to `behaviors`."""
    only = british_only(listed, american.frequency)
    endings = inflected(only, american.frequency)
    return BritishSpellings(listed | endings, frozenset(only) | endings)


@dataclass(frozen=True)
class EnglishLists:
    """What English takes from the British word list."""

    british: BritishSpellings
    proper_nouns: dict[str, str]  # lower case -> capitalised, as proper_nouns() reads them


class Engine(StrEnum):
    """How candidate corrections are found."""

    SYMSPELL = "symspell"  # the symmetric-delete index; English ranked by the noisy channel
    PYSPELLCHECKER = "pyspellchecker"  # SpellChecker.correction(), for comparison


@dataclass(frozen=True)
class CheckerConfig:
    """What every worker needs to build its checkers (picklable: it crosses into workers)."""

    engine: Engine
    index_cache_dir: Path
    allowed_words: tuple[str, ...] = ()
    memo_size: int = 50_000
    preload_languages: tuple[str, ...] = ("en",)
    british_words: Path | None = BRITISH_WORDS  # None: English is checked as American only
    ranking: RankingWeights = field(
        default_factory=RankingWeights
    )  # the English noisy channel's parameters
    prior: Prior = Prior.WORDFREQ  # where the English noisy channel's word frequencies come from


class LanguageCheckers:
    """The checkers of one process, one per language, each with its own memo."""

    def __init__(self, config: CheckerConfig) -> None:
        self._config = config
        self._cache = IndexCache(config.index_cache_dir)
        self._checkers: dict[str, EssayChecker] = {}
        self._dictionaries: dict[str, tuple[Lexicon, MemoizedCorrector]] = {}
        self._english_lists: EnglishLists | None = None
        self._splitters: dict[str, CompoundSplitter] = {}
        self._quoted: dict[str, frozenset[str]] = {}

    def checker(self, language: str) -> EssayChecker:
        """The checker for `language`, loading its dictionary and index the first time."""
        found = self._checkers.get(language)
        if found is None:
            found = self._checkers[language] = self._build(language)
        return found

    def check(self, language: str, text: str, allowed_words: Iterable[str] = ()) -> CheckResult:
        """Check `text` in `language`."""
        return self.checker(language).check(text, allowed_words)

    def preload(self, languages: Iterable[str]) -> None:
        """Load these languages now rather than on their first essay."""
        for language in languages:
            self.checker(language)

    def corrector(self, language: str) -> MemoizedCorrector:
        """The memoised word corrector behind the language's checker (shared by the tags of one
        dictionary: `en`, `en-GB` and `en-US` use one)."""
        self.checker(language)
        return self._dictionaries[dictionary_of(language)][1]

    def _build(self, tag: str) -> EssayChecker:
        """The checker of a resolved tag (languages.resolve_language): its dictionary, and for
        English the spellings it takes as written and how it writes a fix."""
        code = dictionary_of(tag)
        if tag not in SUPPORTED_TAGS:
            raise UnsupportedLanguageError(tag)
        lexicon, memo = self._dictionary(code)
        variants: frozenset[str] = frozenset()
        respell: Callable[[str], str] | None = None
        respell_cues: frozenset[str] | None = None
        english = self._english(lexicon) if code == "en" else None
        british = english.british if english is not None and tag != "en-US" else None
        if british is not None:
            # `en` and `en-GB` take both spellings and never turn one into the other: a British
            # spelling is a known word, and fixes come from the dictionary, which spells the
            # American way; `en-GB` writes its fixes the British way, and so does `en` in an
            # essay that spells a word the British way only (`colour`), or for a word typed
            # closer to its British spelling (EssayChecker._respelled).
            variants = british.words
            respell = functools.partial(british_spelling, british=british.words)
            respell_cues = None if tag == "en-GB" else british.only
        splitter = self._splitter(code, lexicon) if code in COMPOUNDING_LANGUAGES else None
        return EssayChecker.for_language(
            code,
            lexicon,
            memo,
            allowed_words=self._config.allowed_words,
            variants=variants,
            respell=respell,
            respell_cues=respell_cues,
            compounds=splitter,
            quoted_words=self._quoted_english(code),
            proper_nouns=english.proper_nouns if english is not None else {},
        )

    def _quoted_english(self, code: str) -> frozenset[str]:
        """The English words essays in `code` quote (Swedish: wordfreq's commonest English),
        read once; none for English and pyspellchecker's languages."""
        if code not in WORDFREQ_LANGUAGES:
            return frozenset()
        found = self._quoted.get(code)
        if found is None:
            found = self._quoted[code] = word_lists.quoted_english(code)
        return found

    def _splitter(self, code: str, lexicon: Lexicon) -> CompoundSplitter:
        """The compound splitter of `code`, made once for all its tags."""
        found = self._splitters.get(code)
        if found is None:
            found = self._splitters[code] = CompoundSplitter.over(
                lexicon.frequency, capacity=self._config.memo_size
            )
        return found

    def _dictionary(self, code: str) -> tuple[Lexicon, MemoizedCorrector]:
        """The dictionary and memoised corrector of `code`, loaded once for all its tags."""
        found = self._dictionaries.get(code)
        if found is not None:
            return found
        started = time.perf_counter()
        spellchecker = load_spellchecker(code)
        lexicon = Lexicon(spellchecker.word_frequency.dictionary)
        inner: CandidateSource
        if self._config.engine is Engine.SYMSPELL:
            index, _ = self._cache.load_or_build(code, lexicon)
            if code == "en":
                inner = english_corrector(lexicon, index, self._config.ranking, self._config.prior)
            else:
                inner = SymmetricDeleteCorrector(lexicon, index)
        else:
            inner = PySpellCheckerCorrector(spellchecker)
        memo = MemoizedCorrector(inner, self._config.memo_size)
        self._dictionaries[code] = (lexicon, memo)
        log.info(
            "language loaded",
            extra={
                "language": code,
                "engine": str(self._config.engine),
                "words": len(lexicon.words),
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
        return lexicon, memo

    def _english(self, american: Lexicon) -> EnglishLists | None:
        """What English takes from the British word list (read once), or None when the
        settings turn it off."""
        if self._config.british_words is None:
            return None
        if self._english_lists is None:
            listed = read_word_list(self._config.british_words)
            common = british_words(listed)
            self._english_lists = EnglishLists(
                british_spellings(common, american), proper_nouns(listed, common, american)
            )
        return self._english_lists
