"""The shipped edit table is what bench.learn_edits derives from the misspelling lists."""

from __future__ import annotations

from bench.learn_edits import TABLE, held_out, table_text


def test_regenerating_the_table_from_the_corpus_gives_the_shipped_one() -> None:
    assert table_text() == TABLE.read_text(encoding="utf-8")


def test_the_held_out_split_is_fixed_and_near_thirty_percent() -> None:
    pairs = [(f"wrod{k}", f"word{k}") for k in range(2000)]
    share = sum(map(held_out, pairs)) / len(pairs)
    assert 0.27 < share < 0.33
    assert held_out(("Recieve", "receive")) == held_out(("recieve", "RECEIVE"))  # case-blind
