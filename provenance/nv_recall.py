"""Near-verbatim recall: how much of a work a model's outputs reproduce, by the block rule of Ahmed et al.

The rule (Ahmed, Cooper, Koyejo, Liang 2026, "Extracting books from production language models"),
on the index tokenizer's words (``indexes.normalize``: case and Unicode forms folded, punctuation not
compared):

1. Identical-word blocks between an output and the work, by difflib's greedy longest-match
   (``SequenceMatcher``, ``autojunk=False``, so frequent words are never dropped).
2. First pass: neighbouring blocks are merged when the gap between them is at most ``gap[0]`` words
   on both sides (2) and the two gaps differ by at most ``skew[0]`` (1); merged blocks of fewer than
   ``keep[0]`` identical words (20) are dropped.
3. Second pass over what is left: gap at most ``gap[1]`` (10), skew at most ``skew[1]`` (3), blocks of
   fewer than ``keep[1]`` identical words dropped. The paper keeps 100 for book-length outputs; here
   it is ``--min-words`` (default 20), since a probe's responses are short.

A kept block covers the work's words from its first identical word to its last (the small gaps
inside included): ``nv_recall`` is the share of the work's words covered by the union of the kept
blocks of all responses. ``matched_words`` counts the identical words inside kept blocks (each work
word once), ``longest`` the longest identical run inside one.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence


@dataclass(frozen=True)
class NearVerbatimRule:
    """Gap, skew and minimum length of the two merging passes (see the module docstring)."""

    gap: tuple[int, int] = (2, 10)
    skew: tuple[int, int] = (1, 3)
    keep: tuple[int, int] = (20, 20)

    @classmethod
    def with_min_words(cls, min_words: int) -> NearVerbatimRule:
        """The paper's passes, keeping blocks of at least ``min_words`` (the first pass at most 20)."""
        return cls(keep=(min(20, min_words), min_words))


@dataclass(frozen=True)
class NvBlock:
    """A near-verbatim block: word ranges ``[start, end)`` in the output (``a``) and the work (``b``)."""

    a_start: int
    a_end: int
    b_start: int
    b_end: int
    parts: tuple[tuple[int, int, int], ...]  # identical runs: (a, b, size)

    @property
    def words(self) -> int:
        """Identical words in the block."""
        return sum(size for _, _, size in self.parts)

    @property
    def longest(self) -> int:
        """Longest identical run in the block."""
        return max((size for _, _, size in self.parts), default=0)

    def shifted(self, b_offset: int) -> NvBlock:
        """The block with work positions moved by ``b_offset`` (when the work side was a slice)."""
        return NvBlock(
            self.a_start,
            self.a_end,
            self.b_start + b_offset,
            self.b_end + b_offset,
            tuple((a, b + b_offset, s) for a, b, s in self.parts),
        )


def identical_blocks(output: Sequence[int], work: Sequence[int]) -> list[NvBlock]:
    """Difflib's greedy identical blocks between two word sequences, in order on both sides."""
    matcher = SequenceMatcher(None, list(output), list(work), autojunk=False)
    return [
        NvBlock(m.a, m.a + m.size, m.b, m.b + m.size, ((m.a, m.b, m.size),))
        for m in matcher.get_matching_blocks()
        if m.size > 0
    ]


def merge(blocks: Sequence[NvBlock], *, gap: int, skew: int, keep: int) -> list[NvBlock]:
    """Merge neighbours closer than ``gap`` on both sides with gaps differing by at most ``skew``; keep big ones."""
    merged: list[NvBlock] = []
    for block in blocks:
        if merged:
            last = merged[-1]
            gap_a, gap_b = block.a_start - last.a_end, block.b_start - last.b_end
            if 0 <= gap_a <= gap and 0 <= gap_b <= gap and abs(gap_a - gap_b) <= skew:
                merged[-1] = NvBlock(last.a_start, block.a_end, last.b_start, block.b_end, last.parts + block.parts)
                continue
        merged.append(block)
    return [b for b in merged if b.words >= keep]


def near_verbatim_blocks(output: Sequence[int], work: Sequence[int], rule: NearVerbatimRule) -> list[NvBlock]:
    """The kept near-verbatim blocks of one output against the work (both as word hashes)."""
    first = merge(identical_blocks(output, work), gap=rule.gap[0], skew=rule.skew[0], keep=rule.keep[0])
    return merge(first, gap=rule.gap[1], skew=rule.skew[1], keep=rule.keep[1])


@dataclass(frozen=True)
class Recall:
    """What the kept blocks of all responses add up to on one work."""

    words: int
    covered: int
    matched: int
    longest: int

    @property
    def nv_recall(self) -> float:
        """Covered work words over all of the work's words."""
        return self.covered / self.words if self.words else 0.0


def recall(blocks: Iterable[NvBlock], words: int) -> Recall:
    """Union of the blocks' work spans (covered) and identical words (matched), each work word counted once."""
    covered: set[int] = set()
    matched: set[int] = set()
    longest = 0
    for block in blocks:
        covered.update(range(block.b_start, block.b_end))
        for _, b, size in block.parts:
            matched.update(range(b, b + size))
        longest = max(longest, block.longest)
    return Recall(words=words, covered=len(covered), matched=len(matched), longest=longest)
