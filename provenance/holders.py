"""A run seen by rights holder: what it found in each holder's works, and one holder's part of it.

``holder_rows`` aggregates a stored run per rights holder (the ``rights_holder`` of each matched work's
snapshot; works without one form one group, ``NO_HOLDER``): the works matched, the scanned texts with
a match, the matches, the longest verbatim run, the shared words, the best score, and the consent the
holder declared (``consent_declared``, from the catalog) next to the consent observed when the work was
retrieved (``consent_status``). Each row also carries the run's id, tool version, times and manifest
digest, so one holder's part of a report stands alone. ``select_holder`` keeps one holder's works and
matches (numbered as in the whole run); ``group_matches`` orders a run's matches by holder and work,
which is how the HTML report lays them out.

Holders are named exactly as the catalog spelled them (as ``provenance works --rights-holder`` does);
``NO_HOLDER`` selects the works without one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, replace
from enum import Enum
from typing import TYPE_CHECKING, Any

from provenance.errors import ExitCode, ProvenanceError

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from provenance.match import Match
    from provenance.runs import AuditRun, WorkSnapshot

NO_HOLDER = "(no rights holder)"
NOT_DECLARED = "not declared"
NOT_RECORDED = "not recorded"
_NAMES_SHOWN = 20
# Consent values in the order a reader needs them: refusals first, absences last.
_CONSENT_ORDER = {"reserved": 0, "unknown": 1, "not_reserved": 2, "granted": 3, NOT_DECLARED: 8, NOT_RECORDED: 8}


class Grouping(str, Enum):
    """What ``provenance report --by`` groups a run by."""

    rights_holder = "rights-holder"


class RightsHolderNotFoundError(ProvenanceError):
    """No matched work of the run has that rights holder (exit 6, as for an unknown audit id)."""

    exit_code = ExitCode.NOT_FOUND

    def __init__(self, name: str, audit_id: str, present: list[str]) -> None:
        if not present:
            there = "the run matched no works"
        else:
            shown = ", ".join(repr(p) for p in present[:_NAMES_SHOWN])
            more = len(present) - _NAMES_SHOWN
            there = f"its matched works are held by {shown}" + (f" and {more} more" if more > 0 else "")
        super().__init__(f"no rights holder {name!r} in audit {audit_id}: {there}")
        self.name = name
        self.present = present


@dataclass(frozen=True)
class HolderWork:
    """One matched work of a holder, with what the run found in it and its consent, declared and observed."""

    work_id: int
    title: str
    source: str
    creator: str | None
    org_id: str | None
    licence: str | None
    matches: int
    texts_matched: int
    longest_verbatim_words: int
    shared_words: int
    best_score: float
    consent_declared: str | None
    consent_declared_source: str | None
    consent_status: str | None
    consent_summary: str | None


@dataclass(frozen=True)
class HolderRow:
    """A rights holder's part of a run. ``rights_holder`` is None for the works without one (``label`` says so).

    ``consent_declared`` and ``consent_observed`` count works per value (``NOT_DECLARED``, ``NOT_RECORDED``
    where a work has none), refusals first. ``texts_matched`` counts distinct scanned texts (or records).
    """

    rights_holder: str | None
    label: str
    works: tuple[HolderWork, ...]
    texts_matched: int
    matches: int
    longest_verbatim_words: int
    shared_words: int
    best_score: float
    consent_declared: tuple[tuple[str, int], ...]
    consent_observed: tuple[tuple[str, int], ...]
    audit_id: str
    started_at: datetime
    finished_at: datetime
    tool_version: str
    manifest_sha256: str

    @property
    def works_matched(self) -> int:
        """How many of the holder's works the run matched."""
        return len(self.works)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: consent counts as objects, times as ISO 8601."""
        return {
            "rights_holder": self.rights_holder,
            "label": self.label,
            "works_matched": self.works_matched,
            "texts_matched": self.texts_matched,
            "matches": self.matches,
            "longest_verbatim_words": self.longest_verbatim_words,
            "shared_words": self.shared_words,
            "best_score": round(self.best_score, 4),
            "consent_declared": dict(self.consent_declared),
            "consent_observed": dict(self.consent_observed),
            "works": [{**asdict(w), "best_score": round(w.best_score, 4)} for w in self.works],
            "audit_id": self.audit_id,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "tool_version": self.tool_version,
            "manifest_sha256": self.manifest_sha256,
        }


@dataclass(frozen=True)
class WorkGroup:
    """A work and its matches (with their numbers in the run), best first."""

    work: WorkSnapshot
    matches: tuple[tuple[int, Match], ...]


@dataclass(frozen=True)
class HolderGroup:
    """A rights holder (None: works without one) and its works, the most matched first."""

    rights_holder: str | None
    label: str
    works: tuple[WorkGroup, ...]

    @property
    def matches(self) -> int:
        """The holder's matches."""
        return sum(len(g.matches) for g in self.works)


@dataclass(frozen=True)
class HolderSelection:
    """One holder's part of a run: a run of only its works and matches, and each match's number in the whole run."""

    run: AuditRun
    numbers: tuple[int, ...]
    rights_holder: str | None
    label: str
    matches_in_run: int


def holder_label(rights_holder: str | None) -> str:
    """How a holder is named in reports: its name, or ``NO_HOLDER``."""
    return NO_HOLDER if rights_holder is None else rights_holder


