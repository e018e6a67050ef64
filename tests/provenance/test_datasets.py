import gzip
import json
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from provenance.datasets import (
    GIVE_UP_AFTER,
    DatasetOptions,
    ReadProgress,
    Shard,
    ShardFailure,
    dataset_format,
    find_shards,
    looks_like_dataset,
    read_datasets,
    read_shard,
)
from provenance.inputs import InputFailure, ScanItem

ROOT = Path(__file__).resolve().parents[2]
MB = 1 << 20


def items(sources, **options):
    return list(read_datasets([str(s) for s in sources], DatasetOptions(**options)))


def good(found):
    return [(i.scanned, i.record_id, i.text) for i in found if isinstance(i, ScanItem)]


def bad(found):
    return [(f.source, f.reason) for f in found if isinstance(f, InputFailure)]


def compress(path: Path, how: str) -> Path:
    data = path.read_bytes()
    if how == "gz":
        out = path.with_name(path.name + ".gz")
        out.write_bytes(gzip.compress(data))
    else:
        out = path.with_name(path.name + ".zst")
        out.write_bytes(pa.Codec("zstd").compress(data, asbytes=True))
    path.unlink()
    return out


@pytest.fixture
def hf_dataset(tmp_path):
    """The layout of a downloaded Hugging Face dataset: a card, .gitattributes, a cache, Parquet shards."""
    root = tmp_path / "my-dataset"
    (root / "data").mkdir(parents=True)
    (root / ".cache" / "huggingface").mkdir(parents=True)
    (root / ".cache" / "huggingface" / "x.parquet.lock").write_text("")
    (root / ".cache" / "huggingface" / "stale.parquet").write_bytes(b"not parquet")
    (root / "README.md").write_text("---\nlicense: mit\n---\n# card\n")
    (root / ".gitattributes").write_text("*.parquet filter=lfs\n")
    for shard in range(2):
        texts = [f"shard {shard} record {r} says something" for r in range(3)]
        table = pa.table({"id": [f"s{shard}-{r}" for r in range(3)], "text": texts, "n": [1, 2, 3]})
        pq.write_table(table, root / "data" / f"train-{shard:05d}-of-00002.parquet", row_group_size=2)
    return root


def test_a_hugging_face_download_reads_as_its_shards_in_order(hf_dataset):
    shards = [s for s in find_shards([str(hf_dataset)]) if isinstance(s, Shard)]
    assert [Path(s.path).name for s in shards] == ["train-00000-of-00002.parquet", "train-00001-of-00002.parquet"]
    found = items([hf_dataset], id_field="id")
    assert bad(found) == []
    first = shards[0].path
    assert good(found)[:2] == [
        (f"{first}#s0-0", "s0-0", "shard 0 record 0 says something"),
        (f"{first}#s0-1", "s0-1", "shard 0 record 1 says something"),
    ]
    assert len(good(found)) == 6
    assert looks_like_dataset(str(hf_dataset))


def test_record_ids_default_to_the_line_or_row_number_in_the_shard(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "first"}\n\n{"text": "second"}\n{"nope": 1}\n{"text": "fourth"}\n')
    (tmp_path / "b.csv").write_text("text\nfirst\nsecond\n")
    pq.write_table(pa.table({"text": ["first", "second"]}), tmp_path / "c.parquet")
    found = items([tmp_path])
    ids = [(Path(s).name, rid) for s, rid, _ in good(found)]
    # JSON Lines records are named by their line (1-based, as failures are: a.jsonl:4), as `audit FILE.jsonl`
    # names them; CSV and Parquet records by their row (0-based, every record counted, bad ones too).
    assert ids == [
        ("a.jsonl#1", "1"),
        ("a.jsonl#3", "3"),
        ("a.jsonl#5", "5"),
        ("b.csv#0", "0"),
        ("b.csv#1", "1"),
        ("c.parquet#0", "0"),
        ("c.parquet#1", "1"),
    ]
    assert bad(found) == [(f"{tmp_path / 'a.jsonl'}:4", "field 'text' is missing")]


