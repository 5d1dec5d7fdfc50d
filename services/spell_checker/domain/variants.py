"""British spellings of American words, for the fixes of an `en-GB` essay.

The dictionary the checker corrects with spells the American way. A fix for an `en-GB` essay is
respelled when one or two of the regular differences give a word of the British word list that
the word itself is not: `neighborhood` → `neighbourhood`, `realize` → `realise`, `center` →
`centre`, `traveled` → `travelled`, `catalog` → `catalogue`, `maneuver` → `manoeuvre`. A word the
British list has already (`program`, the computing sense) stays as it is.
"""

from __future__ import annotations

from collections.abc import Iterator

# American fragment → British fragment, tried at every place the fragment occurs.
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


def is_british_form(word: str, american: str, differences: int = 2) -> bool:
    """Whether `word` is `american` with one or two of the regular differences applied
    (`favourite` of `favorite`), whether or not a word list has it."""
    if word == american or not differences:
        return False
    # the first letter the two differ at must be in the first difference applied: only the
    # few places around it are tried, not every respelling (a ranking asks this often); two
    # differences that overlap (beers, beres, brees) are not seen
    first = 0
    limit = min(len(word), len(american))
    while first < limit and word[first] == american[first]:
        first += 1
    for fragment, british in _DIFFERENCES:
        start = american.find(fragment, max(0, first - _LONGEST + 1))
        while 0 <= start <= first:
            respelled = american[:start] + british + american[start + len(fragment) :]
            if respelled == word or is_british_form(word, respelled, differences - 1):
                return True
            start = american.find(fragment, start + 1)
    return False


def _respelled(word: str) -> Iterator[str]:
    for american, british in _DIFFERENCES:
        start = word.find(american)
        while start >= 0:
            yield word[:start] + british + word[start + len(american) :]
            start = word.find(american, start + 1)
