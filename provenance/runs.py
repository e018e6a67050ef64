"""Stored audit runs: what every ``provenance audit`` records, and how it gets into the index.

A run is its id, start and end time, tool and library versions, parameters, the index state (work
count and digest), the SHA-256 of every scanned input, a snapshot of every matched work (hashes and
consent as they were), the matches with both excerpts, and the run's manifest (``provenance.manifest``).

**Recording without giving up concurrent audits.** DuckDB lets many read-only processes share a file,
but a read-write connection excludes every other process, readers included. So an audit still reads
the index read-only for as long as it scans; the run is collected in memory (``RunRecorder``) and
written at the end by ``save_run``, which opens the index read-write only for the one transaction the
run takes. If the lock cannot be had within ``RECORD_WAIT_S`` (another audit is still scanning, or
``provenance add`` is writing), the run is written as JSON to ``INDEX.pending/AUDIT_ID.json`` beside the
index and the user is told; the next run that is recorded, and ``provenance audits`` and ``report``
whenever the lock is free, import pending runs first (each in one transaction, then the file is
removed). Until then ``audits`` lists them as pending and ``report`` reads them from the file. Since a
run's write briefly excludes readers, read-only opens wait up to ``OPEN_WAIT_S`` for the lock
(``open_index``). ``provenance audit --no-record`` records nothing and never writes.

An index of an older schema is upgraded by ``open_index`` even when asked for read-only (the
migrations only add tables, columns and views), so audits keep working on indexes made before runs existed.
"""

from __future__ import annotations

import json
import platform
import secrets
import time
import unicodedata
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

from indexes import IndexInUseError, IndexMissingError, IndexStore, IndexVersionError
from indexes.store import first_row
from provenance.errors import AuditNotFoundError, OutputError
from provenance.inputs import STDIN, InputFailure, ScanItem
from provenance.manifest import manifest_for
from provenance.match import MATCH_COLUMNS, Match, stored_match
from provenance.version import __version__

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    import duckdb

    from provenance.audit import AuditOptions
    from provenance.inputs import InputOptions

RECORD_WAIT_S = 10.0
OPEN_WAIT_S = 10.0
PENDING_SUFFIX = ".pending"
InputKind = Literal["file", "stdin", "record", "url", "unread"]
_LIBRARIES = ("duckdb", "numpy", "rapidfuzz", "regex", "datasketch")


@dataclass(frozen=True)
class InputRecord:
    """One scanned input as the run saw it; ``error`` is set (and ``sha256`` is None) if it was unreadable.

    ``sha256`` is of the bytes read: the file, stdin, or a JSON Lines record's line; ``source_sha256``
    of the whole JSON Lines file (or stdin) a record came from.
    """

    ordinal: int
    scanned: str
    kind: InputKind
    sha256: str | None = None
    source_sha256: str | None = None
    record_id: str | None = None
    chars: int | None = None
    matches: int = 0
    error: str | None = None


@dataclass(frozen=True)
class WorkSnapshot:
    """A matched work as it was when the audit ran: its hashes, rights data and the consent recorded at retrieval.

    ``rights_holder``, ``org_id`` and ``licence`` come from the work's catalog row (None for other works,
    and in runs recorded before they were columns).
    """

    work_id: int
    source: str
    title: str
    creator: str | None
    kind: str
    content_sha256: str
    text_sha256: str
    retrieved_at: datetime
    consent_status: str | None = None
    consent_summary: str | None = None
    consent: dict[str, Any] | None = None
    rights_holder: str | None = None
    org_id: str | None = None
    licence: str | None = None
    consent_declared: str | None = None  # rights holder declared (catalog): granted, reserved, not_reserved, unknown
    consent_declared_source: str | None = None  # where it was declared, e.g. "catalog works.csv:12"


@dataclass(frozen=True)
class IndexSnapshot:
    """The index an audit ran against: counts, the digest over every work's hash, the highest work id."""

    path: str
    works: int
    passages: int
    digest: str
    schema_version: int
    max_work_id: int


