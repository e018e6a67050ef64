"""Accuracy benchmark: plant passages of indexed works into host texts and measure what is found.

Every case takes a passage of L words from a random work at a random position, edits a share of its
words (substitutions, deletions, insertions), and plants it into a host text at a sentence boundary.
Ground truth is the planted character span on both sides. Recall counts cases where a match for the
right work overlaps the planted span; coverage is the share of planted characters inside the
reported spans. Precision runs the same audit over hosts with nothing planted; hosts that share a
real run of text with a work (outside the known boilerplate paragraphs) are excluded by brute force.

    python benchmarks/accuracy.py                 # the full report (a few minutes)
    python benchmarks/accuracy.py --quick         # the small seeded version the tests assert
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import BOILERPLATE, Prose

from connectors import Document, sha256_hex
from indexes import IndexStore
from indexes.normalize import tokenize
from indexes.shingles import shingle_hashes
from provenance import AuditOptions, Auditor, ScanItem
from provenance.ingest import add_document

_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Config:
    """Sizes of one benchmark run."""

    seed: int = 1
    works: int = 400
    work_words: tuple[int, int] = (300, 3000)
    cases: int = 100
    lengths: tuple[int, ...] = (50, 100, 200)
    edit_rates: tuple[float, ...] = (0.0, 0.1, 0.2)
    short_lengths: tuple[int, ...] = (25, 35, 50)
    short_min_words: int = 20
    host_words: tuple[int, ...] = (300, 1000, 3000, 20000)
    near_duplicates: int = 100
    negatives: int = 10000
    negative_words: tuple[int, int] = (200, 2000)


QUICK = Config(works=80, cases=40, negatives=300, near_duplicates=30, host_words=(300, 1000, 3000))


@dataclass
class Case:
    """One planted passage and what the audit reported for it."""

    work_id: int
    host: str
    scanned_span: tuple[int, int]
    work_span: tuple[int, int]
    found: bool = False
    scanned_cover: float = 0.0
    work_cover: float = 0.0


@dataclass
class Row:
    """Results for one (length, edit rate) cell."""

    label: str
    cases: list[Case] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return sum(c.found for c in self.cases) / len(self.cases)

    @property
    def scanned_cover(self) -> float:
        return float(np.mean([c.scanned_cover for c in self.cases]))

    @property
    def work_cover(self) -> float:
        return float(np.mean([c.work_cover for c in self.cases]))


@dataclass
class Report:
    """Everything the benchmark measured."""

    rows: dict[str, Row]
    short_rows: dict[str, Row]
    near_duplicates: Row
    negatives: int
    excluded: int
    false_texts: int
    seconds: dict[str, float]

    @property
    def false_per_10k(self) -> float:
        return 10_000 * self.false_texts / max(1, self.negatives)

    def table(self) -> str:
        lines = [
            "| passage | edits | cases | recall | scanned coverage | work coverage |",
            "|---|---|---|---|---|---|",
        ]
        lines.extend(
            f"| {row.label} | {len(row.cases)} | {row.recall:.3f} | {row.scanned_cover:.3f} | {row.work_cover:.3f} |"
            for row in [*self.rows.values(), *self.short_rows.values(), self.near_duplicates]
        )
        lines.append("")
        lines.append(
            f"Precision: {self.false_texts} texts with a false match among {self.negatives} texts with nothing "
            f"planted ({self.false_per_10k:.2f} per 10,000); {self.excluded} hosts excluded as sharing real text."
        )
        lines.append("Time: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items()))
        return "\n".join(lines)


def _doc(text: str, name: str) -> Document:
    return Document(text=text, source=name, kind="text", content_sha256=sha256_hex(text.encode()), title=name)


def _cover(span: tuple[int, int], spans: list[tuple[int, int]]) -> float:
    covered = np.zeros(span[1] - span[0], dtype=bool)
    for s, e in spans:
        lo, hi = max(s, span[0]), min(e, span[1])
        if lo < hi:
            covered[lo - span[0] : hi - span[0]] = True
    return float(covered.mean()) if covered.size else 0.0


def _plant(host: str, passage: str, rng: np.random.Generator) -> tuple[str, int]:
    """Insert ``passage`` after a random sentence end of ``host``; return the text and the offset."""
    ends = [m.end() for m in re.finditer(r"[.?!] ", host)] or [len(host)]
    at = int(rng.choice(ends))
    text = host[:at] + passage + " " + host[at:]
    return text, at


class Bench:
    """One benchmark run over one temporary index."""

    def __init__(self, config: Config, index_path: Path) -> None:
        self.config = config
        self.rng = np.random.default_rng(config.seed)
        self.prose = Prose(config.seed)
        self.hosts = Prose(config.seed + 1000)
        self.store = IndexStore.open(index_path)
        self.works: dict[int, str] = {}
        self.seconds: dict[str, float] = {}

    def build(self) -> None:
        started = time.perf_counter()
        lo, hi = self.config.work_words
        for i in range(self.config.works):
            text = self.prose.text(int(self.rng.integers(lo, hi)))
            event = add_document(self.store, _doc(text, f"work-{i}"))
            assert event.work_id is not None
            self.works[event.work_id] = text
        self.store.refresh_common()
        self.seconds["index"] = time.perf_counter() - started

    def _case(self, length: int, rate: float, host_words: int) -> Case:
        work_id = int(self.rng.choice(list(self.works)))
        text = self.works[work_id]
        words = list(_WORD.finditer(text))
        while len(words) < length + 2:
            work_id = int(self.rng.choice(list(self.works)))
            text = self.works[work_id]
            words = list(_WORD.finditer(text))
        start = int(self.rng.integers(0, len(words) - length + 1))
        chosen = words[start : start + length]
        work_span = (chosen[0].start(), chosen[-1].end())
        passage_words = [m.group() for m in chosen]
        if rate:
            passage_words = self.prose.edit(passage_words, rate)
        passage = " ".join(passage_words)
        host, at = _plant(self.hosts.text(host_words), passage, self.rng)
        return Case(work_id, host, (at, at + len(passage)), work_span)

    def audit(self, cases: list[Case], options: AuditOptions) -> None:
        auditor = Auditor(self.store, options)
        items = [ScanItem(text=c.host, scanned=str(i), sha256="") for i, c in enumerate(cases)]
        for (item, matches), case in zip(auditor.audit(items), cases, strict=True):
            del item
            mine = [m for m in matches if m.work_id == case.work_id]
            hits = [
                m for m in mine if m.scanned_span[0] < case.scanned_span[1] and case.scanned_span[0] < m.scanned_span[1]
            ]
            case.found = bool(hits)
            case.scanned_cover = _cover(case.scanned_span, [m.scanned_span for m in hits])
            case.work_cover = _cover(case.work_span, [m.work_span for m in hits])

    def planted(
        self, lengths: tuple[int, ...], rates: tuple[float, ...], options: AuditOptions, tag: str
    ) -> dict[str, Row]:
        started = time.perf_counter()
        rows: dict[str, Row] = {}
        for length in lengths:
            for rate in rates:
                row = Row(f"{length} words{tag} | {round(rate * 100)} %")
                for i in range(self.config.cases):
                    host_words = self.config.host_words[i % len(self.config.host_words)]
                    row.cases.append(self._case(length, rate, host_words))
                self.audit(row.cases, options)
                rows[row.label] = row
        self.seconds[f"planted{tag}"] = time.perf_counter() - started
        return rows

    def near_duplicates(self) -> Row:
        """Whole works reformatted (re-wrapped, re-cased headings) with boilerplate around them."""
        row = Row("whole document | reformatted")
        ids = list(self.works)
        for i in range(self.config.near_duplicates):
            work_id = ids[i % len(ids)]
            words = self.works[work_id].split()
            lines = [" ".join(words[j : j + 11]) for j in range(0, len(words), 11)]
            body = "\n".join(lines)
            host = f"Posted by admin on 12 March. Share this post.\n\n{body}\n\n{BOILERPLATE[i % len(BOILERPLATE)]}"
            at = host.index(body)
            row.cases.append(Case(work_id, host, (at, at + len(body)), (0, len(self.works[work_id]))))
        self.audit(row.cases, AuditOptions())
        return row

    def negatives(self) -> tuple[int, int, int]:
        """(texts audited, texts excluded as sharing real text, texts with a false match)."""
        started = time.perf_counter()
        lo, hi = self.config.negative_words
        hosts = [self.hosts.text(int(self.rng.integers(lo, hi))) for _ in range(self.config.negatives)]
        genuine = _shared_runs(self.works.values(), hosts)
        auditor = Auditor(self.store, AuditOptions())
        items = [ScanItem(text=h, scanned=str(i), sha256="") for i, h in enumerate(hosts)]
        false_texts = 0
        excluded = 0
        for item, matches in auditor.audit(items):
            if int(item.scanned) in genuine:
                excluded += 1
            elif matches:
                false_texts += 1
        self.seconds["negatives"] = time.perf_counter() - started
        return len(hosts) - excluded, excluded, false_texts


def _without_boilerplate(text: str) -> str:
    for paragraph in BOILERPLATE:
        text = text.replace(paragraph, " ")
    return text


def _shared_runs(works: object, hosts: list[str], run: int = 12) -> set[int]:
    """Hosts sharing a run of ``run`` tokens with any work, boilerplate paragraphs aside (brute force)."""
    grams = np.unique(
        np.concatenate([shingle_hashes(tokenize(_without_boilerplate(w), 1).hashes, run) for w in works])  # type: ignore[attr-defined]
    )
    shared: set[int] = set()
    for i, host in enumerate(hosts):
        mine = shingle_hashes(tokenize(_without_boilerplate(host), 1).hashes, run)
        at = np.minimum(np.searchsorted(grams, mine), grams.size - 1)
        if mine.size and grams.size and (grams[at] == mine).any():
            shared.add(i)
    return shared


def run(config: Config, workdir: Path) -> Report:
    """Build an index of generated works and measure recall, coverage and precision on it."""
    bench = Bench(config, workdir / "bench.duckdb")
    try:
        bench.build()
        rows = bench.planted(config.lengths, config.edit_rates, AuditOptions(), "")
        short = bench.planted(
            config.short_lengths, (0.0,), AuditOptions(min_words=config.short_min_words), " (short mode)"
        )
        near = bench.near_duplicates()
        negatives, excluded, false_texts = bench.negatives()
    finally:
        bench.store.close()
    return Report(rows, short, near, negatives, excluded, false_texts, bench.seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the small seeded version the tests assert")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    config = QUICK if args.quick else Config()
    config = Config(**{**config.__dict__, "seed": args.seed})
    with tempfile.TemporaryDirectory() as tmp:
        report = run(config, Path(tmp))
    print(f"Accuracy benchmark (seed {config.seed}, {config.works} works, {config.cases} cases per cell)\n")
    print(report.table())


if __name__ == "__main__":
    main()
