"""Errors raised by connectors; every one names the source it is about.

ConnectorError                 base: ``source`` and a one-line ``reason``
├── SourceNotFoundError        the path or URL does not exist
├── UnsupportedSourceError     no connector claims it, or a file type we do not read
└── ReadError                  the source exists but could not be turned into text
    ├── BinaryContentError     not text at all
    ├── EmptyDocumentError     nothing left after extraction
    └── TooLargeError          over the configured size limit
"""

from __future__ import annotations


class ConnectorError(Exception):
    """A source could not be fetched or read."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class SourceNotFoundError(ConnectorError):
    """The path or URL does not exist."""


class UnsupportedSourceError(ConnectorError):
    """No connector handles the source, or its format is not one we read."""


class ReadError(ConnectorError):
    """The source exists but could not be read as text."""


class BinaryContentError(ReadError):
    """The content is binary, not text."""


class EmptyDocumentError(ReadError):
    """No text is left after extraction."""


class TooLargeError(ReadError):
    """The content is larger than the configured limit."""
