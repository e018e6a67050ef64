"""Hostile input and hostile index files, through the CLI: each hole the red-team pass found stays closed.

Each case is one file or one argument an attacker controls (a query, an index file, a URL a page
claims, an output path); the test says what must not happen and what the user is told instead.
"""

from __future__ import annotations

import csv
import io

import duckdb
import pytest


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM read_csv('/etc/passwd', header = false)",
        "SELECT * FROM glob('/root/*')",
        "SELECT * FROM read_text('/proc/self/environ')",
    ],
)
def test_sql_reads_the_index_and_no_other_file(audited, query):
    result = audited.run("sql", query)
    assert result.exit_code == 7, result.output
    assert "file system operations are disabled" in result.stderr
    assert "root:" not in result.stdout


def test_sql_stops_a_query_that_runs_too_long(audited):
    result = audited.run("sql", "SELECT count(*) FROM range(100000000000) a", "--timeout", "0.5")
    assert result.exit_code == 7, result.output
    assert "stopped after 0.5 s" in result.stderr


def test_sql_csv_defuses_formulas(audited):
    con = duckdb.connect(str(audited.index))
    con.execute("UPDATE works SET title = '=HYPERLINK(\"http://x\")' WHERE work_id = 1")
    con.close()
    result = audited.run("sql", "SELECT title, -1 AS n FROM works ORDER BY work_id", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[1] == ['\'=HYPERLINK("http://x")', "-1"]  # a number stays a number


def test_an_index_with_a_planted_view_is_refused_by_sql_and_export(audited, tmp_path):
    con = duckdb.connect(str(audited.index))
    escape = tmp_path / "outside.csv"
    con.execute(f"""CREATE VIEW research."w) TO '{escape}' (FORMAT csv); --" AS SELECT 1 AS a""")
    con.close()
    for args in (("export", str(tmp_path / "out")), ("sql", "SELECT 1")):
        result = audited.run(*args)
        assert result.exit_code == 4, result.output
        assert "not the ones provenance creates" in result.stderr
    assert not escape.exists()


def test_an_index_whose_view_was_rewritten_is_refused(audited):
    con = duckdb.connect(str(audited.index))
    con.execute("CREATE OR REPLACE VIEW research.works AS SELECT * FROM read_text('/etc/hostname')")
    con.close()
    result = audited.run("sql", "SELECT * FROM works")
    assert result.exit_code == 4
    assert "views changed or missing: works" in result.stderr


def test_export_does_not_write_through_a_planted_symlink(audited, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me", encoding="utf-8")
    (out / "schema.json").symlink_to(victim)
    result = audited.run("export", str(out))
    assert result.exit_code == 8, result.output
    assert "symbolic links" in result.stderr
    assert victim.read_text(encoding="utf-8") == "keep me"


def test_output_never_overwrites_the_index_or_an_input(audited):
    before = audited.index.read_bytes()
    for args in (
        ("audit", str(audited.copy), "-o", str(audited.index)),
        ("report", "-o", str(audited.index)),
        ("audit", str(audited.copy), "-o", str(audited.copy)),
    ):
        result = audited.run(*args)
        assert result.exit_code == 2, result.output
        assert "would destroy it" in result.stderr
    assert audited.index.read_bytes() == before
    assert audited.copy.read_text(encoding="utf-8").startswith("Intro.")


def test_the_markdown_report_encodes_a_hostile_link(audited):
    con = duckdb.connect(str(audited.index))
    con.execute("UPDATE matches SET link = 'https://evil.example/x\"><script>alert(1)</script>'")
    con.close()
    result = audited.run("report", "--format", "md")
    assert result.exit_code == 0, result.output
    assert "<script>" not in result.stdout
    assert "<https://evil.example/x%22%3E%3Cscript%3Ealert(1)%3C/script%3E>" in result.stdout


def test_a_report_id_that_looks_like_markup_is_named_as_it_is(audited):
    result = audited.run("report", "[bold]x[/bold]")
    assert result.exit_code == 6
    assert "no audit run '[bold]x[/bold]'" in result.stderr  # the message, not rich's MarkupError
