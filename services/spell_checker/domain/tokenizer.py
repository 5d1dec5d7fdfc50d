"""A Unicode word tokenizer that knows which spans a spell checker must leave alone.

Words are runs of letters and combining marks (so `café`, `naïve` in either normal form,
`Straße`, `Åsa` and Persian words with a zero-width non-joiner stay whole), with internal
apostrophes and hyphens; a hyphenated word is checked part by part. An apostrophe is any of the
characters writers type for one: ' ’ ʼ, and ´ and ` from Spanish and Scandinavian keyboards
(`don't`, `teacher’s`, `I´ve`, `didn`t`); inside a word each joins it, at its edges none does.
URLs, e-mail addresses and runs with digits or underscores (`2nd`, `mp3`, `Generic_Name`) are
skipped. Everything between tokens is never looked at, so it cannot change.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import NamedTuple

APOSTROPHES = "'\u2019\u02bc\u00b4`"
HYPHENS = "-\u2010\u2011"
_JOINERS = "\u200c\u200d"  # ZWNJ / ZWJ sit inside Persian and Indic words
_SENTENCE_ENDS = frozenset(".!?\u2026\u3002\uff01\uff1f")
_OPENERS = frozenset("\"'\u201c\u201d\u2018\u2019\u00ab\u00bb([{\u00bf\u00a1*-\u2013\u2014\u2022")
_LINE_BREAKS = frozenset("\n\r\u2028\u2029\x0b\x0c\x85")
_TLDS = "com|org|net|edu|gov|info|io|uk"


class WordPart(NamedTuple):
    """A checkable word (or one part of a hyphenated word) at [start, end) of the text (a named
    tuple: an essay makes hundreds, and a frozen dataclass costs three times as much to make)."""

    start: int
    end: int
    text: str
    sentence_start: bool
    compound: str  # the whole hyphenated word this part belongs to (the part itself if none)


@dataclass(frozen=True, slots=True)
class Tokens:
    """The checkable word parts of a text and how many words it has."""

    parts: tuple[WordPart, ...]
    word_count: int


@functools.cache
def _mark_class() -> str:
    """Every combining mark (categories Mn, Mc, Me) as regex class ranges, computed once."""
    ranges: list[str] = []
    start = previous = -2
    for code in (*range(0x30000), *range(0xE0000, 0xE0200)):  # no marks elsewhere
        if unicodedata.category(chr(code))[0] != "M":
            continue
        if code != previous + 1:
            if start >= 0:
                ranges.append(_range(start, previous))
            start = code
        previous = code
    ranges.append(_range(start, previous))
    return "".join(ranges)


def _range(first: int, last: int) -> str:
    if first == last:
        return re.escape(chr(first))
    return f"{re.escape(chr(first))}-{re.escape(chr(last))}"


@functools.cache
def _word_pattern(with_marks: bool) -> str:
    word_char = rf"[\w{_mark_class()}{_JOINERS}]" if with_marks else r"\w"
    joiner = f"[{re.escape(APOSTROPHES + HYPHENS)}]"
    return rf"(?P<run>{word_char}+(?:{joiner}{word_char}+)*)"


@functools.cache
def _token_pattern(with_links: bool, with_marks: bool) -> re.Pattern[str]:
    if not with_links:
        return re.compile(_word_pattern(with_marks))
    url_end = r"[^\s<>\"'.,;:!?)\]}\u2019\u201d]"
    return re.compile(
        rf"(?P<url>\b(?:https?://|ftp://|www\.)(?:[^\s<>\"]*{url_end})?)"
        rf"|(?P<email>[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+)"
        rf"|(?P<domain>\b[\w\-]+(?:\.[\w\-]+)*\.(?:{_TLDS})\b(?:/(?:[^\s<>\"]*{url_end})?)?)"
        rf"|{_word_pattern(with_marks)}"
    )


# Most essays have no link at all: they take the faster words-only pattern.
_MAY_HAVE_LINKS = re.compile(rf"@|://|www\.|\.(?:{_TLDS})\b")
# Most have no combining mark or joiner either (none comes before U+0300, and typographic
# punctuation holds none): they take a pattern without the long class of every mark.
_MAY_HAVE_MARKS = re.compile(r"[^\u0000-\u02ff\u2010-\u2027\u2030-\u205e]")
_SKIP_CHARS = re.compile(r"[\d_]")
_HAS_LETTER = re.compile(r"[^\W\d_]")
_HYPHEN_SPLIT = re.compile(f"[{re.escape(HYPHENS)}]")


def tokenize(text: str) -> Tokens:
    """The word parts to check in `text`, with code-point offsets, and its word count."""
    if _MAY_HAVE_LINKS.search(text) is not None:
        return _tokenize_with_links(text)
    # Most texts: the pattern has the one group `run`, so `split` gives the text between runs
    # and the runs in turn, and the start of a run depends only on the text before it, back to
    # the previous run (whose last character, a word character, ends the walk back).
    pieces = _token_pattern(False, _MAY_HAVE_MARKS.search(text) is not None).split(text)
    parts: list[WordPart] = []
    word_count = 0
    opens = _gap_opens
    new_part = tuple.__new__  # WordPart(...) without its Python-level __new__
    position = len(pieces[0])
    sentence_start = _opens_sentence(pieces[0], first=True)
    for k in range(1, len(pieces), 2):
        run = pieces[k]
        start = position
        position += len(run)
        if run.isalpha():  # most words: letters only, so no number, no skip and no hyphen
            word_count += 1
            parts.append(new_part(WordPart, (start, position, run, sentence_start, run)))
        elif _HAS_LETTER.search(run) is not None:  # else a number
            word_count += 1
            if _SKIP_CHARS.search(run) is None:  # `2nd`, `mp3`, `Generic_Name`: not a word
                _add_pieces(parts, run, start, sentence_start)
        gap = pieces[k + 1]
        position += len(gap)
        found = opens.get(gap)
        if found is None:
            found = opens[gap] = _opens_sentence(gap, first=False)
        sentence_start = found
    return Tokens(tuple(parts), word_count)


# Whether a word after this text (between it and the previous word) opens a sentence, for each
# such text seen: there are few (` `, `, `, `. `, `\n\n`), so each is walked once per process.
_gap_opens: dict[str, bool] = {}
_GAP_OPENS_MAX = 10_000


def _opens_sentence(gap: str, *, first: bool) -> bool:
    """`is_sentence_start` for a word after `gap`: the walk back ends in `gap` or, having gone
    through it, at the text's start (`first`) or at the previous run's last character."""
    if len(_gap_opens) > _GAP_OPENS_MAX:
        _gap_opens.clear()
    for char in reversed(gap):
        if char in _LINE_BREAKS or char in _SENTENCE_ENDS:
            return True
        if not (char.isspace() or char in _OPENERS):
            return False
    return first


def _add_pieces(parts: list[WordPart], run: str, start: int, sentence_start: bool) -> None:
    """The parts of a hyphenated run (or of a run with an apostrophe or a mark)."""
    offset = 0
    for piece in _HYPHEN_SPLIT.split(run):
        parts.append(
            WordPart(start + offset, start + offset + len(piece), piece, sentence_start, run)
        )
        sentence_start = False
        offset += len(piece) + 1


def _tokenize_with_links(text: str) -> Tokens:
    """`tokenize` of a text that may hold URLs, e-mail addresses or domains."""
    parts: list[WordPart] = []
    word_count = 0
    pattern = _token_pattern(True, _MAY_HAVE_MARKS.search(text) is not None)
    for match in pattern.finditer(text):
        run = match.group("run")
        if run is None:
            continue  # URL, e-mail address or domain: left exactly as written
        start = match.start()
        if run.isalpha():  # most words: letters only, so no number, no skip and no hyphen
            word_count += 1
            parts.append(WordPart(start, match.end(), run, is_sentence_start(text, start), run))
            continue
        if _HAS_LETTER.search(run) is None:
            continue  # a number
        word_count += 1
        if _SKIP_CHARS.search(run) is not None:
            continue  # `2nd`, `mp3`, `Generic_Name`: not a dictionary word
        _add_pieces(parts, run, start, is_sentence_start(text, start))
    return Tokens(tuple(parts), word_count)


def is_sentence_start(text: str, position: int) -> bool:
    """True when the word at `position` opens the text, a line or a sentence."""
    index = position - 1
    while index >= 0:
        char = text[index]
        if char in _LINE_BREAKS:
            return True
        if char in _SENTENCE_ENDS:
            return True
        if not (char.isspace() or char in _OPENERS):
            return False
        index -= 1
    return True
