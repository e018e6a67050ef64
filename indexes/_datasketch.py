"""Typed adapter over datasketch, the reference for our MinHash permutations and LSH banding."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

SCHEME = "affine32"


def affine32_permutations(num_perm: int, seed: int) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
    """The ``(a, b)`` of datasketch's affine32 permutations for ``num_perm`` and ``seed``."""
    from datasketch import MinHash  # noqa: PLC0415 - datasketch loads scipy (0.8 s): only when fingerprinting

    a, b = MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME).permutations
    return np.asarray(a, dtype=np.uint32), np.asarray(b, dtype=np.uint32)


def optimal_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """Datasketch's ``(bands, rows)`` minimizing false positives plus false negatives at ``threshold``."""
    from datasketch import MinHashLSH  # noqa: PLC0415 - as above

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return int(lsh.b), int(lsh.r)


def reference_signature(hashes32: list[int], num_perm: int, seed: int) -> npt.NDArray[np.uint32]:
    """Datasketch's own signature of a set of 32-bit hashes: the oracle our vectorized path must equal."""
    from datasketch import MinHash  # noqa: PLC0415 - as above

    m = MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME, hashfunc=lambda x: x)
    m.update_batch(hashes32)
    return np.asarray(m.hashvalues, dtype=np.uint32)
