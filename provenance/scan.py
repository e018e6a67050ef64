"""Resumable dataset scans: shards -> records -> batched audits -> matches stored per record in the index.

A scan is identified by its key: the shards' paths, the reading and audit options and the index's
digest. Running the same scan again resumes it: shards recorded ``done`` (and unchanged on disk) are
skipped; everything else is scanned. Each shard's matches, failures and status are written in one
transaction, so a kill at any moment loses at most the shards in flight.

With ``workers > 1`` shards are audited in a ``ProcessPoolExecutor``: each worker opens the index
read-only (DuckDB lets many read-only processes share a file, but none while a writer holds it) and
returns a shard's results to the parent, which alone writes. Large Parquet shards are audited in
parts of whole row groups (``ScanOptions.part_bytes``) so that workers finish together; the parent
puts a shard's parts together before storing it. As the parent cannot hold the index
open for writing while workers read it, it first writes each finished shard to a spool file
(``INDEX.scans/SCAN_ID/*.json``, complete or absent: written aside, then renamed), and moves the spool
into the index when the pool is done, or on the next run after a kill.

Memory per process: the reader's bound (see ``provenance.datasets``), one audit batch (at most
``AuditOptions.batch_size`` records and ``ScanOptions.batch_bytes`` of text, plus one record), the
current shard's matches, and the index's lookup (``MemoryLookup``: about 0.55 GB per million passages;
memory-mapped from the cache beside a large index, so workers share one copy in the page cache;
``AuditOptions(lookup="duckdb")`` trades it for DuckDB's buffer pool).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import multiprocessing
import os
import queue
import secrets
import signal
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

from indexes import IndexInUseError, IndexStore, IndexStoreError, tokenize
from provenance.audit import AuditOptions, Auditor
from provenance.datasets import (
    DatasetOptions,
    ReadProgress,
    Shard,
    ShardFailure,
    ShardPart,
    find_shards,
    read_shard,
    split_shard,
)
from provenance.inputs import InputFailure, ScanItem
from provenance.match import MATCH_COLUMNS, Match, stored_match
from provenance.version import __version__

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    import duckdb

ShardStatus = Literal["done", "failed", "skipped"]
MIB = 1 << 20
# Failures kept per shard (the rest are counted): a shard of a million bad rows must not fill memory.
MAX_FAILURES_KEPT = 10_000
_PROGRESS_EVERY = 0.2  # seconds between progress messages from workers


@dataclass(frozen=True)
class ScanOptions:
    """How a scan runs.

    ``workers`` processes audit shards (1: all in this process); audit batches hold at most
    ``AuditOptions.batch_size`` records and ``batch_bytes`` of text. With several workers, Parquet
    shards over ``part_bytes`` are audited in parts of whole row groups of about that size, so that the
    workers finish together; a shard is stored (and resumed) whole, once all its parts are done.
    ``restart`` starts a new scan instead of resuming the last one with the same key.
    """

    workers: int = 1
    batch_bytes: int = 8 * MIB
    part_bytes: int = 32 * MIB
    restart: bool = False


@dataclass(frozen=True)
class ShardReport:
    """What happened to one shard in this run. ``skipped``: done in an earlier run and unchanged."""

    shard: str
    status: ShardStatus
    records: int = 0
    failures: tuple[InputFailure, ...] = ()
    failure_count: int = 0
    empty: int = 0
    matches: tuple[Match, ...] = ()
    text_bytes: int = 0
    seconds: float = 0.0
    error: str | None = None


@dataclass
class ScanProgress:
    """Live counters of a scan, for a progress bar by bytes and by records."""

    shards_total: int = 0
    shards_done: int = 0
    bytes_total: int = 0
    bytes_read: int = 0
    records: int = 0
    failures: int = 0
    matches: int = 0
    text_bytes: int = 0


@dataclass(frozen=True)
class ScanSummary:
    """The end of a run: the scan id (stored in the index) and totals over this run's shards."""

    scan_id: str
    shards: int
    skipped: int
    done: int
    failed: int
    records: int
    failures: int
    matches: int
    text_bytes: int
    seconds: float
    unreadable: tuple[InputFailure, ...] = ()
    complete: bool = False