@dataclass(frozen=True)
class AuditRun:
    """One recorded audit. ``manifest`` is the JSON manifest (with its digest) written when it ran."""

    audit_id: str
    started_at: datetime
    finished_at: datetime
    tool_version: str
    index: IndexSnapshot
    parameters: dict[str, Any]
    versions: dict[str, str]
    arguments: tuple[str, ...]
    inputs: tuple[InputRecord, ...]
    works: tuple[WorkSnapshot, ...]
    matches: tuple[Match, ...]
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def manifest_sha256(self) -> str:
        """Hex digest of the manifest (``sha256:`` prefix removed)."""
        return str(self.manifest.get("digest", "")).removeprefix("sha256:")

    @property
    def texts_scanned(self) -> int:
        """Inputs that were read and audited."""
        return sum(1 for i in self.inputs if i.error is None)

    @property
    def texts_matched(self) -> int:
        """Scanned texts with at least one match."""
        return len({m.scanned for m in self.matches})

    @property
    def inputs_failed(self) -> int:
        """Inputs that could not be read."""
        return sum(1 for i in self.inputs if i.error is not None)

    def work(self, work_id: int) -> WorkSnapshot:
        """The snapshot of a matched work."""
        for w in self.works:
            if w.work_id == work_id:
                return w
        raise KeyError(work_id)


@dataclass(frozen=True)
class RunSummary:
    """One line of ``provenance audits``; ``pending`` runs wait in a JSON file for the index lock."""

    audit_id: str
    started_at: datetime
    finished_at: datetime
    texts_scanned: int
    texts_matched: int
    matches: int
    works_matched: int
    inputs_failed: int
    arguments: tuple[str, ...]
    manifest_sha256: str
    pending: bool = False


@dataclass(frozen=True)
class SaveOutcome:
    """Where a run went: into the index, or (index in use) into ``pending_file``."""

    audit_id: str
    recorded: bool
    pending_file: Path | None = None
    imported: int = 0
    reason: str = ""


def new_audit_id(started_at: datetime) -> str:
    """``YYYYMMDDTHHMMSSZ-xxxxxx``: sorts by start time (UTC); the random suffix separates runs of one second."""
    return f"{started_at.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def library_versions() -> dict[str, str]:
    """Versions of what decides results: Python and its Unicode tables (tokenizer), and the libraries."""
    found = {"python": platform.python_version(), "unicode": unicodedata.unidata_version}
    for name in _LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def input_kind(item: ScanItem) -> InputKind:
    """What a scanned item was read from."""
    if item.record_id is not None:
        return "record"
    if item.scanned == "<stdin>":
        return "stdin"
    if item.scanned.startswith(("http://", "https://")):
        return "url"
    return "file"


# -- collecting a run ----------------------------------------------------------------------------


