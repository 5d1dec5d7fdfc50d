"""Write the sample class to examples/essays/: each essay of sample_class.py in its own format,
plus one PDF cut off part-way. Run `python -m examples.make_sample_class` from the repository root;
the output is deterministic, so the committed files only change when the essays do."""

from __future__ import annotations

import argparse
import html
import io
import textwrap
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import docx

from examples.sample_class import BROKEN_ESSAY, ESSAYS, SampleEssay

ESSAYS_DIR = Path(__file__).resolve().parent / "essays"
_FIXED_TIME = datetime(2025, 9, 1, 8, 0, 0)
_ZIP_TIME = (2025, 9, 1, 8, 0, 0)
# The broken file keeps this share of the PDF's bytes: the header and catalog, no page content.
_BROKEN_KEEP = 0.12


def plain_text(essay: SampleEssay) -> str:
    """The essay as a .txt file: title, blank line, paragraphs separated by blank lines."""
    return "\n\n".join((essay.title, *essay.paragraphs)) + "\n"


def markdown(essay: SampleEssay) -> str:
    """The essay as Markdown with the title as a heading."""
    return "\n\n".join((f"# {essay.title}", *essay.paragraphs)) + "\n"


def html_page(essay: SampleEssay) -> str:
    """The essay as a small HTML page, the way a school web editor exports it."""
    paragraphs = "\n".join(f"    <p>{html.escape(p)}</p>" for p in essay.paragraphs)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n  <meta charset="utf-8">\n'
        f"  <title>{html.escape(essay.title)}</title>\n"
        "  <style>body { font-family: Georgia, serif; max-width: 40em; }</style>\n"
        "</head>\n<body>\n  <article>\n"
        f"    <h1>{html.escape(essay.title)}</h1>\n{paragraphs}\n"
        "  </article>\n</body>\n</html>\n"
    )


def _rtf_escape(text: str) -> str:
    out: list[str] = []
    for char in text:
        if char in "\\{}":
            out.append("\\" + char)
        elif ord(char) < 128:
            out.append(char)
        else:
            out.append("".join(f"\\'{byte:02x}" for byte in char.encode("cp1252")))
    return "".join(out)


def rtf_document(essay: SampleEssay) -> str:
    """The essay as RTF, the way WordPad saves it (Windows-1252, one \\par per line)."""
    body = "\\par\n\\par\n".join(_rtf_escape(p) for p in essay.paragraphs)
    return (
        "{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0\\fswiss\\fcharset0 Calibri;}}\n"
        "\\viewkind4\\uc1\\pard\\sa200\\sl276\\slmult1\\f0\\fs24\n"
        f"{{\\b\\fs32 {_rtf_escape(essay.title)}}}\\par\n\\par\n{body}\\par\n}}\n"
    )


def docx_document(essay: SampleEssay) -> bytes:
    """The essay as a Word document (heading and paragraphs), with fixed timestamps."""
    document = docx.Document()
    document.core_properties.author = "Student"
    document.core_properties.created = _FIXED_TIME
    document.core_properties.modified = _FIXED_TIME
    document.core_properties.last_modified_by = "Student"
    document.add_heading(essay.title, level=1)
    for paragraph in essay.paragraphs:
        document.add_paragraph(paragraph)
    buffer = io.BytesIO()
    document.save(buffer)
    return _with_fixed_zip_times(buffer.getvalue())


def _with_fixed_zip_times(package: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(package))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            info = zipfile.ZipInfo(item.filename, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(info, source.read(item.filename))
    return out.getvalue()


def _pdf_string(text: str) -> str:
    raw = text.encode("cp1252")
    escaped = []
    for byte in raw:
        char = chr(byte)
        if char in "\\()":
            escaped.append("\\" + char)
        elif 32 <= byte < 127:
            escaped.append(char)
        else:
            escaped.append(f"\\{byte:03o}")
    return "(" + "".join(escaped) + ")"


def pdf_document(essay: SampleEssay) -> bytes:
    """The essay as a one-page PDF with a real text layer (Helvetica, WinAnsi encoding)."""
    lines: list[str] = []
    for paragraph in essay.paragraphs:
        lines.extend(textwrap.wrap(paragraph, width=84))
        lines.append("")
    if len(lines) > 44:
        raise ValueError(f"{essay.file_name} does not fit on one page")
    stream = ["BT", "/F2 16 Tf", "72 770 Td", _pdf_string(essay.title) + " Tj"]
    stream += ["/F1 11 Tf", "15 TL", "0 -30 Td"]
    stream += [(_pdf_string(line) + " Tj T*") if line else "T*" for line in lines]
    stream.append("ET")
    content = "\n".join(stream).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents 6 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Title " + _pdf_string(essay.title).encode("latin-1") + b" /Producer (HuleEdu) >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 7 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def broken_pdf(essay: SampleEssay) -> bytes:
    """A PDF cut off part-way, as an interrupted download or a full USB stick leaves it."""
    whole = pdf_document(essay)
    return whole[: int(len(whole) * _BROKEN_KEEP)]


_WRITERS: dict[str, Callable[[SampleEssay], bytes]] = {
    "txt": lambda essay: plain_text(essay).encode("utf-8"),
    "md": lambda essay: markdown(essay).encode("utf-8"),
    "html": lambda essay: html_page(essay).encode("utf-8"),
    "rtf": lambda essay: rtf_document(essay).encode("ascii"),
    "docx": docx_document,
    "pdf": pdf_document,
}


def sample_files() -> dict[str, bytes]:
    """Every file of the sample class by name: the twelve essays and the broken PDF."""
    files = {essay.file_name: _WRITERS[essay.file_format](essay) for essay in ESSAYS}
    files[BROKEN_ESSAY.file_name] = broken_pdf(BROKEN_ESSAY)
    return files


def main() -> None:
    """Write (or, with --check, compare) the sample class files."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ESSAYS_DIR, help="output folder")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the files on disk differ from the script"
    )
    args = parser.parse_args()
    files = sample_files()
    if args.check:
        stale = [
            name
            for name, content in files.items()
            if not (args.out / name).exists() or (args.out / name).read_bytes() != content
        ]
        if stale:
            raise SystemExit(f"out of date: {', '.join(sorted(stale))}")
        print(f"{len(files)} files up to date in {args.out}")
        return
    args.out.mkdir(parents=True, exist_ok=True)
    for name, content in sorted(files.items()):
        (args.out / name).write_bytes(content)
        print(f"wrote {args.out / name} ({len(content)} bytes)")


if __name__ == "__main__":
    main()
