"""The match record has one field table; every stored, exported and printed form is derived from it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from indexes import IndexStore
from provenance.match import (
    CSV_COLUMNS,
    FIELD_NAMES,
    MATCH_FIELDS,
    STORED_FIELDS,
    Match,
    arrow_schema,
    from_row,
    match_fields_doc,
)
from provenance.report import CSV_COLUMNS as REPORT_CSV_COLUMNS
from provenance.spark import _ARROW_MATCH_SCHEMA

README = Path(__file__).resolve().parents[2] / "README.md"
DUCKDB_TYPES = {pa.int64(): "BIGINT", pa.int32(): "INTEGER", pa.float64(): "DOUBLE", pa.string(): "VARCHAR"}

texts = st.text(max_size=20)
maybe = st.none() | texts
spans = st.tuples(st.integers(0, 10**9), st.integers(0, 10**9))
matches = st.builds(
    Match,
    work_id=st.integers(1, 2**40),
    source=texts,
    title=texts,
    kind=texts,
    scanned=texts,
    record_id=maybe,
    score=st.floats(0, 1),
    estimated_similarity=st.floats(0, 1),
    containment=st.floats(0, 1),
    verbatim_words=st.integers(0, 2**31 - 1),
    matched_words=st.integers(0, 2**31 - 1),
    evidence_words=st.integers(0, 2**31 - 1),
    scanned_span=spans,
    work_span=spans,
    scanned_excerpt=texts,
    work_excerpt=texts,
    work_time=st.none() | st.tuples(st.floats(0, 1e6), st.floats(0, 1e6)),
    link=maybe,
    creator=maybe,
    rights_holder=maybe,
    org_id=maybe,
    licence=maybe,
    consent_declared=maybe,
    consent_declared_source=maybe,
    consent_status=maybe,
    consent_summary=maybe,
)


@settings(deadline=None)  # the first example pays for imports
@given(matches)
def test_the_flat_row_round_trips_and_fits_the_arrow_schema(match):
    row = match.to_row()
    assert tuple(row) == FIELD_NAMES
    assert from_row(row) == match
    table = pa.Table.from_pylist([row], schema=arrow_schema())
    assert from_row(table.to_pylist()[0]) == match


@settings(deadline=None)
@given(matches)
def test_the_json_form_has_every_field_with_spans_as_pairs(match):
    shown = json.loads(json.dumps(match.to_dict()))
    folded = {"scanned_start", "scanned_end", "work_start", "work_end", "work_time_start", "work_time_end"}
    expected = [n for n in FIELD_NAMES if n not in folded]
    assert set(shown) == {*expected, "scanned_span", "work_span", "work_time", "work_time_label"}
    assert shown["scanned_span"] == list(match.scanned_span)
    assert shown["rights_holder"] == match.rights_holder
    assert (shown["work_time_label"] is None) == (match.work_time is None)


def test_the_stored_table_and_the_views_are_the_schema(tmp_path):
    with IndexStore.open(tmp_path / "i.duckdb") as store:
        table = store.con.execute(
            "SELECT column_name, data_type, is_nullable FROM duckdb_columns() "
            "WHERE schema_name = 'main' AND table_name = 'matches' ORDER BY column_index"
        ).fetchall()
        stored = [(f.name, DUCKDB_TYPES[f.arrow], f.nullable) for f in STORED_FIELDS]
        assert table == [
            ("audit_id", "VARCHAR", False),
            ("match_no", "INTEGER", False),
            *stored,
            ("shard", "VARCHAR", True),
        ]
        for view in ("matches", "latest_matches"):
            columns = [r[0] for r in store.con.execute(f"DESCRIBE research.{view}").fetchall()]
            assert columns == ["audit_id", "match_no", *FIELD_NAMES, "shard"], view


def test_csv_and_spark_rows_are_derived_from_the_schema():
    assert CSV_COLUMNS == REPORT_CSV_COLUMNS == ("audit_id", "match_no", *FIELD_NAMES, "work_time_label")
    assert _ARROW_MATCH_SCHEMA.names == list(FIELD_NAMES)
    assert [f.type for f in _ARROW_MATCH_SCHEMA] == [f.arrow for f in MATCH_FIELDS]


def test_the_readme_documents_every_field_once():
    text = README.read_text(encoding="utf-8")
    assert match_fields_doc() in text
    assert len(re.findall(r"^\| field \| type \| meaning \|$", text, flags=re.MULTILINE)) == 1
