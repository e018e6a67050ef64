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


MATCH_COLUMNS = (
    "scanned, record_id, score, estimated_similarity, containment, verbatim_words, matched_words, "
    "evidence_words, scanned_start, scanned_end, work_start, work_end, work_time_start, work_time_end, "
    "link, scanned_excerpt, work_excerpt"
)
"""The columns a stored match row holds (tables ``matches`` and ``scan_matches``), in this order."""


def stored_match(
    row: tuple[Any, ...], *, work_id: int, source: str, title: str, kind: str, consent: tuple[str | None, str | None]
) -> Match:
    """A ``Match`` from a row of ``MATCH_COLUMNS`` and the work it is about (as stored with the run or scan)."""
    r = row
    return Match(
        work_id=work_id,
        source=source,
        title=title,
        kind=kind,
        scanned=r[0],
        record_id=r[1],
        score=float(r[2]),
        estimated_similarity=float(r[3]),
        containment=float(r[4]),
        verbatim_words=int(r[5]),
        matched_words=int(r[6]),
        evidence_words=int(r[7]),
        scanned_span=(int(r[8]), int(r[9])),
        work_span=(int(r[10]), int(r[11])),
        work_time=None if r[12] is None else (float(r[12]), float(r[13])),
        link=r[14],
        scanned_excerpt=r[15],
        work_excerpt=r[16],
        consent_status=consent[0],
        consent_summary=consent[1],
    )


def format_timestamp(seconds: float) -> str:
    """``M:SS`` or ``H:MM:SS``."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_time_range(start: float, end: float) -> str:
    """``12:34-13:02``."""
    return f"{format_timestamp(start)}-{format_timestamp(end)}"
