"""Sources to documents: each connector turns a path, URL or id into clean text with its metadata."""

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