class RunRecorder:
    """Collects a run while the audit reads: feed it the inputs (``track``) and each result (``scanned``)."""

    def __init__(
        self,
        store: IndexStore,
        options: AuditOptions,
        input_options: InputOptions,
        arguments: Sequence[str],
        *,
        tool_version: str = __version__,
    ) -> None:
        self.started_at = datetime.now(timezone.utc)
        self.audit_id = new_audit_id(self.started_at)
        self.tool_version = tool_version
        state = store.state()
        max_id = first_row(store.con.execute("SELECT coalesce(max(work_id), 0) FROM works"))
        self.index = IndexSnapshot(
            path=str(Path(store.path).resolve()),
            works=state.works,
            passages=state.passages,
            digest=state.digest,
            schema_version=state.schema_version,
            max_work_id=int(max_id[0]) if max_id else 0,
        )
        self.parameters = {
            "audit": asdict(options),
            "inputs": asdict(input_options),
            "index": asdict(store.params),
        }
        self.arguments = tuple(_argument(a) for a in arguments)
        self._inputs: list[InputRecord] = []
        self._waiting: deque[int] = deque()
        self._matches: list[Match] = []

    def track(self, items: Iterable[ScanItem | InputFailure]) -> Iterator[ScanItem | InputFailure]:
        """``items`` unchanged, each noted in read order (failures included)."""
        for item in items:
            ordinal = len(self._inputs)
            if isinstance(item, InputFailure):
                self._inputs.append(InputRecord(ordinal, item.source, "unread", error=item.reason))
            else:
                self._inputs.append(
                    InputRecord(
                        ordinal,
                        item.scanned,
                        input_kind(item),
                        sha256=item.sha256,
                        source_sha256=item.source_sha256,
                        record_id=item.record_id,
                        chars=len(item.text),
                    )
                )
                self._waiting.append(ordinal)
            yield item

    def scanned(self, item: ScanItem, matches: Sequence[Match]) -> None:
        """The matches of the next tracked item (the auditor yields items in input order)."""
        ordinal = self._waiting.popleft()
        record = self._inputs[ordinal]
        if record.scanned != item.scanned:  # pragma: no cover - the auditor keeps input order
            msg = f"results out of order: expected {record.scanned}, got {item.scanned}"
            raise RuntimeError(msg)
        self._inputs[ordinal] = InputRecord(**{**asdict(record), "matches": len(matches)})
        self._matches.extend(matches)

    def finish(self, store: IndexStore) -> AuditRun:
        """The complete run, with snapshots of the matched works (read while ``store`` is still open)."""
        work_ids = sorted({m.work_id for m in self._matches})
        run = AuditRun(
            audit_id=self.audit_id,
            started_at=self.started_at,
            finished_at=datetime.now(timezone.utc),
            tool_version=self.tool_version,
            index=self.index,
            parameters=self.parameters,
            versions=library_versions(),
            arguments=self.arguments,
            inputs=tuple(self._inputs),
            works=tuple(_snapshot(store, work_id) for work_id in work_ids),
            matches=tuple(self._matches),
        )
        return AuditRun(**{**_fields(run), "manifest": manifest_for(run)})


def _argument(arg: str) -> str:
    """An input argument as recorded: paths absolute, stdin and URLs as given."""
    if arg == STDIN or "://" in arg:
        return arg
    return str(Path(arg).resolve())


def _fields(run: AuditRun) -> dict[str, Any]:
    return {name: getattr(run, name) for name in run.__dataclass_fields__}


def _snapshot(store: IndexStore, work_id: int) -> WorkSnapshot:
    record = store.work(work_id)
    row = first_row(store.con.execute("SELECT status, summary, snapshot FROM consent WHERE work_id = ?", [work_id]))
    consent: dict[str, Any] | None = None
    if row is not None:
        try:
            loaded = json.loads(row[2])
            consent = loaded if isinstance(loaded, dict) else None
        except ValueError:
            consent = None
    return WorkSnapshot(
        work_id=record.work_id,
        source=record.source,
        title=record.title,
        creator=record.creator,
        kind=record.kind,
        content_sha256=record.content_sha256,
        text_sha256=record.text_sha256,
        retrieved_at=_utc(record.retrieved_at),
        consent_status=None if row is None else str(row[0]),
        consent_summary=None if row is None else str(row[1]),
        consent=consent,
        rights_holder=record.rights_holder,
        org_id=record.org_id,
        licence=record.licence,
    )


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


# -- opening -------------------------------------------------------------------------------------


def open_index(
    path: str | Path, *, read_only: bool, wait_s: float | None = None, tool_version: str = __version__
) -> IndexStore:
    """Open the index, waiting up to ``wait_s`` (default ``OPEN_WAIT_S``) while another process holds the lock.

    Read-only opens of an older schema upgrade it first (one read-write open, when the lock is free).
    """
    deadline = time.monotonic() + (OPEN_WAIT_S if wait_s is None else wait_s)
    delay = 0.05
    while True:
        try:
            return _open_upgrading(path, read_only=read_only, tool_version=tool_version)
        except IndexInUseError:
            left = deadline - time.monotonic()
            if left <= 0:
                raise
            time.sleep(min(delay, left))
            delay = min(delay * 2, 0.5)


def _open_upgrading(path: str | Path, *, read_only: bool, tool_version: str) -> IndexStore:
    try:
        return IndexStore.open(path, read_only=read_only, tool_version=tool_version)
    except IndexVersionError as older:
        if not read_only:
            raise
        try:  # migrates an older schema; a newer one raises its own error here
            IndexStore.open(path, tool_version=tool_version).close()
        except IndexInUseError:
            raise older from None
        return IndexStore.open(path, read_only=True, tool_version=tool_version)


