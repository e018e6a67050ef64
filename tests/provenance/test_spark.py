"""The Spark engine finds exactly what the local engine finds, on the same index and records."""

from __future__ import annotations

import os
import random
import shutil
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors import sha256_hex
from indexes import Fingerprinter, IndexParametersError, IndexParams, IndexStore, NewWork
from provenance.audit import AuditOptions, Auditor
from provenance.inputs import ScanItem

if shutil.which("java") is None:
    pytest.skip(
        "no Java runtime on PATH: Spark needs Java 17+ (apt-get install default-jre-headless)", allow_module_level=True
    )
pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'provenance-audit[spark]')")

from typing import TYPE_CHECKING

from provenance.spark import _session, export_index, fingerprinter, read_matches, scan_with_spark

if TYPE_CHECKING:
    from pathlib import Path

SYLLABLES = ["ka", "lo", "mi", "ren", "tu", "sa", "ve", "dor", "pi", "na", "qua", "el", "bri", "sto", "fen", "ju"]
BOILERPLATE = (
    "Thanks for reading this far, and if you enjoyed it please share it with a friend, subscribe to the "
    "newsletter for more, and leave a comment below telling me what you would like to read about next time."
)


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
    """An index of four works (a web page with consent signals, a transcript with cues) and a dataset."""
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
    return index, dataset


@pytest.fixture
def spark():
    """A local session started by the caller; ``scan_with_spark`` uses it and leaves it running."""
    session = _session("local[2]")
    yield session
    session.stop()


def local_matches(index: Path, dataset: Path, id_field: str | None, options: AuditOptions):
    items = []
    for path in sorted(dataset.glob("*.parquet")):
        table = pq.read_table(path)
        for row, record in enumerate(table.to_pylist()):
            if not record["text"].strip():
                continue
            rid = str(record[id_field]) if id_field else str(row)
            scanned = f"{os.path.abspath(path)}#{rid}"  # noqa: PTH100 - as the dataset reader names shards
            items.append(ScanItem(record["text"], scanned, sha256_hex(record["text"].encode()), record_id=rid))
    with IndexStore.open(index, read_only=True) as store:
        return [m for _, found in Auditor(store, options).audit(items) for m in found]


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
    index, dataset = corpus
    out = scan_with_spark(index, str(dataset / "*.parquet"), id_field="id", out_dir=tmp_path, master="local[2]")
    expected = local_matches(index, dataset, "id", AuditOptions())
    assert_same(read_matches(out), expected)
    assert {m.record_id for m in expected} >= {"r0-0", "r1-0"}
    from pyspark.sql import SparkSession  # noqa: PLC0415 - imported only where pyspark is

    assert SparkSession.getActiveSession() is None  # the session it started is stopped


def test_spark_names_records_by_row_and_runs_in_a_session_it_is_handed(corpus, spark, tmp_path):
    index, dataset = corpus
    options = AuditOptions(min_words=20, scan_stride=3)
    staging = tmp_path / "staged"
    out = scan_with_spark(  # a folder, row numbers, the index read from where it was staged, as a URL
        index, str(dataset), out_dir=tmp_path, options=options, staging=staging, staging_url=staging.as_uri()
    )
    assert not (tmp_path / "index").exists()
    found = read_matches(out)
    assert_same(found, local_matches(index, dataset, None, options))
    assert all(m.scanned == f"{dataset / 'part-'}{m.scanned.split('part-')[1]}" for m in found)
    assert any(m.verbatim_words == 25 for m in found)  # the short quotes, found at --min-words 20
    assert not spark.sparkContext._jsc.sc().isStopped()  # a session it was handed is left running


def test_the_index_is_exported_as_parquet_tables(corpus, tmp_path):
    index, _ = corpus
    export = export_index(index, tmp_path / "staging")
    bands = pq.read_table(export.bands)
    assert bands.column_names == ["key", "work_id", "token_start", "token_end"]
    with IndexStore.open(index, read_only=True) as store:
        (n_bands,) = store.con.execute("SELECT count(*) FROM bands").fetchone()
        (n_uncommon,) = store.con.execute(
            "SELECT count(*) FROM anchors a ANTI JOIN common_anchors c ON c.key = a.key"
        ).fetchone()
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


def test_the_cli_runs_a_scan_on_spark(corpus, tmp_path):
    import json  # noqa: PLC0415 - this test only

    from typer.testing import CliRunner  # noqa: PLC0415 - this test only

    from provenance.cli import app  # noqa: PLC0415 - this test only

    index, dataset = corpus
    args = ["audit", str(dataset / "*.parquet"), "--engine", "spark", "--spark-master", "local[2]"]
    args += ["--id-field", "id", "--index", str(index), "--spark-out", str(tmp_path), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    found = [json.loads(line) for line in result.stdout.splitlines()]
    expected = local_matches(index, dataset, "id", AuditOptions())
    assert sorted((m["record_id"], m["work_id"], tuple(m["work_span"])) for m in found) == sorted(
        (m.record_id, m.work_id, m.work_span) for m in expected
    )
    assert "matches.parquet" in result.stderr
    scan_id = result.stderr.split("stored as scan ", 1)[1].split()[0]
    from provenance.scan import stored_matches  # noqa: PLC0415 - this test only

    with IndexStore.open(index, read_only=True) as store:
        stored = list(stored_matches(store, scan_id))
    assert sorted(key(m) for m in stored) == sorted(key(m) for m in expected)
