"""The fingerprint stage: text -> tokens -> shingles -> passage windows -> signatures -> band keys."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from indexes.lsh import band_keys
from indexes.minhash import U32, MinHasher
from indexes.normalize import Tokens, tokenize, tokenize_many
from indexes.shingles import shingle_hashes, windows
from indexes.winnow import winnow

if TYPE_CHECKING:
    from collections.abc import Sequence

    from indexes.params import IndexParams


@dataclass(frozen=True, eq=False)
class Passages:
    """Windows over one text and its anchors.

    Token ranges, signatures and band keys have one row per window; anchors are the winnowed
    shingles, each with its token position and hash.
    """

    tokens: Tokens
    ranges: npt.NDArray[np.int64]
    signatures: U32
    keys: npt.NDArray[np.int64]
    anchor_positions: npt.NDArray[np.int64]
    anchor_keys: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.ranges.shape[0])

    def char_ranges(self) -> npt.NDArray[np.int64]:
        """``(n, 2)`` character ``[start, end)`` of each window in the original text."""
        if len(self) == 0:
            return np.zeros((0, 2), dtype=np.int64)
        return np.stack([self.tokens.starts[self.ranges[:, 0]], self.tokens.ends[self.ranges[:, 1] - 1]], axis=1)


@dataclass(frozen=True, eq=False)
class Fingerprinter:
    """Applies one set of ``IndexParams`` to texts; identical output on every machine and run."""

    params: IndexParams

    @cached_property
    def minhasher(self) -> MinHasher:
        """Permutations for the parameters, made once."""
        return MinHasher(self.params.num_perm, self.params.seed)

    def tokenize(self, text: str) -> Tokens:
        """Normalized token hashes with offsets."""
        return tokenize(text, self.params.seed)

    def tokenize_many(self, texts: Sequence[str]) -> list[Tokens]:
        """``tokenize`` of each text, in one pass (faster for many short texts)."""
        return tokenize_many(texts, self.params.seed)

    def passages(self, tokens: Tokens, *, stride: int | None = None) -> Passages:
        """Passage windows of ``passage_words`` every ``stride`` tokens (the index's stride by default).

        A text with fewer tokens than one shingle has no passages.
        """
        p = self.params
        n = len(tokens)
        step = stride or p.passage_stride
        ranges = np.zeros((0, 2), dtype=np.int64) if n < p.shingle_words else windows(n, p.passage_words, step)
        shingles = shingle_hashes(tokens.hashes, p.shingle_words)
        block = math.gcd(step, p.shingles_per_passage)
        sigs = self.minhasher.window_signatures(shingles, ranges[:, 0], p.shingles_per_passage, block)
        keys = band_keys(sigs, p.bands, p.rows, p.seed)
        kept = winnow(shingles, p.anchor_window)
        return Passages(
            tokens=tokens,
            ranges=ranges,
            signatures=sigs,
            keys=keys,
            anchor_positions=kept,
            anchor_keys=shingles[kept].view(np.int64),
        )

    def check_value(self) -> str:
        """Known-answer fingerprint of a fixed text, stored at creation and re-checked on open.

        It catches a platform or library change that would alter fingerprints silently.
        """
        text = "Provenance check: Ünïcode façade, ﬁne print — 12 345 naïve words, 東京 and more. " * 4
        passages = self.passages(self.tokenize(text))
        parts = (passages.keys, passages.signatures, passages.anchor_keys)
        return ":".join(part.tobytes().hex()[:64] for part in parts)
