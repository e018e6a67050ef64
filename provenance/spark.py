"""Dataset scans on Apache Spark: the local engine's readers, fingerprints, candidates and verification, distributed.

Shards (dataset files) are scanned in groups, a few Spark jobs per group and several groups at once:
a job has a fixed cost and broadcasts the index, so small shards share one, while a large shard is a
group of its own. Each attempt at a group writes a new folder ``OUT/groups/ID/``: its results
partitioned by shard, then one marker per shard, last. A rerun skips the shards whose newest marker
says they were done with the same settings, and scans the rest again into a new folder (results are
never rewritten in place, so a killed run leaves the earlier ones intact); folders no marker refers
to are removed. The stages of a group (the per-batch work is pure ``RecordBatch -> RecordBatch``
functions over provenance's own code, run by ``mapInArrow`` on the executors):

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
6. **write**: ``matches.parquet`` (``MATCH_SCHEMA``) and ``failures.parquet`` (``location, reason``),
   partitioned by ``shard_key``, then the markers ``done/shard_key=KEY/`` (``MARKER_SCHEMA``: counts,
   and what results depend on: the shard's size and time, the reading and audit options, the index
   and the fingerprint code). A group whose job fails is scanned again without the shard Spark names
   (or shard by shard), so an unreadable file fails alone.

Spark's JSON and CSV readers are not used: the JSON reader drops blank lines and expands top-level
arrays into rows (so row numbers drift from the file's), turns numbers and objects into strings under
a string schema (so a non-text value would be audited as its JSON), and neither says which line a
row came from.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import sys
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from functools import partial, reduce
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from connectors import sha256_hex
from indexes import Fingerprinter, IndexParametersError, IndexParams, IndexStore
from provenance.audit import MIN_ANCHORS, WorkSide, verify
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
from provenance.match import Match, WorkRights, arrow_schema, from_row
from provenance.options import AuditOptions

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
# Each group of shards in flight broadcasts its own copy of the index tables: groups at once are
# limited so that the copies stay under this many bytes (as stored; a few times more in memory).
BROADCAST_BUDGET = 4 << 30
# Shards are scanned in groups, one set of Spark jobs each (a job has a fixed cost, and broadcasts
# the index): a group gathers shards until it holds this many bytes as stored, or this many times
# the index's, or this many shards.
GROUP_BYTES = 512 << 20
GROUP_INDEX_COPIES = 8
GROUP_SHARDS = 256
# Works whose fingerprints a verifying task keeps.
_CACHE_WORKS = 64
# Rows and text bytes of one batch of record rows sent back to Spark.
_BATCH_ROWS = 1024
_BATCH_TEXT = 32 << 20
# Changes when markers written by earlier versions must not be trusted.
MARKER_VERSION = 2  # 2: match rows are provenance.match's flat rows

# A match row is the flat row of ``provenance.match`` (its one field table).
_MATCH_FIELDS = [(f.name, f.type) for f in arrow_schema()]
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
# Records of a group of shards are told apart by their shard's key (``SparkShard.key``).
_ARROW_PROBE_SCHEMA = pa.schema(
    [("shard_key", pa.string()), ("record", pa.int64()), ("kind", pa.int8()), ("key", pa.int64())]
)
_ARROW_RESULT_SCHEMA = pa.schema([("shard_key", pa.string()), ("entry", pa.int8()), *_MATCH_FIELDS, *_REPORT_FIELDS])
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
        ("group", pa.string()),  # the attempt whose folder holds the results; a later one supersedes it
    ]
)


def _ddl(schema: pa.Schema) -> str:
    """A Spark DDL schema string for an Arrow schema of the types used here."""
    names = {
        pa.int8(): "tinyint",
        pa.int32(): "int",
        pa.int64(): "bigint",
        pa.float64(): "double",
        pa.string(): "string",
    }

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
    queries = {
        "bands": "SELECT b.key, p.work_id, p.token_start, p.token_end FROM bands b JOIN passages p USING (passage_id)",
        "anchors": "SELECT a.key, a.work_id, a.token_pos FROM anchors a ANTI JOIN common_anchors c ON c.key = a.key",
        "works": """
            SELECT w.work_id, w.source, w.title, w.kind, w.metadata, w.text, w.creator, w.rights_holder, w.org_id,
                   w.licence, w.consent_declared, w.consent_declared_source,
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
        out.mkdir(parents=True, exist_ok=True)  # once the index opened: a wrong path leaves nothing behind
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
    """``(shard_key, record, text)`` batches -> ``PROBE_SCHEMA``: each record's distinct band keys and anchors."""
    fp = fingerprinter(params_json, check)
    for batch in batches:
        counts: list[int] = []
        kinds: list[np.ndarray[Any, Any]] = []
        keys: list[np.ndarray[Any, Any]] = []
        for text in batch.column("text").to_pylist():
            windows = fp.passages(fp.tokenize(text), stride=stride)
            bands = np.unique(windows.keys.reshape(-1))
            anchors = np.unique(windows.anchor_keys)
            counts.append(bands.size + anchors.size)
            kinds.append(np.concatenate([np.full(bands.size, BAND, np.int8), np.full(anchors.size, ANCHOR, np.int8)]))
            keys.append(np.concatenate([bands, anchors]))
        rows = pa.array(np.repeat(np.arange(len(counts), dtype=np.int64), counts))  # each key's record in the batch
        yield pa.RecordBatch.from_arrays(
            [
                batch.column("shard_key").take(rows),
                batch.column("record").take(rows),
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
    rights = WorkRights(**{name: row[name] for name in _RIGHTS})
    return WorkSide.build(
        fp, identity, row["work_text"], cues=cues, consent=consent, common_positions=common, rights=rights
    )


# What a match says of its work's rights, shipped with the works (``export_index``).
_RIGHTS = ("creator", "rights_holder", "org_id", "licence", "consent_declared", "consent_declared_source")


def verify_batches(
    batches: Iterable[pa.RecordBatch], params_json: str, check: str, options_json: str
) -> Iterator[pa.RecordBatch]:
    """Record rows with a candidate work and its ranges -> result rows (``RESULT_SCHEMA``): the matches.

    Failure and counter rows pass through. Rows of one record should be adjacent (a broadcast join
    keeps them so): its windows are computed once. A record is its ``(shard_key, record)``.
    """
    params = IndexParams.from_json(params_json)
    options = AuditOptions(**json.loads(options_json))
    fp = fingerprinter(params_json, check)
    works: OrderedDict[int, WorkSide] = OrderedDict()
    last: tuple[tuple[str, int], ScanItem, Any] | None = None
    for batch in batches:
        rows: list[dict[str, Any]] = []
        for row in batch.to_pylist():
            if row["entry"] != RECORD:
                rows.append({name: row[name] for name in ("shard_key", "entry", *(f for f, _ in _REPORT_FIELDS))})
                continue
            if last is None or last[0] != (row["shard_key"], row["record"]):
                item = ScanItem(
                    text=row["text"],
                    scanned=row["scanned"],
                    sha256=sha256_hex(row["text"].encode("utf-8")),
                    record_id=row["record_id"],
                )
                windows = fp.passages(fp.tokenize(item.text), stride=options.scan_stride)
                last = ((row["shard_key"], row["record"]), item, windows)
            work = works.get(int(row["work_id"]))
            if work is None:
                work = works[int(row["work_id"])] = _work_side(fp, row)
                if len(works) > _CACHE_WORKS:
                    works.popitem(last=False)
            else:
                works.move_to_end(work.work_id)
            ranges = [(int(r[0]), int(r[1])) for r in row["ranges"]]
            found = verify(last[1], last[2], work, ranges, options, params)
            rows.extend({"shard_key": row["shard_key"], "entry": MATCH, **m.to_row()} for m in found)
        yield pa.RecordBatch.from_pylist(rows, schema=_ARROW_RESULT_SCHEMA)


# -- results ----------------------------------------------------------------------------------------

OutcomeStatus = Literal["done", "failed", "skipped"]


@dataclass(frozen=True)
class SparkShard:
    """What a Spark scan did with one shard. ``skipped``: done by an earlier run with the same settings.

    ``shard.path`` is the name its records carry. Its results are the partition ``shard_key=KEY`` of the
    Parquet folders ``matches.parquet`` and ``failures.parquet`` (``location, reason``) in ``folder``,
    the folder of the attempt that scanned it; ``folder`` is ``None`` for a shard that failed before
    any result was written (unreadable, no such column), which has only its ``error``. ``failures``
    counts its bad records and the error, as a local scan's ``ShardReport.failure_count`` does.
    """

    shard: Shard
    status: OutcomeStatus
    key: str
    folder: str | None = None
    records: int = 0
    failures: int = 0
    empty: int = 0
    text_bytes: int = 0
    matches: int = 0
    seconds: float = 0.0
    error: str | None = None

    @property
    def matches_path(self) -> str | None:
        """The shard's matches (``MATCH_SCHEMA``; no folder when there are none)."""
        return None if self.folder is None else f"{self.folder}/matches.parquet/shard_key={self.key}"

    @property
    def failures_path(self) -> str | None:
        """The shard's bad records (``location, reason``; no folder when there are none)."""
        return None if self.folder is None else f"{self.folder}/failures.parquet/shard_key={self.key}"


@dataclass(frozen=True)
class SparkScan:
    """A Spark scan: every shard's outcome in order, the sources that named no readable shard, and where results are."""

    out: str
    shards: tuple[SparkShard, ...]
    unreadable: tuple[InputFailure, ...]
    seconds: float

    @property
    def complete(self) -> bool:
        """Whether every shard is done (in this run or an earlier one)."""
        return all(s.status != "failed" for s in self.shards)


def read_matches(source: SparkScan | SparkShard | str | Path) -> list[Match]:
    """The matches a Spark scan wrote (every shard's, or one Parquet file or folder), in record order."""
    if isinstance(source, SparkScan):
        return sorted((m for s in source.shards for m in read_matches(s)), key=_match_order)
    if isinstance(source, SparkShard):
        return [] if source.matches_path is None else read_matches(source.matches_path)
    matches = [from_row(r) for r in _read_table(source)]
    matches.sort(key=_match_order)
    return matches


def _match_order(m: Match) -> tuple[str, int, int]:
    return (m.scanned, m.scanned_span[0], m.work_id)


def read_failures(source: SparkScan | SparkShard | str | Path, limit: int | None = None) -> list[InputFailure]:
    """The bad records a Spark scan reported (every shard's, or one Parquet file or folder), at most ``limit`` each."""
    if isinstance(source, SparkScan):
        return [f for s in source.shards for f in read_failures(s, limit)]
    if isinstance(source, SparkShard):
        if source.failures_path is None:
            return [InputFailure(source.shard.path, source.error)] if source.error else []
        return read_failures(source.failures_path, limit)
    rows = _read_table(source)
    return [InputFailure(r["location"], r["reason"]) for r in rows[:limit]]


def _read_table(source: str | Path) -> list[dict[str, Any]]:
    """The rows of a Parquet file or folder (local, or a URL pyarrow reads); a shard's absent partition has none."""
    try:
        return list(pq.read_table(str(source)).to_pylist())
    except FileNotFoundError:  # Spark writes no partition folder for a shard without rows
        return []


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
    groups_at_once: int | None = None,
    on_shard: Callable[[SparkShard], None] | None = None,
    shards: Sequence[Shard] | None = None,
) -> SparkScan:
    """Scan datasets on Spark, resuming an earlier run into the same ``out_dir``; returns every shard's outcome.

    ``datasets`` are files, folders or globs (found by the local engine's rules) or URLs Spark lists
    (``s3://bucket/data/``; Parquet, JSON Lines, CSV and TSV files, the line formats plain, ``.gz`` or
    ``.zst``). Shards are scanned in groups (``_groups``), each group's results written to a new
    folder ``OUT_DIR/groups/ID/`` (``OUT_DIR`` may be any URL Spark writes) and each shard's marker
    last; a shard whose newest marker says it was done with the same settings is skipped, unless
    ``restart``. The index is exported to the local folder ``staging`` (default ``OUT_DIR/index``),
    which the executors read as ``staging_url`` (default: the same path; on a cluster, shared storage
    as the cluster names it, see ``IndexExport``). ``groups_at_once`` bounds the groups in flight
    (default: the cluster's cores, fewer for a large index). Runs in the active Spark session if
    there is one (spark-submit, Databricks), else in a new one on ``master``, stopped at the end.
    One run at a time may use an ``out_dir``: a run removes the folders no marker refers to.
    ``shards``, when given, are the shards to scan (as ``find_spark_shards`` listed them): ``datasets``
    is then not listed again.
    """
    from pyspark.sql import SparkSession  # noqa: PLC0415 - pyspark is an optional extra

    started = time.perf_counter()
    sources = [datasets] if isinstance(datasets, str) else list(datasets)
    reading = dataset or DatasetOptions()
    audit = options or AuditOptions()
    out = str(out_dir).rstrip("/")
    if staging is None and is_url(out):
        raise ValueError(f"out_dir {out} is a URL: give staging (a local folder) and staging_url (how Spark reads it)")
    export = export_index(index_path, staging if staging is not None else Path(out) / "index", url=staging_url)
    active = SparkSession.getActiveSession()
    spark = active or session(master)
    try:
        job = _Job(spark, export, reading, audit, out)
        shards, unreadable = (list(shards), []) if shards is not None else find_spark_shards(spark, sources, reading)
        markers = _markers(spark, out)
        outcomes: dict[str, SparkShard] = {}
        todo: list[Shard] = []
        for shard in shards:
            marker = markers.get(shard.path)
            if not restart and marker is not None and job.finished(shard, marker):
                outcomes[shard.path] = job.skipped(shard, marker)
                if on_shard is not None:
                    on_shard(outcomes[shard.path])
            else:
                todo.append(shard)
        at_once = groups_at_once or _groups_at_once(spark, export)
        for group in _run(job, _groups(todo, _group_bytes(export)), at_once):
            for outcome in group:
                outcomes[outcome.shard.path] = outcome
                if outcome.folder is not None:
                    markers[outcome.shard.path] = {"group": outcome.folder.rsplit("/", 1)[-1]}
                if on_shard is not None:
                    on_shard(outcome)
        _tidy(spark, out, {str(m["group"]) for m in markers.values()})
    finally:
        if active is None:  # a session we were handed (spark-submit, Databricks) is not ours to stop
            spark.stop()
    return SparkScan(out, tuple(outcomes[s.path] for s in shards), tuple(unreadable), time.perf_counter() - started)


def session(master: str) -> SparkSession:
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
        .config("spark.sql.debug.maxToStringFields", "100")  # result rows have 30 fields: no warning per plan
        # The candidates and results are persisted after a shuffle: without this, adaptive execution
        # leaves cached plans at spark.sql.shuffle.partitions (200 on a cluster), a task each per stage.
        .config("spark.sql.optimizer.canChangeCachedPlanOutputPartitioning", "true")
    )
    if master.startswith("local"):
        builder = builder.config("spark.sql.shuffle.partitions", "4").config("spark.ui.enabled", "false")
    return builder.getOrCreate()


