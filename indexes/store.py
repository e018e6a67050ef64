"""The index as a DuckDB file: works and their text, passage windows, band keys and parameters.

Writers hold DuckDB's file lock for as long as the store is open, so a second writer gets a clear
``IndexInUseError`` instead of corrupting anything; commands that only read open it read-only. Every
work is written in one transaction, so an interrupted run never leaves a half-added work.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from indexes.errors import (
    IndexInUseError,
    IndexMissingError,
    IndexParametersError,
    IndexStoreError,
    IndexVersionError,
    NotAnIndexError,
)
from indexes.fingerprint import Fingerprinter, Passages
from indexes.lookup import DuckDBLookup, Lookup, MemoryLookup
from indexes.migrations import MIGRATIONS, SCHEMA_VERSION
from indexes.params import IndexParams

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from types import TracebackType


APPLICATION = "provenance-index"
COMMON_MIN_WORKS = 3
CHECKPOINT_MB = 512  # WAL size at which a writer checkpoints (DuckDB's default is 16)
COMMON_FRACTION = 1000
MetaValue = str | int | float | bool | None
I64 = npt.NDArray[np.int64]
_HOLDER_PID = re.compile(r"\(PID (\d+)\)")  # the process DuckDB names in its lock error


@dataclass(frozen=True)
class NewWork:
    """What the store needs to index one work (the auditor builds it from a connector's document)."""

    source: str
    kind: str
    title: str
    text: str
    content_sha256: str
    text_sha256: str
    retrieved_at: datetime
    modified_at: datetime | None = None
    creator: str | None = None
    rights_holder: str | None = None  # these three come from a catalog row; plain adds leave them None
    org_id: str | None = None
    licence: str | None = None
    consent_declared: str | None = None  # what the rights holder declared (a catalog's consent column)
    consent_declared_source: str | None = None  # where: "catalog PATH:LINE"
    metadata: dict[str, MetaValue] = field(default_factory=dict)
    cues: Sequence[tuple[int, int, float, float]] = ()
    consent: dict[str, Any] | None = None


@dataclass(frozen=True)
class WorkRecord:
    """One indexed work as stored (without its text)."""

    work_id: int
    source: str
    kind: str
    title: str
    creator: str | None
    rights_holder: str | None
    org_id: str | None
    licence: str | None
    consent_declared: str | None
    consent_declared_source: str | None
    content_sha256: str
    text_sha256: str
    modified_at: datetime | None
    retrieved_at: datetime
    added_at: datetime
    n_tokens: int
    n_passages: int
    metadata: dict[str, MetaValue]


@dataclass(frozen=True)
class StoredWork:
    """A work as verification needs it: its record, text, transcript cues, consent and common anchors."""

    record: WorkRecord
    text: str
    cues: list[tuple[int, int, float, float]]
    consent: tuple[str, str] | None
    common_positions: list[int]


@dataclass(frozen=True)
class IndexState:
    """What an audit records about the index it ran against."""

    works: int
    passages: int
    digest: str
    schema_version: int
    params: IndexParams


AddOutcome = Literal["added", "replaced", "unchanged"]

_WORK_COLUMNS = (
    "work_id, source, kind, title, creator, rights_holder, org_id, licence, consent_declared, consent_declared_source, "
    "content_sha256, text_sha256, modified_at, retrieved_at, added_at, n_tokens, n_passages, metadata"
)
# Columns add_work writes after work_id and source, in the order of its values.
_WRITTEN = (
    "kind",
    "title",
    "creator",
    "rights_holder",
    "org_id",
    "licence",
    "consent_declared",
    "consent_declared_source",
    "content_sha256",
    "text_sha256",
    "modified_at",
    "retrieved_at",
    "added_at",
    "n_tokens",
    "n_passages",
    "metadata",
    "text",
)


def _classify(path: str, exc: duckdb.Error) -> IndexStoreError:
    text = str(exc)
    if "lock" in text.lower():
        return IndexInUseError(path, _in_use(text))
    if "different configuration" in text:
        return IndexInUseError(path, "the index is already open in this process in another mode")
    if "not a valid DuckDB database" in text:
        return NotAnIndexError(path, "not a provenance index (not a DuckDB database file)")
    if "does not exist" in text:
        return IndexMissingError(path, "no index here yet; create one with `provenance add`")
    return IndexStoreError(path, f"cannot open the index: {text.splitlines()[0]}")


def _in_use(text: str) -> str:
    """Who blocks the open, from DuckDB's lock error: a writer, or (only a writer is refused then) readers.

    DuckDB adds "you would be able to open this database in read-only mode" exactly when the locks in
    the way are all read-only ones: audits, queries or a parallel scan's workers reading the index.
    """
    found = _HOLDER_PID.search(text)
    pid = f" (PID {found.group(1)})" if found else ""
    if "read-only mode" in text:
        return (
            f"the index is in use by another process{pid} that has it open read-only (an audit, a query or a "
            "dataset scan's workers); it can be written once every reader has closed it"
        )
    return f"the index is in use by another process{pid} that has it open for writing (it holds the write lock)"


class IndexStore:
    """An open index file. Use ``IndexStore.open``; close it (or use ``with``) to release the lock."""

    def __init__(
        self,
        path: str,
        con: duckdb.DuckDBPyConnection,
        params: IndexParams,
        *,
        read_only: bool,
        check: str | None = None,
    ) -> None:
        self.path = path
        self.con = con
        self.params = params
        self.read_only = read_only
        self._check = check
        self._fingerprinter: Fingerprinter | None = None

    @property
    def fingerprinter(self) -> Fingerprinter:
        """The index's fingerprinter, made on first use (it loads datasketch and the kernels).

        An index whose fingerprints this machine computes differently is refused here: at open for
        writing, and for readers (an audit) when they first fingerprint. Queries never need it.
        """
        if self._fingerprinter is None:
            fingerprinter = Fingerprinter(self.params)
            if self._check is not None and fingerprinter.check_value() != self._check:
                raise IndexParametersError(
                    self.path,
                    "fingerprints computed here differ from the ones this index was built with "
                    "(a different tokenizer, hash or library version); rebuild the index",
                )
            self._fingerprinter = fingerprinter
        return self._fingerprinter

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        params: IndexParams | None = None,
        read_only: bool = False,
        tool_version: str = "",
        wait_s: float = 0.0,
    ) -> IndexStore:
        """Open (and, for writing, create or migrate) the index at ``path``.

        ``params`` are the parameters the caller insists on: an index made with others is refused.
        ``None`` accepts whatever the index holds, and makes a new index with the defaults. While
        another process holds the lock, tries again for up to ``wait_s`` seconds (the one lock wait
        every caller uses), then raises ``IndexInUseError``.
        """
        deadline = time.monotonic() + wait_s
        delay = 0.05
        while True:
            try:
                return cls._open_once(path, params=params, read_only=read_only, tool_version=tool_version)
            except IndexInUseError:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                time.sleep(min(delay, left))
                delay = min(delay * 2, 0.5)

    @classmethod
    def _open_once(
        cls, path: str | Path, *, params: IndexParams | None, read_only: bool, tool_version: str
    ) -> IndexStore:
        spath = str(path)
        if read_only and not Path(spath).exists():
            raise IndexMissingError(spath, "no index here yet; create one with `provenance add`")
        if Path(spath).is_dir():
            raise NotAnIndexError(spath, "is a directory, not an index file")
        try:
            con = duckdb.connect(spath, read_only=read_only)
        except duckdb.Error as exc:
            raise _classify(spath, exc) from exc
        con.execute("SET enable_progress_bar = false")  # it draws on stdout, where results go, past 2 s
        if not read_only:
            # DuckDB checkpoints (rewrites the file) whenever the WAL passes 16 MB: a bulk add of texts
            # did so every few batches, and spent half its time there. Committed transactions are in the
            # WAL and survive a kill all the same (replayed on the next open); the file is checkpointed
            # on close.
            con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_MB}MB'")
        try:
            stored = cls._read_meta(spath, con)
            if stored is None:
                if read_only:
                    raise NotAnIndexError(spath, "not a provenance index (no index metadata)")  # noqa: TRY301
                stored = cls._initialize(spath, con, params or IndexParams(), tool_version)
            else:
                cls._migrate(spath, con, stored, read_only=read_only)
            index_params = cls._check_params(spath, stored, params)
            store = cls(spath, con, index_params, read_only=read_only, check=stored.get("check", ""))
            if not read_only:
                store.fingerprinter  # noqa: B018 - a writer checks the fingerprints at once
        except BaseException:
            con.close()
            raise
        return store

    @staticmethod
    def _read_meta(path: str, con: duckdb.DuckDBPyConnection) -> dict[str, str] | None:
        tables = {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if not tables:
            return None
        if "meta" not in tables:
            raise NotAnIndexError(path, "not a provenance index (a DuckDB file without index metadata)")
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("application") != APPLICATION:
            raise NotAnIndexError(path, "not a provenance index (its metadata is not ours)")
        return meta

    @staticmethod
    def _initialize(
        path: str, con: duckdb.DuckDBPyConnection, params: IndexParams, tool_version: str
    ) -> dict[str, str]:
        meta = {
            "application": APPLICATION,
            "schema_version": "0",
            "params": params.to_json(),
            "check": Fingerprinter(params).check_value(),
            "created_at": datetime.now(timezone.utc).isoformat(),
            "created_by": tool_version,
        }
        con.begin()
        try:
            con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
            con.executemany("INSERT INTO meta VALUES (?, ?)", list(meta.items()))
            con.commit()
        except BaseException:
            con.rollback()
            raise
        IndexStore._migrate(path, con, meta, read_only=False)
        return meta

    @staticmethod
    def _migrate(path: str, con: duckdb.DuckDBPyConnection, meta: dict[str, str], *, read_only: bool) -> None:
        version = int(meta.get("schema_version", "0"))
        if version > SCHEMA_VERSION:
            raise IndexVersionError(
                path,
                f"index schema {version} is newer than this version of provenance knows ({SCHEMA_VERSION}); "
                "upgrade provenance",
            )
        if version == SCHEMA_VERSION:
            return
        if read_only:
            raise IndexVersionError(
                path,
                f"index schema {version} is older than {SCHEMA_VERSION}; run `provenance add` once to upgrade it",
            )
        for number in range(version + 1, SCHEMA_VERSION + 1):
            con.begin()
            try:
                MIGRATIONS[number - 1](con)
                con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(number)])
                con.commit()
            except BaseException:
                con.rollback()
                raise
        meta["schema_version"] = str(SCHEMA_VERSION)

    @staticmethod
    def _check_params(path: str, meta: dict[str, str], wanted: IndexParams | None) -> IndexParams:
        try:
            stored = IndexParams.from_json(meta["params"])
        except (KeyError, ValueError, TypeError) as exc:
            raise NotAnIndexError(path, f"index parameters are unreadable ({exc})") from exc
        if wanted is not None and wanted != stored:
            diff = "; ".join(stored.differences(wanted))
            raise IndexParametersError(
                path,
                f"index was built with other fingerprint parameters (index != requested: {diff})",
            )
        return stored

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Release the file (and the write lock)."""
        self.con.close()

    def __enter__(self) -> IndexStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """``with store.transaction() as con:``: committed at the end, rolled back on any error or interrupt."""
        self.con.begin()
        try:
            yield self.con
            self.con.commit()
        except BaseException:
            self.con.rollback()
            raise

    # -- writing -------------------------------------------------------------------------------

    def add_work(self, work: NewWork, passages: Passages | None = None) -> tuple[AddOutcome, int]:
        """Index one work in one transaction; an unchanged work is left alone, a changed one replaced.

        Returns the outcome and the work id (stable across replacements of the same source).
        """
        return self.add_works([(work, passages)])[0]

    def add_works(self, works: Sequence[tuple[NewWork, Passages | None]]) -> list[tuple[AddOutcome, int]]:
        """``add_work`` for several works in one transaction: a commit costs more than a work's rows.

        All of them are written, or none: a kill leaves no part of any. New works' rows go in with one
        insert per table. A work with the source of an earlier one in the same call replaces it (or is
        unchanged), as in separate calls.
        """
        if self.read_only:
            raise IndexStoreError(self.path, "opened read-only")
        with self.transaction():
            if len({work.source for work, _ in works}) < len(works):
                return [self._add_one(work, passages) for work, passages in works]
            return self._add_distinct(works)

    def _add_distinct(self, works: Sequence[tuple[NewWork, Passages | None]]) -> list[tuple[AddOutcome, int]]:
        """Works of distinct sources, inside the caller's transaction: known sources one by one, new ones together."""
        sources = [work.source for work, _ in works]
        known = {
            str(r[0])
            for r in self.con.execute(
                "SELECT source FROM works WHERE source IN (SELECT unnest(?::VARCHAR[]))", [sources]
            ).fetchall()
        }
        outcomes: dict[int, tuple[AddOutcome, int]] = {}
        new: list[tuple[int, NewWork, Passages]] = []
        for i, (work, passages) in enumerate(works):
            if work.source in known:
                outcomes[i] = self._add_one(work, passages)
            else:
                new.append((i, work, passages or self.fingerprinter.passages(self.fingerprinter.tokenize(work.text))))
        if new:
            work_ids = self._next_ids("work_ids", len(new))
            passage_ids = self._next_ids("passage_ids", sum(len(p) for _, _, p in new))
            tables: list[tuple[pa.Table, pa.Table, pa.Table]] = []
            at = 0
            for (i, _, passages), work_id in zip(new, work_ids.tolist(), strict=True):
                tables.append(_passage_tables(work_id, passages, passage_ids[at : at + len(passages)]))
                at += len(passages)
                outcomes[i] = ("added", work_id)
            ids = work_ids.tolist()
            self._insert_arrow_named(
                "works", _work_rows([(w, work, p) for w, (_, work, p) in zip(ids, new, strict=True)])
            )
            self._insert_extras_many([(w, work) for w, (_, work, _) in zip(ids, new, strict=True)])
            for name, parts in zip(("passages", "bands", "anchors"), zip(*tables, strict=True), strict=True):
                self._insert_arrow(name, pa.concat_tables(parts))
        return [outcomes[i] for i in range(len(works))]

    def _next_ids(self, sequence: str, n: int) -> I64:
        if not n:
            return np.zeros(0, dtype=np.int64)
        ids = self.con.execute(f"SELECT nextval('{sequence}') AS id FROM range(?)", [n]).fetchnumpy()["id"]
        return np.asarray(ids, dtype=np.int64)

    def _add_one(self, work: NewWork, passages: Passages | None) -> tuple[AddOutcome, int]:
        """Write one work inside the caller's transaction."""
        existing = self._row("SELECT work_id, content_sha256, text_sha256 FROM works WHERE source = ?", [work.source])
        if existing and existing[1] == work.content_sha256 and existing[2] == work.text_sha256:
            return "unchanged", int(existing[0])
        if passages is None:
            passages = self.fingerprinter.passages(self.fingerprinter.tokenize(work.text))
        if existing:
            work_id = int(existing[0])
            self._delete_children(work_id)
            assignments = ", ".join(f"{column} = ?" for column in _WRITTEN)
            self.con.execute(f"UPDATE works SET {assignments} WHERE work_id = ?", [*_work_row(work, passages), work_id])
        else:
            work_id = self._int("SELECT nextval('work_ids')")
            self._insert_arrow_named("works", _work_rows([(work_id, work, passages)]))
        if len(passages):
            ids = self._next_ids("passage_ids", len(passages))
            for name, table in zip(
                ("passages", "bands", "anchors"), _passage_tables(work_id, passages, ids), strict=True
            ):
                self._insert_arrow(name, table)
        self._insert_extras_many([(work_id, work)])
        return ("replaced" if existing else "added"), work_id

    def _insert_extras_many(self, works: Sequence[tuple[int, NewWork]]) -> None:
        """Consent records and transcript cues of many works, one statement per table."""
        consent = [
            (
                work_id,
                work.retrieved_at,
                str(work.consent.get("status", "unknown")),
                str(work.consent.get("summary", "")),
                json.dumps(work.consent, sort_keys=True, default=str),
            )
            for work_id, work in works
            if work.consent is not None
        ]
        if consent:
            self.con.executemany("INSERT INTO consent VALUES (?, ?, ?, ?, ?)", consent)
        cued = [
            (work_id, np.asarray(work.cues, dtype=np.float64).reshape(-1, 4)) for work_id, work in works if work.cues
        ]
        if cued:
            ids = np.concatenate([np.full(c.shape[0], w, dtype=np.int64) for w, c in cued])
            cues = np.concatenate([c for _, c in cued])
            self._insert_arrow(
                "cues",
                pa.table(
                    {
                        "work_id": pa.array(ids),
                        "char_start": pa.array(cues[:, 0].astype(np.int32)),
                        "char_end": pa.array(cues[:, 1].astype(np.int32)),
                        "start_s": pa.array(cues[:, 2]),
                        "end_s": pa.array(cues[:, 3]),
                    }
                ),
            )

    def _insert_arrow_named(self, table: str, data: pa.Table) -> None:
        """Insert an Arrow table by column name (the table may have more columns, left at their defaults)."""
        columns = ", ".join(f'"{name}"' for name in data.column_names)
        self.con.register("_incoming", data)
        try:
            self.con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _incoming")
        finally:
            self.con.unregister("_incoming")

    def _delete_children(self, work_id: int) -> None:
        self.con.execute(
            "DELETE FROM bands WHERE passage_id IN (SELECT passage_id FROM passages WHERE work_id = ?)",
            [work_id],
        )
        self.con.execute("DELETE FROM passages WHERE work_id = ?", [work_id])
        self.con.execute("DELETE FROM anchors WHERE work_id = ?", [work_id])
        self.con.execute("DELETE FROM consent WHERE work_id = ?", [work_id])
        self.con.execute("DELETE FROM cues WHERE work_id = ?", [work_id])

    def relabel(self, work_id: int, values: dict[str, str]) -> None:
        """Set a work's descriptive columns (``title``, ``creator``, ``rights_holder``, ``org_id``, ``licence``)."""
        allowed = {"title", "creator", "rights_holder", "org_id", "licence"}
        unknown = set(values) - allowed
        if unknown:
            raise ValueError(f"not a descriptive column of a work: {', '.join(sorted(unknown))}")
        if values:
            assignments = ", ".join(f"{column} = ?" for column in values)
            with self.transaction() as con:
                con.execute(f"UPDATE works SET {assignments} WHERE work_id = ?", [*values.values(), work_id])

    def refresh_common(self) -> int:
        """Recount which anchors are common (shared by ``common_threshold`` works or more); returns how many.

        Call after a batch of adds: common anchors are stock phrases and boilerplate, which never count
        as evidence and are not looked up.
        """
        threshold = self.common_threshold()
        with self.transaction() as con:
            con.execute("DELETE FROM common_anchors")
            con.execute(
                "INSERT INTO common_anchors SELECT key, count(DISTINCT work_id) FROM anchors GROUP BY key "
                "HAVING count(DISTINCT work_id) >= ?",
                [threshold],
            )
        return self._int("SELECT count(*) FROM common_anchors")

    def common_threshold(self) -> int:
        """Works an anchor must occur in to count as common: 3, or one in a thousand works if more."""
        works = self._int("SELECT count(*) FROM works")
        return max(COMMON_MIN_WORKS, -(-works // COMMON_FRACTION))

    def _insert_arrow(self, table: str, data: pa.Table) -> None:
        self.con.register("_incoming", data)
        try:
            self.con.execute(f"INSERT INTO {table} SELECT * FROM _incoming")
        finally:
            self.con.unregister("_incoming")

    # -- reading -------------------------------------------------------------------------------

    def _row(self, sql: str, params: list[Any] | None = None) -> tuple[Any, ...] | None:
        rows = self.con.execute(sql, params or []).fetchall()
        return rows[0] if rows else None

    def _int(self, sql: str, params: list[Any] | None = None) -> int:
        row = self._row(sql, params)
        if row is None:
            raise IndexStoreError(self.path, f"query returned no row: {sql}")
        return int(row[0])

    def works(self, *, creator: str | None = None, rights_holder: str | None = None) -> list[WorkRecord]:
        """Every indexed work (of ``creator`` and of ``rights_holder``, when given), in the order first added."""
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("creator", creator), ("rights_holder", rights_holder)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        condition = f"WHERE {' AND '.join(where)} " if where else ""
        rows = self.con.execute(f"SELECT {_WORK_COLUMNS} FROM works {condition}ORDER BY work_id", params).fetchall()
        return [_work_record(r) for r in rows]

    def work(self, work_id: int) -> WorkRecord:
        """One work by id."""
        row = self._row(f"SELECT {_WORK_COLUMNS} FROM works WHERE work_id = ?", [work_id])
        if row is None:
            raise IndexStoreError(self.path, f"no work with id {work_id}")
        return _work_record(row)

    def work_by_source(self, source: str) -> WorkRecord | None:
        """The work indexed from ``source``, if any."""
        row = self._row(f"SELECT {_WORK_COLUMNS} FROM works WHERE source = ?", [source])
        return None if row is None else _work_record(row)

    def known_sources(self, sources: Sequence[str]) -> dict[str, tuple[int, str, str]]:
        """``source -> (work_id, content_sha256, text_sha256)`` of the indexed works among ``sources``, in one query."""
        rows = self.con.execute(
            "SELECT source, work_id, content_sha256, text_sha256 FROM works "
            "WHERE source IN (SELECT unnest(?::VARCHAR[]))",
            [list(sources)],
        ).fetchall()
        return {str(r[0]): (int(r[1]), str(r[2]), str(r[3])) for r in rows}

    def work_text(self, work_id: int) -> str:
        """The clean text the work's fingerprints and offsets refer to."""
        row = self._row("SELECT text FROM works WHERE work_id = ?", [work_id])
        if row is None:
            raise IndexStoreError(self.path, f"no work with id {work_id}")
        return str(row[0])

    def cues(self, work_id: int) -> list[tuple[int, int, float, float]]:
        """``(char_start, char_end, start_s, end_s)`` of a transcript's cues, in text order."""
        rows = self.con.execute(
            "SELECT char_start, char_end, start_s, end_s FROM cues WHERE work_id = ? ORDER BY char_start",
            [work_id],
        ).fetchall()
        return [(int(a), int(b), float(c), float(d)) for a, b, c, d in rows]

    def works_to_verify(self, work_ids: Sequence[int]) -> dict[int, StoredWork]:
        """What verifying against each work needs, for many works in a few queries (one per table)."""
        if not work_ids:
            return {}
        ids = sorted(set(work_ids))
        pick = "IN (SELECT unnest(?::BIGINT[]))"
        rows = self.con.execute(f"SELECT {_WORK_COLUMNS}, text FROM works WHERE work_id {pick}", [ids]).fetchall()
        cues: dict[int, list[tuple[int, int, float, float]]] = {}
        for w, a, b, c, d in self.con.execute(
            f"SELECT work_id, char_start, char_end, start_s, end_s FROM cues WHERE work_id {pick} ORDER BY ALL", [ids]
        ).fetchall():
            cues.setdefault(int(w), []).append((int(a), int(b), float(c), float(d)))
        consent = {
            int(w): (str(status), str(summary))
            for w, status, summary in self.con.execute(
                f"SELECT work_id, status, summary FROM consent WHERE work_id {pick}", [ids]
            ).fetchall()
        }
        common: dict[int, list[int]] = {}
        for w, pos in self.con.execute(
            "SELECT a.work_id, a.token_pos FROM anchors a SEMI JOIN common_anchors c ON c.key = a.key "
            f"WHERE a.work_id {pick} ORDER BY ALL",
            [ids],
        ).fetchall():
            common.setdefault(int(w), []).append(int(pos))
        found = {}
        for row in rows:
            record = _work_record(row[:-1])
            w = record.work_id
            found[w] = StoredWork(record, str(row[-1]), cues.get(w, []), consent.get(w), common.get(w, []))
        return found

    def lookup(self, engine: Literal["memory", "duckdb"] = "memory") -> Lookup:
        """A candidate lookup over this index: arrays in memory, or joins in DuckDB.

        For large indexes the arrays are cached in ``INDEX.lookup/`` beside the file, keyed by what
        they were built from, so later processes memory-map them instead of rebuilding.
        """
        if engine == "duckdb":
            return DuckDBLookup(self.con)
        return MemoryLookup(self.con, cache=Path(f"{self.path}.lookup"), version=self._lookup_version())

    def _lookup_version(self) -> str:
        """What the lookup arrays depend on: the works, the parameters, the passage ids and the index's birth."""
        state = self.state()
        created = self._row("SELECT value FROM meta WHERE key = 'created_at'")
        parts = [
            state.digest,
            self.params.to_json(),
            str(state.passages),
            str(self._int("SELECT coalesce(max(passage_id), 0) FROM passages")),
            str(self._int("SELECT count(*) FROM common_anchors")),
            str(created[0] if created else ""),
        ]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def record_catalog_failures(self, catalog: str, failures: Sequence[tuple[str, str, str]]) -> None:
        """Replace the recorded failures of ``catalog`` by ``(location, source, reason)`` of its latest run."""
        now = datetime.now(timezone.utc)
        with self.transaction() as con:
            con.execute("DELETE FROM catalog_failures WHERE catalog = ?", [catalog])
            if failures:
                con.executemany(
                    "INSERT INTO catalog_failures VALUES (?, ?, ?, ?, ?)",
                    [(catalog, location, source, reason, now) for location, source, reason in failures],
                )

    def consent(self, work_id: int) -> tuple[str, str] | None:
        """``(status, summary)`` of the rights signals recorded when the work was retrieved, if any."""
        row = self._row("SELECT status, summary FROM consent WHERE work_id = ?", [work_id])
        return None if row is None else (str(row[0]), str(row[1]))

    def common_positions(self, work_id: int) -> list[int]:
        """Token positions of the common anchors (stock phrases, boilerplate) in one work."""
        rows = self.con.execute(
            "SELECT a.token_pos FROM anchors a SEMI JOIN common_anchors c ON c.key = a.key "
            "WHERE a.work_id = ? ORDER BY a.token_pos",
            [work_id],
        ).fetchall()
        return [int(r[0]) for r in rows]

    def state(self) -> IndexState:
        """Work and passage counts and a digest over every work's source and content hash."""
        digest = hashlib.sha256()
        for source, sha in self.con.execute("SELECT source, content_sha256 FROM works ORDER BY source").fetchall():
            digest.update(f"{source}\t{sha}\n".encode())
        return IndexState(
            works=self._int("SELECT count(*) FROM works"),
            passages=self._int("SELECT count(*) FROM passages"),
            digest=digest.hexdigest(),
            schema_version=SCHEMA_VERSION,
            params=self.params,
        )


def first_row(result: duckdb.DuckDBPyConnection) -> tuple[Any, ...] | None:
    """The first row of a result, read to the end: DuckDB blocks a connection while a result is unfinished."""
    rows = result.fetchall()
    return rows[0] if rows else None


def _work_row(work: NewWork, passages: Passages) -> list[Any]:
    """A work's values for the ``_WRITTEN`` columns."""
    return [
        work.kind,
        work.title,
        work.creator,
        work.rights_holder,
        work.org_id,
        work.licence,
        work.consent_declared,
        work.consent_declared_source,
        work.content_sha256,
        work.text_sha256,
        work.modified_at,
        work.retrieved_at,
        datetime.now(timezone.utc),
        len(passages.tokens),
        len(passages),
        json.dumps(work.metadata, sort_keys=True, default=str),
        work.text,
    ]


_WORK_ROW_TYPES = {
    "work_id": pa.int64(),
    "source": pa.string(),
    "kind": pa.string(),
    "title": pa.string(),
    "creator": pa.string(),
    "rights_holder": pa.string(),
    "org_id": pa.string(),
    "licence": pa.string(),
    "consent_declared": pa.string(),
    "consent_declared_source": pa.string(),
    "content_sha256": pa.string(),
    "text_sha256": pa.string(),
    "modified_at": pa.timestamp("us", tz="UTC"),
    "retrieved_at": pa.timestamp("us", tz="UTC"),
    "added_at": pa.timestamp("us", tz="UTC"),
    "n_tokens": pa.int32(),
    "n_passages": pa.int32(),
    "metadata": pa.string(),
    "text": pa.string(),
}


def _work_rows(works: Sequence[tuple[int, NewWork, Passages]]) -> pa.Table:
    """Rows of ``works`` for new works, as one Arrow table (one insert for a batch, not one per work)."""
    rows = [[work_id, work.source, *_work_row(work, passages)] for work_id, work, passages in works]
    columns = list(zip(*rows, strict=True))
    return pa.table(
        {
            name: pa.array(list(values), type=kind)
            for (name, kind), values in zip(_WORK_ROW_TYPES.items(), columns, strict=True)
        }
    )


def _passage_tables(work_id: int, passages: Passages, ids: I64) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Rows of ``passages``, ``bands`` and ``anchors`` for one work's fingerprints; ``ids`` are its passage ids."""
    n = len(passages)
    chars = passages.char_ranges()
    rows = pa.table(
        {
            "passage_id": pa.array(ids),
            "work_id": pa.array(np.full(n, work_id, dtype=np.int64)),
            "ordinal": pa.array(np.arange(n, dtype=np.int32)),
            "token_start": pa.array(passages.ranges[:, 0].astype(np.int32)),
            "token_end": pa.array(passages.ranges[:, 1].astype(np.int32)),
            "char_start": pa.array(chars[:, 0].astype(np.int32)),
            "char_end": pa.array(chars[:, 1].astype(np.int32)),
        }
    )
    bands = pa.table(
        {"key": pa.array(passages.keys.reshape(-1)), "passage_id": pa.array(np.repeat(ids, passages.keys.shape[1]))}
    )
    anchors = pa.table(
        {
            "key": pa.array(passages.anchor_keys),
            "work_id": pa.array(np.full(passages.anchor_keys.shape[0], work_id, dtype=np.int64)),
            "token_pos": pa.array(passages.anchor_positions.astype(np.int32)),
        }
    )
    return rows, bands, anchors


def _work_record(row: tuple[Any, ...]) -> WorkRecord:
    return WorkRecord(
        work_id=int(row[0]),
        source=row[1],
        kind=row[2],
        title=row[3],
        creator=row[4],
        rights_holder=row[5],
        org_id=row[6],
        licence=row[7],
        consent_declared=row[8],
        consent_declared_source=row[9],
        content_sha256=row[10],
        text_sha256=row[11],
        modified_at=row[12],
        retrieved_at=row[13],
        added_at=row[14],
        n_tokens=int(row[15]),
        n_passages=int(row[16]),
        metadata=json.loads(row[17]),
    )
