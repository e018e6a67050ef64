"""Sources to documents: each connector turns a path, URL or id into clean text with its metadata.

Names are imported when first used (PEP 562), so importing one light module of the package
(its errors, say) does not load the heavy ones: the CLI starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connectors.base import Connector
    from connectors.captions import Transcript, parse_json3, parse_srt, parse_webvtt
    from connectors.consent import ConsentReport, check_consent, consent_for_response
    from connectors.document import Cue, Document, sha256_hex
    from connectors.encoding import Decoded, decode
    from connectors.errors import (
        BinaryContentError,
        ConnectorError,
        EmptyDocumentError,
        FetchError,
        FetchTimeoutError,
        HTTPStatusError,
        PrivateAddressError,
        ReadError,
        RefusedError,
        RobotsDisallowedError,
        SourceNotFoundError,
        TooLargeError,
        TooManyRedirectsError,
        TranscriptUnavailableError,
        UnavailableError,
        UnsupportedSourceError,
    )
    from connectors.fetcher import Fetcher, Response
    from connectors.files import FilesConnector
    from connectors.html import Extracted, extract_html
    from connectors.markdown import markdown_to_text
    from connectors.registry import connector_for, connectors, fetch
    from connectors.web import WebConnector
    from connectors.youtube import YouTubeConnector, youtube_url, youtube_video_id

# Each public name and the module that defines it.
_EXPORTS = {
    "BinaryContentError": "connectors.errors",
    "Connector": "connectors.base",
    "ConnectorError": "connectors.errors",
    "ConsentReport": "connectors.consent",
    "Cue": "connectors.document",
    "Decoded": "connectors.encoding",
    "Document": "connectors.document",
    "EmptyDocumentError": "connectors.errors",
    "Extracted": "connectors.html",
    "FetchError": "connectors.errors",
    "FetchTimeoutError": "connectors.errors",
    "Fetcher": "connectors.fetcher",
    "FilesConnector": "connectors.files",
    "HTTPStatusError": "connectors.errors",
    "PrivateAddressError": "connectors.errors",
    "ReadError": "connectors.errors",
    "RefusedError": "connectors.errors",
    "Response": "connectors.fetcher",
    "RobotsDisallowedError": "connectors.errors",
    "SourceNotFoundError": "connectors.errors",
    "TooLargeError": "connectors.errors",
    "TooManyRedirectsError": "connectors.errors",
    "Transcript": "connectors.captions",
    "TranscriptUnavailableError": "connectors.errors",
    "UnavailableError": "connectors.errors",
    "UnsupportedSourceError": "connectors.errors",
    "WebConnector": "connectors.web",
    "YouTubeConnector": "connectors.youtube",
    "check_consent": "connectors.consent",
    "connector_for": "connectors.registry",
    "connectors": "connectors.registry",
    "consent_for_response": "connectors.consent",
    "decode": "connectors.encoding",
    "extract_html": "connectors.html",
    "fetch": "connectors.registry",
    "markdown_to_text": "connectors.markdown",
    "parse_json3": "connectors.captions",
    "parse_srt": "connectors.captions",
    "parse_webvtt": "connectors.captions",
    "sha256_hex": "connectors.document",
    "youtube_url": "connectors.youtube",
    "youtube_video_id": "connectors.youtube",
}
__all__ = [
    "BinaryContentError",
    "Connector",
    "ConnectorError",
    "ConsentReport",
    "Cue",
    "Decoded",
    "Document",
    "EmptyDocumentError",
    "Extracted",
    "FetchError",
    "FetchTimeoutError",
    "Fetcher",
    "FilesConnector",
    "HTTPStatusError",
    "PrivateAddressError",
    "ReadError",
    "RefusedError",
    "Response",
    "RobotsDisallowedError",
    "SourceNotFoundError",
    "TooLargeError",
    "TooManyRedirectsError",
    "Transcript",
    "TranscriptUnavailableError",
    "UnavailableError",
    "UnsupportedSourceError",
    "WebConnector",
    "YouTubeConnector",
    "check_consent",
    "connector_for",
    "connectors",
    "consent_for_response",
    "decode",
    "extract_html",
    "fetch",
    "markdown_to_text",
    "parse_json3",
    "parse_srt",
    "parse_webvtt",
    "sha256_hex",
    "youtube_url",
    "youtube_video_id",
]


def __getattr__(name: str) -> object:
    """A public name, imported from its module on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
