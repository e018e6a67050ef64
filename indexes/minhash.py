"""MinHash signatures of shingle sets, vectorized, bit-identical to datasketch's ``affine32`` scheme.

Each shingle's 64-bit hash is folded to 32 bits, pre-mixed with the MurmurHash3 32-bit finalizer and
permuted by ``a * h + b mod 2**32`` with datasketch's permutations for ``(num_perm, seed)``; a window's
signature is the column-wise minimum over its shingles. ``num_perm``, ``seed`` and the folding are
part of the stored parameters: changing any of them makes old signatures incomparable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from indexes._datasketch import affine32_permutations

if TYPE_CHECKING:
    from indexes.normalize import U64

U32 = npt.NDArray[np.uint32]

_C1 = np.uint32(0x85EBCA6B)
_C2 = np.uint32(0xC2B2AE35)
_S16 = np.uint32(16)
_S13 = np.uint32(13)
_EMPTY = np.uint32(0xFFFFFFFF)


def fold32(h: U64) -> U32:
    """The 32-bit hash fed to the permutations: high half xor low half of the 64-bit shingle hash."""
    out: U32 = ((h >> np.uint64(32)) ^ h).astype(np.uint32)
    return out


def fmix32(h: U32) -> U32:
    """MurmurHash3's 32-bit finalizer (datasketch's affine32 pre-mix)."""
    h = h ^ (h >> _S16)
    h = h * _C1
    h = h ^ (h >> _S13)
    h = h * _C2
    out: U32 = h ^ (h >> _S16)
    return out


def sliding_min(values: U32, width: int) -> U32:
    """Minimum of every ``width`` consecutive rows of ``values`` (van Herk / Gil-Werman, O(n))."""
    n = values.shape[0]
    if width <= 1 or n == 0:
        same: U32 = values.copy()
        return same
    width = min(width, n)
    blocks = -(-n // width)
    padded = np.full((blocks * width, *values.shape[1:]), _EMPTY, dtype=np.uint32)
    padded[:n] = values
    shaped = padded.reshape(blocks, width, *values.shape[1:])
    prefix = np.minimum.accumulate(shaped, axis=1).reshape(padded.shape)
    suffix = np.minimum.accumulate(shaped[:, ::-1], axis=1)[:, ::-1].reshape(padded.shape)
    count = n - width + 1
    out: U32 = np.minimum(suffix[:count], prefix[width - 1 : width - 1 + count])
    return out


@dataclass(frozen=True, eq=False)
class MinHasher:
    """Computes ``num_perm``-value signatures for windows over a sequence of shingle hashes."""

    num_perm: int
    seed: int
    a: U32 = field(init=False)
    b: U32 = field(init=False)

    def __post_init__(self) -> None:
        a, b = affine32_permutations(self.num_perm, self.seed)
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "b", b)

    def permuted(self, shingles: U64) -> U32:
        """The ``(len(shingles), num_perm)`` permuted hash values of each shingle."""
        h = fmix32(fold32(shingles))
        return h[:, None] * self.a[None, :] + self.b[None, :]

    def signature(self, shingles: U64) -> U32:
        """Signature of one set of shingles (all ``0xFFFFFFFF`` for an empty set, as datasketch)."""
        if shingles.shape[0] == 0:
            return np.full(self.num_perm, _EMPTY, dtype=np.uint32)
        out: U32 = self.permuted(shingles).min(axis=0)
        return out

    def window_signatures(self, shingles: U64, starts: npt.NDArray[np.int64], width: int) -> U32:
        """Signatures of the shingle windows ``[s, s + width)`` for each ``s`` in ``starts``.

        Windows are clipped to the available shingles; ``width`` is in shingles.
        """
        if starts.shape[0] == 0:
            return np.zeros((0, self.num_perm), dtype=np.uint32)
        n = shingles.shape[0]
        if n == 0:
            return np.full((starts.shape[0], self.num_perm), _EMPTY, dtype=np.uint32)
        width = max(1, min(width, n))
        mins = sliding_min(self.permuted(shingles), width)
        out: U32 = mins[np.minimum(starts, n - width)]
        return out
