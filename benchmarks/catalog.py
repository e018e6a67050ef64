"""Catalog benchmark: works/s and MB/s of `add --catalog` one row at a time against rows side by side.

    python benchmarks/catalog.py                              # 400 files and 120 pages of 2,000 words
    python benchmarks/catalog.py --files 100 --pages 40       # a quicker run

Writes a catalog of local text files of generated prose, and one of web pages served by local
``http.server`` instances (``--hosts`` of them: a fetcher asks one host one request at a time, so
concurrency shows across hosts) that wait ``--delay`` seconds before each answer, as a remote server
would. Each catalog is indexed into a fresh index once per setting: ``jobs`` rows fetched at once, and
``workers`` fingerprinting threads or processes (0: all in the main thread). Ratios are against the
first setting of each catalog. Wall-clock figures on whatever machine runs this; run it on an idle
machine (the load average at the start is printed).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import Prose

from connectors import Fetcher, FilesConnector, WebConnector
from indexes import IndexStore
from provenance.ingest import add_catalog
from provenance.workers import cores

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


@dataclass(frozen=True)
class Setting:
    """One run's concurrency: rows fetched at once, and where documents are fingerprinted."""

    jobs: int
    workers: int
    pool: str = "threads"

    @property
    def label(self) -> str:
        if self.workers == 0:
            return f"jobs {self.jobs}, fingerprints: main thread"
        kind = {"threads": "thread", "processes": "process"}[self.pool] if self.workers == 1 else self.pool
        return f"jobs {self.jobs}, fingerprints: {self.workers} {kind}"


FILE_SETTINGS = (
    Setting(1, 0),
    Setting(8, 0),
    Setting(8, 1),
    Setting(8, 2),
    Setting(8, 1, "processes"),
    Setting(8, 2, "processes"),
)
PAGE_SETTINGS = (Setting(1, 0), Setting(8, 0), Setting(8, 1), Setting(8, 2))


class _Pages(BaseHTTPRequestHandler):
    """Answers every path from ``server.pages`` after ``server.delay`` seconds (404 for the rest)."""

    server: Any

    def do_GET(self) -> None:
        time.sleep(self.server.delay)
        body = self.server.pages.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def servers(count: int, delay: float) -> Iterator[list[Any]]:
    with ExitStack() as stack:
        found = []
        for _ in range(count):
            httpd: Any = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
            httpd.daemon_threads = True
            httpd.pages = {}
            httpd.delay = delay
            threading.Thread(target=httpd.serve_forever, daemon=True).start()
            stack.callback(httpd.server_close)
            stack.callback(httpd.shutdown)
            found.append(httpd)
        yield found


def write_catalog(path: Path, sources: list[str]) -> None:
    lines = [f"{source},Writer {n},Press,CC-BY-4.0,ID-{n}" for n, source in enumerate(sources)]
    path.write_text("source,creator,rights_holder,licence,org_id\n" + "\n".join(lines) + "\n", encoding="utf-8")


def run(catalog: Path, folder: Path, setting: Setting, connectors: list[Any]) -> tuple[float, int, float]:
    """Index the catalog into a fresh index with fresh connectors; returns (seconds, works added, MB of text)."""
    index = folder / f"index-{setting.jobs}-{setting.workers}-{setting.pool}.duckdb"
    started = time.perf_counter()
    with IndexStore.open(index) as store:
        summary = add_catalog(
            store, str(catalog), available=connectors, jobs=setting.jobs, workers=setting.workers, pool=setting.pool
        )
        seconds = time.perf_counter() - started
        megabytes = store.con.execute("SELECT coalesce(sum(strlen(text)), 0) FROM works").fetchall()[0][0] / 1e6
    assert summary.counts["failed"] == 0, summary.failures[:3]
    return seconds, summary.counts["added"], megabytes


def warm_up(folder: Path, files: list[str]) -> None:
    """Load what the first run would otherwise pay for (compiled kernels, parsers), untimed."""
    write_catalog(folder / "warm.csv", files[:2])
    run(folder / "warm.csv", folder, Setting(1, 0, "warm"), [FilesConnector()])


def report(
    title: str, catalog: Path, folder: Path, settings: tuple[Setting, ...], connectors: Callable[[], list[Any]]
) -> None:
    print(title)
    base: float | None = None
    rates: dict[Setting, float] = {}
    for setting in settings:
        seconds, works, megabytes = run(catalog, folder, setting, connectors())
        rate = works / seconds
        base = base or rate
        rates[setting] = rate
        print(
            f"  {setting.label:<42} {seconds:6.2f} s  {rate:7.1f} works/s  {megabytes / seconds:6.2f} MB/s  "
            f"({rate / base:.2f}x)"
        )
    print("  ratios:")
    pairs = [
        ("jobs 8 / jobs 1 (fingerprints in the main thread)", Setting(8, 0), Setting(1, 0)),
        ("jobs 8, 2 fingerprint threads / 1", Setting(8, 2), Setting(8, 1)),
        ("jobs 8, 2 fingerprint processes / 1", Setting(8, 2, "processes"), Setting(8, 1, "processes")),
        ("jobs 8, 2 threads / 2 processes", Setting(8, 2), Setting(8, 2, "processes")),
        ("default (jobs 8, 2 threads) / jobs 1, main thread", Setting(8, 2), Setting(1, 0)),
    ]
    for label, top, bottom in pairs:
        if top in rates and bottom in rates:
            print(f"    {label:<52} {rates[top] / rates[bottom]:.2f}x")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--pages", type=int, default=120)
    parser.add_argument("--words", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=8)
    parser.add_argument("--delay", type=float, default=0.05, help="seconds each page request waits")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    prose = Prose(args.seed)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{cores()} cores, load average {load} at the start\n")
    with tempfile.TemporaryDirectory(prefix="provenance-catalog-") as tmp:
        folder = Path(tmp)
        works = folder / "works"
        works.mkdir()
        texts = [prose.fast_text(args.words) for _ in range(args.files + args.pages)]
        files = []
        for n, text in enumerate(texts[: args.files]):
            path = works / f"work-{n:05d}.txt"
            path.write_text(text, encoding="utf-8")
            files.append(str(path))
        write_catalog(folder / "files.csv", files)
        warm_up(folder, files)
        megabytes = sum(len(t.encode()) for t in texts[: args.files]) / 1e6
        report(
            f"Files: {args.files} rows of {args.words} words, {megabytes:.1f} MB",
            folder / "files.csv",
            folder,
            FILE_SETTINGS,
            lambda: [FilesConnector()],
        )
        if args.pages:
            with servers(args.hosts, args.delay) as hosts:
                urls = []
                for n, text in enumerate(texts[args.files :]):
                    host = hosts[n % len(hosts)]
                    paragraphs = "".join(f"<p>{p}</p>" for p in text.split("\n\n"))
                    page = f"<html><head><title>Page {n}</title></head><body>{paragraphs}</body></html>"
                    host.pages[f"/page-{n}.html"] = page.encode()
                    urls.append(f"http://127.0.0.1:{host.server_address[1]}/page-{n}.html")
                write_catalog(folder / "pages.csv", urls)
                report(
                    f"Pages: {args.pages} rows on {args.hosts} local hosts, {args.delay * 1000:.0f} ms a request",
                    folder / "pages.csv",
                    folder,
                    PAGE_SETTINGS,
                    lambda: [WebConnector(fetcher=Fetcher(allow_private=True, min_interval=0.0))],
                )


if __name__ == "__main__":
    main()
