"""Documents to fingerprints: normalization, shingles, MinHash, LSH bands and the DuckDB store."""

from indexes.errors import (
    IndexInUseError,
    IndexMissingError,
    IndexParametersError,
    IndexStoreError,
    IndexVersionError,
    NotAnIndexError,
)
from indexes.fingerprint import Fingerprinter, Passages
from indexes.normalize import Tokens, tokenize
from indexes.params import IndexParams
from indexes.store import IndexState, IndexStore, NewWork, WorkRecord

__all__ = [
    "Fingerprinter",
    "IndexInUseError",
    "IndexMissingError",
    "IndexParametersError",
    "IndexParams",
    "IndexState",
    "IndexStore",
    "IndexStoreError",
    "IndexVersionError",
    "NewWork",
    "NotAnIndexError",
    "Passages",
    "Tokens",
    "WorkRecord",
    "tokenize",
]
