"""HTML to main text and title: trafilatura for the article, all visible text for small pages.

The only place ``trafilatura`` and ``lxml`` are used. Text is plain (no list bullets or table
pipes): one block (paragraph, heading, list item, table row) per line, cells separated by tabs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import trafilatura
from lxml import etree
from lxml import html as lxml_html
from trafilatura.settings import Document as TrafilaturaDocument

if TYPE_CHECKING:
    from collections.abc import Iterator

_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_NOT_XML_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_SPACES = re.compile(r"\s+")


class _Element(Protocol):
    """The part of an lxml element (untyped) that this module reads."""

    tag: object
    text: str | None
    tail: str | None

    def __iter__(self) -> Iterator[_Element]: ...
    def itertext(self) -> Iterator[str]: ...
    def getparent(self) -> _Element | None: ...
    def findtext(self, path: str) -> str | None: ...


@dataclass(frozen=True)
class Extracted:
    """Plain text of a document and its title (empty when it has none)."""

    text: str
    title: str = ""


@dataclass(frozen=True)
class _Vocabulary:
    """Which element names start a block, a table row, a line break or verbatim text."""

    blocks: frozenset[str]
    rows: frozenset[str]
    breaks: frozenset[str]
    verbatim: frozenset[str]
    skipped: frozenset[str] = field(default_factory=frozenset)
    verbatim_parents: frozenset[str] | None = None
    """If set, a verbatim element is a block only under these parents (else it is inline)."""


_TRAFILATURA_XML = _Vocabulary(
    blocks=frozenset({"body", "doc", "main", "div", "p", "head", "list", "item", "quote", "table"}),
    rows=frozenset({"row"}),
    breaks=frozenset({"lb"}),
    verbatim=frozenset({"code"}),
    skipped=frozenset({"graphic"}),
    verbatim_parents=frozenset({"body", "doc", "main", "div", "quote", "code"}),
)

_HTML = _Vocabulary(
    blocks=frozenset(
        {
            *("address", "article", "aside", "blockquote", "body", "caption", "dd", "details"),
            *("dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form"),
            *("h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "li", "main", "nav"),
            *("ol", "p", "section", "summary", "table", "tbody", "tfoot", "thead", "ul"),
        }
    ),
    rows=frozenset({"tr"}),
    breaks=frozenset({"br"}),
    verbatim=frozenset({"pre"}),
    skipped=frozenset(
        {
            *("head", "script", "style", "noscript", "template", "svg", "iframe", "object"),
            *("embed", "canvas", "audio", "video", "select", "option", "button", "input"),
            "textarea",
        }
    ),
)


def extract_html(html: str, source: str) -> Extracted:
    """Extract the main text and the title of the page ``html`` read from ``source``.

    trafilatura (precision favoured, comments left out) finds the article; when it finds nothing,
    as on small pages, all visible text is kept instead. ``source`` is passed as the page URL only
    when it is one, for trafilatura's metadata.
    """
    markup = _clean_markup(html)
    url = source if source.startswith(("http://", "https://")) else None
    result = trafilatura.bare_extraction(
        markup,
        url=url,
        fast=True,
        favor_precision=True,
        include_comments=False,
        include_tables=True,
        with_metadata=True,
    )
    text = title = ""
    if isinstance(result, TrafilaturaDocument):
        if result.body is not None:
            text = _text_of(result.body, _TRAFILATURA_XML)
        title = _collapse(result.title or "")
    if not text or not title:
        page = _parse(markup)
        if page is not None:
            text = text or _text_of(page, _HTML)
            title = title or _collapse(page.findtext(".//title") or "")
    return Extracted(text, title)


def visible_text(markup: str) -> str:
    """All text a browser would show for ``markup`` (a page or a fragment), one block per line."""
    page = _parse(_clean_markup(markup))
    return "" if page is None else _text_of(page, _HTML)


def _clean_markup(markup: str) -> str:
    """``markup`` without an XML declaration (lxml refuses one in a str) or XML-illegal controls."""
    return _NOT_XML_CHARS.sub("", _XML_DECLARATION.sub("", markup, count=1))


def _parse(markup: str) -> _Element | None:
    """Parse ``markup`` with lxml; None when there is no document at all."""
    try:
        page: _Element = lxml_html.document_fromstring(markup)
    except (etree.ParserError, ValueError):
        return None
    return page


def _text_of(root: _Element, vocabulary: _Vocabulary) -> str:
    """Plain text of the tree under ``root``, one block per line."""
    writer = _BlockWriter(vocabulary)
    writer.element(root)
    writer.flush()
    return "\n".join(writer.blocks)


class _BlockWriter:
    """Walks an element tree, collecting inline text and closing a line at each block boundary."""

    def __init__(self, vocabulary: _Vocabulary) -> None:
        self.vocabulary = vocabulary
        self.blocks: list[str] = []
        self.inline: list[str] = []

    def element(self, el: _Element) -> None:
        """Add ``el`` and its subtree (not its tail)."""
        tag = el.tag if isinstance(el.tag, str) else None  # comments and PIs have no str tag
        if tag is None or tag in self.vocabulary.skipped:
            return
        if tag in self.vocabulary.breaks:
            self.inline.append("\n")
            return
        if tag in self.vocabulary.verbatim and self._verbatim_block(el):
            self.flush()
            code = "".join(el.itertext()).strip("\n")
            if code.strip():
                self.blocks.append(code.rstrip())
            return
        if tag in self.vocabulary.rows:
            self.flush()
            cells = [_text_of(cell, self.vocabulary).replace("\n", " ") for cell in el]
            row = "\t".join(cells).rstrip("\t")  # empty cells keep their column
            if row:
                self.blocks.append(row)
            return
        block = tag in self.vocabulary.blocks
        if block:
            self.flush()
        self._text(el.text)
        for child in el:
            self.element(child)
            self._text(child.tail)
        if block:
            self.flush()

    def flush(self) -> None:
        """Close the current block: collapse spaces, keep explicit line breaks, drop empty lines."""
        lines = (_collapse(line) for line in "".join(self.inline).split("\n"))
        text = "\n".join(line for line in lines if line)
        if text:
            self.blocks.append(text)
        self.inline = []

    def _text(self, text: str | None) -> None:
        """Add inline text; source line breaks are spaces in HTML."""
        if text:
            self.inline.append(_SPACES.sub(" ", text))

    def _verbatim_block(self, el: _Element) -> bool:
        """Whether a verbatim element stands as its own block rather than inline code."""
        parents = self.vocabulary.verbatim_parents
        if parents is None:
            return True
        parent = el.getparent()
        return parent is None or parent.tag in parents


def _collapse(text: str) -> str:
    """``text`` with runs of whitespace made single spaces and the ends trimmed."""
    return _SPACES.sub(" ", text).strip()
