"""The symmetric-delete index (the SymSpell method) over a lexicon, in two flat numpy arrays.

Every dictionary word is indexed under the hash of itself and of every string made by deleting
one or two of its characters. Two words within Damerau-Levenshtein distance 2 share a string
that each reaches with at most two deletions (their longest common subsequence), so looking up
the query's own deletions finds every word within distance 2; hash collisions only add
candidates, which the caller verifies with the exact distance.

The arrays are plain sorted uint32 keys and the word ids beside them, so they can be written to
a file once and memory-mapped by every process, sharing one copy in the page cache.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FORMAT_VERSION = 1
MAX_DELETES = 2

_U64 = np.uint64
_BASE = 0x100000001B3
_BASE_INV = pow(_BASE, -1, 1 << 64)
_BASE_INV2 = pow(_BASE_INV, 2, 1 << 64)
# The longest query hashed through a cached plan (its matrix: about 70 KB at 25 characters,
# 140 KB at 32; about 1 MB for every length up to 32); longer ones are hashed as the index is.
_QUERY_PLAN_MAX_LENGTH = 32
_LENGTH_SALT = 0x9E3779B97F4A7C15
_MIX1 = _U64(0xBF58476D1CE4E5B9)
_MIX2 = _U64(0x94D049BB133111EB)

_SLICE = 1 << 22

Keys = npt.NDArray[np.uint32]
WordIds = npt.NDArray[np.uint32]


def _mix(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64's finaliser, so near-identical strings get unrelated hashes."""
    values = (values ^ (values >> _U64(30))) * _MIX1
    values = (values ^ (values >> _U64(27))) * _MIX2
    return values ^ (values >> _U64(31))


@functools.cache
def _powers(length: int) -> npt.NDArray[np.uint64]:
    powers = np.empty(length, dtype=np.uint64)
    value = 1
    for position in range(length):
        powers[position] = value
        value = (value * _BASE) & ((1 << 64) - 1)
    return powers


