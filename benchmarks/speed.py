"""Speed benchmark: fingerprinting throughput against datasketch, index build at scale, audit latency.

    python benchmarks/speed.py fingerprint            # MB/s per core, ours and datasketch's, same documents
    python benchmarks/speed.py index --passages 1000000   # build an index of that many passages, then time audits

Figures are wall-clock on whatever machine runs this; run it on an idle machine.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import Prose

from connectors import Document, sha256_hex
from indexes import IndexParams, IndexStore
from indexes.fingerprint import Fingerprinter
from provenance import AuditOptions, Auditor
from provenance.ingest import WRITE_BATCH, new_work


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rate(label: str, megabytes: float, seconds: float, base: float | None = None) -> float:
    rate = megabytes / seconds
    ratio = f"  ({rate / base:.2f}x ours)" if base else ""
    print(f"  {label:<58} {rate:8.2f} MB/s{ratio}")
    return rate


def fingerprint(docs: int, words: int, seed: int) -> None:
    """Throughput of every path on the same generated documents."""
    prose = Prose(seed)
    texts = [prose.text(words) for _ in range(docs)]
    megabytes = sum(len(t.encode()) for t in texts) / 1e6
    fp = Fingerprinter(IndexParams())
    fp.passages(fp.tokenize(texts[0]))
    print(f"Fingerprinting {docs} documents, {megabytes:.1f} MB, 128 permutations, 5-word shingles, one core\n")

    started = time.perf_counter()
    for t in texts:
        fp.passages(fp.tokenize(t))
    ours = _rate("provenance: work side (passages every 10 words + anchors)", megabytes, time.perf_counter() - started)
    stride = AuditOptions().scan_stride
    started = time.perf_counter()
    for t in texts:
        fp.passages(fp.tokenize(t), stride=stride)
    label = f"provenance: scan side (windows every {stride} words + anchors)"
    _rate(label, megabytes, time.perf_counter() - started, ours)
    started = time.perf_counter()
    for t in texts:
        tokens = fp.tokenize(t)
        fp.minhasher.signature(__import__("indexes.shingles").shingles.shingle_hashes(tokens.hashes, 5))
    _rate("provenance: one signature per document", megabytes, time.perf_counter() - started, ours)

    from datasketch import MinHash  # noqa: PLC0415 - the comparison only

    def shingles(text: str) -> list[bytes]:
        w = text.lower().split()
        return [" ".join(w[i : i + 5]).encode() for i in range(len(w) - 4)]

    subset = texts[: max(1, docs // 10)]
    sub_mb = sum(len(t.encode()) for t in subset) / 1e6
    started = time.perf_counter()
    for t in subset:
        m = MinHash(num_perm=128)
        for s in shingles(t):
            m.update(s)
    _rate(f"datasketch MinHash.update per shingle ({len(subset)} docs)", sub_mb, time.perf_counter() - started, ours)
    started = time.perf_counter()
    MinHash.bulk([shingles(t) for t in texts], num_perm=128)
    _rate("datasketch MinHash.bulk (one signature per document)", megabytes, time.perf_counter() - started, ours)
    try:
        import rensa  # noqa: PLC0415 - optional comparison
    except ImportError:
        print("  rensa: not installed (pip install rensa to compare)")
    else:
        started = time.perf_counter()
        for t in texts:
            r = rensa.RMinHash(num_perm=128, seed=1)
            r.update([s.decode() for s in shingles(t)])
        _rate("rensa RMinHash.update (one signature per document)", megabytes, time.perf_counter() - started, ours)
    print(f"\n  peak RSS {peak_rss_mib():.0f} MiB")


def index(passages: int, seed: int, audits: int) -> None:
    """Build an index of ``passages`` passages, then time warm audits and the CLI's cold start."""
    params = IndexParams()
    words_per_work = 2000
    per_work = (words_per_work - params.passage_words) // params.passage_stride + 2
    works = -(-passages // per_work)
    prose = Prose(seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scale.duckdb"
        kept: list[str] = []
        started = time.perf_counter()
        generated = 0.0
        with IndexStore.open(path) as store:
            fp = store.fingerprinter
            batch = []
            for i in range(works):
                g0 = time.perf_counter()
                text = prose.fast_text(words_per_work)
                generated += time.perf_counter() - g0
                if i % max(1, works // 50) == 0:
                    kept.append(text)
                doc = Document(text, f"work-{i}", "text", sha256_hex(text.encode()), title=f"w{i}")
                batch.append((new_work(doc), fp.passages(fp.tokenize(text))))
                if len(batch) == WRITE_BATCH or i == works - 1:  # as `provenance add` writes them
                    store.add_works(batch)
                    batch = []
            store.refresh_common()
            build = time.perf_counter() - started - generated
            state = store.state()
        store_size = path.stat().st_size
        print(f"Index: {state.works:,} works, {state.passages:,} passages, {state.works * words_per_work:,} words")
        print(f"  build {build:.1f} s (text generation excluded), {state.passages / build:,.0f} passages/s")
        print(f"  file {store_size / 2**20:.0f} MiB, {store_size / state.passages:.0f} bytes per passage")
        print(f"  peak RSS while building {peak_rss_mib():.0f} MiB")

        rng = np.random.default_rng(seed)
        texts = []
        for i in range(audits):
            host = prose.fast_text(2000).split()
            if i % 2 == 0:
                source = kept[i % len(kept)].split()
                at = int(rng.integers(0, len(source) - 100))
                host[1000:1000] = source[at : at + 100]
            texts.append(" ".join(host[:2000]))
        print(f"\nAudit of one 2,000-word text, warm ({len(texts)} texts, half with a 100-word passage planted)")
        for lookup, count in (("memory", len(texts)), ("duckdb", min(len(texts), 40))):
            with IndexStore.open(path, read_only=True) as store:
                started = time.perf_counter()
                auditor = Auditor(store, AuditOptions(batch_size=1, lookup=lookup))
                load = time.perf_counter() - started
                auditor.audit_text(texts[0])
                times = []
                found = 0
                for t in texts[:count]:
                    t0 = time.perf_counter()
                    found += bool(auditor.audit_text(t))
                    times.append(time.perf_counter() - t0)
            times.sort()
            print(
                f"  --lookup {lookup}: ready in {load:.2f} s; median {statistics.median(times) * 1000:.1f} ms, "
                f"p99 {times[int(0.99 * (len(times) - 1))] * 1000:.1f} ms over {count} texts ({found} found)"
            )
        sample = Path(tmp) / "one.txt"
        sample.write_text(texts[0], encoding="utf-8")
        exe = Path(sys.executable).parent / "provenance"
        for lookup in ("memory", "duckdb"):
            started = time.perf_counter()
            command = [str(exe), "audit", str(sample), "--index", str(path), "--lookup", lookup]
            subprocess.run(command, check=True, capture_output=True)  # noqa: S603
            print(f"  CLI cold start, one audit end to end, --lookup {lookup}: {time.perf_counter() - started:.2f} s")
        print(f"  peak RSS {peak_rss_mib():.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    f = sub.add_parser("fingerprint")
    f.add_argument("--docs", type=int, default=1000)
    f.add_argument("--words", type=int, default=1000)
    f.add_argument("--seed", type=int, default=1)
    i = sub.add_parser("index")
    i.add_argument("--passages", type=int, default=1_000_000)
    i.add_argument("--audits", type=int, default=200)
    i.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.what == "fingerprint":
        fingerprint(args.docs, args.words, args.seed)
    else:
        index(args.passages, args.seed, args.audits)


if __name__ == "__main__":
    main()
