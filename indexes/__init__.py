"""Documents to fingerprints: normalization, shingles, MinHash, LSH bands and the DuckDB store.

Names are imported when first used (PEP 562), so importing one light module of the package
(its errors, say) does not load the heavy ones: the CLI starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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

# Each public name and the module that defines it.
_EXPORTS = {
    "Fingerprinter": "indexes.fingerprint",
    "IndexInUseError": "indexes.errors",
    "IndexMissingError": "indexes.errors",
    "IndexParametersError": "indexes.errors",
    "IndexParams": "indexes.params",
    "IndexState": "indexes.store",
    "IndexStore": "indexes.store",
    "IndexStoreError": "indexes.errors",
    "IndexVersionError": "indexes.errors",
    "NewWork": "indexes.store",
    "NotAnIndexError": "indexes.errors",
    "Passages": "indexes.fingerprint",
    "Tokens": "indexes.normalize",
    "WorkRecord": "indexes.store",
    "tokenize": "indexes.normalize",
}
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


def __getattr__(name: str) -> object:
    """A public name, imported from its module on first use."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
