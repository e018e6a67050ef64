"""Errors raised by connectors; every one names the source it is about.

ConnectorError                 base: ``source`` and a one-line ``reason``
├── SourceNotFoundError        the path or URL does not exist (HTTP 404 and 410 too)
├── UnsupportedSourceError     no connector claims it, or a file or content type we do not read
├── ReadError                  the source exists but could not be turned into text
│   ├── BinaryContentError     not text at all
│   ├── EmptyDocumentError     nothing left after extraction (a video without captions, too)
│   ├── TooLargeError          over the configured size limit (a file or an HTTP body)
│   ├── UnavailableError       exists but may not be read: private, removed, members-only, age- or geo-restricted
│   └── TranscriptUnavailableError  captions withheld for now (a PO token demanded, HTTP 429): not "no captions"
├── FetchError                 a URL could not be retrieved: network failure or HTTP error status
│   ├── FetchTimeoutError      no connection or no data within the timeout
│   ├── HTTPStatusError        the server answered with an error status (``status``)
│   └── TooManyRedirectsError  over the redirect limit, or a redirect loop
└── RefusedError               we chose not to fetch the URL
    ├── PrivateAddressError    its host resolves to a private, loopback or link-local address
    └── RobotsDisallowedError  robots.txt disallows our own user agent for it
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


class UnavailableError(ReadError):
    """The item exists (or existed) but may not be read: private, removed, members-only, restricted."""


class TranscriptUnavailableError(ReadError):
    """Captions may exist but were withheld for now (a PO token demanded, rate limited); a later try may work."""


class FetchError(ConnectorError):
    """A URL could not be retrieved: the network failed or the server answered with an error."""


class FetchTimeoutError(FetchError):
    """No connection, or no data, within the timeout."""


class HTTPStatusError(FetchError):
    """The server answered with an error status (other than 404 and 410, which are not-found)."""

    def __init__(self, source: str, reason: str, status: int) -> None:
        super().__init__(source, reason)
        self.status = status


class TooManyRedirectsError(FetchError):
    """More redirects than the limit, or a redirect back to a URL already visited."""


class RefusedError(ConnectorError):
    """We chose not to fetch the URL (safety or politeness), so nothing was requested from it."""


class PrivateAddressError(RefusedError):
    """The host resolves to a private, loopback, link-local or otherwise non-public address."""


class RobotsDisallowedError(RefusedError):
    """The site's robots.txt disallows our own user agent for this URL."""
