"""`provenance add` of a folder of real documents, whole process, against datasketch signatures alone.

The documents are Debian's own documentation on this machine (``/usr/share/doc``: READMEs, changelogs,
copyright files, decompressed from ``.gz``), copied as plain text files into a scratch folder. The
same texts are then fingerprinted by datasketch (``MinHash.bulk``, one signature per document over
its 5-word shingles, what a datasketch-based indexer would do at the least), in this process, and
indexed by ``provenance add FOLDER`` run as a user runs it (a new process, imports and all), and by
``provenance add --catalog`` over the same files. Ratios are quoted against datasketch in the same run.

    python benchmarks/ingest.py --docs 6000
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DOCS = Path("/usr/share/doc")


def collect(target: Path, limit: int) -> tuple[int, int]:
    """Up to ``limit`` text documents from /usr/share/doc into ``target``; how many and their bytes."""
    target.mkdir(parents=True, exist_ok=True)
    count = size = 0
    for path in sorted(DOCS.rglob("*")):
        if count >= limit:
            break
        if not path.is_file() or path.is_symlink():
            continue
        try:
            data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            text = data.decode("utf-8")
        except (OSError, UnicodeDecodeError, gzip.BadGzipFile, EOFError):
            continue
        if len(text.split()) < 50 or "\x00" in text:
            continue
        (target / f"doc-{count:05d}.txt").write_text(text, encoding="utf-8")
        count += 1
        size += len(text.encode("utf-8"))
    return count, size


def datasketch_seconds(folder: Path) -> float:
    """Seconds datasketch takes to sign every document (5-word shingles, 128 permutations)."""
    from datasketch import MinHash  # noqa: PLC0415 - the reference, only here

    texts = [p.read_text(encoding="utf-8") for p in sorted(folder.iterdir())]
    started = time.perf_counter()
    shingle_sets = []
    for text in texts:
        words = text.lower().split()
        shingle_sets.append([" ".join(words[i : i + 5]).encode("utf-8") for i in range(max(1, len(words) - 4))])
    MinHash.bulk(shingle_sets, num_perm=128)
    return time.perf_counter() - started


def provenance_seconds(args: list[str], cwd: Path) -> float:
    """Wall seconds of one ``provenance`` process."""
    exe = Path(sys.executable).with_name("provenance")
    started = time.perf_counter()
    subprocess.run([str(exe), *args], cwd=cwd, check=True, capture_output=True)  # noqa: S603 - our own CLI
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=6000)
    options = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    try:
        folder = scratch / "docs"
        count, size = collect(folder, options.docs)
        mb = size / 1e6
        print(f"Corpus: {count} documents of Debian documentation from {DOCS}, {mb:.1f} MB of text")
        reference = datasketch_seconds(folder)
        print(f"  datasketch MinHash.bulk signatures alone      {reference:7.1f} s  {mb / reference:6.2f} MB/s (1.00x)")
        index = scratch / "index.duckdb"
        seconds = provenance_seconds(["add", str(folder), "--index", str(index)], scratch)
        print(
            f"  provenance add FOLDER (whole process)         {seconds:7.1f} s  {mb / seconds:6.2f} MB/s "
            f"({reference / seconds:.2f}x)"
        )
        again = provenance_seconds(["add", str(folder), "--index", str(index)], scratch)
        print(f"  provenance add FOLDER again (all unchanged)   {again:7.1f} s")
        catalog = scratch / "catalog.csv"
        rows = [f"{p},Debian,Debian,GPL,{p.stem}" for p in sorted(folder.iterdir())]
        catalog.write_text("source,creator,rights_holder,licence,org_id\n" + "\n".join(rows) + "\n", encoding="utf-8")
        index2 = scratch / "catalog.duckdb"
        cat = provenance_seconds(["add", "--catalog", str(catalog), "--index", str(index2)], scratch)
        print(
            f"  provenance add --catalog (whole process)      {cat:7.1f} s  {count / cat:6.0f} works/s, "
            f"{mb / cat:.2f} MB/s ({reference / cat:.2f}x)"
        )
        print(f"  ({os.cpu_count()} cores)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
