"""Catalogs: a rights organization's list of works, one row per work, read and checked before indexing.

A catalog is CSV (a header row) or JSON Lines (one object per line), optionally ``.gz`` or ``.zst``.
Each row names a ``source`` (a web page URL, a YouTube URL or video id, or a file path, relative to
the catalog's folder) and carries ``creator``, ``rights_holder``, the organization's own ``org_id``,
and a ``licence`` or a ``consent`` status (or both). A bad row is reported with its line number and
the rest are read. The works it yields carry creator, rights holder, ``org_id`` and licence in their
own ``NewWork`` fields (columns of the index, so results group by them); ``NewWork.metadata`` records
those three again, with the consent status and any extra columns, as before.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pyarrow as pa

from connectors import youtube_url, youtube_video_id
from provenance.inputs import InputFailure

if TYPE_CHECKING:
    from collections.abc import Iterator

    from indexes import NewWork

# Column names as organizations write them, mapped to ours.
ALIASES = {
    "source": "source",
    "url": "source",
    "path": "source",
    "file": "source",
    "creator": "creator",
    "author": "creator",
    "rights_holder": "rights_holder",
    "rightsholder": "rights_holder",
    "rights_owner": "rights_holder",
    "licence": "licence",
    "license": "licence",
    "consent": "consent",
    "consent_status": "consent",
    "org_id": "org_id",
    "title": "title",
    "name": "title",
    "catalog_id": "org_id",
    "catalogue_id": "org_id",
    "id": "org_id",
}
REQUIRED = ("source", "creator", "rights_holder", "org_id")
# Consent as a catalog declares it: whether the rights holder allows AI training on the work.
CONSENT = {
    "granted": "granted",
    "opt_in": "granted",
    "reserved": "reserved",
    "opt_out": "reserved",
    "denied": "reserved",
    "not_reserved": "not_reserved",
    "unknown": "unknown",
}
_URL = re.compile(r"^https?://[^\s/]+", re.IGNORECASE)
_MAX_FIELD = 1 << 20


class _BadCatalogError(Exception):
    """The catalog as a whole is unusable (its header lacks a required column)."""


@dataclass(frozen=True)
class CatalogRow:
    """One checked catalog row. ``source`` is canonical: a URL, a YouTube watch URL, or an absolute path."""

    line: int
    source: str
    creator: str
    rights_holder: str
    org_id: str
    licence: str | None = None
    consent: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    title: str | None = None
    catalog: str = ""  # the catalog file the row is in

    def metadata(self) -> dict[str, str | None]:
        """What a work indexed from this row records in ``NewWork.metadata`` (creator only in its own field)."""
        found: dict[str, str | None] = {f"catalog_{k}": v for k, v in self.extra.items()}
        found.update(
            rights_holder=self.rights_holder, org_id=self.org_id, licence=self.licence, consent_status=self.consent
        )
        return found

    def apply(self, work: NewWork) -> NewWork:
        """``work`` (as a connector produced it) with this row's title, creator, rights, declared consent and id.

        The catalog's title replaces the one a connector found (a file name, a page's title tag); the
        declared consent is recorded with where it was declared (``catalog PATH:LINE``).
        """
        return replace(
            work,
            title=self.title or work.title,
            creator=self.creator,
            rights_holder=self.rights_holder,
            org_id=self.org_id,
            licence=self.licence,
            consent_declared=self.consent,
            consent_declared_source=f"catalog {self.catalog}:{self.line}" if self.consent else None,
            metadata={**work.metadata, **self.metadata()},
        )


@dataclass(frozen=True)
class WorkLabels:
    """What a creator says of their own works on ``provenance add``: creator, rights holder, title, licence.

    Values left None keep what the connector found. ``apply`` has the signature of ``CatalogRow.apply``.
    """

    creator: str | None = None
    rights_holder: str | None = None
    title: str | None = None
    licence: str | None = None

    def apply(self, work: NewWork) -> NewWork:
        """``work`` with the values given here in place of the connector's."""
        return replace(
            work,
            creator=self.creator or work.creator,
            rights_holder=self.rights_holder or work.rights_holder,
            title=self.title or work.title,
            licence=self.licence or work.licence,
        )

    def given(self) -> dict[str, str]:
        """The values given, by column name."""
        return {
            k: v
            for k, v in (
                ("creator", self.creator),
                ("rights_holder", self.rights_holder),
                ("title", self.title),
                ("licence", self.licence),
            )
            if v is not None
        }


def catalog_rows(path: str | Path) -> Iterator[CatalogRow | InputFailure]:
    """Every row of a catalog, checked; a bad row is an ``InputFailure`` naming ``PATH:LINE``, and reading goes on.

    Duplicate ``org_id`` or ``source`` values are bad rows (the later one names the earlier line).
    A catalog that cannot be read at all is one failure naming the file.
    """
    path = Path(path)
    name = path.name.lower().removesuffix(".gz").removesuffix(".zst")
    try:
        handle = _open(path)
    except (OSError, pa.ArrowException) as exc:
        yield InputFailure(str(path), f"cannot read the catalog: {exc}")
        return
    seen_ids: dict[str, int] = {}
    seen_sources: dict[str, int] = {}
    rows = _jsonl(handle) if name.endswith((".jsonl", ".ndjson", ".json")) else _csv(handle)
    try:
        for line, values in rows:
            if isinstance(values, str):
                yield InputFailure(f"{path}:{line}", values)
                continue
            row = _check(values, line, path.parent)
            if isinstance(row, str):
                yield InputFailure(f"{path}:{line}", row)
                continue
            for key, seen in (("org_id", seen_ids), ("source", seen_sources)):
                value = getattr(row, key)
                if value in seen:
                    row = f"{key} {value!r} is already on line {seen[value]}"
                    break
            if isinstance(row, str):
                yield InputFailure(f"{path}:{line}", row)
                continue
            seen_ids[row.org_id] = seen_sources[row.source] = line
            yield replace(row, catalog=str(path))
    except _BadCatalogError as exc:
        yield InputFailure(str(path), str(exc))
    except (OSError, pa.ArrowException) as exc:
        yield InputFailure(str(path), f"cannot read the catalog on: {exc}")
    finally:
        handle.close()


