"""The match record: one reused region, which work it is of, and the one table of its fields.

``MATCH_FIELDS`` is the only place a match's fields are listed. Every other form is derived from it:
the flat row (``to_row``/``from_row``: stored rows, spools, Spark rows, Parquet), its Arrow schema
(``arrow_schema``), the JSON object of ``--json`` and ``-o`` (``to_json``), and the CSV columns
(``CSV_COLUMNS``). Adding a field is one line in ``MATCH_FIELDS`` and one in ``Match``.

Fields are of two origins. ``match`` fields are measured per match and stored per row (table
``matches``). ``work`` fields say which work it is and what its rights are (title, creator, rights
holder, the consent the rights holder declared and the consent observed at retrieval): they are
joined from the work once, from the snapshot a run keeps of every matched work (``audit_works``), so
a stored run shows them as they were when it ran.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

if TYPE_CHECKING:
    from collections.abc import Mapping

Origin = Literal["match", "work"]


@dataclass(frozen=True)
class MatchField:
    """A field of the flat match row: name, Arrow and SQL types, whether it may be null, its origin, its meaning."""

    name: str
    arrow: pa.DataType
    sql: str
    nullable: bool
    origin: Origin
    doc: str


def _f(name: str, kind: str, doc: str, *, null: bool = False, origin: Origin = "match") -> MatchField:
    arrow = {
        "BIGINT": pa.int64(),
        "INTEGER": pa.int32(),
        "DOUBLE": pa.float64(),
        "VARCHAR": pa.string(),
    }[kind]
    return MatchField(name, arrow, kind, null, origin, doc)


MATCH_FIELDS: tuple[MatchField, ...] = (
    _f("work_id", "BIGINT", "Id of the matched work in the index."),
    _f("source", "VARCHAR", "Where the work came from: a path, URL or video URL.", origin="work"),
    _f("title", "VARCHAR", "Title of the work (a catalog's title when a catalog named one).", origin="work"),
    _f("kind", "VARCHAR", "The work's kind: text, markdown, html, web, youtube, transcript ...", origin="work"),
    _f("creator", "VARCHAR", "Author or channel of the work.", null=True, origin="work"),
    _f(
        "rights_holder",
        "VARCHAR",
        "Who holds the rights (catalog, or `add --rights-holder`).",
        null=True,
        origin="work",
    ),
    _f("org_id", "VARCHAR", "The catalog's own id of the work.", null=True, origin="work"),
    _f("licence", "VARCHAR", "The licence the catalog (or `add --licence`) names.", null=True, origin="work"),
    _f(
        "consent_declared",
        "VARCHAR",
        "Consent to AI training the rights holder declared: granted, reserved, not_reserved or unknown.",
        null=True,
        origin="work",
    ),
    _f(
        "consent_declared_source",
        "VARCHAR",
        "Where it was declared, e.g. `catalog works.csv:12`.",
        null=True,
        origin="work",
    ),
    _f(
        "consent_status",
        "VARCHAR",
        "Consent observed at retrieval (robots.txt, TDMRep, noai ...): reserved, not_reserved or unknown.",
        null=True,
        origin="work",
    ),
    _f("consent_summary", "VARCHAR", "Why, in one line.", null=True, origin="work"),
    _f("scanned", "VARCHAR", "The scanned file, PATH#RECORD_ID for a record, or <stdin>."),
    _f("record_id", "VARCHAR", "The record's id (the id field, else its number; see README).", null=True),
    _f("score", "DOUBLE", "Verified similarity: shared words over the mean length of the two regions."),
    _f("estimated_similarity", "DOUBLE", "Best MinHash estimate between overlapping windows."),
    _f("containment", "DOUBLE", "Share of the work's region found in the scanned text."),
    _f("verbatim_words", "INTEGER", "Longest run of identical words."),
    _f("matched_words", "INTEGER", "Words the two regions share."),
    _f("evidence_words", "INTEGER", "Shared words outside stock phrases and boilerplate."),
    _f("scanned_start", "BIGINT", "Start offset (characters, 0-based) in the scanned text as read."),
    _f("scanned_end", "BIGINT", "End offset (exclusive) in the scanned text."),
    _f("work_start", "BIGINT", "Start offset (characters) in the work's text as stored in the index."),
    _f("work_end", "BIGINT", "End offset (exclusive) in the work's text."),
    _f("work_time_start", "DOUBLE", "For transcripts: seconds into the video where the passage starts.", null=True),
    _f("work_time_end", "DOUBLE", "For transcripts: seconds into the video where it ends.", null=True),
    _f("link", "VARCHAR", "Where to see the passage: the page, or the video at that second.", null=True),
    _f("scanned_excerpt", "VARCHAR", "The matched region of the scanned text."),
    _f("work_excerpt", "VARCHAR", "The matched region of the work."),
)
FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in MATCH_FIELDS)
STORED_FIELDS: tuple[MatchField, ...] = tuple(f for f in MATCH_FIELDS if f.origin == "match")
# Pairs of flat fields that the JSON form shows as one two-element list.
_PAIRS = {
    "scanned_span": ("scanned_start", "scanned_end"),
    "work_span": ("work_start", "work_end"),
    "work_time": ("work_time_start", "work_time_end"),
}
_ROUNDED = {"score", "estimated_similarity", "containment"}
CSV_COLUMNS: tuple[str, ...] = ("audit_id", "match_no", *FIELD_NAMES, "work_time_label")
"""Columns of a CSV of matches (``provenance report --format csv``): the run, the number, every field."""


def arrow_schema(*, origin: Origin | None = None) -> pa.Schema:
    """The flat row's Arrow schema (only the fields of ``origin`` when given)."""
    chosen = [f for f in MATCH_FIELDS if origin is None or f.origin == origin or f.name == "work_id"]
    return pa.schema([pa.field(f.name, f.arrow, nullable=f.nullable) for f in chosen])


