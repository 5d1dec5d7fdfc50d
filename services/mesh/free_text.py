"""The rule for free text a client sends (file names, titles, references): at most a number of
bytes in UTF-8 and no control characters. Pure: domains use it, and every service answers the
same problem with the same words.

Control characters are Unicode's Cc (C0 and C1 controls, NUL and DEL among them) and the
bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), which make a
name read differently from what it holds. Marks such as the zero-width joiner, which names in many
scripts need, are allowed.
"""

from __future__ import annotations

import unicodedata

MAX_NAME_BYTES = 255
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def text_problem(value: str, *, max_bytes: int = MAX_NAME_BYTES) -> str | None:
    """What is wrong with `value` as free text, said so a client can fix it; None when nothing.

    The problem reads after the field's name, e.g. "file_name " + problem."""
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        return f"is {size} bytes long in UTF-8; at most {max_bytes} are allowed"
    for position, char in enumerate(value):
        if unicodedata.category(char) in ("Cc", "Cs") or char in _BIDI_CONTROLS:
            name = unicodedata.name(char, "a control character")
            return (
                f"holds U+{ord(char):04X} ({name.lower()}) at character {position + 1}; control "
                "and bidirectional-override characters are not allowed"
            )
    return None
