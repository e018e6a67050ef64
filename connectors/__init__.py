"""Sources to documents: each connector turns a path, URL or id into clean text with its metadata."""

from connectors.base import Connector
from connectors.captions import Transcript, parse_srt, parse_webvtt
from connectors.document import Cue, Document, sha256_hex
from connectors.encoding import Decoded, decode
from connectors.errors import (
    BinaryContentError,
    ConnectorError,
    EmptyDocumentError,
    ReadError,
    SourceNotFoundError,
    TooLargeError,
    UnsupportedSourceError,
)
from connectors.files import FilesConnector
from connectors.html import Extracted, extract_html
from connectors.markdown import markdown_to_text
from connectors.registry import connector_for, connectors, fetch

__all__ = [
    "BinaryContentError",
    "Connector",
    "ConnectorError",
    "Cue",
    "Decoded",
    "Document",
    "EmptyDocumentError",
    "Extracted",
    "FilesConnector",
    "ReadError",
    "SourceNotFoundError",
    "TooLargeError",
    "Transcript",
    "UnsupportedSourceError",
    "connector_for",
    "connectors",
    "decode",
    "extract_html",
    "fetch",
    "markdown_to_text",
    "parse_srt",
    "parse_webvtt",
    "sha256_hex",
]
