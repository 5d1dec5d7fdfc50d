"""The fixed file set of the end-to-end benchmark: corpus essays in name order, most as .txt and
some rendered as .html, .rtf and .docx, so every batch mixes formats."""

from __future__ import annotations

import html
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

from tests.harness.spellcheck_common import read_essays

# Of every 25 files: 19 .txt, 2 .html, 2 .rtf, 2 .docx.
_FORMAT_OF_POSITION = {3: "html", 9: "rtf", 14: "docx", 17: "html", 20: "rtf", 23: "docx"}


@dataclass(frozen=True)
class BenchFile:
    """One upload: its name, bytes, and the essay text it carries."""

    name: str
    content: bytes
    text: str
    format: str


def _as_html(text: str) -> bytes:
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n") if p.strip())
    page = f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{paragraphs}</body>'
    return (page + "</html>").encode()


def _as_rtf(text: str) -> bytes:
    def escape(ch: str) -> str:
        if ch in "\\{}":
            return "\\" + ch
        if ch == "\n":
            return "\\par\n"
        return ch if ord(ch) < 128 else f"\\u{ord(ch) if ord(ch) < 32768 else ord(ch) - 65536}?"

    return ("{\\rtf1\\ansi\\deff0 " + "".join(escape(ch) for ch in text) + "}").encode("ascii")


def _as_docx(text: str) -> bytes:
    body = "".join(
        f'<w:p><w:r><w:t xml:space="preserve">{html.escape(p)}</w:t></w:r></w:p>'
        for p in text.split("\n")
        if p.strip()
    )
    ns = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    rels_ns = "http://schemas.openxmlformats.org/package/2006/relationships"
    doc_type = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
    main = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
            'package/2006/content-types"><Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
            f'ContentType="application/xml"/><Override PartName="/word/document.xml" '
            f'ContentType="{main}"/></Types>'
        ),
        "_rels/.rels": (
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{rels_ns}">'
            f'<Relationship Id="rId1" Type="{doc_type}" Target="word/document.xml"/>'
            "</Relationships>"
        ),
        "word/document.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><w:document {ns}><w:body>{body}'
            "</w:body></w:document>"
        ),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, xml in parts.items():
            archive.writestr(name, xml)
    return buffer.getvalue()


def _as_txt(text: str) -> bytes:
    return text.encode("utf-8")


_RENDER: dict[str, Callable[[str], bytes]] = {
    "txt": _as_txt,
    "html": _as_html,
    "rtf": _as_rtf,
    "docx": _as_docx,
}


def bench_batches(batches: int, size: int = 25) -> list[list[BenchFile]]:
    """`batches` batches of `size` files from the first essays of the corpus, always the same."""
    essays = read_essays(batches * size)
    result: list[list[BenchFile]] = []
    for b in range(batches):
        files = []
        for position, (name, text) in enumerate(essays[b * size : (b + 1) * size]):
            fmt = _FORMAT_OF_POSITION.get(position, "txt")
            stem = name.removesuffix(".txt")
            files.append(BenchFile(f"{stem}.{fmt}", _RENDER[fmt](text), text, fmt))
        result.append(files)
    return result