@dataclass(frozen=True)
class WorkRights:
    """What a match says of its work beyond its identity: creator, rights and both kinds of consent."""

    creator: str | None = None
    rights_holder: str | None = None
    org_id: str | None = None
    licence: str | None = None
    consent_declared: str | None = None
    consent_declared_source: str | None = None
    consent_status: str | None = None
    consent_summary: str | None = None


@dataclass(frozen=True)
class Match:
    """One reused region. Spans are ``[start, end)`` character offsets into the original texts.

    ``score`` is the verified similarity of the two regions (shared words over their mean length);
    ``estimated_similarity`` the best MinHash estimate between overlapping windows;
    ``containment`` the share of the work's region found in the scanned text; ``evidence_words`` the
    shared words outside stock phrases and boilerplate (what ``min_words`` is compared with).
    The work's rights and consent are in ``MATCH_FIELDS`` order after ``kind``.
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
    link: str | None = None
    creator: str | None = None
    rights_holder: str | None = None
    org_id: str | None = None
    licence: str | None = None
    consent_declared: str | None = None
    consent_declared_source: str | None = None
    consent_status: str | None = None
    consent_summary: str | None = None

    def with_rights(self, rights: WorkRights) -> Match:
        """The match with its work's rights and consent set from ``rights``."""
        return replace(self, **{f.name: getattr(rights, f.name) for f in fields(WorkRights)})

    def to_row(self) -> dict[str, Any]:
        """The flat row: every field of ``MATCH_FIELDS``, unrounded."""
        row: dict[str, Any] = {}
        for f in MATCH_FIELDS:
            row[f.name] = getattr(self, f.name, None)
        for pair, (start, end) in _PAIRS.items():
            value = getattr(self, pair)
            row[start], row[end] = (None, None) if value is None else value
        return row

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``--json`` and ``-o``: every field, spans and times as pairs, scores to 4 places."""
        return to_json(self.to_row())


def to_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """A flat row as the JSON form: ``*_start``/``*_end`` as ``*_span``/``work_time`` pairs, every field present."""
    folded = {part: name for name, pair in _PAIRS.items() for part in pair}
    out: dict[str, Any] = {}
    for f in MATCH_FIELDS:
        pair = folded.get(f.name)
        if pair is not None:
            if pair not in out:
                start, end = _PAIRS[pair]
                out[pair] = None if row.get(start) is None else [row[start], row[end]]
            continue
        value = row.get(f.name)
        out[f.name] = round(value, 4) if f.name in _ROUNDED and value is not None else value
    time = out["work_time"]
    out["work_time"] = None if time is None else [round(float(t), 3) for t in time]
    out["work_time_label"] = None if time is None else format_time_range(*time)
    return out


def from_row(row: Mapping[str, Any]) -> Match:
    """A ``Match`` from a flat row (a stored row joined with its work, a spool entry, a Spark row)."""
    values: dict[str, Any] = {}
    for f in MATCH_FIELDS:
        value = row.get(f.name)
        if value is not None and f.arrow == pa.float64():
            value = float(value)
        elif value is not None and f.arrow in {pa.int64(), pa.int32()}:
            value = int(value)
        values[f.name] = value
    for pair, (start, end) in _PAIRS.items():
        first, last = values.pop(start), values.pop(end)
        values[pair] = None if first is None else (first, last)
    return Match(**values)


def match_fields_doc() -> str:
    """The README table of match fields, from ``MATCH_FIELDS`` (a test keeps the README equal to it)."""
    lines = ["| field | type | meaning |", "|---|---|---|"]
    for f in MATCH_FIELDS:
        kind = f.sql.lower() + (" or null" if f.nullable else "")
        lines.append(f"| `{f.name}` | {kind} | {f.doc} |")
    return "\n".join(lines)


def format_timestamp(seconds: float) -> str:
    """``M:SS`` or ``H:MM:SS``."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_time_range(start: float, end: float) -> str:
    """``12:34-13:02``."""
    return f"{format_timestamp(start)}-{format_timestamp(end)}"
