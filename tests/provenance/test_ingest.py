"""Catalogs added concurrently: rows fetched side by side within bounds, the index as one at a time makes it."""

import contextlib
import threading
import time

import numpy as np
import pytest
from localhttp import Gauge, Route, serve

from connectors import Document, Fetcher, FilesConnector, WebConnector, sha256_hex
from indexes import IndexStore
from provenance.ingest import WRITE_BATCH, add_catalog

HOSTS = 3
PAGES = 18
HEADER = "source,creator,rights_holder,licence,org_id\n"


def words(seed, n):
    rng = np.random.default_rng(seed)
    return " ".join(f"w{w}" for w in rng.integers(0, 20000, size=n))


def html(seed, n=400):
    text = words(seed, n)
    body = f"<html><head><title>Page {seed}</title></head><body><article><p>{text}</p></article></body></html>"
    return Route(body=body.encode(), delay=0.1)


def connectors():
    return [WebConnector(fetcher=Fetcher(allow_private=True, min_interval=0.0)), FilesConnector()]


@contextlib.contextmanager
def sites(tmp_path):
    """Pages on three local hosts, files beside them, and a catalog naming them, good rows and bad."""
    shared = Gauge()
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(serve(gauge=shared)) for _ in range(HOSTS)]
        rows = []
        for i in range(PAGES):
            server = servers[i % HOSTS]
            server.routes[f"/p{i}.html"] = html(i)
            rows.append(f"{server.base}/p{i}.html,Writer {i},Press,CC-BY-4.0,W-{i}")
        for server in servers[:2]:
            server.routes["/short.html"] = Route(body=b"<html><body><p>two words</p></body></html>")
        rows.insert(3, f"{servers[0].base}/gone.html,Gone,Press,CC-BY-4.0,G-1")  # 404
        rows.insert(7, f"{servers[1].base}/short.html,Short,Press,CC-BY-4.0,S-1")  # too short to fingerprint
        rows.insert(9, f"{servers[0].base}/short.html,Short,Press,CC-BY-4.0,S-2")  # the same, on another host
        rows.insert(11, "missing.txt,Nobody,Press,CC-BY-4.0,M-1")  # a bad row
        for i in range(4):
            (tmp_path / f"f{i}.txt").write_text(words(100 + i, 600), encoding="utf-8")
            rows.append(f"f{i}.txt,Filer {i},Press,,F-{i}")
        catalog = tmp_path / "catalog.csv"
        catalog.write_text(HEADER.replace("\n", ",consent\n") + "\n".join(f"{r},granted" for r in rows) + "\n")
        yield catalog, servers, shared


def snapshot(index, names=None):
    """Everything a run indexed, by source (work ids depend on the order works finish).

    ``names`` replace strings (a folder, a server's address) in every value, so runs in different places compare.
    """
    with IndexStore.open(index, read_only=True) as store:
        con = store.con
        found = {
            "works": con.execute(
                "SELECT source, content_sha256, text_sha256, n_tokens, n_passages, creator, metadata "
                "FROM works ORDER BY source"
            ).fetchall(),
            "passages": con.execute(
                "SELECT w.source, p.ordinal, p.token_start, p.token_end, p.char_start, p.char_end "
                "FROM passages p JOIN works w USING (work_id) ORDER BY ALL"
            ).fetchall(),
            "bands": con.execute(
                "SELECT w.source, p.ordinal, b.key FROM bands b JOIN passages p USING (passage_id) "
                "JOIN works w USING (work_id) ORDER BY ALL"
            ).fetchall(),
            "anchors": con.execute(
                "SELECT w.source, a.key, a.token_pos FROM anchors a JOIN works w USING (work_id) ORDER BY ALL"
            ).fetchall(),
            "failures": con.execute(
                "SELECT location, source, reason FROM catalog_failures ORDER BY location, source, reason"
            ).fetchall(),
        }
    return {table: sorted(renamed(row, names or {}) for row in rows) for table, rows in found.items()}


def renamed(value, names):
    if isinstance(value, tuple):
        return tuple(renamed(v, names) for v in value)
    if isinstance(value, str):
        for old, new in names.items():
            value = value.replace(old, new)
    return value


