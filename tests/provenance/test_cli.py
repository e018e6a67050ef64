"""The CLI in-process (CliRunner) and, where the process matters, as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from oldindex import index_at
from typer.main import get_command
from typer.testing import CliRunner

from connectors.files import FilesConnector
from indexes.migrations import SCHEMA_VERSION
from provenance.cli import app
from provenance.ingest import new_work

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()
WORK = (
    "The lighthouse keeper kept a ledger of every ship that passed the point, and in the margins he "
    "drew the weather as he saw it: small suns, clouds like folded napkins, and once a whale that "
    "surfaced twice beside the rocks before turning north toward the colder water where the herring "
    "ran thick in the late summer months of that long and quiet year on the island."
)
QUOTE = " ".join(WORK.split()[5:65])


def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None):  # noqa: A002
    return runner.invoke(app, list(args), input=input, env=env)


@pytest.fixture
def indexed(tmp_path):
    works = tmp_path / "works"
    works.mkdir()
    (works / "keeper.txt").write_text(WORK, encoding="utf-8")
    index = tmp_path / "index.duckdb"
    result = invoke("add", str(works), "--index", str(index))
    assert result.exit_code == 0, result.output
    return index


def test_add_then_re_add_is_a_no_op(indexed, tmp_path):
    result = invoke("add", str(tmp_path / "works"), "--index", str(indexed))
    assert result.exit_code == 0
    assert "unchanged" in result.stderr
    assert "holds 1 work," in result.stderr


def test_changed_file_replaces_its_work(indexed, tmp_path):
    (tmp_path / "works" / "keeper.txt").write_text(WORK + " A new closing sentence.", encoding="utf-8")
    result = invoke("add", str(tmp_path / "works"), "--index", str(indexed))
    assert "replaced" in result.stderr
    listed = invoke("works", "--index", str(indexed), "--json")
    (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert row["work_id"] == 1
    assert row["words"] == len(WORK.split()) + 4


def test_audit_stdin_json_has_exact_spans(indexed):
    scanned = "Here is a story I remember. " + QUOTE + " That is all."
    result = invoke("audit", "-", "--index", str(indexed), "--json", input=scanned)
    assert result.exit_code == 0, result.output
    (match,) = [json.loads(line) for line in result.stdout.splitlines()]
    for key in (
        "work_id",
        "source",
        "title",
        "scanned",
        "score",
        "verbatim_words",
        "scanned_excerpt",
        "work_excerpt",
    ):
        assert key in match
    assert match["scanned"] == "<stdin>"
    assert match["verbatim_words"] == 60
    start, end = match["scanned_span"]
    assert scanned[start:end] == QUOTE
    start, end = match["work_span"]
    assert WORK[start:end] == QUOTE


def test_audit_table_and_fail_on_match(indexed, tmp_path):
    out = tmp_path / "out.txt"
    out.write_text("Intro. " + QUOTE, encoding="utf-8")
    table = invoke("audit", str(out), "--index", str(indexed))
    assert table.exit_code == 0
    assert "keeper" in table.stdout
    assert "1.00" in table.stdout
    assert invoke("audit", str(out), "--index", str(indexed), "--fail-on-match").exit_code == 1
    clean = tmp_path / "clean.txt"
    clean.write_text("Nothing to see here, only my own words about gardening and tomatoes.", encoding="utf-8")
    result = invoke("audit", str(clean), "--index", str(indexed), "--fail-on-match")
    assert result.exit_code == 0
    assert "No matches." in result.stdout


def test_audit_output_file_and_jsonl_records(indexed, tmp_path):
    data = tmp_path / "outputs.jsonl"
    data.write_text(
        json.dumps({"id": "q1", "answer": QUOTE}) + "\n" + json.dumps({"id": "q2", "answer": "unrelated"}) + "\n",
        encoding="utf-8",
    )
    report = tmp_path / "matches.jsonl"
    result = invoke(
        "audit",
        str(data),
        "--field",
        "answer",
        "--id-field",
        "id",
        "--index",
        str(indexed),
        "-o",
        str(report),
    )
    assert result.exit_code == 0, result.output
    (match,) = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
    assert match["scanned"] == f"{data}#q1"
    assert match["record_id"] == "q1"


def test_bad_inputs_are_reported_and_the_rest_is_audited(indexed, tmp_path):
    good = tmp_path / "good.txt"
    good.write_text(QUOTE, encoding="utf-8")
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    result = invoke(
        "audit",
        str(tmp_path / "missing.txt"),
        str(binary),
        str(good),
        "--index",
        str(indexed),
        "--json",
    )
    assert result.exit_code == 3
    assert "missing.txt" in result.stderr
    assert "image.png" in result.stderr
    assert len(result.stdout.splitlines()) == 1


def test_add_with_a_bad_file_keeps_the_others(tmp_path):
    works = tmp_path / "works"
    works.mkdir()
    (works / "a.txt").write_text(WORK, encoding="utf-8")
    (works / "b.bin").write_bytes(bytes(range(256)) * 4)
    (works / "c.txt").write_text("", encoding="utf-8")
    index = tmp_path / "i.duckdb"
    result = invoke("add", str(works), "--index", str(index))
    assert result.exit_code == 3
    assert "b.bin" in result.stderr
    assert "c.txt" in result.stderr
    assert "1 added" in result.stderr
    assert "holds 1 work," in result.stderr


def test_index_errors_exit_4(tmp_path):
    missing = invoke("audit", "-", "--index", str(tmp_path / "none.duckdb"), input="text")
    assert missing.exit_code == 4
    assert "provenance add" in missing.stderr
    bogus = tmp_path / "bogus.duckdb"
    bogus.write_text("not an index", encoding="utf-8")
    result = invoke("works", "--index", str(bogus))
    assert result.exit_code == 4
    assert "not a provenance index" in result.stderr
    assert "bogus.duckdb" in result.stderr


def test_index_path_from_environment(indexed):
    result = invoke("works", "--json", env={"PROVENANCE_INDEX": str(indexed)})
    assert result.exit_code == 0
    assert json.loads(result.stdout.splitlines()[0])["title"] == "keeper"


def test_default_index_in_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PROVENANCE_INDEX", raising=False)
    (tmp_path / "w.txt").write_text(WORK, encoding="utf-8")
    assert invoke("add", "w.txt").exit_code == 0
    assert (tmp_path / "provenance.duckdb").exists()


def test_every_command_is_documented():
    group = get_command(app)
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        assert command.help, name
        for param in command.params:
            if param.param_type_name == "option":
                assert param.help, f"{name} {param.name}"


def test_second_writer_is_told_the_index_is_in_use(indexed, tmp_path):
    hold = f"import duckdb, time; c = duckdb.connect({str(indexed)!r}); print('ok', flush=True); time.sleep(30)"
    with subprocess.Popen([sys.executable, "-c", hold], stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "ok"
            result = invoke("add", str(tmp_path / "works"), "--index", str(indexed))
            assert result.exit_code == 4
            assert "in use" in result.stderr
        finally:
            holder.kill()


def test_works_waits_briefly_for_a_writer_like_the_other_read_commands(indexed):
    hold = (
        f"import duckdb, sys; c = duckdb.connect({str(indexed)!r}); print('ok', flush=True); "
        "sys.stdin.readline(); c.close()"
    )
    holder = subprocess.Popen([sys.executable, "-c", hold], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "ok"
    timer = threading.Timer(0.5, holder.communicate, ["\n"])  # the writer finishes while `works` waits
    timer.start()
    try:
        result = invoke("works", "--index", str(indexed), "--json")
    finally:
        timer.join()
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["title"] for line in result.stdout.splitlines()] == ["keeper"]


def test_works_upgrades_an_index_of_an_older_schema(tmp_path):
    (tmp_path / "keeper.txt").write_text(WORK, encoding="utf-8")
    fetched = next(FilesConnector().fetch(str(tmp_path / "keeper.txt")))
    index = index_at(tmp_path / "old.duckdb", SCHEMA_VERSION - 1, [new_work(fetched)])
    result = invoke("works", "--index", str(index), "--json")
    assert result.exit_code == 0, result.output
    (row,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert (row["title"], row["rights_holder"]) == ("keeper", None)


def test_module_entry_point_and_version():
    result = subprocess.run(
        [sys.executable, "-m", "provenance", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.startswith("provenance ")


@pytest.mark.parametrize("lookup", ["memory", "duckdb"])
def test_audits_run_and_record_with_either_lookup(indexed, tmp_path, lookup):
    out = tmp_path / "out.txt"
    out.write_text("Intro. " + QUOTE, encoding="utf-8")
    for _ in range(2):  # the second run records into an index that already holds a run
        result = invoke("audit", str(out), "--index", str(indexed), "--lookup", lookup, "--json")
        assert result.exit_code == 0, result.output
        assert len(result.stdout.splitlines()) == 1
        assert "recorded as audit" in result.stderr


def test_an_error_message_with_square_brackets_is_printed_as_it_is(audited):
    result = audited.run("report", "[/x]")
    assert result.exit_code == 6
    assert "no audit run '[/x]'" in result.stderr


def test_the_cli_loads_no_connector_fingerprinting_or_engine_to_start():
    import subprocess  # noqa: PLC0415 - this test only
    import sys  # noqa: PLC0415

    code = (
        "import sys, provenance.cli; heavy = ('yt_dlp', 'trafilatura', 'datasketch', 'scipy', 'numba', 'pyspark', "
        "'pyarrow', 'connectors.registry', 'indexes.store'); print([m for m in heavy if m in sys.modules])"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
