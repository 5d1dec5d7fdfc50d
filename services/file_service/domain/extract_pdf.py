"""PDF text with pypdf: every page in order, encrypted files opened with the empty password."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

from pypdf import PasswordType, PdfReader
from pypdf.errors import PyPdfError
from pypdf.generic import DictionaryObject

from services.file_service.domain.errors import FileRejectedError, RejectionCode
from services.file_service.domain.text import count_words

# What pypdf raises on malformed input besides its own errors.
_PARSE_ERRORS = (
    PyPdfError,
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    IndexError,
    AssertionError,
    RecursionError,
    OverflowError,
    struct.error,
    zlib.error,
)
_MAX_FORM_DEPTH = 3


@dataclass(frozen=True)
class PdfText:
    """The text of a PDF, whether its pages carry images (a hint that it was scanned), and
    whether reading stopped early because the text was already over the word budget."""

    text: str
    has_images: bool
    over_budget: bool = False


def extract_pdf(content: bytes, word_budget: int | None = None) -> PdfText:
    """The text of every page, pages separated by a blank line; once the text passes
    `word_budget` words the remaining pages are not read (the essay is too long anyway)."""
    try:
        reader = PdfReader(io.BytesIO(content), strict=False)
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise FileRejectedError(
                RejectionCode.ENCRYPTED_FILE_UNSUPPORTED,
                "The PDF is protected with a password; save a copy without the password and "
                "re-upload.",
            )
        pages = list(reader.pages)
        if not pages:
            raise FileRejectedError(
                RejectionCode.CORRUPT_FILE, "The PDF has no pages; it may be damaged."
            )
        texts: list[str] = []
        words = 0
        for page in pages:
            texts.append((page.extract_text() or "").strip())
            words += count_words(texts[-1])
            if word_budget is not None and words > word_budget:
                break
        over_budget = word_budget is not None and words > word_budget
        has_images = any(_has_images(page, 0) for page in pages[: len(texts)])
    except FileRejectedError:
        raise
    except _PARSE_ERRORS as error:
        raise FileRejectedError(
            RejectionCode.CORRUPT_FILE,
            f"The PDF cannot be read ({type(error).__name__}: {str(error)[:120]}); it may be "
            "damaged. Export it again from the original document and re-upload.",
        ) from None
    text = "\n\n".join(page_text for page_text in texts if page_text)
    if not text.strip() and has_images:
        raise FileRejectedError(
            RejectionCode.NO_TEXT_LAYER,
            "The PDF holds only images (a scan without text recognition); upload the original "
            "document, or run OCR on the scan first.",
        )
    return PdfText(text=text, has_images=has_images, over_budget=over_budget)


def _has_images(node: DictionaryObject, depth: int) -> bool:
    resources = node.get("/Resources")
    resources = resources.get_object() if resources is not None else None
    if not isinstance(resources, DictionaryObject):
        return False
    xobjects = resources.get("/XObject")
    xobjects = xobjects.get_object() if xobjects is not None else None
    if not isinstance(xobjects, DictionaryObject):
        return False
    for reference in xobjects.values():
        xobject = reference.get_object()
        if not isinstance(xobject, DictionaryObject):
            continue
        subtype = xobject.get("/Subtype")
        if subtype == "/Image":
            return True
        if subtype == "/Form" and depth < _MAX_FORM_DEPTH and _has_images(xobject, depth + 1):
            return True
    return False
