"""The languages the checker has dictionaries for, and how a request's language is read."""

from __future__ import annotations

# Every dictionary pyspellchecker 0.9 ships (spellchecker/resources/<code>.json.gz).
PYSPELLCHECKER_LANGUAGES: tuple[str, ...] = (
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
# Languages pyspellchecker has no dictionary for, checked with wordfreq's word list: Swedish.
WORDFREQ_LANGUAGES: tuple[str, ...] = ("sv",)
SUPPORTED_LANGUAGES: tuple[str, ...] = (*PYSPELLCHECKER_LANGUAGES, *WORDFREQ_LANGUAGES)


# Language tags with a spelling of their own (BCP 47): `en` takes British and American spellings
# as written, and writes its fixes the British way in an essay that spells a word British-only;
# `en-GB` always writes them the British way; `en-US` takes American spellings only.
VARIANT_TAGS: tuple[str, ...] = ("en-GB", "en-US")
SUPPORTED_TAGS: tuple[str, ...] = (
    *SUPPORTED_LANGUAGES[:1],
    *VARIANT_TAGS,
    *SUPPORTED_LANGUAGES[1:],
)


class UnsupportedLanguageError(ValueError):
    """The request names a language the checker has no dictionary for."""

    def __init__(self, language: str) -> None:
        supported = ", ".join(SUPPORTED_TAGS)
        super().__init__(
            f"language {language!r} is not supported; supported languages: {supported}"
        )
        self.language = language


def resolve_language(requested: str, default: str) -> str:
    """The checker's tag for a request's language: `en-GB`, `en_gb` and `EN-GB` are `en-GB`;
    a region without a spelling of its own takes the language's dictionary (`en-AU` and `EN` are
    `en`, `fr-CA` is `fr`).

    An empty language takes `default`; a language without a dictionary raises
    UnsupportedLanguageError.
    """
    raw = requested.strip() or default
    primary, _, rest = raw.replace("_", "-").partition("-")
    primary = primary.lower()
    if primary not in SUPPORTED_LANGUAGES:
        raise UnsupportedLanguageError(raw)
    tag = f"{primary}-{rest.split('-', 1)[0].upper()}" if rest else primary
    return tag if tag in VARIANT_TAGS else primary


def dictionary_of(tag: str) -> str:
    """The dictionary a resolved tag checks with: `en` for `en-GB`."""
    return tag.split("-", 1)[0]
