"""The CLI over the scale features: catalogs, dataset scans with resume, takedowns and compaction."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from provenance.cli import app

runner = CliRunner()
WORK = " ".join(f"harbour{i} lantern{i % 7} tide{i % 13}" for i in range(120))
QUOTE = " ".join(WORK.split()[30:90])


def invoke(*args, input=None):  # noqa: A002 - CliRunner's name
    return runner.invoke(app, list(args), input=input)


@pytest.mark.parametrize("jobs", ["1", "4"])
def test_catalog_rows_carry_rights_data_and_bad_rows_are_named(tmp_path, jobs):
    (tmp_path / "a.txt").write_text(WORK, encoding="utf-8")
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(
        "source,creator,rights_holder,licence,org_id\n"
        "a.txt,Ada Writer,Harbour Press,CC-BY-4.0,HP-1\n"
        "missing.txt,Bo Writer,Harbour Press,CC-BY-4.0,HP-2\n"
        ",No Source,Harbour Press,CC-BY-4.0,HP-3\n",
        encoding="utf-8",
    )
    index = tmp_path / "i.duckdb"
    result = invoke("add", "--catalog", str(catalog), "--index", str(index), "--jobs", jobs)
    assert result.exit_code == 3, result.output
    assert "missing.txt" in result.stderr
    assert "catalog.csv:3" in result.stderr
    assert "catalog.csv:4: missing source" in result.stderr
    assert "catalog: 3 rows in " in result.stderr
    assert "1 added, 2 failed" in result.stderr
    sql = invoke(
        "sql", "SELECT creator, rights_holder, org_id, licence FROM works", "--index", str(index), "-f", "json"
    )
    assert json.loads(sql.stdout) == [
        {"creator": "Ada Writer", "rights_holder": "Harbour Press", "org_id": "HP-1", "licence": "CC-BY-4.0"}
    ]
    again = invoke("add", "--catalog", str(catalog), "--index", str(index))
    assert "1 unchanged" in again.stderr


def test_jobs_must_be_at_least_one(tmp_path):
    catalog = tmp_path / "catalog.csv"
    catalog.write_text("source,creator,rights_holder,licence,org_id\n")
    result = invoke("add", "--catalog", str(catalog), "--index", str(tmp_path / "i.duckdb"), "--jobs", "0")
    assert result.exit_code == 2
    assert "--jobs" in result.stderr


def test_a_parquet_dataset_is_scanned_resumed_and_reported_per_record(tmp_path):
    (tmp_path / "w.txt").write_text(WORK, encoding="utf-8")
    index = tmp_path / "i.duckdb"
    assert invoke("add", str(tmp_path / "w.txt"), "--index", str(index)).exit_code == 0
    data = tmp_path / "data"
    data.mkdir()
    for shard in range(2):
        texts = [f"record {shard}-{i} says nothing much at all" for i in range(5)]
        texts[2] = f"Quoted: {QUOTE}"
        table = pa.table({"id": [f"{shard}-{i}" for i in range(5)], "content": texts})
        pq.write_table(table, data / f"train-{shard:05d}-of-00002.parquet")
    args = ("audit", str(data), "--index", str(index), "--field", "content", "--id-field", "id", "--json")
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    found = [json.loads(line) for line in first.stdout.splitlines()]
    assert sorted(m["record_id"] for m in found) == ["0-2", "1-2"]
    assert all(m["scanned"].endswith(f"#{m['record_id']}") for m in found)
    assert "2 shards (0 done before)" in first.stderr
    again = invoke(*args)  # the same scan again: its stored result, not "No matches."
    assert again.exit_code == 0, again.output
    assert "was finished before" in again.stderr
    assert [json.loads(line) for line in again.stdout.splitlines()] == found
    listed = invoke("audits", "--index", str(index), "--json")
    (run,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (run["kind"], run["state"], run["matches"]) == ("dataset", "finished", 2)
    report = invoke("report", "--index", str(index), "--format", "json")
    assert report.exit_code == 0, report.output
    assert len(json.loads(report.stdout)["matches"]) == 2


def test_remove_and_compact(tmp_path):
    works = tmp_path / "works"
    works.mkdir()
    (works / "a.txt").write_text(WORK, encoding="utf-8")
    (works / "b.txt").write_text(WORK.replace("harbour", "meadow"), encoding="utf-8")
    index = tmp_path / "i.duckdb"
    assert invoke("add", str(works), "--index", str(index)).exit_code == 0
    assert invoke("remove", "--index", str(index)).exit_code == 2
    removed = invoke("remove", "--source-prefix", str(works / "a"), "--index", str(index))
    assert removed.exit_code == 0, removed.output
    assert "removed 1 work; 1 work left" in removed.stderr
    assert invoke("audit", "-", "--index", str(index), "--json", "--no-record", input=QUOTE).stdout == ""
    compacted = invoke("compact", "--rewrite", "--index", str(index))
    assert compacted.exit_code == 0, compacted.output
    assert "compacted" in compacted.stderr
    listed = invoke("works", "--index", str(index), "--json")
    assert [json.loads(line)["source"] for line in listed.stdout.splitlines()] == [str(works / "b.txt")]


def test_catalog_failures_are_recorded_in_the_index_and_cleared_when_fixed(tmp_path):
    (tmp_path / "a.txt").write_text(WORK, encoding="utf-8")
    catalog = tmp_path / "catalog.jsonl"
    rows = [
        {"source": "a.txt", "creator": "Ada", "rights_holder": "HP", "licence": "CC-BY-4.0", "org_id": "1"},
        {"source": "b.txt", "creator": "Bo", "rights_holder": "HP", "licence": "CC-BY-4.0", "org_id": "2"},
    ]
    catalog.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    index = tmp_path / "i.duckdb"
    assert invoke("add", "--catalog", str(catalog), "--index", str(index)).exit_code == 3
    failures = invoke("sql", "SELECT location FROM main.catalog_failures", "--index", str(index), "--format", "json")
    assert [r["location"] for r in json.loads(failures.stdout)] == [f"{catalog}:2"]
    (tmp_path / "b.txt").write_text(WORK.replace("harbour", "meadow"), encoding="utf-8")
    assert invoke("add", "--catalog", str(catalog), "--index", str(index)).exit_code == 0
    failures = invoke(
        "sql", "SELECT count(*) AS n FROM main.catalog_failures", "--index", str(index), "--format", "json"
    )
    assert json.loads(failures.stdout) == [{"n": 0}]


def catalog_index(tmp_path):
    """An index of two works from a catalog, of two creators and two rights holders, and one plain work."""
    (tmp_path / "a.txt").write_text(WORK, encoding="utf-8")
    (tmp_path / "b.txt").write_text(WORK.replace("harbour", "meadow"), encoding="utf-8")
    (tmp_path / "c.txt").write_text(WORK.replace("harbour", "orchard"), encoding="utf-8")
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(
        "source,creator,rights_holder,licence,org_id\n"
        "a.txt,Ada Writer,Harbour Press,CC-BY-4.0,HP-1\n"
        "b.txt,Bo Writer,Meadow Press,All rights reserved,MP-7\n",
        encoding="utf-8",
    )
    index = tmp_path / "i.duckdb"
    assert invoke("add", "--catalog", str(catalog), str(tmp_path / "c.txt"), "--index", str(index)).exit_code == 0
    return index


def listed(*args):
    result = invoke("works", *args, "--json")
    assert result.exit_code == 0, result.output
    return [(row["title"], row["rights_holder"]) for row in map(json.loads, result.stdout.splitlines())]


def test_works_shows_and_filters_by_rights_holder_and_remove_takes_theirs_down(tmp_path):
    index = catalog_index(tmp_path)
    table = runner.invoke(app, ["works", "--index", str(index)], env={"COLUMNS": "200", "TTY_COMPATIBLE": "1"})
    assert "Rights holder" in table.stdout
    assert "Harbour Press" in table.stdout
    assert listed("--index", str(index)) == [("c", None), ("a", "Harbour Press"), ("b", "Meadow Press")]
    assert listed("--index", str(index), "--rights-holder", "Meadow Press") == [("b", "Meadow Press")]
    assert listed("--index", str(index), "--creator", "Ada Writer") == [("a", "Harbour Press")]
    assert listed("--index", str(index), "--creator", "Ada Writer", "--rights-holder", "Meadow Press") == []
    removed = invoke("remove", "--rights-holder", "Meadow Press", "--index", str(index))
    assert removed.exit_code == 0, removed.output
    assert "removed 1 work; 2 works left" in removed.stderr
    assert listed("--index", str(index)) == [("c", None), ("a", "Harbour Press")]
    meadow = " ".join(WORK.replace("harbour", "meadow").split()[30:90])
    assert invoke("audit", "-", "--index", str(index), "--json", "--no-record", input=meadow).stdout == ""


def test_without_a_catalog_the_works_table_has_no_rights_column(tmp_path):
    (tmp_path / "a.txt").write_text(WORK, encoding="utf-8")
    index = tmp_path / "i.duckdb"
    assert invoke("add", str(tmp_path / "a.txt"), "--index", str(index)).exit_code == 0
    table = runner.invoke(app, ["works", "--index", str(index)], env={"COLUMNS": "200", "TTY_COMPATIBLE": "1"})
    assert table.exit_code == 0, table.output
    assert "Rights holder" not in table.stdout
    assert "Passages" in table.stdout


def test_matches_group_by_rights_holder_in_sql_and_reports_name_it(tmp_path):
    index = catalog_index(tmp_path)
    quotes = tmp_path / "quotes"
    quotes.mkdir()
    for name, word in (("a", "harbour"), ("b", "meadow"), ("b2", "meadow"), ("c", "orchard")):
        (quotes / f"{name}.txt").write_text(" ".join(WORK.replace("harbour", word).split()[30:90]), encoding="utf-8")
    audited = invoke("audit", str(quotes), "--index", str(index), "--json")
    assert audited.exit_code == 0, audited.output
    query = "SELECT rights_holder, org_id, licence, count(*) AS n FROM matches GROUP BY ALL ORDER BY n DESC, 1"
    grouped = invoke("sql", query, "--index", str(index), "-f", "json")
    assert grouped.exit_code == 0, grouped.output
    assert json.loads(grouped.stdout) == [
        {"rights_holder": "Meadow Press", "org_id": "MP-7", "licence": "All rights reserved", "n": 2},
        {"rights_holder": "Harbour Press", "org_id": "HP-1", "licence": "CC-BY-4.0", "n": 1},
        {"rights_holder": None, "org_id": None, "licence": None, "n": 1},
    ]
    query = "SELECT rights_holder, count(*) AS n FROM works GROUP BY 1 ORDER BY 1 NULLS LAST"
    works = invoke("sql", query, "--index", str(index), "-f", "json")
    assert json.loads(works.stdout) == [
        {"rights_holder": "Harbour Press", "n": 1},
        {"rights_holder": "Meadow Press", "n": 1},
        {"rights_holder": None, "n": 1},
    ]
    csv_report = invoke("report", "--format", "csv", "--index", str(index))
    header, *rows = csv_report.stdout.splitlines()
    columns = header.split(",")
    assert columns[columns.index("creator") + 1] == "rights_holder"
    assert sorted(row.split(",")[columns.index("rights_holder")] for row in rows) == [
        "",
        "Harbour Press",
        "Meadow Press",
        "Meadow Press",
    ]
    page = invoke("report", "--format", "html", "--index", str(index)).stdout
    assert "<th>Creator</th><th>Rights holder</th>" in page
    assert "by Bo Writer, rights held by Meadow Press" in page
    works_json = json.loads(invoke("report", "--format", "json", "--index", str(index)).stdout)["works"]
    assert sorted((w["creator"] or "", w["rights_holder"] or "") for w in works_json) == [
        ("", ""),
        ("Ada Writer", "Harbour Press"),
        ("Bo Writer", "Meadow Press"),
    ]


def test_works_streams_plain_rows_in_a_pipe_and_limits_the_table_on_a_terminal(tmp_path):
    folder = tmp_path / "works"
    folder.mkdir()
    for n in range(7):
        (folder / f"w{n}.txt").write_text(WORK.replace("harbour", f"harbour{n}x"), encoding="utf-8")
    index = tmp_path / "i.duckdb"
    assert invoke("add", str(folder), "--index", str(index)).exit_code == 0
    piped = invoke("works", "--index", str(index))
    rows = piped.stdout.splitlines()
    assert rows[0].split("\t")[:3] == ["work_id", "title", "kind"]
    assert len(rows) == 8
    table = runner.invoke(app, ["works", "--index", str(index), "--limit", "3"], env={"TTY_COMPATIBLE": "1"})
    assert table.exit_code == 0, table.output
    assert "showing 3 of 7 works" in table.stderr