def scan_dataset(
    index: str | Path,
    sources: Sequence[str],
    *,
    dataset: DatasetOptions | None = None,
    audit: AuditOptions | None = None,
    options: ScanOptions | None = None,
    on_shard: Callable[[ShardReport], None] | None = None,
    on_progress: Callable[[ScanProgress], None] | None = None,
) -> ScanSummary:
    """Audit every record of the datasets ``sources`` name against the index, resuming an earlier run.

    ``on_shard`` hears each shard once its results are stored (skipped ones too); ``on_progress``
    hears the counters as records are read. Sources that name no readable shard are in
    ``ScanSummary.unreadable``. Raises ``IndexStoreError`` if the index cannot be opened for writing.
    """
    dataset = dataset or DatasetOptions()
    audit = audit or AuditOptions()
    options = options or ScanOptions()
    started = time.perf_counter()
    found = list(find_shards(sources, dataset))
    shards = [s for s in found if isinstance(s, Shard)]
    unreadable = tuple(f for f in found if isinstance(f, InputFailure))
    progress = ScanProgress(shards_total=len(shards), bytes_total=sum(s.size for s in shards))
    reports: list[ShardReport] = []

    def emit(report: ShardReport) -> None:
        reports.append(report)
        progress.shards_done += 1
        progress.matches += len(report.matches)
        if on_shard is not None:
            on_shard(report)
        if on_progress is not None:
            on_progress(progress)

    # Workers start now, and import while this process plans the scan with the index open for writing.
    early = options.workers > 1 and (len(shards) > 1 or any(s.size > options.part_bytes for s in shards))
    workers = _Workers(str(index), dataset, audit, options) if early else None
    try:
        with IndexStore.open(index, tool_version=__version__) as store:
            scan_id = _open_scan(store, sources, shards, dataset, audit, restart=options.restart)
            _import_spools(store)  # shards that killed parallel runs finished, of this scan or others
            todo, skipped = _todo(store.con, scan_id, shards)
            for shard in skipped:
                progress.bytes_total -= shard.size
                emit(ShardReport(shard.path, "skipped"))
            tasks = _tasks(todo, options) if workers is not None else []
            parallel = len(tasks) > 1
            if not parallel:
                auditor = Auditor(store, audit) if todo else None
                for shard in todo:
                    tick = _local_progress(progress, on_progress)
                    result = _guarded(auditor, shard, dataset, audit, options, tick)
                    _store_result(store.con, scan_id, result)
                    emit(result.report)
                complete = _finish(store.con, scan_id, shards)
        if parallel and workers is not None:
            complete = _run_parallel(workers, index, scan_id, tasks, shards, progress, on_progress, emit)
    finally:
        if workers is not None:
            workers.close(cancel=True)
    ran = [r for r in reports if r.status != "skipped"]
    return ScanSummary(
        scan_id=scan_id,
        shards=len(shards),
        skipped=len(skipped),
        done=sum(r.status == "done" for r in ran),
        failed=sum(r.status == "failed" for r in ran),
        records=sum(r.records for r in ran),
        failures=sum(r.failure_count for r in ran),
        matches=sum(len(r.matches) for r in ran),
        text_bytes=sum(r.text_bytes for r in ran),
        seconds=time.perf_counter() - started,
        unreadable=unreadable,
        complete=complete,
    )


# -- planning -------------------------------------------------------------------------------------


