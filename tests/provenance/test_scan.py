import gzip
import hashlib
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet as pq
import pytest

from indexes import IndexStore
from provenance import datasets, scan
from provenance.audit import Auditor
from provenance.datasets import DatasetOptions
from provenance.engines import pool
from provenance.ingest import add_sources
from provenance.runs import ShardOutcome, run_matches
from provenance.scan import ScanOptions, scan_dataset

ROOT = Path(__file__).resolve().parents[2]
OUTPUTS = ROOT / "examples" / "outputs"


@pytest.fixture(scope="module")
def built_index(tmp_path_factory):
    path = tmp_path_factory.mktemp("index") / "index.duckdb"
    with IndexStore.open(path, tool_version="test") as store:
        add_sources(store, [str(ROOT / "examples" / "works")])
    return path


@pytest.fixture
def index(built_index, tmp_path):
    copy = tmp_path / "index.duckdb"
    shutil.copy(built_index, copy)
    return copy


def outputs():
    """The example outputs as records: three with planted reuse, two unrelated, and the JSONL batch."""
    records = [{"id": p.stem, "text": p.read_text(encoding="utf-8")} for p in sorted(OUTPUTS.glob("*.txt"))]
    records += [json.loads(line) for line in (OUTPUTS / "batch.jsonl").read_text(encoding="utf-8").splitlines()]
    return records


def write_dataset(folder: Path, shards: int = 3) -> list[Path]:
    """Shards in three formats, each holding every example output."""
    (folder / "data").mkdir(parents=True)
    records = outputs()
    paths = []
    for n in range(shards):
        kind = ("parquet", "jsonl.gz", "csv")[n % 3]
        path = folder / "data" / f"train-{n:05d}-of-{shards:05d}.{kind}"
        ids = [f"{r['id']}-{n}" for r in records]
        texts = [r["text"] for r in records]
        if kind == "parquet":
            pq.write_table(pa.table({"id": ids, "text": texts}), path)
        elif kind == "jsonl.gz":
            lines = "".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in zip(ids, texts, strict=True))
            path.write_bytes(gzip.compress(lines.encode()))
        else:
            table = pa.table({"id": ids, "text": texts})
            pyarrow.csv.write_csv(table, path)
        paths.append(path)
    return paths


def rows(index_path, scan_id):
    with IndexStore.open(index_path, read_only=True) as store:
        return sorted(
            (m.scanned, m.work_id, m.scanned_span, m.work_span, round(m.score, 6)) for m in run_matches(store, scan_id)
        )


def stored_shards(store, audit_id):
    """The run's shards as the documented view shows them."""
    cursor = store.con.execute(
        "SELECT shard, status, records, failures, matches, error, sha256 FROM research.shards WHERE audit_id = ? "
        "ORDER BY shard",
        [audit_id],
    )
    names = [d[0] for d in cursor.description]
    return [type("Shard", (), dict(zip(names, row, strict=True))) for row in cursor.fetchall()]


def stored_matches(store, audit_id, shard=None):
    return [
        m for m, s in zip(run_matches(store, audit_id), shard_of(store, audit_id), strict=True) if shard in {None, s}
    ]


def shard_of(store, audit_id):
    return [
        r[0]
        for r in store.con.execute(
            "SELECT shard FROM matches WHERE audit_id = ? ORDER BY match_no", [audit_id]
        ).fetchall()
    ]


def test_matches_are_stored_per_record_with_the_dataset_path(index, tmp_path):
    shards = write_dataset(tmp_path / "ds")
    seen = []
    summary = scan_dataset(
        index, [str(tmp_path / "ds")], dataset=DatasetOptions(id_field="id"), on_shard=lambda o, _: seen.append(o)
    )
    assert (summary.shards, summary.done, summary.skipped, summary.failed) == (3, 3, 0, 0)
    assert summary.complete
    assert summary.records == 3 * len(outputs())
    assert [r.shard.path for r in seen] == [str(p) for p in shards]
    with IndexStore.open(index, read_only=True) as store:
        stored = list(stored_matches(store, summary.scan_id))
        # Exactly what an audit of the same texts finds, record by record.
        auditor = Auditor(store)
        for n, shard in enumerate(shards):
            for record in outputs():
                rid = f"{record['id']}-{n}"
                expected = [(m.work_id, m.scanned_span, m.work_span) for m in auditor.audit_text(record["text"])]
                found = [(m.work_id, m.scanned_span, m.work_span) for m in stored if m.record_id == rid]
                assert found == expected, rid
                assert all(m.scanned == f"{shard}#{rid}" for m in stored if m.record_id == rid)
        assert {m.record_id.rsplit("-", 1)[0] for m in stored} == {"answer-bees", "answer-bread", "answer-trains"} | {
            "r1",
            "r2",
        }
        assert summary.matches == len(stored) == 3 * 5
        (bees,) = [m for m in stored if m.record_id == "answer-bees-0"]
        assert bees.title.startswith("Hedgerow Honey")
        assert bees.scanned_excerpt.startswith("Once I started walking the lanes")
        assert [s.status for s in stored_shards(store, summary.scan_id)] == ["done"] * 3
        assert [s.sha256 for s in stored_shards(store, summary.scan_id)] == [
            hashlib.sha256(p.read_bytes()).hexdigest() for p in shards
        ]


