"""Errors about an index file; every one names the file.

IndexStoreError                the index cannot be used; ``path`` and a one-line ``reason``
├── NotAnIndexError            the file is not a provenance index (or not a DuckDB file at all)
├── IndexVersionError          built by a newer version of the schema than this code knows
├── IndexParametersError       built with other fingerprint parameters than the ones asked for
├── IndexInUseError            another process has it open: a writer, or readers when writing
└── IndexMissingError          no index at that path (and none was to be created)
"""

from __future__ import annotations


class IndexStoreError(Exception):
    """An index file cannot be opened or used."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class NotAnIndexError(IndexStoreError):
    """The file is not a provenance index."""


class IndexVersionError(IndexStoreError):
    """The index schema is newer than this code."""


class IndexParametersError(IndexStoreError):
    """The index was built with different fingerprint parameters."""


class IndexInUseError(IndexStoreError):
    """Another process has the index open: for writing, or read-only while this one wants to write."""


class IndexMissingError(IndexStoreError):
    """There is no index at the path."""