# -- saving --------------------------------------------------------------------------------------


def pending_dir(index_path: str | Path) -> Path:
    """Where runs wait when the index was in use: ``INDEX.pending/`` beside the index file."""
    path = Path(index_path)
    return path.with_name(path.name + PENDING_SUFFIX)


def save_run(index_path: str | Path, run: AuditRun, *, wait_s: float | None = None) -> SaveOutcome:
    """Write ``run`` into the index in one transaction, or if it stays in use (``RECORD_WAIT_S``) to a pending file."""
    if not Path(index_path).exists():
        raise IndexMissingError(str(index_path), "the index disappeared while the audit ran")
    try:
        wait = RECORD_WAIT_S if wait_s is None else wait_s
        store = open_index(index_path, read_only=False, wait_s=wait, tool_version=run.tool_version)
    except IndexInUseError as exc:
        return SaveOutcome(run.audit_id, recorded=False, pending_file=write_pending(index_path, run), reason=exc.reason)
    with store:
        imported = import_pending(store)
        insert_run(store.con, run)
    return SaveOutcome(run.audit_id, recorded=True, imported=imported)


def write_pending(index_path: str | Path, run: AuditRun) -> Path:
    """Write ``run`` as JSON into the pending folder (atomically: a temporary file, then a rename)."""
    folder = pending_dir(index_path)
    target = folder / f"{run.audit_id}.json"
    try:
        folder.mkdir(exist_ok=True)
        partial = target.with_suffix(".partial")
        partial.write_text(json.dumps(run_to_dict(run), ensure_ascii=False, indent=1), encoding="utf-8")
        partial.replace(target)
    except OSError as exc:
        raise OutputError(f"{target}: cannot save the audit run ({exc.strerror or exc})") from exc
    return target


def import_pending(store: IndexStore) -> int:
    """Move runs from the pending folder into ``store`` (open read-write); returns how many were added.

    A file that does not parse is left where it is (``provenance audits`` shows it).
    """
    imported = 0
    for path in sorted(pending_dir(store.path).glob("*.json")):
        try:
            run = run_from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        exists = first_row(store.con.execute("SELECT count(*) FROM audits WHERE audit_id = ?", [run.audit_id]))
        if not exists or exists[0] == 0:
            insert_run(store.con, run)
            imported += 1
        path.unlink(missing_ok=True)
    return imported


def sync_pending(index_path: str | Path) -> int:
    """Import pending runs if there are any and the lock is free right now; never waits, never fails."""
    folder = pending_dir(index_path)
    if not Path(index_path).is_file() or not folder.is_dir() or not any(folder.glob("*.json")):
        return 0
    try:
        with IndexStore.open(index_path) as store:
            return import_pending(store)
    except IndexInUseError:
        return 0


def insert_run(con: duckdb.DuckDBPyConnection, run: AuditRun) -> None:
    """Insert a run with its inputs, matched works and matches, in one transaction."""
    con.begin()
    try:
        con.execute(
            "INSERT INTO audits VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                run.audit_id,
                run.started_at,
                run.finished_at,
                run.tool_version,
                run.index.works,
                run.index.passages,
                run.index.digest,
                run.index.schema_version,
                json.dumps({"values": run.parameters, "index": asdict(run.index), "versions": run.versions}),
                json.dumps(list(run.arguments), ensure_ascii=False),
                run.texts_scanned,
                run.texts_matched,
                run.inputs_failed,
                len(run.matches),
                len(run.works),
                run.manifest_sha256,
                json.dumps(run.manifest, ensure_ascii=False, sort_keys=True),
                datetime.now(timezone.utc),
            ],
        )
        _insert_rows(con, "audit_inputs", [{"audit_id": run.audit_id, **asdict(i)} for i in run.inputs], _INPUT_TYPES)
        _insert_rows(con, "audit_works", [_work_row(run.audit_id, w) for w in run.works], _WORK_TYPES)
        _insert_rows(
            con,
            "matches",
            [_match_row(run.audit_id, n, m) for n, m in enumerate(run.matches, start=1)],
            _MATCH_TYPES,
        )
        con.commit()
    except BaseException:
        con.rollback()
        raise


