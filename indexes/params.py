"""Fingerprint parameters: everything that decides a fingerprint, stored in every index.

Two fingerprints are comparable only when every field here is equal; an index refuses to be used with
other parameters. ``bands`` and ``rows`` are derived from ``threshold`` once, when an index is made,
and stored, so a change in the optimizer can never silently change an existing index.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from indexes._datasketch import SCHEME
from indexes.lsh import lsh_params
from indexes.normalize import TOKENIZER


@dataclass(frozen=True)
class IndexParams:
    """How texts are cut into passages and fingerprinted."""

    shingle_words: int = 5
    passage_words: int = 54  # 50 shingles: a multiple of the strides, so windows share block minima
    passage_stride: int = 10
    anchor_window: int = 8
    num_perm: int = 128
    threshold: float = 0.5
    bands: int = 0
    rows: int = 0
    seed: int = 1
    tokenizer: str = TOKENIZER
    scheme: str = SCHEME

    def __post_init__(self) -> None:
        if self.shingle_words < 1 or self.passage_words < self.shingle_words:
            msg = "need 1 <= shingle_words <= passage_words"
            raise ValueError(msg)
        if not 1 <= self.passage_stride <= self.passage_words:
            msg = "need 1 <= passage_stride <= passage_words"
            raise ValueError(msg)
        if self.anchor_window < 1:
            msg = "need 1 <= anchor_window"
            raise ValueError(msg)
        if self.bands == 0 and self.rows == 0:
            bands, rows = lsh_params(self.threshold, self.num_perm)
            object.__setattr__(self, "bands", bands)
            object.__setattr__(self, "rows", rows)
        if self.bands * self.rows > self.num_perm or self.bands < 1 or self.rows < 1:
            msg = f"bands * rows must fit in num_perm ({self.bands} * {self.rows} > {self.num_perm})"
            raise ValueError(msg)

    @property
    def anchor_run(self) -> int:
        """Shortest run of identical words that is guaranteed an anchor in common (winnowing)."""
        return self.anchor_window + self.shingle_words - 1

    @property
    def shingles_per_passage(self) -> int:
        """A full passage window measured in shingles."""
        return self.passage_words - self.shingle_words + 1

    def to_json(self) -> str:
        """Canonical JSON (sorted keys), the form stored in an index."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> IndexParams:
        """Parameters from their stored JSON; unknown keys are an error."""
        data: dict[str, Any] = json.loads(text)
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            msg = f"unknown fingerprint parameters: {', '.join(sorted(unknown))}"
            raise ValueError(msg)
        return cls(**data)

    def differences(self, other: IndexParams) -> list[str]:
        """``name: ours != theirs`` for every field that differs."""
        return [
            f"{f.name}: {getattr(self, f.name)!r} != {getattr(other, f.name)!r}"
            for f in fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        ]

    def with_threshold(self, threshold: float) -> IndexParams:
        """The same parameters with another threshold (and bands and rows derived from it)."""
        return replace(self, threshold=threshold, bands=0, rows=0)
