"""The connector interface: the one extension point through which sources become documents."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Iterator

    from connectors.document import Document


@runtime_checkable
class Connector(Protocol):
    """Turns a source string (a path, a URL, an id) into documents.

    ``expand`` splits a source that names many items (a folder, a channel, a sitemap) into one source
    string per item, cheaply and without reading them, so that callers can fetch items one at a time,
    report a failure per item and carry on. A connector for single items returns ``iter([source])``.
    ``fetch`` reads one item and raises a ``ConnectorError`` naming it when it cannot.

    A connector whose ``expand`` and ``fetch`` may run in several threads at once says so with a class
    attribute ``thread_safe = True`` (optional, like ``document_source``); callers that fetch
    concurrently (``add --catalog --jobs``) make one call at a time to a connector without it.
    """

    name: str

    def can_handle(self, source: str) -> bool:
        """Whether this connector reads ``source``."""
        ...

    def expand(self, source: str) -> Iterator[str]:
        """The item sources that ``source`` stands for."""
        ...

    def fetch(self, source: str) -> Iterator[Document]:
        """The documents of one item."""
        ...
