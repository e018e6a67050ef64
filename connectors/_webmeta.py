"""Page metadata (author, date, site name, description, licence, canonical URL) with trafilatura.

A typed adapter over ``trafilatura.extract_metadata``, which reads meta tags, JSON-LD, Open Graph
and bylines, and dates through htmldate. Kept apart from ``connectors.html`` (main text) so that the
text extraction stays as it is for files; the cost is a second parse of a web page (milliseconds).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from trafilatura import extract_metadata

_BYLINE_PREFIX = re.compile(r"^(?:view all posts by|all posts by|posts by|written by|posted by|by)\s+", re.IGNORECASE)
"""Link text some themes put around an author name, which trafilatura sometimes returns as the author."""


@dataclass(frozen=True)
class PageMetadata:
    """What trafilatura found about a page; empty strings where it found nothing."""

    author: str = ""
    date: str = ""
    sitename: str = ""
    description: str = ""
    license: str = ""
    url: str = ""


def page_metadata(html: str, url: str) -> PageMetadata:
    """Metadata of the page ``html`` fetched from ``url`` (``url`` is only a fallback for ``.url``)."""
    found = extract_metadata(html, default_url=url)
    return PageMetadata(
        author=_BYLINE_PREFIX.sub("", _text(found.author)),
        date=_text(found.date),
        sitename=_text(found.sitename),
        description=_text(found.description),
        license=_text(found.license),
        url=_text(found.url),
    )


def _text(value: object) -> str:
    """A metadata field as a stripped string ('' for None)."""
    return value.strip() if isinstance(value, str) else ""
