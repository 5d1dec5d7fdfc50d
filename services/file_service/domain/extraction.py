"""From an uploaded file's bytes to validated essay text, or the reason it is refused.

`process_upload` is the CPU-bound part of an upload; it runs in a worker process (see
adapters/extraction_pool.py), so it takes and returns only plain, picklable values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.file_service.domain.errors import FileRejectedError, RejectionCode
from services.file_service.domain.extract_docx import DocxLimits, extract_docx
from services.file_service.domain.extract_markup import extract_html, extract_markdown
from services.file_service.domain.extract_pdf import extract_pdf
from services.file_service.domain.extract_rtf import extract_rtf
from services.file_service.domain.formats import DocumentFormat, detect_format
from services.file_service.domain.text import count_words, is_clean_text, normalise_text
from services.file_service.domain.text_decoding import decode_text


@dataclass(frozen=True)
class ExtractionLimits:
    """Word limits for an essay and expansion limits for packaged formats."""

    min_words: int = 25
    max_words: int = 10_000
    docx: DocxLimits = field(default_factory=DocxLimits)


@dataclass(frozen=True)
class ExtractionOutcome:
    """Accepted text with its word count, or the rejection code and a sentence saying why."""

    detected_format: str
    text: str = ""
    word_count: int = 0
    rejection: RejectionCode | None = None
    detail: str = ""

    @property
    def accepted(self) -> bool:
        """True when the text may become an essay."""
        return self.rejection is None


def rejected(code: RejectionCode, detail: str, detected_format: str = "") -> ExtractionOutcome:
    """An outcome that refuses the file."""
    return ExtractionOutcome(detected_format=detected_format, rejection=code, detail=detail)


@dataclass(frozen=True)
class ExtractedText:
    """Text as an extractor produced it, and whether the source looked scanned."""

    document_format: DocumentFormat
    text: str
    scanned: bool = False
    over_budget: bool = False


def extract_text(
    content: bytes,
    document_format: DocumentFormat,
    docx_limits: DocxLimits,
    word_budget: int | None = None,
) -> ExtractedText:
    """The plain text (not yet normalised) of a file of a detected format; a long PDF is read
    only until it passes `word_budget` words."""
    if document_format is DocumentFormat.PDF:
        pdf = extract_pdf(content, word_budget)
        return ExtractedText(
            document_format, pdf.text, scanned=pdf.has_images, over_budget=pdf.over_budget
        )
    if document_format is DocumentFormat.DOCX:
        return ExtractedText(document_format, extract_docx(content, docx_limits))
    if document_format is DocumentFormat.RTF:
        return ExtractedText(document_format, extract_rtf(content))
    if document_format is DocumentFormat.HTML:
        return ExtractedText(document_format, extract_html(content))
    text = decode_text(content)
    if document_format is DocumentFormat.MARKDOWN:
        text = extract_markdown(text)
    return ExtractedText(document_format, text)


def process_upload(content: bytes, file_name: str, limits: ExtractionLimits) -> ExtractionOutcome:
    """Extract and validate one uploaded file: accepted text, or a rejection with its code."""
    if not content:
        return rejected(RejectionCode.EMPTY_CONTENT, "The file is empty (0 bytes).")
    try:
        document_format = detect_format(content, file_name)
    except FileRejectedError as error:
        return rejected(error.code, error.detail)
    try:
        extracted = extract_text(content, document_format, limits.docx, limits.max_words)
    except FileRejectedError as error:
        return rejected(error.code, error.detail, document_format.value)
    return validate_text(extracted, limits)


def validate_text(extracted: ExtractedText, limits: ExtractionLimits) -> ExtractionOutcome:
    """Normalise extracted text and apply the word limits. A .txt upload whose text needs no
    repair (see is_clean_text) is kept as it is, blank lines and spaces included: its text is
    then its very bytes, which the Content Service stores once (same SHA-256, same storage id)."""
    clean = extracted.document_format is DocumentFormat.TEXT and is_clean_text(extracted.text)
    text = extracted.text if clean else normalise_text(extracted.text)
    words = count_words(text)
    fmt = extracted.document_format.value
    if words == 0:
        return rejected(
            RejectionCode.EMPTY_CONTENT,
            "The file contains no words; check that the right file was uploaded.",
            fmt,
        )
    if words < limits.min_words:
        if extracted.scanned:
            return rejected(
                RejectionCode.NO_TEXT_LAYER,
                f"The PDF is mostly images with only {words} words of text (a scan without "
                "text recognition); upload the original document, or run OCR on the scan first.",
                fmt,
            )
        return rejected(
            RejectionCode.CONTENT_TOO_SHORT,
            f"The text has {words} words; an essay needs at least {limits.min_words}.",
            fmt,
        )
    if words > limits.max_words:
        counted = f"more than {limits.max_words}" if extracted.over_budget else str(words)
        return rejected(
            RejectionCode.CONTENT_TOO_LONG,
            f"The text has {counted} words; an essay may have at most {limits.max_words}.",
            fmt,
        )
    return ExtractionOutcome(detected_format=fmt, text=text, word_count=words)
