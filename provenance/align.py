"""Verification: seed-and-extend alignment of two token sequences, yielding exact shared regions.

Seeds are runs of ``seed_words`` identical normalized tokens found in both texts. Seeds on nearby
diagonals, separated by at most ``max_gap`` tokens on both sides, are chained into one region (so an
edit, a deleted or an inserted word does not split a copied passage), and each region is aligned word
by word (LCS, by rapidfuzz) to count the words the two sides really share and where.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from rapidfuzz.distance import Indel

from indexes.shingles import shingle_hashes

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]

# A seed that occurs more often than this in the work is repetition (a chorus, a table), not evidence
# of copying; it would also multiply the seed count quadratically.
_MAX_SEED_OCCURRENCES = 32
# An end block of two or more words may stand across a gap up to twice its length.
_PAIR = 2


@dataclass(frozen=True)
class Block:
    """``size`` identical tokens at ``a`` (scanned) and ``b`` (work), token offsets."""

    a: int
    b: int
    size: int


@dataclass(frozen=True)
class Alignment:
    """One verified shared region: token ranges on both sides and how much of them agrees."""

    a_start: int
    a_end: int
    b_start: int
    b_end: int
    blocks: tuple[Block, ...]

    @property
    def matched(self) -> int:
        """Tokens aligned as identical."""
        return sum(blk.size for blk in self.blocks)

    @property
    def longest(self) -> int:
        """Longest verbatim run, in tokens."""
        return max((blk.size for blk in self.blocks), default=0)

    @property
    def similarity(self) -> float:
        """Shared tokens over the mean length of the two regions (1.0 for a verbatim copy)."""
        total = (self.a_end - self.a_start) + (self.b_end - self.b_start)
        return 2.0 * self.matched / total if total else 0.0

    @property
    def containment(self) -> float:
        """Share of the work's region that the scanned text reproduces."""
        length = self.b_end - self.b_start
        return self.matched / length if length else 0.0


