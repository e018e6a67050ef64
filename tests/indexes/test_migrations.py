"""Schema migrations on real index files of the previous schema: data kept, new columns filled, reruns harmless."""

from __future__ import annotations

from datetime import datetime, timezone

import duckdb
import pytest
from oldindex import index_at

from indexes import IndexStore, IndexVersionError, NewWork
from indexes.migrations import MIGRATIONS, SCHEMA_VERSION, m006_work_rights

CATALOGED = {"rights_holder": "North Press", "org_id": "N-1", "licence": "CC-BY-4.0", "consent_status": "reserved"}
CHILD_TABLES = ("passages", "bands", "anchors", "common_anchors", "cues", "consent")


def text(seed: int) -> str:
    return " ".join(f"w{(seed * 7919 + i * 104729) % 4001}" for i in range(240))


def work(source: str, seed: int, metadata: dict[str, str | None], **fields) -> NewWork:
    return NewWork(
        source=source,
        kind="text",
        title=source,
        text=text(seed),
        content_sha256=f"c{seed}",
        text_sha256=f"t{seed}",
        retrieved_at=datetime(2025, 1, 2, tzinfo=timezone.utc),
        metadata=metadata,
        cues=[(0, 12, 0.0, 2.5)],
        consent={"status": "reserved", "summary": "robots.txt"},
        **fields,
    )


OLD_WORKS = (
    work("/cat/a.txt", 1, {"path": "/cat/a.txt", **CATALOGED}, creator="Ann"),
    work("/plain/b.txt", 2, {"path": "/plain/b.txt", "license": "CC0"}, creator="Bo"),  # a connector's own key
    work("/cat/c.txt", 3, {"path": "/cat/c.txt", "rights_holder": "South Press", "org_id": "S-9", "licence": None}),
)


@pytest.fixture
def previous(index_path):
    """An index of the schema before m006 with three works and two audit snapshots of work 1."""
    assert SCHEMA_VERSION >= 6
    index_at(index_path, 5, OLD_WORKS)
    con = duckdb.connect(str(index_path))
    con.executemany(
        "INSERT INTO audit_works (audit_id, work_id, source, title, creator, kind, content_sha256, text_sha256, "
        "retrieved_at) VALUES (?, 1, '/cat/a.txt', 'a', 'Ann', 'text', ?, 't1', now())",
        [("now", "c1"), ("before-a-change", "c0")],
    )
    con.close()
    return index_path


def table_rows(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in (*CHILD_TABLES, "works")}


def rights(con: duckdb.DuckDBPyConnection, table: str = "works") -> list[tuple]:
    key = "audit_id, " if table == "audit_works" else ""
    return con.execute(f"SELECT {key}work_id, rights_holder, org_id, licence FROM {table} ORDER BY ALL").fetchall()


def test_the_previous_schema_has_no_rights_columns(previous):
    con = duckdb.connect(str(previous), read_only=True)
    columns = {r[0] for r in con.execute("DESCRIBE works").fetchall()}
    assert con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() == [("5",)]
    con.close()
    assert "creator" in columns
    assert not columns & {"rights_holder", "org_id", "licence"}


def test_migration_keeps_every_row_and_fills_the_columns_from_metadata(previous):
    con = duckdb.connect(str(previous), read_only=True)
    before = table_rows(con)
    con.close()
    with IndexStore.open(previous) as store:
        after = table_rows(store.con)
        assert rights(store.con) == [
            (1, "North Press", "N-1", "CC-BY-4.0"),
            (2, None, None, None),
            (3, "South Press", "S-9", None),
        ]
        (first, second, _) = store.works()
        assert (first.creator, first.rights_holder, first.org_id, first.licence) == (
            "Ann",
            "North Press",
            "N-1",
            "CC-BY-4.0",
        )
        assert first.metadata == {"path": "/cat/a.txt", **CATALOGED}  # the JSON keeps them too
        assert second.metadata["license"] == "CC0"
        assert store.work_text(1) == text(1)
        assert store.cues(1) == [(0, 12, 0.0, 2.5)]
        assert store.consent(3) == ("reserved", "robots.txt")
        assert store.con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() == [
            (str(SCHEMA_VERSION),)
        ]
        assert store.add_work(work("/new.txt", 4, {}))[1] == 4  # the sequences carried over
    for table in CHILD_TABLES:
        assert after[table] == before[table], table
    assert [row[:14] for row in after["works"]] == before["works"]  # old columns unchanged, new ones after


def test_audit_snapshots_get_the_rights_only_of_the_version_they_saw(previous):
    with IndexStore.open(previous) as store:
        assert rights(store.con, "audit_works") == [
            ("before-a-change", 1, None, None, None),
            ("now", 1, "North Press", "N-1", "CC-BY-4.0"),
        ]


