"""Errors of the auditor and the exit codes the CLI maps every error to.

    ProvenanceError            base: a one-line message naming the input
    └── InputError             a scanned input could not be read (reported per item; the run goes on)

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
    INPUT_ERROR = 3  # some input could not be read (the rest was processed)
    INDEX_ERROR = 4  # the index is missing, in use, not an index, or built with other parameters
    INTERRUPTED = 130


class ProvenanceError(Exception):
    """An error of the auditor, with a message naming what it is about."""


class InputError(ProvenanceError):
    """A scanned input (file, record, stdin) could not be read."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason
