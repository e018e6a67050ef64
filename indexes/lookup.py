"""Candidate lookups: band keys and anchors of scanned windows against the index.

Two interchangeable engines answer the same two questions with the same ``Hits``:
``DuckDBLookup`` joins against the tables on disk (little memory, suits one-off batch scans), and
``MemoryLookup`` holds the keys sorted in numpy arrays and answers with binary search (suits
interactive audits and repeated scans: loading is paid once, a lookup then costs microseconds).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from indexes import _kernels

if TYPE_CHECKING:
    from pathlib import Path

    import duckdb

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class Hits:
    """Rows of ``(probe, work_id, token_start, token_end)``: a work region a probe's key led to."""

    probe: I64
    work_id: I64
    start: I64
    end: I64

    def __len__(self) -> int:
        return int(self.probe.shape[0])

    @classmethod
    def empty(cls) -> Hits:
        """No hits."""
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z.copy(), z.copy(), z.copy())


class Lookup(Protocol):
    """Finds the work regions that share band keys or anchors with probes."""

    def bands(self, probe: I64, keys: I64) -> Hits:
        """Passages sharing a band key: one row per (probe, passage)."""
        ...

    def anchors(self, probe: I64, keys: I64, run: int) -> Hits:
        """Uncommon anchors shared: one row per (probe, anchor), the region ``[pos, pos + run)``."""
        ...


def _unique_pairs(probe: I64, keys: I64) -> tuple[I64, I64]:
    """Distinct ``(probe, key)`` pairs, sorted by probe then key (a lexsort: ``np.unique(axis=0)`` is ~10x slower)."""
    if keys.shape[0] == 0:
        return probe[:0], keys[:0]
    order = np.lexsort((keys, probe))
    p, k = probe[order], keys[order]
    keep = np.empty(k.shape[0], dtype=np.bool_)
    keep[0] = True
    keep[1:] = (k[1:] != k[:-1]) | (p[1:] != p[:-1])
    return p[keep], k[keep]


class KeyFilter:
    """A one-hash bitmap of a key set (32 to 64 bits per key: 2-3 % false positives) that drops most probes cheaply.

    Most band keys and anchors of a scanned text are in no work: testing a bit is one gather, where a
    binary search in millions of sorted keys costs a cache miss per level.
    """

    def __init__(self, keys: I64, bitmap: npt.NDArray[np.uint8] | None = None, *, log_bits: int | None = None) -> None:
        if bitmap is not None:  # one built before (a cached copy)
            self.mask = np.uint64(bitmap.shape[0] * 8 - 1)
            self.bitmap = bitmap
            return
        bits = 1 << (log_bits or max(16, int(np.ceil(np.log2(max(1, keys.shape[0]) * 32)))))
        self.mask = np.uint64(bits - 1)
        self.bitmap = np.zeros(bits // 8, dtype=np.uint8)
        byte, bit = self._split(keys)
        for b in range(8):  # one bit value per pass, so repeated bytes in a fancy assignment agree
            at = byte[bit == b]
            self.bitmap[at] |= np.uint8(1 << b)

    def _split(self, keys: I64) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.uint8]]:
        h = keys.view(np.uint64) & self.mask
        return (h >> np.uint64(3)).astype(np.intp), (h & np.uint64(7)).astype(np.uint8)

    def __call__(self, keys: I64) -> npt.NDArray[np.bool_]:
        """Whether each key may be in the set (never false for a key that is)."""
        byte, bit = self._split(keys)
        return ((self.bitmap[byte] >> bit) & 1).astype(np.bool_)


COARSE_MAX_LOG_BITS = 26  # 8 MiB: stays in a processor's last-level cache


def coarse_filter(keys: I64, fine: KeyFilter, bitmap: npt.NDArray[np.uint8] | None = None) -> KeyFilter:
    """A small filter of the keys' high halves, tested before ``fine``: it stays in cache, and drops most probes.

    ``fine`` tests the low bits of a key; this one, the high bits (a rotated copy), so their false
    positives are independent.
    """
    if bitmap is not None:  # one built before (a cached copy)
        return KeyFilter(keys[:0], bitmap)
    log_fine = int(fine.bitmap.shape[0] * 8).bit_length() - 1
    return KeyFilter(rotated(keys), log_bits=max(16, min(COARSE_MAX_LOG_BITS, log_fine - 4)))


def rotated(keys: I64) -> I64:
    """Keys with their halves swapped (what ``coarse_filter`` tests)."""
    u = keys.view(np.uint64)
    out: I64 = ((u >> np.uint64(32)) | (u << np.uint64(32))).view(np.int64)
    return out


KEYS_PER_BUCKET = 8


class KeyDirectory:
    """Where each bucket of a sorted key set starts, the keys bucketed by their top bits (about 8 per bucket).

    Keys are hashes, so buckets fill evenly: finding a key is one read of the directory and a scan of
    one or two cache lines, where a binary search in millions of keys costs a cache miss per level.
    """

    def __init__(self, sorted_keys: I64, offsets: I64 | None = None) -> None:
        if offsets is None:
            n = int(sorted_keys.shape[0])
            bits = min(62, max(1, int(np.ceil(np.log2(max(2, n / KEYS_PER_BUCKET))))))
            self.shift = 64 - bits
            counts = np.bincount(self.bucket(np.asarray(sorted_keys)), minlength=1 << bits)
            offsets = np.zeros((1 << bits) + 1, dtype=np.int64)
            np.cumsum(counts, out=offsets[1:])
        else:  # one built before (a cached copy)
            self.shift = 64 - (int(offsets.shape[0]) - 1).bit_length() + 1
        self.offsets = offsets

    def bucket(self, keys: I64) -> npt.NDArray[np.intp]:
        """Each key's bucket: its top bits, ordered like the signed keys."""
        half = np.int64(1) << np.int64(63 - self.shift)
        buckets: npt.NDArray[np.intp] = ((keys >> np.int64(self.shift)) + half).astype(np.intp)
        return buckets


class DuckDBLookup:
    """Lookups as joins in DuckDB against the index's tables."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def _query(self, sql: str, probe: I64, keys: I64) -> dict[str, I64]:
        self.con.register("_probe", pa.table({"probe": pa.array(probe), "key": pa.array(keys)}))
        try:
            result = self.con.execute(sql).fetchnumpy()
        finally:
            self.con.unregister("_probe")
        return {k: np.asarray(v, dtype=np.int64) for k, v in result.items()}

    def bands(self, probe: I64, keys: I64) -> Hits:
        """See ``Lookup.bands``."""
        if keys.shape[0] == 0:
            return Hits.empty()
        cols = self._query(
            """
            SELECT DISTINCT q.probe, p.work_id, p.token_start, p.token_end
            FROM (SELECT DISTINCT probe, key FROM _probe) q
            JOIN bands b ON b.key = q.key
            JOIN passages p ON p.passage_id = b.passage_id
            ORDER BY 1, 2, 3
            """,
            probe,
            keys,
        )
        return Hits(cols["probe"], cols["work_id"], cols["token_start"], cols["token_end"])

    def anchors(self, probe: I64, keys: I64, run: int) -> Hits:
        """See ``Lookup.anchors``."""
        if keys.shape[0] == 0:
            return Hits.empty()
        cols = self._query(
            """
            SELECT DISTINCT q.probe, a.work_id, a.token_pos
            FROM (SELECT DISTINCT probe, key FROM _probe) q
            JOIN anchors a ON a.key = q.key
            ANTI JOIN common_anchors c ON c.key = q.key
            ORDER BY 1, 2, 3
            """,
            probe,
            keys,
        )
        return Hits(cols["probe"], cols["work_id"], cols["token_pos"], cols["token_pos"] + run)


_CACHED = (
    "band_keys",
    "band_passages",
    "passage_ids",
    "passage_work",
    "passage_start",
    "passage_end",
    "anchor_keys",
    "anchor_work",
    "anchor_pos",
    "band_bitmap",
    "anchor_bitmap",
    "band_directory",
    "anchor_directory",
    "band_coarse",
    "anchor_coarse",
)
CACHE_MIN_BANDS = 2_000_000
"""Indexes with fewer band rows load their arrays in well under a second: no cache file for them."""


class MemoryLookup:
    """Lookups by binary search in sorted arrays loaded once from the index.

    With ``cache`` (a folder) and ``version`` (what the arrays were built from), the arrays are kept
    as ``.npy`` files and memory-mapped by later processes: start-up drops from seconds to
    milliseconds, and processes scanning side by side share one copy in the page cache.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, *, cache: Path | None = None, version: str = "") -> None:
        arrays = _load_cache(cache, version) if cache is not None else None
        if arrays is None:
            arrays = self._build(con)
            bands = int(arrays["band_keys"].shape[0])
            if cache is not None and bands >= CACHE_MIN_BANDS:
                _save_cache(cache, version, arrays)
        self.band_keys: I64 = arrays["band_keys"]
        self.band_passages: I64 = arrays["band_passages"]
        self.passage_ids: I64 = arrays["passage_ids"]
        self.passage_work: I64 = arrays["passage_work"]
        self.passage_start: I64 = arrays["passage_start"]
        self.passage_end: I64 = arrays["passage_end"]
        self.anchor_keys: I64 = arrays["anchor_keys"]
        self.anchor_work: I64 = arrays["anchor_work"]
        self.anchor_pos: I64 = arrays["anchor_pos"]
        self.band_filter = KeyFilter(self.band_keys, arrays["band_bitmap"])
        self.anchor_filter = KeyFilter(self.anchor_keys, arrays["anchor_bitmap"])
        self.band_coarse = coarse_filter(self.band_keys, self.band_filter, arrays["band_coarse"])
        self.anchor_coarse = coarse_filter(self.anchor_keys, self.anchor_filter, arrays["anchor_coarse"])
        self.band_directory = KeyDirectory(self.band_keys, arrays["band_directory"])
        self.anchor_directory = KeyDirectory(self.anchor_keys, arrays["anchor_directory"])

    @staticmethod
    def _build(con: duckdb.DuckDBPyConnection) -> dict[str, npt.NDArray[Any]]:
        bands = con.execute("SELECT key, passage_id FROM bands ORDER BY key").fetchnumpy()
        passages = con.execute(
            "SELECT passage_id, work_id, token_start, token_end FROM passages ORDER BY passage_id"
        ).fetchnumpy()
        anchors = con.execute(
            "SELECT a.key, a.work_id, a.token_pos FROM anchors a ANTI JOIN common_anchors c ON c.key = a.key "
            "ORDER BY a.key"
        ).fetchnumpy()
        arrays: dict[str, npt.NDArray[Any]] = {
            "band_keys": np.asarray(bands["key"], dtype=np.int64),
            "band_passages": _narrow(np.asarray(bands["passage_id"], dtype=np.int64)),
            "passage_ids": np.asarray(passages["passage_id"], dtype=np.int64),
            "passage_work": np.asarray(passages["work_id"], dtype=np.int64),
            "passage_start": np.asarray(passages["token_start"], dtype=np.int64),
            "passage_end": np.asarray(passages["token_end"], dtype=np.int64),
            "anchor_keys": np.asarray(anchors["key"], dtype=np.int64),
            "anchor_work": np.asarray(anchors["work_id"], dtype=np.int64),
            "anchor_pos": np.asarray(anchors["token_pos"], dtype=np.int64),
        }
        arrays["band_bitmap"] = KeyFilter(arrays["band_keys"]).bitmap
        arrays["anchor_bitmap"] = KeyFilter(arrays["anchor_keys"]).bitmap
        for kind in ("band", "anchor"):
            fine = KeyFilter(arrays[f"{kind}_keys"], arrays[f"{kind}_bitmap"])
            arrays[f"{kind}_coarse"] = coarse_filter(arrays[f"{kind}_keys"], fine).bitmap
        arrays["band_directory"] = KeyDirectory(arrays["band_keys"]).offsets
        arrays["anchor_directory"] = KeyDirectory(arrays["anchor_keys"]).offsets
        return arrays

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays."""
        return sum(int(v.nbytes) for v in vars(self).values() if isinstance(v, np.ndarray))

    @staticmethod
    def _match(
        sorted_keys: I64, maybe: KeyFilter, coarse: KeyFilter, directory: KeyDirectory, probe: I64, keys: I64
    ) -> tuple[I64, I64]:
        """Distinct ``(probe, row)`` for every row of ``sorted_keys`` equal to a probe's key, by probe then row."""
        if _kernels.available() and keys.shape[0]:
            found, first, count = _kernels.find_keys(
                np.asarray(sorted_keys),
                np.asarray(directory.offsets),
                directory.shift,
                np.asarray(maybe.bitmap),
                maybe.mask,
                np.asarray(coarse.bitmap),
                coarse.mask,
                np.ascontiguousarray(keys, dtype=np.int64),
            )
            offsets = np.repeat(first - (np.cumsum(count) - count), count)
            rows = np.arange(offsets.shape[0], dtype=np.int64) + offsets
            return _unique_pairs(np.repeat(probe[found], count), rows)
        kept = maybe(keys)
        probe, keys = _unique_pairs(probe[kept], keys[kept])
        # Search the distinct keys in ascending order (neighbouring searches share cache lines), left
        # bounds first; most keys past the filter are absent, and only present ones need a right bound.
        distinct, back = np.unique(keys, return_inverse=True)
        lo_distinct = np.searchsorted(sorted_keys, distinct, side="left")
        present = lo_distinct < sorted_keys.shape[0]
        present[present] = sorted_keys[lo_distinct[present]] == distinct[present]
        hi_distinct = lo_distinct.copy()
        hi_distinct[present] = np.searchsorted(sorted_keys, distinct[present], side="right")
        lo, hi = lo_distinct[back], hi_distinct[back]
        count = hi - lo
        total = int(count.sum())
        offsets = np.repeat(lo - (np.cumsum(count) - count), count)
        return np.repeat(probe, count), np.arange(total, dtype=np.int64) + offsets

    def bands(self, probe: I64, keys: I64) -> Hits:
        """See ``Lookup.bands``."""
        probes, rows = self._match(self.band_keys, self.band_filter, self.band_coarse, self.band_directory, probe, keys)
        probes, passages = _unique_pairs(probes, self.band_passages[rows])
        at = np.searchsorted(self.passage_ids, passages)
        return Hits(probes, self.passage_work[at], self.passage_start[at], self.passage_end[at])

    def anchors(self, probe: I64, keys: I64, run: int) -> Hits:
        """See ``Lookup.anchors``."""
        probes, rows = self._match(
            self.anchor_keys, self.anchor_filter, self.anchor_coarse, self.anchor_directory, probe, keys
        )
        pos = self.anchor_pos[rows]
        return Hits(probes, self.anchor_work[rows], pos, pos + run)


def _narrow(ids: I64) -> npt.NDArray[np.int32] | I64:
    """Ids as 32-bit integers when they fit: the band table's passage ids are a third of the lookup's memory."""
    if ids.shape[0] == 0 or int(ids.max()) < np.iinfo(np.int32).max:
        return ids.astype(np.int32)
    return ids


def _load_cache(folder: Path, version: str) -> dict[str, npt.NDArray[Any]] | None:
    """The cached arrays, memory-mapped, if the folder holds a complete copy of this version."""
    try:
        if (folder / "version").read_text(encoding="utf-8") != version:
            return None
        return {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in _CACHED}
    except (OSError, ValueError):
        return None


def _save_cache(folder: Path, version: str, arrays: dict[str, npt.NDArray[Any]]) -> None:
    """Write the arrays beside the index, whole or not at all (best effort: a cache, never required)."""
    staging = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    try:
        staging.mkdir(parents=True, exist_ok=True)
        for name in _CACHED:
            np.save(staging / f"{name}.npy", arrays[name])
        (staging / "version").write_text(version, encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
