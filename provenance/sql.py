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
import threading
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

import duckdb

from indexes.errors import IndexStoreError
from indexes.migrations import MIGRATIONS
from indexes.store import first_row
from provenance.errors import OutputError, QueryError
from provenance.options import DEFAULT_LIMIT

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
OutputFormat = Literal["csv", "json", "jsonl"]
QUERY_SECONDS = 60.0
QUERY_MEMORY = "2GB"


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


def expected_views() -> dict[str, str]:
    """The SQL of every research view as this version of the tool creates it (in a scratch database)."""
    con = duckdb.connect()
    try:
        for migration in MIGRATIONS:
            migration(con)
        return _view_sql(con)
    finally:
        con.close()


def _view_sql(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    rows = con.execute(
        "SELECT view_name, sql FROM duckdb_views() WHERE schema_name = ? AND database_name = current_database()",
        [VIEW_SCHEMA],
    ).fetchall()
    return {str(name): str(sql) for name, sql in rows}


def check_views(store: IndexStore) -> None:
    """Refuse an index whose research views are not exactly the ones the tool made (they would run any SQL)."""
    found, wanted = _view_sql(store.con), expected_views()
    extra = sorted(set(found) - set(wanted))
    changed = sorted(name for name in wanted if found.get(name) != wanted[name])
    if extra or changed:
        what = "; ".join(
            part
            for part in (
                f"views the tool did not make: {', '.join(repr(n) for n in extra)}" if extra else "",
                f"views changed or missing: {', '.join(changed)}" if changed else "",
            )
            if part
        )
        raise IndexStoreError(
            store.path,
            f"its research views are not the ones provenance creates ({what}); "
            "`sql` and `export` run only on views they know (open it with DuckDB yourself if you trust it)",
        )


def prepare(store: IndexStore) -> duckdb.DuckDBPyConnection:
    """The store's read-only connection, set up for user queries (views first, no extension installs)."""
    if not store.read_only:
        raise QueryError(f"{store.path}: SQL runs only on an index opened read-only")
    check_views(store)
    con = store.con
    con.execute(f"SET search_path = '{VIEW_SCHEMA},main'")
    # The index and nothing else: no files, URLs or extensions reachable from a query (read_text('/etc/...'),
    # httpfs), a bound on memory, and the configuration locked so a query cannot undo any of it.
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute(f"SET memory_limit = '{QUERY_MEMORY}'")
    con.execute("SET lock_configuration = true")
    return con


def run_query(
    store: IndexStore, query: str, *, limit: int | None = DEFAULT_LIMIT, timeout_s: float = QUERY_SECONDS
) -> QueryResult:
    """Run one read-only ``SELECT``; at most ``limit`` rows (None or 0: all), interrupted after ``timeout_s``."""
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
    timer = threading.Timer(timeout_s, con.interrupt)
    timer.start()
    try:
        cursor = con.execute(query)
        description = cursor.description or []
        rows = cursor.fetchall() if not limit else cursor.fetchmany(limit + 1)
    except duckdb.InterruptException as exc:
        raise QueryError(f"stopped after {timeout_s:g} s (--timeout sets the limit)") from exc
    except duckdb.Error as exc:
        raise QueryError(_first_line(exc)) from exc
    finally:
        timer.cancel()
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
            writer.writerow(["" if v is None else _defused(_csv_value(v)) for v in row])
        return buffer.getvalue()
    objects = [dict(zip(result.columns, (jsonable(v) for v in row), strict=True)) for row in result.rows]
    if fmt == "json":
        return json.dumps(objects, ensure_ascii=False, indent=2) + "\n"
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objects)


def _defused(text: str) -> str:
    """A CSV cell that a spreadsheet would run as a formula gets a leading apostrophe (OWASP), as in reports."""
    return "'" + text if text[:1] in {"=", "+", "-", "@", "\t", "\r"} and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


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
    check_views(store)
    written = []
    described = [view for view in views(store) if view.name in EXPORTED_VIEWS]
    targets = [directory / f"{view.name}.parquet" for view in described] + [directory / "schema.json"]
    planted = [str(t) for t in targets if t.is_symlink()]
    if planted:
        raise OutputError(f"{directory}: refusing to write through symbolic links ({', '.join(planted)})")
    for view in described:
        target = directory / f"{view.name}.parquet"
        literal = "'" + str(target).replace("'", "''") + "'"
        name = '"' + view.name.replace('"', '""') + '"'
        try:
            store.con.execute(
                f"COPY (SELECT * FROM {VIEW_SCHEMA}.{name}) TO {literal} (FORMAT parquet, COMPRESSION zstd)"
            )
        except duckdb.Error as exc:
            raise OutputError(f"{target}: cannot write ({_first_line(exc)})") from exc
        count = first_row(store.con.execute(f"SELECT count(*) FROM {VIEW_SCHEMA}.{name}"))
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
