"""Report benchmark: size and render time of the HTML report of a large run (a dataset scan's worth of matches).

    python benchmarks/report.py                                  # 5,000 matches over 200 works of 20 holders
    python benchmarks/report.py --matches 20000 --works 1000 --holders 50 -o /tmp/big.html

The run is synthetic (built in memory, no index): each match has ~80-word excerpts with a few edits,
so the side-by-side views are as long as real ones. Matches spread over the works Zipf-like (a few works
are matched hundreds of times, most a few times), as in a real scan. Prints the size and the time of
the grouped HTML report, the per-holder HTML report, the CSV and the JSON; figures are wall-clock on
whatever machine runs this.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from provenance.holders import Grouping, group_matches
from provenance.match import Match
from provenance.report import FULL_PER_WORK, FULL_TOTAL, render
from provenance.runs import AuditRun, IndexSnapshot, InputRecord, WorkSnapshot

VOCABULARY = (
    "the of and to in a is that for it as was with be by on not he this are or his from at which but have an "
    "they you were her she there been one all we their has would when if so no will more out up into do any "
    "your what some can only other time could may then them these about over such our like its new years "
    "river harbour ledger keeper winter honey orchard lantern meadow signal quarry ferry bakery violin"
)
WORDS = VOCABULARY.split()


def prose(rng: random.Random, words: int) -> str:
    out = [rng.choice(WORDS) for _ in range(words)]
    return " ".join(out).capitalize() + "."


def edited(rng: random.Random, text: str) -> str:
    words = text.split()
    for _ in range(rng.randint(0, 4)):
        i = rng.randrange(len(words))
        words[i] = rng.choice(WORDS)
    return " ".join(words)


def synthetic_run(matches: int, works: int, holders: int, seed: int = 7) -> AuditRun:
    rng = random.Random(seed)
    when = datetime(2026, 11, 29, 0, 31, 43, tzinfo=timezone.utc)
    snapshots = tuple(
        WorkSnapshot(
            work_id=w,
            source=f"https://example.org/works/{w}",
            title=f"Work {w}: " + prose(rng, 6),
            creator=f"Creator {w % 37}",
            kind="html",
            content_sha256=f"{w:064x}",
            text_sha256=f"{w:064x}",
            retrieved_at=when,
            consent_status=rng.choice(["reserved", "not_reserved", "unknown", None]),
            consent_summary="robots.txt disallows GPTBot",
            rights_holder=None if w % holders == 0 else f"Holder {w % holders:02d}",
            org_id=f"ORG-{w:05d}",
            licence=rng.choice(["all rights reserved", "CC BY-NC 4.0", None]),
            consent_declared=rng.choice(["reserved", "granted", None]),
            consent_declared_source=f"catalog works.csv:{w + 1}",
        )
        for w in range(1, works + 1)
    )
    weights = [1 / (rank**0.9) for rank in range(1, works + 1)]
    rng.shuffle(weights)
    chosen = rng.choices(range(1, works + 1), weights=weights, k=matches - works) + list(range(1, works + 1))
    rng.shuffle(chosen)
    found = []
    for n, work_id in enumerate(chosen):
        work_excerpt = prose(rng, rng.randint(40, 110))
        scanned_excerpt = edited(rng, work_excerpt)
        words = len(work_excerpt.split())
        start = rng.randrange(0, 50_000)
        found.append(
            Match(
                work_id=work_id,
                source=f"https://example.org/works/{work_id}",
                title=snapshots[work_id - 1].title,
                kind="html",
                scanned=f"/data/shard-{n // 500:03d}.parquet#{n}",
                record_id=str(n),
                score=round(rng.uniform(0.6, 1.0), 4),
                estimated_similarity=round(rng.uniform(0.5, 1.0), 4),
                containment=round(rng.uniform(0.5, 1.0), 4),
                verbatim_words=rng.randint(10, words),
                matched_words=words,
                evidence_words=words,
                scanned_span=(start, start + len(scanned_excerpt)),
                work_span=(start, start + len(work_excerpt)),
                scanned_excerpt=scanned_excerpt,
                work_excerpt=work_excerpt,
            )
        )
    inputs = tuple(
        InputRecord(ordinal=i, scanned=m.scanned, kind="record", sha256=f"{i:064x}", record_id=m.record_id, matches=1)
        for i, m in enumerate(found)
    )
    return AuditRun(
        audit_id="20261129T003143Z-bench0",
        started_at=when,
        finished_at=when + timedelta(minutes=12),
        tool_version="bench",
        index=IndexSnapshot("/data/index.duckdb", works, works * 60, "0" * 64, 1, works),
        parameters={"audit": {"min_words": 20, "min_score": 0.5}, "index": {"seed": 1}},
        versions={},
        arguments=("/data",),
        inputs=inputs,
        works=snapshots,
        matches=tuple(found),
        manifest={"digest": "sha256:" + "ab" * 32},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--matches", type=int, default=5000)
    parser.add_argument("--works", type=int, default=200)
    parser.add_argument("--holders", type=int, default=20)
    parser.add_argument("-o", "--output", type=Path, help="also write the grouped HTML report here")
    args = parser.parse_args()
    run = synthetic_run(args.matches, args.works, args.holders)
    sizes = sorted((len(wg.matches) for g in group_matches(run) for wg in g.works), reverse=True)
    print(
        f"{len(run.matches)} matches over {len(run.works)} works; matches per work: most {sizes[0]}, "
        f"median {sizes[len(sizes) // 2]}, least {sizes[-1]} (bounds: {FULL_PER_WORK} per work, {FULL_TOTAL} in all)"
    )
    for label, fmt, by in (
        ("HTML report", "html", None),
        ("HTML by rights holder", "html", Grouping.rights_holder),
        ("CSV report", "csv", None),
        ("JSON report", "json", None),
    ):
        t0 = time.perf_counter()
        text = render(run, fmt, by=by)  # type: ignore[arg-type]
        seconds = time.perf_counter() - t0
        size = len(text.encode())
        extra = ""
        if fmt == "html" and by is None:
            full = text.count('<article class="match"')
            extra = f"; {full} side by side, {len(run.matches) - full} as table rows"
            if args.output:
                args.output.write_text(text, encoding="utf-8")
        print(f"  {label:<22} {size / 1e6:7.2f} MB  {seconds:6.2f} s{extra}")


if __name__ == "__main__":
    main()
