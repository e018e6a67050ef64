"""Numbered schema migrations, applied in order when an index is opened for writing.

Each ``mNNN_*`` function takes a connection inside a transaction and moves the schema from version
``NNN - 1`` to ``NNN``. Never edit a released migration: add the next one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    import duckdb

# A documented view: its name in ``research``, what it is, its query over ``main``, a comment per column.
ResearchView = tuple[str, str, str, dict[str, str]]


def m001_create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Works with their text, passage windows, band keys, winnowed anchors, transcript cues."""
    con.execute("CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
    con.execute("CREATE SEQUENCE work_ids START 1")
    con.execute("CREATE SEQUENCE passage_ids START 1")
    con.execute(
        """
        CREATE TABLE works (
            work_id BIGINT PRIMARY KEY,
            source VARCHAR NOT NULL UNIQUE,
            kind VARCHAR NOT NULL,
            title VARCHAR NOT NULL,
            creator VARCHAR,
            content_sha256 VARCHAR NOT NULL,
            text_sha256 VARCHAR NOT NULL,
            modified_at TIMESTAMPTZ,
            retrieved_at TIMESTAMPTZ NOT NULL,
            added_at TIMESTAMPTZ NOT NULL,
            n_tokens INTEGER NOT NULL,
            n_passages INTEGER NOT NULL,
            metadata VARCHAR NOT NULL,
            text VARCHAR NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE passages (
            passage_id BIGINT NOT NULL,
            work_id BIGINT NOT NULL,
            ordinal INTEGER NOT NULL,
            token_start INTEGER NOT NULL,
            token_end INTEGER NOT NULL,
            char_start INTEGER NOT NULL,
            char_end INTEGER NOT NULL
        )
        """
    )
    con.execute("CREATE TABLE bands (key BIGINT NOT NULL, passage_id BIGINT NOT NULL)")
    con.execute("CREATE TABLE anchors (key BIGINT NOT NULL, work_id BIGINT NOT NULL, token_pos INTEGER NOT NULL)")
    con.execute("CREATE TABLE common_anchors (key BIGINT NOT NULL, works INTEGER NOT NULL)")
    con.execute(
        """
        CREATE TABLE cues (
            work_id BIGINT NOT NULL,
            char_start INTEGER NOT NULL,
            char_end INTEGER NOT NULL,
            start_s DOUBLE NOT NULL,
            end_s DOUBLE NOT NULL
        )
        """
    )


def m002_consent(con: duckdb.DuckDBPyConnection) -> None:
    """Rights signals seen when a work was retrieved: a status, a one-line summary, the JSON snapshot."""
    con.execute(
        """
        CREATE TABLE consent (
            work_id BIGINT NOT NULL,
            retrieved_at TIMESTAMPTZ NOT NULL,
            status VARCHAR NOT NULL,
            summary VARCHAR NOT NULL,
            snapshot VARCHAR NOT NULL
        )
        """
    )


def m003_audits(con: duckdb.DuckDBPyConnection) -> None:
    """Stored audit runs (their inputs and matches) and the ``research`` schema of documented views.

    The views are the stable interface for SQL and Parquet export: any DuckDB client reads them as
    ``research.works`` and so on; the tables behind them may change in later migrations.
    """
    con.execute(
        """
        CREATE TABLE audits (
            audit_id VARCHAR PRIMARY KEY,
            started_at TIMESTAMPTZ NOT NULL,
            finished_at TIMESTAMPTZ NOT NULL,
            tool_version VARCHAR NOT NULL,
            index_works BIGINT NOT NULL,
            index_passages BIGINT NOT NULL,
            index_digest VARCHAR NOT NULL,
            index_schema INTEGER NOT NULL,
            parameters VARCHAR NOT NULL,
            arguments VARCHAR NOT NULL,
            texts_scanned INTEGER NOT NULL,
            texts_matched INTEGER NOT NULL,
            inputs_failed INTEGER NOT NULL,
            n_matches INTEGER NOT NULL,
            works_matched INTEGER NOT NULL,
            manifest_sha256 VARCHAR NOT NULL,
            manifest VARCHAR NOT NULL,
            recorded_at TIMESTAMPTZ NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE audit_inputs (
            audit_id VARCHAR NOT NULL,
            ordinal INTEGER NOT NULL,
            scanned VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            record_id VARCHAR,
            sha256 VARCHAR,
            source_sha256 VARCHAR,
            chars BIGINT,
            n_matches INTEGER NOT NULL,
            error VARCHAR,
            PRIMARY KEY (audit_id, ordinal)
        )
        """
    )
    con.execute(
        """
        CREATE TABLE audit_works (
            audit_id VARCHAR NOT NULL,
            work_id BIGINT NOT NULL,
            source VARCHAR NOT NULL,
            title VARCHAR NOT NULL,
            creator VARCHAR,
            kind VARCHAR NOT NULL,
            content_sha256 VARCHAR NOT NULL,
            text_sha256 VARCHAR NOT NULL,
            retrieved_at TIMESTAMPTZ NOT NULL,
            consent_status VARCHAR,
            consent_summary VARCHAR,
            consent_snapshot VARCHAR,
            PRIMARY KEY (audit_id, work_id)
        )
        """
    )
    con.execute(
        """
        CREATE TABLE matches (
            audit_id VARCHAR NOT NULL,
            match_no INTEGER NOT NULL,
            work_id BIGINT NOT NULL,
            scanned VARCHAR NOT NULL,
            record_id VARCHAR,
            score DOUBLE NOT NULL,
            estimated_similarity DOUBLE NOT NULL,
            containment DOUBLE NOT NULL,
            verbatim_words INTEGER NOT NULL,
            matched_words INTEGER NOT NULL,
            evidence_words INTEGER NOT NULL,
            scanned_start BIGINT NOT NULL,
            scanned_end BIGINT NOT NULL,
            work_start BIGINT NOT NULL,
            work_end BIGINT NOT NULL,
            work_time_start DOUBLE,
            work_time_end DOUBLE,
            link VARCHAR,
            scanned_excerpt VARCHAR NOT NULL,
            work_excerpt VARCHAR NOT NULL,
            PRIMARY KEY (audit_id, match_no)
        )
        """
    )
    con.execute("CREATE SCHEMA research")
    _create_views(con, _RESEARCH_VIEWS)


def _create_views(con: duckdb.DuckDBPyConnection, views: tuple[ResearchView, ...]) -> None:
    """Create (or replace) research views with their comments; a replaced view loses its comments, so all are set."""
    for name, comment, sql, columns in views:
        con.execute(f"CREATE OR REPLACE VIEW research.{name} AS {sql}")
        con.execute(f"COMMENT ON VIEW research.{name} IS {_quote(comment)}")
        for column, text in columns.items():
            con.execute(f"COMMENT ON COLUMN research.{name}.{column} IS {_quote(text)}")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# (view, what it is, its query over main, a comment per column). Views qualify every table with
# ``main.`` so they bind the same in a file attached under any name.
_RESEARCH_VIEWS: tuple[ResearchView, ...] = (
    (
        "works",
        "Indexed works (without their text): one row per work.",
        (
            "SELECT work_id, source, title, creator, kind, retrieved_at, modified_at, added_at, content_sha256, "
            "text_sha256, n_tokens AS words, n_passages AS passages, metadata FROM main.works"
        ),
        {
            "work_id": "Stable id of the work (kept when a changed source replaces it).",
            "source": "Where the work came from: a path, URL or video URL.",
            "creator": "Author or channel, when the source names one.",
            "kind": "text, markdown, html, web, youtube, transcript ...",
            "retrieved_at": "When the indexed version was read or fetched (UTC).",
            "content_sha256": "SHA-256 of the raw bytes as retrieved (file or HTTP body).",
            "text_sha256": "SHA-256 of the clean text that was fingerprinted (UTF-8).",
            "words": "Tokens in the clean text.",
            "metadata": "JSON object of what the connector recorded.",
        },
    ),
    (
        "passages",
        "Fingerprinted passage windows of every work.",
        "SELECT passage_id, work_id, ordinal, token_start, token_end, char_start, char_end FROM main.passages",
        {
            "char_start": "Start offset (characters, 0-based) in the work's clean text.",
            "char_end": "End offset (exclusive).",
        },
    ),
    (
        "consent",
        "Rights signals recorded when a web work was retrieved (robots.txt, TDMRep, noai, ...).",
        "SELECT work_id, retrieved_at, status, summary, snapshot FROM main.consent",
        {
            "status": "reserved, not_reserved or unknown.",
            "summary": "One line saying why.",
            "snapshot": "JSON of every signal and its evidence.",
        },
    ),
    (
        "audits",
        "Stored audit runs: one row per `provenance audit`.",
        (
            "SELECT audit_id, started_at, finished_at, tool_version, texts_scanned, texts_matched, inputs_failed, "
            "n_matches AS matches, works_matched, index_works, index_digest, parameters, arguments, manifest_sha256 "
            "FROM main.audits"
        ),
        {
            "audit_id": "Sortable run id: YYYYMMDDTHHMMSSZ-xxxxxx (UTC start time, random suffix).",
            "index_works": "Works in the index when the audit ran.",
            "index_digest": "SHA-256 over every work's source and content hash at audit time.",
            "parameters": "JSON: audit thresholds, input options, fingerprint parameters.",
            "arguments": "JSON list of the inputs as given on the command line.",
            "manifest_sha256": "Digest of the run's manifest (`provenance verify` checks it).",
        },
    ),
    (
        "audit_inputs",
        "Every text an audit scanned (or failed to read), with the SHA-256 of what was read.",
        (
            "SELECT audit_id, ordinal, scanned, kind, record_id, sha256, source_sha256, chars, n_matches AS matches, "
            "error FROM main.audit_inputs"
        ),
        {
            "kind": "file, stdin, record (a JSON Lines record) or url.",
            "sha256": "SHA-256 of the bytes read: the file, stdin, or the record's line.",
            "source_sha256": "For records: SHA-256 of the whole JSON Lines file (or stdin).",
            "error": "Why the input could not be read (then sha256 is null).",
        },
    ),
    (
        "matches",
        "Every match of every stored audit, with scores, both spans and both excerpts.",
        (
            "SELECT m.audit_id, m.match_no, m.work_id, w.title AS work_title, w.source AS work_source, w.creator, "
            "m.scanned, m.record_id, m.score, m.estimated_similarity, m.containment, m.verbatim_words, "
            "m.matched_words, m.evidence_words, m.scanned_start, m.scanned_end, m.work_start, m.work_end, "
            "m.work_time_start, m.work_time_end, m.link, w.consent_status, m.scanned_excerpt, m.work_excerpt "
            "FROM main.matches m JOIN main.audit_works w USING (audit_id, work_id)"
        ),
        {
            "work_title": "Title of the work when the audit ran.",
            "creator": "Creator of the work when the audit ran.",
            "scanned": "The scanned file, PATH#RECORD for a JSON Lines record, or <stdin>.",
            "score": "Verified similarity: shared words over the mean length of the two regions.",
            "estimated_similarity": "Best MinHash estimate between overlapping windows.",
            "containment": "Share of the work's region found in the scanned text.",
            "verbatim_words": "Longest run of identical words.",
            "evidence_words": "Shared words outside stock phrases and boilerplate.",
            "scanned_start": "Start offset (characters) in the scanned text as read.",
            "work_start": "Start offset (characters) in the work's clean text.",
            "work_time_start": "For transcripts: seconds into the video where the passage starts.",
            "consent_status": "Consent status of the work recorded at retrieval, as of the audit.",
        },
    ),
)


def m004_scans(con: duckdb.DuckDBPyConnection) -> None:
    """Resumable dataset scans: scans, their shards, unreadable records and matches per record.

    ``scans`` has one row per scan; ``scan_key`` names its inputs, options and index state, so a rerun
    with the same key resumes it. ``scan_shards`` holds finished or failed shards with the file's size
    and mtime (a changed shard is scanned again). No primary keys: a shard's rows are deleted and
    written again in one transaction, which DuckDB's eager unique checks would refuse.
    """
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS scans (
            scan_id VARCHAR NOT NULL,
            scan_key VARCHAR NOT NULL,
            started_at TIMESTAMPTZ NOT NULL,
            finished_at TIMESTAMPTZ,
            tool_version VARCHAR NOT NULL,
            index_digest VARCHAR NOT NULL,
            parameters VARCHAR NOT NULL,
            arguments VARCHAR NOT NULL,
            shards INTEGER NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS scan_shards (
            scan_id VARCHAR NOT NULL,
            shard VARCHAR NOT NULL,
            size BIGINT NOT NULL,
            mtime_ns BIGINT NOT NULL,
            status VARCHAR NOT NULL,
            records BIGINT NOT NULL,
            failures BIGINT NOT NULL,
            empty BIGINT NOT NULL,
            matches BIGINT NOT NULL,
            text_bytes BIGINT NOT NULL,
            seconds DOUBLE NOT NULL,
            error VARCHAR,
            finished_at TIMESTAMPTZ NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS scan_failures (
            scan_id VARCHAR NOT NULL,
            shard VARCHAR NOT NULL,
            location VARCHAR NOT NULL,
            reason VARCHAR NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS scan_matches (
            scan_id VARCHAR NOT NULL,
            shard VARCHAR NOT NULL,
            record_id VARCHAR,
            scanned VARCHAR NOT NULL,
            work_id BIGINT NOT NULL,
            score DOUBLE NOT NULL,
            estimated_similarity DOUBLE NOT NULL,
            containment DOUBLE NOT NULL,
            verbatim_words INTEGER NOT NULL,
            matched_words INTEGER NOT NULL,
            evidence_words INTEGER NOT NULL,
            scanned_start BIGINT NOT NULL,
            scanned_end BIGINT NOT NULL,
            work_start BIGINT NOT NULL,
            work_end BIGINT NOT NULL,
            work_time_start DOUBLE,
            work_time_end DOUBLE,
            link VARCHAR,
            scanned_excerpt VARCHAR NOT NULL,
            work_excerpt VARCHAR NOT NULL
        )
        """
    )


def m005_catalog_failures(con: duckdb.DuckDBPyConnection) -> None:
    """Catalog rows that could not be indexed in the latest run over each catalog, with the reason."""
    con.execute(
        """
        CREATE TABLE catalog_failures (
            catalog VARCHAR NOT NULL,
            location VARCHAR NOT NULL,
            source VARCHAR NOT NULL,
            reason VARCHAR NOT NULL,
            failed_at TIMESTAMPTZ NOT NULL
        )
        """
    )


# Rights data a catalog row gives a work, stored as columns from schema 6 on.
RIGHTS_COLUMNS = ("rights_holder", "org_id", "licence")


def m006_work_rights(con: duckdb.DuckDBPyConnection) -> None:
    """Rights holder, the catalog's own id and the licence of a work as columns, so results group by them.

    Until now a catalog row's values lived only in the work's ``metadata`` JSON (where they stay): works
    get them from there. Matched-work snapshots of stored audits (``audit_works``) get them from the
    work only where it is still the version the audit saw (same id, source and hashes); other snapshots
    keep nulls. The views ``research.works`` and ``research.matches`` show them beside ``creator``.
    Running it again changes nothing.
    """
    for table in ("works", "audit_works"):
        for column in RIGHTS_COLUMNS:
            con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} VARCHAR")
    backfill = ", ".join(f"{c} = coalesce({c}, json_extract_string(metadata, '$.{c}'))" for c in RIGHTS_COLUMNS)
    con.execute(f"UPDATE works SET {backfill}")
    snapshot = ", ".join(f"{c} = w.{c}" for c in RIGHTS_COLUMNS)
    con.execute(
        f"UPDATE audit_works a SET {snapshot} FROM works w "
        "WHERE w.work_id = a.work_id AND w.source = a.source AND w.content_sha256 = a.content_sha256 "
        "AND w.text_sha256 = a.text_sha256 "
        "AND a.rights_holder IS NULL AND a.org_id IS NULL AND a.licence IS NULL"
    )
    _create_views(con, _RIGHTS_VIEWS)


def _with_rights(name: str, sql: str, comments: dict[str, str]) -> ResearchView:
    """A view of m003 with a new query and the comments of the rights columns added to its own."""
    (found,) = [v for v in _RESEARCH_VIEWS if v[0] == name]
    return (name, found[1], sql, {**found[3], **comments})


_RIGHTS_VIEWS: tuple[ResearchView, ...] = (
    _with_rights(
        "works",
        (
            "SELECT work_id, source, title, creator, rights_holder, org_id, licence, kind, retrieved_at, modified_at, "
            "added_at, content_sha256, text_sha256, n_tokens AS words, n_passages AS passages, metadata "
            "FROM main.works"
        ),
        {
            "rights_holder": "Who holds the rights, from the catalog row the work was added from (else null).",
            "org_id": "The catalog's own id of the work (else null).",
            "licence": "The licence the catalog row names (else null).",
        },
    ),
    _with_rights(
        "matches",
        (
            "SELECT m.audit_id, m.match_no, m.work_id, w.title AS work_title, w.source AS work_source, w.creator, "
            "w.rights_holder, w.org_id, w.licence, "
            "m.scanned, m.record_id, m.score, m.estimated_similarity, m.containment, m.verbatim_words, "
            "m.matched_words, m.evidence_words, m.scanned_start, m.scanned_end, m.work_start, m.work_end, "
            "m.work_time_start, m.work_time_end, m.link, w.consent_status, m.scanned_excerpt, m.work_excerpt "
            "FROM main.matches m JOIN main.audit_works w USING (audit_id, work_id)"
        ),
        {
            "rights_holder": "Rights holder of the work when the audit ran (from its catalog row; else null).",
            "org_id": "The catalog's own id of the work when the audit ran.",
            "licence": "Licence of the work when the audit ran, as its catalog row named it.",
        },
    ),
)


# Consent a rights holder declared, stored as columns of works and of matched-work snapshots from schema 7 on.
DECLARED_COLUMNS = ("consent_declared", "consent_declared_source")


def m007_one_run_model(con: duckdb.DuckDBPyConnection) -> None:
    """Every audit is a run: dataset scans move into ``audits``/``audit_inputs``/``audit_works``/``matches``.

    ``audits`` gains ``kind`` (texts or dataset), ``engine`` (local, pool or spark), ``state``
    (running, interrupted, finished), ``run_key`` (what makes two runs the same: inputs, options,
    index state; a rerun or resumed scan has the key of the first), ``invocations`` (how many times
    it was started; more than one means resumed) and ``owner`` (``host:pid`` of the process running
    it). ``matches`` gains ``shard``; ``audit_inputs`` gains a shard's ``size``, ``records`` and ``failures``.
    Works and matched-work snapshots gain the consent their rights
    holder declared (a catalog's ``consent`` column), with where it was declared; works indexed from a
    catalog get it from their metadata. Each scan of ``scans`` becomes a run with the same id: one
    input per shard (``kind`` = shard), a snapshot of every matched work as it is now, its matches
    numbered in shard and record order; ``scan_matches`` and ``scans`` are dropped. ``scan_shards``
    (the resume state, keyed by the run id) gains the shard's ``sha256``.
    """
    for table in ("works", "audit_works"):
        for column in DECLARED_COLUMNS:
            con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} VARCHAR")
    con.execute(
        "UPDATE works SET consent_declared = json_extract_string(metadata, '$.consent_status'), "
        "consent_declared_source = 'catalog' WHERE consent_declared IS NULL "
        "AND json_extract_string(metadata, '$.org_id') IS NOT NULL "
        "AND json_extract_string(metadata, '$.consent_status') IS NOT NULL"
    )
    con.execute(
        "UPDATE audit_works a SET consent_declared = w.consent_declared, "
        "consent_declared_source = w.consent_declared_source FROM works w "
        "WHERE w.work_id = a.work_id AND w.source = a.source AND w.content_sha256 = a.content_sha256 "
        "AND a.consent_declared IS NULL"
    )
    for column, kind in (
        ("kind", "VARCHAR DEFAULT 'texts'"),
        ("engine", "VARCHAR DEFAULT 'local'"),
        ("state", "VARCHAR DEFAULT 'finished'"),
        ("run_key", "VARCHAR"),
        ("invocations", "INTEGER DEFAULT 1"),
        ("owner", "VARCHAR"),
    ):
        con.execute(f"ALTER TABLE audits ADD COLUMN IF NOT EXISTS {column} {kind}")
    con.execute("UPDATE audits SET run_key = audit_id WHERE run_key IS NULL")
    con.execute("ALTER TABLE matches ADD COLUMN IF NOT EXISTS shard VARCHAR")
    for column in ("size", "records", "failures"):
        con.execute(f"ALTER TABLE audit_inputs ADD COLUMN IF NOT EXISTS {column} BIGINT")
    con.execute("ALTER TABLE scan_shards ADD COLUMN IF NOT EXISTS sha256 VARCHAR")
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall()}
    if {"scans", "scan_matches"} <= tables:
        _scans_to_runs(con)
        con.execute("DROP TABLE scan_matches")
        con.execute("DROP TABLE scans")
    _create_views(con, _RUN_VIEWS)


def _scans_to_runs(con: duckdb.DuckDBPyConnection) -> None:
    """Copy every scan of ``scans``/``scan_shards``/``scan_matches`` into the run tables (m007)."""
    con.execute(
        """
        INSERT INTO audits (audit_id, started_at, finished_at, tool_version, index_works, index_passages,
            index_digest, index_schema, parameters, arguments, texts_scanned, texts_matched, inputs_failed,
            n_matches, works_matched, manifest_sha256, manifest, recorded_at, kind, engine, state, run_key,
            invocations, owner)
        SELECT s.scan_id, s.started_at, coalesce(s.finished_at, s.started_at), s.tool_version, 0, 0,
            s.index_digest, 6,
            json_object('values', json(s.parameters),
                        'index', json_object('path', '', 'works', 0, 'passages', 0, 'digest', s.index_digest,
                                             'schema_version', 6, 'max_work_id', 0),
                        'versions', json_object())::VARCHAR,
            s.arguments,
            (SELECT coalesce(sum(records), 0) FROM scan_shards h WHERE h.scan_id = s.scan_id),
            (SELECT count(DISTINCT scanned) FROM scan_matches m WHERE m.scan_id = s.scan_id),
            (SELECT coalesce(sum(failures), 0) FROM scan_shards h WHERE h.scan_id = s.scan_id),
            (SELECT count(*) FROM scan_matches m WHERE m.scan_id = s.scan_id),
            (SELECT count(DISTINCT work_id) FROM scan_matches m WHERE m.scan_id = s.scan_id),
            '', '{}', now(), 'dataset',
            CASE WHEN s.scan_key LIKE 'spark:%' THEN 'spark' ELSE 'local' END,
            CASE WHEN s.finished_at IS NULL THEN 'interrupted' ELSE 'finished' END,
            s.scan_key, 1, NULL
        FROM scans s
        """
    )
    con.execute(
        """
        INSERT INTO audit_inputs (audit_id, ordinal, scanned, kind, record_id, sha256, source_sha256, chars,
            n_matches, error, size, records, failures)
        SELECT scan_id, (row_number() OVER (PARTITION BY scan_id ORDER BY shard) - 1)::INTEGER, shard, 'shard',
            NULL, NULL, NULL, text_bytes, matches::INTEGER, error, size, records, failures
        FROM scan_shards
        """
    )
    con.execute(
        """
        INSERT INTO audit_works (audit_id, work_id, source, title, creator, kind, content_sha256, text_sha256,
            retrieved_at, consent_status, consent_summary, consent_snapshot, rights_holder, org_id, licence,
            consent_declared, consent_declared_source)
        SELECT u.scan_id, w.work_id, w.source, w.title, w.creator, w.kind, w.content_sha256, w.text_sha256,
            w.retrieved_at, c.status, c.summary, c.snapshot, w.rights_holder, w.org_id, w.licence,
            w.consent_declared, w.consent_declared_source
        FROM (SELECT DISTINCT scan_id, work_id FROM scan_matches) u
        JOIN works w USING (work_id) LEFT JOIN consent c USING (work_id)
        """
    )
    con.execute(
        """
        INSERT INTO matches (audit_id, match_no, work_id, scanned, record_id, score, estimated_similarity,
            containment, verbatim_words, matched_words, evidence_words, scanned_start, scanned_end, work_start,
            work_end, work_time_start, work_time_end, link, scanned_excerpt, work_excerpt, shard)
        SELECT scan_id,
            (row_number() OVER (PARTITION BY scan_id ORDER BY shard, scanned, scanned_start, work_id))::INTEGER,
            work_id, scanned, record_id, score, estimated_similarity, containment, verbatim_words, matched_words,
            evidence_words, scanned_start, scanned_end, work_start, work_end, work_time_start, work_time_end, link,
            scanned_excerpt, work_excerpt, shard
        FROM scan_matches m SEMI JOIN audit_works a ON a.audit_id = m.scan_id AND a.work_id = m.work_id
        """
    )


# The columns of research.matches and research.latest_matches: the run, the number, then the match
# fields in the order of provenance.match.MATCH_FIELDS (a test keeps them equal), then the shard.
_MATCH_VIEW_COLUMNS = (
    "m.audit_id, m.match_no, m.work_id, w.source, w.title, w.kind, w.creator, w.rights_holder, w.org_id, "
    "w.licence, w.consent_declared, w.consent_declared_source, w.consent_status, w.consent_summary, m.scanned, "
    "m.record_id, m.score, m.estimated_similarity, m.containment, m.verbatim_words, m.matched_words, "
    "m.evidence_words, m.scanned_start, m.scanned_end, m.work_start, m.work_end, m.work_time_start, "
    "m.work_time_end, m.link, m.scanned_excerpt, m.work_excerpt, m.shard"
)
_MATCH_VIEW_COMMENTS = {
    "audit_id": "The run (`provenance audits` lists them).",
    "match_no": "Number of the match in its run (1-based).",
    "source": "Where the work came from: a path, URL or video URL (as the run saw it).",
    "title": "Title of the work when the run ran.",
    "creator": "Creator of the work when the run ran.",
    "rights_holder": "Rights holder of the work when the run ran (catalog or `add --rights-holder`).",
    "org_id": "The catalog's own id of the work.",
    "licence": "Licence of the work, as its catalog row (or `add --licence`) named it.",
    "consent_declared": "Consent the rights holder declared: granted, reserved, not_reserved or unknown.",
    "consent_declared_source": "Where it was declared, e.g. catalog works.csv:12.",
    "consent_status": "Consent observed at retrieval (robots.txt, TDMRep, noai ...): reserved, not_reserved, unknown.",
    "consent_summary": "Why, in one line.",
    "scanned": "The scanned file, PATH#RECORD_ID for a record, or <stdin>.",
    "score": "Verified similarity: shared words over the mean length of the two regions.",
    "estimated_similarity": "Best MinHash estimate between overlapping windows.",
    "containment": "Share of the work's region found in the scanned text.",
    "verbatim_words": "Longest run of identical words.",
    "matched_words": "Words the two regions share.",
    "evidence_words": "Shared words outside stock phrases and boilerplate.",
    "scanned_start": "Start offset (characters) in the scanned text as read.",
    "work_start": "Start offset (characters) in the work's clean text.",
    "work_time_start": "For transcripts: seconds into the video where the passage starts.",
    "shard": "For dataset scans: the shard the record came from.",
}
_RUN_VIEWS: tuple[ResearchView, ...] = (
    (
        "works",
        "Indexed works (without their text): one row per work.",
        (
            "SELECT work_id, source, title, creator, rights_holder, org_id, licence, consent_declared, "
            "consent_declared_source, kind, retrieved_at, modified_at, added_at, content_sha256, text_sha256, "
            "n_tokens AS words, n_passages AS passages, metadata FROM main.works"
        ),
        {
            **_RIGHTS_VIEWS[0][3],
            "consent_declared": "Consent the rights holder declared: granted, reserved, not_reserved or unknown.",
            "consent_declared_source": "Where it was declared, e.g. catalog works.csv:12.",
        },
    ),
    (
        "audits",
        "Every run: one row per `provenance audit` of texts and per dataset scan (a resumed scan is one run).",
        (
            "SELECT audit_id, kind, engine, state, invocations, run_key, started_at, finished_at, tool_version, "
            "texts_scanned, texts_matched, inputs_failed, n_matches AS matches, works_matched, index_works, "
            "index_digest, parameters, arguments, manifest_sha256 FROM main.audits"
        ),
        {
            **next(v for v in _RESEARCH_VIEWS if v[0] == "audits")[3],
            "kind": "texts (files, stdin, JSON Lines) or dataset (a scan of shards).",
            "engine": "Where it ran: local (this process), pool (worker processes) or spark.",
            "state": "running, interrupted (rerun the same command to resume) or finished.",
            "invocations": "How many times the run was started: more than 1 means it was resumed.",
            "run_key": "What makes two runs the same (inputs, options, index state): the latest run of a key "
            "holds its current result (see latest_matches).",
            "texts_scanned": "Texts or records read and audited.",
        },
    ),
    (
        "matches",
        "Every match of every run (texts and dataset scans), with the work's rights and consent as of the run.",
        f"SELECT {_MATCH_VIEW_COLUMNS} FROM main.matches m JOIN main.audit_works w USING (audit_id, work_id)",
        _MATCH_VIEW_COMMENTS,
    ),
    (
        "latest_matches",
        "The matches of the latest run of each run key: rescans of the same data counted once.",
        (
            f"SELECT {_MATCH_VIEW_COLUMNS} FROM main.matches m JOIN main.audit_works w USING (audit_id, work_id) "
            "WHERE m.audit_id IN (SELECT audit_id FROM main.audits QUALIFY row_number() OVER "
            "(PARTITION BY run_key ORDER BY started_at DESC, audit_id DESC) = 1)"
        ),
        _MATCH_VIEW_COMMENTS,
    ),
    (
        "shards",
        "The shards of every dataset scan: size, SHA-256, status and counts (the resume state).",
        (
            "SELECT scan_id AS audit_id, shard, size, sha256, status, records, failures, empty, matches, "
            "text_bytes, seconds, error, finished_at FROM main.scan_shards"
        ),
        {
            "audit_id": "The run the shard belongs to.",
            "sha256": "SHA-256 of the shard file as scanned (null where not computed, e.g. a remote shard).",
            "status": "done or failed (failed shards are scanned again when the run is resumed).",
            "failures": "Records that could not be read (see failures), and the shard's own error.",
        },
    ),
    (
        "failures",
        "Records of dataset scans that could not be read, with where and why.",
        "SELECT scan_id AS audit_id, shard, location, reason FROM main.scan_failures",
        {"location": "PATH:LINE or PATH#ROW of the bad record.", "reason": "What is wrong with it."},
    ),
)


def m008_probes(con: duckdb.DuckDBPyConnection) -> None:
    """Extraction probes of models (``provenance probe``): every request verbatim, and each work's result.

    A probe is a run of ``kind`` = probe in ``audits``, one ``audit_inputs`` row per probed work
    (``kind`` = work). ``probe_requests`` holds every request and response as sent and received (never
    the API key), keyed for resuming by ``request_key`` (SHA-256 of work, point, round and prompt);
    ``probe_works`` the measures of each probed work (``provenance.probe``).
    """
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS probe_requests (
            audit_id VARCHAR NOT NULL,
            work_id BIGINT NOT NULL,
            point INTEGER NOT NULL,
            round INTEGER NOT NULL,
            request_key VARCHAR NOT NULL,
            mode VARCHAR NOT NULL,
            prompt VARCHAR NOT NULL,
            prefix_start BIGINT NOT NULL,
            prefix_end BIGINT NOT NULL,
            response VARCHAR,
            model_reported VARCHAR,
            response_id VARCHAR,
            finish_reason VARCHAR,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            started_at TIMESTAMPTZ NOT NULL,
            finished_at TIMESTAMPTZ NOT NULL,
            attempts INTEGER NOT NULL,
            status VARCHAR NOT NULL,
            error VARCHAR
        )
        """
    )
    con.execute(
        """
        CREATE TABLE IF NOT EXISTS probe_works (
            audit_id VARCHAR NOT NULL,
            work_id BIGINT NOT NULL,
            title VARCHAR NOT NULL,
            words INTEGER NOT NULL,
            nv_recall DOUBLE NOT NULL,
            longest_verbatim_words INTEGER NOT NULL,
            matched_words INTEGER NOT NULL,
            covered_words INTEGER NOT NULL,
            points INTEGER NOT NULL,
            points_matched INTEGER NOT NULL,
            requests INTEGER NOT NULL,
            prompt_tokens BIGINT NOT NULL,
            completion_tokens BIGINT NOT NULL,
            status VARCHAR NOT NULL,
            error VARCHAR,
            blocks VARCHAR NOT NULL,
            PRIMARY KEY (audit_id, work_id)
        )
        """
    )
    _create_views(con, _PROBE_VIEWS)
    con.execute(
        "COMMENT ON COLUMN research.audits.kind IS "
        + _quote("texts (files, stdin, JSON Lines), dataset (a scan of shards) or probe (a model probe).")
    )


_PROBE_VIEWS: tuple[ResearchView, ...] = (
    (
        "probe_requests",
        "Every request of every model probe, verbatim: the prompt as sent, the response as received.",
        (
            "SELECT audit_id, work_id, point, round, request_key, mode, prompt, prefix_start, prefix_end, response, "
            "model_reported, response_id, finish_reason, prompt_tokens, completion_tokens, started_at, "
            "finished_at, attempts, status, error FROM main.probe_requests"
        ),
        {
            "audit_id": "The probe run (`provenance audits` lists it).",
            "point": "Probe point: 0 is the work's opening, 1.. offsets spread through it.",
            "round": "Round of the conversation (1 for a prefix probe; 1.. for --method extract).",
            "request_key": "SHA-256 of work, point, round and prompt: a resumed probe never asks it again.",
            "mode": "chat (chat completions) or completion (plain completions).",
            "prompt": "The prompt as sent: JSON of the chat messages, or the plain prompt text as a JSON string.",
            "prefix_start": "Start (characters) in the work's text of the words the prompt quotes.",
            "prefix_end": "End (characters, exclusive) of those words: the work's true continuation starts here.",
            "response": "The model's text, verbatim (null when the request failed).",
            "model_reported": "The model name the endpoint reported.",
            "response_id": "The endpoint's id of the response.",
            "finish_reason": "Why the model stopped (stop, length, content_filter ...).",
            "attempts": "HTTP attempts made (retries after 429, 503, 5xx and timeouts included).",
            "status": "ok or failed.",
            "error": "Why it failed.",
        },
    ),
    (
        "probe_works",
        "Each probed work's result: near-verbatim recall, longest verbatim run, points reproduced, cost.",
        (
            "SELECT p.audit_id, p.work_id, p.title, a.parameters->>'$.values.probe.model' AS model, "
            "a.parameters->>'$.values.probe.method' AS method, p.words, p.nv_recall, p.longest_verbatim_words, "
            "p.matched_words, p.covered_words, p.points, p.points_matched, p.requests, p.prompt_tokens, "
            "p.completion_tokens, p.status, p.error, p.blocks FROM main.probe_works p "
            "JOIN main.audits a USING (audit_id)"
        ),
        {
            "audit_id": "The probe run.",
            "model": "The model asked for.",
            "method": "prefix or extract.",
            "words": "Words of the work (the index's tokenizer).",
            "nv_recall": "Share of the work's words covered by near-verbatim blocks in the responses (README).",
            "longest_verbatim_words": "Longest run of identical words inside a near-verbatim block.",
            "matched_words": "Identical words inside the near-verbatim blocks.",
            "covered_words": "Work words the near-verbatim blocks span (nv_recall = covered_words / words).",
            "points": "Probe points asked.",
            "points_matched": "Points whose responses hold a near-verbatim block (at least --min-words).",
            "requests": "Requests answered.",
            "status": "ok, failed (error says why) or stopped (a request or token budget ran out).",
            "blocks": "JSON list of the near-verbatim blocks: point, round, response and work word ranges.",
        },
    ),
)


MIGRATIONS: tuple[Callable[[duckdb.DuckDBPyConnection], None], ...] = (
    m001_create_tables,
    m002_consent,
    m003_audits,
    m004_scans,
    m005_catalog_failures,
    m006_work_rights,
    m007_one_run_model,
    m008_probes,
)
SCHEMA_VERSION = len(MIGRATIONS)
