"""A catalogue of hostile and broken uploads, each with the code it must get. Built in code (or
read from the shared corpus), shared by the unit tests and the gRPC integration tests.

Entries marked `contained` loop or eat memory on purpose: they get their code only from the
extraction pool's limits (FILE_EXTRACTION_TIMEOUT_S, FILE_EXTRACTION_MEMORY_MB), so tests run
them in the pool, never in the test process."""

from __future__ import annotations

import io
import random
import zipfile
from dataclasses import dataclass
from functools import cache

from tests.support import CORPUS
from tests.unit.file_service import hostile_files as hostile

ACCEPTED = "ACCEPTED"
_MIB = 1024 * 1024


@dataclass(frozen=True)
class BadInput:
    """An upload and the outcome it must get: a rejection code, or ACCEPTED."""

    label: str
    file_name: str
    content: bytes
    expected: str
    contained: bool = False  # loops or eats memory: only ever run inside the extraction pool


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
            "file name with ../ (a name is data, never a path; control characters are refused "
            "before the content is read: test_hostile_grpc_fields)",
            "../../etc/passwd/essay.txt",
            essay(3),
            ACCEPTED,
        ),
        *hostile_inputs(),
    )


def waves() -> list[list[BadInput]]:
    """The catalogue in three waves to run one after another: ordinary files, then the ones
    that eat memory, then the ones that loop. A wave that has the CPU to itself gets the codes
    of the limits (a memory bomb starved of CPU by two loops could hit the time limit first)."""
    loops = [bad for bad in bad_inputs() if bad.expected == "EXTRACTION_TIMEOUT"]
    bombs = [bad for bad in bad_inputs() if bad.contained and bad not in loops]
    ordinary = [bad for bad in bad_inputs() if not bad.contained and bad not in loops]
    return [ordinary, bombs, loops]


def hostile_inputs() -> tuple[BadInput, ...]:
    """Files built to hurt the parsers: loops, bombs, absurd nesting, megabyte lines, documents
    that point outside themselves."""
    text = essay(4).decode()
    return (
        BadInput(
            "PDF that makes the parser loop (one 70 MB operator page listed 60 times)",
            "loop.pdf",
            hostile.pdf_repeated_heavy_page(),
            "EXTRACTION_TIMEOUT",
            contained=True,
        ),
        BadInput(
            "PDF decompression bomb (streams deflated twice)",
            "bomb.pdf",
            hostile.pdf_decompression_bomb(),
            "CORRUPT_FILE",
        ),
        BadInput(
            "PDF page tree of 2**30 pages from 32 objects",
            "pages.pdf",
            hostile.pdf_page_tree_bomb(),
            "CORRUPT_FILE",
        ),
        BadInput(
            "PDF whose form XObject draws itself",
            "cycle.pdf",
            hostile.pdf_self_drawing_form(text),
            ACCEPTED,
        ),
        BadInput(
            "PDF whose xref chain points back at itself",
            "xref.pdf",
            hostile.pdf_xref_chain_loop(text),
            ACCEPTED,
        ),
        BadInput(
            "HTML nested 100,000 elements deep",
            "deep.html",
            hostile.html_nested(100_000, text),
            "CORRUPT_FILE",
        ),
        BadInput(
            "HTML with a word at each of 5,000 nesting levels (would be cut silently)",
            "deep-words.html",
            hostile.html_nested_with_text(5_000),
            "CORRUPT_FILE",
        ),
        BadInput(
            "HTML with one 10 MB run of text",
            "run.html",
            hostile.html_huge_text_run(),
            "CONTENT_TOO_LONG",
        ),
        BadInput(
            "huge single line: 9 MB with no space",
            "line.txt",
            b"x" * 9_000_000,
            "CONTENT_TOO_SHORT",
        ),
        BadInput(
            "huge single line: 1.9 million words, no newline",
            "words.txt",
            b"word " * 1_900_000,
            "CONTENT_TOO_LONG",
        ),
        BadInput(
            "Markdown of a million [ (quadratic in the Markdown parser)",
            "brackets.md",
            b"[" * 1_000_000 + essay(5),
            "EXTRACTION_TIMEOUT",
            contained=True,
        ),
        BadInput(
            ".docx with external links, XXE, XInclude and INCLUDETEXT",
            "linked.docx",
            hostile.docx_with_external_references(text, "http://198.51.100.7:8080"),
            ACCEPTED,
        ),
        BadInput(
            ".docx nested 300 elements deep",
            "deep.docx",
            hostile.docx_nested(300, text),
            "CORRUPT_FILE",
        ),
        BadInput(
            ".docx within the zip limits whose XML tree needs gigabytes",
            "tree.docx",
            hostile.docx_tree_bomb(),
            "FILE_TOO_LARGE",
            contained=True,
        ),
        BadInput(
            "file name of 255 bytes, the most allowed (longer ones are refused before the "
            "content is read: test_hostile_grpc_fields)",
            "n" * 251 + ".txt",
            essay(6),
            ACCEPTED,
        ),
    )
