"""Settings of the built-in connectors, in a module of their own so the CLI reads defaults without loading them."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_PAGES = 100
DEFAULT_DEPTH = 2


@dataclass(frozen=True)
class ConnectorOptions:
    """Settings of the built-in connectors for one run (the ``provenance add`` options)."""

    crawl: bool = False
    max_pages: int = DEFAULT_MAX_PAGES
    depth: int = DEFAULT_DEPTH
    allow_private: bool = False
    lang: str | None = None