@functools.cache
def _pairs(length: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    first, second = np.triu_indices(length, k=1)
    return first.astype(np.intp), second.astype(np.intp)


def _salt(length: int) -> np.uint64:
    return _U64((length * _LENGTH_SALT) & ((1 << 64) - 1))


def deletion_hashes(codes: npt.NDArray[np.uint32]) -> Keys:
    """Hashes of each row (a word as code points) and of its one- and two-character deletions.

    `codes` has shape (words, length); the result has one row per word. The hash is a
    polynomial over mixed code points, so a deletion's hash comes from prefix sums without
    building the string: that is what makes indexing a whole dictionary a few numpy operations.
    """
    count, length = codes.shape
    terms = _mix(codes.astype(np.uint64) + _U64(1)) * _powers(length)
    prefix = np.zeros((count, length + 1), dtype=np.uint64)
    np.cumsum(terms, axis=1, out=prefix[:, 1:])
    whole = prefix[:, length : length + 1]
    columns: list[npt.NDArray[np.uint64]] = [whole + _salt(length)]
    base_inv, base_inv2 = _U64(_BASE_INV), _U64(_BASE_INV2)
    if length >= 1:
        at = np.arange(length)
        one = prefix[:, at] + (whole - prefix[:, at + 1]) * base_inv + _salt(length - 1)
        columns.append(one.astype(np.uint64, copy=False))
    if length >= 2 and MAX_DELETES >= 2:
        first, second = _pairs(length)
        two = (
            prefix[:, first]
            + (prefix[:, second] - prefix[:, first + 1]) * base_inv
            + (whole - prefix[:, second + 1]) * base_inv2
            + _salt(length - 2)
        ).astype(np.uint64, copy=False)  # numpy's stubs widen mixed unsigned sums to float
        columns.append(two)
    hashes = np.concatenate(columns, axis=1)
    return (_mix(hashes) >> _U64(32)).astype(np.uint32)


@functools.cache
def _query_plan(length: int) -> npt.NDArray[np.uint64]:
    """What `deletion_hashes` computes for one word of `length` characters before its final mix,
    as a (hashes, length + 1) matrix: the hashes are sums of the word's mixed code points times
    powers of the base (and their inverses past a deletion), plus a salt by length, all modulo
    2^64, so one matrix product of (mixed code points, 1) gives every one of them at once."""
    mask = (1 << 64) - 1
    powers = [int(p) for p in _powers(length)]
    inverse = (1, _BASE_INV, _BASE_INV2)  # the factor of a position past 0, 1 or 2 deletions

    def row(deleted: tuple[int, ...]) -> list[int]:
        factors = [
            0 if j in deleted else (powers[j] * inverse[sum(d < j for d in deleted)]) & mask
            for j in range(length)
        ]
        return [*factors, int(_salt(length - len(deleted)))]

    rows = [row(())]
    rows += [row((at,)) for at in range(length)]
    if length >= 2 and MAX_DELETES >= 2:
        first, second = _pairs(length)
        rows += [row((a, b)) for a, b in zip(first.tolist(), second.tolist(), strict=True)]
    return np.array(rows, dtype=np.uint64)


def query_hashes(word: str) -> Keys:
    """`deletion_hashes` of the one non-empty `word` (the same keys in the same order), in a
    few numpy operations instead of a few dozen: the lookup of every query."""
    if len(word) > _QUERY_PLAN_MAX_LENGTH:  # a plan grows with the cube of the length
        row: Keys = deletion_hashes(word_codes([word], len(word)))[0]
        return row
    mixed = _mixed_chars
    try:
        terms = [mixed[char] for char in word]
    except KeyError:
        for char in word:
            if char not in mixed:
                mixed[char] = int(_mix(np.array([ord(char) + 1], dtype=np.uint64))[0])
        terms = [mixed[char] for char in word]
    terms.append(1)  # times each row's salt
    plan = _query_plan(len(word))
    return (_mix(plan @ np.array(terms, dtype=np.uint64)) >> _U64(32)).astype(np.uint32)


# Each character's mixed code point (plus one), as deletion_hashes mixes it: the characters
# of the queries seen so far (a language's letters, mostly).
_mixed_chars: dict[str, int] = {}


def word_codes(words: Sequence[str], length: int) -> npt.NDArray[np.uint32]:
    """The code points of equally long words as a (words, length) array."""
    buffer = "".join(words).encode("utf-32-le")
    return np.frombuffer(buffer, dtype="<u4").reshape(len(words), length).astype(np.uint32)


@dataclass(frozen=True)
class IndexArrays:
    """Sorted keys and, at the same positions, the id of a word indexed under that key."""

    keys: Keys
    word_ids: WordIds


def build_index(words: Sequence[str], include: Callable[[str], bool]) -> IndexArrays:
    """Index every word for which `include` is true; ids are positions in `words`.

    Peak memory is about 16 bytes per (key, word) pair: one sorted uint64 array of
    `key << 32 | id`, then the two uint32 arrays cut from it in slices.
    """
    by_length: dict[int, list[int]] = defaultdict(list)
    for word_id, word in enumerate(words):
        if word and include(word):
            by_length[len(word)].append(word_id)
    capacity = sum(len(ids) * _deletions(length) for length, ids in by_length.items())
    entries = np.empty(capacity, dtype=np.uint64)
    filled = 0
    for length, ids in sorted(by_length.items()):
        hashes = deletion_hashes(word_codes([words[i] for i in ids], length))
        id_column = np.asarray(ids, dtype=np.uint64)[:, None]
        group = ((hashes.astype(np.uint64) << _U64(32)) | id_column).ravel()
        entries[filled : filled + len(group)] = group
        filled += len(group)
    entries.sort()
    distinct = _drop_repeats(entries)  # "aab" loses either "a" to the same string: index it once
    keys = np.empty(distinct, dtype=np.uint32)
    word_ids = np.empty(distinct, dtype=np.uint32)
    for start in range(0, distinct, _SLICE):
        chunk = entries[start : min(start + _SLICE, distinct)]
        keys[start : start + len(chunk)] = chunk >> _U64(32)
        word_ids[start : start + len(chunk)] = chunk & _U64(0xFFFFFFFF)
    return IndexArrays(keys, word_ids)


def _drop_repeats(entries: npt.NDArray[np.uint64]) -> int:
    """Move the distinct values of the sorted `entries` to its front, in place; return how many."""
    written = 0
    previous: np.uint64 | None = None
    for start in range(0, len(entries), _SLICE):
        chunk = entries[start : start + _SLICE]
        last = chunk[-1].copy()
        keep = np.empty(len(chunk), dtype=bool)
        keep[0] = previous is None or chunk[0] != previous
        np.not_equal(chunk[1:], chunk[:-1], out=keep[1:])
        kept = chunk[keep]
        entries[written : written + len(kept)] = kept
        written += len(kept)
        previous = last
    return written


def _deletions(length: int) -> int:
    """How many strings (the word and its deletions) each word of this length is indexed under."""
    return 1 + length + length * (length - 1) // 2


class SymmetricDeleteIndex:
    """Looks up the ids of every indexed word that may lie within two edits of a query."""

    def __init__(self, arrays: IndexArrays) -> None:
        # Plain views of the (memory-mapped) arrays: a lookup then skips numpy.memmap's
        # subclass handling on every operation.
        self._keys: Keys = np.asarray(arrays.keys)
        self._word_ids: WordIds = np.asarray(arrays.word_ids)

    @property
    def entries(self) -> int:
        """How many (key, word) pairs the index holds."""
        return len(self._keys)

    def candidate_ids(self, word: str) -> WordIds:
        """Ids of the indexed words sharing a deletion hash with `word` (a superset of those
        within Damerau-Levenshtein distance 2)."""
        if not word:
            return np.empty(0, dtype=np.uint32)
        hashes = np.unique(query_hashes(word))
        low = np.searchsorted(self._keys, hashes, side="left")
        high = np.searchsorted(self._keys, hashes, side="right")
        counts = high - low
        total = int(counts.sum())
        if total == 0:
            return np.empty(0, dtype=np.uint32)
        starts = np.repeat(low - (np.cumsum(counts) - counts), counts)
        positions = starts + np.arange(total)
        return np.unique(self._word_ids[positions])
