"""Read-only SQL over the documented views, their Parquet export, and the README's example queries."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shlex
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from provenance.sql import EXPORTED_VIEWS

README = Path(__file__).resolve().parents[2] / "README.md"
REQUIRED = {
    "works": {"work_id", "source", "title", "creator", "kind", "retrieved_at", "content_sha256"},
    "passages": {"passage_id", "work_id", "char_start", "char_end"},
    "consent": {"work_id", "status", "summary", "snapshot"},
    "audits": {"audit_id", "started_at", "finished_at", "tool_version", "index_digest", "manifest_sha256"},
    "audit_inputs": {"audit_id", "scanned", "kind", "sha256", "source_sha256"},
    "matches": {
        "audit_id",
        "work_id",
        "scanned",
        "record_id",
        "score",
        "estimated_similarity",
        "containment",
        "verbatim_words",
        "scanned_start",
        "scanned_end",
        "work_start",
        "work_end",
    },
}


def test_views_are_in_the_file_for_any_duckdb_client(audited):
    con = duckdb.connect()
    con.execute(f"ATTACH '{audited.index}' AS idx (READ_ONLY)")
    for view, columns in REQUIRED.items():
        described = {r[0] for r in con.execute(f"DESCRIBE idx.research.{view}").fetchall()}
        assert columns <= described, view
    assert con.execute("SELECT count(*) FROM idx.research.matches").fetchone() == (4,)
    comments = dict(
        con.execute("SELECT view_name, comment FROM duckdb_views() WHERE schema_name = 'research'").fetchall()
    )
    assert set(comments) == set(EXPORTED_VIEWS)
    assert all(comments.values())
    con.close()


def test_sql_prints_a_table(audited):
    result = audited.run("sql", "SELECT title, score FROM matches ORDER BY match_no")
    assert result.exit_code == 0, result.output
    assert "title" in result.stdout
    assert "harbour" in result.stdout
    assert "4 rows" in result.stderr


def test_sql_json_is_a_list_of_objects_keyed_by_column(audited):
    query = "SELECT m.audit_id, a.started_at, m.score FROM matches m JOIN audits a USING (audit_id) ORDER BY match_no"
    result = audited.run("sql", query, "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert isinstance(rows, list)
    assert len(rows) == 4
    assert list(rows[0]) == ["audit_id", "started_at", "score"]
    assert rows[0]["audit_id"] == audited.audit_id
    assert rows[0]["started_at"].startswith(audited.audit_id[:4])
    assert isinstance(rows[0]["score"], float)


def test_sql_jsonl_and_csv(audited):
    jsonl = audited.run("sql", "SELECT work_id, title, retrieved_at FROM works ORDER BY work_id", "--format", "jsonl")
    lines = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert [r["title"] for r in lines] == ["harbour", "keeper"]
    assert lines[0]["retrieved_at"].endswith("+00:00")
    table = audited.run("sql", "SELECT work_id, title FROM works ORDER BY work_id", "--format", "csv")
    assert list(csv.reader(io.StringIO(table.stdout))) == [["work_id", "title"], ["1", "harbour"], ["2", "keeper"]]


def test_limit_cuts_rows_and_says_so(audited):
    result = audited.run("sql", "SELECT * FROM passages", "--format", "jsonl", "--limit", "2")
    assert len(result.stdout.splitlines()) == 2
    assert "showing the first 2 rows" in result.stderr
    everything = audited.run("sql", "SELECT * FROM passages", "--format", "jsonl", "--limit", "0")
    assert len(everything.stdout.splitlines()) > 2
    assert "showing" not in everything.stderr


def test_internal_tables_stay_reachable_by_their_schema(audited):
    result = audited.run("sql", "SELECT count(*) AS n FROM main.bands", "--format", "json")
    assert json.loads(result.stdout)[0]["n"] > 0


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("INSERT INTO works SELECT * FROM works", "INSERT"),
        ("DELETE FROM main.works", "DELETE"),
        ("COPY main.works TO 'stolen.csv'", "COPY"),
        ("ATTACH 'other.duckdb' AS other", "ATTACH"),
        ("SET threads = 1", "SET"),
        ("CREATE TABLE t AS SELECT 1", "CREATE"),
        ("INSTALL httpfs", "LOAD"),
        ("EXPLAIN ANALYZE COPY main.works TO 'stolen.csv'", "EXPLAIN"),
    ],
)
def test_statements_that_write_are_refused(audited, tmp_path, monkeypatch, query, kind):
    monkeypatch.chdir(tmp_path)
    before = hashlib.sha256(audited.index.read_bytes()).hexdigest()
    result = audited.run("sql", query)
    assert result.exit_code == 7
    assert f"refused: {kind} statements" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert hashlib.sha256(audited.index.read_bytes()).hexdigest() == before
    assert not (tmp_path / "stolen.csv").exists()
    assert not (tmp_path / "other.duckdb").exists()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELEC 1", "Parser Error"),
        ("SELECT 1; SELECT 2", "one SQL statement at a time"),
        ("SELECT * FROM no_such_view", "no_such_view"),
    ],
)
def test_bad_queries_exit_7_in_one_line(audited, query, message):
    result = audited.run("sql", query)
    assert result.exit_code == 7
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_sql_without_a_query_prints_the_views(audited):
    result = audited.run("sql")
    assert result.exit_code == 0
    for view in EXPORTED_VIEWS:
        assert f"research.{view}" in result.stdout
    assert "content_sha256" in result.stdout
    assert "SHA-256 of the raw" in result.stdout


def test_sql_on_a_missing_index_is_an_index_error(tmp_path, invoke):
    result = invoke("sql", "SELECT 1", "--index", str(tmp_path / "none.duckdb"))
    assert result.exit_code == 4


def test_export_writes_parquet_that_other_readers_open(audited, tmp_path):
    out = tmp_path / "tables"
    result = audited.run("export", str(out))
    assert result.exit_code == 0, result.output
    for view in EXPORTED_VIEWS:
        assert (out / f"{view}.parquet").is_file(), view
    matches = pq.read_table(out / "matches.parquet")
    assert matches.num_rows == 4
    assert REQUIRED["matches"] <= set(matches.column_names)
    con = duckdb.connect()
    (count,) = con.execute(f"SELECT count(*) FROM read_parquet('{out / 'works.parquet'}')").fetchone()
    con.close()
    assert count == 2
    schema = json.loads((out / "schema.json").read_text(encoding="utf-8"))
    assert schema["matches"]["file"] == "matches.parquet"
    assert any(c["name"] == "score" and c["description"] for c in schema["matches"]["columns"])


def readme_queries() -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## For researchers", 1)[1].split("\n## ", 1)[0]
    return [shlex.split(line)[1:] for line in re.findall(r"^provenance sql .*$", section, flags=re.MULTILINE)]


def test_the_readme_has_the_three_example_queries():
    assert len(readme_queries()) == 3


@pytest.mark.parametrize("args", readme_queries())
def test_readme_queries_run(audited, args):
    result = audited.run(*args)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip()