def scan_key(shards: Sequence[Shard], dataset: DatasetOptions, audit: AuditOptions, index_digest: str) -> str:
    """What identifies a scan: its shards, how records are read and audited, and the index's state."""
    parts = {
        "shards": sorted(s.path for s in shards),
        "dataset": {"field": dataset.field, "id_field": dataset.id_field, "format": dataset.format},
        "audit": {k: v for k, v in asdict(audit).items() if k not in {"lookup", "batch_size"}},
        "index": index_digest,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()


def _open_scan(
    store: IndexStore,
    sources: Sequence[str],
    shards: list[Shard],
    dataset: DatasetOptions,
    audit: AuditOptions,
    *,
    restart: bool,
) -> str:
    """The id of the last scan with the same key (a new scan if none, or if ``restart``)."""
    con = store.con
    digest = store.state().digest
    key = scan_key(shards, dataset, audit, digest)
    found = None if restart else _latest(con, key)
    return found or _new_scan(con, key, digest, sources, shards, dataset, audit)


def _todo(con: duckdb.DuckDBPyConnection, scan_id: str, shards: list[Shard]) -> tuple[list[Shard], list[Shard]]:
    """Shards still to scan, and those done in an earlier run and unchanged since."""
    done = {
        str(r[0]): (int(r[1]), int(r[2]))
        for r in con.execute(
            "SELECT shard, size, mtime_ns FROM scan_shards WHERE scan_id = ? AND status = 'done'", [scan_id]
        ).fetchall()
    }
    todo = [s for s in shards if done.get(s.path) != (s.size, s.mtime_ns)]
    skipped = [s for s in shards if done.get(s.path) == (s.size, s.mtime_ns)]
    return todo, skipped


def _latest(con: duckdb.DuckDBPyConnection, key: str) -> str | None:
    rows = con.execute(
        "SELECT scan_id FROM scans WHERE scan_key = ? ORDER BY started_at DESC, scan_id DESC LIMIT 1", [key]
    ).fetchall()
    return str(rows[0][0]) if rows else None


def _new_scan(
    con: duckdb.DuckDBPyConnection,
    key: str,
    digest: str,
    sources: Sequence[str],
    shards: list[Shard],
    dataset: DatasetOptions,
    audit: AuditOptions,
) -> str:
    now = datetime.now(timezone.utc)
    scan_id = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    parameters = {"dataset": asdict(dataset), "audit": asdict(audit)}
    con.execute(
        "INSERT INTO scans VALUES (?, ?, ?, NULL, ?, ?, ?, ?, ?)",
        [scan_id, key, now, __version__, digest, json.dumps(parameters), json.dumps(list(sources)), len(shards)],
    )
    return scan_id


def _finish(con: duckdb.DuckDBPyConnection, scan_id: str, shards: list[Shard]) -> bool:
    """Mark the scan finished when every shard is done; whether it is."""
    done = {
        str(r[0])
        for r in con.execute(
            "SELECT shard FROM scan_shards WHERE scan_id = ? AND status = 'done'", [scan_id]
        ).fetchall()
    }
    complete = all(s.path in done for s in shards)
    if complete:
        con.execute(
            "UPDATE scans SET finished_at = ? WHERE scan_id = ? AND finished_at IS NULL",
            [datetime.now(timezone.utc), scan_id],
        )
    return complete


# -- one shard --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ShardResult:
    shard: Shard
    report: ShardReport


def _scan_shard(
    auditor: Auditor,
    shard: Shard,
    dataset: DatasetOptions,
    audit: AuditOptions,
    options: ScanOptions,
    tick: Callable[[ReadProgress], None],
    part: ShardPart | None = None,
) -> _ShardResult:
    """Audit one shard's records (or one part's) in batches bounded by count and bytes; collect matches and failures."""
    started = time.perf_counter()
    read = ReadProgress()
    matches: list[Match] = []
    failures: list[InputFailure] = []
    error: str | None = None
    batch: list[ScanItem] = []
    held = 0

    def flush() -> None:
        nonlocal batch, held
        for _item, found in auditor.audit(batch):
            matches.extend(found)
        batch, held = [], 0
        tick(read)

    for item in read_shard(shard, dataset, read, part=part):
        if isinstance(item, InputFailure):
            if isinstance(item, ShardFailure):
                error = item.reason
            if len(failures) < MAX_FAILURES_KEPT:
                failures.append(item)
            continue
        batch.append(item)
        held += len(item.text)
        if len(batch) >= audit.batch_size or held >= options.batch_bytes:
            flush()
    flush()
    report = ShardReport(
        shard=shard.path,
        status="failed" if error else "done",
        records=read.records,
        failures=tuple(failures),
        failure_count=read.failures,
        empty=read.empty,
        matches=tuple(matches),
        text_bytes=read.text_bytes,
        seconds=time.perf_counter() - started,
        error=error,
    )
    return _ShardResult(shard, report)


def _guarded(
    auditor: Auditor | None,
    shard: Shard,
    dataset: DatasetOptions,
    audit: AuditOptions,
    options: ScanOptions,
    tick: Callable[[ReadProgress], None],
    part: ShardPart | None = None,
) -> _ShardResult:
    """``_scan_shard``, with an unexpected error recorded as the shard's failure instead of ending the scan."""
    started = time.perf_counter()
    try:
        if auditor is None:
            raise RuntimeError("no auditor")  # noqa: TRY301 - reported like any other error of the shard
        return _scan_shard(auditor, shard, dataset, audit, options, tick, part)
    except Exception as exc:  # noqa: BLE001 - one shard's bug must not stop the others; it is recorded
        reason = f"internal error: {type(exc).__name__}: {exc}"
        report = ShardReport(
            shard.path,
            "failed",
            failures=(InputFailure(shard.path, reason),),
            failure_count=1,
            seconds=time.perf_counter() - started,
            error=reason,
        )
        return _ShardResult(shard, report)


def _local_progress(
    progress: ScanProgress, on_progress: Callable[[ScanProgress], None] | None
) -> Callable[[ReadProgress], None]:
    """Fold a shard's reader counters into the scan's, as deltas since the last call."""
    last = ReadProgress()

    def tick(read: ReadProgress) -> None:
        _advance(progress, read, last)
        if on_progress is not None:
            on_progress(progress)

    return tick


def _advance(progress: ScanProgress, read: ReadProgress, last: ReadProgress) -> None:
    progress.bytes_read += read.bytes_read - last.bytes_read
    progress.records += read.records - last.records
    progress.failures += read.failures - last.failures
    progress.text_bytes += read.text_bytes - last.text_bytes
    last.bytes_read, last.records, last.failures, last.text_bytes = (
        read.bytes_read,
        read.records,
        read.failures,
        read.text_bytes,
    )


# -- storing ----------------------------------------------------------------------------------------


def _rows(scan_id: str, shard: str, matches: Sequence[Match]) -> dict[str, list[Any]]:
    """Columns of ``scan_matches`` for a shard's matches."""
    return {
        "scan_id": [scan_id] * len(matches),
        "shard": [shard] * len(matches),
        "record_id": [m.record_id for m in matches],
        "scanned": [m.scanned for m in matches],
        "work_id": [m.work_id for m in matches],
        "score": [m.score for m in matches],
        "estimated_similarity": [m.estimated_similarity for m in matches],
        "containment": [m.containment for m in matches],
        "verbatim_words": [m.verbatim_words for m in matches],
        "matched_words": [m.matched_words for m in matches],
        "evidence_words": [m.evidence_words for m in matches],
        "scanned_start": [m.scanned_span[0] for m in matches],
        "scanned_end": [m.scanned_span[1] for m in matches],
        "work_start": [m.work_span[0] for m in matches],
        "work_end": [m.work_span[1] for m in matches],
        "work_time_start": [m.work_time[0] if m.work_time else None for m in matches],
        "work_time_end": [m.work_time[1] if m.work_time else None for m in matches],
        "link": [m.link for m in matches],
        "scanned_excerpt": [m.scanned_excerpt for m in matches],
        "work_excerpt": [m.work_excerpt for m in matches],
    }


_MATCH_TYPES = {
    "work_id": pa.int64(),
    "verbatim_words": pa.int32(),
    "matched_words": pa.int32(),
    "evidence_words": pa.int32(),
    "scanned_start": pa.int64(),
    "scanned_end": pa.int64(),
    "work_start": pa.int64(),
    "work_end": pa.int64(),
    "score": pa.float64(),
    "estimated_similarity": pa.float64(),
    "containment": pa.float64(),
    "work_time_start": pa.float64(),
    "work_time_end": pa.float64(),
}


def _store_result(con: duckdb.DuckDBPyConnection, scan_id: str, result: _ShardResult) -> None:
    """Write one shard's matches, failures and status in one transaction (replacing an earlier attempt)."""
    report, shard = result.report, result.shard
    columns = _rows(scan_id, shard.path, report.matches)
    matches = pa.table({k: pa.array(v, type=_MATCH_TYPES.get(k, pa.string())) for k, v in columns.items()})
    failures = pa.table(
        {
            "scan_id": pa.array([scan_id] * len(report.failures), pa.string()),
            "shard": pa.array([shard.path] * len(report.failures), pa.string()),
            "location": pa.array([f.source for f in report.failures], pa.string()),
            "reason": pa.array([f.reason for f in report.failures], pa.string()),
        }
    )
    con.begin()
    try:
        for table in ("scan_matches", "scan_failures", "scan_shards"):
            con.execute(f"DELETE FROM {table} WHERE scan_id = ? AND shard = ?", [scan_id, shard.path])
        for table, data in (("scan_matches", matches), ("scan_failures", failures)):
            if data.num_rows:
                con.register("_incoming", data)
                try:
                    con.execute(f"INSERT INTO {table} SELECT * FROM _incoming")
                finally:
                    con.unregister("_incoming")
        con.execute(
            "INSERT INTO scan_shards VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                scan_id,
                shard.path,
                shard.size,
                shard.mtime_ns,
                report.status,
                report.records,
                report.failure_count,
                report.empty,
                len(report.matches),
                report.text_bytes,
                report.seconds,
                report.error,
                datetime.now(timezone.utc),
            ],
        )
        con.commit()
    except BaseException:
        con.rollback()
        raise


