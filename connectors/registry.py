"""The one place connectors are listed.

Third-party connectors register under the entry-point group ``provenance.connectors``.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from connectors.base import Connector
from connectors.errors import UnsupportedSourceError
from connectors.files import FilesConnector

if TYPE_CHECKING:
    from collections.abc import Iterator

    from connectors.document import Document

ENTRY_POINT_GROUP = "provenance.connectors"


def builtin_connectors() -> list[Connector]:
    """Built-in connectors, most specific first (local files last: they claim anything that is not a URL)."""
    return [FilesConnector()]


@cache
def connectors() -> tuple[Connector, ...]:
    """Entry-point connectors first, so a plug-in can claim sources before the built-ins."""
    found: list[Connector] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        instance = obj() if isinstance(obj, type) else obj
        if not isinstance(instance, Connector):
            msg = f"entry point {ep.name!r} in {ENTRY_POINT_GROUP} is not a connector"
            raise TypeError(msg)
        found.append(instance)
    return (*found, *builtin_connectors())


def connector_for(source: str) -> Connector:
    """The first connector that claims ``source``."""
    for connector in connectors():
        if connector.can_handle(source):
            return connector
    raise UnsupportedSourceError(source, "no connector handles this kind of source")


def fetch(source: str) -> Iterator[Document]:
    """All documents of ``source``; stops at the first failing item (use ``expand`` to carry on)."""
    connector = connector_for(source)
    for item in connector.expand(source):
        yield from connector.fetch(item)
