"""Dataset scan benchmark: MB/s of scanned text and peak memory, one process against several.

    python benchmarks/scan.py --passages 1000000 --workers 1 2     # the issue's target setting
    python benchmarks/scan.py --passages 100000 --shards 8         # a quicker run

Builds (or reuses, with --index) an index of generated prose, writes a Parquet dataset of generated
records (one in ten with a planted 100-word passage of an indexed work), then scans it once per worker
count, each scan in a fresh process so its peak RSS is its own (the largest worker's peak is
reported apart). Rates: end to end (start-up included); after start-up (from the first audited
batch); and while auditing shards (bytes over the shards' own seconds, divided among the workers:
the steady rate, free of start-up and of the wait for the last shard). Wall-clock figures on
whatever machine runs this; run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import Prose

from connectors import Document, sha256_hex
from indexes import IndexParams, IndexStore
from provenance.datasets import DatasetOptions
from provenance.ingest import add_document
from provenance.options import AuditOptions
from provenance.scan import ScanOptions, ScanProgress, scan_dataset

WORDS_PER_WORK = 2000


def build_index(path: Path, passages: int, seed: int) -> list[str]:
    """An index of about ``passages`` passages of generated prose; returns some works' texts to plant."""
    params = IndexParams()
    per_work = (WORDS_PER_WORK - params.passage_words) // params.passage_stride + 2
    works = -(-passages // per_work)
    prose = Prose(seed)
    kept: list[str] = []
    started = time.perf_counter()
    with IndexStore.open(path) as store:
        existing = store.state().works
        for i in range(works):
            text = prose.fast_text(WORDS_PER_WORK)
            if i % max(1, works // 50) == 0:
                kept.append(text)
            if i >= existing:
                add_document(store, Document(text, f"work-{i}", "text", sha256_hex(text.encode()), title=f"w{i}"))
        if existing < works:
            store.refresh_common()
        state = store.state()
    took = time.perf_counter() - started
    print(f"Index: {state.works:,} works, {state.passages:,} passages ({took:.0f} s to build or check)")
    print(f"  file {path.stat().st_size / 2**20:.0f} MiB")
    return kept


def write_dataset(folder: Path, kept: list[str], shards: int, records: int, words: int, seed: int) -> int:
    """Parquet shards in the Hugging Face layout; returns the number of records with a planted passage."""
    prose = Prose(seed + 1)
    rng = np.random.default_rng(seed)
    planted = 0
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for s in range(shards):
        texts = []
        for r in range(records):
            host = prose.fast_text(words).split()
            if r % 10 == 0:
                source = kept[(s * records + r) % len(kept)].split()
                at = int(rng.integers(0, len(source) - 100))
                host[len(host) // 2 : len(host) // 2] = source[at : at + 100]
                planted += 1
            texts.append(" ".join(host))
        table = pa.table({"id": [f"{s}-{r}" for r in range(records)], "text": texts})
        pq.write_table(table, folder / "data" / f"train-{s:05d}-of-{shards:05d}.parquet", row_group_size=1000)
    return planted


def run(index: Path, dataset: Path, workers: int, lookup: str) -> None:
    """One scan in this process; prints one JSON line of figures (the parent reads it)."""
    started = time.perf_counter()
    first: list[tuple[float, int]] = []
    busy: list[float] = []  # seconds each shard took in its worker

    def progress(p: ScanProgress) -> None:
        if p.text_bytes and not first:  # the first batch is audited: start-up and lookup loading are over
            first.append((time.perf_counter(), p.text_bytes))

    summary = scan_dataset(
        index,
        [str(dataset)],
        dataset=DatasetOptions(id_field="id"),
        audit=AuditOptions(lookup=lookup),  # type: ignore[arg-type]
        options=ScanOptions(workers=workers, restart=True),
        on_progress=progress,
        on_shard=lambda outcome, _skipped: busy.append(outcome.seconds),
    )
    ended = time.perf_counter()
    seconds = ended - started
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    cpu = sum(
        u.ru_utime + u.ru_stime for u in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    )
    print(
        json.dumps(
            {
                "workers": workers,
                "seconds": seconds,
                "startup": first[0][0] - started,
                "steady_mb_s": (summary.text_bytes - first[0][1]) / 1e6 / (ended - first[0][0]),
                "busy_mb_s": summary.text_bytes / 1e6 / (sum(busy) / workers),
                "text_mb": summary.text_bytes / 1e6,
                "records": summary.records,
                "cpu_s": cpu,
                "matched_records": summary.matches,
                "parent_rss_mib": own,
                "worker_rss_mib": children if workers > 1 else 0.0,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=32)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--words", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--lookup", choices=["memory", "duckdb"], default="memory")
    parser.add_argument("--index", type=Path, help="index file to build, or reuse if it exists")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1, help="rounds of runs (this machine's speed varies)")
    parser.add_argument("--run", nargs=2, metavar=("INDEX", "DATASET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        run(Path(args.run[0]), Path(args.run[1]), args.workers[0], args.lookup)
        return
    with tempfile.TemporaryDirectory() as tmp:
        index = args.index or Path(tmp) / "scan.duckdb"
        kept = build_index(index, args.passages, args.seed)
        dataset = Path(tmp) / "dataset"
        planted = write_dataset(dataset, kept, args.shards, args.records, args.words, args.seed)
        size = sum(p.stat().st_size for p in dataset.rglob("*.parquet"))
        print(
            f"Dataset: {args.shards} Parquet shards x {args.records} records of ~{args.words} words "
            f"({planted} with a planted passage), {size / 2**20:.1f} MiB on disk"
        )
        print(f"Lookup: {args.lookup}; {os.cpu_count()} cores\n")
        lookup = ("--lookup", args.lookup)
        rates: dict[int, list[tuple[float, float, float]]] = {w: [] for w in args.workers}
        for round_no in range(1, args.repeat + 1):
            if args.repeat > 1:
                print(f"  round {round_no}")
            base = None
            for workers in args.workers:
                done = subprocess.run(  # noqa: S603 - this script, run again with the same interpreter
                    [sys.executable, __file__, "--run", str(index), str(dataset), "--workers", str(workers), *lookup],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                r = json.loads(done.stdout.strip().splitlines()[-1])
                rate = r["text_mb"] / r["seconds"]
                base = base or rate
                rates[workers].append((rate, r["steady_mb_s"], r["busy_mb_s"]))
                print(
                    f"  workers {workers}: {r['seconds']:6.1f} s, {rate:6.2f} MB/s of text ({rate / base:.2f}x), "
                    f"{r['records'] / r['seconds']:5.0f} records/s; after {r['startup']:.1f} s of start-up "
                    f"{r['steady_mb_s']:.2f} MB/s; while auditing shards {r['busy_mb_s']:.2f} MB/s; "
                    f"{r['cpu_s'] / r['text_mb'] * 1000:.0f} ms of CPU per MB; "
                    f"{r['matched_records']} matches; peak RSS parent "
                    f"{r['parent_rss_mib']:.0f} MiB"
                    + (f", largest worker {r['worker_rss_mib']:.0f} MiB" if workers > 1 else "")
                )
        if args.repeat > 1:
            first = args.workers[0]
            print(f"\n  medians over {args.repeat} rounds (end to end / after start-up / while auditing shards):")
            for workers, got in rates.items():
                medians = [statistics.median(g[k] for g in got) for k in range(3)]
                ratio = statistics.median(g[2] / f[2] for g, f in zip(got, rates[first], strict=True))
                print(
                    f"  workers {workers}: {medians[0]:.2f} / {medians[1]:.2f} / {medians[2]:.2f} MB/s; "
                    f"while auditing, {ratio:.2f}x workers {first} of the same round"
                )
        print(f"\n  {planted} records carry a planted passage; every run should find them (matches >= planted)")


if __name__ == "__main__":
    main()
