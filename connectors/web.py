"""Web pages: a page, a sitemap (or sitemap index), an RSS or Atom feed, or a crawl of one site.

Routing: this connector claims every ``http://`` and ``https://`` URL with a host. ``expand`` fetches
the source once to see what it is: a sitemap lists its pages (nested sitemaps are followed), a feed
its items, a page stands for itself, or with ``crawl=True`` for the same-host pages it links to,
breadth first, up to ``max_pages`` pages and ``depth`` links away. ``fetch`` turns one page into a
``Document`` with its main text, metadata and the consent snapshot of its rights signals.

Every request goes through one ``Fetcher`` (robots.txt for our agent, rate limit, size and address
checks), shared by expand and fetch, so site files are fetched once per host per connector. A page
read during ``expand`` is kept (a few, within a byte budget) so that ``fetch`` does not ask for it
again; a link that failed during ``expand`` is still listed, and its ``fetch`` raises that failure,
so that the caller reports it with the other per-item failures and carries on. Threads may share a
connector: the kept pages are guarded by a lock, and the ``Fetcher`` is safe to share.
"""

from __future__ import annotations

import codecs
import re
import threading
import zlib
from collections import OrderedDict, deque
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from connectors._pagetags import PageTags, declared_charset, scan_tags
from connectors._sitelists import SitemapLinks, feed_links, parse_sitemap
from connectors._webmeta import page_metadata
from connectors.consent import consent_for_response
from connectors.document import Document, MetaValue, sha256_hex
from connectors.encoding import Decoded, decode
from connectors.errors import (
    ConnectorError,
    EmptyDocumentError,
    ReadError,
    RobotsDisallowedError,
    TooLargeError,
    UnsupportedSourceError,
)
from connectors.fetcher import DEFAULT_MAX_BYTES, Fetcher, Response
from connectors.html import extract_html
from connectors.options import DEFAULT_DEPTH, DEFAULT_MAX_PAGES

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime

MAX_SITEMAP_NESTING = 3
"""Sitemap indexes may list indexes; deeper nesting than this is not followed."""
MAX_SITEMAPS = 1000
"""At most this many sitemap files are read for one source."""

_KEEP_BYTES = 32 * 1024 * 1024
"""Bytes of pages read by ``expand`` kept for ``fetch`` (older ones are dropped and refetched)."""

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_TEXT_TYPES = frozenset({"text/plain"})
_GZIP_MAGIC = b"\x1f\x8b"
_COMMENT = re.compile(rb"<!--.*?-->", re.DOTALL)
_FIRST_ELEMENT = re.compile(rb"<(?P<name>[A-Za-z_][\w.:-]*)")
_DOCTYPE_HTML = re.compile(rb"^(?:\xef\xbb\xbf)?\s*<!doctype\s+html", re.IGNORECASE)
_HTML_ROOTS = frozenset({"html", "head", "body", "title", "meta"})
_URL_LINE = re.compile(r"^https?://\S+$")
_NOT_PAGES = re.compile(
    r"\.(?:7z|aac|avi|bmp|css|csv|docx?|epub|exe|flac|gif|gz|ico|jpe?g|js|json|m4a|mkv|mov|mp3|mp4|ogg|pdf|png"
    r"|pptx?|rar|rss|svg|tar|tgz|tiff?|wav|webm|webp|woff2?|xlsx?|xml|zip)$",
    re.IGNORECASE,
)
"""Link targets a crawl does not follow: files that are not web pages."""

