"""The error model of the noisy channel: how likely a writer who meant one word typed another.

A misspelling is explained by the fewest edits that turn the intended word into the typed one
(Damerau-Levenshtein, with adjacent transpositions), each edit named with the letter before it:

* `s:xy` the intended x typed as y;
* `d:px` x dropped after p;
* `i:py` y added after the typed p;
* `t:xy` xy typed as yx.

`^` stands before the first letter. A doubled letter is always named as the second copy, so
`writting` is `i:tt` and `realy` is `d:ll`. Each edit's probability is its count in the learned
table over how often its context (the intended letter or letter pair) occurs in the intended
words (Kernighan, Church and Gale's confusion matrices). Edits the table does not list share
their class's left-over count: keyboard neighbours, vowel for vowel, doubling, and the rest.

P(typed | intended) is that of the likeliest sequence of edits between the two (a Viterbi
alignment under the model), not of the first of the fewest: `ommited` from `omitted` is a
doubled `m` and a dropped `t` (two likely edits), not `s:im` and `s:ti` (two unlikely ones).
On the training split of the misspelling lists this alone raised top-1 by 1.1 to 2.3 points
on three of the five lists and lowered none. The table is learned the same way: counted once
over the fewest edits, then again over the likeliest edits under that first model.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from services.spell_checker.domain.lexicon import remove_diacritics

START = "^"
TABLE_VERSION = 1
# The letters whose edits the table counts: every other letter's edit takes its class's count.
ALPHABET = "abcdefghijklmnopqrstuvwxyz'"
VOWELS = frozenset("aeiouy")
_QWERTY_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
# The table keeps the edits seen at least this often; rarer ones go to their class's share.
MIN_EDIT_COUNT = 3
# No edit is likelier than this given its context: a typed word differs from any word it was
# meant as by at least one edit, so its log P(typed | intended) is at most this.
MAX_EDIT_LOG_P = math.log(0.5)


def _neighbours() -> frozenset[tuple[str, str]]:
    """Pairs of letters whose keys touch on a QWERTY keyboard (same row or the row next)."""
    place = {
        key: (row, column)
        for row, keys in enumerate(_QWERTY_ROWS)
        for column, key in enumerate(keys)
    }
    pairs = set()
    for a, (row_a, col_a) in place.items():
        for b, (row_b, col_b) in place.items():
            # rows are staggered by about half a key: the row below starts half a key right
            shift = (row_b - row_a) * 0.5
            if a != b and abs(row_a - row_b) <= 1 and abs(col_b + shift - col_a) <= 1:
                pairs.add((a, b))
    return frozenset(pairs)


KEYBOARD_NEIGHBOURS = _neighbours()


def edit_class(edit: str) -> str:
    """The class an edit falls back to when the table does not list it."""
    kind, first, second = edit[0], edit[2], edit[3]
    if kind == "s":
        if remove_diacritics(first) == remove_diacritics(second):
            return "s-accent"
        if (first, second) in KEYBOARD_NEIGHBOURS:
            return "s-keyboard"
        return "s-vowel" if first in VOWELS and second in VOWELS else "s-other"
    if kind in "di":
        return f"{kind}-double" if first == second else f"{kind}-other"
    return "t"


def _all_edits() -> Iterable[str]:
    """Every edit over the alphabet: what the classes' left-over counts are spread over."""
    before = START + ALPHABET
    for x in ALPHABET:
        for y in ALPHABET:
            if x != y:
                yield f"s:{x}{y}"
                yield f"t:{x}{y}"
        for p in before:
            yield f"d:{p}{x}"
            yield f"i:{p}{x}"


def common_ends(intended: str, typed: str) -> tuple[int, int]:
    """How many letters the two words share at their start, and then at their end."""
    head = 0
    limit = min(len(intended), len(typed))
    while head < limit and intended[head] == typed[head]:
        head += 1
    tail = 0
    while tail < limit - head and intended[-1 - tail] == typed[-1 - tail]:
        tail += 1
    return head, tail


def edits(intended: str, typed: str) -> list[str]:
    """The edits that turn `intended` into `typed` (see the module docstring), fewest first."""
    head, tail = common_ends(intended, typed)
    a = intended[head : len(intended) - tail]
    b = typed[head : len(typed) - tail]
    before = intended[head - 1] if head else START
    return _aligned(a, b, before)


