"""Stored audit runs: what an audit records, pending runs while the index is in use, old indexes, bad ids."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import threading
import time

import duckdb
import pytest

from indexes import IndexInUseError, IndexStore
from indexes.migrations import SCHEMA_VERSION
from provenance import runs
from provenance.runs import load_run, open_index, pending_dir, run_from_dict, run_to_dict


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def rows(index, query):
    con = duckdb.connect(str(index), read_only=True)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def test_audit_records_the_run_with_the_hash_of_every_input(audited):
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", audited.audit_id)
    ((audit_id, scanned, matched, n_matches, works, failed, version),) = rows(
        audited.index,
        "SELECT audit_id, texts_scanned, texts_matched, matches, works_matched, inputs_failed, tool_version "
        "FROM research.audits",
    )
    assert (audit_id, scanned, matched, n_matches, works, failed) == (audited.audit_id, 6, 4, 4, 2, 0)
    assert version
    inputs = {
        r[0]: r[1:]
        for r in rows(audited.index, "SELECT scanned, kind, sha256, source_sha256, matches FROM research.audit_inputs")
    }
    assert inputs[str(audited.copy)] == ("file", sha(audited.copy.read_bytes()), None, 1)
    assert inputs["<stdin>"] == ("stdin", sha(audited.stdin_text.encode()), None, 1)
    lines = audited.batch.read_bytes().splitlines()
    whole = sha(audited.batch.read_bytes())
    assert inputs[f"{audited.batch}#q1"] == ("record", sha(lines[0]), whole, 1)
    assert inputs[f"{audited.batch}#q2"] == ("record", sha(lines[1]), whole, 0)


def test_the_run_stores_matches_with_excerpts_and_parameters(audited, samples):
    with IndexStore.open(audited.index, read_only=True) as store:
        run = load_run(store)
    assert run.audit_id == audited.audit_id
    assert run.parameters["audit"]["min_words"] == 30
    assert run.parameters["inputs"] == {"field": "text", "id_field": "id", "jsonl": False}
    assert run.parameters["index"]["passage_words"] == 54
    assert run.index.works == 2
    assert run.versions["duckdb"] == duckdb.__version__
    (stdin_match,) = [m for m in run.matches if m.scanned == "<stdin>"]
    assert stdin_match.scanned_excerpt == samples.quote
    assert audited.stdin_text[stdin_match.scanned_span[0] : stdin_match.scanned_span[1]] == samples.quote
    assert {w.title for w in run.works} == {"keeper", "harbour"}
    assert run_from_dict(json.loads(json.dumps(run_to_dict(run)))) == run


def test_audits_lists_runs_newest_first(audited):
    second = audited.run("audit", str(audited.copy))
    assert second.exit_code == 0
    listed = [json.loads(line) for line in audited.run("audits", "--json").stdout.splitlines()]
    assert [r["audit_id"] for r in listed][1] == audited.audit_id
    assert listed[0]["started_at"] > listed[1]["started_at"]  # ids of one second sort by their random suffix
    assert listed[0]["texts_scanned"] == 1
    assert listed[0]["arguments"] == [str(audited.copy)]
    table = audited.run("audits")
    assert audited.audit_id in table.stdout


def test_no_record_writes_nothing(tmp_path, make_index, invoke, samples):
    index = make_index(tmp_path)
    before = sha(index.read_bytes())
    result = invoke("audit", "-", "--index", str(index), "--no-record", input=samples.quote)
    assert result.exit_code == 0
    assert "recorded" not in result.stderr
    assert sha(index.read_bytes()) == before
    assert invoke("audits", "--index", str(index)).stdout.startswith("No audit runs")


def hold(index, *, read_only):
    """Another process with the index open (an audit still scanning, or a writer)."""
    code = (
        f"import duckdb, sys; c = duckdb.connect({str(index)!r}, read_only={read_only}); "
        "print('ok', flush=True); sys.stdin.readline()"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ok"
    return proc


def release(proc):
    proc.communicate("\n", timeout=30)


def test_a_run_finished_while_another_audit_reads_goes_to_pending_then_into_the_index(
    tmp_path, monkeypatch, make_index, invoke, samples
):
    monkeypatch.setattr(runs, "RECORD_WAIT_S", 0.3)
    index = make_index(tmp_path)
    other = hold(index, read_only=True)
    try:
        result = invoke("audit", "-", "--index", str(index), input=samples.quote)
        assert result.exit_code == 0, result.output
        assert "in use" in result.stderr
        (pending,) = pending_dir(index).glob("*.json")
        assert str(pending) in result.stderr.replace("\n", "")
        listed = [json.loads(line) for line in invoke("audits", "--index", str(index), "--json").stdout.splitlines()]
        assert [r["pending"] for r in listed] == [True]
        report = invoke("report", "--index", str(index), "--format", "json")
        assert report.exit_code == 0
        assert json.loads(report.stdout)["audit_id"] == listed[0]["audit_id"]
    finally:
        release(other)
    listed = [json.loads(line) for line in invoke("audits", "--index", str(index), "--json").stdout.splitlines()]
    assert [r["pending"] for r in listed] == [False]
    assert not list(pending_dir(index).glob("*.json"))
    assert rows(index, "SELECT count(*) FROM research.matches") == [(1,)]


def test_read_only_opens_wait_for_a_short_write(tmp_path, make_index):
    index = make_index(tmp_path)
    writer = hold(index, read_only=False)
    started = time.monotonic()
    with pytest.raises(IndexInUseError):
        open_index(index, read_only=True, wait_s=0.2)
    assert time.monotonic() - started >= 0.2
    timer = threading.Timer(0.5, release, [writer])  # the lock goes while open_index waits
    timer.start()
    started = time.monotonic()
    with open_index(index, read_only=True, wait_s=10) as store:
        assert store.state().works == 2
    assert time.monotonic() - started >= 0.4
    timer.join()


def test_an_index_from_before_stored_runs_is_upgraded_by_audit(tmp_path, make_index, invoke, samples):
    index = make_index(tmp_path)
    con = duckdb.connect(str(index))
    for table in ("matches", "audit_works", "audit_inputs", "audits"):
        con.execute(f"DROP VIEW IF EXISTS research.{table}")
    con.execute("DROP SCHEMA research CASCADE")
    for table in (
        "catalog_failures",
        "scan_failures",
        "scan_shards",
        "matches",
        "audit_works",
        "audit_inputs",
        "audits",
    ):
        con.execute(f"DROP TABLE {table}")
    con.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    con.close()
    result = invoke("audit", "-", "--index", str(index), input=samples.quote)
    assert result.exit_code == 0, result.output
    assert "recorded as audit" in result.stderr
    assert rows(index, "SELECT value FROM meta WHERE key = 'schema_version'") == [(str(SCHEMA_VERSION),)]


@pytest.mark.parametrize(
    ("audit_id", "message"),
    [("20990101T000000Z-000000", "no audit run '20990101T000000Z-000000'"), ("2", "ambiguous")],
)
def test_unknown_or_ambiguous_audit_id_exits_6(audited, audit_id, message):
    assert audited.run("audit", str(audited.copy)).exit_code == 0
    result = audited.run("report", audit_id)
    assert result.exit_code == 6
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_unique_prefix_names_a_run(audited):
    result = audited.run("report", audited.audit_id[:-3], "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["audit_id"] == audited.audit_id


def test_report_before_any_audit_says_so(tmp_path, make_index, invoke):
    index = make_index(tmp_path)
    result = invoke("report", "--index", str(index))
    assert result.exit_code == 6
    assert "no audit runs recorded yet" in result.stderr


def test_an_input_that_cannot_be_read_is_recorded_as_such(tmp_path, make_index, invoke, samples):
    index = make_index(tmp_path)
    missing = tmp_path / "missing.txt"
    result = invoke("audit", str(missing), "-", "--index", str(index), input=samples.quote)
    assert result.exit_code == 3
    assert "recorded as audit" in result.stderr
    ((scanned, kind, digest, error),) = rows(
        index, "SELECT scanned, kind, sha256, error FROM research.audit_inputs WHERE error IS NOT NULL"
    )
    assert (kind, digest) == ("unread", None)
    assert "missing.txt" in scanned
    assert error
