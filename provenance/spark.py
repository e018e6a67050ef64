"""Dataset scans on Apache Spark: the local engine's readers, fingerprints, candidates and verification, distributed.

A scan runs a few Spark jobs per shard (dataset file), several shards at once. Each shard's results go
to ``OUT/shards/KEY/`` with a completion marker written last, so a rerun skips finished shards and
redoes an interrupted one. The stages of a shard (the per-batch work is pure ``RecordBatch ->
RecordBatch`` functions over provenance's own code, run by ``mapInArrow`` on the executors):

1. **export** (``export_index``, once per scan): the index's band keys (joined with their passages'
   token ranges), its uncommon anchors, and its works (text, metadata, consent, transcript cues,
   common-anchor positions) are written as Parquet by DuckDB into a staging folder, with the
   fingerprint parameters as ``params.json``. That folder is how the index reaches the cluster.
2. **read** (``line_records``, ``column_records``): Spark reads the shard (Parquet with its row numbers;
   JSON Lines and CSV, plain, ``.gz`` or ``.zst``, as lines with its text reader, one task per file so
   that lines are numbered in order), and ``provenance.datasets.read_lines``/``read_columns`` turn
   lines and values into records and failures exactly as the local engine's reader does: the same
   names (``PATH#RECORD_ID``), checks (invalid JSON or UTF-8, missing field, null or non-text value,
   a record over ``DatasetOptions.max_record_bytes``) and failure locations (``PATH:LINE``, ``PATH#ROW``).
3. **probe** (``probe_batches``): each record is tokenized and fingerprinted with ``Fingerprinter``
   and the index's ``IndexParams``, exactly as ``Auditor`` does: one row per distinct (record, band
   key) and (record, anchor).
4. **candidates**: probes join the band and anchor keys (one broadcast table when small, so the
   dataset side is never shuffled), and the hits are grouped per (record, work) into token ranges.
5. **verify** (``verify_batches``): the records, read again, meet their candidates in a broadcast join
   and each (record, work) pair is verified with ``provenance.audit.verify``; failures and per-task
   counters pass through.
6. **write**: ``matches.parquet`` (``MATCH_SCHEMA``), ``failures.parquet`` (``location, reason``),
   then the marker ``done/`` (one JSON row: counts, and what the results depend on: the shard's size
   and time, the reading and audit options, the index and the fingerprint code).

Spark's JSON and CSV readers are not used: the JSON reader drops blank lines and expands top-level
arrays into rows (so row numbers drift from the file's), turns numbers and objects into strings under
a string schema (so a non-text value would be audited as its JSON), and neither says which line a
row came from.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import socket
import sys
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from connectors import sha256_hex
from indexes import Fingerprinter, IndexParametersError, IndexParams, IndexStore
from provenance.audit import MIN_ANCHORS, AuditOptions, WorkSide, verify
from provenance.datasets import (
    DatasetOptions,
    Line,
    ReadProgress,
    Shard,
    ShardFailure,
    find_shards,
    listed_shard,
    read_columns,
    read_lines,
)
from provenance.inputs import InputFailure, ScanItem
from provenance.match import Match, format_time_range
from provenance.scan import MAX_FAILURES_KEPT, ScanSummary, ShardReport, import_matches

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from pyspark.sql import Column, DataFrame, SparkSession

    from indexes.store import MetaValue

# Probe kinds in the probe rows.
BAND, ANCHOR = 0, 1
# What a row of the records and results tables is: a record to audit, a match, a bad record, the
# failure that ends a shard (``ShardFailure``), or one task's counters.
RECORD, MATCH, FAILURE, FATAL, COUNTS = 0, 1, 2, 3, 4
# Index tables up to this size on disk are broadcast to every executor (Spark's own default is 10 MB).
BROADCAST_BYTES = 256 << 20
# Candidate (record, work) pairs up to this many are broadcast to the records instead of shuffling them.
BROADCAST_CANDIDATES = 2_000_000
# Each shard in flight broadcasts its own copy of the index tables: shards at once are limited so
# that the copies stay under this many bytes (as stored; a few times more in executor memory).
BROADCAST_BUDGET = 4 << 30
# Works whose fingerprints a verifying task keeps.
_CACHE_WORKS = 64
# Rows and text bytes of one batch of record rows sent back to Spark.
_BATCH_ROWS = 1024
_BATCH_TEXT = 32 << 20
# Changes when markers written by earlier versions must not be trusted.
MARKER_VERSION = 1

_MATCH_FIELDS = [
    ("work_id", pa.int64()),
    ("source", pa.string()),
    ("title", pa.string()),
    ("kind", pa.string()),
    ("scanned", pa.string()),
    ("record_id", pa.string()),
    ("score", pa.float64()),
    ("similarity", pa.float64()),
    ("estimated_similarity", pa.float64()),
    ("containment", pa.float64()),
    ("verbatim_words", pa.int64()),
    ("matched_words", pa.int64()),
    ("evidence_words", pa.int64()),
    ("scanned_span", pa.list_(pa.int64())),
    ("work_span", pa.list_(pa.int64())),
    ("scanned_excerpt", pa.string()),
    ("work_excerpt", pa.string()),
    ("link", pa.string()),
    ("consent_status", pa.string()),
    ("consent_summary", pa.string()),
    ("work_time", pa.list_(pa.float64())),
    ("work_time_label", pa.string()),
]
# A failure's place and reason, and a task's counters (``ReadProgress``), on record and result rows.
_REPORT_FIELDS = [
    ("location", pa.string()),
    ("reason", pa.string()),
    ("records", pa.int64()),
    ("empty", pa.int64()),
    ("text_bytes", pa.int64()),
    ("failures", pa.int64()),
]
_ARROW_MATCH_SCHEMA = pa.schema(_MATCH_FIELDS)
_ARROW_RECORD_SCHEMA = pa.schema(
    [
        ("record", pa.int64()),  # unique in a shard's job: the task's partition and the record's place in it
        ("entry", pa.int8()),
        ("scanned", pa.string()),
        ("record_id", pa.string()),
        ("text", pa.string()),
        *_REPORT_FIELDS,
    ]
)
_ARROW_PROBE_SCHEMA = pa.schema([("record", pa.int64()), ("kind", pa.int8()), ("key", pa.int64())])
_ARROW_RESULT_SCHEMA = pa.schema([("entry", pa.int8()), *_MATCH_FIELDS, *_REPORT_FIELDS])
_ARROW_MARKER_SCHEMA = pa.schema(
    [
        ("shard", pa.string()),
        ("size", pa.int64()),
        ("mtime_ns", pa.int64()),
        ("settings", pa.string()),
        ("status", pa.string()),
        ("records", pa.int64()),
        ("failures", pa.int64()),
        ("empty", pa.int64()),
        ("text_bytes", pa.int64()),
        ("matches", pa.int64()),
        ("seconds", pa.float64()),
        ("error", pa.string()),
    ]
)


def _ddl(schema: pa.Schema) -> str:
    """A Spark DDL schema string for an Arrow schema of the types used here."""
    names = {pa.int8(): "tinyint", pa.int64(): "bigint", pa.float64(): "double", pa.string(): "string"}

    def spark_type(kind: pa.DataType) -> str:
        if pa.types.is_list(kind):
            return f"array<{spark_type(kind.value_type)}>"
        return names[kind]

    return ", ".join(f"{f.name} {spark_type(f.type)}" for f in schema)


MATCH_SCHEMA = _ddl(_ARROW_MATCH_SCHEMA)
RECORD_SCHEMA = _ddl(_ARROW_RECORD_SCHEMA)
PROBE_SCHEMA = _ddl(_ARROW_PROBE_SCHEMA)
RESULT_SCHEMA = _ddl(_ARROW_RESULT_SCHEMA)
MARKER_SCHEMA = _ddl(_ARROW_MARKER_SCHEMA)


@dataclass(frozen=True)
class IndexExport:
    """An index exported for Spark: Parquet tables in ``folder`` and the fingerprint parameters.

    ``url`` is where Spark reads the folder: the folder itself, or the same storage as the cluster
    names it (``/dbfs/tmp/x`` is ``dbfs:/tmp/x`` on Databricks; a mounted bucket is ``s3://...``).
    ``digest`` is the index's (``IndexState.digest``): results depend on it.
    """

    folder: str
    url: str
    params: IndexParams
    lookup_bytes: int  # size on disk of the band and anchor tables
    works_bytes: int
    digest: str = ""

    @property
    def bands(self) -> str:
        """``key, work_id, token_start, token_end``: one row per band key of a passage."""
        return f"{self.url}/bands.parquet"

    @property
    def anchors(self) -> str:
        """``key, work_id, token_pos``: uncommon anchors (common ones are never looked up)."""
        return f"{self.url}/anchors.parquet"

    @property
    def works(self) -> str:
        """Works with what verification and matches need: text, metadata, consent, cues, common positions."""
        return f"{self.url}/works.parquet"


def export_index(index_path: str | Path, folder: str | Path, *, url: str | None = None) -> IndexExport:
    """Write the index's lookup tables and works as Parquet into ``folder`` (made if missing).

    ``url`` is where Spark will read ``folder`` from, if not under that name.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    queries = {
        "bands": "SELECT b.key, p.work_id, p.token_start, p.token_end FROM bands b JOIN passages p USING (passage_id)",
        "anchors": "SELECT a.key, a.work_id, a.token_pos FROM anchors a ANTI JOIN common_anchors c ON c.key = a.key",
        "works": """
            SELECT w.work_id, w.source, w.title, w.kind, w.metadata, w.text,
                   c.status AS consent_status, c.summary AS consent_summary,
                   (SELECT list(struct_pack(char_start := q.char_start, char_end := q.char_end,
                                            start_s := q.start_s, end_s := q.end_s) ORDER BY q.char_start)
                    FROM cues q WHERE q.work_id = w.work_id) AS cues,
                   (SELECT list(a.token_pos ORDER BY a.token_pos) FROM anchors a
                    SEMI JOIN common_anchors k ON k.key = a.key WHERE a.work_id = w.work_id) AS common_positions
            FROM works w LEFT JOIN consent c USING (work_id)
        """,
    }
    with IndexStore.open(index_path, read_only=True) as store:
        for name, sql in queries.items():
            target = str(out / f"{name}.parquet").replace("'", "''")
            store.con.execute(f"COPY ({sql}) TO '{target}' (FORMAT parquet)")
        params = store.params
        digest = store.state().digest
    (out / "params.json").write_text(params.to_json() + "\n", encoding="utf-8")
    size = {name: (out / f"{name}.parquet").stat().st_size for name in queries}
    where = (url or str(out)).rstrip("/")
    return IndexExport(str(out), where, params, size["bands"] + size["anchors"], size["works"], digest)


# -- per-batch work on the executors ----------------------------------------------------------------


def fingerprinter(params_json: str, check: str) -> Fingerprinter:
    """The index's fingerprinter on an executor, refused if this machine fingerprints differently.

    ``check`` is ``Fingerprinter.check_value()`` as the driver computed it (and checked it against
    the index): an executor with another tokenizer or library version would silently miss matches.
    """
    fp = Fingerprinter(IndexParams.from_json(params_json))
    if fp.check_value() != check:
        raise IndexParametersError(
            f"executor {socket.gethostname()}",
            "fingerprints computed here differ from the driver's (another provenance, numpy or Python version); "
            "install the same versions on the cluster",
        )
    return fp


class _RecordRows:
    """Rows of ``RECORD_SCHEMA`` for one batch: records numbered uniquely within the shard's job."""

    def __init__(self) -> None:
        from pyspark import TaskContext  # noqa: PLC0415 - pyspark is an optional extra, present on executors

        context = TaskContext.get()
        # The record's place in its task, above the task's partition: the same on both reads of the shard.
        self.next = (context.partitionId() if context is not None else 0) << 40
        self.rows: list[dict[str, Any]] = []
        self.text = 0

    def add(self, item: ScanItem | InputFailure) -> None:
        """A record to audit, or a failure (the one that ends the shard marked as such)."""
        self.next += 1
        if isinstance(item, ScanItem):
            row = {"entry": RECORD, "scanned": item.scanned, "record_id": item.record_id, "text": item.text}
            self.text += len(item.text)
        else:
            entry = FATAL if isinstance(item, ShardFailure) else FAILURE
            row = {"entry": entry, "location": item.source, "reason": item.reason}
        row["record"] = self.next
        self.rows.append(row)

    def full(self) -> bool:
        """Whether the batch should be sent on."""
        return len(self.rows) >= _BATCH_ROWS or self.text >= _BATCH_TEXT

    def counts(self, progress: ReadProgress) -> None:
        """The task's counters, as one row."""
        self.rows.append(
            {
                "entry": COUNTS,
                "records": progress.records,
                "empty": progress.empty,
                "text_bytes": progress.text_bytes,
                "failures": progress.failures,
            }
        )

    def take(self) -> pa.RecordBatch:
        """The rows so far as a batch; the builder starts anew."""
        batch = pa.RecordBatch.from_pylist(self.rows, schema=_ARROW_RECORD_SCHEMA)
        self.rows, self.text = [], 0
        return batch


def _read_records(
    items: Iterable[ScanItem | InputFailure], rest: Iterator[pa.RecordBatch], progress: ReadProgress
) -> Iterator[pa.RecordBatch]:
    """Record rows of a task's items, then its counters; input left after a shard failure is drained."""
    rows = _RecordRows()
    for item in items:
        rows.add(item)
        if rows.full():
            yield rows.take()
    for _ in rest:  # a shard failure stops reading: the worker still takes the rest of its input
        pass
    rows.counts(progress)
    yield rows.take()


def line_records(batches: Iterable[pa.RecordBatch], shard_json: str, options_json: str) -> Iterator[pa.RecordBatch]:
    """``(block_start, line, size, quotes)`` batches of a whole JSON Lines or CSV shard -> ``RECORD_SCHEMA``.

    ``line`` is a physical line without its newline and ``size`` its bytes with it; a line over the
    record limit comes as ``None`` with its size and count of ``"``. Lines are numbered here, so the
    shard must be read by one task from its start (``block_start`` 0).
    """
    shard = Shard(**json.loads(shard_json))
    options = DatasetOptions(**json.loads(options_json))
    progress = ReadProgress()
    source = iter(batches)

    def lines() -> Iterator[Line]:
        number = 0
        for batch in source:
            if any(start != 0 for start in batch.column("block_start").to_pylist()):
                raise RuntimeError(f"{shard.path} was split between tasks: its lines cannot be numbered")
            data = batch.column("line").to_pylist()
            for line, size, quotes in zip(
                data, batch.column("size").to_pylist(), batch.column("quotes").to_pylist(), strict=True
            ):
                number += 1
                yield Line(number, None if line is None else line + b"\n", int(size), int(quotes))

    yield from _read_records(read_lines(shard, lines(), options, progress), source, progress)


def column_records(batches: Iterable[pa.RecordBatch], shard_json: str, options_json: str) -> Iterator[pa.RecordBatch]:
    """``(row, text, size[, id])`` batches of a Parquet shard -> ``RECORD_SCHEMA``.

    ``text`` is ``None`` when over the record limit (``size`` says by how much), so it never reaches Python.
    """
    shard = Shard(**json.loads(shard_json))
    options = DatasetOptions(**json.loads(options_json))
    progress = ReadProgress()
    source = iter(batches)

    def columns() -> Iterator[tuple[list[int], list[Any], list[int | None], list[Any] | None]]:
        for batch in source:
            ids = batch.column("id").to_pylist() if options.id_field is not None else None
            rows = batch.column("row").to_pylist()
            yield rows, batch.column("text").to_pylist(), batch.column("size").to_pylist(), ids

    yield from _read_records(read_columns(shard, columns(), options, progress), source, progress)


def probe_batches(
    batches: Iterable[pa.RecordBatch], params_json: str, check: str, stride: int
) -> Iterator[pa.RecordBatch]:
    """``(record, text)`` batches -> ``(record, kind, key)``: each record's distinct band keys and anchors."""
    fp = fingerprinter(params_json, check)
    for batch in batches:
        records: list[np.ndarray[Any, Any]] = []
        kinds: list[np.ndarray[Any, Any]] = []
        keys: list[np.ndarray[Any, Any]] = []
        for record, text in zip(batch.column("record").to_pylist(), batch.column("text").to_pylist(), strict=True):
            windows = fp.passages(fp.tokenize(text), stride=stride)
            bands = np.unique(windows.keys.reshape(-1))
            anchors = np.unique(windows.anchor_keys)
            records.append(np.full(bands.size + anchors.size, record, np.int64))
            kinds.append(np.concatenate([np.full(bands.size, BAND, np.int8), np.full(anchors.size, ANCHOR, np.int8)]))
            keys.append(np.concatenate([bands, anchors]))
        yield pa.RecordBatch.from_arrays(
            [
                pa.array(np.concatenate(records) if records else np.zeros(0, np.int64)),
                pa.array(np.concatenate(kinds) if kinds else np.zeros(0, np.int8)),
                pa.array(np.concatenate(keys) if keys else np.zeros(0, np.int64)),
            ],
            schema=_ARROW_PROBE_SCHEMA,
        )


@dataclass(frozen=True)
class _Identity:
    work_id: int
    source: str
    title: str
    kind: str
    metadata: dict[str, MetaValue]


def _work_side(fp: Fingerprinter, row: dict[str, Any]) -> WorkSide:
    """A ``WorkSide`` from a row of the exported works table."""
    identity = _Identity(int(row["work_id"]), row["source"], row["title"], row["kind"], json.loads(row["metadata"]))
    cues = [
        (int(c["char_start"]), int(c["char_end"]), float(c["start_s"]), float(c["end_s"])) for c in row["cues"] or []
    ]
    status = row["consent_status"]
    consent = None if status is None else (str(status), str(row["consent_summary"]))
    common = [int(p) for p in row["common_positions"] or []]
    return WorkSide.build(fp, identity, row["work_text"], cues=cues, consent=consent, common_positions=common)


def verify_batches(
    batches: Iterable[pa.RecordBatch], params_json: str, check: str, options_json: str
) -> Iterator[pa.RecordBatch]:
    """Record rows with a candidate work and its ranges -> result rows (``RESULT_SCHEMA``): the matches.

    Failure and counter rows pass through. Rows of one record should be adjacent (a broadcast join
    keeps them so): its windows are computed once.
    """
    params = IndexParams.from_json(params_json)
    options = AuditOptions(**json.loads(options_json))
    fp = fingerprinter(params_json, check)
    works: OrderedDict[int, WorkSide] = OrderedDict()
    last: tuple[int, ScanItem, Any] | None = None
    for batch in batches:
        rows: list[dict[str, Any]] = []
        for row in batch.to_pylist():
            if row["entry"] != RECORD:
                rows.append({name: row[name] for name in ("entry", *(f for f, _ in _REPORT_FIELDS))})
                continue
            if last is None or last[0] != row["record"]:
                item = ScanItem(
                    text=row["text"],
                    scanned=row["scanned"],
                    sha256=sha256_hex(row["text"].encode("utf-8")),
                    record_id=row["record_id"],
                )
                last = (row["record"], item, fp.passages(fp.tokenize(item.text), stride=options.scan_stride))
            work = works.get(int(row["work_id"]))
            if work is None:
                work = works[int(row["work_id"])] = _work_side(fp, row)
                if len(works) > _CACHE_WORKS:
                    works.popitem(last=False)
            else:
                works.move_to_end(work.work_id)
            ranges = [(int(r[0]), int(r[1])) for r in row["ranges"]]
            found = verify(last[1], last[2], work, ranges, options, params)
            rows.extend({"entry": MATCH, **match_row(m)} for m in found)
        yield pa.RecordBatch.from_pylist(rows, schema=_ARROW_RESULT_SCHEMA)


def match_row(m: Match) -> dict[str, Any]:
    """A match as a row of ``MATCH_SCHEMA``: ``Match.to_dict()``'s fields, unrounded, every one present."""
    return {
        "work_id": m.work_id,
        "source": m.source,
        "title": m.title,
        "kind": m.kind,
        "scanned": m.scanned,
        "record_id": m.record_id,
        "score": m.score,
        "similarity": m.score,
        "estimated_similarity": m.estimated_similarity,
        "containment": m.containment,
        "verbatim_words": m.verbatim_words,
        "matched_words": m.matched_words,
        "evidence_words": m.evidence_words,
        "scanned_span": list(m.scanned_span),
        "work_span": list(m.work_span),
        "scanned_excerpt": m.scanned_excerpt,
        "work_excerpt": m.work_excerpt,
        "link": m.link,
        "consent_status": m.consent_status,
        "consent_summary": m.consent_summary,
        "work_time": None if m.work_time is None else list(m.work_time),
        "work_time_label": None if m.work_time is None else format_time_range(*m.work_time),
    }


# -- results ----------------------------------------------------------------------------------------

OutcomeStatus = Literal["done", "failed", "skipped"]


@dataclass(frozen=True)
class ShardOutcome:
    """What a Spark scan did with one shard. ``skipped``: done by an earlier run with the same settings.

    ``shard.path`` is the name its records carry. When ``written``, the results are in ``folder``:
    ``matches.parquet``, ``failures.parquet`` (``location, reason``) and the ``done`` marker; a shard
    that failed before (unreadable, no such column) has only its ``error``. ``failures`` counts the
    shard's bad records and the error.
    """

    shard: Shard
    folder: str
    status: OutcomeStatus
    written: bool = False
    records: int = 0
    failures: int = 0
    empty: int = 0
    text_bytes: int = 0
    matches: int = 0
    seconds: float = 0.0
    error: str | None = None

    @property
    def matches_path(self) -> str:
        """The shard's matches (a folder of Parquet part files, ``MATCH_SCHEMA``)."""
        return f"{self.folder}/matches.parquet"

    @property
    def failures_path(self) -> str:
        """The shard's bad records (a folder of Parquet part files: ``location, reason``)."""
        return f"{self.folder}/failures.parquet"


@dataclass(frozen=True)
class SparkScan:
    """A Spark scan: every shard's outcome in order, the sources that named no readable shard, and where results are."""

    out: str
    shards: tuple[ShardOutcome, ...]
    unreadable: tuple[InputFailure, ...]
    seconds: float

    @property
    def complete(self) -> bool:
        """Whether every shard is done (in this run or an earlier one)."""
        return all(s.status != "failed" for s in self.shards)


def read_matches(source: SparkScan | ShardOutcome | str | Path) -> list[Match]:
    """The matches a Spark scan wrote (every written shard's, or one Parquet file or folder), in record order."""
    if isinstance(source, SparkScan):
        return sorted((m for s in source.shards for m in read_matches(s)), key=_match_order)
    if isinstance(source, ShardOutcome):
        return read_matches(source.matches_path) if source.written else []
    rows = pq.read_table(str(source)).to_pylist()
    matches = [
        Match(
            work_id=int(r["work_id"]),
            source=r["source"],
            title=r["title"],
            kind=r["kind"],
            scanned=r["scanned"],
            record_id=r["record_id"],
            score=float(r["score"]),
            estimated_similarity=float(r["estimated_similarity"]),
            containment=float(r["containment"]),
            verbatim_words=int(r["verbatim_words"]),
            matched_words=int(r["matched_words"]),
            evidence_words=int(r["evidence_words"]),
            scanned_span=(int(r["scanned_span"][0]), int(r["scanned_span"][1])),
            work_span=(int(r["work_span"][0]), int(r["work_span"][1])),
            scanned_excerpt=r["scanned_excerpt"],
            work_excerpt=r["work_excerpt"],
            work_time=None if r["work_time"] is None else (float(r["work_time"][0]), float(r["work_time"][1])),
            consent_status=r["consent_status"],
            consent_summary=r["consent_summary"],
            link=r["link"],
        )
        for r in rows
    ]
    matches.sort(key=_match_order)
    return matches


def _match_order(m: Match) -> tuple[str, int, int]:
    return (m.scanned, m.scanned_span[0], m.work_id)


def read_failures(source: SparkScan | ShardOutcome | str | Path, limit: int | None = None) -> list[InputFailure]:
    """The bad records a Spark scan reported (every shard's, or one Parquet file or folder), at most ``limit`` each."""
    if isinstance(source, SparkScan):
        return [f for s in source.shards for f in read_failures(s, limit)]
    if isinstance(source, ShardOutcome):
        if source.written:
            return read_failures(source.failures_path, limit)
        return [InputFailure(source.shard.path, source.error)] if source.error else []
    table = pq.read_table(str(source))
    if limit is not None:
        table = table.slice(0, limit)
    return [InputFailure(r["location"], r["reason"]) for r in table.to_pylist()]


def store_scan(
    index: str | Path,
    sources: Sequence[str],
    scan: SparkScan,
    *,
    dataset: DatasetOptions | None = None,
    audit: AuditOptions | None = None,
    on_shard: Callable[[ShardReport], None] | None = None,
) -> ScanSummary:
    """Store a Spark scan's results in the index as one scan (``import_matches``) and sum up this run.

    Every shard is stored, those done by earlier runs too; ``on_shard`` hears this run's shards with
    their matches and failures, and the others as ``skipped``, like a local scan's.
    """
    results: list[tuple[Shard, ShardReport]] = []
    for outcome in scan.shards:
        report = ShardReport(
            shard=outcome.shard.path,
            status="failed" if outcome.status == "failed" else "done",
            records=outcome.records,
            failures=tuple(read_failures(outcome, MAX_FAILURES_KEPT)),
            failure_count=outcome.failures,
            empty=outcome.empty,
            matches=tuple(read_matches(outcome)),
            text_bytes=outcome.text_bytes,
            seconds=outcome.seconds,
            error=outcome.error,
        )
        results.append((outcome.shard, report))
    scan_id = import_matches(index, sources, results, dataset=dataset, audit=audit, engine="spark")
    if on_shard is not None:
        for outcome, (_, report) in zip(scan.shards, results, strict=True):
            on_shard(report if outcome.status != "skipped" else ShardReport(outcome.shard.path, "skipped"))
    ran = [s for s in scan.shards if s.status != "skipped"]
    return ScanSummary(
        scan_id=scan_id,
        shards=len(scan.shards),
        skipped=len(scan.shards) - len(ran),
        done=sum(s.status == "done" for s in ran),
        failed=sum(s.status == "failed" for s in ran),
        records=sum(s.records for s in ran),
        failures=sum(s.failures for s in ran),
        matches=sum(s.matches for s in ran),
        text_bytes=sum(s.text_bytes for s in ran),
        seconds=scan.seconds,
        unreadable=scan.unreadable,
        complete=scan.complete,
    )


# -- the scan on the driver -------------------------------------------------------------------------


def scan_with_spark(
    index_path: str | Path,
    datasets: str | Sequence[str],
    *,
    out_dir: str | Path,
    dataset: DatasetOptions | None = None,
    options: AuditOptions | None = None,
    master: str = "local[*]",
    staging: str | Path | None = None,
    staging_url: str | None = None,
    restart: bool = False,
    shards_at_once: int | None = None,
    on_shard: Callable[[ShardOutcome], None] | None = None,
) -> SparkScan:
    """Scan datasets on Spark, resuming an earlier run into the same ``out_dir``; returns every shard's outcome.

    ``datasets`` are files, folders or globs (found by the local engine's rules) or URLs Spark lists
    (``s3://bucket/data/``; Parquet, JSON Lines, CSV and TSV files, the line formats plain, ``.gz`` or
    ``.zst``). Each shard's results go to ``OUT_DIR/shards/KEY/`` (``OUT_DIR`` may be any URL Spark
    writes); a shard whose marker says it was done with the same settings is skipped, unless ``restart``.
    The index is exported to the local folder ``staging`` (default ``OUT_DIR/index``), which the
    executors read as ``staging_url`` (default: the same path; on a cluster, shared storage as the
    cluster names it, see ``IndexExport``). ``shards_at_once`` bounds the shards in flight (default:
    the cluster's cores, fewer for a large index). Runs in the active Spark session if there is one
    (spark-submit, Databricks), else in a new one on ``master``, stopped at the end.
    """
    from pyspark.sql import SparkSession  # noqa: PLC0415 - pyspark is an optional extra

    started = time.perf_counter()
    sources = [datasets] if isinstance(datasets, str) else list(datasets)
    reading = dataset or DatasetOptions()
    audit = options or AuditOptions()
    out = str(out_dir).rstrip("/")
    if staging is None and _is_url(out):
        raise ValueError(f"out_dir {out} is a URL: give staging (a local folder) and staging_url (how Spark reads it)")
    export = export_index(index_path, staging if staging is not None else Path(out) / "index", url=staging_url)
    active = SparkSession.getActiveSession()
    spark = active or _session(master)
    try:
        job = _Job(spark, export, reading, audit, out)
        shards, unreadable = _find_shards(spark, sources, reading)
        markers = {} if restart else _markers(spark, out)
        outcomes: dict[str, ShardOutcome] = {}
        todo: list[tuple[Shard, bool]] = []
        for shard in shards:
            marker = markers.get(shard.path)
            if marker is not None and job.finished(shard, marker):
                outcomes[shard.path] = job.skipped(shard, marker)
                if on_shard is not None:
                    on_shard(outcomes[shard.path])
            else:
                todo.append((shard, marker is not None))
        at_once = shards_at_once or _shards_at_once(spark, export)
        for outcome in _run(job, todo, at_once):
            outcomes[outcome.shard.path] = outcome
            if on_shard is not None:
                on_shard(outcome)
    finally:
        if active is None:  # a session we were handed (spark-submit, Databricks) is not ours to stop
            spark.stop()
    return SparkScan(out, tuple(outcomes[s.path] for s in shards), tuple(unreadable), time.perf_counter() - started)


def _session(master: str) -> SparkSession:
    """A session whose Python workers run this interpreter (and so our packages)."""
    from pyspark.sql import SparkSession  # noqa: PLC0415 - pyspark is an optional extra

    if master.startswith("local"):
        os.environ["PYSPARK_PYTHON"] = sys.executable
    else:  # a cluster's workers have their own Python, set by its configuration
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(master)
        .appName("provenance-scan")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.showConsoleProgress", "false")
    )
    if master.startswith("local"):
        builder = builder.config("spark.sql.shuffle.partitions", "4").config("spark.ui.enabled", "false")
    return builder.getOrCreate()