# WHATWG: these labels mean windows-1252 in HTML.
_CHARSET_ALIASES = {"iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "us-ascii": "cp1252"}


class WebConnector:
    """Reads web pages over HTTP(S); a sitemap, a feed, or (with ``crawl``) a site expands into pages."""

    name = "web"
    thread_safe = True

    def __init__(
        self,
        *,
        crawl: bool = False,
        max_pages: int = DEFAULT_MAX_PAGES,
        depth: int = DEFAULT_DEPTH,
        allow_private: bool = False,
        fetcher: Fetcher | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.crawl = crawl
        self.max_pages = max_pages
        self.depth = depth
        self.fetcher = fetcher or Fetcher(allow_private=allow_private, max_bytes=max_bytes)
        self._kept: OrderedDict[str, Response | ConnectorError] = OrderedDict()
        self._kept_bytes = 0
        self._kept_lock = threading.Lock()

    def can_handle(self, source: str) -> bool:
        """Claim ``http://`` and ``https://`` URLs that name a host."""
        try:
            parts = urlsplit(source.strip())
        except ValueError:
            return False
        return parts.scheme.lower() in {"http", "https"} and bool(parts.hostname)

    def expand(self, source: str) -> Iterator[str]:
        """The page URLs ``source`` stands for: itself, a sitemap's or feed's pages, or a crawl's.

        The source itself must be fetchable (its failure is raised); sitemaps list every page they
        name (``max_pages`` limits crawls only).
        """
        response = self.fetcher.get(source)
        body = _gunzip(response, self.fetcher.max_bytes)
        kind = _kind(response, body)
        if kind == "sitemap":
            yield from self._expand_sitemaps(response.final_url, body)
        elif kind == "feed":
            links = feed_links(body, response.final_url, response.content_type)
            yield from links or ()
        elif self.crawl and kind == "html":
            yield from self._crawl(response)
        else:
            self._keep(response.final_url, response)
            yield response.final_url

    def fetch(self, source: str) -> Iterator[Document]:
        """The one document of the page at ``source``."""
        with self._kept_lock:
            kept = self._kept.pop(source, None)
            if isinstance(kept, Response):
                self._kept_bytes -= len(kept.body)
        if isinstance(kept, ConnectorError):
            raise kept
        response = kept or self.fetcher.get(source)
        yield self._document(source, response)

    def _document(self, source: str, response: Response) -> Document:
        """A ``Document`` of the fetched page ``response``."""
        kind = _kind(response, response.body)
        if kind not in {"html", "text"}:
            what = response.content_type or "unknown"
            raise UnsupportedSourceError(source, f"content type {what} is not a web page we read")
        decoded = decode_page(response)
        tags: PageTags | None = None
        metadata: dict[str, MetaValue] = {"url": source, "final_url": response.final_url}
        if kind == "html":
            tags = scan_tags(decoded.text)
            extracted = extract_html(decoded.text, response.final_url)
            text, title = extracted.text, extracted.title
            found = page_metadata(decoded.text, response.final_url)
            canonical = _canonical(tags, response.final_url)
            metadata.update(
                {
                    "canonical_url": canonical,
                    "author": found.author or None,
                    "date": found.date or None,
                    "sitename": found.sitename or None,
                    "description": found.description or None,
                    "license": found.license or None,
                    "language": tags.lang or _first(response.header("content-language")),
                }
            )
        else:
            text, title, canonical = decoded.text, "", None
            metadata["language"] = _first(response.header("content-language"))
        if not text.strip():
            raise EmptyDocumentError(source, "no text left after extracting the page")
        consent = consent_for_response(response, self.fetcher, tags=tags)
        author = metadata.get("author")
        metadata.update(
            {
                "creator": author,
                "http_status": response.status,
                "content_type": response.content_type or None,
                "encoding": decoded.encoding,
                "size_bytes": len(response.body),
                "consent_status": consent.status,
                "consent_summary": consent.summary,
            }
        )
        return Document(
            text=text,
            source=canonical or response.final_url,
            kind="web",
            content_sha256=sha256_hex(response.body),
            title=title or _title_from_url(response.final_url),
            retrieved_at=response.retrieved_at,
            modified_at=_last_modified(response),
            metadata={key: value for key, value in metadata.items() if value is not None},
            warnings=decoded.warnings,
            consent=consent.to_dict(),
        )

    def _expand_sitemaps(self, url: str, body: bytes) -> Iterator[str]:
        """Page URLs of the sitemap at ``url`` and of the sitemaps it lists, breadth first, each once.

        The first sitemap's own failure is raised; a nested sitemap that cannot be read is listed as
        an item whose ``fetch`` raises why.
        """
        queue: deque[tuple[str, bytes | None, int]] = deque([(url, body, 0)])
        seen_sitemaps = {url}
        listed: set[str] = set()
        while queue:
            sitemap_url, content, nesting = queue.popleft()
            try:
                links = self._sitemap_links(sitemap_url, content)
            except ConnectorError as exc:
                if nesting == 0:
                    raise
                yield self._failed(sitemap_url, exc)
                continue
            for page in links.pages:
                if page not in listed:
                    listed.add(page)
                    yield page
            for nested in links.sitemaps:
                if nested in seen_sitemaps:
                    continue
                if nesting + 1 > MAX_SITEMAP_NESTING or len(seen_sitemaps) >= MAX_SITEMAPS:
                    reason = f"not followed: over {MAX_SITEMAP_NESTING} levels or {MAX_SITEMAPS} sitemaps"
                    yield self._failed(nested, ReadError(nested, reason))
                    continue
                seen_sitemaps.add(nested)
                queue.append((nested, None, nesting + 1))

    def _sitemap_links(self, url: str, content: bytes | None) -> SitemapLinks:
        """The links of the sitemap at ``url`` (fetched now unless ``content`` is given)."""
        if content is None:
            content = _gunzip(self.fetcher.get(url), self.fetcher.max_bytes)
        links = parse_sitemap(decode(content, url).text)
        if links.error:
            raise ReadError(url, f"not a readable sitemap: {links.error}")
        return links

    def _crawl(self, start: Response) -> Iterator[str]:
        """Same-host pages linked from ``start``, breadth first, up to ``max_pages`` and ``depth``."""
        host = _host(start.final_url)
        seen = {start.url, start.final_url}
        queue: deque[tuple[str, Response | None, int]] = deque([(start.final_url, start, 0)])
        yielded = 0
        while queue and yielded < self.max_pages:
            url, response, level = queue.popleft()
            if response is None:
                try:
                    response = self.fetcher.get(url)
                except RobotsDisallowedError:
                    continue  # a link we may not fetch is not part of the crawl
                except ConnectorError as exc:
                    yielded += 1
                    yield self._failed(url, exc)
                    continue
                if response.final_url != url and response.final_url in seen:
                    continue
                seen.add(response.final_url)
            if _kind(response, response.body) != "html":
                continue  # a linked image, PDF or feed is not a page of the site
            self._keep(response.final_url, response)
            yielded += 1
            yield response.final_url
            if level >= self.depth:
                continue
            for link in _follow_links(response):
                if link not in seen and _host(link) == host and not _NOT_PAGES.search(urlsplit(link).path):
                    seen.add(link)
                    queue.append((link, None, level + 1))

    def _failed(self, url: str, error: ConnectorError) -> str:
        """Remember why ``url`` failed during expand, so that its ``fetch`` raises it; return ``url``."""
        with self._kept_lock:
            previous = self._kept.pop(url, None)
            if isinstance(previous, Response):
                self._kept_bytes -= len(previous.body)
            self._kept[url] = error
        return url

    def _keep(self, url: str, response: Response) -> None:
        """Keep a page read by ``expand`` for ``fetch``, dropping the oldest over the byte budget."""
        with self._kept_lock:
            previous = self._kept.pop(url, None)
            if isinstance(previous, Response):
                self._kept_bytes -= len(previous.body)
            self._kept[url] = response
            self._kept_bytes += len(response.body)
            while self._kept_bytes > _KEEP_BYTES and self._kept:
                _, dropped = self._kept.popitem(last=False)
                if isinstance(dropped, Response):
                    self._kept_bytes -= len(dropped.body)


def decode_page(response: Response) -> Decoded:
    """The text of a page: its byte-order mark, else the HTTP charset, else a meta charset, else a guess.

    A declared charset that does not fit the bytes is ignored with a warning, and the bytes are
    decoded as UTF-8 or with a guessed encoding (``connectors.encoding.decode``).
    """
    body = response.body
    source = response.final_url
    if body.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return decode(body, source)
    declared = [(response.charset, "HTTP header"), (declared_charset(body), "meta charset")]
    warnings: list[str] = []
    for charset, where in declared:
        if not charset:
            continue
        name = _CHARSET_ALIASES.get(charset, charset)
        if name.startswith(("utf-16", "utf-32")):
            name = "utf-8"  # an ASCII-compatible page cannot really be UTF-16 (WHATWG)
        try:
            text = body.decode(name)
        except LookupError:
            warnings.append(f"{source}: unknown charset {charset!r} in the {where}; ignored")
            continue
        except UnicodeDecodeError:
            warnings.append(f"{source}: the {where} says {charset} but the bytes do not fit it; ignored")
            continue
        return Decoded(text.replace("\r\n", "\n").replace("\r", "\n"), codecs.lookup(name).name, tuple(warnings))
    decoded = decode(body, source)
    return Decoded(decoded.text, decoded.encoding, (*warnings, *decoded.warnings))


def _kind(response: Response, body: bytes) -> str:
    """``sitemap``, ``feed``, ``html``, ``text`` or ``other``: by the root element, then the type."""
    head = body[:8192]
    root = _root_element(head)
    if root in {"urlset", "sitemapindex"}:
        return "sitemap"
    if root in {"rss", "feed", "rdf"}:
        return "feed"
    content_type = response.content_type
    if content_type in _HTML_TYPES or (not content_type and (root in _HTML_ROOTS or _DOCTYPE_HTML.match(head))):
        return "html"
    if content_type in _TEXT_TYPES or not content_type:
        lines = [line.strip() for line in body[:65536].decode("utf-8", "replace").splitlines() if line.strip()]
        if lines and all(_URL_LINE.match(line) for line in lines):
            return "sitemap"
        return "text"
    return "other"


def _root_element(head: bytes) -> str:
    """The lower-cased local name of the first element in ``head`` (after any prolog and comments)."""
    without_comments = _COMMENT.sub(b"", head.lstrip(codecs.BOM_UTF8 + b" \t\r\n"))
    if not without_comments.startswith(b"<"):
        return ""
    match = _FIRST_ELEMENT.search(without_comments)
    if match is None:
        return ""
    return match["name"].decode("ascii", "replace").rsplit(":", 1)[-1].lower()


def _gunzip(response: Response, limit: int) -> bytes:
    """The body, decompressed if it is a gzip file (``sitemap.xml.gz``), up to ``limit`` bytes."""
    body = response.body
    if not body.startswith(_GZIP_MAGIC):
        return body
    inflater = zlib.decompressobj(47)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise ReadError(response.final_url, f"not valid gzip data: {exc}") from exc
    if len(data) > limit:
        raise TooLargeError(response.final_url, f"more than {limit:,} bytes once decompressed")
    return data


def _follow_links(response: Response) -> tuple[str, ...]:
    """Links of an HTML page to follow: none if its robots meta says ``nofollow`` or ``none``."""
    try:
        text = decode_page(response).text
    except ConnectorError:
        return ()  # not text after all: its fetch will say so
    tags = scan_tags(text)
    for content in tags.meta_values("robots"):
        if {"nofollow", "none"} & {part.strip().lower() for part in content.split(",")}:
            return ()
    return tuple(link for link in tags.absolute_links(response.final_url) if link.startswith(("http://", "https://")))


def _canonical(tags: PageTags, page_url: str) -> str | None:
    """The page's ``<link rel="canonical">``, absolute, if it is an http(s) URL."""
    for href in tags.link_hrefs("canonical"):
        target = urljoin(page_url, href).split("#", 1)[0]
        if target.startswith(("http://", "https://")) and urlsplit(target).hostname:
            return target
    return None


def _host(url: str) -> str:
    """The lower-cased host of ``url`` (scheme and port ignored: http and https are one site)."""
    return (urlsplit(url).hostname or "").lower()


def _first(value: str | None) -> str | None:
    """The first item of a comma-separated header value."""
    if not value:
        return None
    return value.split(",")[0].strip() or None


def _last_modified(response: Response) -> datetime | None:
    """The Last-Modified header as an aware datetime, if it parses."""
    value = response.header("last-modified")
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def _title_from_url(url: str) -> str:
    """A fallback title: the last path segment of ``url``, else its host."""
    parts = urlsplit(url)
    segment = parts.path.rstrip("/").rsplit("/", 1)[-1]
    return segment or parts.hostname or url