def run(tmp_path, name, **options):
    with sites(tmp_path) as (catalog, servers, shared):
        index = tmp_path / f"{name}.duckdb"
        with IndexStore.open(index) as store:
            summary = add_catalog(store, str(catalog), available=connectors(), **options)
        names = {str(tmp_path): "DIR", **{s.base.removeprefix("http://"): f"host{n}" for n, s in enumerate(servers)}}
        failures = [renamed((e.source, e.reason), names) for e in summary.failures]
        return summary, failures, snapshot(index, names), shared.peak, [s.gauge.peak for s in servers]


@pytest.fixture(scope="module")
def one_at_a_time(tmp_path_factory):
    return run(tmp_path_factory.mktemp("sequential"), "sequential", jobs=1, workers=0)


@pytest.mark.parametrize(
    ("jobs", "workers", "pool"),
    [(4, 2, "threads"), (3, 1, "processes"), (8, 2, "threads")],
)
def test_rows_fetched_side_by_side_index_what_one_at_a_time_does(tmp_path, one_at_a_time, jobs, workers, pool):
    summary, failures, indexed, peak, host_peaks = run(tmp_path, "concurrent", jobs=jobs, workers=workers, pool=pool)
    expected_summary, expected_failures, expected, sequential_peak, _ = one_at_a_time
    assert sequential_peak == 1
    assert 1 < peak <= min(jobs, HOSTS)  # rows fetched at once, never more than jobs
    assert host_peaks == [1] * HOSTS  # each host still gets one request at a time
    assert indexed == expected  # same works, passages, band keys, anchors and recorded failures
    assert len(indexed["works"]) == PAGES + 4
    assert summary.counts == expected_summary.counts == {"added": PAGES + 4, "replaced": 0, "unchanged": 0, "failed": 4}
    assert failures == expected_failures  # in catalog order, whatever order they happened in
    assert summary.rows == expected_summary.rows == PAGES + 8


def test_failures_are_recorded_in_catalog_order_and_the_run_goes_on(one_at_a_time):
    summary, _, indexed, _, _ = one_at_a_time
    reasons = [e.reason for e in summary.failures]
    assert reasons[0] == "HTTP 404: not found"
    assert reasons[1] == reasons[2] == "too short to fingerprint (2 words; at least 5)"
    assert reasons[3].endswith("is not a URL, a YouTube video id or an existing file")
    lines = sorted(int(location.rsplit(":", 1)[1]) for location, _, _ in indexed["failures"])
    assert lines == [5, 9, 11, 13]


def test_a_rerun_fetches_again_and_changes_nothing(tmp_path):
    with sites(tmp_path) as (catalog, servers, _):
        index = tmp_path / "index.duckdb"
        with IndexStore.open(index) as store:
            add_catalog(store, str(catalog), available=connectors(), jobs=4, workers=2)
        before = snapshot(index)
        with IndexStore.open(index) as store:
            again = add_catalog(store, str(catalog), available=connectors(), jobs=4, workers=2)
    assert again.counts == {"added": 0, "replaced": 0, "unchanged": PAGES + 4, "failed": 4}
    assert snapshot(index) == before
    assert servers[0].requests.count("/p0.html") == 2  # once a run: the page read to expand it is kept


class Generated:
    """A connector of generated texts at ``https://generated.invalid/N`` that watches how it is called.

    A row stands for ``per_row`` items (``.../N#0``, ...). The first ``barrier`` fetches wait for each
    other, so a run that never has that many going at once fails; ``peak`` is the most fetches running
    at once, ``held`` the most documents fetched and not yet written (``written_one`` hears the writes).
    """

    name = "generated"

    def __init__(self, *, barrier: int, thread_safe: bool = True, per_row: int = 1) -> None:
        self.thread_safe = thread_safe
        self.per_row = per_row
        self.barrier = threading.Barrier(barrier, timeout=30) if barrier > 1 else None
        self.lock = threading.Lock()
        self.running = self.peak = self.fetched = self.written = self.held = 0

    def can_handle(self, source):
        return source.startswith("https://generated.invalid/")

    def expand(self, source):
        return iter([f"{source}#{j}" for j in range(self.per_row)])

    def fetch(self, source):
        with self.lock:
            self.running += 1
            self.fetched += 1
            self.peak = max(self.peak, self.running)
            first = self.fetched <= (self.barrier.parties if self.barrier else 0)
            self.held = max(self.held, self.fetched - self.written)
        try:
            if first and self.barrier is not None:
                self.barrier.wait()
        finally:
            with self.lock:
                self.running -= 1
        n, j = map(int, source.rsplit("/", 1)[1].split("#"))
        text = words(1000 + 100 * n + j, 300)
        yield Document(text=text, source=source, kind="generated", content_sha256=sha256_hex(text.encode()))

    def written_one(self, _event):
        with self.lock:
            self.written += 1