@pytest.mark.parametrize("how", ["plain", "gz", "zst"])
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_plain_gzip_and_zstd_shards_read_alike(tmp_path, fmt, how):
    path = tmp_path / f"part-0.{fmt}"
    rows = [{"id": f"r{i}", "text": f"text number {i}, with a comma"} for i in range(50)]
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        path.write_text("id,text\n" + "".join(f'{r["id"]},"{r["text"]}"\n' for r in rows))
    if how != "plain":
        path = compress(path, how)
    progress = ReadProgress()
    found = list(read_datasets([str(path)], DatasetOptions(id_field="id"), progress))
    assert [(rid, text) for _, rid, text in good(found)] == [(r["id"], r["text"]) for r in rows]
    assert progress.bytes_read == path.stat().st_size
    assert progress.records == 50
    assert progress.text_bytes == sum(len(r["text"]) for r in rows)


def test_globs_pick_shards_and_say_when_nothing_matches(tmp_path):
    for split in ("train", "test"):
        (tmp_path / split).mkdir()
        for n in range(2):
            (tmp_path / split / f"{n}.jsonl.gz").write_bytes(gzip.compress(b'{"text": "hello"}\n'))
    (tmp_path / "train" / "notes.txt").write_text("not a shard")
    found = list(find_shards([f"{tmp_path}/**/train/*", f"{tmp_path}/nothing-*.parquet"]))
    assert [Path(s.path).relative_to(tmp_path).as_posix() for s in found if isinstance(s, Shard)] == [
        "train/0.jsonl.gz",
        "train/1.jsonl.gz",
    ]
    assert [(f.source, f.reason) for f in found if isinstance(f, InputFailure)] == [
        (f"{tmp_path}/nothing-*.parquet", "no files match this pattern")
    ]


def test_named_inputs_that_are_not_datasets_are_failures(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "empty").mkdir()
    found = list(find_shards([str(tmp_path / "notes.txt"), str(tmp_path / "empty"), str(tmp_path / "gone.parquet")]))
    reasons = [f.reason for f in found if isinstance(f, InputFailure)]
    assert reasons[0].startswith("not a dataset file")
    assert reasons[1].startswith("no dataset files here")
    assert reasons[2] == "no such file or folder"


def test_format_by_name():
    assert dataset_format("a/train-00000-of-00002.parquet") == ("parquet", None)
    assert dataset_format("c4-train.00000-of-01024.json.gz") == ("jsonl", "gzip")
    assert dataset_format("x.CSV.ZST") == ("csv", "zstd")
    assert dataset_format("x.parquet.gz") is None  # Parquet compresses inside
    assert dataset_format("notes.txt") is None
    assert dataset_format("notes.txt", "jsonl") == ("jsonl", None)


def test_what_counts_as_a_dataset(tmp_path, hf_dataset):
    assert looks_like_dataset(str(hf_dataset))
    assert looks_like_dataset(f"{hf_dataset}/data/*.parquet")
    assert not looks_like_dataset(str(ROOT / "examples" / "outputs"))  # text files beside a JSONL file
    assert not looks_like_dataset(str(ROOT / "examples" / "outputs" / "answer-bees.txt"))
    assert not looks_like_dataset(str(tmp_path / "missing"))


