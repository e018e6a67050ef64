"""One run model: texts, datasets and workers give the same match for the same record, and every run is evidence.

Each test goes through the CLI, as a rights organization would: index a catalog, scan a dataset, then
list, report, query, export and verify the run.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from provenance.auditing import is_dataset
from provenance.cli import app

runner = CliRunner()
WORKS = {
    "harbour": " ".join(f"harbour{i} lantern{i % 7} tide{i % 13}" for i in range(150)),
    "meadow": " ".join(f"meadow{i} clover{i % 5} hive{i % 11}" for i in range(150)),
    "own": " ".join(f"kiln{i} glaze{i % 9} ember{i % 4}" for i in range(150)),
}
HOLDERS = {"harbour": ("Harbour Press", "reserved"), "meadow": ("Meadow Books", "granted")}


def invoke(*args, input=None):  # noqa: A002 - CliRunner's name
    return runner.invoke(app, [str(a) for a in args], input=input)


def quote(name: str, start: int) -> str:
    return " ".join(WORKS[name].split()[start : start + 60])


@pytest.fixture
def catalogued(tmp_path):
    """An index of two catalogued works (titles, holders, declared consent) and one the creator added herself."""
    for name, text in WORKS.items():
        (tmp_path / f"{name}.txt").write_text(text, encoding="utf-8")
    catalog = tmp_path / "catalog.csv"
    rows = [
        f"{name}.txt,Author {name},{holder},{consent},ID-{name},The {name.title()} Book"
        for name, (holder, consent) in HOLDERS.items()
    ]
    catalog.write_text("source,creator,rights_holder,consent,org_id,title\n" + "\n".join(rows) + "\n", encoding="utf-8")
    index = tmp_path / "i.duckdb"
    assert invoke("add", "--catalog", catalog, "--index", index).exit_code == 0
    own = invoke(
        "add",
        tmp_path / "own.txt",
        "--creator",
        "Kim Potter",
        "--rights-holder",
        "Kim Potter",
        "--title",
        "Glazes",
        "--licence",
        "CC-BY-NC-4.0",
        "--index",
        index,
    )
    assert own.exit_code == 0, own.output
    return tmp_path, index, catalog


def records() -> list[dict[str, str]]:
    return [
        {"id": "a", "text": f"An answer that copies: {quote('harbour', 10)} and goes on."},
        {"id": "b", "text": "Nothing copied here at all, only plain words about the weather " * 3},
        {"id": "c", "text": f"Two sources: {quote('meadow', 40)} then {quote('own', 70)}."},
    ]


def scan_json(result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return sorted((json.loads(line) for line in result.stdout.splitlines()), key=lambda m: (m["scanned"], m["work_id"]))


def test_texts_a_dataset_and_workers_give_the_same_fields_for_the_same_record(catalogued):
    root, index, _ = catalogued
    lines = root / "answers.jsonl"
    lines.write_text("".join(json.dumps(r) + "\n" for r in records()), encoding="utf-8")
    assert not is_dataset(str(lines))
    as_texts = scan_json(invoke("audit", lines, "--index", index, "--json"))
    as_dataset = scan_json(invoke("audit", lines, "--dataset", "--workers", "1", "--index", index, "--json"))
    assert as_texts == as_dataset  # records named by line number on both paths: PATH#1, PATH#3
    assert [m["record_id"] for m in as_texts] == ["1", "3", "3"]
    shards = root / "shards"
    shards.mkdir()
    for n in range(2):
        pq.write_table(pa.Table.from_pylist(records()), shards / f"part-{n}.parquet")
    pool = scan_json(invoke("audit", shards, "--workers", "2", "--id-field", "id", "--index", index, "--json"))
    one = scan_json(
        invoke("audit", shards, "--workers", "1", "--id-field", "id", "--restart", "--index", index, "--json")
    )
    assert pool == one
    assert len(pool) == 6
    drop = {"scanned"}
    assert [{k: v for k, v in m.items() if k not in drop} for m in one[:3]] == [
        {**{k: v for k, v in m.items() if k not in drop}, "record_id": rid}
        for m, rid in zip(as_texts, ["a", "c", "c"], strict=True)
    ]


def test_catalog_rights_and_declared_consent_reach_every_match(catalogued):
    root, index, catalog = catalogued
    shards = root / "shards"
    shards.mkdir()
    pq.write_table(pa.Table.from_pylist(records()), shards / "part-0.parquet")
    found = scan_json(invoke("audit", shards, "--id-field", "id", "--index", index, "--json"))
    by_title = {m["title"]: m for m in found}
    assert set(by_title) == {"The Harbour Book", "The Meadow Book", "Glazes"}  # catalog titles, not file names
    harbour = by_title["The Harbour Book"]
    assert (harbour["creator"], harbour["rights_holder"], harbour["org_id"]) == (
        "Author harbour",
        "Harbour Press",
        "ID-harbour",
    )
    assert (harbour["consent_declared"], harbour["consent_declared_source"]) == ("reserved", f"catalog {catalog}:2")
    assert by_title["The Meadow Book"]["consent_declared"] == "granted"
    own = by_title["Glazes"]
    assert (own["creator"], own["rights_holder"], own["licence"], own["consent_declared"]) == (
        "Kim Potter",
        "Kim Potter",
        "CC-BY-NC-4.0",
        None,
    )
    query = (
        "SELECT rights_holder, count(DISTINCT work_id) AS works, count(*) AS matches FROM latest_matches "
        "GROUP BY ALL ORDER BY 1"
    )
    before = json.loads(invoke("sql", query, "--index", index, "-f", "json").stdout)
    assert before == [
        {"rights_holder": "Harbour Press", "works": 1, "matches": 1},
        {"rights_holder": "Kim Potter", "works": 1, "matches": 1},
        {"rights_holder": "Meadow Books", "works": 1, "matches": 1},
    ]
    again = invoke("audit", shards, "--id-field", "id", "--restart", "--index", index, "--json")
    assert again.exit_code == 0
    after = json.loads(invoke("sql", query, "--index", index, "-f", "json").stdout)
    assert after == before  # a rescan is not counted twice
    every = json.loads(invoke("sql", "SELECT count(*) AS n FROM matches", "--index", index, "-f", "json").stdout)
    assert every == [{"n": 6}]  # while both runs keep their evidence
    exported = invoke("export", root / "out", "--index", index)
    assert exported.exit_code == 0, exported.output
    table = pq.read_table(root / "out" / "latest_matches.parquet")
    assert sorted(table.column("rights_holder").to_pylist()) == ["Harbour Press", "Kim Potter", "Meadow Books"]
    csv = invoke("report", "--index", index, "--format", "csv")
    assert "The Harbour Book" in csv.stdout
    assert "catalog " in csv.stdout


def test_the_readme_rights_holder_query_and_the_holder_report_agree(catalogued):
    root, index, _ = catalogued
    shards = root / "shards"
    shards.mkdir()
    for n in range(3):
        pq.write_table(pa.Table.from_pylist(records()), shards / f"part-{n}.parquet")
    assert invoke("audit", shards, "--id-field", "id", "--index", index).exit_code == 0
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    wanted = r'^provenance sql "(SELECT coalesce\(rights_holder.*FROM latest_matches.*)"$'
    (query,) = re.findall(wanted, readme, re.MULTILINE)
    rows = json.loads(invoke("sql", query, "--index", index, "-f", "json").stdout)
    report = json.loads(invoke("report", "--by", "rights-holder", "--index", index, "--format", "json").stdout)
    by_report = {
        h["rights_holder"] or "(none)": (len(h["works"]), h["texts_matched"], h["matches"], h["longest_verbatim_words"])
        for h in report["holders"]
    }
    by_sql = {r["rights_holder"]: (r["works"], r["records"], r["matches"], r["longest_run"]) for r in rows}
    assert by_sql == by_report
    assert by_sql["Harbour Press"] == (1, 3, 3, 60)


def test_a_scan_run_is_listed_reported_verified_and_names_a_changed_shard(catalogued):
    root, index, _ = catalogued
    shards = root / "shards"
    shards.mkdir()
    for n in range(2):
        pq.write_table(pa.Table.from_pylist(records()), shards / f"part-{n}.parquet")
    scanned = invoke("audit", shards, "--id-field", "id", "--workers", "1", "--index", index)
    assert scanned.exit_code == 0, scanned.output
    listed = [json.loads(line) for line in invoke("audits", "--index", index, "--json").stdout.splitlines()]
    (run,) = listed
    assert (run["kind"], run["state"], run["inputs"], run["texts_scanned"], run["matches"]) == (
        "dataset",
        "finished",
        2,
        6,
        6,
    )
    html = invoke("report", run["audit_id"], "--index", index, "--format", "html")
    assert html.exit_code == 0
    assert "dataset scan (local engine, 2 shards), finished" in html.stdout
    manifest = root / "run.manifest.json"
    assert invoke("report", "--index", index, "--format", "manifest", "-o", manifest).exit_code == 0
    shards_listed = json.loads(manifest.read_text())["inputs"]
    assert [(i["kind"], i["size"] > 0, len(i["sha256"])) for i in shards_listed] == [("shard", True, 64)] * 2
    ok = invoke("verify", manifest, "--index", index)
    assert ok.exit_code == 0, ok.output
    changed = records()
    changed[2]["text"] = changed[2]["text"].replace("Two sources", "Three sources, rewritten")
    pq.write_table(pa.Table.from_pylist(changed[:2] + changed[2:]), shards / "part-1.parquet")
    (shards / "part-0.parquet").unlink()
    told = invoke("verify", manifest, "--index", index)
    assert told.exit_code == 5, told.output
    assert f"shard {shards / 'part-0.parquet'}: missing" in told.stdout
    assert f"shard {shards / 'part-1.parquet'}: modified since the audit" in told.stdout
    assert "match 5: the scanned text at" in told.stdout  # record c of part-1: its text moved
    assert invoke("report", "no-such-run", "--index", index).exit_code == 6


def test_a_run_with_a_failed_shard_is_partial_until_resumed(catalogued):
    root, index, _ = catalogued
    shards = root / "shards"
    shards.mkdir()
    pq.write_table(pa.Table.from_pylist(records()), shards / "a.parquet")
    broken = shards / "b.parquet"
    shutil.copy(shards / "a.parquet", broken)
    broken.write_bytes(broken.read_bytes()[:-40])  # cut short: unreadable
    first = invoke("audit", shards, "--id-field", "id", "--index", index, "--workers", "1")
    assert first.exit_code == 3, first.output
    assert "partial: rerun the same command to resume" in first.stderr
    md = invoke("report", "--index", index, "--format", "md")
    assert "PARTIAL results" in md.stdout
    pq.write_table(pa.Table.from_pylist(records()), broken)  # the shard re-downloaded
    second = invoke("audit", shards, "--id-field", "id", "--index", index, "--workers", "1", "--json")
    assert second.exit_code == 0, second.output
    assert "(resumed, local engine): 2 shards (1 done before)" in second.stderr
    assert len(second.stdout.splitlines()) == 6  # all of the run's matches, the first invocation's too
    (run,) = [json.loads(line) for line in invoke("audits", "--index", index, "--json").stdout.splitlines()]
    assert (run["state"], run["invocations"], run["matches"]) == ("finished", 2, 6)
