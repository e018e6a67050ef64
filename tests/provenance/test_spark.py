"""The Spark engine finds exactly what the local engine finds, on the same index and records, in every format."""

from __future__ import annotations

import gzip
import json
import random
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors import sha256_hex
from indexes import Fingerprinter, IndexParametersError, IndexParams, IndexStore, NewWork
from provenance.audit import Auditor
from provenance.datasets import DatasetOptions, ReadProgress, Shard, find_shards, read_shard
from provenance.engines.spark import outcomes
from provenance.inputs import InputFailure, ScanItem
from provenance.options import AuditOptions
from provenance.runs import finish_scan_run, open_scan_run, run_matches, store_shard

if shutil.which("java") is None:
    pytest.skip(
        "no Java runtime on PATH: Spark needs Java 17+ (apt-get install default-jre-headless)", allow_module_level=True
    )
pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'provenance-audit[spark]')")

from provenance.spark import (
    _json_rows,
    _local_name,
    _reason,
    _spark_path,
    _unreadable,
    export_index,
    fingerprinter,
    is_url,
    read_failures,
    read_matches,
    scan_with_spark,
    session,
)

SYLLABLES = ["ka", "lo", "mi", "ren", "tu", "sa", "ve", "dor", "pi", "na", "qua", "el", "bri", "sto", "fen", "ju"]
BOILERPLATE = (
    "Thanks for reading this far, and if you enjoyed it please share it with a friend, subscribe to the "
    "newsletter for more, and leave a comment below telling me what you would like to read about next time."
)
# Small enough that a planted record goes over it; the local engine's default is 16 MiB.
LIMIT = 8192


def vocabulary(rng: random.Random, size: int = 1500) -> list[str]:
    words = {"".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3))) for _ in range(size * 2)}
    return sorted(words)[:size]


def prose(rng: random.Random, vocab: list[str], n: int) -> str:
    words = [rng.choice(vocab) for _ in range(n)]
    for i in range(0, n, rng.randint(9, 15)):
        words[i] = words[i].capitalize()
    return " ".join(w + ("." if i % 13 == 12 else "") for i, w in enumerate(words))


def excerpt(text: str, start: int, n: int) -> str:
    return " ".join(text.split()[start : start + n])


def edit(rng: random.Random, vocab: list[str], text: str, share: float) -> str:
    words = text.split()
    for i in rng.sample(range(len(words)), int(len(words) * share)):
        words[i] = rng.choice(vocab)
    return " ".join(words)


def new_work(source: str, kind: str, title: str, text: str, **extra) -> NewWork:
    digest = sha256_hex(text.encode("utf-8"))
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return NewWork(source, kind, title, text, digest, digest, now, **extra)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """An index of four works (a web page with consent signals, a transcript with cues), records, a Parquet dataset."""
    rng = random.Random(7)
    vocab = vocabulary(rng)
    root = tmp_path_factory.mktemp("spark")
    texts = [prose(rng, vocab, 420) for _ in range(4)]
    works = [
        new_work(str(root / "essay.txt"), "text", "Essay", texts[0] + " " + BOILERPLATE),
        new_work(
            "https://example.com/post",
            "web",
            "Post",
            texts[1] + " " + BOILERPLATE,
            consent={"status": "reserved", "summary": "robots.txt disallows GPTBot"},
        ),
        new_work(
            "https://www.youtube.com/watch?v=abcdefghijk",
            "youtube",
            "Talk",
            texts[2] + " " + BOILERPLATE,
            metadata={"video_id": "abcdefghijk"},
            cues=[(i, i + 200, i / 20.0, (i + 200) / 20.0) for i in range(0, len(texts[2]) + 400, 200)],
        ),
        new_work(str(root / "notes.md"), "markdown", "Notes", texts[3]),
    ]
    index = root / "index.duckdb"
    with IndexStore.open(index, tool_version="test") as store:
        for work in works:
            store.add_work(work)
        assert store.refresh_common() > 0  # the boilerplate three works share
    records: list[str] = []
    for w, text in enumerate(texts):
        for start, n in ((0, 60), (150, 120), (300, 80)):
            records.append(prose(rng, vocab, 40) + " " + excerpt(text, start, n) + " " + prose(rng, vocab, 30))
        records.extend(
            prose(rng, vocab, 25) + " " + edit(rng, vocab, excerpt(text, 40 * w + 20, 100), share)
            for share in (0.05, 0.12, 0.2)
        )
        records.append(prose(rng, vocab, 20) + " " + excerpt(text, 200, 25))  # a short quote: found at 20 words
    records.append(excerpt(texts[0], 50, 70) + " " + prose(rng, vocab, 60) + " " + excerpt(texts[2], 210, 90))
    records.append(prose(rng, vocab, 50) + " " + BOILERPLATE + " " + prose(rng, vocab, 50))  # stock phrases only
    records.append(excerpt(texts[1], 0, 400))  # most of a work
    records.extend(prose(rng, vocab, rng.randint(30, 400)) for _ in range(12))  # unrelated
    records.extend(["", "   ", "tiny"])
    dataset = root / "dataset"
    dataset.mkdir()
    half = len(records) // 2
    for n, part in enumerate((records[:half], records[half:])):
        ids = [f"r{n}-{i}" for i in range(len(part))]
        pq.write_table(pa.table({"id": ids, "text": part}), dataset / f"part-{n}.parquet", row_group_size=16)
    return index, dataset, records