def test_malformed_json_lines_are_reported_with_file_and_line_and_skipped(tmp_path):
    path = tmp_path / "bad.jsonl"
    lines = [
        b'{"id": 1, "text": "good one"}',
        b'{"id": 2, "text": "unterminated',
        b'{"id": 3}',
        b'{"id": 4, "text": 42}',
        b'{"id": 5, "text": null}',
        b'{"id": 6, "text": ["a", "list"]}',
        b'{"id": 7, "text": "caf\xe9 latin-1"}',
        b'["not", "an", "object"]',
        b'{"text": "no id"}',
        b'{"id": {"a": 1}, "text": "object id"}',
        b'{"id": 11, "text": "   "}',
        b'{"id": 12, "text": "good two"}',
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    progress = ReadProgress()
    found = list(read_datasets([str(path)], DatasetOptions(id_field="id"), progress))
    assert [(rid, text) for _, rid, text in good(found)] == [("1", "good one"), ("12", "good two")]
    p = str(path)
    assert bad(found) == [
        (f"{p}:2", "invalid JSON (Unterminated string starting at)"),
        (f"{p}:3", "field 'text' is missing"),
        (f"{p}:4", "field 'text' is not text (int)"),
        (f"{p}:5", "field 'text' is null"),
        (f"{p}:6", "field 'text' is not text (list)"),
        (f"{p}:7", "line is not valid UTF-8"),
        (f"{p}:8", "record is not a JSON object (list)"),
        (f"{p}:9", "id field 'id' is missing"),
        (f"{p}:10", "id field 'id' is not a scalar"),
    ]
    assert (progress.records, progress.failures, progress.empty) == (12, 9, 1)


def test_a_wrong_field_name_is_one_failure_for_the_shard_not_one_per_record(tmp_path):
    path = tmp_path / "c4.jsonl"
    path.write_text("".join(json.dumps({"content": f"record {i}"}) + "\n" for i in range(GIVE_UP_AFTER * 5)))
    found = items([path])
    assert len(found) == GIVE_UP_AFTER
    assert isinstance(found[-1], ShardFailure)
    assert found[-1].reason == f"none of the first {GIVE_UP_AFTER} records has the field 'text'; check --field"


def test_a_json_array_is_not_taken_for_json_lines(tmp_path):
    (tmp_path / "data.json").write_text('[{"text": "a"},\n {"text": "b"}]\n')
    (found,) = items([tmp_path / "data.json"])
    assert isinstance(found, ShardFailure)
    assert "JSON array" in found.reason


def test_a_100_mb_record_is_reported_and_skipped_in_bounded_memory(tmp_path):
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as out:
        out.write(b'{"id": "a", "text": "before"}\n')
        out.write(b'{"id": "big", "text": "')
        block = b"word " * (MB // 5)
        for _ in range(100):
            out.write(block)
        out.write(b'"}\n{"id": "b", "text": "after"}\n')
    tracemalloc.start()
    try:
        found = items([path], id_field="id")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [rid for _, rid, _ in good(found)] == ["a", "b"]
    ((where, reason),) = bad(found)
    assert where == f"{path}:2"
    assert reason == "record of 100.0 MiB is over the limit of 16.0 MiB; skipped"
    assert peak < 40 * MB  # one chunk and at most one record of the limit, never the 100 MB line


def test_a_100_mb_csv_field_spanning_lines_is_skipped_and_the_next_record_reads(tmp_path):
    path = tmp_path / "huge.csv.gz"
    line = b'a line of a very long quoted field, with ""quotes"" inside ' * 16 + b"\n"
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write(b'id,text\n1,"short one"\n2,"')
        for _ in range(100 * MB // len(line) + 1):
            out.write(line)
        out.write(b'end"\n3,"after, the big one"\n')
    progress = ReadProgress()
    found = list(read_datasets([str(path)], DatasetOptions(id_field="id"), progress))
    assert [(rid, text) for _, rid, text in good(found)] == [("1", "short one"), ("3", "after, the big one")]
    ((where, reason),) = bad(found)
    assert where == f"{path}:3"
    assert reason.startswith("record of 100.0 MiB is over the limit")
    assert progress.bytes_read == path.stat().st_size


def test_parquet_values_over_the_limit_and_of_the_wrong_kind(tmp_path):
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"text": ["ok", "x" * 5000, None, "fine"], "id": ["a", "b", "c", None]}), path)
    found = items([path], id_field="id", max_record_bytes=1000)
    assert [rid for _, rid, _ in good(found)] == ["a"]
    assert bad(found) == [
        (f"{path}#1", "record of 4.9 KiB is over the limit of 1000 bytes; skipped"),
        (f"{path}#2", "field 'text' is null"),
        (f"{path}#3", "id field 'id' is null"),
    ]
    numbers = tmp_path / "n.parquet"
    pq.write_table(pa.table({"text": [1, 2]}), numbers)
    (failure,) = items([numbers])
    assert isinstance(failure, ShardFailure)
    assert failure.reason == "column 'text' holds int64, not text"
    (failure,) = items([numbers], field="body")
    assert failure.reason == "no column 'body' (columns: text); check --field"