def test_a_rerun_skips_finished_shards_and_rescans_changed_ones(index, tmp_path):
    shards = write_dataset(tmp_path / "ds")
    options = DatasetOptions(id_field="id")
    first = scan_dataset(index, [str(tmp_path / "ds")], dataset=options)
    before = rows(index, first.scan_id)
    again = scan_dataset(index, [str(tmp_path / "ds")], dataset=options)
    assert again.scan_id == first.scan_id
    assert (again.skipped, again.done, again.records, again.already_finished) == (3, 0, 0, True)
    assert rows(index, first.scan_id) == before  # nothing twice
    table = pq.read_table(shards[0])
    pq.write_table(table.slice(0, 3), shards[0])  # a shard re-downloaded with fewer records
    changed = scan_dataset(index, [str(tmp_path / "ds")], dataset=options)
    assert changed.scan_id == first.scan_id
    assert (changed.skipped, changed.done) == (2, 1)
    assert len(rows(index, first.scan_id)) < len(before)
    fresh = scan_dataset(index, [str(tmp_path / "ds")], dataset=options, options=ScanOptions(restart=True))
    assert fresh.scan_id != first.scan_id
    assert fresh.done == 3


def test_other_options_are_another_scan(index, tmp_path):
    write_dataset(tmp_path / "ds", shards=1)
    first = scan_dataset(index, [str(tmp_path / "ds")])
    other = scan_dataset(index, [str(tmp_path / "ds")], dataset=DatasetOptions(id_field="id"))
    assert other.scan_id != first.scan_id
    assert other.done == 1
    # Without --id-field a record is named by its row: the three planted answers, then the two JSONL ones.
    assert {m[0].rsplit("#", 1)[1] for m in rows(index, first.scan_id)} == {"0", "1", "2", "5", "6"}


