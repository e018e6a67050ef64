"""A verified match: which work, which passage, where in both texts, and how similar."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Match:
    """One reused region. Spans are ``[start, end)`` character offsets into the original texts.

    ``score`` is the verified similarity of the two regions (shared words over their mean length);
    ``estimated_similarity`` the best MinHash estimate between overlapping windows;
    ``containment`` the share of the work's region found in the scanned text; ``evidence_words`` the
    shared words outside stock phrases and boilerplate (what ``min_words`` is compared with).
    """

    work_id: int
    source: str
    title: str
    kind: str
    scanned: str
    record_id: str | None
    score: float
    estimated_similarity: float
    containment: float
    verbatim_words: int
    matched_words: int
    evidence_words: int
    scanned_span: tuple[int, int]
    work_span: tuple[int, int]
    scanned_excerpt: str
    work_excerpt: str
    work_time: tuple[float, float] | None = None
    consent_status: str | None = None
    consent_summary: str | None = None
    link: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (spans as two-element lists)."""
        out: dict[str, Any] = {
            "work_id": self.work_id,
            "source": self.source,
            "title": self.title,
            "kind": self.kind,
            "scanned": self.scanned,
            "record_id": self.record_id,
            "score": round(self.score, 4),
            "similarity": round(self.score, 4),
            "estimated_similarity": round(self.estimated_similarity, 4),
            "containment": round(self.containment, 4),
            "verbatim_words": self.verbatim_words,
            "matched_words": self.matched_words,
            "evidence_words": self.evidence_words,
            "scanned_span": list(self.scanned_span),
            "work_span": list(self.work_span),
            "scanned_excerpt": self.scanned_excerpt,
            "work_excerpt": self.work_excerpt,
        }
        if self.link is not None:
            out["link"] = self.link
        if self.consent_status is not None:
            out["consent_status"] = self.consent_status
            out["consent_summary"] = self.consent_summary
        if self.work_time is not None:
            out["work_time"] = [round(t, 3) for t in self.work_time]
            out["work_time_label"] = format_time_range(*self.work_time)
        return out


def format_timestamp(seconds: float) -> str:
    """``M:SS`` or ``H:MM:SS``."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_time_range(start: float, end: float) -> str:
    """``12:34-13:02``."""
    return f"{format_timestamp(start)}-{format_timestamp(end)}"
