"""RTF text with striprtf, honouring the document's code page (\\ansicpg, \\fcharset)."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from striprtf.striprtf import rtf_to_text as _untyped_rtf_to_text

from services.file_service.domain.errors import FileRejectedError, RejectionCode

rtf_to_text = cast(Callable[..., str], _untyped_rtf_to_text)


def extract_rtf(content: bytes) -> str:
    """The document's text; table cells come out separated by "|" as striprtf writes them."""
    # RTF is 7-bit with \\'xx escapes; the odd raw 8-bit byte is taken as Windows-1252 (the RTF
    # default code page). Decoding 8-bit bytes through latin-1 first would lose nothing either.
    try:
        source = content.decode("utf-8")
    except UnicodeDecodeError:
        source = (
            content.decode("cp1252", errors="strict")
            if _cp1252_ok(content)
            else (content.decode("latin-1"))
        )
    try:
        return rtf_to_text(source, encoding="cp1252", errors="strict")
    except (UnicodeDecodeError, LookupError, ValueError, IndexError, RecursionError) as error:
        raise FileRejectedError(
            RejectionCode.CORRUPT_FILE,
            f"The RTF file cannot be read ({type(error).__name__}: {str(error)[:120]}); save it "
            "again from the word processor and re-upload.",
        ) from None


def _cp1252_ok(content: bytes) -> bool:
    try:
        content.decode("cp1252")
    except UnicodeDecodeError:
        return False
    return True