def import_matches(
    index: str | Path,
    sources: Sequence[str],
    shards: Sequence[tuple[Shard, ShardReport]],
    *,
    dataset: DatasetOptions | None = None,
    audit: AuditOptions | None = None,
    engine: str = "spark",
) -> str:
    """Store shards scanned elsewhere (the Spark engine) as a scan: matches, failures, status; returns its scan id.

    Each shard is written in one transaction like a local scan's (its matches, ``report.failures`` into
    ``scan_failures``, its counts), so ``stored_matches`` and the SQL views see them; the scan is
    finished once every shard is done. Importing a scan with the same key again (a resumed run)
    replaces its shards in the same scan. The key starts with ``engine``, so a local scan never
    resumes from these.
    """
    dataset = dataset or DatasetOptions()
    audit = audit or AuditOptions()
    listed = [shard for shard, _ in shards]
    with IndexStore.open(index, tool_version=__version__) as store:
        digest = store.state().digest
        key = f"{engine}:" + scan_key(listed, dataset, audit, digest)
        store.con.begin()
        try:
            scan_id = _latest(store.con, key) or _new_scan(store.con, key, digest, sources, listed, dataset, audit)
            store.con.commit()
        except BaseException:
            store.con.rollback()
            raise
        for shard, report in shards:
            _store_result(store.con, scan_id, _ShardResult(shard, report))
        _finish(store.con, scan_id, listed)
    return scan_id