@pytest.fixture(scope="module")
def spark():
    """One local session for the module's tests; ``scan_with_spark`` runs in it and leaves it running."""
    active = session("local[2]")
    yield active
    active.stop()


def local_scan(index: Path, sources: list[str], dataset: DatasetOptions, audit: AuditOptions):
    """What the local engine finds: matches, failures, and each shard's counters (its own reader and auditor)."""
    items: list[ScanItem] = []
    failures: list[InputFailure] = []
    counts: dict[str, tuple[int, int, int, int]] = {}
    for shard in find_shards(sources, dataset):
        assert isinstance(shard, Shard), shard
        progress = ReadProgress()
        for item in read_shard(shard, dataset, progress):
            (failures if isinstance(item, InputFailure) else items).append(item)
        counts[shard.path] = (progress.records, progress.failures, progress.empty, progress.text_bytes)
    with IndexStore.open(index, read_only=True) as store:
        matches = [m for _, found in Auditor(store, audit).audit(items) for m in found]
    return matches, failures, counts


def key(m):
    return (m.record_id, m.work_id, m.scanned_span, m.work_span, m.verbatim_words, m.matched_words, round(m.score, 4))


def assert_same(found, expected):
    assert len(expected) >= 25  # the data plants enough reuse for the comparison to mean something
    assert {key(m) for m in found} == {key(m) for m in expected}
    assert len(found) == len(expected)
    assert sorted(found, key=key) == sorted(expected, key=key)  # every field, excerpts and links included
    assert {m.kind for m in found} == {"text", "web", "youtube", "markdown"}
    assert any(m.work_time is not None and m.link and "&t=" in m.link for m in found)
    assert any(m.consent_status == "reserved" for m in found)


def test_spark_matches_are_the_local_engines(corpus, tmp_path):
    index, dataset, _ = corpus
    options = DatasetOptions(id_field="id")
    scan = scan_with_spark(index, str(dataset / "*.parquet"), dataset=options, out_dir=tmp_path, master="local[2]")
    expected, failures, counts = local_scan(index, [str(dataset / "*.parquet")], options, AuditOptions())
    assert_same(read_matches(scan), expected)
    assert {m.record_id for m in expected} >= {"r0-0", "r1-0"}
    assert failures == read_failures(scan) == []
    assert [s.status for s in scan.shards] == ["done", "done"]
    assert {s.shard.path: (s.records, s.failures, s.empty, s.text_bytes) for s in scan.shards} == counts
    from pyspark.sql import SparkSession  # noqa: PLC0415 - imported only where pyspark is

    assert SparkSession.getActiveSession() is None  # the session it started is stopped


def write_lines(path: Path, lines: list[bytes]) -> None:
    data = b"".join(lines)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(data))
    elif path.suffix in {".zst", ".zstd"}:
        with pa.CompressedOutputStream(str(path), "zstd") as out:
            out.write(data)
    else:
        path.write_bytes(data)


def jsonl(record: dict) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n"


