import dataclasses
import os
import subprocess
import sys
import textwrap
from datetime import datetime, timezone

import duckdb
import pytest

from indexes import (
    IndexInUseError,
    IndexMissingError,
    IndexParametersError,
    IndexParams,
    IndexStore,
    IndexVersionError,
    NewWork,
    NotAnIndexError,
)
from indexes.migrations import SCHEMA_VERSION

TEXT = " ".join(f"alpha{i % 71} beta{i % 29} gamma{i}" for i in range(200))


def work(source="/works/a.txt", text=TEXT, sha="aaa", cues=()):
    return NewWork(
        source=source,
        kind="text",
        title="A",
        text=text,
        content_sha256=sha,
        text_sha256=sha + "t",
        retrieved_at=datetime.now(timezone.utc),
        metadata={"path": source},
        cues=cues,
    )


def counts(store):
    return [store.con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in ("works", "passages", "bands")]


def test_add_reopen_and_read_back(index_path):
    with IndexStore.open(index_path) as store:
        assert store.add_work(work(cues=[(0, 10, 1.5, 3.0)])) == ("added", 1)
        n_works, n_passages, n_bands = counts(store)
        assert (n_works, n_bands) == (1, n_passages * store.params.bands)
    with IndexStore.open(index_path, read_only=True) as store:
        (record,) = store.works()
        assert record.source == "/works/a.txt"
        assert record.metadata == {"path": "/works/a.txt"}
        assert (record.rights_holder, record.org_id, record.licence) == (None, None, None)  # no catalog row
        assert store.work_text(1) == TEXT
        assert store.cues(1) == [(0, 10, 1.5, 3.0)]
        assert store.state().works == 1


def test_unchanged_is_a_no_op_and_changed_replaces_in_place(store):
    store.add_work(work())
    before = counts(store)
    assert store.add_work(work()) == ("unchanged", 1)
    assert counts(store) == before
    assert store.add_work(work(text=TEXT + " and more words at the end", sha="bbb")) == (
        "replaced",
        1,
    )
    assert counts(store)[0] == 1
    assert store.work(1).content_sha256 == "bbb"
    orphans = store.con.execute(
        "SELECT count(*) FROM bands WHERE passage_id NOT IN (SELECT passage_id FROM passages)"
    ).fetchall()[0][0]
    assert orphans == 0


def test_a_failed_add_leaves_the_old_version_intact(store, monkeypatch):
    store.add_work(work())
    before = counts(store)

    def boom(*_args):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "_insert_arrow", boom)
    with pytest.raises(RuntimeError):
        store.add_work(work(text=TEXT + " changed", sha="ccc"))
    assert counts(store) == before
    assert store.work(1).content_sha256 == "aaa"


def test_works_added_together_are_written_all_or_none(store, monkeypatch):
    outcomes = store.add_works([(work("/w/1", sha="1"), None), (work("/w/2", sha="2"), None), (work("/w/1"), None)])
    assert outcomes == [("added", 1), ("added", 2), ("replaced", 1)]  # a later one of a source replaces it
    assert store.work(1).content_sha256 == "aaa"
    before = counts(store)
    insert = store._insert_arrow

    def bands_fail(table, data):  # the works' rows and passages are in by then
        if table == "bands":
            raise RuntimeError("disk on fire")
        insert(table, data)

    monkeypatch.setattr(store, "_insert_arrow", bands_fail)
    with pytest.raises(RuntimeError):
        store.add_works([(work("/w/3", sha="3"), None), (work("/w/4", sha="4"), None)])
    assert counts(store) == before
    assert store.work_by_source("/w/3") is None


def test_new_and_known_works_together_match_one_at_a_time(store, tmp_path):
    store.add_work(work("/w/1", sha="1"))
    mixed = [(work("/w/1", text=TEXT + " more", sha="1b"), None), (work("/w/2", sha="2"), None), (work("/w/1x"), None)]
    assert store.add_works(mixed) == [("replaced", 1), ("added", 2), ("added", 3)]
    assert store.add_works([(work("/w/2", sha="2"), None)]) == [("unchanged", 2)]

    def fingerprints(s):
        return s.con.execute(
            "SELECT w.source, p.ordinal, p.token_start, p.char_end, b.key FROM bands b "
            "JOIN passages p USING (passage_id) JOIN works w USING (work_id) ORDER BY ALL"
        ).fetchall()

    with IndexStore.open(tmp_path / "single.duckdb") as single:
        single.add_work(work("/w/1", sha="1"))
        for new, _ in mixed:
            single.add_work(new)
        assert counts(single) == counts(store)
        assert fingerprints(store) == fingerprints(single)


def test_other_parameters_are_refused(index_path):
    IndexStore.open(index_path).close()
    with pytest.raises(IndexParametersError, match=r"threshold: 0\.5 != 0\.7"):
        IndexStore.open(index_path, params=IndexParams(threshold=0.7))


def test_a_changed_fingerprint_check_is_refused(index_path):
    IndexStore.open(index_path).close()
    con = duckdb.connect(str(index_path))
    con.execute("UPDATE meta SET value = 'x' WHERE key = 'check'")
    con.close()
    with pytest.raises(IndexParametersError, match="rebuild"):
        IndexStore.open(index_path)  # a writer is refused at once
    with IndexStore.open(index_path, read_only=True) as store:  # a reader when it first fingerprints
        assert store.state().works == 0  # queries need no fingerprints
        with pytest.raises(IndexParametersError, match="rebuild"):
            store.fingerprinter  # noqa: B018 - the property is what is tested