# -- the spool: finished shards of a parallel run, waiting for the index ----------------------------


def _spool_dir(index: str, scan_id: str) -> Path:
    path = Path(index)
    return path.with_name(path.name + ".scans") / scan_id


def _write_spool(folder: Path, result: _ShardResult) -> None:
    """One finished shard as a JSON file, complete or absent (written aside, synced, then renamed)."""
    folder.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(result.shard.path.encode("utf-8")).hexdigest()[:24]
    report = result.report
    data = {
        "shard": asdict(result.shard),
        "report": {
            "status": report.status,
            "records": report.records,
            "failure_count": report.failure_count,
            "empty": report.empty,
            "text_bytes": report.text_bytes,
            "seconds": report.seconds,
            "error": report.error,
            "failures": [[f.source, f.reason] for f in report.failures],
            "matches": [asdict(m) for m in report.matches],
        },
    }
    tmp = folder / f".{name}.{os.getpid()}.tmp"
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(folder / f"{name}.json")


def _read_spool(path: Path) -> _ShardResult:
    data = json.loads(path.read_text(encoding="utf-8"))
    shard = Shard(**data["shard"])
    raw = data["report"]
    matches = tuple(
        Match(
            **{
                **m,
                "scanned_span": tuple(m["scanned_span"]),
                "work_span": tuple(m["work_span"]),
                "work_time": tuple(m["work_time"]) if m["work_time"] else None,
            }
        )
        for m in raw["matches"]
    )
    report = ShardReport(
        shard=shard.path,
        status=raw["status"],
        records=raw["records"],
        failures=tuple(InputFailure(s, r) for s, r in raw["failures"]),
        failure_count=raw["failure_count"],
        empty=raw["empty"],
        matches=matches,
        text_bytes=raw["text_bytes"],
        seconds=raw["seconds"],
        error=raw["error"],
    )
    return _ShardResult(shard, report)


