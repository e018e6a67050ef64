"""The tags of an HTML page that say things about it: meta tags, link tags, its language, its links.

One pass of the standard library's ``html.parser`` (typed, forgiving, no tree built), used by the
consent check (``<meta name="robots">``, ``tdm-reservation``) and by the web connector (charset,
canonical URL, language, links to follow). Main-text extraction stays in ``connectors.html``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin

_CHARSET_PRESCAN_BYTES = 1024
"""The HTML standard looks for a meta charset in the first 1024 bytes."""

_META_CHARSET = re.compile(
    rb"""<meta[^>]+?charset\s*=\s*["']?\s*(?P<charset>[A-Za-z0-9._:-]+)""",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class MetaTag:
    """A ``<meta>`` tag: its ``name`` (or ``http-equiv`` / ``property``), lower-cased, and ``content``."""

    name: str
    content: str


@dataclass(frozen=True)
class LinkTag:
    """A ``<link>`` tag: its space-separated ``rel`` values (lower-cased) and ``href`` as written."""

    rel: tuple[str, ...]
    href: str


@dataclass(frozen=True)
class PageTags:
    """What one pass over a page found. ``base`` is the ``<base href>`` if any (relative as written)."""

    meta: tuple[MetaTag, ...]
    links: tuple[LinkTag, ...]
    anchors: tuple[str, ...]
    lang: str
    base: str

    def meta_values(self, name: str) -> tuple[str, ...]:
        """Contents of every meta tag called ``name`` (case-insensitive), in page order."""
        wanted = name.lower()
        return tuple(tag.content for tag in self.meta if tag.name == wanted)

    def link_hrefs(self, rel: str) -> tuple[str, ...]:
        """The ``href`` of every ``<link>`` whose ``rel`` includes ``rel``, in page order."""
        wanted = rel.lower()
        return tuple(link.href for link in self.links if wanted in link.rel)

    def absolute_links(self, page_url: str) -> tuple[str, ...]:
        """``<a href>`` targets resolved against the page's base URL, fragments dropped, each once."""
        base = urljoin(page_url, self.base) if self.base else page_url
        seen: dict[str, None] = {}
        for href in self.anchors:
            target = urljoin(base, href.strip()).split("#", 1)[0]
            if target:
                seen.setdefault(target, None)
        return tuple(seen)


def scan_tags(markup: str) -> PageTags:
    """Scan ``markup`` (a whole page) for its meta and link tags, ``<html lang>``, base URL and anchors."""
    scanner = _Scanner()
    try:
        scanner.feed(markup)
        scanner.close()
    except AssertionError:  # pragma: no cover - html.parser asserts on a few malformed declarations
        pass
    return PageTags(tuple(scanner.meta), tuple(scanner.links), tuple(scanner.anchors), scanner.lang, scanner.base)


def declared_charset(data: bytes) -> str | None:
    """The charset a ``<meta charset>`` or ``http-equiv`` tag declares near the start of ``data``."""
    match = _META_CHARSET.search(data[:_CHARSET_PRESCAN_BYTES])
    return match["charset"].decode("ascii").lower() if match else None


class _Scanner(HTMLParser):
    """Collects tags as ``html.parser`` meets them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: list[MetaTag] = []
        self.links: list[LinkTag] = []
        self.anchors: list[str] = []
        self.lang = ""
        self.base = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Record the tags we care about."""
        values = {name: (value or "") for name, value in attrs}
        if tag == "meta":
            name = values.get("name") or values.get("http-equiv") or values.get("property") or ""
            if name:
                self.meta.append(MetaTag(name.strip().lower(), values.get("content", "").strip()))
        elif tag == "link" and values.get("href"):
            self.links.append(LinkTag(tuple(values.get("rel", "").lower().split()), values["href"].strip()))
        elif tag in {"a", "area"} and values.get("href"):
            self.anchors.append(values["href"])
        elif tag == "html" and values.get("lang") and not self.lang:
            self.lang = values["lang"].strip()
        elif tag == "base" and values.get("href") and not self.base:
            self.base = values["href"].strip()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """``<meta ... />`` is the same tag."""
        self.handle_starttag(tag, attrs)
