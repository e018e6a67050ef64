"""Index files of an older schema, made by the migrations up to that version, holding real works."""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb

from indexes import IndexStore
from indexes.migrations import MIGRATIONS

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from indexes import NewWork

# Columns of ``works`` as m001 made them (later migrations add columns after these).
WORK_COLUMNS_M001 = (
    "work_id, source, kind, title, creator, content_sha256, text_sha256, modified_at, retrieved_at, added_at, "
    "n_tokens, n_passages, metadata, text"
)
# Tables copied as they are, and the migration that made each.
_TABLES = (
    ("passages", 1),
    ("bands", 1),
    ("anchors", 1),
    ("common_anchors", 1),
    ("cues", 1),
    ("consent", 2),
)


def index_at(path: Path, version: int, works: Iterable[NewWork]) -> Path:
    """An index of schema ``version`` at ``path`` (migrations 1..version) holding ``works`` with their fingerprints.

    The works are indexed by today's code in a scratch file beside it and their rows copied across, so
    the older file holds exactly what an index of that version held for them.
    """
    scratch = path.with_name(path.name + ".scratch")
    with IndexStore.open(scratch, tool_version="test") as store:
        for work in works:
            store.add_work(work)
        store.refresh_common()
    con = duckdb.connect(str(path))
    try:
        con.execute(f"ATTACH '{scratch}' AS now (READ_ONLY)")
        con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
        con.execute("INSERT INTO meta SELECT * FROM now.meta")
        for migration in MIGRATIONS[:version]:
            migration(con)
        con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(version)])
        con.execute(f"INSERT INTO works ({WORK_COLUMNS_M001}) SELECT {WORK_COLUMNS_M001} FROM now.works")
        for table, since in _TABLES:
            if version >= since:
                con.execute(f"INSERT INTO {table} SELECT * FROM now.{table}")
        for sequence, table, column in (("work_ids", "works", "work_id"), ("passage_ids", "passages", "passage_id")):
            used = f"(SELECT coalesce(max({column}), 0) FROM {table})"
            con.execute(f"SELECT nextval('{sequence}') FROM range({used})").fetchall()
        con.execute("DETACH now")
    finally:
        con.close()
    for leftover in (scratch, scratch.with_name(scratch.name + ".wal")):
        leftover.unlink(missing_ok=True)
    return path