def _import_spools(store: IndexStore) -> int:
    """Move the spool of every scan of this index in; a spool of a scan the index does not know is left."""
    root = Path(store.path).with_name(Path(store.path).name + ".scans")
    if not root.is_dir():
        return 0
    known = {str(r[0]) for r in store.con.execute("SELECT scan_id FROM scans").fetchall()}
    return sum(_import_spool(store, folder.name, folder) for folder in sorted(root.iterdir()) if folder.name in known)


def _import_spool(store: IndexStore, scan_id: str, folder: Path) -> int:
    """Move spooled shards into the index, one transaction each, then delete them; how many moved."""
    if not folder.is_dir():
        return 0
    moved = 0
    for path in sorted(folder.glob("*.json")):
        _store_result(store.con, scan_id, _read_spool(path))
        path.unlink()
        moved += 1
    for leftover in folder.glob(".*.tmp"):  # a write cut short by a kill: its shard is scanned again
        leftover.unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()
        folder.parent.rmdir()
    return moved


# -- parallel ---------------------------------------------------------------------------------------

_worker: dict[str, Any] = {}


def _die_with_parent() -> None:
    """Have the kernel kill this worker when the parent dies (Linux), so no orphan keeps the index open."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


_OPEN_WAIT = 60.0  # seconds a worker waits for the parent (or another writer) to let go of the index


class _Workers:
    """Worker processes, started before the scan is planned.

    They import and warm up while the parent holds the index for writing, and open it read-only when
    their first shard comes.
    """

    def __init__(self, index: str, dataset: DatasetOptions, audit: AuditOptions, options: ScanOptions) -> None:
        context = multiprocessing.get_context("spawn")  # never fork a process that has run DuckDB threads
        self.messages = context.Queue()
        self.pool = ProcessPoolExecutor(
            max_workers=options.workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(index, dataset, audit, options, self.messages),
        )
        for _ in range(options.workers):  # one task each starts them all now
            self.pool.submit(_warm_up)

    def close(self, *, cancel: bool = False) -> None:
        """Stop the workers (at once, dropping queued shards, with ``cancel``)."""
        self.pool.shutdown(wait=True, cancel_futures=cancel)


def _init_worker(
    index: str,
    dataset: DatasetOptions,
    audit: AuditOptions,
    options: ScanOptions,
    messages: Any,  # noqa: ANN401 - a multiprocessing queue
) -> None:
    _die_with_parent()
    _worker.update(index=index, dataset=dataset, audit=audit, options=options, messages=messages)


def _warm_up() -> None:
    """Load what the first shard would otherwise wait for: the compiled kernels and the character classes."""
    tokenize("warm up", 0)


def _worker_auditor() -> Auditor:
    """The worker's auditor, opening the index read-only on first use (waiting while a writer holds it)."""
    auditor = _worker.get("auditor")
    if auditor is None:
        deadline = time.monotonic() + _OPEN_WAIT
        while True:
            try:
                store = IndexStore.open(_worker["index"], read_only=True)
                break
            except IndexInUseError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        auditor = Auditor(store, _worker["audit"])
        _worker.update(store=store, auditor=auditor)
    return auditor