def holders_of(run: AuditRun) -> list[str]:
    """The labels of the holders of the run's matched works, in report order."""
    return [holder_label(h) for h in _ordered_holders(w.rights_holder for w in run.works)]


def group_matches(run: AuditRun, numbers: Iterable[int] | None = None) -> list[HolderGroup]:
    """The run's matches by holder (by name, works without one last) and work (most matches first), best first.

    ``numbers`` are the matches' numbers in the run (default 1, 2, ...). Matches rank by score, then verbatim
    run, then number.
    """
    numbered = list(zip(numbers if numbers is not None else range(1, len(run.matches) + 1), run.matches, strict=True))
    by_work: dict[int, list[tuple[int, Match]]] = {}
    for n, m in numbered:
        by_work.setdefault(m.work_id, []).append((n, m))
    works_of: dict[str | None, list[WorkGroup]] = {}
    for w in run.works:
        found = sorted(by_work.get(w.work_id, []), key=lambda nm: (-nm[1].score, -nm[1].verbatim_words, nm[0]))
        works_of.setdefault(w.rights_holder, []).append(WorkGroup(w, tuple(found)))
    return [
        HolderGroup(
            holder,
            holder_label(holder),
            tuple(sorted(works_of[holder], key=lambda g: (-len(g.matches), g.work.work_id))),
        )
        for holder in _ordered_holders(works_of)
    ]


def holder_rows(run: AuditRun, rights_holder: str | None = None) -> list[HolderRow]:
    """The run per rights holder (see the module docstring); only ``rights_holder``'s row when given.

    Raises ``RightsHolderNotFoundError`` if no matched work has that holder.
    """
    groups = group_matches(run)
    if rights_holder is not None:
        groups = [g for g in groups if _is(g.rights_holder, rights_holder)]
        if not groups:
            raise RightsHolderNotFoundError(rights_holder, run.audit_id, holders_of(run))
    return [_row(run, g) for g in groups]


def select_holder(run: AuditRun, rights_holder: str) -> HolderSelection:
    """``rights_holder``'s works and matches of ``run`` (inputs kept, their match counts recomputed).

    The manifest stays the whole run's: its digest covers every match, so it still verifies.
    """
    works = tuple(w for w in run.works if _is(w.rights_holder, rights_holder))
    if not works:
        raise RightsHolderNotFoundError(rights_holder, run.audit_id, holders_of(run))
    kept = {w.work_id for w in works}
    numbered = [(n, m) for n, m in enumerate(run.matches, start=1) if m.work_id in kept]
    per_text = Counter(m.scanned for _, m in numbered)
    inputs = tuple(replace(i, matches=per_text[i.scanned]) if i.error is None else i for i in run.inputs)
    holder = works[0].rights_holder
    return HolderSelection(
        run=replace(run, works=works, matches=tuple(m for _, m in numbered), inputs=inputs),
        numbers=tuple(n for n, _ in numbered),
        rights_holder=holder,
        label=holder_label(holder),
        matches_in_run=len(run.matches),
    )


def _is(holder: str | None, name: str) -> bool:
    return holder == name or (holder is None and name == NO_HOLDER)


def _ordered_holders(holders: Iterable[str | None]) -> list[str | None]:
    return sorted(set(holders), key=lambda h: (h is None, (h or "").casefold(), h or ""))


def _consent_counts(values: Iterable[str | None], missing: str) -> tuple[tuple[str, int], ...]:
    counts = Counter(v or missing for v in values)
    return tuple(sorted(counts.items(), key=lambda kv: (_CONSENT_ORDER.get(kv[0], 5), kv[0])))


def _row(run: AuditRun, group: HolderGroup) -> HolderRow:
    works = tuple(_work(g) for g in group.works)
    matches = [m for g in group.works for _, m in g.matches]
    return HolderRow(
        rights_holder=group.rights_holder,
        label=group.label,
        works=works,
        texts_matched=len({m.scanned for m in matches}),
        matches=len(matches),
        longest_verbatim_words=max((m.verbatim_words for m in matches), default=0),
        shared_words=sum(m.matched_words for m in matches),
        best_score=max((m.score for m in matches), default=0.0),
        consent_declared=_consent_counts((w.consent_declared for w in works), NOT_DECLARED),
        consent_observed=_consent_counts((w.consent_status for w in works), NOT_RECORDED),
        audit_id=run.audit_id,
        started_at=run.started_at,
        finished_at=run.finished_at,
        tool_version=run.tool_version,
        manifest_sha256=run.manifest_sha256,
    )


def _work(group: WorkGroup) -> HolderWork:
    w = group.work
    matches = [m for _, m in group.matches]
    return HolderWork(
        work_id=w.work_id,
        title=w.title,
        source=w.source,
        creator=w.creator,
        org_id=w.org_id,
        licence=w.licence,
        matches=len(matches),
        texts_matched=len({m.scanned for m in matches}),
        longest_verbatim_words=max((m.verbatim_words for m in matches), default=0),
        shared_words=sum(m.matched_words for m in matches),
        best_score=max((m.score for m in matches), default=0.0),
        consent_declared=w.consent_declared,
        consent_declared_source=w.consent_declared_source,
        consent_status=w.consent_status,
        consent_summary=w.consent_summary,
    )