def generated_catalog(tmp_path, rows):
    catalog = tmp_path / "catalog.csv"
    lines = [f"https://generated.invalid/{i},W,P,CC,{i}" for i in range(rows)]
    catalog.write_text(HEADER + "\n".join(lines) + "\n")
    return catalog


@pytest.mark.parametrize("per_row", [1, 4])
def test_fetches_in_flight_and_documents_held_are_bounded(store, tmp_path, per_row):
    jobs, workers = 3, 1
    generated = Generated(barrier=jobs, per_row=per_row)
    progress = []

    def slow_writer(event):  # the index falls behind the fetches: what is fetched must wait, boundedly
        generated.written_one(event)
        time.sleep(0.005)

    summary = add_catalog(
        store,
        str(generated_catalog(tmp_path, 60)),
        slow_writer,
        available=[generated],
        jobs=jobs,
        workers=workers,
        on_progress=progress.append,
    )
    assert summary.counts["added"] == 60 * per_row
    assert generated.peak == jobs  # the barrier needed jobs at once; no more ever ran
    # being fetched, waiting for fingerprints, or waiting to be written together; never the catalog
    assert generated.held <= jobs + 2 * workers + WRITE_BATCH
    assert [p.rows_done for p in progress] == list(range(61))
    assert {p.rows_total for p in progress} == {60}


def test_documents_ready_together_are_written_in_one_transaction(store, tmp_path, monkeypatch):
    generated = Generated(barrier=1)
    batches = []
    add_works = store.add_works

    def counted(works):
        batches.append(len(works))
        return add_works(works)

    monkeypatch.setattr(store, "add_works", counted)
    summary = add_catalog(
        store,
        str(generated_catalog(tmp_path, 60)),
        lambda _event: time.sleep(0.005),  # a slow writer: fingerprinted documents pile up meanwhile
        available=[generated],
        jobs=4,
        workers=1,
    )
    assert summary.counts["added"] == 60
    assert sum(batches) == 60
    assert max(batches) > 1
    assert store.state().works == 60


def test_a_connector_not_made_for_threads_is_called_once_at_a_time(store, tmp_path):
    generated = Generated(barrier=1, thread_safe=False)
    summary = add_catalog(store, str(generated_catalog(tmp_path, 12)), available=[generated], jobs=4, workers=0)
    assert summary.counts["added"] == 12
    assert generated.peak == 1


class Failing(Generated):
    """Raises a bug (not a connector error) on one row."""

    def fetch(self, source):
        if source.endswith("/5#0"):
            raise RuntimeError("a bug in a connector")
        yield from super().fetch(source)


def test_a_bug_in_a_connector_stops_the_run_and_what_was_written_stays(store, tmp_path):
    failing = Failing(barrier=1)
    with pytest.raises(RuntimeError, match="a bug in a connector"):
        add_catalog(store, str(generated_catalog(tmp_path, 40)), available=[failing], jobs=2, workers=1)
    assert 0 < len(store.works()) < 40


def test_ctrl_c_in_the_main_thread_stops_the_run_and_a_rerun_completes(store, tmp_path):
    catalog = str(generated_catalog(tmp_path, 60))
    seen = []

    def interrupt(event):
        seen.append(event)
        if len(seen) == 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        add_catalog(store, catalog, interrupt, available=[Generated(barrier=1)], jobs=4, workers=2)
    kept = len(store.works())  # the ten reported, and the others written in the same transaction
    assert 10 <= kept < 60
    summary = add_catalog(store, catalog, available=[Generated(barrier=1)], jobs=4, workers=2)
    assert summary.counts == {"added": 60 - kept, "replaced": 0, "unchanged": kept, "failed": 0}
    assert len(store.works()) == 60
