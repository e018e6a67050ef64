"""Word shingles and passage windows over token hashes.

A shingle is ``k`` consecutive tokens, hashed order-sensitively from the token hashes (a polynomial
over them, then MurmurHash3's finalizer). A window is a
``[start, end)`` token range; windows of ``size`` tokens every ``stride`` tokens, plus one final window
flush with the end so the tail is always covered. Changing either function changes every fingerprint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from indexes import _kernels

if TYPE_CHECKING:
    from indexes.normalize import U64

_MUL = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)


def fmix64(h: U64) -> U64:
    """MurmurHash3's 64-bit finalizer, a bijection that spreads every input bit (arrays only)."""
    h = h ^ (h >> _S33)
    h = h * _M1
    h = h ^ (h >> _S33)
    h = h * _M2
    out: U64 = h ^ (h >> _S33)
    return out


def shingle_hashes(token_hashes: U64, k: int) -> U64:
    """64-bit hashes of every run of ``k`` consecutive tokens (``len - k + 1`` of them, or none)."""
    n = token_hashes.shape[0] - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint64)
    if _kernels.available():
        compiled: U64 = _kernels.shingles(token_hashes, k)
        return compiled
    acc = token_hashes[:n] * _MUL
    for j in range(1, k):
        acc = (acc + token_hashes[j : j + n]) * _MUL
    return fmix64(acc)


def windows(n_tokens: int, size: int, stride: int) -> npt.NDArray[np.int64]:
    """``[start, end)`` token ranges of ``size`` every ``stride``, the last one flush with the end.

    A text shorter than ``size`` is one window; an empty text has none.
    """
    if n_tokens <= 0:
        return np.zeros((0, 2), dtype=np.int64)
    if n_tokens <= size:
        return np.array([[0, n_tokens]], dtype=np.int64)
    starts = np.arange(0, n_tokens - size + 1, stride, dtype=np.int64)
    if starts[-1] != n_tokens - size:
        starts = np.append(starts, np.int64(n_tokens - size))
    return np.stack([starts, starts + size], axis=1)
