"""Text normalization that remembers where every token came from.

A token is a run of letters, digits and combining marks (each Han, Hiragana or Katakana character is a
token of its own, since those scripts do not separate words with spaces). Each token is normalized
(NFKC, then case folding) and hashed with xxhash; punctuation and whitespace only separate tokens.
Offsets always refer to the original, un-normalized text, so a match can be shown where it stands.
Changing the pattern, the normalization or the hash changes every fingerprint: it is part of
``IndexParams.tokenizer``.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import regex
import xxhash

TOKENIZER = "nfkc-casefold-lnm-cjkchar/xxh3_64"

_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}"
_TOKEN = regex.compile(rf"[{_CJK}]|[[\p{{L}}\p{{N}}\p{{M}}]--[{_CJK}]]+", regex.VERSION1)

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]


def normalize_token(token: str) -> str:
    """The normalized form a token is compared in."""
    return unicodedata.normalize("NFKC", token).casefold()


@lru_cache(maxsize=1 << 18)
def _token_hash(token: str, seed: int) -> int:
    return xxhash.xxh3_64_intdigest(normalize_token(token).encode("utf-8"), seed)


@dataclass(frozen=True, eq=False)
class Tokens:
    """Token hashes of a text and the ``[start, end)`` character offsets of each token in it."""

    hashes: U64
    starts: I64
    ends: I64

    def __len__(self) -> int:
        return int(self.hashes.shape[0])

    def char_span(self, token_start: int, token_end: int) -> tuple[int, int]:
        """Character span ``[start, end)`` covering tokens ``[token_start, token_end)``."""
        if token_end <= token_start:
            msg = f"empty token range [{token_start}, {token_end})"
            raise ValueError(msg)
        return int(self.starts[token_start]), int(self.ends[token_end - 1])


def tokenize(text: str, seed: int) -> Tokens:
    """Split ``text`` into normalized, hashed tokens with their original offsets."""
    spans: list[int] = []
    hashes: list[int] = []
    for m in _TOKEN.finditer(text):
        start, end = m.span()
        spans.append(start)
        spans.append(end)
        hashes.append(_token_hash(m.group(), seed))
    offsets = np.array(spans, dtype=np.int64).reshape(-1, 2)
    return Tokens(
        hashes=np.array(hashes, dtype=np.uint64),
        starts=np.ascontiguousarray(offsets[:, 0]),
        ends=np.ascontiguousarray(offsets[:, 1]),
    )
