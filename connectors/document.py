"""The value a connector produces: one work's clean text plus what is known about where it came from."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

MetaValue = str | int | float | bool | None


@dataclass(frozen=True)
class Cue:
    """A timed stretch of a transcript: ``text[char_start:char_end]`` is spoken from ``start_s`` to ``end_s``."""

    char_start: int
    char_end: int
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Document:
    """One work or one scanned text, reduced to clean text.

    ``text`` is what fingerprints and character offsets refer to. ``content_sha256`` is the SHA-256 of
    the raw bytes as retrieved (the file or the HTTP body), so anyone holding the original can check it.
    ``cues`` is non-empty for transcripts and maps character offsets of ``text`` to media times.
    ``warnings`` carries recoverable problems met while reading (a guessed encoding, say).
    ``consent`` is the JSON-ready snapshot of the rights signals seen at retrieval (web pages), with
    at least ``status`` (``reserved``, ``not_reserved`` or ``unknown``) and ``summary`` (one line).
    """

    text: str
    source: str
    kind: str
    content_sha256: str
    title: str = ""
    retrieved_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    modified_at: datetime | None = None
    metadata: dict[str, MetaValue] = field(default_factory=dict)
    cues: tuple[Cue, ...] = ()
    warnings: tuple[str, ...] = ()
    consent: dict[str, Any] | None = None

    @property
    def text_sha256(self) -> str:
        """SHA-256 of the clean text (UTF-8), the thing that was fingerprinted."""
        return sha256_hex(self.text.encode("utf-8"))


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()