def csv_field(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


@pytest.fixture(scope="module")
def line_dataset(corpus):
    """The records as JSON Lines and CSV (plain, .gz, .zst), with the Parquet files, and bad records of every kind."""
    index, parquet, records = corpus
    root = parquet.parent / "lines"
    root.mkdir()
    for part in parquet.glob("*.parquet"):
        shutil.copy(part, root / part.name)
    chunks = [records[i::6] for i in range(6)]
    too_big = "word " * (LIMIT // 4)
    a = [b"\xef\xbb\xbf" + jsonl({"text": chunks[0][0]})]  # a byte-order mark on the first line
    a += [jsonl({"text": t}) for t in chunks[0][1:4]]
    a += [b"\n", b"   \n"]  # blank lines are not records, yet lines are counted
    a += [b'{"text": "unterminated\n', b'{"body": "no text field"}\n', b'{"text": 42}\n', b'{"text": null}\n']
    a += [b'["an", "array"]\n', b'{"text": "caf\xe9 latin-1"}\n', jsonl({"text": too_big})]
    a += [jsonl({"text": t}).replace(b"\n", b"\r\n") for t in chunks[0][4:]]  # Windows line ends
    a += [jsonl({"text": "ends without a newline, \u00e9t\u00e9 \U0001f600"}).rstrip(b"\n")]
    write_lines(root / "a.jsonl", a)
    write_lines(root / "b.jsonl.gz", [jsonl({"text": t, "n": i}) for i, t in enumerate(chunks[1])])
    write_lines(root / "c.jsonl.zst", [jsonl({"text": t}) for t in chunks[2]] + [b"{bad\n"])
    d = ["id,text,extra\r\n"]
    for i, t in enumerate(chunks[3]):
        d.append(f"d{i},{csv_field(t[:60] + chr(10) + t[60:])},x\r\n")  # a quoted field spanning two lines
    d += ['7,He is 6" tall and not quoted,x\r\n', "\r\n", "8,only two\r\n", f"9,{csv_field(too_big)},x\r\n"]
    d += [f"10,{csv_field('a quote: ' + chr(34) + 'yes' + chr(34))},x\r\n"]
    write_lines(root / "d.csv", [line.encode("utf-8") for line in d])
    e = ["text,n\n", *(f"{csv_field(t)},{i}\n" for i, t in enumerate(chunks[4]))]
    write_lines(root / "e.csv.gz", [line.encode("utf-8") for line in e])
    f = ["n\ttext\n", *(f"{i}\t{t}\n" for i, t in enumerate(chunks[5])), '5\t"never closed\n']
    write_lines(root / "f.tsv.zstd", [line.encode("utf-8") for line in f])
    (root / "README.md").write_text("a dataset card, passed over\n")
    return index, root, chunks


@pytest.fixture(scope="module")
def line_scan(line_dataset, spark, tmp_path_factory):  # noqa: ARG001 - the session the scan runs in
    """One Spark scan of the mixed dataset, named by row numbers, the index read from where it was staged."""
    index, root, chunks = line_dataset
    out = tmp_path_factory.mktemp("line-scan")
    scan = scan_line_dataset(index, root, out)
    return index, root, chunks, out, scan


def scan_line_dataset(index: Path, root: Path, out: Path):
    """The dataset and the results as URLs (Spark lists and writes them), the index staged where Spark reads it."""
    staging = out / "staged"
    return scan_with_spark(
        index,
        root.as_uri(),
        out_dir=out.as_uri(),
        dataset=READING,
        options=AUDIT,
        staging=staging,
        staging_url=staging.as_uri(),
    )


READING = DatasetOptions(max_record_bytes=LIMIT)
AUDIT = AuditOptions(min_words=20, scan_stride=3)


def test_json_lines_csv_and_parquet_records_are_named_checked_and_matched_as_locally(line_scan, spark):
    index, root, chunks, out, scan = line_scan
    expected, failures, counts = local_scan(index, [str(root)], READING, AUDIT)
    found = read_matches(scan)
    assert_same(found, expected)
    assert {Path(m.scanned.split("#")[0]).name for m in found} == {
        "a.jsonl",
        "b.jsonl.gz",
        "c.jsonl.zst",
        "d.csv",
        "e.csv.gz",
        "f.tsv.zstd",
        "part-0.parquet",
        "part-1.parquet",
    }
    assert any(m.verbatim_words == 25 for m in found)  # the short quotes, found at --min-words 20
    assert sorted(read_failures(scan), key=str) == sorted(failures, key=str)
    a, d, f = (str(root / name) for name in ("a.jsonl", "d.csv", "f.tsv.zstd"))
    assert {(x.source, x.reason) for x in failures} >= {
        (f"{a}:7", "invalid JSON (Unterminated string starting at)"),
        (f"{a}:8", "field 'text' is missing"),
        (f"{a}:9", "field 'text' is not text (int)"),
        (f"{a}:10", "field 'text' is null"),
        (f"{a}:11", "record is not a JSON object (list)"),
        (f"{a}:12", "line is not valid UTF-8"),
        (f"{a}:13", f"record of 10.0 KiB is over the limit of {LIMIT / 1024:.1f} KiB; skipped"),
        (f"{d}:{4 + 2 * len(chunks[3])}", "has 2 fields, the header has 3"),
        (f"{d}:{5 + 2 * len(chunks[3])}", f"record of 10.0 KiB is over the limit of {LIMIT / 1024:.1f} KiB; skipped"),
        (f"{f}:{2 + len(chunks[5])}", "a quoted field is not closed before the end of the file"),
    }
    assert [s.shard.path for s in scan.shards] == sorted(str(p) for p in root.iterdir() if p.name != "README.md")
    assert {s.shard.path: (s.records, s.failures, s.empty, s.text_bytes) for s in scan.shards} == counts
    with IndexStore.open(index) as store:  # stored as a run, as the Spark engine's results are
        shards = [s.shard for s in scan.shards]
        run = open_scan_run(store, key="k", shards=shards, parameters={}, arguments=[root.as_uri()], engine="spark")
        for outcome in outcomes(scan):
            store_shard(store, run.audit_id, outcome)
        stored_run = finish_scan_run(store, run.audit_id)
        assert (stored_run.state, len(stored_run.inputs), len(stored_run.matches)) == ("finished", 8, len(expected))
        assert stored_run.inputs_failed == len(failures)
        stored = store.con.execute("SELECT location, reason FROM scan_failures WHERE scan_id = ?", [run.audit_id])
        assert sorted(stored.fetchall()) == sorted((f.source, f.reason) for f in failures)
        assert {m.scanned for m in run_matches(store, run.audit_id)} == {m.scanned for m in expected}
    assert not (out / "index").exists()
    assert not spark.sparkContext._jsc.sc().isStopped()  # a session it was handed is left running


def local(url: str) -> Path:
    return Path(url.removeprefix("file://"))


def shard_files(outcome) -> dict[str, int]:
    """A shard's files (its partitions of the results, its marker) with their modification times."""
    folders = [outcome.matches_path, outcome.failures_path, f"{outcome.folder}/done/shard_key={outcome.key}"]
    return {str(p): p.stat().st_mtime_ns for f in folders for p in local(f).rglob("*") if p.is_file()}


def test_a_rerun_skips_finished_shards_and_redoes_the_one_interrupted(line_scan):
    index, root, _, out, first = line_scan
    matches, failures = read_matches(first), sorted(read_failures(first), key=str)
    cut = next(s for s in first.shards if s.shard.path.endswith("d.csv"))
    (marker,) = local(f"{cut.folder}/done/shard_key={cut.key}").glob("part-*")
    marker.write_text('{"shard": "interrupted while writ')  # killed while its marker was written
    for part in local(cut.matches_path).glob("part-*"):
        part.unlink()  # and part of its results gone
    killed = out / "groups" / "20260101T000000000000Z-dead00" / "matches.parquet"
    killed.mkdir(parents=True)
    (killed / "part-00000.parquet").write_bytes(b"an attempt killed before any marker")
    untouched = {s.shard.path: shard_files(s) for s in first.shards if s is not cut}
    again = scan_line_dataset(index, root, out)
    assert [(s.shard.path, s.status) for s in again.shards] == [
        (s.shard.path, "done" if s is cut else "skipped") for s in first.shards
    ]
    assert {s.shard.path: shard_files(s) for s in again.shards if s.shard.path in untouched} == untouched
    assert read_matches(again) == matches
    assert sorted(read_failures(again), key=str) == failures
    counted = [(s.shard, s.records, s.failures, s.empty, s.text_bytes, s.matches) for s in again.shards]
    assert counted == [(s.shard, s.records, s.failures, s.empty, s.text_bytes, s.matches) for s in first.shards]
    assert not killed.parent.exists()  # folders no marker refers to are removed
    assert {local(s.folder) for s in again.shards} == set((out / "groups").iterdir())


@pytest.fixture
def faults(corpus, tmp_path):
    """A folder of one readable JSON Lines shard (with bad lines) and four shards that cannot be read to the end."""
    _, _, records = corpus
    root = tmp_path / "faults"
    root.mkdir()
    good = [jsonl({"id": f"g{i}", "text": t}) for i, t in enumerate(records[:12])]
    good[3] = b'{"id": "g3", "text": ["not", "text"]}\n'
    good[5] = jsonl({"text": records[5]})  # no id
    write_lines(root / "good [1].jsonl", good)  # a name Spark would take for a glob
    data = gzip.compress(b"".join(jsonl({"id": f"c{i}", "text": t}) for i, t in enumerate(records)))
    (root / "cut.jsonl.gz").write_bytes(data[: len(data) // 2])
    (root / "array.json").write_text(json.dumps([{"id": "x", "text": t} for t in records[:3]]) + "\n")
    pq.write_table(pa.table({"id": ["n0"], "body": [records[0]]}), root / "nocolumn.parquet")
    with pa.ipc.new_stream(root / "saved.arrow", pa.schema([("text", pa.string())])) as writer:
        writer.write_table(pa.table({"text": records[:2]}))
    return root


@pytest.mark.usefixtures("spark")  # the session the CLI scans in, so it starts none
def test_the_cli_scans_on_spark_reports_every_failure_and_resumes(corpus, faults, tmp_path):
    from typer.testing import CliRunner  # noqa: PLC0415 - this test only

    from provenance.cli import app  # noqa: PLC0415 - this test only

    index, _, _ = corpus
    args = ["audit", str(faults), "--engine", "spark", "--spark-master", "local[2]", "--id-field", "id"]
    args += ["--index", str(index), "--spark-out", str(tmp_path / "out"), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 3, result.output  # some input could not be read; the rest was audited
    good = faults / "good [1].jsonl"
    reading = DatasetOptions(id_field="id")
    expected, failures, _ = local_scan(index, [str(good), str(faults / "array.json")], reading, AuditOptions())
    found = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted((m["record_id"], m["work_id"], tuple(m["work_span"])) for m in found) == sorted(
        (m.record_id, m.work_id, m.work_span) for m in expected
    )
    assert len(found) >= 8
    assert all(m["scanned"].startswith(f"{good}#g") for m in found)
    summary = result.stderr.strip().splitlines()[-1]
    # as the local engine counts: 2 bad lines and 4 shards that failed whole
    told = (
        rf"\(new, spark engine\): 5 shards \(0 done before\), 12 records, .* s, {len(found)} matches this time "
        rf"\({len(found)} in the run\), 6 failures \(4 of whole shards\); partial: rerun the same command to resume$"
    )
    assert re.search(told, summary), summary
    scan_id = summary.removeprefix("run ").split(" ")[0]
    with IndexStore.open(index, read_only=True) as store:
        stored = store.con.execute(
            "SELECT location, reason FROM scan_failures WHERE scan_id = ? ORDER BY location", [scan_id]
        ).fetchall()
        shards = dict(
            store.con.execute("SELECT shard, status FROM scan_shards WHERE scan_id = ?", [scan_id]).fetchall()
        )
    cut, nocolumn, arrow = (str(faults / name) for name in ("cut.jsonl.gz", "nocolumn.parquet", "saved.arrow"))
    assert stored == sorted(
        [
            *((f.source, f.reason) for f in failures),  # the bad lines and the JSON array, worded as locally
            (cut, "cannot read on: Unexpected end of input stream"),
            (nocolumn, "no column 'text' (columns: id, body); check --field"),
            (
                arrow,
                "Arrow IPC files are read by the local engine only: convert to Parquet, or scan with --engine local",
            ),
        ]
    )
    assert shards == {str(good): "done"} | {str(faults / n): "failed" for n in ("array.json", "cut.jsonl.gz")} | {
        nocolumn: "failed",
        arrow: "failed",
    }
    again = CliRunner().invoke(app, args)  # the unreadable shards are tried again, the good one is not
    assert again.exit_code == 3, again.output
    assert [json.loads(line) for line in again.stdout.splitlines()] == found  # the run's matches, all of them
    told = (
        rf"^run {scan_id} \(resumed, spark engine\): 5 shards \(1 done before\), 0 records, .* s, 0 matches this "
        rf"time \({len(found)} in the run\), 4 failures \(4 of whole shards\); partial: rerun the same command"
    )
    assert re.search(told, again.stderr.strip().splitlines()[-1])  # the same scan, resumed


def test_the_index_is_exported_as_parquet_tables(corpus, tmp_path):
    index, _, _ = corpus
    export = export_index(index, tmp_path / "staging")
    bands = pq.read_table(export.bands)
    assert bands.column_names == ["key", "work_id", "token_start", "token_end"]
    with IndexStore.open(index, read_only=True) as store:
        (n_bands,) = store.con.execute("SELECT count(*) FROM bands").fetchone()
        (n_uncommon,) = store.con.execute(
            "SELECT count(*) FROM anchors a ANTI JOIN common_anchors c ON c.key = a.key"
        ).fetchone()
        assert export.digest == store.state().digest
    assert bands.num_rows == n_bands > 0
    assert pq.read_table(export.anchors).num_rows == n_uncommon > 0
    works = pq.read_table(export.works).to_pylist()
    assert sorted(w["work_id"] for w in works) == [1, 2, 3, 4]
    assert sum(1 for w in works if w["common_positions"]) == 3
    assert next(w for w in works if w["kind"] == "youtube")["cues"]
    assert (tmp_path / "staging" / "params.json").read_text().strip() == export.params.to_json()


def test_an_executor_that_fingerprints_differently_is_refused():
    params = IndexParams().to_json()
    assert fingerprinter(params, Fingerprinter(IndexParams()).check_value()).params == IndexParams()
    with pytest.raises(IndexParametersError, match="differ from the driver"):
        fingerprinter(params, "another machine's check value")


@pytest.mark.parametrize(
    ("source", "url"),
    [
        ("s3://bucket/data/", True),
        ("dbfs:/datasets/x", True),
        ("file:///data/x", True),
        ("/data/x", False),
        ("data/*.jsonl", False),
        ("C:/data/train.jsonl", False),
    ],
)
def test_which_sources_spark_lists(source, url):
    assert is_url(source) is url


def test_listed_files_are_named_as_the_local_engine_names_them():
    assert _local_name("file:/data/a b/x.jsonl") == "/data/a b/x.jsonl"
    assert _local_name("file:///data/x.jsonl") == "/data/x.jsonl"
    assert _local_name("s3a://bucket/x.jsonl") == "s3a://bucket/x.jsonl"
    assert _spark_path("/data/train [1]/*.jsonl") == "/data/train \\[1\\]/\\*.jsonl"


def test_a_spark_error_is_told_by_its_root_cause():
    java = (
        "An error occurred while calling o49.count.\n: org.apache.spark.SparkException: [FAILED_READ_FILE.NO_HINT] "
        "Encountered error while reading file file:///x.gz.\n\tat org.apache.Foo(Foo.scala:1)\n"
        "Caused by: java.io.IOException: outer\nCaused by: java.io.EOFException: Unexpected end of input stream\n"
    )
    assert _reason(RuntimeError(java)) == "Unexpected end of input stream"
    shards = [Shard(path, "jsonl", "gzip", 1, 1) for path in ("/x.gz", "/data/a b [1].jsonl.gz")]
    assert _unreadable(RuntimeError(java), shards) is shards[0]  # the file it names: the others are scanned again
    named = java.replace("file:///x.gz", "file:///data/a%20b%20%5B1%5D.jsonl.gz")
    assert _unreadable(RuntimeError(named), shards) is shards[1]
    assert _unreadable(RuntimeError("Python worker exited unexpectedly"), shards) is None
    python = "Traceback (most recent call last):\n  File x, line 1\nRuntimeError: /x.csv was split between tasks\n"
    assert _reason(RuntimeError(python)) == "RuntimeError: /x.csv was split between tasks"


def test_a_marker_cut_short_reads_as_no_marker(tmp_path):
    whole, cut = tmp_path / "part-00000.json", tmp_path / "part-00001.json"
    whole.write_text('{"shard": "/data/a.jsonl", "status": "done", "group": "g1", "size": 3}\n')
    cut.write_text('{"shard": "/data/b.jsonl", "status": "do')
    (row,) = _json_rows(str(whole))
    assert [row[k] for k in ("shard", "status", "group", "size", "error")] == ["/data/a.jsonl", "done", "g1", 3, None]
    assert _json_rows(str(cut)) == []


def test_a_shard_without_rows_reads_as_none(tmp_path):
    assert read_matches(tmp_path / "matches.parquet" / "shard_key=k") == []  # Spark writes no empty partition
    assert read_failures(tmp_path / "failures.parquet" / "shard_key=k", limit=10) == []