def _group_bytes(export: IndexExport) -> int:
    """How many bytes of shards (as stored) a group gathers: enough that broadcasting the index is a small part."""
    return max(GROUP_BYTES, GROUP_INDEX_COPIES * (export.lookup_bytes + export.works_bytes))


def _groups(shards: list[Shard], target: int) -> list[list[Shard]]:
    """Shards in order, in groups of one reader (Parquet, or lines) of ``target`` bytes or ``GROUP_SHARDS`` shards."""
    groups: list[list[Shard]] = []
    size = 0
    for shard in shards:
        lines = shard.format != "parquet"
        if (
            not groups
            or size >= target
            or len(groups[-1]) >= GROUP_SHARDS
            or (groups[-1][0].format != "parquet") != lines
        ):
            groups.append([])
            size = 0
        groups[-1].append(shard)
        size += shard.size
    return groups


def _groups_at_once(spark: SparkSession, export: IndexExport) -> int:
    """Groups in flight: one per core (a ``.gz`` shard is one task), fewer if index copies would pass the budget."""
    copies = BROADCAST_BUDGET // max(1, export.lookup_bytes + export.works_bytes)
    return max(1, min(int(spark.sparkContext.defaultParallelism), copies))


def _run(job: _Job, groups: list[list[Shard]], at_once: int) -> Iterator[list[SparkShard]]:
    """Groups scanned by ``at_once`` threads (Spark runs their jobs side by side), outcomes as groups finish."""
    if not groups:
        return
    context = job.spark.sparkContext
    tag = f"provenance-scan-{secrets.token_hex(4)}"

    def scan(group: list[Shard]) -> list[SparkShard]:
        context.addJobTag(tag)
        try:
            return job.scan(group)
        finally:
            context.removeJobTag(tag)

    with ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="provenance-spark") as pool:
        futures = [pool.submit(scan, group) for group in groups]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:  # interrupted: nothing more starts, and what runs is cancelled
            for future in futures:
                future.cancel()
            context.cancelJobsWithTag(tag)
            raise