def seeds(a: U64, b: U64, seed_words: int, b_mask: npt.NDArray[np.bool_] | None = None) -> tuple[I64, I64]:
    """Positions ``(i, j)`` where ``seed_words`` tokens of ``a`` at ``i`` equal those of ``b`` at ``j``.

    ``b_mask`` (one flag per seed position of ``b``) restricts where in ``b`` seeds may start.
    """
    ga = shingle_hashes(a, seed_words)
    gb = shingle_hashes(b, seed_words)
    jb = np.arange(gb.shape[0], dtype=np.int64)
    if b_mask is not None:
        jb = jb[b_mask[: gb.shape[0]]]
    if ga.shape[0] == 0 or jb.shape[0] == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    order = np.argsort(gb[jb], kind="stable")
    sorted_j = jb[order]
    sorted_g = gb[sorted_j]
    lo = np.searchsorted(sorted_g, ga, side="left")
    hi = np.searchsorted(sorted_g, ga, side="right")
    count = hi - lo
    count[count > _MAX_SEED_OCCURRENCES] = 0
    total = int(count.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    ia = np.repeat(np.arange(ga.shape[0], dtype=np.int64), count)
    starts = np.repeat(lo - (np.cumsum(count) - count), count)
    return ia, sorted_j[np.arange(total, dtype=np.int64) + starts]


def _runs(ia: I64, jb: I64, seed_words: int) -> list[tuple[int, int, int, int]]:
    """Merge seeds on the same diagonal that touch or overlap into runs ``(i0, i1, j0, j1)``."""
    diag = jb - ia
    order = np.lexsort((ia, diag))
    runs: list[tuple[int, int, int, int]] = []
    cur: list[int] | None = None
    for idx in order.tolist():
        i, j = int(ia[idx]), int(jb[idx])
        if cur is not None and j - i == cur[2] - cur[0] and i <= cur[1]:
            cur[1] = i + seed_words
            cur[3] = j + seed_words
            continue
        if cur is not None:
            runs.append((cur[0], cur[1], cur[2], cur[3]))
        cur = [i, i + seed_words, j, j + seed_words]
    if cur is not None:
        runs.append((cur[0], cur[1], cur[2], cur[3]))
    runs.sort()
    return runs


def chain(ia: I64, jb: I64, seed_words: int, max_gap: int) -> list[tuple[int, int, int, int]]:
    """Regions ``(i0, i1, j0, j1)`` formed by chaining seed runs that follow each other closely."""
    chains: list[list[int]] = []
    for i0, i1, j0, j1 in _runs(ia, jb, seed_words):
        best: list[int] | None = None
        best_cost = max_gap * 4 + 1
        for c in chains:
            gap_i = i0 - c[1]
            gap_j = j0 - c[3]
            if -seed_words <= gap_i <= max_gap and -seed_words <= gap_j <= max_gap:
                cost = abs(gap_i) + abs(gap_j) + abs((j0 - i0) - (c[3] - c[1]))
                if cost < best_cost:
                    best, best_cost = c, cost
        if best is None:
            chains.append([i0, i1, j0, j1])
        else:
            best[1] = max(best[1], i1)
            best[3] = max(best[3], j1)
    return [(c[0], c[1], c[2], c[3]) for c in chains]


def _holds(end: Block, inner: Block) -> bool:
    """Whether an end block is evidence rather than chance.

    It must be at least as long as the gap to the rest: a lone "a" six words out is chance; "the oven"
    before two substituted words is not.
    """
    first, second = (end, inner) if inner.a >= end.a else (inner, end)
    gap_a = second.a - (first.a + first.size)
    gap_b = second.b - (first.b + first.size)
    wide, narrow = max(gap_a, gap_b), min(gap_a, gap_b)
    return end.size >= wide or (end.size >= _PAIR and end.size >= narrow and wide <= _PAIR * end.size)


def _trim(blocks: list[Block]) -> list[Block]:
    """Drop end blocks that do not hold (see ``_holds``), from both ends."""
    while len(blocks) > 1 and not _holds(blocks[0], blocks[1]):
        blocks = blocks[1:]
    while len(blocks) > 1 and not _holds(blocks[-1], blocks[-2]):
        blocks = blocks[:-1]
    return blocks


def align_region(a: U64, b: U64, region: tuple[int, int, int, int], *, extend: int = 0) -> Alignment | None:
    """Word-level alignment inside ``region`` = ``(i0, i1, j0, j1)``, trimmed to identical tokens.

    The region is first grown by ``extend`` tokens each way: seeds miss edits near the ends, and the
    growth recovers the words between them.
    """
    i0, i1, j0, j1 = region
    i0, j0 = max(0, i0 - extend), max(0, j0 - extend)
    i1, j1 = min(a.shape[0], i1 + extend), min(b.shape[0], j1 + extend)
    blocks = _trim(
        [
            Block(i0 + op.src_start, j0 + op.dest_start, op.src_end - op.src_start)
            for op in Indel.opcodes(a[i0:i1].tolist(), b[j0:j1].tolist())
            if op.tag == "equal" and op.src_end > op.src_start
        ]
    )
    if not blocks:
        return None
    first, last = blocks[0], blocks[-1]
    return Alignment(first.a, last.a + last.size, first.b, last.b + last.size, tuple(blocks))


def _drop_overlaps(found: list[Alignment]) -> list[Alignment]:
    """Of regions overlapping on both sides, keep the one with the most shared words."""
    kept: list[Alignment] = []
    for al in sorted(found, key=lambda x: -x.matched):
        if not any(
            al.a_start < k.a_end and k.a_start < al.a_end and al.b_start < k.b_end and k.b_start < al.b_end
            for k in kept
        ):
            kept.append(al)
    return sorted(kept, key=lambda x: (x.a_start, x.b_start))


def align(
    a: U64,
    b: U64,
    *,
    seed_words: int = 4,
    max_gap: int = 16,
    b_mask: npt.NDArray[np.bool_] | None = None,
) -> list[Alignment]:
    """Every region that ``a`` (scanned) and ``b`` (work) share, in the order they appear in ``a``."""
    ia, jb = seeds(a, b, seed_words, b_mask)
    if ia.shape[0] == 0:
        return []
    found = []
    for region in chain(ia, jb, seed_words, max_gap):
        alignment = align_region(a, b, region, extend=max_gap // 2)
        if alignment is not None:
            found.append(alignment)
    return _drop_overlaps(found)