def _aligned(a: str, b: str, before: str) -> list[str]:
    """The edits of the optimal string alignment of `a` into `b`, which follow `before`."""
    rows, cols = len(a) + 1, len(b) + 1
    cost = [[0] * cols for _ in range(rows)]
    for i in range(rows):
        cost[i][0] = i
    for j in range(cols):
        cost[0][j] = j
    for i in range(1, rows):
        for j in range(1, cols):
            best = min(
                cost[i - 1][j - 1] + (a[i - 1] != b[j - 1]),
                cost[i - 1][j] + 1,
                cost[i][j - 1] + 1,
            )
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                best = min(best, cost[i - 2][j - 2] + 1)
            cost[i][j] = best
    found: list[str] = []
    i, j = rows - 1, cols - 1
    while i or j:
        here = cost[i][j]
        if (
            i > 1
            and j > 1
            and a[i - 1] == b[j - 2]
            and a[i - 2] == b[j - 1]
            and a[i - 1] != a[i - 2]
            and here == cost[i - 2][j - 2] + 1
        ):
            found.append(f"t:{a[i - 2]}{a[i - 1]}")
            i, j = i - 2, j - 2
        elif i and j and here == cost[i - 1][j - 1] + (a[i - 1] != b[j - 1]):
            if a[i - 1] != b[j - 1]:
                found.append(f"s:{a[i - 1]}{b[j - 1]}")
            i, j = i - 1, j - 1
        elif i and here == cost[i - 1][j] + 1:
            found.append(f"d:{a[i - 2] if i > 1 else before}{a[i - 1]}")
            i -= 1
        else:
            found.append(f"i:{b[j - 2] if j > 1 else before}{b[j - 1]}")
            j -= 1
    found.reverse()
    return found


def learn_table(
    pairs: Iterable[tuple[str, str]], max_edits: int = 2, aligner: EditModel | None = None
) -> dict[str, object]:
    """The edit table learned from (typed, intended) pairs: the counts of the edits of every pair
    at most `max_edits` apart, and of the letters and letter pairs of their intended words. The
    edits of a pair are the fewest, or with `aligner` the likeliest under that model."""
    edit_counts: Counter[str] = Counter()
    contexts: Counter[str] = Counter()
    used = 0
    for typed_as, meant in pairs:
        typed, intended = typed_as.lower(), meant.lower()
        if typed == intended or not (set(typed) | set(intended)) <= set(ALPHABET):
            continue
        found = edits(intended, typed)
        if len(found) > max_edits:
            continue
        if aligner is not None:
            found = aligner.likeliest_edits(intended, typed)[1]
        used += 1
        edit_counts.update(found)
        marked = START + intended
        contexts.update(marked)
        contexts.update(marked[k : k + 2] for k in range(len(marked) - 1))
    kept = {e: n for e, n in sorted(edit_counts.items()) if n >= MIN_EDIT_COUNT}
    left_over: Counter[str] = Counter()
    unlisted: Counter[str] = Counter()
    for edit, count in edit_counts.items():
        if edit not in kept:
            left_over[edit_class(edit)] += count
    for edit in _all_edits():
        if edit not in kept:
            unlisted[edit_class(edit)] += 1
    classes = {name: round((left_over[name] + 1) / unlisted[name], 6) for name in sorted(unlisted)}
    return {
        "version": TABLE_VERSION,
        "pairs_used": used,
        "max_edits": max_edits,
        "min_edit_count": MIN_EDIT_COUNT,
        "contexts": dict(sorted(contexts.items())),
        "edits": kept,
        "unlisted_edit_count": classes,
    }


