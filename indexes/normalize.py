"""Text normalization that remembers where every token came from.

A token is a run of letters, digits and combining marks (each Han, Hiragana or Katakana character is a
token of its own, since those scripts do not separate words with spaces). Each token is normalized
(NFKC, then case folding) and hashed; punctuation and whitespace only separate tokens. Offsets always
refer to the original, un-normalized text, so a match can be shown where it stands.

The token hash is a polynomial over the normalized token's code points (mod 2**64), mixed with
MurmurHash3's finalizer and the seed. That definition lets pure-ASCII tokens, nearly all tokens of
English text, be hashed for a whole text at once with prefix sums in numpy; other tokens are
normalized and hashed one by one (and cached). Both routes give the same value by construction, and
a test holds them to it. Changing the classes, the normalization or the hash changes every
fingerprint: it is named by ``TOKENIZER``, part of every index's parameters.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import regex

from indexes import _kernels

if TYPE_CHECKING:
    from collections.abc import Sequence

TOKENIZER = "lnm-cjkchar/nfkc-casefold/poly64-fmix64"

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]

_CJK = r"\p{Han}\p{Hiragana}\p{Katakana}"
_WORD = regex.compile(r"[\p{L}\p{N}\p{M}]", regex.VERSION1)
_ALONE = regex.compile(rf"[{_CJK}]", regex.VERSION1)

SEPARATOR, WORD, ALONE = 0, 1, 2
_BMP = 0x10000
_ASCII = 128
_BASE = 0x100000001B3  # odd, so it has an inverse modulo 2**64
_BASE_INVERSE = pow(_BASE, -1, 1 << 64)
_LENGTH_MUL = 0x9E3779B97F4A7C15
_MASK64 = (1 << 64) - 1


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


@cache
def _bmp_classes() -> npt.NDArray[np.uint8]:
    """Class of every code point of the Basic Multilingual Plane, decided by the ``regex`` module."""
    table = np.zeros(_BMP, dtype=np.uint8)
    every = "".join(map(chr, range(0xD800))) + "".join(map(chr, range(0xE000, _BMP)))
    offsets = np.concatenate([np.arange(0xD800), np.arange(0xE000, _BMP)])
    table[offsets[[m.start() for m in _WORD.finditer(every)]]] = WORD
    table[offsets[[m.start() for m in _ALONE.finditer(every)]]] = ALONE
    return table


@lru_cache(maxsize=4096)
def _astral_class(code_point: int) -> int:
    ch = chr(code_point)
    if _ALONE.match(ch):
        return ALONE
    return WORD if _WORD.match(ch) else SEPARATOR


def _classes_of(cps: npt.NDArray[np.uint32] | npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Class of each code point; the few beyond the BMP (emoji, rare scripts) are looked up one by one."""
    astral = cps >= _BMP
    cls = _bmp_classes()[np.where(astral, 0, cps)]
    for i in np.flatnonzero(astral).tolist():
        cls[i] = _astral_class(int(cps[i]))
    return cls


@cache
def _ascii_lower() -> npt.NDArray[np.uint64]:
    table = np.arange(_ASCII, dtype=np.uint64)
    table[ord("A") : ord("Z") + 1] += np.uint64(32)
    return table


_powers: list[U64] = []


def _power_tables(n: int) -> tuple[U64, U64]:
    """``BASE**i`` and ``BASE_INVERSE**i`` mod 2**64 for ``i < n`` (grown on demand, kept)."""
    if not _powers or _powers[0].shape[0] < n:
        size = max(n, 1 << 16, 2 * (_powers[0].shape[0] if _powers else 0))
        forward = np.full(size, _BASE, dtype=np.uint64)
        forward[0] = 1
        backward = np.full(size, _BASE_INVERSE, dtype=np.uint64)
        backward[0] = 1
        _powers[:] = [np.cumprod(forward, dtype=np.uint64), np.cumprod(backward, dtype=np.uint64)]
    return _powers[0], _powers[1]


def _finish(poly: U64, lengths: U64, seed: int) -> U64:
    """Mix a token's polynomial with its length and the seed (MurmurHash3's 64-bit finalizer)."""
    h = poly ^ (lengths * np.uint64(_LENGTH_MUL)) ^ np.uint64(seed & _MASK64)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    out: U64 = h ^ (h >> np.uint64(33))
    return out


def normalize_token(token: str) -> str:
    """The normalized form a token is compared in."""
    return unicodedata.normalize("NFKC", token).casefold()


@lru_cache(maxsize=1 << 16)
def token_hash(token: str, seed: int) -> int:
    """Hash of one token, one at a time: the reference for the vectorized route."""
    poly = 0
    power = 1
    normalized = normalize_token(token)
    for ch in normalized:
        poly = (poly + ord(ch) * power) & _MASK64
        power = (power * _BASE) & _MASK64
    lengths = np.array([len(normalized)], dtype=np.uint64)
    return int(_finish(np.array([poly], dtype=np.uint64), lengths, seed)[0])


