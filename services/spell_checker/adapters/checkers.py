"""One EssayChecker per language for this process, built on first use from the dictionary and
the shared index cache."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from services.spell_checker.adapters.dictionaries import load_spellchecker
from services.spell_checker.adapters.index_cache import IndexCache
from services.spell_checker.domain.checker import EssayChecker
from services.spell_checker.domain.corrector import (
    MemoizedCorrector,
    PySpellCheckerCorrector,
    SymmetricDeleteCorrector,
    WordCorrector,
)
from services.spell_checker.domain.languages import SUPPORTED_LANGUAGES, UnsupportedLanguageError
from services.spell_checker.domain.lexicon import Lexicon
from services.spell_checker.domain.model import CheckResult

log = logging.getLogger(__name__)

# Debian's wbritish (SCOWL): British spellings an `en` essay may use (colour, centre, organise).
BRITISH_WORDS = Path("/usr/share/dict/british-english")


class WordListMissingError(FileNotFoundError):
    """A configured word list is not where the settings say."""


def british_words(path: Path) -> frozenset[str]:
    """The common words of a British word list (one per line), in the checker's lookup form:
    lower case only (names are left to the proper-noun rule), straight apostrophes."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise WordListMissingError(
            f"SPELL_CHECKER_BRITISH_WORDS: no word list at {path}. Install Debian's wbritish "
            "(apt-get install wbritish), point the setting at another British word list, or "
            "set it to none to check English against American spellings only"
        ) from None
    return frozenset(word for word in map(str.strip, lines) if word.islower())


class Engine(StrEnum):
    """How candidate corrections are found."""

    SYMSPELL = "symspell"  # the symmetric-delete index
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


class LanguageCheckers:
    """The checkers of one process, one per language, each with its own memo."""

    def __init__(self, config: CheckerConfig) -> None:
        self._config = config
        self._cache = IndexCache(config.index_cache_dir)
        self._checkers: dict[str, EssayChecker] = {}
        self._memos: dict[str, MemoizedCorrector] = {}

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
        """The memoised word corrector behind the language's checker."""
        self.checker(language)
        return self._memos[language]

    def _build(self, language: str) -> EssayChecker:
        if language not in SUPPORTED_LANGUAGES:
            raise UnsupportedLanguageError(language)
        started = time.perf_counter()
        spellchecker = load_spellchecker(language)
        lexicon = Lexicon(spellchecker.word_frequency.dictionary)
        inner: WordCorrector
        if self._config.engine is Engine.SYMSPELL:
            index, _ = self._cache.load_or_build(language, lexicon)
            inner = SymmetricDeleteCorrector(lexicon, index)
        else:
            inner = PySpellCheckerCorrector(spellchecker)
        memo = MemoizedCorrector(inner, self._config.memo_size)
        self._memos[language] = memo
        log.info(
            "language loaded",
            extra={
                "language": language,
                "engine": str(self._config.engine),
                "words": len(lexicon.words),
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
        variants: frozenset[str] = frozenset()
        if language == "en" and self._config.british_words is not None:
            # `en` takes both spellings and never turns one into the other: a British spelling
            # is a known word, and fixes still come from the dictionary.
            variants = british_words(self._config.british_words)
        return EssayChecker.for_language(
            language, lexicon, memo, allowed_words=self._config.allowed_words, variants=variants
        )