def test_a_shard_that_fails_is_recorded_and_retried(index, tmp_path):
    (tmp_path / "ds").mkdir()
    good = tmp_path / "ds" / "a.jsonl"
    good.write_text(json.dumps({"text": outputs()[0]["text"]}) + "\n{broken\n")
    cut = tmp_path / "ds" / "b.jsonl.gz"
    whole = gzip.compress("".join(json.dumps({"text": f"record {i} " * 5}) + "\n" for i in range(2000)).encode())
    cut.write_bytes(whole[: len(whole) // 2])
    small_reads = DatasetOptions(chunk_bytes=16 << 10)
    summary = scan_dataset(index, [str(tmp_path / "ds"), str(tmp_path / "missing")], dataset=small_reads)
    assert (summary.done, summary.failed, summary.complete) == (1, 1, False)
    assert [(f.source, f.reason) for f in summary.unreadable] == [(str(tmp_path / "missing"), "no such file or folder")]
    with IndexStore.open(index, read_only=True) as store:
        shards = {s.shard: s for s in stored_shards(store, summary.scan_id)}
        assert shards[str(good)].status == "done"
        assert shards[str(good)].failures == 1
        assert shards[str(cut)].status == "failed"
        assert shards[str(cut)].error == "cannot read on: Truncated compressed stream"
        failures = store.con.execute(
            "SELECT location, reason FROM scan_failures WHERE scan_id = ? ORDER BY 1", [summary.scan_id]
        ).fetchall()
        assert failures[0] == (f"{good}:2", "invalid JSON (Expecting property name enclosed in double quotes)")
    again = scan_dataset(index, [str(tmp_path / "ds"), str(tmp_path / "missing")], dataset=small_reads)
    assert (again.skipped, again.failed) == (1, 1)  # the failed shard is tried again


def test_progress_runs_by_bytes_and_records_to_the_totals(index, tmp_path):
    shards = write_dataset(tmp_path / "ds")
    seen = []
    scan_dataset(index, [str(tmp_path / "ds")], on_progress=lambda p: seen.append((p.bytes_read, p.records)))
    total = sum(p.stat().st_size for p in shards)
    assert seen[-1] == (total, 3 * len(outputs()))
    assert [b for b, _ in seen] == sorted(b for b, _ in seen)


def test_workers_find_what_one_process_finds(index, tmp_path):
    write_dataset(tmp_path / "ds", shards=4)
    serial = scan_dataset(index, [str(tmp_path / "ds")], dataset=DatasetOptions(id_field="id"))
    progress = []
    parallel = scan_dataset(
        index,
        [str(tmp_path / "ds")],
        dataset=DatasetOptions(id_field="id"),
        options=ScanOptions(workers=2, restart=True),
        on_progress=lambda p: progress.append((p.bytes_read, p.bytes_total, p.records)),
    )
    assert (parallel.done, parallel.matches, parallel.complete) == (4, serial.matches, True)
    assert rows(index, parallel.scan_id) == rows(index, serial.scan_id)
    assert progress[-1][0] == progress[-1][1]
    assert progress[-1][2] == 4 * len(outputs())
    assert not (tmp_path / "index.duckdb.scans").exists()  # the spool was moved into the index


def test_a_spool_left_by_a_killed_run_of_another_scan_is_moved_in(index, tmp_path):
    shards = write_dataset(tmp_path / "ds", shards=2)
    first = scan_dataset(index, [str(tmp_path / "ds")])
    before = rows(index, first.scan_id)
    with IndexStore.open(index) as store:
        (result,) = [
            scan_dataset_report(store, first.scan_id, shard) for shard in datasets.find_shards([str(shards[0])])
        ]
        store.con.execute("DELETE FROM matches WHERE shard = ?", [str(shards[0])])
        store.con.execute("DELETE FROM scan_shards WHERE shard = ?", [str(shards[0])])
    scan._write_spool(scan._spool_dir(str(index), first.scan_id), result)
    scan_dataset(index, [str(tmp_path / "ds")], options=ScanOptions(restart=True))
    assert rows(index, first.scan_id) == before
    assert not (tmp_path / "index.duckdb.scans").exists()


def scan_dataset_report(store, scan_id, shard):
    """A shard's outcome rebuilt from what the index holds, as a worker would have returned it."""
    matches = tuple(stored_matches(store, scan_id, shard.path))
    (stored,) = [s for s in stored_shards(store, scan_id) if s.shard == shard.path]
    return ShardOutcome(shard, "done", records=stored.records, matches=matches)


def test_a_large_parquet_shard_is_audited_in_parts_and_stored_whole(index, tmp_path):
    records = outputs() * 6
    texts = [r["text"] for r in records]
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"text": texts}), path, row_group_size=4)  # record ids are row numbers
    (shard,) = datasets.find_shards([str(path)])
    parts = datasets.split_shard(shard, part_bytes=shard.size // 5)
    assert parts is not None
    assert len(parts) >= 3
    assert [p.first for p in parts[1:]] == [p.end for p in parts[:-1]]
    assert [p.last for p in parts] == [False] * (len(parts) - 1) + [True]
    assert sum(p.size for p in parts) <= shard.size
    assert len(pool._tasks([shard], ScanOptions(workers=2, part_bytes=shard.size // 5))) == len(parts)
    serial = scan_dataset(index, [str(path)])
    reports = []
    parallel = scan_dataset(
        index,
        [str(path)],
        options=ScanOptions(workers=2, part_bytes=shard.size // 5, restart=True),
        on_shard=lambda o, _: reports.append(o),
    )
    assert [(r.shard.path, r.status, r.records) for r in reports] == [(str(path), "done", len(records))]
    assert (parallel.done, parallel.records, parallel.matches) == (1, serial.records, serial.matches)
    assert parallel.matches >= 6 * 5
    assert rows(index, parallel.scan_id) == rows(index, serial.scan_id)
    with IndexStore.open(index, read_only=True) as store:
        ids = {m.record_id for m in run_matches(store, parallel.scan_id)}
    assert max(int(i) for i in ids) >= len(records) - len(outputs())  # rows of the last parts keep their numbers


def test_small_or_other_shards_are_not_split(tmp_path):
    path = tmp_path / "small.parquet"
    pq.write_table(pa.table({"text": ["a b c"] * 10}), path, row_group_size=2)
    (shard,) = datasets.find_shards([str(path)])
    assert datasets.split_shard(shard, part_bytes=shard.size) is None
    one_group = tmp_path / "one.parquet"
    pq.write_table(pa.table({"text": ["a b c"] * 10}), one_group)
    (shard,) = datasets.find_shards([str(one_group)])
    assert datasets.split_shard(shard, part_bytes=1) is None
