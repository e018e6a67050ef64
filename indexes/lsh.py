"""LSH banding: a signature cut into ``bands`` bands of ``rows`` values, each band hashed to one key.

Two windows become candidates when any band key is equal. Bands and rows come from a Jaccard
threshold through datasketch's optimizer. A key mixes the band number in, so equal values in different
bands never collide; keys are stored as signed 64-bit integers (DuckDB ``BIGINT``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from indexes import _kernels
from indexes._datasketch import optimal_bands
from indexes.shingles import fmix64

if TYPE_CHECKING:
    from indexes.minhash import U32

_MUL = np.uint64(0x9E3779B97F4A7C15)


def lsh_params(threshold: float, num_perm: int) -> tuple[int, int]:
    """``(bands, rows)`` for a Jaccard ``threshold`` with ``num_perm`` permutations."""
    if not 0.0 < threshold < 1.0:
        msg = f"threshold must be between 0 and 1, not {threshold}"
        raise ValueError(msg)
    return optimal_bands(threshold, num_perm)


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """Probability that two sets of Jaccard ``similarity`` share at least one band key."""
    return float(1.0 - (1.0 - similarity**rows) ** bands)


def band_keys(signatures: U32, bands: int, rows: int, seed: int) -> npt.NDArray[np.int64]:
    """The ``(n, bands)`` band keys of ``n`` signatures."""
    n = signatures.shape[0]
    if n and _kernels.available():
        compiled: npt.NDArray[np.int64] = _kernels.band_keys(signatures, bands, rows, seed).view(np.int64)
        return compiled
    values = signatures[:, : bands * rows].reshape(n, bands, rows).astype(np.uint64)
    band_ids = np.arange(bands, dtype=np.uint64) + np.uint64(seed)
    h = np.broadcast_to(fmix64(band_ids * _MUL + np.uint64(1)), (n, bands)).copy()
    for j in range(rows):
        h = (h + values[:, :, j]) * _MUL
    keys: npt.NDArray[np.int64] = fmix64(h).view(np.int64)
    return keys
