"""Format detection judges the bytes; the extension only breaks ties."""

from __future__ import annotations

import io
import zipfile

import pytest

from services.file_service.domain.errors import FileRejectedError, RejectionCode
from services.file_service.domain.formats import DocumentFormat, detect_format, file_extension
from tests.unit.file_service.catalogue import corpus_bytes


def _zip(**members: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in members.items():
            archive.writestr(name.replace("__", "/"), text)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("essay.PDF", "pdf"),
        ("a/b/c.docx", "docx"),
        ("..\\..\\x.Txt", "txt"),
        ("no_extension", ""),
        (".hidden", ""),
        ("weird.", ""),
        ("essay.tar.gz", "gz"),
        ("name.with spaces", ""),
    ],
)
def test_file_extension_is_taken_from_the_last_name_component(name: str, expected: str) -> None:
    assert file_extension(name) == expected


def test_a_txt_that_is_really_a_pdf_is_read_as_pdf() -> None:
    pdf = corpus_bytes("pdf/sf001_minimal-document.pdf")
    assert detect_format(pdf, "essay.txt") is DocumentFormat.PDF


def test_a_pdf_header_after_leading_junk_is_still_a_pdf() -> None:
    pdf = corpus_bytes("pdf/sf001_minimal-document.pdf")
    assert detect_format(b"\r\n  junk\n" + pdf, "x.bin") is DocumentFormat.PDF


def test_docx_by_content_whatever_its_name() -> None:
    docx = corpus_bytes("docx/textract_raw_text.docx")
    assert detect_format(docx, "essay.txt") is DocumentFormat.DOCX
    assert detect_format(docx, "essay") is DocumentFormat.DOCX


def test_other_zip_files_are_unsupported() -> None:
    odt = _zip(mimetype="application/vnd.oasis.opendocument.text", content__xml="<x/>")
    with pytest.raises(FileRejectedError) as raised:
        detect_format(odt, "essay.odt")
    assert raised.value.code is RejectionCode.UNSUPPORTED_FORMAT
    assert "OpenDocument" in raised.value.detail


def test_rtf_html_markdown_and_text() -> None:
    assert detect_format(b"{\\rtf1\\ansi hello}", "x.txt") is DocumentFormat.RTF
    assert detect_format(b"\xef\xbb\xbf{\\rtf1 hello}", "x") is DocumentFormat.RTF
    assert detect_format(b"<!DOCTYPE html><p>x</p>", "x.txt") is DocumentFormat.HTML
    assert detect_format(b"  <html><body>x</body></html>", "x") is DocumentFormat.HTML
    assert detect_format(b"<p>fragment</p>", "page.htm") is DocumentFormat.HTML
    assert detect_format(b"# Title\n\ntext", "notes.md") is DocumentFormat.MARKDOWN
    assert detect_format(b"# Title\n\ntext", "notes.txt") is DocumentFormat.TEXT
    assert detect_format("Grüße".encode("utf-16"), "x.txt") is DocumentFormat.TEXT


def test_a_real_text_named_pdf_is_read_as_text() -> None:
    assert detect_format(b"My essay about summer.", "essay.pdf") is DocumentFormat.TEXT


def test_pdf_objects_without_a_header_are_handed_to_the_pdf_reader() -> None:
    assert detect_format(corpus_bytes("pdf/qpdf_issue-141a.pdf"), "x.pdf") is DocumentFormat.PDF


def test_text_starting_with_a_printable_signature_is_still_text() -> None:
    assert detect_format(b"MZ is how my friend signs her name.", "x.txt") is DocumentFormat.TEXT
    assert detect_format(b"ID3 was the third draft.", "x.txt") is DocumentFormat.TEXT
