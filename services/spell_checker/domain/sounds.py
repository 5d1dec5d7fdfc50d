"""Sound-alike candidates: dictionary words an English writer may have spelled by ear.

Two edits reach most misspellings, but not those written the way the word sounds (`butefl`,
`beaurocracy`, `misslinious`). Every dictionary word is indexed under a rough key of its
consonant sounds (`sound_key`, in the manner of Aspell's "soundslike"); the words under the
typed word's key join the candidates, and the error model (`channel.EditModel`) weighs them like
any other. On the training split of the misspelling lists this found the word meant for 40 of
800 Birkbeck pairs and 9 of 375 Aspell ones that no word within two edits was, and lost none.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

# A typed word shorter than this has too many sound-alikes to be worth weighing.
MIN_LENGTH = 4

_Rule = tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]
_RULES: tuple[_Rule, ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"[^a-z]", ""),
        (r"^(?:kn|gn|pn|wr)", lambda m: m.group()[1]),  # silent first letters: knee, write
        (r"^x", "s"),
        (r"^wh", "w"),
        (r"ph", "f"),
        (r"ck", "k"),
        (r"sch", "sk"),
        (r"tch", "ch"),
        (r"c(?=[eiy])", "s"),  # soft c: city, cell
        (r"[cq]", "k"),
        (r"x", "ks"),
        (r"z", "s"),
        (r"dg(?=[eiy])", "j"),  # edge, judge
        (r"gh(?![aeiouy])", ""),  # silent gh: night, though
        (r"(?<=[aeiouy])w|(?<=[aeiouy])h(?![aeiouy])", ""),  # vowel-like w and h: saw, oh
        (r"(.)\1+", r"\1"),  # doubled letters sound as one
        (r"(?<=.)[aeiouy]+", ""),  # vowels past the first letter carry little
    )
)


def sound_key(word: str) -> str:
    """A rough key of how a lower-case English word sounds: `beautiful` and `butefl` share
    `btfl`, `bureaucracy` and `beaurocracy` share `brkrs`."""
    for pattern, replacement in _RULES:
        word = pattern.sub(replacement, word)
    return word


class SoundIndex:
    """The ids of the dictionary words under each sound key, as sorted key hashes beside the ids
    (a few MiB for a dictionary's worth, against tens for a dict of lists). The hashes are this
    process's own `hash()`: the index is built in the process that uses it."""

    def __init__(self, words: Sequence[str], include: Callable[[str], bool]) -> None:
        ids = [k for k, word in enumerate(words) if len(word) >= MIN_LENGTH - 1 and include(word)]
        hashes = np.fromiter((hash(sound_key(words[k])) for k in ids), np.int64, len(ids))
        order = np.argsort(hashes, kind="stable")
        self._hashes: npt.NDArray[np.int64] = hashes[order]
        self._ids: npt.NDArray[np.uint32] = np.asarray(ids, dtype=np.uint32)[order]

    def candidate_ids(self, word: str) -> npt.NDArray[np.uint32]:
        """The ids of the words that sound like the lower-case `word` (none for short words)."""
        if len(word) < MIN_LENGTH:
            return self._ids[:0]
        wanted = hash(sound_key(word))
        low = int(np.searchsorted(self._hashes, wanted, side="left"))
        high = int(np.searchsorted(self._hashes, wanted, side="right"))
        return self._ids[low:high]
