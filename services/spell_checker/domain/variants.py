"""British spellings of American words, for the fixes of an `en-GB` essay and of an `en` essay
that spells the British way; and the British-only words that tell such an essay.

The dictionary the checker corrects with spells the American way. A fix for an `en-GB` essay is
respelled when one or two of the regular differences give a word of the British word list that
the word itself is not: `neighborhood` → `neighbourhood`, `realize` → `realise`, `center` →
`centre`, `traveled` → `travelled`, `catalog` → `catalogue`, `maneuver` → `manoeuvre`. A word the
British list has already (`program`, the computing sense) stays as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

# American fragment → British fragment, tried at every place the fragment occurs. None is
# shorter in British: `is_british_form` counts on it.
_DIFFERENCES: tuple[tuple[str, str], ...] = (
    ("or", "our"),
    ("er", "re"),
    ("iz", "is"),
    ("yz", "ys"),
    ("og", "ogue"),
    ("ense", "ence"),
    ("el", "ell"),
    ("e", "ae"),
    ("e", "oe"),
    ("gment", "gement"),
)


def british_spelling(word: str, british: frozenset[str]) -> str:
    """`word` as the British word list spells it, or `word` when it has no other spelling
    there (`word` in lower case, straight apostrophes: the dictionary's form)."""
    if word in british:
        return word
    for once in _respelled(word):
        if once in british:
            return once
    for once in _respelled(word):
        for twice in _respelled(once):
            if twice in british:
                return twice
    return word


_LONGEST = max(max(len(american), len(british)) for american, british in _DIFFERENCES)
# Each difference with the letters it adds to a word.
_ADDING = tuple(
    (american, british, len(british) - len(american)) for american, british in _DIFFERENCES
)
_MOST_ADDED = max(added for _, _, added in _ADDING)


def is_british_form(word: str, american: str, differences: int = 2) -> bool:
    """Whether `word` is `american` with one or two of the regular differences applied
    (`favourite` of `favorite`), whether or not a word list has it."""
    gap = len(word) - len(american)
    if word == american or not differences or not 0 <= gap <= differences * _MOST_ADDED:
        return False
    # the first letter the two differ at must be in the first difference applied: only the
    # few places around it are tried, not every respelling (a ranking asks this often), and
    # only the differences that leave the rest able to make up the lengths; two differences
    # that overlap (beers, beres, brees) are not seen
    first = 0
    limit = min(len(word), len(american))
    while first < limit and word[first] == american[first]:
        first += 1
    for fragment, british, added in _ADDING:
        if not added <= gap <= added + (differences - 1) * _MOST_ADDED:
            continue
        start = american.find(fragment, max(0, first - _LONGEST + 1))
        while 0 <= start <= first:
            respelled = american[:start] + british + american[start + len(fragment) :]
            if respelled == word or is_british_form(word, respelled, differences - 1):
                return True
            start = american.find(fragment, start + 1)
    return False


def _respelled(word: str) -> Iterator[str]:
    return _swapped(word, _DIFFERENCES)


def _swapped(word: str, pairs: Iterable[tuple[str, str]]) -> Iterator[str]:
    """`word` with one occurrence of a pair's first fragment put as its second, for every pair
    and occurrence."""
    for found, put in pairs:
        start = word.find(found)
        while start >= 0:
            yield word[:start] + put + word[start + len(found) :]
            start = word.find(found, start + 1)


# A British-only word's American spelling must be this frequent in the dictionary: its rarest
# entries hold misspellings (`heer`, `cerated`) that would make `here` and `created` look British.
AMERICAN_MIN_FREQUENCY = 500
# Shorter words respelled are mostly other words (`toe`/`te`, `dell`/`del`), not variants.
BRITISH_MIN_LENGTH = 5
# The regular endings the British list leaves out of some words (`behaviours`), taken when the
# dictionary has the American word with the same ending (`behaviors`).
INFLECTIONS = ("s", "ed", "ing")


def british_only(british: frozenset[str], american: Mapping[str, int]) -> dict[str, str]:
    """The words of the British list that are one or two regular differences from a word only
    American spells that way (`colour`: `color`, `manoeuvre`: `maneuver`, which the British list
    lacks), with that word; one difference is tried before two."""
    found: dict[str, str] = {}
    for word in british:
        if len(word) < BRITISH_MIN_LENGTH:
            continue
        other = _american_only(word, _americanised(word), british, american)
        if other is None:
            twice = (two for one in _americanised(word) for two in _americanised(one))
            other = _american_only(word, twice, british, american)
        if other is not None:
            found[word] = other
    return found


def _american_only(
    word: str, others: Iterable[str], british: frozenset[str], american: Mapping[str, int]
) -> str | None:
    """The first of `others` (spellings of the British `word`) that only American has, and more
    often than `word`."""
    known = american.get(word, 0)
    for other in others:
        frequency = american.get(other, 0)
        if other not in british and frequency >= AMERICAN_MIN_FREQUENCY and frequency > known:
            return other
    return None


def inflected(only: Mapping[str, str], american: Mapping[str, int]) -> frozenset[str]:
    """The British-only words (`british_only`) with the regular endings the dictionary has their
    American spelling with: `behaviours` for `behaviors`."""
    return frozenset(
        word + ending
        for word, other in only.items()
        for ending in INFLECTIONS
        if other + ending in american
    )


def _americanised(word: str) -> Iterator[str]:
    return _swapped(word, ((british, american) for american, british in _DIFFERENCES))
