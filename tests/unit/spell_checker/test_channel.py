"""The error model: how edits are named, learned, and weighed (the table shipped in the repo)."""

from __future__ import annotations

import pytest

from services.spell_checker.adapters.english_model import edit_model
from services.spell_checker.domain.channel import EditModel, edit_class, edits, learn_table


def test_edits_are_named_with_the_letter_before_them() -> None:
    assert edits("writing", "writting") == ["i:tt"]  # the second copy of a doubled letter
    assert edits("really", "realy") == ["d:ll"]
    assert edits("receive", "recieve") == ["t:ei"]
    assert edits("definitely", "definately") == ["s:ia"]
    assert edits("apple", "pple") == ["d:^a"]  # at the start: after ^
    assert edits("because", "becuase") == ["t:au"]
    assert edits("separate", "seperete") == ["s:ae", "s:ae"]
    assert edits("same", "same") == []


def test_edit_classes() -> None:
    assert edit_class("s:sa") == "s-keyboard"
    assert edit_class("s:ea") == "s-vowel"
    assert edit_class("s:éè") == "s-accent"
    assert edit_class("s:zp") == "s-other"
    assert edit_class("i:tt") == "i-double"
    assert edit_class("d:ab") == "d-other"
    assert edit_class("t:ab") == "t"


def test_a_learned_table_counts_edits_and_their_contexts() -> None:
    pairs = [("realy", "really")] * 3 + [("recieve", "receive"), ("Totally", "totally")]
    table = learn_table(pairs)
    assert table["pairs_used"] == 4  # a case-only difference teaches nothing
    assert table["edits"] == {"d:ll": 3}  # seen once: below the table's minimum count
    contexts = table["contexts"]
    assert isinstance(contexts, dict)
    assert contexts["ll"] == 3 and contexts["^"] == 4 and contexts["e"] == 3 + 3
    model = EditModel.from_table(table)
    assert model.log_probability("really", "realy") == pytest.approx(-0.693, abs=0.001)  # capped
    assert model.log_probability("receive", "recieve") < model.log_probability("really", "realy")


def test_a_table_of_another_version_is_refused() -> None:
    with pytest.raises(ValueError, match="version"):
        EditModel.from_table({"version": 0})


def test_the_shipped_model_knows_what_writers_do() -> None:
    model = edit_model()
    # vowels for vowels, doubled and dropped letters beat arbitrary edits of the same count
    assert model.log_probability("separate", "seperate") > model.log_probability(
        "separate", "sekarate"
    )
    assert model.log_probability("really", "realy") > model.log_probability("really", "reaty")
    assert model.log_probability("writing", "writting") > model.log_probability(
        "writing", "wribing"
    )
    # a keyboard neighbour beats a far key
    assert model.edit_log_probability("s:sa") > model.edit_log_probability("s:sp")
    # two edits cost more than either alone
    assert model.log_probability("receive", "recieve") > model.log_probability("receive", "reciev")


def test_the_likeliest_edits_explain_a_misspelling() -> None:
    model = edit_model()
    # a doubled m and a dropped t, not two unlikely substitutions (s:im, s:ti)
    assert model.likeliest_edits("omitted", "ommited")[1] == ["i:mm", "d:tt"]
    assert model.likeliest_edits("writing", "writting")[1] == ["i:tt"]
    assert model.likeliest_edits("receive", "recieve")[1] == ["t:ei"]
    assert model.likeliest_edits("same", "same") == (0.0, [])
    probability, found = model.likeliest_edits("omitted", "ommited")
    assert probability == pytest.approx(sum(model.edit_log_probability(e) for e in found))
    assert model.log_probability("omitted", "ommited") > model.log_probability(
        "committed", "ommited"
    )


@pytest.mark.parametrize(
    ("intended", "typed"),
    [
        ("omitted", "ommited"),
        ("receive", "recieve"),
        ("really", "realy"),
        ("apple", "pple"),
        ("a", "aa"),
        ("aardvark", "ardvark"),
        ("because", "becuase"),
        ("separate", "seperete"),
        ("beautiful", "butefl"),
        ("bureaucracy", "beaurocracy"),
        ("café", "cafe"),
        ("the", "teh"),
        ("abc", "cab"),
        ("same", "same"),
        ("in", "inn"),
    ],
)
def test_the_log_probability_is_that_of_the_likeliest_edits(intended: str, typed: str) -> None:
    model = edit_model()
    # the score alone, computed apart from the edits: the same float, not a close one
    assert model.log_probability(intended, typed) == model.likeliest_edits(intended, typed)[0]
