"""Word (.docx) text: the main document's paragraphs, tables and text boxes in reading order.

The package is read with zipfile and lxml directly (transitional and Strict OOXML alike), after
checking that it does not expand far beyond its size (a zip bomb). XML entities are never
resolved and nothing is fetched.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass

from lxml import etree

from services.file_service.domain.errors import FileRejectedError, RejectionCode


@dataclass(frozen=True)
class DocxLimits:
    """How far a .docx may expand when unzipped."""

    max_unzipped_bytes: int = 200 * 1024 * 1024
    max_ratio: float = 100.0
    ratio_floor_bytes: int = 10 * 1024 * 1024


_MAIN_CONTENT_TYPES = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    "application/vnd.ms-word.document.macroEnabled.main+xml",
    "application/vnd.ms-word.template.macroEnabledTemplate.main+xml",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml",
}
_BLOCK_CONTAINERS = {"body", "sdtContent", "txbxContent", "tc", "customXml", "ins", "smartTag"}
_SKIPPED = {"Fallback", "del", "moveFrom", "instrText", "delText", "footnoteReference"}


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def extract_docx(content: bytes, limits: DocxLimits) -> str:
    """The document's text: one paragraph per line, a blank line between blocks of prose."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            _refuse_bomb(archive, len(content), limits)
            part = _main_part(archive)
            root = etree.fromstring(archive.read(part), _parser())
    except FileRejectedError:
        raise
    except (zipfile.BadZipFile, KeyError, etree.XMLSyntaxError, ValueError, OSError, EOFError) as e:
        if isinstance(e, etree.XMLSyntaxError) and _out_of_memory(e):
            # A document within the zip limits whose XML tree outgrows the worker's memory
            # limit: the pool answers FILE_TOO_LARGE, as for any file that needs too much memory.
            raise MemoryError("the .docx XML parser ran out of memory") from None
        raise FileRejectedError(
            RejectionCode.CORRUPT_FILE,
            f"The .docx file is damaged ({type(e).__name__}: {str(e)[:120]}); open it in Word, "
            "save it again and re-upload.",
        ) from None
    body = next((child for child in root if _local(child) == "body"), None)
    if body is None:
        raise FileRejectedError(
            RejectionCode.CORRUPT_FILE, "The .docx file has no document body; save it again."
        )
    return "\n".join(_blocks(body))


def _out_of_memory(error: etree.XMLSyntaxError) -> bool:
    return any(entry.type_name == "ERR_NO_MEMORY" for entry in error.error_log)


def _refuse_bomb(archive: zipfile.ZipFile, file_size: int, limits: DocxLimits) -> None:
    # zipfile never inflates an entry past its declared size, so the declared sizes are a bound.
    unzipped = sum(max(info.file_size, 0) for info in archive.infolist())
    too_big = unzipped > limits.max_unzipped_bytes
    too_dense = unzipped > limits.ratio_floor_bytes and unzipped > limits.max_ratio * file_size
    if too_big or too_dense:
        raise FileRejectedError(
            RejectionCode.FILE_TOO_LARGE,
            f"The .docx file expands to {unzipped / 1048576:.0f} MiB when unpacked from "
            f"{file_size / 1024:.0f} KiB (a zip bomb or a document full of media); upload the "
            "essay text alone.",
        )


def _main_part(archive: zipfile.ZipFile) -> str:
    names = set(archive.namelist())
    if "[Content_Types].xml" in names:
        types = etree.fromstring(archive.read("[Content_Types].xml"), _parser())
        for override in types:
            if (
                _local(override) == "Override"
                and override.get("ContentType") in _MAIN_CONTENT_TYPES
            ):
                part = posixpath.normpath(override.get("PartName", "").lstrip("/"))
                if part in names:
                    return part
    if "word/document.xml" in names:
        return "word/document.xml"
    raise FileRejectedError(
        RejectionCode.CORRUPT_FILE,
        "The .docx file has no main document part; open it in Word, save it again and re-upload.",
    )


def _local(element: etree._Element) -> str:
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def _blocks(container: etree._Element) -> Iterator[str]:
    """Paragraph and table texts of a block container, in order."""
    for child in container:
        name = _local(child)
        if name == "p":
            yield from _paragraph(child)
        elif name == "tbl":
            yield from _table(child)
        elif name in _BLOCK_CONTAINERS or name in {"sdt", "AlternateContent", "Choice"}:
            yield from _blocks(child)


def _paragraph(paragraph: etree._Element) -> Iterator[str]:
    """The paragraph's own line, then the paragraphs of any text boxes anchored in it."""
    parts: list[str] = []
    boxes: list[etree._Element] = []
    _collect(paragraph, parts, boxes)
    yield "".join(parts)
    for box in boxes:
        yield from _blocks(box)


def _collect(element: etree._Element, parts: list[str], boxes: list[etree._Element]) -> None:
    for child in element:
        name = _local(child)
        if name in _SKIPPED:
            continue
        if name == "txbxContent":
            boxes.append(child)
        elif name == "t":
            parts.append(child.text or "")
        elif name in {"tab", "ptab"}:
            parts.append("\t")
        elif name in {"br", "cr"}:
            parts.append("\n")
        elif name == "noBreakHyphen":
            parts.append("-")
        elif name == "softHyphen":
            parts.append("\u00ad")
        else:
            _collect(child, parts, boxes)


def _table(table: etree._Element) -> Iterator[str]:
    """One line per row, cells separated by tabs; a cell's paragraphs joined by spaces."""
    for row in table:
        if _local(row) not in {"tr", "sdt", "customXml"}:
            continue
        cells = [_cell_text(cell) for cell in _cells(row)]
        yield "\t".join(cells)


def _cells(row: etree._Element) -> Iterator[etree._Element]:
    for child in row:
        name = _local(child)
        if name == "tc":
            yield child
        elif name in {"sdt", "sdtContent", "customXml", "tr"}:
            yield from _cells(child)


def _cell_text(cell: etree._Element) -> str:
    return " ".join(line.strip() for line in _blocks(cell) if line.strip())