def _shards_at_once(spark: SparkSession, export: IndexExport) -> int:
    """Shards in flight: one per core (a ``.gz`` shard is one task), fewer if index copies would pass the budget."""
    copies = BROADCAST_BUDGET // max(1, export.lookup_bytes + export.works_bytes)
    return max(1, min(int(spark.sparkContext.defaultParallelism), copies))


def _run(job: _Job, todo: list[tuple[Shard, bool]], at_once: int) -> Iterator[ShardOutcome]:
    """Shards scanned by ``at_once`` threads (Spark runs their jobs side by side), outcomes as they finish."""
    if not todo:
        return
    context = job.spark.sparkContext
    tag = f"provenance-scan-{secrets.token_hex(4)}"

    def scan(shard: Shard, stale: bool) -> ShardOutcome:
        context.addJobTag(tag)
        try:
            return job.scan(shard, stale=stale)
        finally:
            context.removeJobTag(tag)

    with ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="provenance-spark") as pool:
        futures = [pool.submit(scan, shard, stale) for shard, stale in todo]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:  # interrupted: nothing more starts, and what runs is cancelled
            for future in futures:
                future.cancel()
            context.cancelJobsWithTag(tag)
            raise


class _Job:
    """What every shard's plan shares: the sessions, the exported index and the options; ``scan`` does one shard."""

    def __init__(
        self, spark: SparkSession, export: IndexExport, dataset: DatasetOptions, audit: AuditOptions, out: str
    ) -> None:
        self.spark = spark
        # Line formats are numbered as they are read, so each file must be one task: a session of our
        # own (sharing the cluster) where Spark does not split files.
        self.whole_files = spark.newSession()
        self.whole_files.conf.set("spark.sql.files.maxPartitionBytes", str(1 << 62))
        self.whole_files.conf.set("spark.sql.files.minPartitionNum", "1")
        self.export = export
        self.dataset = dataset
        self.audit = audit
        self.out = out
        self.params_json = export.params.to_json()
        self.check = Fingerprinter(export.params).check_value()
        self.settings = _settings(export, self.check, dataset, audit)
        self.dataset_json = json.dumps(asdict(dataset))

    def folder(self, shard: Shard) -> str:
        """Where a shard's results go: ``OUT/shards/KEY``, the key a digest of its name, then the file name."""
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", shard.path.rstrip("/").rsplit("/", 1)[-1])[:80]
        return f"{self.out}/shards/{hashlib.sha256(shard.path.encode('utf-8')).hexdigest()[:16]}-{name}"

    def finished(self, shard: Shard, marker: dict[str, Any]) -> bool:
        """Whether a marker says the shard, unchanged since, was done with the same settings."""
        return (
            marker["status"] == "done"
            and marker["settings"] == self.settings
            and (marker["size"], marker["mtime_ns"]) == (shard.size, shard.mtime_ns)
        )

    def skipped(self, shard: Shard, marker: dict[str, Any]) -> ShardOutcome:
        """The outcome of a shard done by an earlier run, as its marker tells it."""
        count = {k: int(marker[k] or 0) for k in ("records", "failures", "empty", "text_bytes", "matches")}
        return ShardOutcome(
            shard,
            self.folder(shard),
            "skipped",
            written=True,
            records=count["records"],
            failures=count["failures"],
            empty=count["empty"],
            text_bytes=count["text_bytes"],
            matches=count["matches"],
        )

    def scan(self, shard: Shard, *, stale: bool) -> ShardOutcome:
        """Scan one shard and write its results, then its marker; an error is the shard's failure."""
        started = time.perf_counter()
        folder = self.folder(shard)
        try:
            if stale:  # an earlier marker must not vouch for results this run is about to replace
                self._mark(ShardOutcome(shard, folder, "failed", error="scan in progress"))
            records = self._records(shard)
            if isinstance(records, str):
                return ShardOutcome(shard, folder, "failed", failures=1, error=records, seconds=_since(started))
            totals = self._write(records, folder)
        except Exception as exc:  # noqa: BLE001 - one shard's failure must not end the scan; it is reported
            error = _failure(exc, shard)
            return ShardOutcome(shard, folder, "failed", failures=1, error=error, seconds=_since(started))
        outcome = ShardOutcome(
            shard,
            folder,
            "failed" if totals["error"] else "done",
            written=True,
            records=int(totals["records"] or 0),
            failures=int(totals["failures"] or 0),
            empty=int(totals["empty"] or 0),
            text_bytes=int(totals["text_bytes"] or 0),
            matches=int(totals["matches"] or 0),
            seconds=_since(started),
            error=totals["error"],
        )
        self._mark(outcome)
        return outcome

    def _records(self, shard: Shard) -> DataFrame | str:
        """The shard's record rows (``RECORD_SCHEMA``), or why it cannot be read at all."""
        from pyspark.sql import functions as F  # noqa: N812, PLC0415 - the usual alias; pyspark is optional

        limit = self.dataset.max_record_bytes
        shard_json = json.dumps(asdict(shard))
        if shard.format == "arrow":
            return "Arrow IPC files are read by the local engine only: convert to Parquet, or scan with --engine local"
        if shard.format != "parquet":
            value = F.col("value")
            size = F.octet_length(value) + F.lit(1)  # with its "\n"
            over = size > F.lit(limit)
            quotes = F.octet_length(value) - F.octet_length(F.regexp_replace(value, '"', ""))
            lines = (
                self.whole_files.read.option("lineSep", "\n")
                .text(_spark_path(shard.path))
                .select(
                    F.col("_metadata.file_block_start").alias("block_start"),
                    F.when(over, F.lit(None)).otherwise(value.cast("binary")).alias("line"),
                    size.cast("long").alias("size"),
                    F.when(over, quotes).otherwise(F.lit(0)).cast("long").alias("quotes"),
                )
            )
            return lines.mapInArrow(
                partial(line_records, shard_json=shard_json, options_json=self.dataset_json), RECORD_SCHEMA
            )
        frame = self.spark.read.parquet(_spark_path(shard.path))
        problem = _parquet_problem(frame.schema, self.dataset)
        if problem:
            return problem
        text = F.col(_quoted(self.dataset.field))
        size = F.octet_length(text)
        columns = [
            F.col("_metadata.row_index").alias("row"),
            F.when(size > F.lit(limit), F.lit(None)).otherwise(text).alias("text"),
            size.cast("long").alias("size"),
        ]
        if self.dataset.id_field is not None:
            columns.append(F.col(_quoted(self.dataset.id_field)).alias("id"))
        return frame.select(*columns).mapInArrow(
            partial(column_records, shard_json=shard_json, options_json=self.dataset_json), RECORD_SCHEMA
        )

    def _lookup(self, session: SparkSession) -> DataFrame:
        """Band keys and uncommon anchors in one table: ``kind, key, work_id, start, end`` (token range)."""
        from pyspark.sql import functions as F  # noqa: N812, PLC0415 - the usual alias; pyspark is optional

        def table(path: str, kind: int, start: Column, end: Column) -> DataFrame:
            return session.read.parquet(path).select(
                F.lit(kind).cast("tinyint").alias("kind"),
                F.col("key"),
                F.col("work_id"),
                start.cast("long").alias("start"),
                end.cast("long").alias("end"),
            )

        pos = F.col("token_pos")
        lookup = table(self.export.bands, BAND, F.col("token_start"), F.col("token_end")).unionByName(
            table(self.export.anchors, ANCHOR, pos, pos + F.lit(self.export.params.anchor_run))
        )
        return F.broadcast(lookup) if self.export.lookup_bytes <= BROADCAST_BYTES else lookup

    def _write(self, records: DataFrame, folder: str) -> dict[str, Any]:
        """Probe, find candidates, verify; write matches and failures under ``folder``; the shard's totals."""
        from pyspark.sql import functions as F  # noqa: N812, PLC0415 - the usual alias; pyspark is optional

        session = records.sparkSession
        entry = F.col("entry")
        probes = (
            records.where(entry == RECORD)
            .select("record", "text")
            .mapInArrow(
                partial(probe_batches, params_json=self.params_json, check=self.check, stride=self.audit.scan_stride),
                PROBE_SCHEMA,
            )
        )
        candidates = (
            probes.join(self._lookup(session), ["kind", "key"])
            .groupBy("record", "work_id")
            .agg(
                F.collect_set(F.array(F.col("start"), F.col("end"))).alias("ranges"),
                F.count(F.when(F.col("kind") == BAND, 1)).alias("band_hits"),
                F.countDistinct(F.when(F.col("kind") == ANCHOR, F.col("start"))).alias("anchor_hits"),
            )
            # the local engine's rule (audit.is_candidate), as a column expression
            .where((F.col("band_hits") > 0) | (F.col("anchor_hits") >= MIN_ANCHORS))
            .drop("band_hits", "anchor_hits")
            .persist()
        )
        try:
            pairs = F.broadcast(candidates) if candidates.count() <= BROADCAST_CANDIDATES else candidates
            works = session.read.parquet(self.export.works).withColumnRenamed("text", "work_text")
            if self.export.works_bytes <= BROADCAST_BYTES:
                works = F.broadcast(works)
            todo = (
                records.join(pairs, "record", "left")
                .where((entry != RECORD) | F.col("work_id").isNotNull())
                .join(works, "work_id", "left")
            )
            audit_json = json.dumps(asdict(self.audit))
            verified = partial(verify_batches, params_json=self.params_json, check=self.check, options_json=audit_json)
            results = todo.mapInArrow(verified, RESULT_SCHEMA).persist()
            try:
                matches = results.where(entry == MATCH).select(*_ARROW_MATCH_SCHEMA.names)
                matches.write.mode("overwrite").parquet(f"{folder}/matches.parquet")
                failures = results.where(entry.isin(FAILURE, FATAL)).select("location", "reason")
                failures.write.mode("overwrite").parquet(f"{folder}/failures.parquet")
                counted = F.when(entry == COUNTS, F.lit(1))
                totals = results.agg(
                    *(F.sum(counted * F.col(c)).alias(c) for c in ("records", "empty", "text_bytes", "failures")),
                    F.count(F.when(entry == MATCH, 1)).alias("matches"),
                    F.first(F.when(entry == FATAL, F.col("reason")), ignorenulls=True).alias("error"),
                ).first()
            finally:
                results.unpersist()
        finally:
            candidates.unpersist()
        if totals is None:
            raise RuntimeError("an aggregate without groups returned no row")
        return dict(totals.asDict())

    def _mark(self, outcome: ShardOutcome) -> None:
        """Write a shard's marker (``MARKER_SCHEMA``): its outcome, and what its results depend on."""
        shard = outcome.shard
        row = (
            shard.path,
            shard.size,
            shard.mtime_ns,
            self.settings,
            outcome.status,
            outcome.records,
            outcome.failures,
            outcome.empty,
            outcome.text_bytes,
            outcome.matches,
            outcome.seconds,
            outcome.error,
        )
        marker = self.spark.createDataFrame([row], MARKER_SCHEMA).coalesce(1)
        marker.write.mode("overwrite").json(f"{outcome.folder}/done")