class _Job:
    """What every group's plan shares: the sessions, the exported index and the options; ``scan`` does one group."""

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

    @staticmethod
    def key(shard: Shard) -> str:
        """A shard's key in results: a digest of its name, then the file name (readable in folder names)."""
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", shard.path.rstrip("/").rsplit("/", 1)[-1])[:80]
        return f"{hashlib.sha256(shard.path.encode('utf-8')).hexdigest()[:16]}-{name}"

    def finished(self, shard: Shard, marker: dict[str, Any]) -> bool:
        """Whether a marker says the shard, unchanged since, was done with the same settings."""
        return (
            marker["status"] == "done"
            and marker["settings"] == self.settings
            and (marker["size"], marker["mtime_ns"]) == (shard.size, shard.mtime_ns)
        )

    def skipped(self, shard: Shard, marker: dict[str, Any]) -> SparkShard:
        """The outcome of a shard done by an earlier run, as its marker tells it."""
        count = {k: int(marker[k] or 0) for k in ("records", "failures", "empty", "text_bytes", "matches")}
        return SparkShard(
            shard,
            "skipped",
            self.key(shard),
            folder=f"{self.out}/groups/{marker['group']}",
            records=count["records"],
            failures=count["failures"],
            empty=count["empty"],
            text_bytes=count["text_bytes"],
            matches=count["matches"],
        )

    def scan(self, shards: list[Shard]) -> list[SparkShard]:
        """Scan a group of shards into a new folder, then write their markers; a failed group is retried by shard.

        A shard that cannot be read at all fails alone; so does one Spark cannot read to the end, as
        the group is then scanned again one shard at a time.
        """
        from pyspark.sql import functions as F  # noqa: N812, PLC0415 - the usual alias; pyspark is optional

        started = time.perf_counter()
        group = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(3)}"  # sorts by time
        folder = f"{self.out}/groups/{group}"
        outcomes: list[SparkShard] = []
        readable: list[tuple[Shard, DataFrame]] = []
        for shard in shards:
            try:
                records = self._records(shard)
            except Exception as exc:  # noqa: BLE001 - one shard's failure must not end the scan; it is reported
                records = _failure(exc, shard)
            if isinstance(records, str):
                outcomes.append(SparkShard(shard, "failed", self.key(shard), failures=1, error=records))
            else:
                readable.append((shard, records.withColumn("shard_key", F.lit(self.key(shard)))))
        if not readable:
            return outcomes
        try:
            totals = self._write(reduce(lambda a, b: a.unionByName(b), (r for _, r in readable)), folder)
        except Exception as exc:  # noqa: BLE001 - one shard's failure must not end the scan; it is reported
            shards = [shard for shard, _ in readable]
            bad = _unreadable(exc, shards) if len(shards) > 1 else shards[0]
            if bad is None:  # which shard failed is not told: each is scanned alone
                return outcomes + [o for shard in shards for o in self.scan([shard])]
            failed = SparkShard(bad, "failed", self.key(bad), failures=1, error=_failure(exc, bad))
            rest = [shard for shard in shards if shard is not bad]
            return [*outcomes, failed, *(self.scan(rest) if rest else [])]
        seconds = (time.perf_counter() - started) / len(readable)
        written = []
        for shard, _ in readable:
            total = totals.get(self.key(shard), {})
            fatal = total.get("error")
            written.append(
                SparkShard(
                    shard,
                    "failed" if fatal else "done",
                    self.key(shard),
                    folder=folder,
                    records=int(total.get("records") or 0),
                    failures=int(total.get("failures") or 0),
                    empty=int(total.get("empty") or 0),
                    text_bytes=int(total.get("text_bytes") or 0),
                    matches=int(total.get("matches") or 0),
                    seconds=seconds,
                    error=fatal,
                )
            )
        self._mark(written, group)
        return outcomes + written

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

    def _write(self, records: DataFrame, folder: str) -> dict[str, dict[str, Any]]:
        """Probe, find candidates, verify; write matches and failures under ``folder``; each shard's totals."""
        from pyspark.sql import functions as F  # noqa: N812, PLC0415 - the usual alias; pyspark is optional

        session = records.sparkSession
        entry = F.col("entry")
        record = ["shard_key", "record"]
        probes = (
            records.where(entry == RECORD)
            .select(*record, "text")
            .mapInArrow(
                partial(probe_batches, params_json=self.params_json, check=self.check, stride=self.audit.scan_stride),
                PROBE_SCHEMA,
            )
        )
        candidates = (
            probes.join(self._lookup(session), ["kind", "key"])
            .groupBy(*record, "work_id")
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
                records.join(pairs, record, "left")
                .where((entry != RECORD) | F.col("work_id").isNotNull())
                .join(works, "work_id", "left")
            )
            audit_json = json.dumps(asdict(self.audit))
            verified = partial(verify_batches, params_json=self.params_json, check=self.check, options_json=audit_json)
            results = todo.mapInArrow(verified, RESULT_SCHEMA).persist()
            try:
                matches = results.where(entry == MATCH).select("shard_key", *_ARROW_MATCH_SCHEMA.names)
                matches.write.partitionBy("shard_key").parquet(f"{folder}/matches.parquet")
                failures = results.where(entry.isin(FAILURE, FATAL)).select("shard_key", "location", "reason")
                failures.write.partitionBy("shard_key").parquet(f"{folder}/failures.parquet")
                counted = F.when(entry == COUNTS, F.lit(1))
                totals = (
                    results.groupBy("shard_key")
                    .agg(
                        *(F.sum(counted * F.col(c)).alias(c) for c in ("records", "empty", "text_bytes", "failures")),
                        F.count(F.when(entry == MATCH, 1)).alias("matches"),
                        F.first(F.when(entry == FATAL, F.col("reason")), ignorenulls=True).alias("error"),
                    )
                    .collect()
                )
            finally:
                results.unpersist()
        finally:
            candidates.unpersist()
        return {str(row["shard_key"]): row.asDict() for row in totals}

    def _mark(self, outcomes: list[SparkShard], group: str) -> None:
        """Write each shard's marker (``MARKER_SCHEMA``, a file per shard): its outcome, what its results depend on."""
        rows = [
            (
                o.shard.path,
                o.shard.size,
                o.shard.mtime_ns,
                self.settings,
                o.status,
                o.records,
                o.failures,
                o.empty,
                o.text_bytes,
                o.matches,
                o.seconds,
                o.error,
                group,
                o.key,
            )
            for o in outcomes
        ]
        markers = self.spark.createDataFrame(rows, f"{MARKER_SCHEMA}, shard_key string")
        markers.write.partitionBy("shard_key").json(f"{self.out}/groups/{group}/done")


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
    """The newest marker of each shard under ``out``, by shard name (an unreadable marker reads as absent)."""
    from pyspark.errors import AnalysisException  # noqa: PLC0415 - pyspark is an optional extra

    files = _Files(spark, out)
    if files.local:  # read here: no Spark job, and Spark would log the glob as a missing path
        rows = [row for path in files.glob("groups/*/done/shard_key=*/part-*.json") for row in _json_rows(path)]
    elif not files.glob("groups/*/done"):  # asked first: Spark logs a missing path as an error
        rows = []
    else:
        try:
            reader = spark.read.schema(MARKER_SCHEMA).option("recursiveFileLookup", "true")
            pattern = f"{_spark_path(out)}/groups/*/done"
            rows = [r.asDict() for r in reader.option("ignoreCorruptFiles", "true").json(pattern).collect()]
        except AnalysisException:  # gone meanwhile
            rows = []
    newest: dict[str, dict[str, Any]] = {}
    for row in sorted((r for r in rows if r.get("shard") and r.get("group")), key=lambda r: str(r["group"])):
        newest[str(row["shard"])] = row
    return newest


