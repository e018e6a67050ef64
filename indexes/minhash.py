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

from indexes import _kernels
from indexes._datasketch import affine32_permutations

if TYPE_CHECKING:
    from indexes.normalize import U64

U32 = npt.NDArray[np.uint32]

_C1 = np.uint32(0x85EBCA6B)
_C2 = np.uint32(0xC2B2AE35)
_S16 = np.uint32(16)
_S13 = np.uint32(13)
_EMPTY = np.uint32(0xFFFFFFFF)
# Rows of permuted values computed at once: 2048 x 128 x 4 bytes = 1 MiB, within a core's cache.
_CHUNK_ROWS = 2048


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

    def block_minima(self, shingles: U64, block: int) -> U32:
        """Column-wise minima of the permuted values of every full ``block`` of shingles.

        Computed in chunks that stay in the processor's cache, without materializing all
        ``len(shingles) x num_perm`` permuted values at once.
        """
        nb = shingles.shape[0] // block
        if nb and _kernels.available():
            starts = np.arange(nb, dtype=np.int64) * block
            compiled: U32 = _kernels.window_minima(shingles, self.a, self.b, starts, block, block)
            return compiled
        out = np.empty((nb, self.num_perm), dtype=np.uint32)
        if nb == 0:
            return out
        h = fmix32(fold32(shingles[: nb * block]))[:, None]
        chunk = max(1, _CHUNK_ROWS // block)
        buf = np.empty((chunk * block, self.num_perm), dtype=np.uint32)
        for c0 in range(0, nb, chunk):
            c1 = min(nb, c0 + chunk)
            rows = (c1 - c0) * block
            np.multiply(h[c0 * block : c1 * block], self.a, out=buf[:rows])
            np.add(buf[:rows], self.b, out=buf[:rows])
            view = buf[:rows].reshape(c1 - c0, block, self.num_perm)
            target = out[c0:c1]
            target[...] = view[:, 0]
            for k in range(1, block):
                np.minimum(target, view[:, k], out=target)
        return out

    def window_signatures(self, shingles: U64, starts: npt.NDArray[np.int64], width: int, block: int = 1) -> U32:
        """Signatures of the shingle windows ``[s, s + width)`` for each ``s`` in ``starts``.

        Windows are clipped to the available shingles; ``width`` is in shingles. Windows whose start
        and width are multiples of ``block`` are assembled from block minima (the fast path); any
        other window is computed directly.
        """
        out = np.empty((starts.shape[0], self.num_perm), dtype=np.uint32)
        n = shingles.shape[0]
        if starts.shape[0] == 0:
            return out
        if n == 0:
            out[:] = _EMPTY
            return out
        width = max(1, min(width, n))
        starts = np.minimum(starts, n - width)
        if _kernels.available():
            compiled: U32 = _kernels.window_minima(shingles, self.a, self.b, starts, width, block)
            return compiled
        aligned = (starts % block == 0) if width % block == 0 else np.zeros(starts.shape[0], dtype=np.bool_)
        if aligned.any():
            minima = self.block_minima(shingles, block)
            first = starts[aligned] // block
            steps = np.diff(first)
            if first.shape[0] > 1 and (steps == steps[0]).all() and steps[0] > 0:
                # evenly spaced windows (the usual case): strided views instead of gathers
                step, f0, count = int(steps[0]), int(first[0]), first.shape[0]
                acc = minima[f0 : f0 + step * count : step].copy()
                for k in range(1, width // block):
                    np.minimum(acc, minima[f0 + k : f0 + k + step * count : step], out=acc)
            else:
                acc = minima[first]
                for k in range(1, width // block):
                    np.minimum(acc, minima[first + k], out=acc)
            out[aligned] = acc
        for i in np.flatnonzero(~aligned).tolist():
            s = int(starts[i])
            out[i] = self.signature(shingles[s : s + width])
        return out
