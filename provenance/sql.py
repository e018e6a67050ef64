"""Read-only SQL over the index's documented views, and their export as Parquet.

The views live in the index file itself, in the schema ``research`` (migration ``m003_audits``; since
``m006_work_rights``, ``works`` and ``matches`` carry ``rights_holder``, ``org_id`` and ``licence`` beside
``creator``), so any DuckDB client reads them (``SELECT * FROM research.matches``); each view and most
columns carry a comment (``duckdb_views()``, ``duckdb_columns()``). ``provenance sql`` puts ``research``
first on the search path, so ``works`` there means ``research.works``; the internal tables stay
reachable as ``main.NAME``.

Queries run on a read-only connection, and only single ``SELECT`` statements (``WITH``, ``DESCRIBE``,
``SHOW`` and ``SUMMARIZE`` included) are accepted: ``COPY ... TO``, ``ATTACH``, ``SET``, ``INSTALL``
and the like would write files or change state even on a read-only database, and are refused before
they run.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

import duckdb

from indexes.store import first_row
from provenance.errors import OutputError, QueryError

if TYPE_CHECKING:
    from pathlib import Path

    from indexes import IndexStore

VIEW_SCHEMA = "research"
EXPORTED_VIEWS = (
    "works",
    "passages",
    "consent",
    "audits",
    "audit_inputs",
    "matches",
    "latest_matches",
    "shards",
    "failures",
    "probe_requests",
    "probe_works",
)
DEFAULT_LIMIT = 1000
OutputFormat = Literal["csv", "json", "jsonl"]


@dataclass(frozen=True)
class QueryResult:
    """Column names and types, the rows fetched, and whether ``limit`` cut them short."""

    columns: tuple[str, ...]
    types: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    truncated: bool


@dataclass(frozen=True)
class Column:
    """One column of a documented view."""

    name: str
    type: str
    comment: str


@dataclass(frozen=True)
class View:
    """A documented view: ``research.NAME``, what it holds, its columns."""

    name: str
    comment: str
    columns: tuple[Column, ...]


def prepare(store: IndexStore) -> duckdb.DuckDBPyConnection:
    """The store's read-only connection, set up for user queries (views first, no extension installs)."""
    if not store.read_only:
        raise QueryError(f"{store.path}: SQL runs only on an index opened read-only")
    con = store.con
    con.execute(f"SET search_path = '{VIEW_SCHEMA},main'")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET lock_configuration = true")
    return con


def run_query(store: IndexStore, query: str, *, limit: int | None = DEFAULT_LIMIT) -> QueryResult:
    """Run one read-only ``SELECT``; at most ``limit`` rows (None or 0: all)."""
    con = prepare(store)
    try:
        statements = con.extract_statements(query)
    except duckdb.Error as exc:
        raise QueryError(_first_line(exc)) from exc
    if len(statements) != 1:
        raise QueryError(f"give one SQL statement at a time (got {len(statements)})")
    (statement,) = statements
    if statement.type != duckdb.StatementType.SELECT:
        kind = str(statement.type).rsplit(".", 1)[-1]
        raise QueryError(
            f"refused: {kind} statements can write or change state; `provenance sql` only reads "
            "(SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE)"
        )
    try:
        cursor = con.execute(query)
        description = cursor.description or []
        rows = cursor.fetchall() if not limit else cursor.fetchmany(limit + 1)
    except duckdb.Error as exc:
        raise QueryError(_first_line(exc)) from exc
    truncated = bool(limit) and len(rows) > (limit or 0)
    return QueryResult(
        columns=tuple(d[0] for d in description),
        types=tuple(str(d[1]) for d in description),
        rows=rows[:limit] if limit else rows,
        truncated=truncated,
    )


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def views(store: IndexStore) -> list[View]:
    """The documented views with their comments, in the order of ``EXPORTED_VIEWS``."""
    comments = dict(
        store.con.execute(
            "SELECT view_name, coalesce(comment, '') FROM duckdb_views() WHERE schema_name = ?", [VIEW_SCHEMA]
        ).fetchall()
    )
    columns: dict[str, list[Column]] = {}
    for table, name, kind, comment in store.con.execute(
        "SELECT table_name, column_name, data_type, coalesce(comment, '') FROM duckdb_columns() "
        "WHERE schema_name = ? ORDER BY table_name, column_index",
        [VIEW_SCHEMA],
    ).fetchall():
        columns.setdefault(table, []).append(Column(name, kind, comment))
    order = {name: i for i, name in enumerate(EXPORTED_VIEWS)}
    return [
        View(name, comments[name], tuple(columns.get(name, ())))
        for name in sorted(comments, key=lambda n: (order.get(n, len(order)), n))
    ]


def jsonable(value: Any) -> Any:  # noqa: ANN401, PLR0911 - any DuckDB value; one return per kind
    """A DuckDB value as JSON: times as ISO 8601, decimals as numbers, bytes as base64, NaN as null."""
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def format_result(result: QueryResult, fmt: OutputFormat) -> str:
    """Rows as CSV (header first), JSON (a list of objects keyed by column) or JSON Lines."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(result.columns)
        for row in result.rows:
            writer.writerow(["" if v is None else _csv_value(v) for v in row])
        return buffer.getvalue()
    objects = [dict(zip(result.columns, (jsonable(v) for v in row), strict=True)) for row in result.rows]
    if fmt == "json":
        return json.dumps(objects, ensure_ascii=False, indent=2) + "\n"
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objects)


def _csv_value(value: Any) -> str:  # noqa: ANN401 - any value DuckDB returns
    converted = jsonable(value)
    return json.dumps(converted, ensure_ascii=False) if isinstance(converted, (list, dict)) else str(converted)


@dataclass(frozen=True)
class Exported:
    """One Parquet file written by ``export_views``."""

    view: str
    path: Path
    rows: int


def export_views(store: IndexStore, directory: Path) -> list[Exported]:
    """Write every documented view as ``DIRECTORY/VIEW.parquet`` (zstd), plus ``schema.json`` describing them."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{directory}: cannot create the export folder ({exc.strerror or exc})") from exc
    written = []
    described = views(store)
    for view in described:
        target = directory / f"{view.name}.parquet"
        literal = "'" + str(target).replace("'", "''") + "'"
        try:
            store.con.execute(
                f"COPY (SELECT * FROM {VIEW_SCHEMA}.{view.name}) TO {literal} (FORMAT parquet, COMPRESSION zstd)"
            )
        except duckdb.Error as exc:
            raise OutputError(f"{target}: cannot write ({_first_line(exc)})") from exc
        count = first_row(store.con.execute(f"SELECT count(*) FROM {VIEW_SCHEMA}.{view.name}"))
        written.append(Exported(view.name, target, int(count[0]) if count else 0))
    schema = {
        view.name: {
            "description": view.comment,
            "file": f"{view.name}.parquet",
            "columns": [{"name": c.name, "type": c.type, "description": c.comment} for c in view.columns],
        }
        for view in described
    }
    try:
        (directory / "schema.json").write_text(
            json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    except OSError as exc:
        raise OutputError(f"{directory / 'schema.json'}: cannot write ({exc.strerror or exc})") from exc
    return written
