"""Options and defaults the CLI shows, in a module that imports nothing heavy (the CLI starts fast)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DEFAULT_JOBS = 8
"""Catalog rows fetched at once by ``provenance add --catalog``."""
DEFAULT_LIMIT = 1000
"""Rows ``provenance sql`` prints at most."""


@dataclass(frozen=True)
class AuditOptions:
    """Thresholds of the audit; all are options of ``provenance audit``.

    ``min_words``: shared words a region needs to count as a match, not counting words inside stock
    phrases and boilerplate (anchors that many works of the index share). ``min_score``: least verified
    similarity. ``scan_stride``: step of the sliding windows over scanned texts (smaller finds more
    and costs more). ``seed_words`` and ``max_gap`` shape the verifying alignment.
    """

    min_words: int = 30
    min_score: float = 0.5
    scan_stride: int = 10
    seed_words: int = 4
    max_gap: int = 16
    batch_size: int = 64
    lookup: Literal["memory", "duckdb"] = "memory"
