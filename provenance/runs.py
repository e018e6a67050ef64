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

import hashlib
import json
import os
import platform
import secrets
import socket
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
from provenance.match import STORED_FIELDS, Match, WorkRights, arrow_schema, from_row
from provenance.version import __version__

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    import duckdb

    from provenance.datasets import Shard
    from provenance.inputs import InputOptions
    from provenance.options import AuditOptions

RECORD_WAIT_S = 10.0
OPEN_WAIT_S = 10.0
PENDING_SUFFIX = ".pending"
InputKind = Literal["file", "stdin", "record", "url", "unread", "shard", "work"]
RunKind = Literal["texts", "dataset", "probe"]
RunState = Literal["running", "interrupted", "finished"]
_LIBRARIES = ("duckdb", "numpy", "rapidfuzz", "regex", "datasketch")


@dataclass(frozen=True)
class InputRecord:
    """One scanned input as the run saw it; ``error`` is set (and ``sha256`` is None) if it was unreadable.

    ``sha256`` is of the bytes read: the file, stdin, a JSON Lines record's line, or a dataset shard's
    file; ``source_sha256`` of the whole JSON Lines file (or stdin) a record came from. For a shard,
    ``size`` is its file size, ``records`` the records read, ``failures`` the bad records (and the
    shard's own error), ``chars`` the bytes of text audited; ``sha256`` is None until it is scanned.
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
    size: int | None = None
    records: int | None = None
    failures: int = 0


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

    def rights(self) -> WorkRights:
        """What every match of this work says of its rights and consent."""
        return WorkRights(
            creator=self.creator,
            rights_holder=self.rights_holder,
            org_id=self.org_id,
            licence=self.licence,
            consent_declared=self.consent_declared,
            consent_declared_source=self.consent_declared_source,
            consent_status=self.consent_status,
            consent_summary=self.consent_summary,
        )


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
    """One recorded run: an audit of texts, or a dataset scan (its inputs are the shards).

    ``manifest`` is the JSON manifest (with its digest) written when it ran, or when a scan's latest
    invocation ended. ``state`` is ``finished``, or for a scan ``running``/``interrupted`` (partial:
    rerunning the same command resumes it; ``invocations`` counts how often it was started).
    ``run_key`` is what makes two runs the same (inputs, options, index state).
    """

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
    kind: RunKind = "texts"
    engine: str = "local"
    state: RunState = "finished"
    invocations: int = 1
    run_key: str = ""

    @property
    def manifest_sha256(self) -> str:
        """Hex digest of the manifest (``sha256:`` prefix removed)."""
        return str(self.manifest.get("digest", "")).removeprefix("sha256:")

    @property
    def texts_scanned(self) -> int:
        """Inputs (texts, a scan's records, a probe's responses) that were read and audited."""
        if self.kind in {"dataset", "probe"}:
            return sum(i.records or 0 for i in self.inputs)
        return sum(1 for i in self.inputs if i.error is None)

    @property
    def texts_matched(self) -> int:
        """Scanned texts with at least one match."""
        return len({m.scanned for m in self.matches})

    @property
    def inputs_failed(self) -> int:
        """Inputs that could not be read (for a scan: bad records, and shards that failed whole; a probe: works)."""
        if self.kind in {"dataset", "probe"}:
            return sum(i.failures for i in self.inputs)
        return sum(1 for i in self.inputs if i.error is not None)

    @property
    def partial(self) -> bool:
        """Whether the run is unfinished (a scan interrupted, or still running): its results are partial."""
        return self.state != "finished"

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
    kind: RunKind = "texts"
    engine: str = "local"
    state: RunState = "finished"
    invocations: int = 1
    inputs: int = 0


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
        self.index = index_snapshot(store)
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
            run_key=run_key(
                {"inputs": [(i.scanned, i.sha256, i.error) for i in self._inputs], "parameters": self.parameters},
                self.index.digest,
            ),
        )
        return AuditRun(**{**_fields(run), "manifest": manifest_for(run)})


def index_snapshot(store: IndexStore) -> IndexSnapshot:
    """What a run records of the index it runs against."""
    state = store.state()
    max_id = first_row(store.con.execute("SELECT coalesce(max(work_id), 0) FROM works"))
    return IndexSnapshot(
        path=str(Path(store.path).resolve()),
        works=state.works,
        passages=state.passages,
        digest=state.digest,
        schema_version=state.schema_version,
        max_work_id=int(max_id[0]) if max_id else 0,
    )


def run_key(what: dict[str, Any], index_digest: str) -> str:
    """What makes two runs the same: their inputs and options (``what``) and the index's state.

    Options that change speed, not results (the lookup engine, batch sizes, workers) must be left out.
    """
    body = json.dumps({"what": what, "index": index_digest}, sort_keys=True, default=str)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


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
        consent_declared=record.consent_declared,
        consent_declared_source=record.consent_declared_source,
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
    wait = OPEN_WAIT_S if wait_s is None else wait_s
    try:
        return IndexStore.open(path, read_only=read_only, tool_version=tool_version, wait_s=wait)
    except IndexVersionError as older:
        if not read_only:
            raise
        try:  # migrates an older schema; a newer one raises its own error here
            IndexStore.open(path, tool_version=tool_version, wait_s=wait).close()
        except IndexInUseError:
            raise older from None
        return IndexStore.open(path, read_only=True, tool_version=tool_version, wait_s=wait)


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
    """Insert a whole run with its inputs, matched works and matches, in one transaction."""
    con.begin()
    try:
        _insert_audit_row(con, run)
        _insert_rows(con, "audit_inputs", [_input_row(run.audit_id, i) for i in run.inputs], _INPUT_TYPES)
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


def _insert_audit_row(con: duckdb.DuckDBPyConnection, run: AuditRun, *, owner: str | None = None) -> None:
    con.execute(
        "INSERT INTO audits (audit_id, started_at, finished_at, tool_version, index_works, index_passages, "
        "index_digest, index_schema, parameters, arguments, texts_scanned, texts_matched, inputs_failed, n_matches, "
        "works_matched, manifest_sha256, manifest, recorded_at, kind, engine, state, run_key, invocations, owner) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            run.kind,
            run.engine,
            run.state,
            run.run_key or run.audit_id,
            run.invocations,
            owner,
        ],
    )


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
    "size": pa.int64(),
    "records": pa.int64(),
    "failures": pa.int64(),
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
    "consent_declared": pa.string(),
    "consent_declared_source": pa.string(),
}
# A stored match row: the run, its number, the match's own fields (``provenance.match``), the shard.
_MATCH_TYPES = {
    "audit_id": pa.string(),
    "match_no": pa.int32(),
    **{f.name: f.type for f in arrow_schema(origin="match")},
    "shard": pa.string(),
}
_COLUMN_NAMES = {"matches": "n_matches"}  # value names that differ from the audit_inputs column names


def _input_row(audit_id: str, i: InputRecord) -> dict[str, Any]:
    return {"audit_id": audit_id, **asdict(i)}


def _work_row(audit_id: str, w: WorkSnapshot) -> dict[str, Any]:
    row = {"audit_id": audit_id, **asdict(w)}
    row["consent_snapshot"] = None if w.consent is None else json.dumps(w.consent, ensure_ascii=False, sort_keys=True)
    del row["consent"]
    return row


def _match_row(audit_id: str, number: int, m: Match, shard: str | None = None) -> dict[str, Any]:
    row = m.to_row()
    return {"audit_id": audit_id, "match_no": number, **{f.name: row[f.name] for f in STORED_FIELDS}, "shard": shard}


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


# -- runs written as they go: dataset scans --------------------------------------------------------


@dataclass(frozen=True)
class ShardOutcome:
    """One shard's result, as every engine returns it and a scan stores it (see ``provenance.engines``).

    ``status`` is ``done`` or ``failed`` (the shard could not be read to the end: ``error`` says why);
    ``failures`` are the bad records kept (at most ``MAX_FAILURES_KEPT``), ``failure_count`` all of them.
    """

    shard: Shard
    status: Literal["done", "failed"]
    records: int = 0
    failures: tuple[InputFailure, ...] = ()
    failure_count: int = 0
    empty: int = 0
    matches: tuple[Match, ...] = ()
    text_bytes: int = 0
    seconds: float = 0.0
    error: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class OpenedScan:
    """A scan run as ``open_scan_run`` found or made it: its id, and the shards already done and unchanged."""

    audit_id: str
    resumed: bool
    done: frozenset[str]
    finished: bool


def open_scan_run(
    store: IndexStore,
    *,
    key: str,
    shards: Sequence[Shard],
    parameters: dict[str, Any],
    arguments: Sequence[str],
    engine: str,
    restart: bool = False,
    tool_version: str = __version__,
) -> OpenedScan:
    """The latest run of the scan ``key`` (resumed: one more invocation), or a new one (also with ``restart``).

    A new run lists every shard as an input at once (``sha256`` filled in as each is scanned), so the
    run's inputs are known even if it is interrupted. A finished run whose shards are all done and
    unchanged is returned as it is (``finished``): nothing to scan.
    """
    con = store.con
    found = (
        None
        if restart
        else first_row(
            con.execute(
                "SELECT audit_id, state FROM audits WHERE run_key = ? AND kind = 'dataset' "
                "ORDER BY started_at DESC, audit_id DESC LIMIT 1",
                [key],
            )
        )
    )
    owner = f"{socket.gethostname()}:{os.getpid()}"
    if found is not None:
        audit_id = str(found[0])
        planned = {s.path: (s.size, s.mtime_ns) for s in shards}
        done = frozenset(
            str(r[0])
            for r in con.execute(
                "SELECT shard, size, mtime_ns FROM scan_shards WHERE scan_id = ? AND status = 'done'", [audit_id]
            ).fetchall()
            if planned.get(str(r[0])) == (int(r[1]), int(r[2]))
        )
        finished = found[1] == "finished" and all(s.path in done for s in shards)
        if not finished:
            con.execute(
                "UPDATE audits SET state = 'running', invocations = invocations + 1, owner = ? WHERE audit_id = ?",
                [owner, audit_id],
            )
        return OpenedScan(audit_id, resumed=True, done=done, finished=finished)
    started = datetime.now(timezone.utc)
    run = AuditRun(
        audit_id=new_audit_id(started),
        started_at=started,
        finished_at=started,
        tool_version=tool_version,
        index=index_snapshot(store),
        parameters=parameters,
        versions=library_versions(),
        arguments=tuple(_argument(a) for a in arguments),
        inputs=tuple(
            InputRecord(n, s.path, "shard", size=s.size) for n, s in enumerate(sorted(shards, key=lambda s: s.path))
        ),
        works=(),
        matches=(),
        kind="dataset",
        engine=engine,
        state="running",
        run_key=key,
    )
    with store.transaction() as tx:
        _insert_audit_row(tx, run, owner=owner)
        _insert_rows(tx, "audit_inputs", [_input_row(run.audit_id, i) for i in run.inputs], _INPUT_TYPES)
    return OpenedScan(run.audit_id, resumed=False, done=frozenset(), finished=False)


def store_shard(store: IndexStore, audit_id: str, outcome: ShardOutcome) -> None:
    """Write one shard's matches, bad records, status and input row in one transaction (replacing an earlier try)."""
    shard = outcome.shard.path
    with store.transaction() as con:
        for table in ("scan_failures", "scan_shards"):
            con.execute(f"DELETE FROM {table} WHERE scan_id = ? AND shard = ?", [audit_id, shard])
        con.execute("DELETE FROM matches WHERE audit_id = ? AND shard = ?", [audit_id, shard])
        known = {
            int(r[0]) for r in con.execute("SELECT work_id FROM audit_works WHERE audit_id = ?", [audit_id]).fetchall()
        }
        new_works = sorted({m.work_id for m in outcome.matches} - known)
        _insert_rows(con, "audit_works", [_work_row(audit_id, _snapshot(store, w)) for w in new_works], _WORK_TYPES)
        last = first_row(con.execute("SELECT coalesce(max(match_no), 0) FROM matches WHERE audit_id = ?", [audit_id]))
        start = int(last[0]) + 1 if last else 1
        rows = [_match_row(audit_id, start + n, m, shard) for n, m in enumerate(outcome.matches)]
        _insert_rows(con, "matches", rows, _MATCH_TYPES)
        if outcome.failures:
            con.executemany(
                "INSERT INTO scan_failures VALUES (?, ?, ?, ?)",
                [(audit_id, shard, f.source, f.reason) for f in outcome.failures],
            )
        con.execute(
            "INSERT INTO scan_shards (scan_id, shard, size, mtime_ns, status, records, failures, empty, matches, "
            "text_bytes, seconds, error, finished_at, sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                audit_id,
                shard,
                outcome.shard.size,
                outcome.shard.mtime_ns,
                outcome.status,
                outcome.records,
                outcome.failure_count,
                outcome.empty,
                len(outcome.matches),
                outcome.text_bytes,
                outcome.seconds,
                outcome.error,
                datetime.now(timezone.utc),
                outcome.sha256,
            ],
        )
        con.execute(
            "UPDATE audit_inputs SET sha256 = ?, size = ?, records = ?, failures = ?, n_matches = ?, chars = ?, "
            "error = ? WHERE audit_id = ? AND scanned = ?",
            [
                outcome.sha256,
                outcome.shard.size,
                outcome.records,
                outcome.failure_count,
                len(outcome.matches),
                outcome.text_bytes,
                outcome.error,
                audit_id,
                shard,
            ],
        )