_INPUT_TYPES = {
    "audit_id": pa.string(),
    "ordinal": pa.int32(),
    "scanned": pa.string(),
    "kind": pa.string(),
    "sha256": pa.string(),
    "source_sha256": pa.string(),
    "record_id": pa.string(),
    "chars": pa.int64(),
    "matches": pa.int32(),
    "error": pa.string(),
}
_WORK_TYPES = {
    "audit_id": pa.string(),
    "work_id": pa.int64(),
    "source": pa.string(),
    "title": pa.string(),
    "creator": pa.string(),
    "kind": pa.string(),
    "content_sha256": pa.string(),
    "text_sha256": pa.string(),
    "retrieved_at": pa.timestamp("us", tz="UTC"),
    "consent_status": pa.string(),
    "consent_summary": pa.string(),
    "consent_snapshot": pa.string(),
    "rights_holder": pa.string(),
    "org_id": pa.string(),
    "licence": pa.string(),
}
_MATCH_TYPES = {
    "audit_id": pa.string(),
    "match_no": pa.int32(),
    "work_id": pa.int64(),
    "scanned": pa.string(),
    "record_id": pa.string(),
    "score": pa.float64(),
    "estimated_similarity": pa.float64(),
    "containment": pa.float64(),
    "verbatim_words": pa.int32(),
    "matched_words": pa.int32(),
    "evidence_words": pa.int32(),
    "scanned_start": pa.int64(),
    "scanned_end": pa.int64(),
    "work_start": pa.int64(),
    "work_end": pa.int64(),
    "work_time_start": pa.float64(),
    "work_time_end": pa.float64(),
    "link": pa.string(),
    "scanned_excerpt": pa.string(),
    "work_excerpt": pa.string(),
}
_COLUMN_NAMES = {"matches": "n_matches"}  # value names that differ from the audit_inputs column names


def _work_row(audit_id: str, w: WorkSnapshot) -> dict[str, Any]:
    row = {"audit_id": audit_id, **asdict(w)}
    row["consent_snapshot"] = None if w.consent is None else json.dumps(w.consent, ensure_ascii=False, sort_keys=True)
    del row["consent"]
    return row


def _match_row(audit_id: str, number: int, m: Match) -> dict[str, Any]:
    return {
        "audit_id": audit_id,
        "match_no": number,
        "work_id": m.work_id,
        "scanned": m.scanned,
        "record_id": m.record_id,
        "score": m.score,
        "estimated_similarity": m.estimated_similarity,
        "containment": m.containment,
        "verbatim_words": m.verbatim_words,
        "matched_words": m.matched_words,
        "evidence_words": m.evidence_words,
        "scanned_start": m.scanned_span[0],
        "scanned_end": m.scanned_span[1],
        "work_start": m.work_span[0],
        "work_end": m.work_span[1],
        "work_time_start": None if m.work_time is None else m.work_time[0],
        "work_time_end": None if m.work_time is None else m.work_time[1],
        "link": m.link,
        "scanned_excerpt": m.scanned_excerpt,
        "work_excerpt": m.work_excerpt,
    }


def _insert_rows(
    con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]], types: dict[str, pa.DataType]
) -> None:
    """Insert rows by column name through Arrow (fast for the many inputs of a dataset audit)."""
    if not rows:
        return
    data = pa.table({name: pa.array([r[name] for r in rows], type=kind) for name, kind in types.items()})
    columns = ", ".join(_COLUMN_NAMES.get(name, name) for name in types)
    names = ", ".join(f'"{name}"' for name in types)
    con.register("_run_rows", data)
    try:
        con.execute(f"INSERT INTO {table} ({columns}) SELECT {names} FROM _run_rows")
    finally:
        con.unregister("_run_rows")


# -- reading -------------------------------------------------------------------------------------


