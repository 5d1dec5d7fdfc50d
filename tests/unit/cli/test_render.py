"""Tables, corrections in place, and the progress line."""

from __future__ import annotations

import io

from huleedu.common.v1.common_pb2 import Correction
from services.cli.render import (
    ProgressLine,
    apply_corrections,
    format_table,
    highlight_corrections,
    highlight_word_diff,
    print_note,
)


def test_columns_are_padded_and_long_cells_cut() -> None:
    table = format_table(("A", "B", "LAST"), [("x", "y" * 10, "z" * 80)], max_width=6)
    header, row = table.splitlines()
    assert header == "A  B       LAST"
    assert row == "x  yyyyy…  " + "z" * 80  # the last column is never cut


def test_corrections_are_marked_in_place_with_code_point_offsets() -> None:
    original = "Café: I recieve it becuase."
    corrections = [
        Correction(offset=19, length=7, original="becuase", replacement="because"),
        Correction(offset=8, length=7, original="recieve", replacement="receive"),
    ]
    assert apply_corrections(original, corrections) == "Café: I receive it because."
    assert highlight_corrections(original, corrections, color=False) == (
        "Café: I [-recieve-]{+receive+} it [-becuase-]{+because+}."
    )
    coloured = highlight_corrections(original, corrections, color=True)
    assert "\x1b[31;9mrecieve\x1b[0m\x1b[32;1mreceive\x1b[0m" in coloured


def test_a_word_diff_covers_changes_the_corrections_do_not_explain() -> None:
    marked = highlight_word_diff("one twoo three", "one two three", color=False)
    assert marked == "one [-twoo-]{+two+} three"


class FakeTerminal(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_progress_is_rewritten_in_place_on_a_terminal() -> None:
    terminal = FakeTerminal(tty=True)
    line = ProgressLine(terminal)
    line.show("a")
    line.show("b")
    line.finish()
    text = terminal.getvalue()
    assert text.startswith("\ra") and "\rb" in text and text.endswith("\n")


def test_progress_is_printed_only_when_it_changes_elsewhere() -> None:
    log = FakeTerminal(tty=False)
    line = ProgressLine(log)
    for state in ("a", "a", "b"):
        line.show(state)
    line.finish()
    assert [row.split()[0] for row in log.getvalue().splitlines()] == ["a", "b"]
    quiet = FakeTerminal(tty=False)
    ProgressLine(quiet, enabled=False).show("a")
    assert quiet.getvalue() == ""


def test_a_note_on_a_terminal_clears_the_progress_line_first() -> None:
    terminal = FakeTerminal(tty=True)
    line = ProgressLine(terminal)
    line.show("a")
    print_note(terminal, "huleedu: File Service answers again")
    assert terminal.getvalue().endswith("\r\x1b[Khuleedu: File Service answers again\n")
    log = FakeTerminal(tty=False)
    print_note(log, "note")
    assert log.getvalue() == "note\n"
