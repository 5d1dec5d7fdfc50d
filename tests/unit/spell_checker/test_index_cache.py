"""Index cache files: built once per dictionary version, memory-mapped after that."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from spellchecker import SpellChecker

from services.spell_checker.adapters.dictionaries import dictionary_fingerprint
from services.spell_checker.adapters.index_cache import IndexCache
from services.spell_checker.domain.lexicon import Lexicon


def test_built_once_then_mapped_from_the_cache(tmp_path: Path) -> None:
    lexicon = Lexicon(SpellChecker(language="fa").word_frequency.dictionary)
    cache = IndexCache(tmp_path)
    first, built = cache.load_or_build("fa", lexicon)
    again, mapped = cache.load_or_build("fa", lexicon)
    assert built.built and not mapped.built
    assert first.entries == again.entries == mapped.entries > len(lexicon.words)
    assert isinstance(np.load(f"{mapped.path}.keys.npy", mmap_mode="r"), np.memmap)
    assert mapped.path.name.startswith(f"fa-v1-{dictionary_fingerprint('fa')[:16]}")


def test_a_cache_that_does_not_fit_the_dictionary_is_rebuilt(tmp_path: Path) -> None:
    lexicon = Lexicon(SpellChecker(language="fa").word_frequency.dictionary)
    cache = IndexCache(tmp_path)
    _, load = cache.load_or_build("fa", lexicon)
    meta = Path(f"{load.path}.json")
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "words": 3}))
    _, again = cache.load_or_build("fa", lexicon)
    assert again.built


def test_fingerprints_differ_between_languages() -> None:
    assert dictionary_fingerprint("en") != dictionary_fingerprint("fr")
    assert dictionary_fingerprint("en") == dictionary_fingerprint("en")
