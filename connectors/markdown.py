"""Markdown to plain text: the words of each block, without markup, link targets or images.

The only place ``markdown-it-py`` is used. Blocks (paragraphs, headings, list items, quotes, code,
table rows) are separated by a blank line, except the items of a tight list and the rows of a table,
which are on consecutive lines. Soft line breaks inside a paragraph stay line breaks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from markdown_it import MarkdownIt

from connectors.html import Extracted, visible_text

if TYPE_CHECKING:
    from collections.abc import Sequence

    from markdown_it.token import Token

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(?P<body>(?:.*\n)*?)---[ \t]*(?:\n|\Z)")
"""A YAML front-matter block (Jekyll, Hugo), which is metadata rather than text."""

_YAML_KEY = re.compile(r"^[\w-]+[ \t]*:", re.MULTILINE)
_YAML_TITLE = re.compile(r"^title[ \t]*:[ \t]*(?P<title>.+?)[ \t]*$", re.MULTILINE)

_SPACES = re.compile(r"[ \t]+")
_GROUP_STARTS = frozenset({"bullet_list_open", "ordered_list_open", "table_open"})
_GROUP_ENDS = frozenset({"bullet_list_close", "ordered_list_close", "table_close"})


@dataclass(frozen=True)
class _Block:
    """Plain text of one block and the tight list or table it belongs to, if any."""

    text: str
    group: int | None = None


def markdown_to_text(md: str) -> Extracted:
    """Plain text of the Markdown ``md`` and its title.

    The title is the ``title:`` of a YAML front-matter block if there is one, else the first
    heading, else empty. The front matter itself is left out of the text.
    """
    body, title = _split_front_matter(md)
    parser = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    collector = _BlockCollector()
    collector.add(parser.parse(body))
    parts: list[str] = []
    previous: _Block | None = None
    for block in collector.blocks:
        if previous is not None:
            same_group = block.group is not None and block.group == previous.group
            parts.append("\n" if same_group else "\n\n")
        parts.append(block.text)
        previous = block
    return Extracted("".join(parts), title or collector.heading)


def _split_front_matter(md: str) -> tuple[str, str]:
    """Split off any front matter: the Markdown after it, and its title (or empty)."""
    match = _FRONT_MATTER.match(md)
    if match is None or not _YAML_KEY.search(match["body"]):
        return md, ""
    title = _YAML_TITLE.search(match["body"])
    value = title["title"].strip("'\"") if title else ""
    return md[match.end() :], value


class _BlockCollector:
    """Collects plain-text blocks from a markdown-it token stream, in document order."""

    def __init__(self) -> None:
        self.blocks: list[_Block] = []
        self.heading = ""
        self._groups: list[int] = []  # open lists and tables, outermost first
        self._row: list[str] = []

    def add(self, tokens: Sequence[Token]) -> None:
        """Walk ``tokens``, adding one block per paragraph, heading, code block or table row."""
        for index, token in enumerate(tokens):
            kind = token.type
            if kind in _GROUP_STARTS:
                self._groups.append(index)
            elif kind in _GROUP_ENDS:
                self._groups.pop()
            elif kind == "tr_open":
                self._row = []
            elif kind == "tr_close":
                self._add("\t".join(self._row).rstrip("\t"), grouped=True)
            elif kind in {"fence", "code_block"}:
                self._add(token.content.strip("\n").rstrip())
            elif kind == "html_block":
                self._add(visible_text(token.content))
            elif kind == "inline":
                self._inline(token, tokens[index - 1] if index else None)

    def _inline(self, token: Token, parent: Token | None) -> None:
        """Add the text of an inline run to its table cell, or as a block of its own."""
        text = _inline_text(token.children or [])
        if parent is not None and parent.type in {"th_open", "td_open"}:
            self._row.append(text.replace("\n", " "))
            return
        if parent is not None and parent.type == "heading_open" and not self.heading:
            self.heading = " ".join(text.split())
        # markdown-it hides the paragraphs of tight list items
        self._add(text, grouped=parent is not None and parent.hidden)

    def _add(self, text: str, *, grouped: bool = False) -> None:
        """Add a non-blank block, grouped with the outermost open list or table if asked."""
        if text.strip():
            group = self._groups[0] if grouped and self._groups else None
            self.blocks.append(_Block(text, group))


def _inline_text(children: Sequence[Token]) -> str:
    """Text of an inline run: words and code kept; markup, link targets and images dropped."""
    parts: list[str] = []
    for child in children:
        if child.type in {"text", "code_inline"}:
            parts.append(child.content)
        elif child.type in {"softbreak", "hardbreak"}:
            parts.append("\n")
    # A dropped image or tag leaves two spaces where one was meant; HTML would show one.
    lines = (_SPACES.sub(" ", line).strip() for line in "".join(parts).split("\n"))
    return "\n".join(lines).strip()
