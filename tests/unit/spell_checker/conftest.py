"""Fixtures of the Spell Checker unit tests: one index cache and one set of checkers per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.spell_checker.adapters.checkers import CheckerConfig, Engine, LanguageCheckers
from services.spell_checker.domain.checker import EssayChecker


@pytest.fixture(scope="session")
def index_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh index cache for the session (the first test to need a language builds it)."""
    return tmp_path_factory.mktemp("spell-index")


@pytest.fixture(scope="session")
def checkers(index_cache_dir: Path) -> LanguageCheckers:
    """Symmetric-delete checkers with no configured allow-list."""
    return LanguageCheckers(CheckerConfig(Engine.SYMSPELL, index_cache_dir))


@pytest.fixture(scope="session")
def english(checkers: LanguageCheckers) -> EssayChecker:
    """The English checker."""
    return checkers.checker("en")
