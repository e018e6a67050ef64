"""The lists of pages a site publishes: sitemaps (ultimate-sitemap-parser) and feeds (feedparser).

Both parse content we fetched ourselves (never a URL: their own downloaders would bypass our
fetcher's checks). ``usp.tree.sitemap_from_str`` reads XML sitemaps and sitemap indexes, plain-text
sitemaps and Google News sitemaps; feedparser reads RSS 0.9x, 1.0 and 2.0 and Atom 0.3 and 1.0,
resolving relative links (``xml:base``) against the feed's URL. trafilatura's sitemap and feed
modules were not used: they are link-discovery heuristics tied to courlan's URL filters, which drop
IP-address hosts, and the feed one returns the channel's own link among the items.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import feedparser
from usp.objects.sitemap import AbstractIndexSitemap, AbstractPagesSitemap, InvalidSitemap
from usp.tree import sitemap_from_str

if TYPE_CHECKING:
    from collections.abc import Iterable


@dataclass(frozen=True)
class SitemapLinks:
    """What one sitemap lists: page URLs, or (for an index) the URLs of more sitemaps."""

    pages: tuple[str, ...]
    sitemaps: tuple[str, ...]
    error: str = ""
    """Why nothing could be read, when the text is not a sitemap."""


def parse_sitemap(text: str) -> SitemapLinks:
    """The links of the sitemap ``text``: absolute http(s) URLs only, as the sitemap protocol requires."""
    parsed = sitemap_from_str(text)
    if isinstance(parsed, InvalidSitemap):
        return SitemapLinks((), (), error=parsed.reason)
    if isinstance(parsed, AbstractIndexSitemap):
        children = (child.url.strip() for child in parsed.sub_sitemaps)
        return SitemapLinks((), _unique(link for link in children if _is_absolute(link)))
    if isinstance(parsed, AbstractPagesSitemap):
        pages = (page.url.strip() for page in parsed.pages)
        return SitemapLinks(_unique(link for link in pages if _is_absolute(link)), ())
    return SitemapLinks((), (), error=f"unexpected sitemap type {type(parsed).__name__}")  # pragma: no cover


def feed_links(body: bytes, url: str, content_type: str = "") -> tuple[str, ...] | None:
    """The item links of the RSS or Atom feed ``body`` fetched from ``url``; None when it is not a feed.

    Each item's ``link`` is taken (its ``alternate`` link in Atom), else a permalink ``guid``/``id``.
    """
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
    version = parsed.get("version") or ""
    if not isinstance(version, str) or not version:
        return None
    links: list[str] = []
    for entry in parsed.get("entries") or []:
        link = _entry_link(entry)
        absolute = _absolute(url, link) if link else ""
        if absolute:
            links.append(absolute)
    return _unique(links)


def _entry_link(entry: object) -> str:
    """The page link of one parsed feed entry, or empty."""
    get = getattr(entry, "get", None)
    if get is None:
        return ""
    link = get("link")
    if isinstance(link, str) and link.strip():
        return link.strip()
    guid = get("id")
    permalink = get("guidislink")
    if isinstance(guid, str) and guid.startswith(("http://", "https://")) and permalink is not False:
        return guid.strip()
    return ""


def _absolute(base: str, link: str) -> str:
    """``link`` resolved against ``base`` without its fragment; empty unless http or https."""
    target = urljoin(base, link.strip()).split("#", 1)[0]
    return target if target.startswith(("http://", "https://")) else ""


def _is_absolute(link: str) -> bool:
    """Whether ``link`` is an absolute http(s) URL with a host and no spaces."""
    return (
        link.startswith(("http://", "https://"))
        and len(link) > len("https://")
        and not any(ch.isspace() for ch in link)
    )


def _unique(links: Iterable[str]) -> tuple[str, ...]:
    """``links`` without repeats, in order."""
    return tuple(dict.fromkeys(links))