def test_binary_columns_are_decoded_as_utf8_per_value(tmp_path):
    path = tmp_path / "b.parquet"
    pq.write_table(pa.table({"text": pa.array([b"caf\xc3\xa9", b"caf\xe9"], pa.binary())}), path)
    found = items([path])
    assert [text for _, _, text in good(found)] == ["café"]
    assert bad(found) == [(f"{path}#1", "field 'text' is not valid UTF-8")]


def test_big_parquet_files_stream_by_record_batches(tmp_path):
    path = tmp_path / "big.parquet"
    n = 5000
    pq.write_table(pa.table({"text": [f"row {i} " * 20 for i in range(n)]}), path, row_group_size=1000)
    progress = ReadProgress()
    seen = []
    for item in read_shard(next(iter(find_shards([str(path)]))), DatasetOptions(batch_rows=100), progress):
        assert isinstance(item, ScanItem)
        seen.append(progress.bytes_read)
    assert len(seen) == n
    assert 0 < seen[150] < seen[2500] < seen[-1] == path.stat().st_size  # advances batch by batch


def test_arrow_files_as_datasets_save_to_disk_writes_them(tmp_path):
    table = pa.table({"text": ["alpha beta", "gamma delta"], "id": [7, 8]})
    stream = tmp_path / "data-00000-of-00001.arrow"
    with pa.OSFile(str(stream), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    file_format = tmp_path / "other.arrow"
    with pa.OSFile(str(file_format), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    (tmp_path / "dataset_info.json").write_text("{}")
    (tmp_path / "state.json").write_text("{}")
    found = items([tmp_path], id_field="id")
    assert [(Path(s).name, text) for s, _, text in good(found)] == [
        ("data-00000-of-00001.arrow#7", "alpha beta"),
        ("data-00000-of-00001.arrow#8", "gamma delta"),
        ("other.arrow#7", "alpha beta"),
        ("other.arrow#8", "gamma delta"),
    ]


def test_csv_quoting_follows_pythons_csv_module(tmp_path):
    path = tmp_path / "q.csv"
    path.write_bytes(
        b"id,text,extra\r\n"
        b'1,"multi\r\nline, with ""quotes""",x\r\n'
        b'2,a 12" pizza and "more",y\r\n'
        b"3,too,many,fields\r\n"
        b"4,\xff\xfe bytes,z\r\n"
        b'5,"",w\r\n'
        b"6,last,v\r\n"
    )
    found = items([path], id_field="id")
    assert [(rid, text) for _, rid, text in good(found)] == [
        ("1", 'multi\r\nline, with "quotes"'),
        ("2", 'a 12" pizza and "more"'),
        ("6", "last"),
    ]
    assert bad(found) == [(f"{path}:5", "has 4 fields, the header has 3"), (f"{path}:6", "record is not valid UTF-8")]


def test_tsv_and_a_missing_column(tmp_path):
    (tmp_path / "t.tsv").write_text("text\tid\nhello, world\t1\n")
    assert good(items([tmp_path / "t.tsv"], id_field="id")) == [(f"{tmp_path / 't.tsv'}#1", "1", "hello, world")]
    (tmp_path / "u.csv").write_text("body,id\nhello,1\n")
    (failure,) = items([tmp_path / "u.csv"])
    assert isinstance(failure, ShardFailure)
    assert failure.reason == "no column 'text' in the header (columns: body, id); check --field"


def test_an_unclosed_quote_at_the_end_is_reported(tmp_path):
    (tmp_path / "u.csv").write_text('text\nfine\n"never closed\nmore\n')
    found = items([tmp_path / "u.csv"])
    assert [text for _, _, text in good(found)] == ["fine"]
    assert bad(found) == [(f"{tmp_path / 'u.csv'}:3", "a quoted field is not closed before the end of the file")]


def test_a_truncated_gzip_shard_ends_with_a_shard_failure_after_what_was_readable(tmp_path):
    path = tmp_path / "cut.jsonl.gz"
    whole = gzip.compress("".join(json.dumps({"text": f"record {i} " * 50}) + "\n" for i in range(15000)).encode())
    path.write_bytes(whole[: len(whole) // 2])
    found = items([path])
    assert len(good(found)) > 100
    assert isinstance(found[-1], ShardFailure)
    assert found[-1].source.startswith(f"{path}:")
    assert found[-1].reason == "cannot read on: Truncated compressed stream"
