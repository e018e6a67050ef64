"""Winnowing (Schleimer, Wilkerson and Aiken, SIGMOD 2003): exact anchors for short shared runs.

Every shingle that is the smallest hash of some window of ``window`` consecutive shingle hashes is
kept (equal minima are all kept, so the choice never depends on position). Any run of at least
``window + shingle_words - 1`` identical tokens in two texts is then guaranteed to give both texts
a common kept hash, an anchor, whatever surrounds the run. Anchors find short quotes that
passage-level MinHash cannot, and how many works share an anchor tells a stock phrase from evidence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from indexes import _kernels

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy.typing as npt

    from indexes.normalize import U64


def _sliding(values: U64, width: int, op: Callable[[U64, U64], U64]) -> U64:
    """``op``-reduction of every ``width`` consecutive values, by doubling (log2(width) passes)."""
    out = values
    span = 1
    while span * 2 <= width:
        out = op(out[:-span], out[span:])
        span *= 2
    if span < width:
        out = op(out[: -(width - span)], out[width - span :])
    return out


def winnow(shingles: U64, window: int) -> npt.NDArray[np.int64]:
    """Positions of the kept shingles, ascending and distinct."""
    n = shingles.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if _kernels.available():
        compiled: npt.NDArray[np.int64] = _kernels.winnow(shingles, window)
        return compiled
    if n <= window:
        return np.flatnonzero(shingles == shingles.min()).astype(np.int64)
    window_min = _sliding(shingles, window, np.minimum)
    # A position is some window's minimum exactly when it equals the largest minimum of the windows
    # that contain it; zeros pad the ends (they never exceed a real minimum).
    pad = np.zeros(window - 1, dtype=np.uint64)
    best = _sliding(np.concatenate([pad, window_min, pad]), window, np.maximum)
    return np.flatnonzero(shingles == best).astype(np.int64)
