"""The symmetric-delete index of each language, built once and shared through cache files.

Files are named by the dictionary's fingerprint and the index format, so a new pyspellchecker
or dictionary builds a fresh index. The arrays are memory-mapped read-only: every worker and
every Spell Checker process on the machine reads the same pages of the page cache. A build
holds a file lock, so processes starting together build a language once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from services.spell_checker.adapters.dictionaries import dictionary_fingerprint
from services.spell_checker.domain.index import (
    FORMAT_VERSION,
    IndexArrays,
    SymmetricDeleteIndex,
    build_index,
)
from services.spell_checker.domain.lexicon import Lexicon

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexLoad:
    """How an index was obtained: built now or mapped from the cache, and how long it took."""

    language: str
    built: bool
    seconds: float
    entries: int
    path: Path


class IndexCache:
    """A directory of memory-mappable index files, one set per language and dictionary version."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def stem(self, language: str) -> Path:
        """The path prefix of a language's cache files."""
        fingerprint = dictionary_fingerprint(language)[:16]
        return self.directory / f"{language}-v{FORMAT_VERSION}-{fingerprint}"

    def load_or_build(
        self, language: str, lexicon: Lexicon
    ) -> tuple[SymmetricDeleteIndex, IndexLoad]:
        """The language's index, mapped from the cache or built into it under a lock."""
        started = time.perf_counter()
        stem = self.stem(language)
        arrays = self._read(stem, lexicon)
        built = False
        if arrays is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            with _locked(stem.with_suffix(".lock")):
                arrays = self._read(stem, lexicon)  # another process may have built it meanwhile
                if arrays is None:
                    arrays = build_index(lexicon.words, lexicon.is_candidate)
                    self._write(stem, language, len(lexicon.words), arrays)
                    arrays = self._read(stem, lexicon)
                    built = True
            if arrays is None:
                raise RuntimeError(f"index cache {stem} unreadable right after it was written")
        load = IndexLoad(language, built, time.perf_counter() - started, len(arrays.keys), stem)
        log.info(
            "spell index ready",
            extra={
                "language": language,
                "built": built,
                "seconds": round(load.seconds, 3),
                "entries": load.entries,
                "cache": str(stem),
            },
        )
        return SymmetricDeleteIndex(arrays), load

    @staticmethod
    def _read(stem: Path, lexicon: Lexicon) -> IndexArrays | None:
        meta_path = stem.with_suffix(".json")
        try:
            meta = json.loads(meta_path.read_text())
            keys = np.load(stem.with_suffix(".keys.npy"), mmap_mode="r")
            word_ids = np.load(stem.with_suffix(".ids.npy"), mmap_mode="r")
        except (FileNotFoundError, ValueError):
            return None
        if meta.get("words") != len(lexicon.words) or len(keys) != meta.get("entries"):
            log.warning("spell index cache does not fit its dictionary", extra={"cache": str(stem)})
            return None
        return IndexArrays(cast(Any, keys), cast(Any, word_ids))

    @staticmethod
    def _write(stem: Path, language: str, words: int, arrays: IndexArrays) -> None:
        # Arrays first, the metadata last: a reader that finds the metadata finds whole arrays.
        for suffix, array in ((".keys.npy", arrays.keys), (".ids.npy", arrays.word_ids)):
            target = stem.with_suffix(suffix)
            temporary = target.with_name(f"{target.name}.{os.getpid()}.tmp")
            with open(temporary, "wb") as handle:
                np.save(handle, array)
            os.replace(temporary, target)
        meta = {
            "language": language,
            "format": FORMAT_VERSION,
            "words": words,
            "entries": len(arrays.keys),
        }
        temporary = stem.with_name(f"{stem.name}.json.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(meta))
        os.replace(temporary, stem.with_suffix(".json"))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
