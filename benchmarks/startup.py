"""Start-up of the CLI as users run it: whole processes, medians of repeated runs, ratios to a baseline.

The baseline is ``python -c "import duckdb, typer, rich"`` (what any such CLI loads). Measured:
``provenance --version``, ``works`` and ``sql`` on an index of N works, and ``audit -`` of one short
text on it (with its peak resident memory). The index is built from generated prose (the same
generator as the other benchmarks), N works of 500 words.

    python benchmarks/startup.py --works 6000 --repeat 5
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from corpus import Prose

from indexes import IndexStore
from provenance.ingest import add_sources


def timed(command: list[str], repeat: int, stdin: str | None = None) -> tuple[float, float]:
    """Median wall seconds of ``command`` over ``repeat`` runs, and the largest peak RSS (MiB) of a run.

    The peak is GNU time's (``/usr/bin/time -f %M``): a child forked from this process would count this
    process's memory until it execs.
    """
    seconds, peaks = [], []
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "rss"
        for _ in range(repeat):
            started = time.perf_counter()
            subprocess.run(  # noqa: S603 - our own CLI
                ["/usr/bin/time", "-f", "%M", "-o", str(report), *command],
                input=stdin or "",
                text=True,
                capture_output=True,
                check=True,
            )
            seconds.append(time.perf_counter() - started)
            peaks.append(int(report.read_text().split()[-1]) / 1024)
    return statistics.median(seconds), max(peaks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--works", type=int, default=6000)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="startup-bench-"))
    try:
        generator = Prose(seed=1)
        folder = scratch / "works"
        folder.mkdir()
        texts = [generator.fast_text(500) for _ in range(options.works)]
        for n, text in enumerate(texts):
            (folder / f"w{n:05d}.txt").write_text(text, encoding="utf-8")
        index = scratch / "index.duckdb"
        with IndexStore.open(index) as store:
            add_sources(store, [str(folder)])
        exe = str(Path(sys.executable).with_name("provenance"))
        quote = " ".join(texts[7].split()[100:160])
        base, _ = timed([sys.executable, "-c", "import duckdb, typer, rich"], options.repeat)
        rows = [
            ("provenance --version", [exe, "--version"], None),
            ("provenance works", [exe, "works", "--index", str(index)], None),
            ("provenance sql (count of works)", [exe, "sql", "SELECT count(*) FROM works", "-i", str(index)], None),
            ("provenance audit - (one text)", [exe, "audit", "-", "--index", str(index), "--no-record"], quote),
        ]
        print(f"Index: {options.works} works; medians of {options.repeat} runs")
        print(f"  python -c 'import duckdb, typer, rich'   {base:6.2f} s  (1.00x)")
        for name, command, stdin in rows:
            seconds, peak = timed(command, options.repeat, stdin)
            print(f"  {name:<38} {seconds:6.2f} s  ({seconds / base:.2f}x)  peak RSS {peak:.0f} MiB")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
