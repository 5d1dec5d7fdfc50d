"""Text files are decoded without losing a byte: BOMs, UTF-8, then legacy code pages."""

from __future__ import annotations

import codecs

import pytest

from services.file_service.domain.errors import FileRejectedError, RejectionCode
from services.file_service.domain.extract_markup import extract_html
from services.file_service.domain.text_decoding import decode_text
from tests.support import CORPUS

SWEDISH = (
    "Jag tycker att skolan är bra. Det är många elever som inte gör sina läxor, och lärarna "
    "blir trötta på det. Därför måste vi ändra på någonting i år."
)
FRENCH = "Café naïve “quoted” text costs €5 — it’s déjà vu, n’est-ce pas? Élève très fâché."
GERMAN = "Grüße aus München! Die Straße ist schön. Übermorgen fahren wir nach Köln."


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-be", "utf-32"])
def test_unicode_encodings_with_and_without_bom(encoding: str) -> None:
    data = SWEDISH.encode(encoding)
    if encoding == "utf-16-be":
        data = codecs.BOM_UTF16_BE + data
    assert decode_text(data) == SWEDISH


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        (SWEDISH, "cp1252"),
        (SWEDISH, "latin-1"),
        (FRENCH, "cp1252"),
        (GERMAN, "latin-1"),
        ("It’s a “test” — costs €5.", "cp1252"),
        ("Proszę o zapoznanie się z poniższą klauzulą informacyjną w związku z tym.", "cp1250"),
        ("Привет, как дела? Это тестовый текст на русском языке.", "cp1251"),
    ],
)
def test_legacy_single_byte_encodings_are_detected(text: str, encoding: str) -> None:
    assert decode_text(text.encode(encoding)) == text


def test_real_essays_survive_cp1252() -> None:
    checked = 0
    for path in sorted((CORPUS / "essays").glob("e*.txt"))[::3]:
        text = path.read_text(encoding="utf-8")
        try:
            legacy = text.encode("cp1252")
        except UnicodeEncodeError:
            continue
        if legacy == text.encode("utf-8"):
            continue  # pure ASCII proves nothing
        assert decode_text(legacy) == text, path.name
        checked += 1
    assert checked >= 30


def test_a_broken_byte_order_mark_is_corrupt() -> None:
    with pytest.raises(FileRejectedError) as raised:
        decode_text(codecs.BOM_UTF8 + b"caf\xe9 is not utf-8")
    assert raised.value.code is RejectionCode.CORRUPT_FILE


def test_mostly_utf8_with_a_bad_byte_is_corrupt_not_mojibake() -> None:
    with pytest.raises(FileRejectedError) as raised:
        decode_text("Ärligt talat är det så här. ".encode() * 3 + b"\xff")
    assert raised.value.code is RejectionCode.CORRUPT_FILE
    assert "byte 96" in raised.value.detail


def test_control_characters_mean_binary() -> None:
    with pytest.raises(FileRejectedError) as raised:
        decode_text(b"hello \x01\x02\x03 world " * 20)
    assert raised.value.code is RejectionCode.UNSUPPORTED_FORMAT


def test_html_that_declares_the_wrong_charset_is_read_as_utf8() -> None:
    page = (CORPUS / "html" / "readability_qq.html").read_bytes()
    assert b"gb2312" in page[:2048].lower()
    text = extract_html(page)
    assert "腾讯" in text or "新闻" in text


def test_html_in_a_declared_legacy_charset() -> None:
    page = '<meta charset="windows-1252"><p>Élève fâché – “quoted”</p>'.encode("cp1252")
    assert extract_html(page).strip() == "Élève fâché – “quoted”"
