"""Compiled kernels for the two hot loops of fingerprinting, used when numba is installed.

``tokens`` finds token boundaries and hashes ASCII tokens in one pass; ``block_minima`` folds,
mixes and permutes shingle hashes and keeps block minima in one pass, never materializing the
``shingles x num_perm`` matrix. Both compute exactly what the numpy routes in ``normalize`` and
``minhash`` compute (tests compare them); set ``PROVENANCE_NO_NUMBA=1`` to use numpy only.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from typing import Any, cast

import numpy as np

_BASE = np.uint64(0x100000001B3)
_LENGTH_MUL = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)
_LOW32 = np.uint64(0xFFFFFFFF)
_C1 = np.uint64(0x85EBCA6B)
_C2 = np.uint64(0xC2B2AE35)


def _tokens(cps: Any, cls: Any, seed: Any) -> Any:  # noqa: ANN401 - compiled by numba, typed by its callers
    n = cps.shape[0]
    starts = np.empty(n, np.int64)
    ends = np.empty(n, np.int64)
    hashes = np.empty(n, np.uint64)
    wide = np.zeros(n, np.bool_)
    count = 0
    i = 0
    while i < n:
        c = cls[i]
        if c == 0:
            i += 1
            continue
        e = i + 1
        if c == 1:
            while e < n and cls[e] == 1:
                e += 1
        poly = np.uint64(0)
        power = np.uint64(1)
        is_wide = False
        for j in range(i, e):
            cp = np.uint64(cps[j])
            if cp >= 128:  # noqa: PLR2004 - beyond ASCII: normalized and hashed in Python
                is_wide = True
                cp = np.uint64(0)
            elif 65 <= cp <= 90:  # noqa: PLR2004 - ASCII A..Z
                cp += np.uint64(32)
            poly += cp * power
            power *= _BASE
        h = poly ^ (np.uint64(e - i) * _LENGTH_MUL) ^ seed
        h ^= h >> _S33
        h *= _M1
        h ^= h >> _S33
        h *= _M2
        h ^= h >> _S33
        starts[count] = i
        ends[count] = e
        hashes[count] = h
        wide[count] = is_wide
        count += 1
        i = e
    return starts[:count], ends[:count], hashes[:count], wide[:count]


def _block_minima(shingles: Any, a: Any, b: Any, block: int) -> Any:  # noqa: ANN401 - compiled by numba
    nb = shingles.shape[0] // block
    perms = a.shape[0]
    out = np.empty((nb, perms), np.uint32)
    acc = np.empty(perms, np.uint64)
    a64 = a.astype(np.uint64)
    b64 = b.astype(np.uint64)
    for blk in range(nb):
        acc[:] = _LOW32
        for i in range(blk * block, (blk + 1) * block):
            h64 = shingles[i]
            h = ((h64 >> np.uint64(32)) ^ h64) & _LOW32
            h ^= h >> np.uint64(16)
            h = (h * _C1) & _LOW32
            h ^= h >> np.uint64(13)
            h = (h * _C2) & _LOW32
            h ^= h >> np.uint64(16)
            for p in range(perms):
                v = (a64[p] * h + b64[p]) & _LOW32
                acc[p] = min(acc[p], v)
        for p in range(perms):
            out[blk, p] = acc[p]
    return out


def _band_keys(signatures: Any, bands: int, rows: int, seed: int) -> Any:  # noqa: ANN401 - compiled by numba
    n = signatures.shape[0]
    out = np.empty((n, bands), np.uint64)
    for band in range(bands):
        start = (np.uint64(band) + np.uint64(seed)) * _LENGTH_MUL + np.uint64(1)
        start ^= start >> _S33
        start *= _M1
        start ^= start >> _S33
        start *= _M2
        start ^= start >> _S33
        for i in range(n):
            h = start
            for j in range(rows):
                h = (h + np.uint64(signatures[i, band * rows + j])) * _LENGTH_MUL
            h ^= h >> _S33
            h *= _M1
            h ^= h >> _S33
            h *= _M2
            h ^= h >> _S33
            out[i, band] = h
    return out


Kernels = tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]


def _compile() -> Kernels | None:
    if os.environ.get("PROVENANCE_NO_NUMBA") == "1":
        return None
    try:
        import numba  # noqa: PLC0415 - optional: only when installed
    except ImportError:
        return None
    jit = numba.njit(cache=True, nogil=True)
    return (
        cast("Callable[..., Any]", jit(_tokens)),
        cast("Callable[..., Any]", jit(_block_minima)),
        cast("Callable[..., Any]", jit(_band_keys)),
    )


@cache
def _compiled() -> Kernels | None:
    """The kernels, compiled (or loaded from numba's cache) on first use; importing numba is slow."""
    return _compile()


def available() -> bool:
    """Whether the compiled kernels are in use."""
    return _compiled() is not None


def tokens(cps: Any, cls: Any, seed: int) -> tuple[Any, Any, Any, Any]:  # noqa: ANN401 - numpy arrays in, out
    """``(starts, ends, hashes, wide)``: hashes of ASCII tokens; ``wide`` marks tokens to redo."""
    kernels = _compiled()
    assert kernels is not None  # noqa: S101 - callers check available()
    return cast("tuple[Any, Any, Any, Any]", kernels[0](cps, cls, np.uint64(seed & 0xFFFFFFFFFFFFFFFF)))


def block_minima(shingles: Any, a: Any, b: Any, block: int) -> Any:  # noqa: ANN401 - numpy arrays in, out
    """Minima of the permuted values of every full block of shingles, ``(blocks, num_perm)``."""
    kernels = _compiled()
    assert kernels is not None  # noqa: S101 - callers check available()
    return kernels[1](shingles, a, b, block)


def band_keys(signatures: Any, bands: int, rows: int, seed: int) -> Any:  # noqa: ANN401 - numpy arrays in, out
    """Band keys of signatures, ``(n, bands)`` unsigned (see ``lsh.band_keys``)."""
    kernels = _compiled()
    assert kernels is not None  # noqa: S101 - callers check available()
    return kernels[2](signatures, bands, rows, seed)
