"""Manifests: a reproducible digest, and `provenance verify` naming exactly what changed."""

from __future__ import annotations

import hashlib
import json

import duckdb
import pytest

from indexes import IndexParams, IndexStore
from provenance.manifest import digest_of


@pytest.fixture
def manifest(audited):
    path = audited.root / "run.manifest.json"
    result = audited.run("report", audited.audit_id, "--format", "manifest", "-o", str(path))
    assert result.exit_code == 0, result.output
    return path


def verify(audited, path, *args):
    return audited.run("verify", str(path), *args)


def test_the_digest_can_be_recomputed_without_our_code(manifest):
    data = json.loads(manifest.read_text(encoding="utf-8"))
    recorded = data.pop("digest")
    body = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert recorded == "sha256:" + hashlib.sha256(body).hexdigest()
    assert data["format"] == "provenance-audit-manifest"
    assert {i["kind"] for i in data["inputs"]} == {"file", "record", "stdin"}
    assert {w["title"] for w in data["works"]} == {"keeper", "harbour"}
    assert all(len(w["content_sha256"]) == 64 for w in data["works"])
    assert data["versions"]["python"]
    assert data["parameters"]["audit"]["min_score"] == 0.5


def test_the_manifest_is_stored_with_the_run(audited, manifest):
    data = json.loads(manifest.read_text(encoding="utf-8"))
    con = duckdb.connect(str(audited.index), read_only=True)
    (stored,) = con.execute("SELECT manifest_sha256 FROM research.audits").fetchone()
    con.close()
    assert data["digest"] == "sha256:" + stored
    assert data["digest"] in audited.run("report", "--format", "html").stdout


def test_an_untouched_run_verifies(audited, manifest):
    result = verify(audited, manifest)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"OK: audit {audited.audit_id}")
    assert "5 inputs unchanged" in result.stdout
    assert "2 matched works unchanged" in result.stdout
    assert "both excerpts cut again" in result.stdout
    assert "<stdin>: read from stdin, not rechecked" in result.stdout


def test_the_index_defaults_to_the_one_the_manifest_names(manifest, invoke, monkeypatch):
    monkeypatch.delenv("PROVENANCE_INDEX", raising=False)
    result = invoke("verify", str(manifest))
    assert result.exit_code == 0, result.output


def test_a_modified_input_file_is_named(audited, manifest):
    audited.copy.write_text(audited.copy.read_text(encoding="utf-8") + " One more line.", encoding="utf-8")
    result = verify(audited, manifest)
    assert result.exit_code == 5
    assert result.stdout.startswith("CHANGED")
    assert f"input {audited.copy}: modified since the audit" in result.stdout


def test_a_changed_record_is_named_and_the_others_kept(audited, manifest):
    lines = audited.batch.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[1])
    record["text"] = "an edited record"
    audited.batch.write_text(lines[0] + "\n" + json.dumps(record) + "\n", encoding="utf-8")
    result = verify(audited, manifest)
    assert result.exit_code == 5
    assert f"input {audited.batch}: modified since the audit (records changed: q2; 1 unchanged)" in result.stdout


def test_a_deleted_input_is_named(audited, manifest):
    audited.edited.unlink()
    result = verify(audited, manifest)
    assert result.exit_code == 5
    assert f"input {audited.edited}: missing" in result.stdout


def test_an_edited_manifest_fails_its_digest(audited, manifest):
    data = json.loads(manifest.read_text(encoding="utf-8"))
    data["parameters"]["audit"]["min_words"] = 5
    manifest.write_text(json.dumps(data), encoding="utf-8")
    result = verify(audited, manifest)
    assert result.exit_code == 5
    assert "manifest: digest mismatch" in result.stdout


def test_an_edited_manifest_with_a_recomputed_digest_differs_from_the_stored_run(audited, manifest):
    data = json.loads(manifest.read_text(encoding="utf-8"))
    data["matches"][0]["score"] = 0.42
    data["digest"] = digest_of(data)
    manifest.write_text(json.dumps(data), encoding="utf-8")
    result = verify(audited, manifest)
    assert result.exit_code == 5
    assert "digest mismatch" not in result.stdout
    assert "differs from the run recorded in the index: matches[0].score is 0.42 in the file" in result.stdout


def test_a_changed_work_and_a_new_work_are_named(audited, manifest):
    (audited.works / "keeper.txt").write_text(
        (audited.works / "keeper.txt").read_text(encoding="utf-8") + " Revised.", encoding="utf-8"
    )
    (audited.works / "new.txt").write_text("A new work " * 40, encoding="utf-8")
    assert audited.run("add", str(audited.works)).exit_code == 0
    result = verify(audited, manifest)
    assert result.exit_code == 5
    keeper = audited.works / "keeper.txt"
    assert "index: changed since the audit (2 works then, 3 now): 1 added" in result.stdout
    assert "1 replaced" in result.stdout
    assert f"work 2 ({keeper}): changed since the audit" in result.stdout


def test_a_work_text_edited_in_the_index_is_caught(audited, manifest):
    con = duckdb.connect(str(audited.index))
    con.execute("UPDATE works SET text = replace(text, 'lighthouse', 'LIGHTHOUSE') WHERE title = 'keeper'")
    con.close()
    result = verify(audited, manifest)
    assert result.exit_code == 5
    assert "its text in the index is not the text the audit matched" in result.stdout


def test_other_index_parameters_are_named(manifest, tmp_path, invoke):
    other = tmp_path / "other.duckdb"
    IndexStore.open(other, params=IndexParams(passage_words=40)).close()
    result = invoke("verify", str(manifest), "--index", str(other))
    assert result.exit_code == 5
    assert "parameters: the index's fingerprint parameters differ: passage_words 54 then, 40 now" in result.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"hello": "world"}', "not a provenance audit manifest"),
        ("not json at all", "not a provenance audit manifest (not JSON"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not a provenance audit manifest (not UTF-8"),
        ('{"format": "provenance-audit-manifest", "version": 99}', "manifest version 99"),
    ],
)
def test_a_file_that_is_not_our_manifest_exits_3(audited, tmp_path, content, message):
    path = tmp_path / "other.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    result = verify(audited, path)
    assert result.exit_code == 3
    assert message in result.stderr
    assert str(path) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_missing_manifest_exits_3(audited, tmp_path):
    result = verify(audited, tmp_path / "nope.json")
    assert result.exit_code == 3
    assert "cannot read" in result.stderr