def list_runs(store: IndexStore) -> list[RunSummary]:
    """Every recorded run and every pending one, newest first."""
    rows = store.con.execute(
        "SELECT audit_id, started_at, finished_at, texts_scanned, texts_matched, n_matches, works_matched, "
        "inputs_failed, arguments, manifest_sha256 FROM audits"
    ).fetchall()
    runs = [
        RunSummary(
            audit_id=r[0],
            started_at=_utc(r[1]),
            finished_at=_utc(r[2]),
            texts_scanned=int(r[3]),
            texts_matched=int(r[4]),
            matches=int(r[5]),
            works_matched=int(r[6]),
            inputs_failed=int(r[7]),
            arguments=tuple(json.loads(r[8])),
            manifest_sha256=r[9],
        )
        for r in rows
    ]
    recorded = {r.audit_id for r in runs}
    runs.extend(_summary_of_pending(run) for run in _pending_runs(store.path) if run.audit_id not in recorded)
    return sorted(runs, key=lambda r: (r.started_at, r.audit_id), reverse=True)


def _summary_of_pending(run: AuditRun) -> RunSummary:
    return RunSummary(
        audit_id=run.audit_id,
        started_at=run.started_at,
        finished_at=run.finished_at,
        texts_scanned=run.texts_scanned,
        texts_matched=run.texts_matched,
        matches=len(run.matches),
        works_matched=len(run.works),
        inputs_failed=run.inputs_failed,
        arguments=run.arguments,
        manifest_sha256=run.manifest_sha256,
        pending=True,
    )


def _pending_runs(index_path: str) -> Iterator[AuditRun]:
    for path in sorted(pending_dir(index_path).glob("*.json")):
        try:
            yield run_from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            continue


def resolve_audit_id(store: IndexStore, audit_id: str | None) -> str:
    """The id of the run meant: the latest when None, else an exact id or a unique prefix of one."""
    ids = [r.audit_id for r in list_runs(store)]
    if not ids:
        raise AuditNotFoundError(f"{store.path}: no audit runs recorded yet; run `provenance audit` first")
    if audit_id is None:
        return ids[0]
    if audit_id in ids:
        return audit_id
    found = [i for i in ids if i.startswith(audit_id)]
    if len(found) == 1:
        return found[0]
    if found:
        raise AuditNotFoundError(f"audit id {audit_id!r} is ambiguous: {', '.join(found[:5])}")
    raise AuditNotFoundError(f"no audit run {audit_id!r} in {store.path} (`provenance audits` lists them)")


def load_run(store: IndexStore, audit_id: str | None = None) -> AuditRun:
    """A stored run (the latest when ``audit_id`` is None), from the index or its pending folder."""
    wanted = resolve_audit_id(store, audit_id)
    row = first_row(
        store.con.execute(
            "SELECT started_at, finished_at, tool_version, parameters, arguments, manifest "
            "FROM audits WHERE audit_id = ?",
            [wanted],
        )
    )
    if row is None:
        for run in _pending_runs(store.path):
            if run.audit_id == wanted:
                return run
        raise AuditNotFoundError(f"no audit run {wanted!r} in {store.path}")  # pragma: no cover - a race
    stored = json.loads(row[3])
    works = tuple(_load_works(store.con, wanted))
    by_id = {w.work_id: w for w in works}
    return AuditRun(
        audit_id=wanted,
        started_at=_utc(row[0]),
        finished_at=_utc(row[1]),
        tool_version=row[2],
        index=IndexSnapshot(**stored["index"]),
        parameters=stored["values"],
        versions=stored["versions"],
        arguments=tuple(json.loads(row[4])),
        inputs=tuple(_load_inputs(store.con, wanted)),
        works=works,
        matches=tuple(_load_matches(store.con, wanted, by_id)),
        manifest=json.loads(row[5]),
    )


def _load_inputs(con: duckdb.DuckDBPyConnection, audit_id: str) -> Iterator[InputRecord]:
    rows = con.execute(
        "SELECT ordinal, scanned, kind, sha256, source_sha256, record_id, chars, n_matches, error "
        "FROM audit_inputs WHERE audit_id = ? ORDER BY ordinal",
        [audit_id],
    ).fetchall()
    for r in rows:
        yield InputRecord(
            ordinal=int(r[0]),
            scanned=r[1],
            kind=r[2],
            sha256=r[3],
            source_sha256=r[4],
            record_id=r[5],
            chars=None if r[6] is None else int(r[6]),
            matches=int(r[7]),
            error=r[8],
        )