def finish_scan_run(store: IndexStore, audit_id: str, *, interrupted: bool = False) -> AuditRun:
    """Close an invocation of a scan run: its counts, state (finished once every shard is done) and manifest."""
    con = store.con
    pending = first_row(
        con.execute(
            "SELECT count(*) FROM audit_inputs i WHERE i.audit_id = ? AND NOT EXISTS (SELECT 1 FROM scan_shards s "
            "WHERE s.scan_id = i.audit_id AND s.shard = i.scanned AND s.status = 'done')",
            [audit_id],
        )
    )
    complete = pending is not None and int(pending[0]) == 0 and not interrupted
    state: RunState = "finished" if complete else "interrupted"
    with store.transaction() as tx:
        tx.execute(
            "UPDATE audits SET finished_at = ?, state = ?, owner = NULL, "
            "texts_scanned = (SELECT coalesce(sum(records), 0) FROM audit_inputs WHERE audit_id = ?), "
            "inputs_failed = (SELECT coalesce(sum(failures), 0) FROM audit_inputs WHERE audit_id = ?), "
            "texts_matched = (SELECT count(DISTINCT scanned) FROM matches WHERE audit_id = ?), "
            "n_matches = (SELECT count(*) FROM matches WHERE audit_id = ?), "
            "works_matched = (SELECT count(*) FROM audit_works WHERE audit_id = ?) WHERE audit_id = ?",
            [datetime.now(timezone.utc), state, *([audit_id] * 6)],
        )
    run = load_run(store, audit_id)
    manifest = manifest_for(run)
    con.execute(
        "UPDATE audits SET manifest = ?, manifest_sha256 = ? WHERE audit_id = ?",
        [
            json.dumps(manifest, ensure_ascii=False, sort_keys=True),
            str(manifest["digest"]).removeprefix("sha256:"),
            audit_id,
        ],
    )
    return AuditRun(**{**_fields(run), "manifest": manifest})


