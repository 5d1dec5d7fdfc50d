"""The languages the checker has dictionaries for, and how a request's language is read."""

from __future__ import annotations

# Every dictionary pyspellchecker 0.9 ships (spellchecker/resources/<code>.json.gz).
SUPPORTED_LANGUAGES: tuple[str, ...] = (
    "en",
    "es",
    "fr",
    "it",
    "pt",
    "de",
    "ru",
    "ar",
    "lv",
    "eu",
    "nl",
    "fa",
)


class UnsupportedLanguageError(ValueError):
    """The request names a language the checker has no dictionary for."""

    def __init__(self, language: str) -> None:
        supported = ", ".join(SUPPORTED_LANGUAGES)
        super().__init__(
            f"language {language!r} is not supported; supported languages: {supported}"
        )
        self.language = language


def resolve_language(requested: str, default: str) -> str:
    """The dictionary code for a request's language: `en`, `EN`, `en-GB` and `en_US` are `en`.

    An empty language takes `default`; a language without a dictionary raises
    UnsupportedLanguageError.
    """
    raw = requested.strip() or default
    primary = raw.replace("_", "-").split("-", 1)[0].lower()
    if primary not in SUPPORTED_LANGUAGES:
        raise UnsupportedLanguageError(raw)
    return primary