def _since(started: float) -> float:
    return time.perf_counter() - started


def _settings(export: IndexExport, check: str, dataset: DatasetOptions, audit: AuditOptions) -> str:
    """What a shard's results depend on besides the shard: a digest, kept in its marker."""
    parts = {
        "marker": MARKER_VERSION,
        "index": export.digest,
        "fingerprints": [export.params.to_json(), check],
        "dataset": {k: v for k, v in asdict(dataset).items() if k not in {"batch_rows", "chunk_bytes"}},
        "audit": {k: v for k, v in asdict(audit).items() if k not in {"lookup", "batch_size"}},
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()


def _markers(spark: SparkSession, out: str) -> dict[str, dict[str, Any]]:
    """The markers of earlier runs under ``out``, by shard name (an unreadable one reads as absent)."""
    from pyspark.errors import AnalysisException  # noqa: PLC0415 - pyspark is an optional extra

    if not _any_marker(spark, out):  # no earlier run (asked first: Spark logs a missing path as an error)
        return {}
    try:
        markers = spark.read.schema(MARKER_SCHEMA).option("ignoreCorruptFiles", "true")  # damaged: not done
        rows = markers.json(f"{_spark_path(out)}/shards/*/done").collect()
    except AnalysisException:  # gone meanwhile
        return {}
    return {str(r["shard"]): r.asDict() for r in rows if r["shard"] is not None}


def _any_marker(spark: SparkSession, out: str) -> bool:
    """Whether ``out`` holds any shard marker: on this machine, or as Hadoop sees a URL."""
    if not _is_url(out):
        return any(Path(out).glob("shards/*/done"))
    context = spark.sparkContext
    jvm = context._jvm  # noqa: SLF001 - Hadoop's FileSystem has no public Python API
    if jvm is None:  # not a classic session: let the read find out
        return True
    pattern = jvm.org.apache.hadoop.fs.Path(f"{_spark_path(out)}/shards/*/done")
    found = pattern.getFileSystem(context._jsc.hadoopConfiguration()).globStatus(pattern)  # noqa: SLF001 - same
    return found is not None and len(found) > 0


def _find_shards(
    spark: SparkSession, sources: Sequence[str], options: DatasetOptions
) -> tuple[list[Shard], list[InputFailure]]:
    """Shards named by ``sources``, each once: local ones by the local engine's rules, URLs as Spark lists them."""
    shards: dict[str, Shard] = {}
    failures: list[InputFailure] = []
    for source in sources:
        found = _listed(spark, source, options) if _is_url(source) else find_shards([source], options)
        for item in found:
            if isinstance(item, Shard):
                shards.setdefault(item.path, item)
            else:
                failures.append(item)
    return list(shards.values()), failures


def _listed(spark: SparkSession, source: str, options: DatasetOptions) -> Iterator[Shard | InputFailure]:
    """The dataset files Spark lists under a URL (a file, a folder walked recursively, or a glob)."""
    from pyspark.errors import AnalysisException  # noqa: PLC0415 - pyspark is an optional extra
    from pyspark.sql import functions as F  # noqa: N812, PLC0415 - the usual alias; pyspark is optional

    try:
        listing = (
            spark.read.format("binaryFile")  # the content column is never read
            .option("recursiveFileLookup", "true")
            .load(source)
            .select("path", "length", F.unix_micros("modificationTime").alias("micros"))
            .collect()
        )
    except AnalysisException as exc:
        yield InputFailure(source, f"Spark cannot list it: {_reason(exc)}")
        return
    found = False
    for row in sorted(listing, key=lambda r: str(r["path"])):
        shard = listed_shard(_local_name(str(row["path"])), int(row["length"]), int(row["micros"]) * 1000, options)
        if shard is not None:
            found = True
            yield shard
    if not found:
        yield InputFailure(source, "no dataset files here (.parquet, .jsonl, .json, .csv, .tsv)")


def _is_url(source: str) -> bool:
    """Whether Spark, not this machine, lists the files: ``s3://``, ``dbfs:/``, ``file:/`` (not a drive, ``C:/``)."""
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]+:/", source) is not None


