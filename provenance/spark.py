"""Dataset scans on Apache Spark: the local engine's fingerprints, candidates and verification, distributed.

The stages, each a Spark plan over Parquet (the per-batch work is pure ``RecordBatch -> RecordBatch``
functions over provenance's own code, run by ``mapInArrow`` on the executors):

1. **export** (``export_index``): the index's band keys (joined with their passages' token ranges),
   its uncommon anchors, and its works (text, metadata, consent, transcript cues, common-anchor
   positions) are written as Parquet by DuckDB into a staging folder, with the fingerprint parameters
   as ``params.json``. That folder is how the index reaches the cluster.
2. **probe** (``probe_batches``): each record is tokenized and fingerprinted with ``Fingerprinter``
   and the index's ``IndexParams``, exactly as ``Auditor`` does: one row per distinct (record, band
   key) and (record, anchor).
3. **candidates**: probes join the band and anchor tables (broadcast when small, so the dataset side
   is never shuffled), and the hits are grouped per (record, work) into candidate token ranges.
4. **verify** (``verify_batches``): the candidates are joined back to the records where they are
   (broadcast when small) and each (record, work) pair is verified with ``provenance.audit.verify``.
5. **write**: matches as Parquet, one row per match (``MATCH_SCHEMA``); ``read_matches`` reads them back.

Records are named like the local dataset reader names them: ``scanned`` is ``PATH#RECORD_ID`` with
``RECORD_ID`` the ``id_field`` value (as a string), else the record's 0-based row in its file.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections import OrderedDict
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from connectors import sha256_hex
from indexes import Fingerprinter, IndexParametersError, IndexParams, IndexStore
from provenance.audit import MIN_ANCHORS, AuditOptions, WorkSide, verify
from provenance.inputs import ScanItem
from provenance.match import Match, format_time_range

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from pyspark.sql import DataFrame, SparkSession

    from indexes.store import MetaValue

# Probe kinds in the probe rows.
BAND, ANCHOR = 0, 1
# Index tables up to this size on disk are broadcast to every executor (Spark's own default is 10 MB).
BROADCAST_BYTES = 256 << 20
# Candidate (record, work) pairs up to this many are broadcast to the records instead of shuffling them.
BROADCAST_CANDIDATES = 2_000_000
# Works whose fingerprints a verifying task keeps.
_CACHE_WORKS = 64

PROBE_SCHEMA = "scanned string, kind tinyint, key bigint"
MATCH_SCHEMA = (
    "work_id bigint, source string, title string, kind string, scanned string, record_id string, "
    "score double, similarity double, estimated_similarity double, containment double, "
    "verbatim_words bigint, matched_words bigint, evidence_words bigint, "
    "scanned_span array<bigint>, work_span array<bigint>, scanned_excerpt string, work_excerpt string, "
    "link string, consent_status string, consent_summary string, work_time array<double>, work_time_label string"
)
_ARROW_MATCH_SCHEMA = pa.schema(
    [
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
)


@dataclass(frozen=True)
class IndexExport:
    """An index exported for Spark: Parquet tables in ``folder`` and the fingerprint parameters.

    ``url`` is where Spark reads the folder: the folder itself, or the same storage as the cluster
    names it (``/dbfs/tmp/x`` is ``dbfs:/tmp/x`` on Databricks; a mounted bucket is ``s3://...``).
    """

    folder: str
    url: str
    params: IndexParams
    lookup_bytes: int  # size on disk of the band and anchor tables
    works_bytes: int

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
    (out / "params.json").write_text(params.to_json() + "\n", encoding="utf-8")
    size = {name: (out / f"{name}.parquet").stat().st_size for name in queries}
    where = (url or str(out)).rstrip("/")
    return IndexExport(str(out), where, params, size["bands"] + size["anchors"], size["works"])


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


def probe_batches(
    batches: Iterable[pa.RecordBatch], params_json: str, check: str, stride: int
) -> Iterator[pa.RecordBatch]:
    """``(scanned, text)`` batches -> ``(scanned, kind, key)``: each record's distinct band keys and anchors."""
    fp = fingerprinter(params_json, check)
    for batch in batches:
        scanned: list[str] = []
        kinds: list[np.ndarray[Any, Any]] = []
        keys: list[np.ndarray[Any, Any]] = []
        for name, text in zip(batch.column("scanned").to_pylist(), batch.column("text").to_pylist(), strict=True):
            if text is None or not text.strip():
                continue
            windows = fp.passages(fp.tokenize(text), stride=stride)
            bands = np.unique(windows.keys.reshape(-1))
            anchors = np.unique(windows.anchor_keys)
            scanned.extend([name] * (bands.size + anchors.size))
            kinds.append(np.concatenate([np.full(bands.size, BAND, np.int8), np.full(anchors.size, ANCHOR, np.int8)]))
            keys.append(np.concatenate([bands, anchors]))
        yield pa.RecordBatch.from_arrays(
            [
                pa.array(scanned, pa.string()),
                pa.array(np.concatenate(kinds) if kinds else np.zeros(0, np.int8)),
                pa.array(np.concatenate(keys) if keys else np.zeros(0, np.int64)),
            ],
            names=["scanned", "kind", "key"],
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
    """Candidate rows (a record, its text, one work with its ranges) -> match rows (``MATCH_SCHEMA``).

    Rows of one record should be adjacent (sort within partitions): its windows are computed once.
    """
    params = IndexParams.from_json(params_json)
    options = AuditOptions(**json.loads(options_json))
    fp = fingerprinter(params_json, check)
    works: OrderedDict[int, WorkSide] = OrderedDict()
    last: tuple[str, ScanItem, Any] | None = None
    for batch in batches:
        rows: list[dict[str, Any]] = []
        for row in batch.to_pylist():
            if last is None or last[0] != row["scanned"]:
                item = ScanItem(
                    text=row["text"],
                    scanned=row["scanned"],
                    sha256=sha256_hex(row["text"].encode("utf-8")),
                    record_id=row["record_id"],
                )
                last = (row["scanned"], item, fp.passages(fp.tokenize(item.text), stride=options.scan_stride))
            work = works.get(int(row["work_id"]))
            if work is None:
                work = works[int(row["work_id"])] = _work_side(fp, row)
                if len(works) > _CACHE_WORKS:
                    works.popitem(last=False)
            else:
                works.move_to_end(work.work_id)
            ranges = [(int(r[0]), int(r[1])) for r in row["ranges"]]
            rows.extend(match_row(m) for m in verify(last[1], last[2], work, ranges, options, params))
        yield pa.RecordBatch.from_pylist(rows, schema=_ARROW_MATCH_SCHEMA)


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


def read_matches(parquet: str | Path) -> list[Match]:
    """The matches a Spark scan wrote (a Parquet file or folder), as ``Match`` values, in record order."""
    rows = pq.read_table(str(parquet)).to_pylist()
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
    matches.sort(key=lambda m: (m.scanned, m.scanned_span[0], m.work_id))
    return matches


# -- the Spark plan ---------------------------------------------------------------------------------


def scan_with_spark(
    index_path: str | Path,
    dataset: str,
    *,
    field: str = "text",
    id_field: str | None = None,
    out_dir: str | Path,
    master: str = "local[*]",
    options: AuditOptions | None = None,
    staging: str | Path | None = None,
    staging_url: str | None = None,
) -> str:
    """Scan a Parquet dataset (path, folder, glob or URL Spark reads) on Spark; returns the matches' Parquet.

    The index is exported to the local folder ``staging`` (default ``OUT_DIR/index``), which the
    executors read as ``staging_url`` (default: the same path; on a cluster, shared storage as the
    cluster names it, see ``IndexExport``). Matches are written to ``OUT_DIR/matches.parquet`` (a
    folder of part files; ``OUT_DIR`` may be any URL Spark writes), replacing an earlier scan's.
    """
    from pyspark.sql import SparkSession  # noqa: PLC0415 - pyspark is an optional extra

    opts = options or AuditOptions()
    out = str(out_dir)
    if staging is None and "://" in out:
        raise ValueError(f"out_dir {out} is a URL: give staging (a local folder) and staging_url (how Spark reads it)")
    export = export_index(index_path, staging if staging is not None else Path(out) / "index", url=staging_url)
    target = f"{out.rstrip('/')}/matches.parquet"
    active = SparkSession.getActiveSession()
    spark = active or _session(master)
    candidates = None
    try:
        matches, candidates = _plan(spark, export, dataset, field=field, id_field=id_field, options=opts)
        matches.write.mode("overwrite").parquet(target)
    finally:
        if candidates is not None:
            candidates.unpersist()
        if active is None:  # a session we were handed (spark-submit, Databricks) is not ours to stop
            spark.stop()
    return target


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


def _plan(
    spark: SparkSession, export: IndexExport, dataset: str, *, field: str, id_field: str | None, options: AuditOptions
) -> tuple[DataFrame, DataFrame]:
    """The matches of every record of ``dataset`` (``MATCH_SCHEMA``), and the persisted candidates behind them.

    The dataset is read twice (to probe, then to verify next to the records), never shuffled: the
    only shuffle groups the hits, which carry no text.
    """
    from pyspark.sql import functions as F  # noqa: N812, PLC0415 - the usual alias; pyspark is optional

    params_json = export.params.to_json()
    check = Fingerprinter(export.params).check_value()
    # Spark names files by URI: local ones as the dataset reader names them (a plain, decoded path).
    # url_decode is form decoding, so a literal "+" is protected first.
    uri = F.url_decode(F.regexp_replace(F.col("_metadata.file_path"), "[+]", "%2B"))
    path = F.when(uri.startswith("file:"), F.regexp_replace(uri, "^file:(//)?", "")).otherwise(uri)
    record_id = F.col(id_field).cast("string") if id_field else F.col("_metadata.row_index").cast("string")
    records = (
        spark.read.parquet(dataset)
        .select(F.col(field).cast("string").alias("text"), record_id.alias("record_id"), path.alias("path"))
        .where(F.col("text").isNotNull() & F.col("record_id").isNotNull())
        .select("text", "record_id", F.concat_ws("#", "path", "record_id").alias("scanned"))
    )
    probes = records.select("scanned", "text").mapInArrow(
        partial(probe_batches, params_json=params_json, check=check, stride=options.scan_stride), PROBE_SCHEMA
    )
    small = export.lookup_bytes <= BROADCAST_BYTES
    bands = spark.read.parquet(export.bands)
    anchors = spark.read.parquet(export.anchors)
    if small:
        bands, anchors = F.broadcast(bands), F.broadcast(anchors)
    run = export.params.anchor_run
    hits = (
        probes.where(F.col("kind") == BAND)
        .join(bands, "key")
        .select("scanned", "work_id", "kind", F.col("token_start").alias("start"), F.col("token_end").alias("end"))
        .unionByName(
            probes.where(F.col("kind") == ANCHOR)
            .join(anchors, "key")
            .select(
                "scanned",
                "work_id",
                "kind",
                F.col("token_pos").alias("start"),
                (F.col("token_pos") + F.lit(run)).alias("end"),
            )
        )
    )
    candidates = (
        hits.groupBy("scanned", "work_id")
        .agg(
            F.collect_set(F.array(F.col("start").cast("long"), F.col("end").cast("long"))).alias("ranges"),
            F.count(F.when(F.col("kind") == BAND, 1)).alias("band_hits"),
            F.countDistinct(F.when(F.col("kind") == ANCHOR, F.col("start"))).alias("anchor_hits"),
        )
        # the local engine's rule (audit.is_candidate), as a column expression
        .where((F.col("band_hits") > 0) | (F.col("anchor_hits") >= MIN_ANCHORS))
        .drop("band_hits", "anchor_hits")
        .persist()
    )
    pairs = F.broadcast(candidates) if candidates.count() <= BROADCAST_CANDIDATES else candidates
    works = spark.read.parquet(export.works).withColumnRenamed("text", "work_text")
    if export.works_bytes <= BROADCAST_BYTES:
        works = F.broadcast(works)
    todo = records.join(pairs, "scanned").join(works, "work_id").sortWithinPartitions("scanned", "work_id")
    options_json = json.dumps(asdict(options))
    verified = todo.mapInArrow(
        partial(verify_batches, params_json=params_json, check=check, options_json=options_json), MATCH_SCHEMA
    )
    return verified, candidates
