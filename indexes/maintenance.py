"""Index maintenance: takedown of works, physical compaction, and the tables of resumable dataset scans.

``remove_works`` deletes works with everything derived from them in one transaction, common anchors
recounted in the same transaction, so a kill at any moment leaves the index as it was before or after.
``compact`` rewrites the lookup tables sorted by key (DuckDB's zonemaps then skip most of a table for a
key lookup) and checkpoints.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from indexes.errors import IndexInUseError, IndexStoreError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from indexes.store import IndexStore

# Tables rewritten by ``compact`` and the order they are sorted in.
SORTED_TABLES = (
    ("bands", "key, passage_id"),
    ("anchors", "key, work_id, token_pos"),
    ("common_anchors", "key"),
    ("passages", "passage_id"),
)


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        str(r[0]) for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall()
    }


def _writable(store: IndexStore) -> None:
    if store.read_only:
        raise IndexStoreError(store.path, "opened read-only; maintenance needs the index open for writing")


def remove_works(
    store: IndexStore,
    *,
    work_ids: Iterable[int] | None = None,
    creator: str | None = None,
    rights_holder: str | None = None,
    source_prefix: str | None = None,
) -> int:
    """Take works down: delete them and their passages, bands, anchors, cues and consent rows.

    Criteria combine (a work must meet every one given); at least one is required. Everything happens
    in one transaction, common anchors recounted inside it. Recorded runs, dataset scans included, keep
    their matches and their snapshot of the work: they are the evidence of what was found then.
    Returns the number of works removed.
    """
    _writable(store)
    where: list[str] = []
    params: list[object] = []
    if work_ids is not None:
        where.append("list_contains(?::BIGINT[], work_id)")
        params.append([int(w) for w in work_ids])
    if creator is not None:
        where.append("creator = ?")
        params.append(creator)
    if rights_holder is not None:
        where.append("rights_holder = ?")
        params.append(rights_holder)
    if source_prefix is not None:
        where.append("starts_with(source, ?)")
        params.append(source_prefix)
    if not where:
        raise ValueError("say which works to remove: work ids, a creator, a rights holder or a source prefix")
    con = store.con
    tables = _tables(con)
    con.begin()
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _takedown AS SELECT work_id FROM works WHERE {' AND '.join(where)}", params
        )
        removed = int(con.execute("SELECT count(*) FROM _takedown").fetchall()[0][0])
        if removed:
            con.execute(
                "DELETE FROM bands WHERE passage_id IN "
                "(SELECT passage_id FROM passages WHERE work_id IN (SELECT work_id FROM _takedown))"
            )
            for table in ("passages", "anchors", "cues", "consent", "works"):
                if table in tables:
                    con.execute(f"DELETE FROM {table} WHERE work_id IN (SELECT work_id FROM _takedown)")
            # The same recount as IndexStore.refresh_common, inside this transaction.
            con.execute("DELETE FROM common_anchors")
            con.execute(
                "INSERT INTO common_anchors SELECT key, count(DISTINCT work_id) FROM anchors GROUP BY key "
                "HAVING count(DISTINCT work_id) >= ?",
                [store.common_threshold()],
            )
        con.execute("DROP TABLE _takedown")
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return removed


@dataclass(frozen=True)
class CompactReport:
    """Sizes before and after ``compact``: the file on disk (with its WAL) and the blocks in use."""

    file_bytes_before: int
    file_bytes_after: int
    used_bytes_before: int
    used_bytes_after: int
    rows: dict[str, int]
    seconds: float


def compact(store: IndexStore, *, rewrite: bool = False) -> CompactReport:
    """Rewrite the lookup tables physically sorted by key, swapped in in one transaction, then checkpoint.

    A table sorted by key lets DuckDB's zonemaps skip most row groups of a key lookup, and rewriting
    drops the holes that replaced and removed works leave. DuckDB reuses freed blocks for later writes
    but does not shrink the file (sorting copies tables, so the file grows by their size); ``rewrite``
    then copies the whole index into a new file beside it and renames that over the index while still
    holding the write lock, which gives the space back to the disk (and needs that much free space);
    ``store.con`` is then a new connection to the new file.
    """
    _writable(store)
    con = store.con
    started = time.perf_counter()
    file_before, used_before = _sizes(store)
    rows: dict[str, int] = {}
    for table, _order in SORTED_TABLES:
        kinds = {
            str(r[0])
            for r in con.execute(
                "SELECT constraint_type FROM duckdb_constraints() WHERE schema_name = 'main' AND table_name = ?",
                [table],
            ).fetchall()
        }
        if kinds - {"NOT NULL"}:
            raise IndexStoreError(store.path, f"cannot compact {table}: it has constraints {sorted(kinds)}")
    con.begin()
    try:
        for table, order in SORTED_TABLES:
            columns = con.execute(
                "SELECT column_name, data_type, is_nullable FROM duckdb_columns() "
                "WHERE schema_name = 'main' AND table_name = ? ORDER BY column_index",
                [table],
            ).fetchall()
            ddl = ", ".join(f'"{name}" {kind}{"" if nullable else " NOT NULL"}' for name, kind, nullable in columns)
            con.execute(f"CREATE TABLE _compact_{table} ({ddl})")
            con.execute(f"INSERT INTO _compact_{table} SELECT * FROM {table} ORDER BY {order}")
            con.execute(f"DROP TABLE {table}")
            con.execute(f"ALTER TABLE _compact_{table} RENAME TO {table}")
            rows[table] = int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
        con.commit()
    except BaseException:
        con.rollback()
        raise
    con.execute("FORCE CHECKPOINT")
    con.execute("VACUUM ANALYZE")
    if rewrite:
        _rewrite(store)
    file_after, used_after = _sizes(store)
    return CompactReport(file_before, file_after, used_before, used_after, rows, time.perf_counter() - started)


def _rewrite(store: IndexStore) -> None:
    """Copy the index into a fresh file and rename it over the index, then reconnect to it.

    The rename happens while this process holds the write lock, so no other writer has the old file
    open; a kill before the rename leaves the index untouched (and a stale copy, removed next time).
    """
    path = Path(store.path)
    copy = path.with_name(path.name + ".rewrite")
    for stale in (copy, copy.with_name(copy.name + ".wal")):
        stale.unlink(missing_ok=True)
    con = store.con
    name = str(con.execute("SELECT current_database()").fetchall()[0][0])
    con.execute(f"ATTACH '{_sql_string(str(copy))}' AS _rewrite")
    try:
        con.execute(f'COPY FROM DATABASE "{name}" TO _rewrite')
    finally:
        con.execute("DETACH _rewrite")
    con.execute("FORCE CHECKPOINT")
    wal = path.with_name(path.name + ".wal")
    if wal.exists() and wal.stat().st_size:
        copy.unlink()
        raise IndexStoreError(store.path, "the index has unwritten changes; compact again")
    copy.replace(path)
    con.close()
    try:
        store.con = duckdb.connect(str(path))
    except duckdb.Error as exc:
        raise IndexInUseError(store.path, f"rewritten, but could not be opened again: {exc}") from exc


def _sql_string(text: str) -> str:
    return text.replace("'", "''")


def _sizes(store: IndexStore) -> tuple[int, int]:
    """Bytes of the file and its WAL, and bytes of the blocks in use."""
    path = Path(store.path)
    wal = path.with_name(path.name + ".wal")
    on_disk = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    block_size, used = store.con.execute(
        "SELECT block_size, used_blocks FROM pragma_database_size() WHERE database_name = current_database()"
    ).fetchall()[0]
    return on_disk, int(block_size) * int(used)
