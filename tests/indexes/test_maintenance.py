from datetime import datetime, timezone

import numpy as np
import pytest

from indexes import IndexStore, IndexStoreError, NewWork
from indexes.lookup import DuckDBLookup, MemoryLookup
from indexes.maintenance import compact, remove_works

BOILERPLATE = (
    "This work is licensed under a Creative Commons Attribution licence and you may share and adapt it "
    "for any purpose as long as you give appropriate credit and link to the licence text itself."
)


def text(seed: int, words: int = 300) -> str:
    rng = np.random.default_rng(seed)
    return " ".join(f"w{int(x)}" for x in rng.integers(0, 5000, size=words))


def work(source, body, *, creator=None, rights_holder=None, cues=(), consent=None):
    metadata = {} if rights_holder is None else {"rights_holder": rights_holder}
    return NewWork(
        source=source,
        kind="text",
        title=source,
        text=body,
        content_sha256=str(hash(body)),
        text_sha256=str(hash(body)) + "t",
        retrieved_at=datetime.now(timezone.utc),
        creator=creator,
        rights_holder=rights_holder,
        metadata=metadata,
        cues=cues,
        consent=consent,
    )


def count(store, sql):
    return store.con.execute(sql).fetchall()[0][0]


def assert_consistent(store):
    """Every work has its passages, bands and anchors; nothing refers to a work or passage that is gone."""
    con = store.con
    bands = store.params.bands
    for work_id, n_passages in con.execute("SELECT work_id, n_passages FROM works").fetchall():
        assert count(store, f"SELECT count(*) FROM passages WHERE work_id = {work_id}") == n_passages
        assert count(store, f"SELECT count(*) FROM anchors WHERE work_id = {work_id}") > 0
    assert count(store, "SELECT count(*) FROM bands") == count(store, "SELECT count(*) FROM passages") * bands
    for table in ("passages", "anchors", "cues", "consent"):
        assert count(store, f"SELECT count(*) FROM {table} WHERE work_id NOT IN (SELECT work_id FROM works)") == 0
    assert count(store, "SELECT count(*) FROM bands WHERE passage_id NOT IN (SELECT passage_id FROM passages)") == 0


@pytest.fixture
def catalog(store):
    works = [
        work("/cat/ann/a.txt", text(1) + " " + BOILERPLATE, creator="Ann", rights_holder="North Press"),
        work("/cat/ann/b.txt", text(2) + " " + BOILERPLATE, creator="Ann", rights_holder="South Press"),
        work(
            "/cat/bob/c.txt",
            text(3) + " " + BOILERPLATE,
            creator="Bob",
            rights_holder="North Press",
            cues=[(0, 10, 0.0, 1.0)],
            consent={"status": "reserved", "summary": "robots.txt"},
        ),
        work("/other/d.txt", text(4), creator="Cy", rights_holder="North Press"),
    ]
    for w in works:
        store.add_work(w)
    store.refresh_common()
    return store


def sources(store):
    return [r.source for r in store.works()]


def test_remove_by_work_id_takes_everything_of_the_work(catalog):
    assert count(catalog, "SELECT count(*) FROM cues") == 1
    assert remove_works(catalog, work_ids=[3]) == 1
    assert sources(catalog) == ["/cat/ann/a.txt", "/cat/ann/b.txt", "/other/d.txt"]
    assert count(catalog, "SELECT count(*) FROM cues") == 0
    assert count(catalog, "SELECT count(*) FROM consent") == 0
    assert_consistent(catalog)


@pytest.mark.parametrize(
    ("criteria", "left"),
    [
        ({"creator": "Ann"}, ["/cat/bob/c.txt", "/other/d.txt"]),
        ({"source_prefix": "/cat/"}, ["/other/d.txt"]),
        ({"rights_holder": "North Press"}, ["/cat/ann/b.txt"]),
        ({"rights_holder": "North Press", "source_prefix": "/cat/"}, ["/cat/ann/b.txt", "/other/d.txt"]),
        ({"creator": "Nobody"}, ["/cat/ann/a.txt", "/cat/ann/b.txt", "/cat/bob/c.txt", "/other/d.txt"]),
        ({"work_ids": [], "creator": "Ann"}, ["/cat/ann/a.txt", "/cat/ann/b.txt", "/cat/bob/c.txt", "/other/d.txt"]),
    ],
)
def test_criteria_combine_and_the_count_is_returned(catalog, criteria, left):
    assert remove_works(catalog, **criteria) == 4 - len(left)
    assert sources(catalog) == left
    assert_consistent(catalog)


def per_work(store, table):
    """Rows of ``table`` per work id (bands through their passages)."""
    if table == "bands":
        sql = "SELECT p.work_id, count(*) FROM bands b JOIN passages p USING (passage_id) GROUP BY ALL"
    else:
        sql = f"SELECT work_id, count(*) FROM {table} GROUP BY ALL"
    return dict(store.con.execute(sql).fetchall())


def test_remove_by_rights_holder_takes_only_their_works_and_fingerprints(catalog):
    before = {table: per_work(catalog, table) for table in ("passages", "bands", "anchors")}
    assert remove_works(catalog, rights_holder="South Press") == 1
    assert sources(catalog) == ["/cat/ann/a.txt", "/cat/bob/c.txt", "/other/d.txt"]
    for table, counts in before.items():
        assert counts[2] > 0, table
        assert per_work(catalog, table) == {k: v for k, v in counts.items() if k != 2}, table
    assert remove_works(catalog, rights_holder="south press") == 0  # names match exactly
    assert_consistent(catalog)