def _run_shard(shard: Shard, part: ShardPart | None = None) -> _ShardResult:
    """In a worker: audit one shard (or part), sending progress deltas to the parent now and then."""
    last = ReadProgress()
    sent = time.monotonic()
    messages = _worker["messages"]

    def send(read: ReadProgress) -> None:
        delta = ScanProgress()
        _advance(delta, read, last)
        messages.put((delta.bytes_read, delta.records, delta.failures, delta.text_bytes))

    def tick(read: ReadProgress) -> None:
        nonlocal sent
        if time.monotonic() - sent >= _PROGRESS_EVERY:
            send(read)
            sent = time.monotonic()

    try:
        auditor = _worker_auditor()
    except IndexStoreError as exc:
        reason = str(exc)
        report = ShardReport(
            shard.path, "failed", failures=(InputFailure(shard.path, reason),), failure_count=1, error=reason
        )
        return _ShardResult(shard, report)
    result = _guarded(auditor, shard, _worker["dataset"], _worker["audit"], _worker["options"], tick, part)
    report = result.report
    size = shard.size if part is None else part.size
    send(ReadProgress(size, report.records, report.failure_count, report.empty, report.text_bytes))
    return result


def _merged(shard: Shard, parts: list[tuple[ShardPart, _ShardResult]]) -> _ShardResult:
    """One shard's result from its parts' results, in row order."""
    reports = [r.report for _, r in sorted(parts, key=lambda p: p[0].first)]
    errors = [r.error for r in reports if r.error]
    report = ShardReport(
        shard=shard.path,
        status="failed" if errors else "done",
        records=sum(r.records for r in reports),
        failures=tuple(f for r in reports for f in r.failures)[:MAX_FAILURES_KEPT],
        failure_count=sum(r.failure_count for r in reports),
        empty=sum(r.empty for r in reports),
        matches=tuple(m for r in reports for m in r.matches),
        text_bytes=sum(r.text_bytes for r in reports),
        seconds=sum(r.seconds for r in reports),
        error=errors[0] if errors else None,
    )
    return _ShardResult(shard, report)


def _tasks(todo: list[Shard], options: ScanOptions) -> list[tuple[Shard, ShardPart | None]]:
    """The units of a parallel scan, biggest first (less waiting at the end): shards, or parts of large ones."""
    tasks: list[tuple[Shard, ShardPart | None]] = []
    for shard in todo:
        parts = split_shard(shard, options.part_bytes)
        tasks.extend([(shard, None)] if parts is None else [(shard, part) for part in parts])
    return sorted(tasks, key=lambda t: -(t[0].size if t[1] is None else t[1].size))


def _run_parallel(
    workers: _Workers,
    index: str | Path,
    scan_id: str,
    tasks: list[tuple[Shard, ShardPart | None]],
    shards: list[Shard],
    progress: ScanProgress,
    on_progress: Callable[[ScanProgress], None] | None,
    emit: Callable[[ShardReport], None],
) -> bool:
    """Scan in the workers, then move the spool into the index (also after an error); whether the scan is complete."""
    try:
        _scan_parallel(workers, index, scan_id, tasks, progress, on_progress, emit)
    finally:
        workers.close()
        with IndexStore.open(index, tool_version=__version__) as store:
            _import_spool(store, scan_id, _spool_dir(str(index), scan_id))
            complete = _finish(store.con, scan_id, shards)
    return complete