def run_matches(store: IndexStore, audit_id: str) -> Iterator[Match]:
    """A stored run's matches in order, with their works' rights as the run saw them (streamed)."""
    works = {w.work_id: w for w in _load_works(store.con, audit_id)}
    yield from _load_matches(store.con, audit_id, works)


# -- reading -------------------------------------------------------------------------------------


def list_runs(store: IndexStore) -> list[RunSummary]:
    """Every recorded run and every pending one, newest first."""
    rows = store.con.execute(
        "SELECT a.audit_id, a.started_at, a.finished_at, a.texts_scanned, a.texts_matched, a.n_matches, "
        "a.works_matched, a.inputs_failed, a.arguments, a.manifest_sha256, a.kind, a.engine, a.state, "
        "a.invocations, a.owner, (SELECT count(*) FROM audit_inputs i WHERE i.audit_id = a.audit_id) FROM audits a"
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
            kind=r[10],
            engine=r[11],
            state=_state(r[12], r[14]),
            invocations=int(r[13]),
            inputs=int(r[15]),
        )
        for r in rows
    ]
    recorded = {r.audit_id for r in runs}
    runs.extend(_summary_of_pending(run) for run in _pending_runs(store.path) if run.audit_id not in recorded)
    return sorted(runs, key=lambda r: (r.started_at, r.audit_id), reverse=True)


