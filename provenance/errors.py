"""Errors of the auditor and the exit codes the CLI maps every error to.

    ProvenanceError            base: a one-line message naming the input; ``exit_code`` says how the CLI exits
    ├── InputError             a scanned input could not be read (reported per item; the run goes on)
    ├── ManifestError          a file given as a manifest is unreadable or not a provenance manifest
    ├── AuditNotFoundError     no stored audit run has that id (or there is none yet)
    ├── QueryError             SQL that fails, or that would write (refused)
    └── OutputError            a report or export cannot be written

Errors of the other layers keep their own types (``connectors.ConnectorError``,
``indexes.IndexStoreError``); the CLI maps each family to one exit code.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes, in the style of linters: findings and failures are told apart."""

    OK = 0
    MATCHES_FOUND = 1  # only with --fail-on-match
    USAGE = 2
    INPUT_ERROR = 3  # some input could not be read (the rest was processed), or a manifest is not ours
    INDEX_ERROR = 4  # the index is missing, in use, not an index, or built with other parameters
    VERIFY_FAILED = 5  # `provenance verify`: the manifest no longer matches the files or the index
    NOT_FOUND = 6  # no audit run with that id
    QUERY_ERROR = 7  # `provenance sql`: the query failed or would write
    OUTPUT_ERROR = 8  # a report or export could not be written
    INTERRUPTED = 130


class ProvenanceError(Exception):
    """An error of the auditor, with a message naming what it is about."""

    exit_code: ExitCode = ExitCode.INPUT_ERROR


class InputError(ProvenanceError):
    """A scanned input (file, record, stdin) could not be read."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class ManifestError(InputError):
    """A manifest file cannot be read, or is not a provenance audit manifest."""


class AuditNotFoundError(ProvenanceError):
    """No stored audit run matches the id asked for."""

    exit_code = ExitCode.NOT_FOUND


class QueryError(ProvenanceError):
    """A SQL query failed, or was refused because it would write."""

    exit_code = ExitCode.QUERY_ERROR


class SparkUnavailableError(ProvenanceError):
    """The Spark engine was asked for, but PySpark or Java is missing."""

    exit_code = ExitCode.USAGE


class OutputError(ProvenanceError):
    """A report, manifest or export file could not be written."""

    exit_code = ExitCode.OUTPUT_ERROR
