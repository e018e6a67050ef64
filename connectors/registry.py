"""The one place connectors are listed.

Third-party connectors register under the entry-point group ``provenance.connectors``. Built-in ones
take their settings from one ``ConnectorOptions``, so a run builds its connectors once (one fetcher,
one robots.txt cache and one rate limit per run) and routes every source through them.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from connectors.base import Connector
from connectors.errors import UnsupportedSourceError
from connectors.files import FilesConnector
from connectors.options import ConnectorOptions
from connectors.web import WebConnector
from connectors.youtube import YouTubeConnector

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from connectors.document import Document

ENTRY_POINT_GROUP = "provenance.connectors"


def builtin_connectors(options: ConnectorOptions | None = None) -> list[Connector]:
    """Built-in connectors, most specific first (local files last: they claim anything that is not a URL)."""
    o = options or ConnectorOptions()
    return [
        YouTubeConnector(lang=o.lang),
        WebConnector(crawl=o.crawl, max_pages=o.max_pages, depth=o.depth, allow_private=o.allow_private),
        FilesConnector(),
    ]


@cache
def plugin_connectors() -> tuple[Connector, ...]:
    """Connectors registered by other packages under the entry-point group."""
    found: list[Connector] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        instance = obj() if isinstance(obj, type) else obj
        if not isinstance(instance, Connector):
            msg = f"entry point {ep.name!r} in {ENTRY_POINT_GROUP} is not a connector"
            raise TypeError(msg)
        found.append(instance)
    return tuple(found)


def connectors(options: ConnectorOptions | None = None) -> tuple[Connector, ...]:
    """Entry-point connectors first, so a plug-in can claim sources before the built-ins."""
    return (*plugin_connectors(), *builtin_connectors(options))


def connector_for(source: str, available: Sequence[Connector] | None = None) -> Connector:
    """The first connector (of ``available``, else of the defaults) that claims ``source``."""
    for connector in available if available is not None else connectors():
        if connector.can_handle(source):
            return connector
    raise UnsupportedSourceError(source, "no connector handles this kind of source")


def fetch(source: str, available: Sequence[Connector] | None = None) -> Iterator[Document]:
    """All documents of ``source``; stops at the first failing item (use ``expand`` to carry on)."""
    connector = connector_for(source, available)
    for item in connector.expand(source):
        yield from connector.fetch(item)