def test_the_research_views_show_the_columns_after_migration(previous):
    with IndexStore.open(previous) as store:
        con = store.con
        works = [r[0] for r in con.execute("DESCRIBE research.works").fetchall()]
        matches = [r[0] for r in con.execute("DESCRIBE research.matches").fetchall()]
        comments = dict(
            con.execute(
                "SELECT table_name || '.' || column_name, comment FROM duckdb_columns() WHERE schema_name = 'research'"
            ).fetchall()
        )
        grouped = con.execute(
            "SELECT rights_holder, count(*) FROM research.works GROUP BY ALL ORDER BY ALL NULLS LAST"
        ).fetchall()
    assert works[works.index("creator") : works.index("creator") + 4] == [
        "creator",
        "rights_holder",
        "org_id",
        "licence",
    ]
    assert matches[matches.index("creator") + 1 : matches.index("creator") + 4] == [
        "rights_holder",
        "org_id",
        "licence",
    ]
    for name in (
        "works.rights_holder",
        "works.licence",
        "matches.rights_holder",
        "works.content_sha256",
        "works.source",
    ):
        assert comments[name], name  # the replaced views keep m003's comments and add their own
    assert grouped == [("North Press", 1), ("South Press", 1), (None, 1)]


def test_the_migration_is_idempotent(previous):
    with IndexStore.open(previous) as store:
        once = table_rows(store.con), rights(store.con, "audit_works")
        store.con.begin()
        m006_work_rights(store.con)  # run again on the migrated file
        store.con.commit()
        assert (table_rows(store.con), rights(store.con, "audit_works")) == once
    with IndexStore.open(previous) as store:  # opening again migrates nothing
        assert (table_rows(store.con), rights(store.con, "audit_works")) == once


def test_a_read_only_open_of_the_previous_schema_is_refused_and_changes_nothing(previous):
    before = previous.read_bytes()
    with pytest.raises(IndexVersionError, match="older"):
        IndexStore.open(previous, read_only=True)
    assert previous.read_bytes() == before


def test_a_new_index_is_made_by_every_migration(index_path):
    with IndexStore.open(index_path) as store:
        columns = [r[0] for r in store.con.execute("DESCRIBE works").fetchall()]
        version = store.con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
    assert version == [(str(len(MIGRATIONS)),)]
    assert columns[-5:] == ["rights_holder", "org_id", "licence", "consent_declared", "consent_declared_source"]


@pytest.fixture
def with_scans(index_path):
    """An index of schema 6 with a finished scan of two shards (one match each) and an unfinished one."""
    index_at(index_path, 6, OLD_WORKS)
    con = duckdb.connect(str(index_path))
    con.execute("UPDATE works SET rights_holder = json_extract_string(metadata, '$.rights_holder')")  # as m006 did
    con.execute(
        "INSERT INTO scans VALUES ('s1', 'key1', now(), now(), '0.1.0', 'digest', '{}', '[\"/d\"]', 2), "
        "('s2', 'spark:key2', now(), NULL, '0.1.0', 'digest', '{}', '[\"/e\"]', 1)"
    )
    for shard in ("/d/a.parquet", "/d/b.parquet"):
        con.execute(
            "INSERT INTO scan_shards VALUES ('s1', ?, 10, 1, 'done', 5, 1, 0, 1, 100, 0.1, NULL, now())", [shard]
        )
        con.execute(
            "INSERT INTO scan_matches VALUES ('s1', ?, 'r', ?, 1, 0.9, 0.8, 1.0, 40, 41, 40, 0, 10, 5, 15, NULL, "
            "NULL, NULL, 'quoted', 'work text')",
            [shard, f"{shard}#r"],
        )
    con.close()
    return index_path


def test_scans_become_runs_with_their_shards_and_matches(with_scans):
    with IndexStore.open(with_scans) as store:
        con = store.con
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert not {"scans", "scan_matches"} & tables
        runs = con.execute(
            "SELECT audit_id, kind, engine, state, run_key, texts_scanned, matches, works_matched, inputs_failed "
            "FROM research.audits ORDER BY audit_id"
        ).fetchall()
        assert runs == [
            ("s1", "dataset", "local", "finished", "key1", 10, 2, 1, 2),
            ("s2", "dataset", "spark", "interrupted", "spark:key2", 0, 0, 0, 0),
        ]
        inputs = con.execute(
            "SELECT ordinal, scanned, kind, size, records, failures FROM audit_inputs WHERE audit_id = 's1' ORDER BY 1"
        ).fetchall()
        assert inputs == [(0, "/d/a.parquet", "shard", 10, 5, 1), (1, "/d/b.parquet", "shard", 10, 5, 1)]
        matches = con.execute(
            "SELECT match_no, shard, scanned, title, rights_holder, consent_declared FROM research.matches"
        ).fetchall()
        assert matches == [
            (1, "/d/a.parquet", "/d/a.parquet#r", "/cat/a.txt", "North Press", "reserved"),
            (2, "/d/b.parquet", "/d/b.parquet#r", "/cat/a.txt", "North Press", "reserved"),
        ]
        declared = con.execute("SELECT source, consent_declared, consent_declared_source FROM works ORDER BY 1")
        assert declared.fetchall() == [
            ("/cat/a.txt", "reserved", "catalog"),
            ("/cat/c.txt", None, None),
            ("/plain/b.txt", None, None),
        ]
