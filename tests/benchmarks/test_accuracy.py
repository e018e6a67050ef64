"""The small seeded accuracy benchmark, held to the detection targets (deterministic, so asserting is honest)."""

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load(name):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    pytest.importorskip("wordfreq", reason="the prose generator needs wordfreq (the dev extra installs it)")
    accuracy = load("accuracy")
    return accuracy.run(accuracy.QUICK, tmp_path_factory.mktemp("accuracy"))


def test_verbatim_passages_of_50_words_or_more(report):
    for row in [r for r in report.rows.values() if r.label.endswith("| 0 %")]:
        assert row.recall >= 0.99, row.label
        assert row.scanned_cover >= 0.95, row.label
        assert row.work_cover >= 0.95, row.label


def test_edited_passages_of_100_words_or_more(report):
    for row in report.rows.values():
        length = int(row.label.split()[0])
        if length >= 100 and row.label.endswith("| 10 %"):
            assert row.recall >= 0.95, row.label
        if length >= 100 and row.label.endswith("| 20 %"):
            assert row.recall >= 0.80, row.label


def test_short_quotes_in_short_mode(report):
    for row in report.short_rows.values():
        assert row.recall >= 0.90, row.label


def test_whole_document_near_duplicates(report):
    assert report.near_duplicates.recall >= 0.99


def test_no_false_matches_on_texts_with_nothing_planted(report):
    assert report.negatives >= 250
    assert report.false_texts == 0