def _local_name(path: str) -> str:
    """A listed file's name in results: local files as the local engine names them (a plain path), others as listed."""
    if path.startswith("file:"):
        return "/" + path[len("file:") :].lstrip("/")
    return path


def _spark_path(name: str) -> str:
    """A file name as a Spark path that names only it (glob characters escaped)."""
    return re.sub(r"([\[\]{}*?\\])", r"\\\1", name)


def _quoted(column: str) -> str:
    """A column name Spark takes as is (dots and spaces included)."""
    return "`" + column.replace("`", "``") + "`"


def _parquet_problem(schema: Any, options: DatasetOptions) -> str | None:  # noqa: ANN401 - pyspark's StructType
    """Why a Parquet shard's schema cannot give texts (as the local engine words it), or ``None``."""
    from pyspark.sql.types import BinaryType, StringType  # noqa: PLC0415 - pyspark is an optional extra

    names = list(schema.names)
    shown = ", ".join(names[:20])
    if options.field not in names:
        return f"no column {options.field!r} (columns: {shown}); check --field"
    kind = schema[options.field].dataType
    if not isinstance(kind, (StringType, BinaryType)):
        return f"column {options.field!r} holds {kind.simpleString()}, not text"
    if options.id_field is not None and options.id_field not in names:
        return f"no column {options.id_field!r} (columns: {shown}); check --id-field"
    return None


def _reason(exc: BaseException) -> str:
    """The root cause of a Spark error in one line: the last ``Caused by``, a Python error's last line, or the first."""
    text = str(exc)
    causes = re.findall(r"^Caused by: [\w.$]+: (.+)$", text, re.MULTILINE)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[\w.]*(Error|Exception): ", line)]
    reason = causes[-1] if causes else errors[-1] if errors else lines[0] if lines else type(exc).__name__
    return reason.strip()[:500]


def _failure(exc: BaseException, shard: Shard) -> str:
    """A shard's failure as the local engine words it, with what to do about a codec Spark lacks."""
    text = str(exc)
    reason = _reason(exc)
    failed = f"cannot read on: {reason}" if "FAILED_READ_FILE" in text else f"failed on Spark: {reason}"
    if shard.compression == "zstd" and re.search(r"zstd|zstandard|codec", text, re.IGNORECASE):
        failed += f"; if this cluster's Hadoop cannot read zstd, convert the file: zstd -dc {shard.path} | gzip"
    return failed
