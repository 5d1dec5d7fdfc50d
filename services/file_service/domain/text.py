"""Plain-text rules shared by every extractor: normalisation and word counting."""

from __future__ import annotations

import re
import unicodedata

# Chinese and Japanese are written without spaces: each ideograph or kana counts as a word (as
# word processors count them). Elsewhere (Korean included) a word is a run of letters or digits,
# with inner apostrophes and hyphens.
_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_LETTER = rf"[^\W_{_CJK}]"
_LETTER_OR_UNDERSCORE = rf"[^\W{_CJK}]"
# Possessive repeats (never given back: what follows cannot match a letter) keep the regex
# engine from stacking a backtrack point per character, which made a 9 MB word take 1 GB.
_WORD = re.compile(rf"[{_CJK}]|{_LETTER}{_LETTER_OR_UNDERSCORE}*+(?:['’\-‐]{_LETTER}++)*+")
_TRAILING_SPACE = re.compile(r"[ \t\u00a0\u3000]+\n")
_BLANK_LINES = re.compile(r"\n{3,}")
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\ud800-\udfff]")
_NEEDS_REPAIR = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff\u2028\u2029\ufeff]")


def count_words(text: str) -> int:
    """The number of words in `text`."""
    return sum(1 for _ in _WORD.finditer(text))


def words(text: str) -> list[str]:
    """The words of `text`, in order, as `count_words` counts them."""
    return _WORD.findall(text)


def normalise_text(text: str) -> str:
    """UTF-8-safe plain text: LF line ends, no control characters, at most one blank line
    between paragraphs, no trailing spaces, NFC composed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    text = text.replace("\u2028", "\n").replace("\u2029", "\n\n").replace("\ufeff", "")
    text = _FORBIDDEN.sub(_replacement, text)
    text = unicodedata.normalize("NFC", text)
    text = _TRAILING_SPACE.sub("\n", text + "\n")
    text = _BLANK_LINES.sub("\n\n", text)
    return text.strip("\n").rstrip() + "\n" if text.strip() else ""


def is_clean_text(text: str) -> bool:
    """True when `text` has nothing normalise_text must repair: LF line ends only, no control
    characters, page or paragraph separators or byte-order marks, NFC composed, not blank.
    Spaces at line ends and extra blank lines are cosmetic and may stay."""
    return (
        bool(text.strip())
        and _NEEDS_REPAIR.search(text) is None
        and unicodedata.is_normalized("NFC", text)
    )


def _replacement(match: re.Match[str]) -> str:
    # Lone surrogates cannot be stored as UTF-8; other control characters are noise.
    return "\ufffd" if "\ud800" <= match.group() <= "\udfff" else ""