def _scan_parallel(
    workers: _Workers,
    index: str | Path,
    scan_id: str,
    tasks: list[tuple[Shard, ShardPart | None]],
    progress: ScanProgress,
    on_progress: Callable[[ScanProgress], None] | None,
    emit: Callable[[ShardReport], None],
) -> None:
    """Audit shards in worker processes and spool each finished one; the caller moves the spool in."""
    messages, pool = workers.messages, workers.pool
    spool = _spool_dir(str(index), scan_id)
    waiting: dict[str, int] = {}
    for shard, _ in tasks:
        waiting[shard.path] = waiting.get(shard.path, 0) + 1
    done: dict[str, list[tuple[ShardPart, _ShardResult]]] = {}
    pending = {pool.submit(_run_shard, shard, part): part for shard, part in tasks}
    try:
        while pending:
            finished, _ = wait(pending, timeout=_PROGRESS_EVERY, return_when=FIRST_COMPLETED)
            _drain(messages, progress, on_progress)
            for future in finished:
                part = pending.pop(future)
                result = future.result()
                path = result.shard.path
                waiting[path] -= 1
                if part is not None:
                    done.setdefault(path, []).append((part, result))
                    if waiting[path]:
                        continue
                    result = _merged(result.shard, done.pop(path))
                _write_spool(spool, result)
                emit(result.report)
    except BaseException:
        workers.close(cancel=True)
        raise
    finally:
        _drain(messages, progress, on_progress)


def _drain(messages: Any, progress: ScanProgress, on_progress: Callable[[ScanProgress], None] | None) -> None:  # noqa: ANN401 - a multiprocessing queue
    changed = False
    while True:
        try:
            bytes_read, records, failures, text_bytes = messages.get_nowait()
        except queue.Empty:
            break
        progress.bytes_read += bytes_read
        progress.records += records
        progress.failures += failures
        progress.text_bytes += text_bytes
        changed = True
    if changed and on_progress is not None:
        on_progress(progress)


# -- reading results back ---------------------------------------------------------------------------


def _has_scans(store: IndexStore) -> bool:
    """Whether the index has the scan tables (an index no scan has run on, opened read-only, has not)."""
    tables = {r[0] for r in store.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    return "scan_shards" in tables


def stored_matches(store: IndexStore, scan_id: str, shard: str | None = None) -> Iterator[Match]:
    """The matches a scan stored, in shard and record order, rebuilt as ``Match`` values."""
    if not _has_scans(store):
        return
    columns = ", ".join(f"m.{c}" for c in MATCH_COLUMNS.split(", "))
    sql = (
        f"SELECT m.work_id, w.source, w.title, w.kind, c.status, c.summary, {columns} "
        "FROM scan_matches m JOIN works w USING (work_id) LEFT JOIN consent c USING (work_id) "
        "WHERE m.scan_id = ? AND (? IS NULL OR m.shard = ?) "
        "ORDER BY m.shard, m.scanned, m.scanned_start, m.work_id"
    )
    for r in store.con.execute(sql, [scan_id, shard, shard]).fetchall():
        yield stored_match(r[6:], work_id=int(r[0]), source=r[1], title=r[2], kind=r[3], consent=(r[4], r[5]))


@dataclass(frozen=True)
class StoredShard:
    """A shard's row in ``scan_shards``."""

    shard: str
    status: str
    records: int
    failures: int
    matches: int
    error: str | None = None


def stored_shards(store: IndexStore, scan_id: str) -> list[StoredShard]:
    """The shards a scan has recorded, in path order."""
    if not _has_scans(store):
        return []
    rows = store.con.execute(
        "SELECT shard, status, records, failures, matches, error FROM scan_shards WHERE scan_id = ? ORDER BY shard",
        [scan_id],
    ).fetchall()
    return [StoredShard(str(r[0]), str(r[1]), int(r[2]), int(r[3]), int(r[4]), r[5]) for r in rows]
