"""Spell Checker settings: defaults, and errors that name the variable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from spellchecker import SpellChecker

from services.mesh.settings import SettingsError
from services.spell_checker.adapters.checkers import Engine
from services.spell_checker.domain.languages import (
    PYSPELLCHECKER_LANGUAGES,
    SUPPORTED_LANGUAGES,
    UnsupportedLanguageError,
    resolve_language,
)
from services.spell_checker.settings import SpellCheckerSettings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("SPELL_CHECKER_", "NATS_")) or name == "CONTENT_SERVICE_ADDR":
            monkeypatch.delenv(name)


def test_defaults() -> None:
    settings = SpellCheckerSettings.from_env()
    assert settings.addr == "127.0.0.1:50055"
    assert settings.content_addr == "127.0.0.1:50051"
    assert settings.workers == (os.cpu_count() or 1)
    assert settings.in_flight == 64 * settings.workers
    assert settings.max_group == 16
    assert settings.checker.engine is Engine.SYMSPELL
    assert settings.checker.allowed_words == ()
    assert settings.checker.preload_languages == ("en",)
    assert settings.checker.index_cache_dir.parts[-2:] == ("huleedu-mesh", "spell-index")
    assert settings.checker.british_words == Path("/usr/share/dict/british-english")
    assert settings.default_language == "en"


def test_every_setting_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in {
        "SPELL_CHECKER_ADDR": "0.0.0.0:0",
        "SPELL_CHECKER_WORKERS": "3",
        "SPELL_CHECKER_IN_FLIGHT": "7",
        "SPELL_CHECKER_ENGINE": "PySpellChecker",
        "SPELL_CHECKER_ALLOW_WORDS": "Huleedu, Åsa ,",
        "SPELL_CHECKER_PRELOAD_LANGUAGES": "en,fr,FR,sv-SE",
        "SPELL_CHECKER_DEFAULT_LANGUAGE": "de-AT",
        "SPELL_CHECKER_INDEX_CACHE_DIR": str(tmp_path),
        "SPELL_CHECKER_MEMO_SIZE": "0",
        "SPELL_CHECKER_RETRY_DELAY_S": "0.25",
        "SPELL_CHECKER_BRITISH_WORDS": str(tmp_path / "gb.txt"),
        "NATS_MAX_DELIVER": "3",
    }.items():
        monkeypatch.setenv(name, value)
    settings = SpellCheckerSettings.from_env()
    assert (settings.addr, settings.workers, settings.in_flight) == ("0.0.0.0:0", 3, 7)
    assert settings.checker.engine is Engine.PYSPELLCHECKER
    assert settings.checker.allowed_words == ("Huleedu", "Åsa")
    assert settings.checker.preload_languages == ("en", "fr", "sv")
    assert settings.default_language == "de"
    assert settings.checker.index_cache_dir == tmp_path
    assert (settings.checker.memo_size, settings.retry_delay_s) == (0, 0.25)
    assert settings.nats.max_deliver == 3
    assert settings.checker.british_words == tmp_path / "gb.txt"


def test_no_british_word_list_means_american_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPELL_CHECKER_BRITISH_WORDS", "none")
    assert SpellCheckerSettings.from_env().checker.british_words is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SPELL_CHECKER_ENGINE", "aspell"),
        ("SPELL_CHECKER_WORKERS", "0"),
        ("SPELL_CHECKER_WORKERS", "many"),
        ("SPELL_CHECKER_PRELOAD_LANGUAGES", "en,xx"),
        ("SPELL_CHECKER_DEFAULT_LANGUAGE", "klingon"),
        ("SPELL_CHECKER_ADDR", "nowhere"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        SpellCheckerSettings.from_env()


def test_the_supported_languages_are_those_pyspellchecker_ships_and_swedish() -> None:
    assert set(PYSPELLCHECKER_LANGUAGES) == set(SpellChecker.languages())
    assert SUPPORTED_LANGUAGES[-1] == "sv"
    assert set(SUPPORTED_LANGUAGES) == {*PYSPELLCHECKER_LANGUAGES, "sv"}
    assert [
        resolve_language(code, "en")
        for code in ("EN", "en-GB", "en_us", "en-AU", "pt_BR", " fr ", "sv", "SV_se", "sv-FI")
    ] == ["en", "en-GB", "en-US", "en", "pt", "fr", "sv", "sv", "sv"]
    with pytest.raises(UnsupportedLanguageError, match="'da' is not supported"):
        resolve_language("da", "en")
