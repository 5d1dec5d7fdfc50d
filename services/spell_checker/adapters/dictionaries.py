"""The dictionaries: pyspellchecker's own, or one built from wordfreq's word list (Swedish);
loading one, and a fingerprint that names its exact version."""

from __future__ import annotations

import hashlib
import importlib.metadata
import pkgutil

from spellchecker import SpellChecker

from services.spell_checker.adapters import word_lists
from services.spell_checker.domain.languages import (
    PYSPELLCHECKER_LANGUAGES,
    WORDFREQ_LANGUAGES,
    UnsupportedLanguageError,
)


def _resource(language: str) -> bytes:
    if language not in PYSPELLCHECKER_LANGUAGES:
        raise UnsupportedLanguageError(language)
    data = pkgutil.get_data("spellchecker", f"resources/{language}.json.gz")
    if data is None:
        raise UnsupportedLanguageError(language)
    return data


def load_spellchecker(language: str) -> SpellChecker:
    """pyspellchecker with the language's dictionary: its own (read from the installed package)
    or, for a wordfreq language, the word list's words and frequencies."""
    if language in WORDFREQ_LANGUAGES:
        spellchecker = SpellChecker(language=None)
        spellchecker.word_frequency.load_json(word_lists.word_frequencies(language))
        return spellchecker
    if language not in PYSPELLCHECKER_LANGUAGES:
        raise UnsupportedLanguageError(language)
    return SpellChecker(language=language)


def dictionary_fingerprint(language: str) -> str:
    """SHA-256 naming the language's dictionary exactly: pyspellchecker's file and version, or
    the wordfreq list, version and cut-offs."""
    if language in WORDFREQ_LANGUAGES:
        return word_lists.fingerprint(language)
    digest = hashlib.sha256(_resource(language))
    version = importlib.metadata.version("pyspellchecker")
    digest.update(f"\x00pyspellchecker {version}".encode())
    return digest.hexdigest()
