"""Numbered schema migrations, applied in order when an index is opened for writing.

Each ``mNNN_*`` function takes a connection inside a transaction and moves the schema from version
``NNN - 1`` to ``NNN``. Never edit a released migration: add the next one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    import duckdb


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


MIGRATIONS: tuple[Callable[[duckdb.DuckDBPyConnection], None], ...] = (m001_create_tables, m002_consent)
SCHEMA_VERSION = len(MIGRATIONS)