def count_rows(path: str | Path) -> int | None:
    """About how many rows a catalog has, for a progress bar: its non-blank lines, less a CSV's header.

    One pass over the file, reading nothing but line ends (a CSV field spanning lines counts more than
    once); None when the file cannot be read.
    """
    path = Path(path)
    name = path.name.lower().removesuffix(".gz").removesuffix(".zst")
    try:
        with _open(path) as handle:
            lines = sum(1 for line in handle if line.strip())
    except (OSError, pa.ArrowException):
        return None
    header = 0 if name.endswith((".jsonl", ".ndjson", ".json")) else 1
    return max(lines - header, 0)


def _open(path: Path) -> IO[bytes]:
    suffix = path.suffix.lower()
    compression = {".gz": "gzip", ".zst": "zstd"}.get(suffix)
    stream = pa.input_stream(str(path), compression=compression)
    return io.BufferedReader(stream)


def _decoded(handle: IO[bytes], bad: set[int]) -> Iterator[str]:
    """Lines as text; lines that are not UTF-8 are decoded with replacements and their numbers noted."""
    for number, raw in enumerate(handle, start=1):
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            bad.add(number)
            yield raw.decode("utf-8", errors="replace")


def _csv(handle: IO[bytes]) -> Iterator[tuple[int, dict[str, Any] | str]]:
    bad: set[int] = set()
    csv.field_size_limit(max(csv.field_size_limit(), _MAX_FIELD))
    reader = csv.reader(_decoded(handle, bad))
    header: list[str] | None = None
    end = 0
    while True:
        start = end + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            end = reader.line_num
            yield start, f"invalid CSV ({exc})"
            continue
        end = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if header is None:
            header = [_column(v) for v in values]
            missing = [c for c in REQUIRED if c not in header]
            if missing:
                raise _BadCatalogError(f"the header has no column {', '.join(missing)} (columns: {', '.join(values)})")
            continue
        if any(n in bad for n in range(start, end + 1)):
            yield start, "not valid UTF-8"
        elif len(values) != len(header):
            yield start, f"has {len(values)} fields, the header has {len(header)}"
        else:
            yield start, dict(zip(header, values, strict=True))


def _jsonl(handle: IO[bytes]) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """Rows of JSON Lines, keys mapped to our column names."""
    for number, raw in enumerate(handle, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8-sig" if number == 1 else "utf-8"))
        except UnicodeDecodeError:
            yield number, "not valid UTF-8"
            continue
        except json.JSONDecodeError as exc:
            yield number, f"invalid JSON ({exc.msg})"
            continue
        if not isinstance(record, dict):
            yield number, "not a JSON object"
            continue
        yield number, {_column(k): v for k, v in record.items()}


def _column(name: str) -> str:
    key = re.sub(r"[\s-]+", "_", str(name).strip().lower())
    return ALIASES.get(key, key)


def _check(values: dict[str, Any], line: int, folder: Path) -> CatalogRow | str:
    """The row as a ``CatalogRow``, or what is wrong with it."""
    text: dict[str, str] = {}
    for key, value in values.items():
        if value is None or value == "":
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            return f"{key} is not text ({type(value).__name__})"
        text[key] = str(value).strip()
    missing = [k for k in REQUIRED if not text.get(k)]
    if missing:
        return f"missing {', '.join(missing)}"
    if not text.get("licence") and not text.get("consent"):
        return "give a licence or a consent status (or both)"
    consent = text.get("consent")
    if consent is not None:
        known = CONSENT.get(re.sub(r"[\s-]+", "_", consent.lower()))
        if known is None:
            return f"consent {consent!r} is not one of {', '.join(sorted(set(CONSENT.values())))}"
        consent = known
    source = _source(text["source"], folder)
    if source.startswith("!"):
        return source[1:]
    extra = {k: v for k, v in text.items() if k not in {*REQUIRED, "licence", "consent", "title"}}
    return CatalogRow(
        line=line,
        source=source,
        creator=text["creator"],
        rights_holder=text["rights_holder"],
        org_id=text["org_id"],
        licence=text.get("licence"),
        consent=consent,
        extra=extra,
        title=text.get("title"),
    )


def _source(value: str, folder: Path) -> str:
    """The canonical source, or ``!reason`` when it names nothing indexable."""
    video = youtube_video_id(value)
    if video is not None:
        return youtube_url(video)
    if _URL.match(value):
        return value
    if "://" in value:
        return f"!source {value!r} is a URL of an unsupported scheme (http and https only)"
    path = Path(value).expanduser()
    path = path if path.is_absolute() else folder / path
    if not path.exists():
        return f"!source {value!r} is not a URL, a YouTube video id or an existing file"
    return str(path.resolve())
