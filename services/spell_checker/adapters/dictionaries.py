"""pyspellchecker's dictionaries: loading one, and a fingerprint that names its exact version."""

from __future__ import annotations

import hashlib
import importlib.metadata
import pkgutil

from spellchecker import SpellChecker

from services.spell_checker.domain.languages import SUPPORTED_LANGUAGES, UnsupportedLanguageError


def _resource(language: str) -> bytes:
    if language not in SUPPORTED_LANGUAGES:
        raise UnsupportedLanguageError(language)
    data = pkgutil.get_data("spellchecker", f"resources/{language}.json.gz")
    if data is None:
        raise UnsupportedLanguageError(language)
    return data


def load_spellchecker(language: str) -> SpellChecker:
    """pyspellchecker with the language's dictionary (read from the installed package)."""
    if language not in SUPPORTED_LANGUAGES:
        raise UnsupportedLanguageError(language)
    return SpellChecker(language=language)


def dictionary_fingerprint(language: str) -> str:
    """SHA-256 of the language's dictionary file and the pyspellchecker version that reads it."""
    digest = hashlib.sha256(_resource(language))
    version = importlib.metadata.version("pyspellchecker")
    digest.update(f"\x00pyspellchecker {version}".encode())
    return digest.hexdigest()
