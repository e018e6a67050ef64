"""Dataset scans as runs: plan the shards, resume the run, let an engine audit, store each shard's result.

A scan is a run like any audit (``provenance.runs``): it has an id, is listed by ``provenance audits``,
and its report, manifest, SQL views and export are those of every run. What identifies a scan is its
key: the shards' paths, the reading and audit options and the index's digest. Running the same scan
again continues the same run: shards recorded done (and unchanged on disk) are skipped, the others
are scanned; ``restart`` starts a new run. Each shard's matches, failures and status are written in
one transaction, so a kill at any moment loses at most the shards in flight.

Which engine audits the shards is the caller's choice (``provenance.engines``): in this process,
in a pool of worker processes, or on Spark. An engine that works on the open index has each shard
stored as it finishes. The others need the index free of writers while they run, so each finished
shard is first written to a spool file (``INDEX.scans/AUDIT_ID/*.json``, complete or absent: written
aside, then renamed) and the spool moves into the index when the engine is done, or on the next run
after a kill.

Memory per process: the reader's bound (see ``provenance.datasets``), one audit batch (at most
``AuditOptions.batch_size`` records and ``ScanOptions.batch_bytes`` of text, plus one record), the
current shard's matches, and the index's lookup (``MemoryLookup``: about 0.55 GB per million passages;
memory-mapped from the cache beside a large index, so workers share one copy in the page cache;
``AuditOptions(lookup="duckdb")`` trades it for DuckDB's buffer pool).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from indexes import IndexStore
from provenance.datasets import DatasetOptions, ReadProgress, Shard, find_shards
from provenance.engines import MAX_FAILURES_KEPT, ScanOptions
from provenance.inputs import InputFailure
from provenance.match import from_row
from provenance.options import AuditOptions
from provenance.runs import ShardOutcome, finish_scan_run, open_scan_run, run_key, store_shard
from provenance.version import __version__

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from provenance.engines import Engine
    from provenance.engines.spark import SparkEngine, SparkSettings

__all__ = ["MAX_FAILURES_KEPT", "ScanOptions", "ScanProgress", "ScanSummary", "scan_dataset", "scan_key"]


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
    """The end of one invocation of a scan: the run's id and state, and totals over this invocation's shards.

    ``resumed``: the run existed before (an interrupted scan continued, or a finished one rerun, which
    ``already_finished`` tells: nothing was scanned, the stored result stands).
    """

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
    resumed: bool = False
    already_finished: bool = False
    engine: str = "local"


EngineName = Literal["local", "spark"]


def scan_dataset(
    index: str | Path,
    sources: Sequence[str],
    *,
    dataset: DatasetOptions | None = None,
    audit: AuditOptions | None = None,
    options: ScanOptions | None = None,
    engine: EngineName = "local",
    spark: SparkSettings | None = None,
    on_shard: Callable[[ShardOutcome, bool], None] | None = None,
    on_progress: Callable[[ScanProgress], None] | None = None,
) -> ScanSummary:
    """Audit every record of the datasets ``sources`` name against the index, as one resumable run.

    ``engine`` ``local`` audits in this process (``options.workers`` 1) or a pool of worker processes;
    ``spark`` on Spark (``spark``: master and output folder). ``on_shard`` hears each shard once its
    results are stored, with ``True`` for shards done before and skipped; ``on_progress`` hears the
    counters as records are read. Sources that name no readable shard are in ``unreadable``. Raises
    ``IndexStoreError`` if the index cannot be opened for writing.
    """
    dataset = dataset or DatasetOptions()
    audit = audit or AuditOptions()
    options = options or ScanOptions()
    started = time.perf_counter()
    index = str(index)
    seen: list[ShardOutcome] = []
    chosen: Engine | _Deferred
    if engine == "spark":
        spark_engine = _spark_engine(index, spark, dataset, audit, options)
        chosen = spark_engine
        try:
            shards, failures = spark_engine.find(sources)
        except BaseException:
            spark_engine.close()
            raise
    else:
        found = list(find_shards(sources, dataset))
        shards = list({s.path: s for s in found if isinstance(s, Shard)}.values())
        failures = [f for f in found if isinstance(f, InputFailure)]
        chosen = _local_engine(index, shards, dataset, audit, options)
    try:
        progress = ScanProgress(shards_total=len(shards), bytes_total=sum(s.size for s in shards))

        def emit(outcome: ShardOutcome, *, skipped: bool) -> None:
            if not skipped:
                seen.append(outcome)
                progress.matches += len(outcome.matches)
            progress.shards_done += 1
            if on_shard is not None:
                on_shard(outcome, skipped)
            if on_progress is not None:
                on_progress(progress)

        def read(step: ReadProgress) -> None:
            progress.bytes_read += step.bytes_read
            progress.records += step.records
            progress.failures += step.failures
            progress.text_bytes += step.text_bytes
            if on_progress is not None:
                on_progress(progress)

        run, todo = _plan(index, sources, shards, dataset, audit, options, chosen.name, emit, progress)
        complete = run.finished
        if not run.finished:
            complete = _scan(index, run.audit_id, chosen, todo, emit, read)
    finally:
        chosen.close()
    return ScanSummary(
        scan_id=run.audit_id,
        shards=len(shards),
        skipped=len(shards) - len(todo),
        done=sum(o.status == "done" for o in seen),
        failed=sum(o.status == "failed" for o in seen),
        records=sum(o.records for o in seen),
        failures=sum(o.failure_count for o in seen),
        matches=sum(len(o.matches) for o in seen),
        text_bytes=sum(o.text_bytes for o in seen),
        seconds=time.perf_counter() - started,
        unreadable=tuple(failures),
        complete=complete,
        resumed=run.resumed,
        already_finished=run.finished,
        engine=chosen.name,
    )


def _spark_engine(
    index: str, spark: SparkSettings | None, dataset: DatasetOptions, audit: AuditOptions, options: ScanOptions
) -> SparkEngine:
    from provenance.engines.spark import SparkEngine, SparkSettings  # noqa: PLC0415 - pyspark is optional

    settings = spark or SparkSettings(out_dir=Path(f"{index}.spark"))
    return SparkEngine(index, settings, dataset, audit, restart=options.restart)


def _local_engine(
    index: str, shards: Sequence[Shard], dataset: DatasetOptions, audit: AuditOptions, options: ScanOptions
) -> Engine | _Deferred:
    """The local engine: this process, or a pool when there are workers and more than one unit of work.

    Pool workers start now, and import while the scan is planned with the index open for writing.
    """
    if options.workers > 1 and (len(shards) > 1 or any(s.size > options.part_bytes for s in shards)):
        from provenance.engines.pool import PoolEngine  # noqa: PLC0415 - only parallel scans need it

        return PoolEngine(index, dataset, audit, options)
    return _Deferred(dataset, audit, options)


class _Deferred:
    """The local engine, made once the index is open (it audits on the caller's store)."""

    name = "local"
    shares_index = True

    def __init__(self, dataset: DatasetOptions, audit: AuditOptions, options: ScanOptions) -> None:
        self.dataset, self.audit, self.options = dataset, audit, options

    def on(self, store: IndexStore) -> Engine:
        from provenance.engines.local import LocalEngine  # noqa: PLC0415

        return LocalEngine(store, self.dataset, self.audit, self.options)

    def close(self) -> None:
        """Nothing to release."""


@dataclass(frozen=True)
class _Planned:
    audit_id: str
    resumed: bool
    finished: bool


def _plan(
    index: str,
    sources: Sequence[str],
    shards: list[Shard],
    dataset: DatasetOptions,
    audit: AuditOptions,
    options: ScanOptions,
    engine: str,
    emit: Callable[..., None],
    progress: ScanProgress,
) -> tuple[_Planned, list[Shard]]:
    """Find or make the run, move in leftover spools, and tell which shards are still to scan."""
    with IndexStore.open(index, tool_version=__version__) as store:
        _import_spools(store)  # shards that killed runs finished
        digest = store.state().digest
        opened = open_scan_run(
            store,
            key=scan_key(shards, dataset, audit, digest),
            shards=shards,
            parameters={"dataset": asdict(dataset), "audit": asdict(audit), "index": asdict(store.params)},
            arguments=sources,
            engine=engine,
            restart=options.restart,
        )
    todo = [s for s in shards if s.path not in opened.done]
    for shard in shards:
        if shard.path in opened.done:
            progress.bytes_total -= shard.size
            emit(ShardOutcome(shard, "done"), skipped=True)
    return _Planned(opened.audit_id, opened.resumed, opened.finished), todo


def _scan(
    index: str,
    audit_id: str,
    engine: Engine | _Deferred,
    todo: list[Shard],
    emit: Callable[..., None],
    read: Callable[[ReadProgress], None],
) -> bool:
    """Run the engine over ``todo`` and store what it returns; whether the run is now finished."""
    interrupted = True
    if isinstance(engine, _Deferred):
        with IndexStore.open(index, tool_version=__version__) as store:
            try:
                for outcome in engine.on(store).scan(todo, read):
                    store_shard(store, audit_id, outcome)
                    emit(outcome, skipped=False)
                interrupted = False
            finally:
                run = finish_scan_run(store, audit_id, interrupted=interrupted)
        return run.state == "finished"
    spool = _spool_dir(index, audit_id)
    try:
        for outcome in engine.scan(todo, read):
            _write_spool(spool, outcome)
            emit(outcome, skipped=False)
        interrupted = False
    finally:
        engine.close()
        with IndexStore.open(index, tool_version=__version__, wait_s=60.0) as store:
            _import_spool(store, audit_id, spool)
            run = finish_scan_run(store, audit_id, interrupted=interrupted)
    return run.state == "finished"


def scan_key(shards: Sequence[Shard], dataset: DatasetOptions, audit: AuditOptions, index_digest: str) -> str:
    """What identifies a scan: its shards, how records are read and audited, and the index's state."""
    what = {
        "shards": sorted(s.path for s in shards),
        "dataset": {"field": dataset.field, "id_field": dataset.id_field, "format": dataset.format},
        "audit": {k: v for k, v in asdict(audit).items() if k not in {"lookup", "batch_size"}},
    }
    return run_key(what, index_digest)


# -- the spool: finished shards of an engine that needs the index free, waiting to be stored --------


def _spool_dir(index: str, audit_id: str) -> Path:
    path = Path(index)
    return path.with_name(path.name + ".scans") / audit_id


def _write_spool(folder: Path, outcome: ShardOutcome) -> None:
    """One finished shard as a JSON file, complete or absent (written aside, synced, then renamed)."""
    folder.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(outcome.shard.path.encode("utf-8")).hexdigest()[:24]
    data = {
        **{k: v for k, v in asdict(outcome).items() if k not in {"matches", "failures"}},
        "failures": [[f.source, f.reason] for f in outcome.failures],
        "matches": [m.to_row() for m in outcome.matches],
    }
    tmp = folder / f".{name}.{os.getpid()}.tmp"
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(folder / f"{name}.json")


def _read_spool(path: Path) -> ShardOutcome:
    data = json.loads(path.read_text(encoding="utf-8"))
    return ShardOutcome(
        **{
            **data,
            "shard": Shard(**data["shard"]),
            "failures": tuple(InputFailure(s, r) for s, r in data["failures"]),
            "matches": tuple(from_row(m) for m in data["matches"]),
        }
    )


def _import_spools(store: IndexStore) -> int:
    """Move the spool of every run of this index in; a spool of a run the index does not know is left."""
    root = Path(store.path).with_name(Path(store.path).name + ".scans")
    if not root.is_dir():
        return 0
    known = {str(r[0]) for r in store.con.execute("SELECT audit_id FROM audits WHERE kind = 'dataset'").fetchall()}
    moved = 0
    for folder in sorted(root.iterdir()):
        if folder.name in known:
            here = _import_spool(store, folder.name, folder)
            if here:
                finish_scan_run(store, folder.name, interrupted=True)
            moved += here
    return moved


def _import_spool(store: IndexStore, audit_id: str, folder: Path) -> int:
    """Move spooled shards into the index, one transaction each, then delete them; how many moved."""
    if not folder.is_dir():
        return 0
    moved = 0
    for path in sorted(folder.glob("*.json")):
        store_shard(store, audit_id, _read_spool(path))
        path.unlink()
        moved += 1
    for leftover in folder.glob(".*.tmp"):  # a write cut short by a kill: its shard is scanned again
        leftover.unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()
        folder.parent.rmdir()
    return moved