def _state(stored: str, owner: str | None) -> RunState:
    """A run's state; ``running`` is believed only while its process lives (a killed scan is interrupted)."""
    if stored != "running":
        return "finished" if stored == "finished" else "interrupted"
    host, _, pid = (owner or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return "running"  # another machine's process: nothing here can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return "interrupted"
    except PermissionError:  # alive, under another user
        pass
    return "running"


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
        kind=run.kind,
        engine=run.engine,
        state=run.state,
        invocations=run.invocations,
        inputs=len(run.inputs),
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
            "SELECT started_at, finished_at, tool_version, parameters, arguments, manifest, kind, engine, state, "
            "invocations, run_key, owner FROM audits WHERE audit_id = ?",
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
        kind=row[6],
        engine=row[7],
        state=_state(row[8], row[11]),
        invocations=int(row[9]),
        run_key=row[10] or wanted,
    )


def _load_inputs(con: duckdb.DuckDBPyConnection, audit_id: str) -> Iterator[InputRecord]:
    rows = con.execute(
        "SELECT ordinal, scanned, kind, sha256, source_sha256, record_id, chars, n_matches, error, size, records, "
        "failures FROM audit_inputs WHERE audit_id = ? ORDER BY ordinal",
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
            size=None if r[9] is None else int(r[9]),
            records=None if r[10] is None else int(r[10]),
            failures=int(r[11] or 0),
        )


