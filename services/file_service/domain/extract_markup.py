"""HTML and Markdown to the text a reader sees: no scripts, styles, tags or comments; entities
decoded; block elements on their own lines, paragraphs separated by a blank line."""

from __future__ import annotations

import re

import lxml.html
from lxml import etree
from markdown_it import MarkdownIt

from services.file_service.domain.errors import FileRejectedError, RejectionCode
from services.file_service.domain.text_decoding import decode_markup

_INVISIBLE = {
    "head", "script", "style", "noscript", "template", "title", "meta", "link", "iframe",
    "object", "embed", "svg", "math", "canvas", "audio", "video", "map", "select", "datalist",
    "input", "textarea", "button",
}  # fmt: skip
_PARAGRAPHS = {
    "p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "ul", "ol", "dl",
    "figure", "hr", "address", "fieldset", "details",
}  # fmt: skip
_LINES = {
    "div", "li", "dt", "dd", "tr", "section", "article", "header", "footer", "nav", "aside",
    "main", "form", "figcaption", "caption", "summary", "center", "legend", "body", "html",
    "tbody", "thead", "tfoot", "option", "label",
}  # fmt: skip
_CELLS = {"td", "th"}
_SPACES = re.compile(r"[ \t\n\r\f\v]+")
_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.IGNORECASE
)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)


class _TextWriter:
    """Collects text with the line and paragraph breaks block elements ask for."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._pending = 0  # newlines owed before the next text
        self._at_line_start = True

    def text(self, value: str, *, preformatted: bool = False) -> None:
        if not preformatted:
            value = _SPACES.sub(" ", value)
            if self._at_line_start or self._pending:
                value = value.lstrip(" ")
        if not value:
            return
        if self._pending and self._parts:
            self._parts.append("\n" * self._pending)
        self._pending = 0
        self._parts.append(value)
        self._at_line_start = value.endswith("\n")

    def brk(self, newlines: int) -> None:
        self._pending = max(self._pending, newlines)
        self._at_line_start = True

    def separator(self, value: str) -> None:
        """`value` between two pieces of text on the same line (a table cell's tab)."""
        if not (self._at_line_start or self._pending):
            self._parts.append(value)

    def line_break(self) -> None:
        self._parts.append("\n")
        self._at_line_start = True

    def result(self) -> str:
        return "".join(self._parts)


def extract_html(content: bytes) -> str:
    """The visible text of an HTML page."""
    match = _META_CHARSET.search(content[:4096])
    declared = match.group(1).decode("ascii") if match else None
    return html_to_text(decode_markup(content, declared))


def extract_markdown(text: str) -> str:
    """Markdown rendered and read as HTML, so the text keeps no markup."""
    return html_to_text(MarkdownIt("commonmark").render(text))


def html_to_text(markup: str) -> str:
    """The visible text of HTML given as a string."""
    markup = _XML_DECLARATION.sub("", markup, count=1)
    if not markup.strip():
        return ""
    parser = lxml.html.HTMLParser()
    try:
        root = lxml.html.document_fromstring(markup, parser=parser)
    except etree.ParserError:
        return ""  # lxml's word for a document with no elements at all
    except etree.XMLSyntaxError as error:
        _refuse_over_limits(error.error_log)
        raise FileRejectedError(
            RejectionCode.CORRUPT_FILE,
            f"The HTML file cannot be parsed ({error}); save the page again and re-upload.",
        ) from None
    except ValueError as error:
        raise FileRejectedError(
            RejectionCode.CORRUPT_FILE,
            f"The HTML file cannot be parsed ({error}); save the page again and re-upload.",
        ) from None
    # Past its limits libxml2 stops reading and returns what it has so far: refuse the file
    # rather than accept part of it as the whole essay.
    _refuse_over_limits(parser.error_log)
    writer = _TextWriter()
    _walk(root, writer, preformatted=False)
    return writer.result()


def _refuse_over_limits(errors: etree._ListErrorLog) -> None:
    """Raise if the parser gave up on a resource limit: memory, nesting depth or text size."""
    for entry in errors:
        if entry.type_name == "ERR_NO_MEMORY":
            raise MemoryError("the HTML parser ran out of memory")
        if entry.type_name != "ERR_RESOURCE_LIMIT":
            continue
        if "depth" in entry.message.lower():
            raise FileRejectedError(
                RejectionCode.CORRUPT_FILE,
                "The HTML is nested more than 256 elements deep, which no essay needs; save the "
                "page as plain text, .docx or .pdf and re-upload.",
            )
        raise FileRejectedError(
            RejectionCode.CONTENT_TOO_LONG,
            "The HTML holds a run of text over 10 MB long, far more than an essay; check that "
            "the right file was uploaded.",
        )


def _walk(element: etree._Element, writer: _TextWriter, *, preformatted: bool) -> None:
    tag = element.tag if isinstance(element.tag, str) else ""
    tag = tag.rsplit("}", 1)[-1].lower()
    if tag and not _hidden(element, tag):
        _open(tag, writer)
        pre = preformatted or tag in {"pre", "textarea", "listing", "plaintext"}
        if element.text:
            writer.text(element.text, preformatted=pre)
        for child in element:
            _walk(child, writer, preformatted=pre)
        _close(tag, writer)
    if element.tail:
        writer.text(element.tail, preformatted=preformatted)


def _hidden(element: etree._Element, tag: str) -> bool:
    if tag in _INVISIBLE:
        return True
    if element.get("hidden") is not None:
        return True
    style = element.get("style")
    return bool(style and _HIDDEN_STYLE.search(style))


def _open(tag: str, writer: _TextWriter) -> None:
    if tag in _PARAGRAPHS:
        writer.brk(2)
    elif tag in _LINES:
        writer.brk(1)
    elif tag == "br":
        writer.line_break()
    elif tag in _CELLS:
        writer.separator("\t")


def _close(tag: str, writer: _TextWriter) -> None:
    if tag in _PARAGRAPHS:
        writer.brk(2)
    elif tag in _LINES:
        writer.brk(1)
