"""A catalogue of hostile and broken uploads, each with the code it must get. Built in code (or
read from the shared corpus), shared by the unit tests and the gRPC integration tests."""

from __future__ import annotations

import io
import random
import zipfile
from dataclasses import dataclass
from functools import cache

from tests.support import CORPUS

ACCEPTED = "ACCEPTED"
_MIB = 1024 * 1024


@dataclass(frozen=True)
class BadInput:
    """An upload and the outcome it must get: a rejection code, or ACCEPTED."""

    label: str
    file_name: str
    content: bytes
    expected: str


def corpus_bytes(relative: str) -> bytes:
    """A file of the shared corpus."""
    return (CORPUS / relative).read_bytes()


def essay(number: int = 1) -> bytes:
    """A real student essay (UTF-8) from the corpus."""
    return corpus_bytes(f"essays/e{number:04d}.txt")


def zip_bomb_docx(unzipped_bytes: int = 60 * _MIB) -> bytes:
    """A .docx-shaped zip whose document part inflates to `unzipped_bytes` of spaces."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b" " * unzipped_bytes)
    return buffer.getvalue()


def docx_without_document() -> bytes:
    """A zip named .docx with no Word document inside."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "not a word document")
    return buffer.getvalue()


def docx_with_entity_bomb() -> bytes:
    """A .docx whose document declares nested entities (a billion laughs)."""
    entities = '<!ENTITY a0 "lol">' + "".join(
        f'<!ENTITY a{i} "{("&a" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    )
    document = (
        f'<?xml version="1.0"?><!DOCTYPE w:document [{entities}]>'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        "<w:body><w:p><w:r><w:t>&a9;</w:t></w:r></w:p></w:body></w:document>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", document)
    return buffer.getvalue()


def windows_program() -> bytes:
    """The start of a Windows executable."""
    header = bytearray(b"MZ" + b"\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00")
    header += b"\x00" * 48 + b"This program cannot be run in DOS mode.\r\r\n$" + b"\x00" * 200
    return bytes(header)


def legacy_word_document(encrypted: bool) -> bytes:
    """An OLE2 compound file: an old .doc, or a password-protected .docx."""
    name = "EncryptedPackage" if encrypted else "WordDocument"
    return (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + b"\x00" * 504
        + name.encode("utf-16-le")
        + b"\x00" * 64
    )


def long_essay(words: int) -> bytes:
    """An essay of about `words` words, made of real essays."""
    parts: list[bytes] = []
    count, number = 0, 1
    while count < words:
        text = essay(number)
        parts.append(text)
        count += len(text.split())
        number += 1
    return b"\n\n".join(parts)


@cache
def bad_inputs() -> tuple[BadInput, ...]:
    """The catalogue (all codes at the default limits: 25 to 10,000 words)."""
    pdf = corpus_bytes("pdf/sf001_minimal-document.pdf")
    swedish = "Ärligt talat tycker jag att skolan är viktig för alla elever. ".encode()
    return (
        BadInput("zero bytes", "empty.txt", b"", "EMPTY_CONTENT"),
        BadInput("only whitespace", "blank.txt", b" \n\t\r\n   \n" * 50, "EMPTY_CONTENT"),
        BadInput("three words", "short.txt", b"Three words only.", "CONTENT_TOO_SHORT"),
        BadInput("far over the word limit", "long.txt", long_essay(12_000), "CONTENT_TOO_LONG"),
        BadInput(
            "random bytes named .pdf",
            "essay.pdf",
            random.Random(3).randbytes(4096),
            "CORRUPT_FILE",
        ),
        BadInput("truncated PDF", "truncated.pdf", pdf[: len(pdf) // 2], "CORRUPT_FILE"),
        BadInput(
            "PDF with no header or root",
            "damaged.pdf",
            corpus_bytes("pdf/qpdf_issue-141a.pdf"),
            "CORRUPT_FILE",
        ),
        BadInput(
            "encrypted PDF",
            "secret.pdf",
            corpus_bytes("pdf/sf005_libreoffice-writer-password.pdf"),
            "ENCRYPTED_FILE_UNSUPPORTED",
        ),
        BadInput(
            "scanned PDF without text layer",
            "scan.pdf",
            corpus_bytes("pdf/pikepdf_congress.pdf"),
            "NO_TEXT_LAYER",
        ),
        BadInput("zip bomb .docx", "bomb.docx", zip_bomb_docx(), "FILE_TOO_LARGE"),
        BadInput("zip without a document", "essay.docx", docx_without_document(), "CORRUPT_FILE"),
        BadInput(
            "truncated .docx",
            "cut.docx",
            corpus_bytes("docx/textract_raw_text.docx")[:5000],
            "CORRUPT_FILE",
        ),
        BadInput(
            "password-protected .docx",
            "locked.docx",
            legacy_word_document(encrypted=True),
            "ENCRYPTED_FILE_UNSUPPORTED",
        ),
        BadInput("old Word .doc", "old.doc", legacy_word_document(False), "UNSUPPORTED_FORMAT"),
        BadInput(".exe renamed .txt", "essay.txt", windows_program(), "UNSUPPORTED_FORMAT"),
        BadInput(
            "PNG renamed .docx",
            "photo.docx",
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 100,
            "UNSUPPORTED_FORMAT",
        ),
        BadInput(
            "binary noise named .txt",
            "noise.txt",
            random.Random(4).randbytes(4096),
            "UNSUPPORTED_FORMAT",
        ),
        BadInput(
            "invalid UTF-8 in a UTF-8 essay",
            "broken.txt",
            swedish * 5 + b"\xe4\xff " + essay(2),
            "CORRUPT_FILE",
        ),
        BadInput(
            "UTF-16 byte-order mark, odd byte count",
            "odd.txt",
            b"\xff\xfe" + "An essay that stops mid-character".encode("utf-16-le") + b"A",
            "CORRUPT_FILE",
        ),
        BadInput(
            "HTML with only scripts and styles",
            "page.html",
            b"<html><head><style>p{}</style></head><body><script>alert(1)</script></body></html>",
            "EMPTY_CONTENT",
        ),
        BadInput(
            "XML entity bomb in a .docx",
            "laughs.docx",
            docx_with_entity_bomb(),
            "CORRUPT_FILE",
        ),
        BadInput(
            "file name with ../ and control characters",
            "../../etc/passwd\x00\x1b[31m\r\nessay.txt",
            essay(3),
            ACCEPTED,
        ),
    )