def _json_rows(path: str) -> list[dict[str, Any]]:
    """The rows of a JSON Lines file Spark wrote, none if it is damaged (a marker cut short reads as absent)."""
    try:
        rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return []
    names = _ARROW_MARKER_SCHEMA.names
    return [{name: row.get(name) for name in names} for row in rows if isinstance(row, dict)]


def _tidy(spark: SparkSession, out: str, referenced: set[str]) -> None:
    """Remove the group folders no shard's newest marker refers to: interrupted and superseded attempts."""
    files = _Files(spark, out)
    for folder in files.glob("groups/*"):
        if folder.rstrip("/").rsplit("/", 1)[-1] not in referenced:
            files.delete(folder)


class _Files:
    """Listing and removing under ``out``: on this machine, or through Hadoop for a URL (as Spark names it)."""

    def __init__(self, spark: SparkSession, out: str) -> None:
        self.out = out
        self.local = not is_url(out)
        self.jvm: Any = spark.sparkContext._jvm  # noqa: SLF001 - Hadoop's FileSystem has no Python API
        self.conf = spark.sparkContext._jsc.hadoopConfiguration()  # noqa: SLF001 - same

    def glob(self, pattern: str) -> list[str]:
        """What a glob below ``out`` names (folders and files), as paths or URLs."""
        if self.local:
            return sorted(glob.glob(f"{glob.escape(self.out)}/{pattern}"))  # noqa: PTH207 - a pattern in a string
        path = self.jvm.org.apache.hadoop.fs.Path(f"{_spark_path(self.out)}/{pattern}")
        found = path.getFileSystem(self.conf).globStatus(path) or []
        return sorted(str(status.getPath().toString()) for status in found)

    def delete(self, folder: str) -> None:
        """Remove a folder and everything in it."""
        if self.local:
            shutil.rmtree(folder, ignore_errors=True)
            return
        path = self.jvm.org.apache.hadoop.fs.Path(folder)
        path.getFileSystem(self.conf).delete(path, True)  # noqa: FBT003 - Hadoop's delete(path, recursive)