def _load_works(con: duckdb.DuckDBPyConnection, audit_id: str) -> Iterator[WorkSnapshot]:
    rows = con.execute(
        "SELECT work_id, source, title, creator, kind, content_sha256, text_sha256, retrieved_at, consent_status, "
        "consent_summary, consent_snapshot, rights_holder, org_id, licence FROM audit_works "
        "WHERE audit_id = ? ORDER BY work_id",
        [audit_id],
    ).fetchall()
    for r in rows:
        yield WorkSnapshot(
            work_id=int(r[0]),
            source=r[1],
            title=r[2],
            creator=r[3],
            kind=r[4],
            content_sha256=r[5],
            text_sha256=r[6],
            retrieved_at=_utc(r[7]),
            consent_status=r[8],
            consent_summary=r[9],
            consent=None if r[10] is None else json.loads(r[10]),
            rights_holder=r[11],
            org_id=r[12],
            licence=r[13],
        )


def _load_matches(con: duckdb.DuckDBPyConnection, audit_id: str, works: dict[int, WorkSnapshot]) -> Iterator[Match]:
    rows = con.execute(
        f"SELECT work_id, {MATCH_COLUMNS} FROM matches WHERE audit_id = ? ORDER BY match_no", [audit_id]
    ).fetchall()
    for r in rows:
        work = works[int(r[0])]
        yield stored_match(
            r[1:],
            work_id=work.work_id,
            source=work.source,
            title=work.title,
            kind=work.kind,
            consent=(work.consent_status, work.consent_summary),
        )


# -- JSON form (pending files and `report --format json`) ----------------------------------------


def run_to_dict(run: AuditRun) -> dict[str, Any]:
    """The whole run as JSON-ready data; ``run_from_dict`` reads it back."""
    return {
        "format": "provenance-audit-run",
        "version": 1,
        "audit_id": run.audit_id,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat(),
        "tool_version": run.tool_version,
        "index": asdict(run.index),
        "parameters": run.parameters,
        "versions": run.versions,
        "arguments": list(run.arguments),
        "summary": {
            "texts_scanned": run.texts_scanned,
            "texts_matched": run.texts_matched,
            "inputs_failed": run.inputs_failed,
            "matches": len(run.matches),
            "works_matched": len(run.works),
        },
        "inputs": [asdict(i) for i in run.inputs],
        "works": [{**asdict(w), "retrieved_at": w.retrieved_at.isoformat()} for w in run.works],
        "matches": [_match_json(m) for m in run.matches],
        "manifest": run.manifest,
    }


def _match_json(m: Match) -> dict[str, Any]:
    """A match in full precision (``Match.to_dict`` rounds scores for display)."""
    out = asdict(m)
    out["scanned_span"] = list(m.scanned_span)
    out["work_span"] = list(m.work_span)
    out["work_time"] = None if m.work_time is None else list(m.work_time)
    return out


def run_from_dict(data: dict[str, Any]) -> AuditRun:
    """Read a run written by ``run_to_dict``."""
    if data.get("format") != "provenance-audit-run":
        msg = "not a provenance audit run"
        raise ValueError(msg)
    matches = []
    for m in data["matches"]:
        values = dict(m)
        values["scanned_span"] = tuple(m["scanned_span"])
        values["work_span"] = tuple(m["work_span"])
        values["work_time"] = None if m["work_time"] is None else tuple(m["work_time"])
        matches.append(Match(**values))
    return AuditRun(
        audit_id=data["audit_id"],
        started_at=datetime.fromisoformat(data["started_at"]),
        finished_at=datetime.fromisoformat(data["finished_at"]),
        tool_version=data["tool_version"],
        index=IndexSnapshot(**data["index"]),
        parameters=data["parameters"],
        versions=data["versions"],
        arguments=tuple(data["arguments"]),
        inputs=tuple(InputRecord(**i) for i in data["inputs"]),
        works=tuple(
            WorkSnapshot(**{**w, "retrieved_at": datetime.fromisoformat(w["retrieved_at"])}) for w in data["works"]
        ),
        matches=tuple(matches),
        manifest=data["manifest"],
    )