def _load_works(con: duckdb.DuckDBPyConnection, audit_id: str) -> Iterator[WorkSnapshot]:
    rows = con.execute(
        "SELECT work_id, source, title, creator, kind, content_sha256, text_sha256, retrieved_at, consent_status, "
        "consent_summary, consent_snapshot, rights_holder, org_id, licence, consent_declared, consent_declared_source "
        "FROM audit_works WHERE audit_id = ? ORDER BY work_id",
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
            consent_declared=r[14],
            consent_declared_source=r[15],
        )


def _load_matches(con: duckdb.DuckDBPyConnection, audit_id: str, works: dict[int, WorkSnapshot]) -> Iterator[Match]:
    names = [f.name for f in STORED_FIELDS]
    cursor = con.execute(f"SELECT {', '.join(names)} FROM matches WHERE audit_id = ? ORDER BY match_no", [audit_id])
    while batch := cursor.fetchmany(4096):
        for values in batch:
            row = dict(zip(names, values, strict=True))
            work = works[int(row["work_id"])]
            row.update(source=work.source, title=work.title, kind=work.kind)
            yield from_row(row).with_rights(work.rights())


# -- JSON form (pending files and `report --format json`) ----------------------------------------


def run_to_dict(run: AuditRun) -> dict[str, Any]:
    """The whole run as JSON-ready data; ``run_from_dict`` reads it back."""
    return {
        "format": "provenance-audit-run",
        "version": 1,
        "audit_id": run.audit_id,
        "kind": run.kind,
        "engine": run.engine,
        "state": run.state,
        "invocations": run.invocations,
        "run_key": run.run_key,
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
        "matches": [m.to_row() for m in run.matches],
        "manifest": run.manifest,
    }


def run_from_dict(data: dict[str, Any]) -> AuditRun:
    """Read a run written by ``run_to_dict``."""
    if data.get("format") != "provenance-audit-run":
        msg = "not a provenance audit run"
        raise ValueError(msg)
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
        matches=tuple(from_row(m) for m in data["matches"]),
        manifest=data["manifest"],
        kind=data.get("kind", "texts"),
        engine=data.get("engine", "local"),
        state=data.get("state", "finished"),
        invocations=int(data.get("invocations", 1)),
        run_key=data.get("run_key", ""),
    )