def test_files_that_are_not_indexes(tmp_path):
    text_file = tmp_path / "notes.duckdb"
    text_file.write_text("just some notes")
    with pytest.raises(NotAnIndexError, match="not a DuckDB"):
        IndexStore.open(text_file)
    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE t (x INTEGER)")
    con.close()
    with pytest.raises(NotAnIndexError, match="without index metadata"):
        IndexStore.open(other)
    with pytest.raises(NotAnIndexError, match="directory"):
        IndexStore.open(tmp_path)


def test_newer_schema_is_refused(index_path):
    IndexStore.open(index_path).close()
    con = duckdb.connect(str(index_path))
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(IndexVersionError, match="newer"):
        IndexStore.open(index_path)


def test_missing_index_for_reading(tmp_path):
    with pytest.raises(IndexMissingError, match="provenance add"):
        IndexStore.open(tmp_path / "nothing.duckdb", read_only=True)


def test_a_second_writer_gets_a_clear_error(index_path):
    with IndexStore.open(index_path) as store:
        store.add_work(work())
        code = textwrap.dedent(
            f"""
            from indexes import IndexStore, IndexInUseError
            try:
                IndexStore.open({str(index_path)!r})
            except IndexInUseError as exc:
                print("in use:", exc)
            """
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert "in use" in result.stdout
        assert f"another process (PID {os.getpid()}) that has it open for writing" in result.stdout
        assert "read-only" not in result.stdout
    with IndexStore.open(index_path, read_only=True) as store:
        assert store.state().works == 1


def test_a_reader_in_another_process_blocks_a_writer_and_the_error_says_so(index_path):
    IndexStore.open(index_path).close()
    code = textwrap.dedent(
        f"""
        import sys
        from indexes import IndexStore
        with IndexStore.open({str(index_path)!r}, read_only=True):
            print("open", flush=True)
            sys.stdin.readline()
        """
    )
    reader = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout is not None
        assert reader.stdout.readline().strip() == "open"
        with pytest.raises(IndexInUseError) as info:
            IndexStore.open(index_path)
        with IndexStore.open(index_path, read_only=True) as store:  # readers share the file
            assert store.state().works == 0
    finally:
        reader.communicate("\n", timeout=30)
    reason = info.value.reason
    assert f"another process (PID {reader.pid}) that has it open read-only" in reason
    assert "write lock" not in reason
    IndexStore.open(index_path).close()  # the reader is gone: writable again


def test_in_use_error_type_in_process(index_path):
    with IndexStore.open(index_path), pytest.raises(IndexInUseError):
        IndexStore.open(index_path, read_only=True)


def test_new_work_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        work().title = "B"  # type: ignore[misc]


def test_an_older_schema_is_migrated_on_write_and_refused_read_only(index_path):
    with IndexStore.open(index_path) as store:
        store.add_work(work())
    con = duckdb.connect(str(index_path))
    con.execute("DROP SCHEMA research CASCADE")  # what m003 made: views, then its tables
    for table in (
        "catalog_failures",
        "scan_failures",
        "scan_shards",
        "matches",
        "audit_works",
        "audit_inputs",
        "audits",
        "consent",
    ):
        con.execute(f"DROP TABLE {table}")
    con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(IndexVersionError, match="older"):
        IndexStore.open(index_path, read_only=True)
    with IndexStore.open(index_path) as store:
        assert store.consent(1) is None
        assert store.state().works == 1
    with IndexStore.open(index_path, read_only=True) as store:
        assert store.con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall() == [
            (str(SCHEMA_VERSION),)
        ]


def test_consent_is_stored_with_the_work_and_replaced_with_it(store):
    store.add_work(
        dataclasses.replace(work(), consent={"status": "reserved", "summary": "robots.txt disallows GPTBot"})
    )
    assert store.consent(1) == ("reserved", "robots.txt disallows GPTBot")
    store.add_work(dataclasses.replace(work(sha="new"), consent=None))
    assert store.consent(1) is None


def test_works_to_verify_load_what_the_one_by_one_reads_give(store):
    boiler = " ".join(f"boiler{i}" for i in range(40))
    for n in range(4):
        text = f"{TEXT} {boiler} " + " ".join(f"own{n}x{i}" for i in range(60))
        consent = {"status": "reserved", "summary": f"work {n}"} if n % 2 else None
        cues = [(0, 10, 1.0 * n, 2.0 * n), (11, 20, 2.0 * n, 3.0 * n)] if n < 2 else ()
        store.add_work(dataclasses.replace(work(f"/w/{n}", text=text, sha=str(n), cues=cues), consent=consent))
    store.refresh_common()
    loaded = store.works_to_verify([4, 2, 3, 2, 99])
    assert sorted(loaded) == [2, 3, 4]
    for work_id, got in loaded.items():
        assert got.record == store.work(work_id)
        assert got.text == store.work_text(work_id)
        assert got.cues == store.cues(work_id)
        assert got.consent == store.consent(work_id)
        assert got.common_positions == store.common_positions(work_id)
    assert loaded[2].cues
    assert loaded[2].common_positions  # the shared boilerplate
    assert store.works_to_verify([]) == {}
