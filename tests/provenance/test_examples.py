"""The bundled examples end to end: every planted reuse found with exact offsets, nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexes import IndexStore
from indexes.normalize import tokenize
from provenance import AuditOptions, Auditor, InputOptions, ScanItem, add_sources, read_inputs

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PLANTED = json.loads((EXAMPLES / "planted.json").read_text(encoding="utf-8"))


def words(text: str) -> list[int]:
    return tokenize(text, 1).hashes.tolist()


def covered_fraction(span: tuple[int, int], text: str, excerpt: str) -> float:
    """Share of the excerpt's words that fall inside ``span`` of ``text`` (located by word sequence)."""
    tokens = tokenize(text, 1)
    target = words(excerpt)
    seq = tokens.hashes.tolist()
    for i in range(len(seq) - len(target) + 1):
        if seq[i : i + len(target)] == target:
            inside = [span[0] <= tokens.starts[j] and tokens.ends[j] <= span[1] for j in range(i, i + len(target))]
            return sum(inside) / len(inside)
    pytest.fail(f"excerpt not found in text: {excerpt[:60]!r}")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    path = tmp_path_factory.mktemp("examples") / "index.duckdb"
    with IndexStore.open(path) as store:
        summary = add_sources(store, [str(EXAMPLES / "works")])
        assert summary.failures == []
        assert summary.counts["added"] == 3
    with IndexStore.open(path, read_only=True) as store:
        items = list(read_inputs([str(EXAMPLES / "outputs")], InputOptions(id_field="id")))
        assert all(isinstance(i, ScanItem) for i in items)
        audited = list(Auditor(store, AuditOptions()).audit(items))  # type: ignore[arg-type]
        texts = {w.source: store.work_text(w.work_id) for w in store.works()}
    return audited, texts


def label(scanned: str) -> str:
    return scanned.split("/examples/", 1)[1]


def test_every_planted_reuse_is_found_with_its_offsets(results):
    audited, work_texts = results
    by_scanned = {label(item.scanned): (item, matches) for item, matches in audited}
    for plant in PLANTED["planted"]:
        item, matches = by_scanned[plant["scanned"]]
        hits = [m for m in matches if m.source.endswith(plant["work"])]
        assert len(hits) == 1, (plant["scanned"], matches)
        (m,) = hits
        assert covered_fraction(m.scanned_span, item.text, plant["scanned_excerpt"]) >= 0.95
        assert covered_fraction(m.work_span, work_texts[m.source], plant["work_excerpt"]) >= 0.95
        if plant["kind"] == "verbatim":
            assert m.verbatim_words >= len(words(plant["work_excerpt"])) - 1
            assert item.text[m.scanned_span[0] : m.scanned_span[1]] == m.scanned_excerpt
        else:
            assert m.verbatim_words < len(words(plant["work_excerpt"]))
        assert m.work_excerpt == work_texts[m.source][m.work_span[0] : m.work_span[1]]


def test_each_output_matches_only_its_planted_work(results):
    audited, _ = results
    expected = {p["scanned"] for p in PLANTED["planted"]}
    for item, matches in audited:
        if label(item.scanned) not in expected:
            assert matches == [], item.scanned
        else:
            assert len(matches) == 1, (item.scanned, matches)


def test_transcript_matches_carry_time_ranges(results):
    audited, _ = results
    transcript = [m for _, ms in audited for m in ms if m.kind == "webvtt"]
    assert transcript
    for m in transcript:
        assert m.work_time is not None
        assert 0 < m.work_time[0] < m.work_time[1] < 400
