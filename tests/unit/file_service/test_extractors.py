"""Each extractor on small documents built here (the corpus tests cover real files)."""

from __future__ import annotations

import io
import zipfile

import docx
import pytest

from services.file_service.domain.errors import FileRejectedError, RejectionCode
from services.file_service.domain.extract_docx import DocxLimits, extract_docx
from services.file_service.domain.extract_markup import extract_html, extract_markdown
from services.file_service.domain.extract_pdf import extract_pdf
from services.file_service.domain.extract_rtf import extract_rtf
from services.file_service.domain.extraction import ExtractionLimits, process_upload
from services.file_service.domain.text import normalise_text
from tests.unit.file_service.catalogue import corpus_bytes, zip_bomb_docx


def _docx_bytes(document: docx.document.Document) -> bytes:
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_docx_paragraphs_and_tables_in_order() -> None:
    document = docx.Document()
    document.add_paragraph("First paragraph.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "a1"
    table.cell(0, 1).text = "b1"
    table.cell(1, 0).text = "a2"
    table.cell(1, 1).text = "b2"
    paragraph = document.add_paragraph("Second ")
    paragraph.add_run("paragraph").bold = True
    paragraph.add_run(" with\ttab.")

    text = extract_docx(_docx_bytes(document), DocxLimits())

    assert normalise_text(text) == "First paragraph.\na1\tb1\na2\tb2\nSecond paragraph with\ttab.\n"


def test_docx_text_box_is_read_once() -> None:
    text = extract_docx(corpus_bytes("docx/mammoth_text-box.docx"), DocxLimits())
    assert text.count("Datum plane") == 1


def test_docx_zip_bomb_is_refused_before_inflating() -> None:
    with pytest.raises(FileRejectedError) as raised:
        extract_docx(zip_bomb_docx(), DocxLimits())
    assert raised.value.code is RejectionCode.FILE_TOO_LARGE
    assert "zip bomb" in raised.value.detail


def test_docx_over_the_absolute_limit_is_refused_even_at_a_low_ratio() -> None:
    document = docx.Document()
    document.add_paragraph("word " * 2000)
    data = _docx_bytes(document)
    with pytest.raises(FileRejectedError) as raised:
        extract_docx(data, DocxLimits(max_unzipped_bytes=10_000))
    assert raised.value.code is RejectionCode.FILE_TOO_LARGE


def test_docx_strict_ooxml_main_part_is_found_by_content_type() -> None:
    body = (
        '<w:document xmlns:w="http://purl.oclc.org/ooxml/wordprocessingml/main">'
        "<w:body><w:p><w:r><w:t>Strict text</w:t></w:r></w:p></w:body></w:document>"
    )
    types = (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Override PartName="/word/main.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.wordprocessingml.document.main+xml"/></Types>'
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", types)
        archive.writestr("word/main.xml", body)
    assert extract_docx(buffer.getvalue(), DocxLimits()) == "Strict text"


def test_html_visible_text_only() -> None:
    page = b"""<!DOCTYPE html><html><head><title>Tab title</title>
    <style>p { color: red }</style><script>var x = "<p>not text</p>";</script></head>
    <body><!-- a comment --><h1>My&nbsp;Essay</h1>
    <p>Fish &amp; chips are <b>great</b>,<br>really.</p>
    <div hidden>secret</div><div style="display: none">also secret</div>
    <noscript>enable js</noscript><template><p>template</p></template>
    <ul><li>one</li><li>two</li></ul>
    <table><tr><td>a</td><td>b</td></tr></table></body></html>"""

    text = normalise_text(extract_html(page))

    assert text == "My\u00a0Essay\n\nFish & chips are great,\nreally.\n\none\ntwo\n\na\tb\n"


def test_markdown_without_markup() -> None:
    source = "# Title\n\nSome *emphasis* and `code` and a [link](http://x).\n\n- item\n- item 2\n"
    text = normalise_text(extract_markdown(source))
    assert text == "Title\n\nSome emphasis and code and a link.\n\nitem\nitem 2\n"


def test_rtf_with_code_page_escapes() -> None:
    rtf = rb"{\rtf1\ansi\ansicpg1252 Gr\'fc\'dfe aus K\'f6ln\par Zweite Zeile}"
    assert normalise_text(extract_rtf(rtf)) == "Grüße aus Köln\nZweite Zeile\n"


@pytest.mark.parametrize(
    "name",
    [
        "pypdf_r3-empty-password.pdf",
        "pypdf_r4-owner-password.pdf",
        "pypdf_r6-empty-password.pdf",
        "pypdf_r6-user-password.pdf",
        "pdfminer_kampo.pdf",
    ],
)
def test_pdf_encrypted_with_an_empty_user_password_is_read(name: str) -> None:
    assert extract_pdf(corpus_bytes(f"pdf/{name}")).text.strip()


@pytest.mark.parametrize(
    "name",
    [
        "sf005_libreoffice-writer-password.pdf",
        "pdfminer_rc4-128.pdf",
        "pikepdf_graph-encrypted.pdf",
    ],
)
def test_pdf_with_a_real_password_is_refused(name: str) -> None:
    with pytest.raises(FileRejectedError) as raised:
        extract_pdf(corpus_bytes(f"pdf/{name}"))
    assert raised.value.code is RejectionCode.ENCRYPTED_FILE_UNSUPPORTED


def test_pdf_pages_in_order() -> None:
    text = extract_pdf(corpus_bytes("pdf/sf004_pdflatex-4-pages.pdf")).text
    pages = text.split("\n\n")
    assert len(pages) >= 4
    assert text.index(pages[1]) < text.index(pages[3])


def test_a_long_pdf_is_read_only_until_it_is_too_long() -> None:
    content = corpus_bytes("pdf/sf004_pdflatex-4-pages.pdf")
    whole = extract_pdf(content)
    cut = extract_pdf(content, word_budget=100)

    assert not whole.over_budget and cut.over_budget
    assert len(cut.text) < len(whole.text)
    outcome = process_upload(content, "x.pdf", ExtractionLimits(max_words=100))
    assert outcome.rejection is RejectionCode.CONTENT_TOO_LONG
    assert "more than 100 words" in outcome.detail


@pytest.mark.parametrize("ending", ["", "\n", "  \n\n\n"])
def test_clean_plain_text_is_its_own_text_byte_for_byte(ending: str) -> None:
    essay = ("My summer holiday was long and warm, and I read many books. \n" * 5).strip() + ending
    outcome = process_upload(essay.encode(), "essay.txt", ExtractionLimits())
    assert outcome.text == essay


def test_plain_text_that_is_not_normal_is_normalised() -> None:
    essay = (
        "I read many books in the summer holiday, and wrote about them. " * 5
    ) + "  \r\n\r\n\r\n"
    outcome = process_upload(essay.encode(), "essay.txt", ExtractionLimits())
    assert outcome.text == essay.rstrip() + "\n"
