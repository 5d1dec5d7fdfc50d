"""Format detection by content (magic bytes); the file name's extension only breaks ties."""

from __future__ import annotations

import io
import re
import zipfile
from enum import StrEnum

from services.file_service.domain.errors import FileRejectedError, RejectionCode


class DocumentFormat(StrEnum):
    """The formats the File Service reads."""

    PDF = "pdf"
    DOCX = "docx"
    RTF = "rtf"
    HTML = "html"
    MARKDOWN = "md"
    TEXT = "txt"


MEDIA_TYPES: dict[DocumentFormat, str] = {
    DocumentFormat.PDF: "application/pdf",
    DocumentFormat.DOCX: (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    ),
    DocumentFormat.RTF: "application/rtf",
    DocumentFormat.HTML: "text/html",
    DocumentFormat.MARKDOWN: "text/markdown",
    DocumentFormat.TEXT: "text/plain",
}
UNKNOWN_MEDIA_TYPE = "application/octet-stream"

_BINARY_EXTENSIONS = {"pdf": "PDF", "docx": "Word (.docx)"}
_HTML_EXTENSIONS = {"html", "htm", "xhtml"}
_MARKDOWN_EXTENSIONS = {"md", "markdown"}
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_OOXML = "EncryptedPackage".encode("utf-16-le")
# Signatures of common files that are not essays, with a name a teacher recognises.
_FOREIGN_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"MZ", "a Windows program"),
    (b"\x7fELF", "a Linux program"),
    (b"\xca\xfe\xba\xbe", "a macOS program"),
    (b"\xcf\xfa\xed\xfe", "a macOS program"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"RIFF", "a media file (RIFF)"),
    (b"OggS", "an audio file"),
    (b"ID3", "an MP3 file"),
    (b"fLaC", "an audio file"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"BZh9", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"SQLite format 3\x00", "a database file"),
    (b"wOFF", "a font file"),
    (b"%!PS", "a PostScript file"),
)
_HTML_START = re.compile(
    rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b",
    re.IGNORECASE | re.DOTALL,
)
_RTF_START = re.compile(rb"^\s*\{\\rtf")
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_PDF_SYNTAX = re.compile(rb"\d+\s+\d+\s+obj\b|\bstartxref\b|%%EOF")
_MAX_CONTROL_SHARE = 0.02


def file_extension(file_name: str) -> str:
    """The lowercased extension of the name's last path component ("" if none); a name is data."""
    base = re.split(r"[/\\]", file_name)[-1]
    if "." not in base.strip("."):
        return ""
    extension = base.rsplit(".", 1)[1].strip().lower()
    return extension if extension.isalnum() and len(extension) <= 10 else ""


def detect_format(content: bytes, file_name: str) -> DocumentFormat:
    """The format of `content`, judged by its bytes; raises FileRejectedError if unreadable."""
    extension = file_extension(file_name)
    head = content[:1024]
    if b"%PDF-" in head:
        return DocumentFormat.PDF
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_format(content, extension)
    if head.startswith(_OLE2):
        return _ole2_format(content)
    body = _without_bom(head)
    if _RTF_START.match(body):
        return DocumentFormat.RTF
    text_like = _looks_like_text(head)
    for signature, what in _FOREIGN_SIGNATURES:
        # Printable signatures (MZ, ID3, ...) could begin a real text: only binary ones count.
        if head.startswith(signature) and (not text_like or signature == b"%!PS"):
            raise FileRejectedError(
                RejectionCode.UNSUPPORTED_FORMAT,
                f"The file is {what}, not a document; upload the essay as .docx, .pdf, .txt, "
                ".rtf, .html or .md.",
            )
    if extension == "pdf" and text_like and _PDF_SYNTAX.search(content[:65536]):
        return DocumentFormat.PDF  # PDF objects without a header: let the PDF reader judge
    if extension in _BINARY_EXTENSIONS and not text_like:
        raise FileRejectedError(
            RejectionCode.CORRUPT_FILE,
            f"The file is named .{extension} but its bytes are not a "
            f"{_BINARY_EXTENSIONS[extension]} file; it may be damaged. Save it again and "
            "re-upload.",
        )
    if not text_like:
        raise FileRejectedError(
            RejectionCode.UNSUPPORTED_FORMAT,
            "The file holds binary data, not text or a known document format; upload the essay "
            "as .docx, .pdf, .txt, .rtf, .html or .md.",
        )
    if extension in _HTML_EXTENSIONS or _HTML_START.match(body):
        return DocumentFormat.HTML
    if extension in _MARKDOWN_EXTENSIONS:
        return DocumentFormat.MARKDOWN
    return DocumentFormat.TEXT


def _without_bom(head: bytes) -> bytes:
    for bom in _BOMS:
        if head.startswith(bom):
            return head[len(bom) :]
    return head


def _looks_like_text(head: bytes) -> bool:
    if head.startswith(_BOMS):
        return True
    if b"\x00" in head:
        return False
    controls = sum(1 for byte in head if byte < 0x20 and byte not in b"\t\n\r\f\x1b")
    return controls <= len(head) * _MAX_CONTROL_SHARE


def _zip_format(content: bytes, extension: str) -> DocumentFormat:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        if extension == "docx":
            raise FileRejectedError(
                RejectionCode.CORRUPT_FILE,
                f"The .docx file is damaged ({error}); open it in Word, save it again and "
                "re-upload.",
            ) from None
        raise FileRejectedError(
            RejectionCode.UNSUPPORTED_FORMAT,
            "The file is a damaged ZIP archive, not a document.",
        ) from None
    if "[Content_Types].xml" in names and any(name.startswith("word/") for name in names):
        return DocumentFormat.DOCX
    if extension == "docx":
        raise FileRejectedError(
            RejectionCode.CORRUPT_FILE,
            "The file is named .docx but has no Word document inside; save it again as .docx.",
        )
    what = "an OpenDocument file" if "mimetype" in names else "a ZIP archive"
    raise FileRejectedError(
        RejectionCode.UNSUPPORTED_FORMAT,
        f"The file is {what}, not a format the File Service reads; save the essay as .docx or "
        ".pdf.",
    )


def _ole2_format(content: bytes) -> DocumentFormat:
    if _ENCRYPTED_OOXML in content:
        raise FileRejectedError(
            RejectionCode.ENCRYPTED_FILE_UNSUPPORTED,
            "The Word document is protected with a password; remove the password and re-upload.",
        )
    raise FileRejectedError(
        RejectionCode.UNSUPPORTED_FORMAT,
        "The file is an old Office 97-2003 document (.doc, .xls or .ppt); save it as .docx or "
        ".pdf and re-upload.",
    )