@dataclass(frozen=True)
class EditModel:
    """log P(typed | intended) from a learned edit table (`learn_table`)."""

    edit_counts: Mapping[str, float]
    context_counts: Mapping[str, float]
    unlisted_counts: Mapping[str, float]
    accent_count: float  # an accent dropped or added: as likely as the likeliest substitution
    usual_context: tuple[float, float]  # median count of a letter, of a letter pair
    # log P of each edit asked for so far: an alignment asks for the same few edits many times
    _known: dict[str, float] = field(default_factory=dict, compare=False, repr=False)
    # the same by what names them, so that scoring an alignment formats few names: a letter
    # dropped or added by the pair in its name (`d:px` by `px`), a substitution by its letters
    _dropped: dict[str, float] = field(default_factory=dict, compare=False, repr=False)
    _added: dict[str, float] = field(default_factory=dict, compare=False, repr=False)
    _substituted: dict[str, dict[str, float]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def from_table(cls, table: Mapping[str, object]) -> EditModel:
        """The model of a table written by `learn_table`."""
        if table.get("version") != TABLE_VERSION:
            raise ValueError(f"edit table version {table.get('version')}, not {TABLE_VERSION}")
        edit_counts = _counts(table["edits"])
        contexts = _counts(table["contexts"])
        substitutions = [n for e, n in edit_counts.items() if e[0] == "s"]
        return cls(
            edit_counts,
            contexts,
            _counts(table["unlisted_edit_count"]),
            max(substitutions, default=1.0),
            (
                statistics.median([n for c, n in contexts.items() if len(c) == 1] or [1.0]),
                statistics.median([n for c, n in contexts.items() if len(c) == 2] or [1.0]),
            ),
        )

    def edit_log_probability(self, edit: str) -> float:
        """log P of one edit given its context."""
        count = self.edit_counts.get(edit)
        if count is None:
            kind = edit_class(edit)
            count = self.accent_count if kind == "s-accent" else self.unlisted_counts[kind]
        kind = edit[0]
        context = edit[2] if kind == "i" else edit[2:] if kind in "dt" else edit[2]
        seen = self.context_counts.get(context) or self.usual_context[len(context) - 1]
        return math.log(min(count / max(seen, count), 0.5))  # at most MAX_EDIT_LOG_P

    def log_probability(self, intended: str, typed: str) -> float:
        """log P(typed | intended): that of the likeliest edits between them (`likeliest_edits`
        without naming them, which is most of a ranking's cost)."""
        middles = _differing_middles(intended, typed)
        return 0.0 if middles is None else self._likeliest_log_p(*middles)

    def likeliest_edits(self, intended: str, typed: str) -> tuple[float, list[str]]:
        """The likeliest edits that turn `intended` into `typed`, and their summed log P."""
        middles = _differing_middles(intended, typed)
        return (0.0, []) if middles is None else self._viterbi(*middles)

    def _log_p(self, edit: str) -> float:
        found = self._known.get(edit)
        if found is None:
            found = self._known[edit] = self.edit_log_probability(edit)
        return found

    def _by_pair(self, kind: str, pair: str) -> float:
        """log P of dropping (`d`) or adding (`i`) the letter `pair` names (`d:px` for `px`)."""
        found = self._log_p(f"{kind}:{pair}")
        (self._dropped if kind == "d" else self._added)[pair] = found
        return found

    def _likeliest_log_p(self, a: str, b: str) -> float:
        """The log P of `_viterbi`'s alignment of `a` into `b` (the same sums, so the same
        float), from the last two rows of scores and without tracing the edits back."""
        known, log_p = self._known, self._log_p  # no edit's log P is 0: `or` falls back
        rows, cols = len(a), len(b)
        dropped, added, by_pair = self._dropped, self._added, self._by_pair
        substituted = self._substituted
        above_above: list[float] = []
        above = [0.0] * cols
        add_p = [0.0] * cols
        for j in range(1, cols):  # the first row, naming each insertion as `_viterbi` does
            y = b[j]
            pair = y + y if j < cols - 1 and b[j + 1] == y else b[j - 1] + y
            add_p[j] = added.get(pair) or by_pair("i", pair)
            above[j] = above[j - 1] + add_p[j]
        for i in range(1, rows):
            x, previous = a[i], a[i - 1]
            pair = x + x if i < rows - 1 and a[i + 1] == x else previous + x
            drop = dropped.get(pair) or by_pair("d", pair)
            swap = None
            if i > 1 and x != previous:
                name = f"t:{previous}{x}"
                swap = known.get(name) or log_p(name)
            typed_as = substituted.get(x)
            if typed_as is None:
                typed_as = substituted[x] = {}
            diagonal = above[0]
            here_row = [diagonal + drop] * cols
            left = here_row[0]
            for j in range(1, cols):
                y, up = b[j], above[j]
                if x == y:
                    kept = diagonal
                else:
                    cost = typed_as.get(y)
                    if cost is None:
                        cost = typed_as[y] = log_p(f"s:{x}{y}")
                    kept = diagonal + cost
                # the likeliest of the moves, without calling max(): a third of the time here
                dropping = up + drop
                best = dropping if dropping > kept else kept
                adding = left + add_p[j]
                best = adding if adding > best else best
                if swap is not None and j > 1 and x == b[j - 1] and previous == y:
                    swapping = above_above[j - 2] + swap
                    best = swapping if swapping > best else best
                here_row[j] = left = best
                diagonal = up
            above_above, above = above, here_row
        return above[cols - 1]

    def _viterbi(self, a: str, b: str) -> tuple[float, list[str]]:
        """The likeliest alignment of `a` into `b`, which start with the same letter (and end
        with the same letter, if any follows the differing middle)."""
        known, log_p = self._known, self._log_p  # no edit's log P is 0: `or` falls back
        rows, cols = len(a), len(b)
        # a deletion's name depends on its row only, an insertion's on its column only:
        # dropping or adding the first of two copies is named as the second
        # (position 0, the shared first letter, is never dropped or added)
        drops = [""] + [
            f"d:{a[i]}{a[i]}" if i + 1 < rows and a[i + 1] == a[i] else f"d:{a[i - 1]}{a[i]}"
            for i in range(1, rows)
        ]
        adds = [""] + [
            f"i:{b[j]}{b[j]}" if j + 1 < cols and b[j + 1] == b[j] else f"i:{b[j - 1]}{b[j]}"
            for j in range(1, cols)
        ]
        drop_p = [0.0] + [known.get(name) or log_p(name) for name in drops[1:]]
        add_p = [0.0] + [known.get(name) or log_p(name) for name in adds[1:]]
        score = [[-math.inf] * cols for _ in range(rows)]
        step: list[list[str]] = [[""] * cols for _ in range(rows)]
        score[0][0] = 0.0
        first = score[0]
        for j in range(1, cols):
            first[j], step[0][j] = first[j - 1] + add_p[j], adds[j]
        for i in range(1, rows):
            here_row, above, moves = score[i], score[i - 1], step[i]
            x, drop = a[i], drop_p[i]
            here_row[0], moves[0] = above[0] + drop, drops[i]
            for j in range(1, cols):
                y = b[j]
                if x == y:
                    best, edit = above[j - 1], "="
                else:
                    name = f"s:{x}{y}"
                    best, edit = above[j - 1] + (known.get(name) or log_p(name)), name
                here = above[j] + drop
                if here > best:
                    best, edit = here, drops[i]
                here = here_row[j - 1] + add_p[j]
                if here > best:
                    best, edit = here, adds[j]
                if i > 1 and j > 1 and x == b[j - 1] and a[i - 1] == y and x != a[i - 1]:
                    name = f"t:{a[i - 1]}{x}"
                    here = score[i - 2][j - 2] + (known.get(name) or log_p(name))
                    if here > best:
                        best, edit = here, name
                here_row[j], moves[j] = best, edit
        found: list[str] = []
        i, j = rows - 1, cols - 1
        while i or j:
            edit = step[i][j]
            if edit[0] == "t":
                i, j = i - 2, j - 2
            elif edit[0] == "d":
                i -= 1
            elif edit[0] == "i":
                j -= 1
            else:
                i, j = i - 1, j - 1
            if edit != "=":
                found.append(edit)
        found.reverse()
        return score[rows - 1][cols - 1], found


def _differing_middles(intended: str, typed: str) -> tuple[str, str] | None:
    """What an alignment needs of the two words: the middles they differ in, each with the
    letter before it (it names the first edit) and the one after it (a doubled letter's edit
    is that of its second copy); None when the words are the same."""
    head, tail = common_ends(intended, typed)
    if head == len(intended) - tail and head == len(typed) - tail:
        return None
    before = intended[head - 1] if head else START
    after = intended[len(intended) - tail] if tail else ""
    return (
        before + intended[head : len(intended) - tail] + after,
        before + typed[head : len(typed) - tail] + after,
    )


def _counts(value: object) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise ValueError("edit table: expected an object of counts")
    return {str(k): float(v) for k, v in value.items()}
