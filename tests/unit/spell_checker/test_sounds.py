"""Sound-alike keys: words spelled by ear share the key of the word meant."""

from __future__ import annotations

from services.spell_checker.domain.sounds import SoundIndex, sound_key


def test_misspellings_by_ear_share_the_key_of_the_word_meant() -> None:
    # pairs from the training split of the misspelling lists
    assert sound_key("butefl") == sound_key("beautiful") == "btfl"
    assert sound_key("beaurocracy") == sound_key("bureaucracy")
    assert sound_key("misslinious") == sound_key("miscellaneous")
    assert sound_key("fone") == sound_key("phone")  # ph sounds as f
    assert sound_key("nite") == sound_key("night")  # gh is silent
    assert sound_key("rite") == sound_key("write")  # so is a first w before r
    assert sound_key("cat") == sound_key("cut") == "kt"  # vowels past the first say little
    assert sound_key("city") != sound_key("kitty")  # a soft c is an s


def test_the_index_finds_the_words_under_a_key() -> None:
    words = ("beautiful", "bottle", "phone", "fine", "fun", "a")
    index = SoundIndex(words, lambda word: True)
    assert [words[i] for i in index.candidate_ids("butefl")] == ["beautiful"]
    assert [words[i] for i in index.candidate_ids("fone")] == ["phone", "fine", "fun"]
    assert len(index.candidate_ids("fon")) == 0  # too short to weigh sound-alikes
    assert len(index.candidate_ids("zzzz")) == 0
