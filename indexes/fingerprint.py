"""The fingerprint stage: text -> tokens -> shingles -> passage windows -> signatures -> band keys."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from indexes import _kernels
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
class PassageBatch:
    """The windows and anchors of many texts, end to end: text ``t``'s rows are ``offsets[t]:offsets[t + 1]``.

    Lookups take the keys of the whole batch at once; ``passages(t)`` gives one text's ``Passages``
    (views, no copies) for the few texts that have candidates to verify.
    """

    tokens: list[Tokens]
    ranges: npt.NDArray[np.int64]
    signatures: U32
    keys: npt.NDArray[np.int64]
    window_offsets: npt.NDArray[np.int64]
    anchor_positions: npt.NDArray[np.int64]
    anchor_keys: npt.NDArray[np.int64]
    anchor_offsets: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.tokens)

    def passages(self, t: int) -> Passages:
        """Text ``t``'s windows and anchors, as ``Fingerprinter.passages`` gives them."""
        w0, w1 = int(self.window_offsets[t]), int(self.window_offsets[t + 1])
        a0, a1 = int(self.anchor_offsets[t]), int(self.anchor_offsets[t + 1])
        return Passages(
            tokens=self.tokens[t],
            ranges=self.ranges[w0:w1],
            signatures=self.signatures[w0:w1],
            keys=self.keys[w0:w1],
            anchor_positions=self.anchor_positions[a0:a1],
            anchor_keys=self.anchor_keys[a0:a1],
        )

    def key_owners(self) -> npt.NDArray[np.int64]:
        """The text of each band key of ``keys.reshape(-1)``."""
        per_text = np.diff(self.window_offsets) * self.keys.shape[1]
        return np.repeat(np.arange(len(self), dtype=np.int64), per_text)

    def anchor_owners(self) -> npt.NDArray[np.int64]:
        """The text of each anchor."""
        return np.repeat(np.arange(len(self), dtype=np.int64), np.diff(self.anchor_offsets))


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

    def passages_many(self, tokens: list[Tokens], *, stride: int | None = None) -> PassageBatch:
        """``passages`` of many texts at once: one compiled pass when numba is there, else text by text."""
        p = self.params
        step = stride or p.passage_stride
        if not _kernels.available():
            return _stacked(tokens, [self.passages(t, stride=step) for t in tokens], p.bands, p.num_perm)
        offsets = np.zeros(len(tokens) + 1, dtype=np.int64)
        np.cumsum([len(t) for t in tokens], out=offsets[1:])
        hashes = np.concatenate([t.hashes for t in tokens]) if tokens else np.zeros(0, dtype=np.uint64)
        found = _kernels.passages_batch(
            hashes,
            offsets,
            self.minhasher.a,
            self.minhasher.b,
            k=p.shingle_words,
            size=p.passage_words,
            stride=step,
            width=p.shingles_per_passage,
            block=math.gcd(step, p.shingles_per_passage),
            bands=p.bands,
            rows=p.rows,
            seed=p.seed,
            window=p.anchor_window,
        )
        ranges, signatures, keys, window_offsets, anchor_positions, anchor_keys, anchor_offsets = found
        return PassageBatch(
            tokens=tokens,
            ranges=ranges,
            signatures=signatures,
            keys=keys.view(np.int64),
            window_offsets=window_offsets,
            anchor_positions=anchor_positions,
            anchor_keys=anchor_keys.view(np.int64),
            anchor_offsets=anchor_offsets,
        )

    def check_value(self) -> str:
        """Known-answer fingerprint of a fixed text, stored at creation and re-checked on open.

        It catches a platform or library change that would alter fingerprints silently.
        """
        text = "Provenance check: Ünïcode façade, ﬁne print — 12 345 naïve words, 東京 and more. " * 4
        passages = self.passages(self.tokenize(text))
        parts = (passages.keys, passages.signatures, passages.anchor_keys)
        return ":".join(part.tobytes().hex()[:64] for part in parts)


def _stacked(tokens: list[Tokens], each: list[Passages], bands: int, num_perm: int) -> PassageBatch:
    """Passages of single texts put end to end as a batch."""

    def offsets(sizes: list[int]) -> npt.NDArray[np.int64]:
        out = np.zeros(len(sizes) + 1, dtype=np.int64)
        np.cumsum(sizes, out=out[1:])
        return out

    def joined(arrays: list[npt.NDArray[Any]], empty: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return np.concatenate(arrays) if arrays else empty

    return PassageBatch(
        tokens=tokens,
        ranges=joined([p.ranges for p in each], np.zeros((0, 2), dtype=np.int64)),
        signatures=joined([p.signatures for p in each], np.zeros((0, num_perm), dtype=np.uint32)),
        keys=joined([p.keys for p in each], np.zeros((0, bands), dtype=np.int64)),
        window_offsets=offsets([len(p) for p in each]),
        anchor_positions=joined([p.anchor_positions for p in each], np.zeros(0, dtype=np.int64)),
        anchor_keys=joined([p.anchor_keys for p in each], np.zeros(0, dtype=np.int64)),
        anchor_offsets=offsets([p.anchor_keys.shape[0] for p in each]),
    )