def tokenize(text: str, seed: int) -> Tokens:
    """Split ``text`` into normalized, hashed tokens with their original offsets."""
    ascii_only = text.isascii()
    if ascii_only:  # one byte per character: a quarter of the memory traffic
        cps: npt.NDArray[np.uint32] | npt.NDArray[np.uint8] = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    else:
        cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    n = cps.shape[0]
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Tokens(np.zeros(0, dtype=np.uint64), empty, empty.copy())
    if _kernels.available():
        # The kernel looks classes up itself, unless some code point is beyond the table (astral).
        table = _bmp_classes()[:_ASCII] if ascii_only else _bmp_classes()
        cls = np.zeros(0, dtype=np.uint8) if ascii_only or int(cps.max()) < _BMP else _classes_of(cps)
        starts, ends, hashes, redo = _kernels.tokens(cps, cls, table, seed)
        for i in np.flatnonzero(redo).tolist():
            hashes[i] = token_hash(text[starts[i] : ends[i]], seed)
        return Tokens(hashes=hashes, starts=starts, ends=ends)
    cls = _bmp_classes()[:_ASCII][cps] if ascii_only else _classes_of(cps)
    return _tokenize_numpy(text, cps, cls, seed)


def tokenize_many(texts: Sequence[str], seed: int) -> list[Tokens]:
    """``tokenize`` of each text, done in one pass over the texts joined by newlines.

    A newline separates tokens, so no token spans two texts and each text gets exactly the tokens it
    gets alone; one pass saves the per-call cost that dominates for texts of a few kilobytes. ASCII
    texts are joined apart from the others, so that one accent does not send a whole batch down the
    four-bytes-per-character route.
    """
    out: list[Tokens | None] = [None] * len(texts)
    ascii_texts = [i for i, text in enumerate(texts) if text.isascii()]
    other = [i for i, text in enumerate(texts) if not text.isascii()]
    for group in (ascii_texts, other):
        for i, tokens in zip(group, _tokenize_joined([texts[i] for i in group], seed), strict=True):
            out[i] = tokens
    return [t for t in out if t is not None]


def _tokenize_joined(texts: list[str], seed: int) -> list[Tokens]:
    if len(texts) < 2:  # noqa: PLR2004 - nothing to join
        return [tokenize(text, seed) for text in texts]
    whole = tokenize("\n".join(texts), seed)
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum([len(text) + 1 for text in texts], out=offsets[1:])
    bounds = np.searchsorted(whole.starts, offsets).tolist()
    return [
        Tokens(whole.hashes[a:b], whole.starts[a:b] - offset, whole.ends[a:b] - offset)
        for a, b, offset in zip(bounds[:-1], bounds[1:], offsets[:-1].tolist(), strict=True)
    ]


def _tokenize_numpy(
    text: str, cps: npt.NDArray[np.uint32] | npt.NDArray[np.uint8], cls: npt.NDArray[np.uint8], seed: int
) -> Tokens:
    """The numpy route: boundaries from class changes, ASCII token hashes from prefix sums."""
    n = cps.shape[0]
    word = cls != SEPARATOR
    alone = cls == ALONE
    prev_word = np.concatenate([[False], word[:-1]])
    next_word = np.concatenate([word[1:], [False]])
    prev_alone = np.concatenate([[False], alone[:-1]])
    next_alone = np.concatenate([alone[1:], [False]])
    starts = np.flatnonzero(word & (~prev_word | alone | prev_alone))
    ends = np.flatnonzero(word & (~next_word | alone | next_alone)) + 1
    if starts.shape[0] == 0:
        return Tokens(np.zeros(0, dtype=np.uint64), starts.astype(np.int64), ends.astype(np.int64))
    wide = cps >= _ASCII
    lowered = _ascii_lower()[np.where(wide, 0, cps) if cps.dtype != np.uint8 else cps]
    forward, backward = _power_tables(n + 1)
    prefix = np.zeros(n + 1, dtype=np.uint64)
    np.cumsum(lowered * forward[:n], out=prefix[1:])
    poly = (prefix[ends] - prefix[starts]) * backward[starts]
    hashes = _finish(poly, (ends - starts).astype(np.uint64), seed)
    wide_count = np.concatenate([[0], np.cumsum(wide & word)])
    for i in np.flatnonzero(wide_count[ends] != wide_count[starts]).tolist():
        hashes[i] = token_hash(text[starts[i] : ends[i]], seed)
    return Tokens(hashes=hashes, starts=starts.astype(np.int64), ends=ends.astype(np.int64))
