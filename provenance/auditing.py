"""One entry point for every audit: texts, stdin, JSON Lines, or a dataset scan on any engine.

``run_audit`` decides what the inputs are (``is_dataset``), runs the audit and records it as a run
(``provenance.runs``), and returns what the CLI prints. Texts are audited read-only and recorded at
the end; datasets are scanned by ``provenance.scan`` as a resumable run. Either way the result is
one run with an id that ``audits``, ``report``, ``verify``, ``sql`` and ``export`` see.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal

from provenance.audit import Auditor
from provenance.datasets import DatasetOptions, dataset_format, looks_like_dataset
from provenance.engines import ScanOptions
from provenance.inputs import STDIN, InputFailure, InputOptions, ScanItem, read_inputs
from provenance.options import AuditOptions
from provenance.runs import RunRecorder, SaveOutcome, open_index, run_matches, save_run

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from provenance.match import Match
    from provenance.runs import ShardOutcome
    from provenance.scan import ScanProgress, ScanSummary


@dataclass(frozen=True)
class AuditRequest:
    """What to audit and how: the inputs and how to read them, and for datasets where to scan them.

    ``dataset`` forces a dataset scan of plain JSON Lines (Parquet, CSV, compressed shards, globs and
    dataset folders are scanned as datasets anyway). ``workers`` None: one per core. ``engine`` spark
    needs ``spark_out`` (default: ``INDEX.spark/``) and ``spark_master``. ``record`` False: texts are
    audited without writing anything (datasets are always recorded: that is how they resume).
    """

    inputs: tuple[str, ...]
    options: AuditOptions = field(default_factory=AuditOptions)
    field: str = "text"
    id_field: str | None = None
    jsonl: bool = False
    dataset: bool = False
    workers: int | None = None
    restart: bool = False
    engine: Literal["local", "spark"] = "local"
    spark_master: str = "local[*]"
    spark_out: Path | None = None
    record: bool = True
    lookup: Literal["auto", "memory", "duckdb"] = "auto"


@dataclass
class AuditEvents:
    """What a caller hears while an audit runs (all optional)."""

    failure: Callable[[InputFailure], None] | None = None
    warning: Callable[[str], None] | None = None
    matches: Callable[[Sequence[Match]], None] | None = None
    shard: Callable[[ShardOutcome, bool], None] | None = None
    progress: Callable[[ScanProgress], None] | None = None


@dataclass(frozen=True)
class AuditResult:
    """A finished audit: its run id (None when not recorded), what was scanned and found, and where it went.

    ``matches`` are all of the run's matches; for a resumed or rerun scan that includes those found by
    earlier invocations (``scan.matches`` counts this invocation's). ``failures`` are this invocation's
    unreadable inputs (for a scan: bad records and failed shards, also in the run's ``failures`` view).
    """

    audit_id: str | None
    kind: Literal["texts", "dataset"]
    matches: tuple[Match, ...]
    failures: tuple[InputFailure, ...]
    scanned: int
    saved: SaveOutcome | None = None
    scan: ScanSummary | None = None


def is_dataset(source: str) -> bool:
    """Inputs only the dataset scanner reads: Parquet, Arrow, CSV, compressed shards, globs, dataset folders.

    A plain JSON Lines file is read as texts (each record a text) unless ``AuditRequest.dataset``.
    """
    if source == STDIN or not looks_like_dataset(source):
        return False
    found = dataset_format(source) if Path(source).is_file() else None
    return found is None or found[0] != "jsonl" or found[1] is not None


def run_audit(
    index: str | Path, request: AuditRequest, *, stdin: IO[bytes] | None = None, events: AuditEvents | None = None
) -> AuditResult:
    """Audit ``request.inputs`` against the index and record the run; route texts and datasets."""
    events = events or AuditEvents()
    scan = request.engine == "spark" or request.dataset or any(is_dataset(i) for i in request.inputs)
    request = replace(request, options=replace(request.options, lookup=_lookup(index, request, scan=scan)))
    if scan:
        return _scan(Path(index), request, events)
    return _texts(Path(index), request, events, stdin if stdin is not None else sys.stdin.buffer)


FEW_TEXTS = 8
"""Up to this many plain inputs (files or stdin, not folders or JSON Lines), ``auto`` looks up in DuckDB."""


def _lookup(index: str | Path, request: AuditRequest, *, scan: bool) -> Literal["memory", "duckdb"]:
    """Where candidates are looked up: ``auto`` loads the index's arrays only when they pay for themselves.

    Loading them takes seconds and about 0.55 GB per million passages, while one text's lookup in DuckDB
    takes tens of milliseconds: a few texts are looked up in DuckDB, unless the arrays are cached beside
    the index already (then memory-mapping them is cheap). Scans and many texts use memory.
    """
    if request.lookup != "auto":
        return request.lookup
    few = len(request.inputs) <= FEW_TEXTS and not request.jsonl
    plain = all(i == "-" or (Path(i).is_file() and not i.endswith((".jsonl", ".ndjson"))) for i in request.inputs)
    cached = Path(f"{index}.lookup").is_dir()
    return "duckdb" if not scan and few and plain and not cached else "memory"


def _texts(index: Path, request: AuditRequest, events: AuditEvents, stdin: IO[bytes]) -> AuditResult:
    input_options = InputOptions(field=request.field, id_field=request.id_field, jsonl=request.jsonl)
    items = read_inputs(request.inputs, input_options, stdin=stdin)
    failures: list[InputFailure] = []
    found: list[Match] = []
    scanned = 0

    def readable(tracked: Iterable[ScanItem | InputFailure]) -> Iterator[ScanItem]:
        for item in tracked:
            if isinstance(item, InputFailure):
                failures.append(item)
                if events.failure is not None:
                    events.failure(item)
                continue
            for warning in item.warnings:
                if events.warning is not None:
                    events.warning(warning)
            yield item

    with open_index(index, read_only=True) as store:
        recorder = RunRecorder(store, request.options, input_options, request.inputs)
        for item, matches in Auditor(store, request.options).audit(readable(recorder.track(items))):
            scanned += 1
            found.extend(matches)
            recorder.scanned(item, matches)
            if events.matches is not None:
                events.matches(matches)
        run = recorder.finish(store)
    saved = save_run(index, run) if request.record else None
    return AuditResult(
        audit_id=run.audit_id if saved else None,
        kind="texts",
        matches=tuple(found),
        failures=tuple(failures),
        scanned=scanned,
        saved=saved,
    )


def _scan(index: Path, request: AuditRequest, events: AuditEvents) -> AuditResult:
    from provenance.scan import scan_dataset  # noqa: PLC0415 - dataset scans load their engines only when asked

    spark = None
    if request.engine == "spark":
        from provenance.engines.spark import SparkSettings  # noqa: PLC0415 - pyspark is optional

        spark = SparkSettings(out_dir=request.spark_out or Path(f"{index}.spark"), master=request.spark_master)
    failures: list[InputFailure] = []

    def shard(outcome: ShardOutcome, skipped: bool) -> None:
        if not skipped:
            failures.extend(outcome.failures)
        if events.shard is not None:
            events.shard(outcome, skipped)

    summary = scan_dataset(
        index,
        request.inputs,
        dataset=DatasetOptions(field=request.field, id_field=request.id_field),
        audit=request.options,
        options=ScanOptions(workers=request.workers or os.cpu_count() or 1, restart=request.restart),
        engine=request.engine,
        spark=spark,
        on_shard=shard,
        on_progress=events.progress,
    )
    failures.extend(summary.unreadable)
    with open_index(index, read_only=True) as store:
        matches = tuple(run_matches(store, summary.scan_id))
    if events.matches is not None:
        events.matches(matches)
    return AuditResult(
        audit_id=summary.scan_id,
        kind="dataset",
        matches=matches,
        failures=tuple(failures),
        scanned=summary.records,
        scan=summary,
    )
