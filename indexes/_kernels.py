"""Compiled kernels for the hot loops of fingerprinting and lookups, used when numba is installed.

``tokens`` finds token boundaries and hashes ASCII tokens in one pass; ``window_minima`` folds,
mixes and permutes shingle hashes, keeps block minima and assembles window signatures from them,
never materializing the ``shingles x num_perm`` matrix; ``find_keys`` tests probes against a key filter and finds the
survivors through a bucket directory (two cache misses instead of a binary search's twenty). All
compute exactly what the numpy routes in ``normalize``, ``minhash`` and ``lookup`` compute (tests
compare them); set ``PROVENANCE_NO_NUMBA=1`` to use numpy only.
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


def _tokens(cps: Any, cls: Any, table: Any, seed: Any) -> Any:  # noqa: ANN401 - compiled by numba, typed by its callers
    n = cps.shape[0]
    given = cls.shape[0] > 0  # else every code point is within the class table
    starts = np.empty(n, np.int64)
    ends = np.empty(n, np.int64)
    hashes = np.empty(n, np.uint64)
    wide = np.zeros(n, np.bool_)
    count = 0
    i = 0
    while i < n:
        c = cls[i] if given else table[cps[i]]
        if c == 0:
            i += 1
            continue
        e = i + 1
        if c == 1:
            while e < n and (cls[e] if given else table[cps[e]]) == 1:
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


def _window_minima(  # noqa: C901, PLR0912 - one compiled loop nest: blocks, then windows from them
    shingles: Any,  # noqa: ANN401 - compiled by numba, typed by its callers
    a: Any,  # noqa: ANN401
    b: Any,  # noqa: ANN401
    starts: Any,  # noqa: ANN401
    width: int,
    block: int,
) -> Any:  # noqa: ANN401
    n = shingles.shape[0]
    perms = a.shape[0]
    mixed = np.empty(n, np.uint32)  # 32-bit lanes: twice the values per vector instruction
    for i in range(n):
        h64 = shingles[i]
        h = ((h64 >> np.uint64(32)) ^ h64) & _LOW32
        h ^= h >> np.uint64(16)
        h = (h * _C1) & _LOW32
        h ^= h >> np.uint64(13)
        h = (h * _C2) & _LOW32
        h ^= h >> np.uint64(16)
        mixed[i] = np.uint32(h)
    blocks = n // block if width % block == 0 else 0
    minima = np.empty((blocks, perms), np.uint32)
    acc = np.empty(perms, np.uint32)
    for blk in range(blocks):
        acc[:] = np.uint32(0xFFFFFFFF)
        for i in range(blk * block, (blk + 1) * block):
            m = mixed[i]
            for p in range(perms):
                acc[p] = min(acc[p], np.uint32(a[p] * m + b[p]))
        for p in range(perms):
            minima[blk, p] = acc[p]
    out = np.empty((starts.shape[0], perms), np.uint32)
    for w in range(starts.shape[0]):
        s = starts[w]
        if blocks and s % block == 0:  # assembled from its blocks' minima
            first = s // block
            for p in range(perms):
                out[w, p] = minima[first, p]
            for k in range(1, width // block):
                for p in range(perms):
                    out[w, p] = min(out[w, p], minima[first + k, p])
            continue
        acc[:] = np.uint32(0xFFFFFFFF)
        for i in range(s, s + width):
            m = mixed[i]
            for p in range(perms):
                acc[p] = min(acc[p], np.uint32(a[p] * m + b[p]))
        for p in range(perms):
            out[w, p] = acc[p]
    return out


def _band_keys(signatures: Any, bands: int, rows: int, seed: int) -> Any:  # noqa: ANN401 - compiled by numba
    n = signatures.shape[0]
    out = np.empty((n, bands), np.uint64)
    first = np.empty(bands, np.uint64)
    for band in range(bands):
        start = (np.uint64(band) + np.uint64(seed)) * _LENGTH_MUL + np.uint64(1)
        start ^= start >> _S33
        start *= _M1
        start ^= start >> _S33
        start *= _M2
        start ^= start >> _S33
        first[band] = start
    for i in range(n):  # row by row: a signature's values are contiguous
        for band in range(bands):
            h = first[band]
            for j in range(rows):
                h = (h + np.uint64(signatures[i, band * rows + j])) * _LENGTH_MUL
            h ^= h >> _S33
            h *= _M1
            h ^= h >> _S33
            h *= _M2
            h ^= h >> _S33
            out[i, band] = h
    return out


# The compiled kernels, set by ``_compile``: the batch kernel below calls them (numba resolves a
# global when it compiles the caller, so these must be set before its first call).
_shingles_jit: Any = None
_window_minima_jit: Any = None
_band_keys_jit: Any = None
_winnow_jit: Any = None


def _passages_batch(
    hashes: Any,  # noqa: ANN401 - compiled by numba, typed by its callers
    offsets: Any,  # noqa: ANN401
    a: Any,  # noqa: ANN401
    b: Any,  # noqa: ANN401
    k: int,
    size: int,
    stride: int,
    width: int,
    block: int,
    bands: int,
    rows: int,
    seed: int,
    window: int,
) -> Any:  # noqa: ANN401
    texts = offsets.shape[0] - 1
    window_offsets = np.zeros(texts + 1, np.int64)
    for t in range(texts):  # windows per text, as shingles.windows makes them
        n = offsets[t + 1] - offsets[t]
        count = 0
        if n >= k:
            count = 1 if n <= size else (n - size) // stride + 1 + (1 if (n - size) % stride else 0)
        window_offsets[t + 1] = window_offsets[t] + count
    total = window_offsets[texts]
    ranges = np.empty((total, 2), np.int64)
    signatures = np.empty((total, a.shape[0]), np.uint32)
    keys = np.empty((total, bands), np.uint64)
    anchor_offsets = np.zeros(texts + 1, np.int64)
    anchor_pos = np.empty(max(0, hashes.shape[0]), np.int64)
    anchor_keys = np.empty(max(0, hashes.shape[0]), np.uint64)
    for t in range(texts):
        n = offsets[t + 1] - offsets[t]
        w0, w1 = window_offsets[t], window_offsets[t + 1]
        for w in range(w1 - w0):
            start = min(w * stride, max(0, n - size))
            ranges[w0 + w, 0] = start
            ranges[w0 + w, 1] = start + min(size, n)
        shingles = _shingles_jit(hashes[offsets[t] : offsets[t + 1]], k)
        m = shingles.shape[0]
        if w1 > w0:
            clipped = max(1, min(width, m))
            starts = np.minimum(ranges[w0:w1, 0], m - clipped)
            signatures[w0:w1] = _window_minima_jit(shingles, a, b, starts, clipped, block)
            keys[w0:w1] = _band_keys_jit(signatures[w0:w1], bands, rows, seed)
        kept = _winnow_jit(shingles, window) if m else np.zeros(0, np.int64)
        a0 = anchor_offsets[t]
        anchor_offsets[t + 1] = a0 + kept.shape[0]
        for j in range(kept.shape[0]):
            anchor_pos[a0 + j] = kept[j]
            anchor_keys[a0 + j] = shingles[kept[j]]
    used = anchor_offsets[texts]
    return ranges, signatures, keys, window_offsets, anchor_pos[:used], anchor_keys[:used], anchor_offsets


def _find_keys(
    sorted_keys: Any,  # noqa: ANN401 - compiled by numba, typed by its callers
    directory: Any,  # noqa: ANN401
    shift: int,
    bitmap: Any,  # noqa: ANN401
    mask: Any,  # noqa: ANN401
    coarse: Any,  # noqa: ANN401
    coarse_mask: Any,  # noqa: ANN401
    keys: Any,  # noqa: ANN401
    ukeys: Any,  # noqa: ANN401
) -> Any:  # noqa: ANN401
    n = keys.shape[0]
    found = np.empty(n, np.int64)
    first = np.empty(n, np.int64)
    count = np.empty(n, np.int64)
    hits = 0
    half = np.int64(1) << np.int64(63 - shift)
    for i in range(n):
        u = ukeys[i]
        h = ((u >> np.uint64(32)) | (u << np.uint64(32))) & coarse_mask  # the cached filter first
        if (coarse[h >> np.uint64(3)] >> (h & np.uint64(7))) & 1 == 0:
            continue
        h = u & mask
        if (bitmap[h >> np.uint64(3)] >> (h & np.uint64(7))) & 1 == 0:
            continue
        key = keys[i]
        bucket = (key >> np.int64(shift)) + half
        j = directory[bucket]
        end = directory[bucket + 1]
        while j < end and sorted_keys[j] < key:
            j += 1
        start = j
        while j < end and sorted_keys[j] == key:
            j += 1
        if j > start:
            found[hits] = i
            first[hits] = start
            count[hits] = j - start
            hits += 1
    return found[:hits], first[:hits], count[:hits]


def _shingles(token_hashes: Any, k: int) -> Any:  # noqa: ANN401 - compiled by numba
    n = token_hashes.shape[0] - k + 1
    out = np.empty(max(n, 0), np.uint64)
    for i in range(max(n, 0)):
        h = token_hashes[i] * _LENGTH_MUL
        for j in range(1, k):
            h = (h + token_hashes[i + j]) * _LENGTH_MUL
        h ^= h >> _S33
        h *= _M1
        h ^= h >> _S33
        h *= _M2
        h ^= h >> _S33
        out[i] = h
    return out


def _winnow(shingles: Any, window: int) -> Any:  # noqa: ANN401 - compiled by numba
    n = shingles.shape[0]
    if n <= window:
        low = shingles.min()
        return np.flatnonzero(shingles == low).astype(np.int64)

    def sliding_min(values: Any, width: int) -> Any:  # noqa: ANN401 - by doubling, as winnow._sliding
        out = values.copy()
        size = out.shape[0]
        span = 1
        while span < width:
            step = min(span, width - span)
            for i in range(size - step):
                out[i] = min(out[i], out[i + step])
            size -= step
            span += step
        return out[:size]

    minima = sliding_min(shingles, window)
    # best[i]: the largest minimum among the windows holding position i (zeros pad the ends); a
    # sliding maximum is the complement of the sliding minimum of the complements
    padded = np.full(minima.shape[0] + 2 * (window - 1), ~np.uint64(0), np.uint64)
    padded[window - 1 : window - 1 + minima.shape[0]] = ~minima
    best = ~sliding_min(padded, window)
    return np.flatnonzero(shingles == best).astype(np.int64)


Kernels = tuple[Callable[..., Any], ...]


def _compile() -> Kernels | None:
    if os.environ.get("PROVENANCE_NO_NUMBA") == "1":
        return None
    try:
        import numba  # noqa: PLC0415 - optional: only when installed
    except ImportError:
        return None
    jit = numba.njit(cache=True, nogil=True)
    global _shingles_jit, _window_minima_jit, _band_keys_jit, _winnow_jit
    _shingles_jit, _window_minima_jit = jit(_shingles), jit(_window_minima)
    _band_keys_jit, _winnow_jit = jit(_band_keys), jit(_winnow)
    return (
        cast("Callable[..., Any]", jit(_tokens)),
        cast("Callable[..., Any]", _window_minima_jit),
        cast("Callable[..., Any]", _band_keys_jit),
        cast("Callable[..., Any]", jit(_find_keys)),
        cast("Callable[..., Any]", _shingles_jit),
        cast("Callable[..., Any]", _winnow_jit),
        cast("Callable[..., Any]", jit(_passages_batch)),
    )


@cache
def _compiled() -> Kernels | None:
    """The kernels, compiled (or loaded from numba's cache) on first use; importing numba is slow."""
    return _compile()


def available() -> bool:
    """Whether the compiled kernels are in use."""
    return _compiled() is not None


def tokens(cps: Any, cls: Any, table: Any, seed: int) -> tuple[Any, Any, Any, Any]:  # noqa: ANN401 - numpy arrays in, out
    """``(starts, ends, hashes, wide)``: hashes of ASCII tokens; ``wide`` marks tokens to redo.

    Classes are ``cls`` (one per code point), or, if it is empty, looked up in ``table`` by code point.
    """
    kernels = _compiled()
    assert kernels is not None  # noqa: S101 - callers check available()
    return cast("tuple[Any, Any, Any, Any]", kernels[0](cps, cls, table, np.uint64(seed & 0xFFFFFFFFFFFFFFFF)))


def window_minima(shingles: Any, a: Any, b: Any, starts: Any, width: int, block: int) -> Any:  # noqa: ANN401 - numpy arrays in, out
    """Signatures of the shingle windows ``[s, s + width)`` (each inside ``shingles``), ``(len(starts), num_perm)``.

    Windows aligned on ``block`` (with ``width`` a multiple of it) are assembled from block minima.
    """
    kernels = _compiled()
    assert kernels is not None  # noqa: S101 - callers check available()
    return kernels[1](shingles, a, b, np.ascontiguousarray(starts, dtype=np.int64), width, block)


def band_keys(signatures: Any, bands: int, rows: int, seed: int) -> Any:  # noqa: ANN401 - numpy arrays in, out
    """Band keys of signatures, ``(n, bands)`` unsigned (see ``lsh.band_keys``)."""
    kernels = _compiled()
    assert kernels is not None  # noqa: S101 - callers check available()
    return kernels[2](signatures, bands, rows, seed)


def find_keys(
    sorted_keys: Any,  # noqa: ANN401 - numpy arrays in, out
    directory: Any,  # noqa: ANN401
    shift: int,
    bitmap: Any,  # noqa: ANN401
    mask: Any,  # noqa: ANN401
    coarse: Any,  # noqa: ANN401
    coarse_mask: Any,  # noqa: ANN401
    keys: Any,  # noqa: ANN401
) -> tuple[Any, Any, Any]:
    """``(found, first, count)``: keys found (their positions), and the rows of ``sorted_keys`` equal to each.

    See ``lookup.KeyDirectory`` for the directory and ``lookup.KeyFilter`` for the bitmap.
    """
    kernels = _compiled()
    assert kernels is not None  # noqa: S101 - callers check available()
    found = kernels[3](sorted_keys, directory, shift, bitmap, mask, coarse, coarse_mask, keys, keys.view(np.uint64))
    return cast("tuple[Any, Any, Any]", found)


def shingles(token_hashes: Any, k: int) -> Any:  # noqa: ANN401 - numpy arrays in, out
    """Hashes of every run of ``k`` tokens (see ``shingles.shingle_hashes``)."""
    kernels = _compiled()
    assert kernels is not None  # noqa: S101 - callers check available()
    return kernels[4](token_hashes, k)


def winnow(shingle_hashes: Any, window: int) -> Any:  # noqa: ANN401 - numpy arrays in, out
    """Positions of the winnowed shingles (see ``winnow.winnow``)."""
    kernels = _compiled()
    assert kernels is not None  # noqa: S101 - callers check available()
    return kernels[5](shingle_hashes, window)


def passages_batch(
    hashes: Any,  # noqa: ANN401 - numpy arrays in, out
    offsets: Any,  # noqa: ANN401
    a: Any,  # noqa: ANN401
    b: Any,  # noqa: ANN401
    *,
    k: int,
    size: int,
    stride: int,
    width: int,
    block: int,
    bands: int,
    rows: int,
    seed: int,
    window: int,
) -> tuple[Any, ...]:
    """Windows, signatures, band keys and anchors of many texts at once (see ``fingerprint.PassageBatch``).

    ``hashes`` are the texts' token hashes end to end, text ``t`` at ``offsets[t]:offsets[t + 1]``.
    """
    kernels = _compiled()
    assert kernels is not None  # noqa: S101 - callers check available()
    found = kernels[6](hashes, offsets, a, b, k, size, stride, width, block, bands, rows, seed, window)
    return cast("tuple[Any, ...]", found)
