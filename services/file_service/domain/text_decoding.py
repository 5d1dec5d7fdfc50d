"""Bytes to text without losing any: byte-order marks, strict UTF-8, then detection of legacy
encodings. A byte that no candidate encoding explains rejects the file; none is ever dropped."""

from __future__ import annotations

import codecs
import re

import charset_normalizer

from services.file_service.domain.errors import FileRejectedError, RejectionCode

# Longest BOM first: the UTF-32 LE mark begins with the UTF-16 LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Windows-1252 is the legacy code page of Western European school computers and prints every
# character latin-1 prints. The detector's language guess (coherence) is erratic on essays with
# few accented letters (it read "São" as cp1250 "Săo"), so whenever cp1252 decodes the bytes as
# cleanly as the best candidate we take it, as browsers in Western locales do. Texts that are
# really in another code page (Polish cp1250, Russian cp1251) look like noise in cp1252 and are
# not affected.
_PREFERRED_LEGACY = "cp1252"
_CHAOS_TOLERANCE = 0.1
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f-\x9f]")
_MAX_CONTROL_SHARE = 0.01
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


def decode_text(content: bytes) -> str:
    """Decode a text file: BOM, else strict UTF-8, else the best-supported legacy encoding."""
    for bom, encoding in _BOMS:
        if content.startswith(bom):
            return _strict(content[len(bom) :], encoding, "its byte-order mark")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        _refuse_broken_utf8(content, error)
        text = _detect(content)
    _refuse_binary(text)
    return text


def decode_markup(content: bytes, declared: str | None) -> str:
    """Decode HTML: BOM, else strict UTF-8, else the declared charset if it fits, else detection.

    UTF-8 wins over a declaration because a page whose bytes are valid UTF-8 is UTF-8 (pages
    often declare a charset they were not saved in).
    """
    for bom, encoding in _BOMS:
        if content.startswith(bom):
            return _strict(content[len(bom) :], encoding, "its byte-order mark")
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if declared:
        try:
            return content.decode(_windows_superset(declared))
        except (LookupError, UnicodeDecodeError):
            pass
    return _detect(content)


def _windows_superset(encoding: str) -> str:
    # As browsers do: latin-1 and ASCII labels mean windows-1252, gb2312 means gb18030.
    name = codecs.lookup(encoding).name
    return {"latin-1": "cp1252", "iso8859-1": "cp1252", "ascii": "cp1252", "gb2312": "gb18030"}.get(
        name, name
    )


def _strict(content: bytes, encoding: str, reason: str) -> str:
    try:
        return content.decode(encoding)
    except UnicodeDecodeError as error:
        raise FileRejectedError(
            RejectionCode.CORRUPT_FILE,
            f"The text file declares {encoding.upper()} by {reason} but byte {error.start} is not "
            f"valid {encoding.upper()}; save it again as UTF-8 and re-upload.",
        ) from None


def _refuse_broken_utf8(content: bytes, error: UnicodeDecodeError) -> None:
    # Text that is mostly UTF-8 with a few bad bytes is damaged UTF-8, not a legacy encoding:
    # reading it as cp1252 would garble every accented letter, and dropping bytes loses text.
    valid = len(_UTF8_MULTIBYTE.findall(content))
    invalid = sum(1 for byte in content if byte >= 0x80) - len(
        b"".join(_UTF8_MULTIBYTE.findall(content))
    )
    if valid > 0 and valid >= invalid:
        raise FileRejectedError(
            RejectionCode.CORRUPT_FILE,
            f"The text is UTF-8 but byte {error.start} is not valid UTF-8 (the file is damaged "
            "or mixes encodings); save it again as UTF-8 and re-upload.",
        )


def _detect(content: bytes) -> str:
    matches = list(charset_normalizer.from_bytes(content))
    if not matches:
        raise FileRejectedError(
            RejectionCode.CORRUPT_FILE,
            "The file's bytes are not text in any encoding we recognise; save the essay as UTF-8 "
            "text, .docx or .pdf and re-upload.",
        )
    best = matches[0]
    for match in matches:
        close = match.chaos <= best.chaos + _CHAOS_TOLERANCE
        if close and _PREFERRED_LEGACY in match.could_be_from_charset:
            return content.decode(_PREFERRED_LEGACY)
    return str(best)


def _refuse_binary(text: str) -> None:
    if not text:
        return
    controls = len(_CONTROL_CHARS.findall(text))
    if controls > max(1, len(text) * _MAX_CONTROL_SHARE):
        raise FileRejectedError(
            RejectionCode.UNSUPPORTED_FORMAT,
            "The file holds binary data, not text; upload the essay as .docx, .pdf, .txt, .rtf, "
            ".html or .md.",
        )