def find_spark_shards(
    spark: SparkSession, sources: Sequence[str], options: DatasetOptions
) -> tuple[list[Shard], list[InputFailure]]:
    """Shards named by ``sources``, each once: local ones by the local engine's rules, URLs as Spark lists them."""
    shards: dict[str, Shard] = {}
    failures: list[InputFailure] = []
    for source in sources:
        found = _listed(spark, source, options) if is_url(source) else find_shards([source], options)
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


def is_url(source: str) -> bool:
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


def _unreadable(exc: BaseException, shards: list[Shard]) -> Shard | None:
    """The shard a Spark error says it could not read (``FAILED_READ_FILE``), if one of ``shards``."""
    told = re.search(r"FAILED_READ_FILE[^]]*\] Encountered error while reading file (\S+?)\.?\s", str(exc))
    if told is None:
        return None
    name = _local_name(unquote(told.group(1)))
    return next((shard for shard in shards if shard.path in {name, unquote(name)}), None)


def _failure(exc: BaseException, shard: Shard) -> str:
    """A shard's failure as the local engine words it, with what to do about a codec Spark lacks."""
    text = str(exc)
    reason = _reason(exc)
    failed = f"cannot read on: {reason}" if "FAILED_READ_FILE" in text else f"failed on Spark: {reason}"
    if shard.compression == "zstd" and re.search(r"zstd|zstandard|codec", text, re.IGNORECASE):
        failed += f"; if this cluster's Hadoop cannot read zstd, convert the file: zstd -dc {shard.path} | gzip"
    return failed