def test_common_anchors_are_recounted_in_the_same_transaction(catalog):
    common = count(catalog, "SELECT count(*) FROM common_anchors")
    assert common > 0  # the licence paragraph, in three works
    remove_works(catalog, work_ids=[1])
    assert count(catalog, "SELECT count(*) FROM common_anchors") == 0  # now in two: no longer common


def test_a_takedown_keeps_the_evidence_runs_recorded(catalog):
    con = catalog.con
    con.execute(
        "INSERT INTO audit_works (audit_id, work_id, source, title, kind, content_sha256, text_sha256, retrieved_at) "
        "SELECT 's', work_id, source, title, kind, content_sha256, text_sha256, retrieved_at FROM works"
    )
    con.execute(
        "INSERT INTO matches (audit_id, match_no, work_id, scanned, score, estimated_similarity, containment, "
        "verbatim_words, matched_words, evidence_words, scanned_start, scanned_end, work_start, work_end, "
        "scanned_excerpt, work_excerpt) VALUES ('s', 1, 1, '/d.parquet#r', 1, 1, 1, 40, 40, 40, 0, 10, 0, 10, 'q', 'q')"
    )
    remove_works(catalog, creator="Ann")
    assert 1 not in {r[0] for r in con.execute("SELECT work_id FROM works").fetchall()}
    assert con.execute("SELECT work_id, source FROM research.matches").fetchall() == [(1, "/cat/ann/a.txt")]


def test_remove_needs_a_criterion_and_a_writable_index(catalog, index_path):
    with pytest.raises(ValueError, match="say which works"):
        remove_works(catalog)
    catalog.close()
    with IndexStore.open(index_path, read_only=True) as store, pytest.raises(IndexStoreError, match="read-only"):
        remove_works(store, creator="Ann")


def test_a_failed_takedown_changes_nothing(catalog, monkeypatch):
    before = sources(catalog), count(catalog, "SELECT count(*) FROM bands")
    monkeypatch.setattr(catalog, "common_threshold", lambda: (_ for _ in ()).throw(RuntimeError("disk on fire")))
    with pytest.raises(RuntimeError):
        remove_works(catalog, creator="Ann")
    assert (sources(catalog), count(catalog, "SELECT count(*) FROM bands")) == before


def lookups(store):
    """What both lookup engines see, order aside (ties of equal keys may come in any order)."""
    memory = MemoryLookup(store.con)
    probe = np.zeros(memory.band_keys.shape[0], dtype=np.int64)
    disk = DuckDBLookup(store.con).bands(probe, memory.band_keys)
    return (
        sorted(zip(memory.band_keys.tolist(), memory.band_passages.tolist(), strict=True)),
        sorted(zip(memory.anchor_keys.tolist(), memory.anchor_work.tolist(), memory.anchor_pos.tolist(), strict=True)),
        list(zip(disk.work_id.tolist(), disk.start.tolist(), strict=True)),
    )


def test_compact_sorts_the_lookup_tables_and_keeps_every_row(catalog, index_path):
    catalog.add_work(work("/cat/ann/a.txt", text(9) + " " + BOILERPLATE, creator="Ann"))  # replaced: holes
    remove_works(catalog, work_ids=[4])
    before = {t: sorted(catalog.con.execute(f"SELECT * FROM {t}").fetchall()) for t in ("bands", "anchors", "passages")}
    found = lookups(catalog)
    report = compact(catalog)
    for table, rows in before.items():
        assert sorted(catalog.con.execute(f"SELECT * FROM {table}").fetchall()) == rows
        assert report.rows[table] == len(rows)
    keys = [r[0] for r in catalog.con.execute("SELECT key FROM bands").fetchall()]
    assert keys == sorted(keys)  # physically in key order
    assert lookups(catalog) == found
    assert report.file_bytes_before > 0
    assert report.file_bytes_after > 0
    assert report.used_bytes_after > 0
    assert_consistent(catalog)
    columns = catalog.con.execute(
        "SELECT column_name, is_nullable FROM duckdb_columns() WHERE table_name = 'bands' ORDER BY column_index"
    ).fetchall()
    assert columns == [("key", False), ("passage_id", False)]
    catalog.close()
    with IndexStore.open(index_path, read_only=True) as store:
        assert store.state().works == 3


def test_compact_needs_a_writable_index(catalog, index_path):
    catalog.close()
    with IndexStore.open(index_path, read_only=True) as store, pytest.raises(IndexStoreError, match="read-only"):
        compact(store)


def test_compact_with_rewrite_gives_the_space_back_and_the_store_stays_usable(catalog, index_path):
    for i in range(12):
        catalog.add_work(work(f"/bulk/{i}.txt", text(100 + i, 3000)))
    catalog.con.execute("FORCE CHECKPOINT")
    remove_works(catalog, source_prefix="/bulk/")
    before = sorted(catalog.con.execute("SELECT * FROM bands").fetchall())
    views = "SELECT schema_name, view_name, comment FROM duckdb_views() WHERE NOT internal ORDER BY ALL"
    views_before = catalog.con.execute(views).fetchall()
    report = compact(catalog, rewrite=True)
    assert catalog.con.execute(views).fetchall() == views_before
    assert report.file_bytes_after < report.file_bytes_before
    assert sorted(catalog.con.execute("SELECT * FROM bands").fetchall()) == before
    assert not index_path.with_name(index_path.name + ".rewrite").exists()
    outcome, work_id = catalog.add_work(work("/after.txt", text(99)))
    assert (outcome, work_id) == ("added", 17)  # ids go on from where they were: the sequences were copied
    assert_consistent(catalog)
    catalog.close()
    with IndexStore.open(index_path, read_only=True) as store:
        assert [r.source for r in store.works()][-1] == "/after.txt"
