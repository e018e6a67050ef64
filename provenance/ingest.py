"""Adding works: sources -> connectors -> documents -> one transaction per work in the index."""

from __future__ import annotations

import contextlib
import functools
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from connectors import ConnectorError, Document, connector_for, connectors
from indexes import NewWork
from provenance.catalog import CatalogRow, WorkLabels, catalog_rows, count_rows
from provenance.inputs import InputFailure
from provenance.options import DEFAULT_JOBS
from provenance.workers import DEFAULT_POOL, Fingerprinting, FingerprintPool, Threads, cores

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from contextlib import AbstractContextManager

    from connectors import Connector
    from indexes import IndexStore, Passages

Outcome = Literal["added", "replaced", "unchanged", "failed"]
"""Catalog rows in flight at once: enough to hide the network's latency, few enough to stay polite."""


@dataclass(frozen=True)
class AddEvent:
    """What happened to one item: its outcome, the work id, or why it failed."""

    source: str
    outcome: Outcome
    work_id: int | None = None
    title: str = ""
    reason: str = ""
    warnings: tuple[str, ...] = ()


@dataclass
class AddSummary:
    """Counts per outcome and every failure, for the end-of-run report."""

    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("added", "replaced", "unchanged", "failed"), 0)
    )
    failures: list[AddEvent] = field(default_factory=list)
    rows: int = 0
    """Catalog rows gone through (bad ones too)."""
    seconds: float = 0.0
    """Wall-clock time of the catalog runs."""

    def merge(self, other: AddSummary) -> None:
        """Add another run's counts, failures, rows and time to these."""
        for outcome, n in other.counts.items():
            self.counts[outcome] += n
        self.failures.extend(other.failures)
        self.rows += other.rows
        self.seconds += other.seconds

    def record(self, event: AddEvent) -> None:
        """Count one event."""
        self.counts[event.outcome] += 1
        if event.outcome == "failed":
            self.failures.append(event)


def new_work(doc: Document) -> NewWork:
    """The index's view of a connector's document."""
    creator = doc.metadata.get("creator")
    return NewWork(
        source=doc.source,
        kind=doc.kind,
        title=doc.title,
        text=doc.text,
        content_sha256=doc.content_sha256,
        text_sha256=doc.text_sha256,
        retrieved_at=doc.retrieved_at,
        modified_at=doc.modified_at,
        creator=None if creator is None else str(creator),
        metadata=dict(doc.metadata),
        cues=[(c.char_start, c.char_end, c.start_s, c.end_s) for c in doc.cues],
        consent=doc.consent,
    )


def add_document(store: IndexStore, doc: Document, *, row: CatalogRow | None = None) -> AddEvent:
    """Index one document (in one transaction); a too-short text is a failure naming it.

    ``row``, for a catalog entry, gives the work its creator, rights holder, licence and the
    organization's id.
    """
    unchanged = _unchanged(store, doc)
    if unchanged is not None:
        return unchanged
    fp = store.fingerprinter
    return _write(store, doc, fp.passages(fp.tokenize(doc.text)), row=row)


def _unchanged(store: IndexStore, doc: Document) -> AddEvent | None:
    """The event of a document indexed before with the same content, which needs no fingerprinting."""
    existing = store.work_by_source(doc.source)
    if existing and (existing.content_sha256, existing.text_sha256) == (doc.content_sha256, doc.text_sha256):
        return AddEvent(doc.source, "unchanged", work_id=existing.work_id, title=doc.title, warnings=doc.warnings)
    return None


def _write(store: IndexStore, doc: Document, passages: Passages, *, row: CatalogRow | None) -> AddEvent:
    """Write one fingerprinted document in one transaction; a text shorter than a shingle fails."""
    return _write_many(store, [(doc, passages, row)])[0]


def _write_many(
    store: IndexStore, docs: Sequence[tuple[Document, Passages, CatalogRow | WorkLabels | None]]
) -> list[AddEvent]:
    """Write fingerprinted documents in one transaction; a text shorter than a shingle fails."""
    need = store.params.shingle_words
    events: list[AddEvent | None] = []
    works: list[tuple[NewWork, Passages | None]] = []
    for doc, passages, row in docs:
        if len(passages.tokens) < need:
            reason = f"too short to fingerprint ({len(passages.tokens)} words; at least {need})"
            events.append(AddEvent(doc.source, "failed", reason=reason))
        else:
            events.append(None)
            works.append((new_work(doc) if row is None else row.apply(new_work(doc)), passages))
    written = iter(store.add_works(works) if works else [])
    return [
        event if event is not None else _written(doc, *next(written))
        for (doc, _, _), event in zip(docs, events, strict=True)
    ]


def _written(doc: Document, outcome: Outcome, work_id: int) -> AddEvent:
    return AddEvent(doc.source, outcome, work_id=work_id, title=doc.title, warnings=doc.warnings)


def _known(store: IndexStore, connector: Connector, item: str) -> int | None:
    """The work id of an item already indexed, for connectors that can tell its source without fetching.

    Such connectors (YouTube) fetch over the network at a cost; re-adding a channel then fetches only
    new videos, and an interrupted run resumes where it stopped. Files are always re-read: that is cheap,
    and their content hash tells a change.
    """
    document_source = getattr(connector, "document_source", None)
    if document_source is None:
        return None
    try:
        record = store.work_by_source(str(document_source(item)))
    except ConnectorError:
        return None
    return None if record is None else record.work_id


WRITE_BATCH = 64
"""Most fingerprinted documents written in one transaction (those ready when the writer gets to them)."""
WRITE_SECONDS = 1.0
"""How long documents that come quickly are gathered before they are written together."""


def _add_item(
    store: IndexStore, item: str, available: Sequence[Connector] | None, *, refresh: bool
) -> Iterator[AddEvent | Document]:
    """Fetch one item: its documents to index, or the event of why there are none."""
    try:
        connector = connector_for(item, available)  # a folder may hold items of other kinds
        known = None if refresh else _known(store, connector, item)
        if known is not None:
            yield AddEvent(item, "unchanged", work_id=known, reason="already indexed (use --refresh)")
            return
        yield from connector.fetch(item)
    except ConnectorError as exc:
        yield AddEvent(exc.source, "failed", reason=exc.reason)


class _Writer:
    """Fingerprints documents and writes them a batch at a time, in one transaction.

    A batch is what came within ``WRITE_SECONDS``, or ``WRITE_BATCH`` documents; a document that took
    that long to come (a video, a page) is written at once, as the next may be as slow. Events come out
    in the order documents went in.
    """

    def __init__(self, store: IndexStore, emit: Callable[[AddEvent], None], labels: WorkLabels | None = None) -> None:
        self.store = store
        self.emit = emit
        self.labels = labels
        self.pending: list[Document] = []
        self.since = self.last = time.monotonic()

    def add(self, doc: Document) -> None:
        now = time.monotonic()
        slow, self.last = now - self.last >= WRITE_SECONDS, now
        if not self.pending:
            self.since = now
        self.pending.append(doc)
        if slow or len(self.pending) >= WRITE_BATCH or time.monotonic() - self.since >= WRITE_SECONDS:
            self.flush()

    def event(self, event: AddEvent) -> None:
        """Pass an event on, after the documents that came before it."""
        self.flush()
        self.emit(event)

    def flush(self) -> None:
        """Write the pending documents: one query tells the unchanged ones, one transaction writes the rest."""
        batch, self.pending = self.pending, []
        if not batch:
            return
        known = self.store.known_sources([doc.source for doc in batch])
        fp = self.store.fingerprinter
        events: list[AddEvent | None] = []
        todo: list[tuple[Document, Passages, CatalogRow | WorkLabels | None]] = []
        for doc in batch:
            found = known.get(doc.source)
            if found is not None and found[1:] == (doc.content_sha256, doc.text_sha256):
                if self.labels is not None:  # what the creator says now applies
                    self.store.relabel(found[0], self.labels.given())
                events.append(
                    AddEvent(doc.source, "unchanged", work_id=found[0], title=doc.title, warnings=doc.warnings)
                )
            else:
                events.append(None)
                todo.append((doc, fp.passages(fp.tokenize(doc.text)), self.labels))
        written = iter(_write_many(self.store, todo) if todo else [])
        for event in events:
            self.emit(event if event is not None else next(written))


def add_catalog(
    store: IndexStore,
    catalog: str,
    on_event: Callable[[AddEvent], None] | None = None,
    *,
    available: Sequence[Connector] | None = None,
    refresh: bool = False,
    jobs: int = DEFAULT_JOBS,
    workers: int | None = None,
    pool: FingerprintPool = DEFAULT_POOL,
    on_progress: Callable[[CatalogProgress], None] | None = None,
) -> AddSummary:
    """Index every row of a catalog; bad rows and failing sources are reported by line.

    A catalog is CSV or JSON Lines naming sources with creator, rights holder, licence or consent and
    the organization's id; every work of a row carries them. Rows already indexed from a network
    connector are skipped unless ``refresh``, so an interrupted catalog run resumes; files are re-read
    and replaced only if changed. The failures of the run replace the catalog's rows in the index's
    ``catalog_failures`` table, in catalog order.

    At most ``jobs`` rows are in flight at once: their sources are expanded and fetched by ``jobs``
    threads (each web host still gets one request at a time, spaced by its fetcher), and documents are
    fingerprinted by ``workers`` threads or processes (``pool``; ``None``: one per core, ``0``: this
    thread). This thread alone writes, one transaction per work. Rows are read from the catalog as they
    are needed and a bounded number of documents wait at any time, however long the catalog. Events
    arrive in the order work finishes; the summary and the failures table do not depend on it.
    ``on_progress`` hears the rows done, of about how many, at the start and after each row.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    run = _CatalogRun(
        store,
        catalog,
        on_event,
        available=available,
        refresh=refresh,
        jobs=jobs,
        workers=cores() if workers is None else workers,
        pool=pool,
        on_progress=on_progress,
    )
    return run.run()


@dataclass(frozen=True)
class CatalogProgress:
    """How far a catalog run is: rows finished (bad ones too), of about how many (None: not known)."""

    rows_done: int
    rows_total: int | None


@dataclass(eq=False)
class _Row:
    """A catalog row in flight: its connector, its items once expanded, and how many of its tasks are out."""

    order: int
    row: CatalogRow
    connector: Connector
    lock: AbstractContextManager[object]
    items: Iterator[tuple[int, str]] | None = None
    out: int = 0
    listed: bool = False
    done: bool = False


_Key = tuple[int, int, int]
"""Where a failure sits in the catalog: (entry, item of the entry, document of the item)."""


class _CatalogRun:
    """One catalog run: reads rows, hands fetching and fingerprinting to pools, writes what comes back.

    Every method runs in the calling (main) thread except ``_expand`` and ``_fetch``, which run in the
    fetch threads and touch nothing but their row's connector; the replies they return run here.
    """

    def __init__(
        self,
        store: IndexStore,
        catalog: str,
        on_event: Callable[[AddEvent], None] | None,
        *,
        available: Sequence[Connector] | None,
        refresh: bool,
        jobs: int,
        workers: int,
        pool: FingerprintPool,
        on_progress: Callable[[CatalogProgress], None] | None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.on_event = on_event
        self.available = (
            available if available is not None else connectors()
        )  # built once: a fetcher's TLS setup is slow
        self.refresh = refresh
        self.jobs = jobs
        self.replies: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.fetchers = Threads(jobs, self.replies, name="provenance-fetch", backlog=jobs)
        self.fingerprinting = Fingerprinting(store.fingerprinter, self.replies, workers=workers, pool=pool)
        self.on_progress = on_progress
        self.entries = enumerate(catalog_rows(catalog))
        self.entries_left = True
        self.active = 0  # rows started and not done
        self.ready: deque[_Row] = deque()  # rows expanded with items left to fetch, oldest first
        self.fetching = 0  # expand and fetch tasks out
        self.waiting = 0  # documents out for fingerprinting
        self.pending: list[tuple[_Row, _Key, Document, Passages]] = []  # fingerprinted, to write together
        self.pending_since = 0.0
        self.locks: dict[int, threading.Lock] = {}
        self.summary = AddSummary()
        self.failures: list[tuple[_Key, AddEvent, tuple[str, str, str]]] = []
        self.rows_total = count_rows(catalog) if on_progress is not None else None
        self.rows_done = 0

    def run(self) -> AddSummary:
        """Go through the catalog; on any error or Ctrl-C, drop what is queued and stop the pools at once."""
        started = time.monotonic()
        self._progress()
        finished = False
        try:
            while True:
                self._fill()
                more = self.fetching or self.waiting
                waited = time.monotonic() - self.pending_since
                if self.pending and (len(self.pending) >= WRITE_BATCH or not more or waited >= WRITE_SECONDS):
                    self._flush()  # in one transaction: a commit costs more than a work
                    continue
                if not more:
                    break
                try:  # with documents to write, wait for more only until they have waited WRITE_SECONDS
                    reply = self.replies.get(timeout=max(0.0, WRITE_SECONDS - waited) if self.pending else None)
                except queue.Empty:
                    continue
                reply()
            finished = True
        finally:
            self.fetchers.close()
            self.fingerprinting.close(wait=finished)
        self.failures.sort(key=lambda failure: failure[0])
        self.summary.failures.extend(event for _, event, _ in self.failures)
        self.summary.rows += self.rows_done
        self.summary.seconds += time.monotonic() - started
        self.store.record_catalog_failures(str(Path(self.catalog).resolve()), [f[2] for f in self.failures])
        if self.summary.counts["added"] or self.summary.counts["replaced"]:
            self.store.refresh_common()
        return self.summary

    def _fill(self) -> None:
        """Start work while there is room: items of rows already expanded first, then new rows."""
        while self.fetching < self.jobs and self.waiting < self.fingerprinting.capacity:
            if self.ready:
                self._next_item(self.ready[0])
            elif self.active < self.jobs and self.entries_left:
                self._next_row()
            else:
                return

    def _next_row(self) -> None:
        found = next(self.entries, None)
        if found is None:
            self.entries_left = False
            return
        order, entry = found
        if isinstance(entry, InputFailure):
            event = AddEvent(entry.source, "failed", reason=entry.reason)
            self._emit(event, (order, 0, 0), (entry.source, "", entry.reason))
            self._row_done()
            return
        try:
            connector = connector_for(entry.source, self.available)
        except ConnectorError as exc:
            self._fail(entry, (order, -1, 0), exc)
            self._row_done()
            return
        lock: AbstractContextManager[object] = contextlib.nullcontext()
        if not getattr(connector, "thread_safe", False):  # one call at a time to a connector not made for threads
            lock = self.locks.setdefault(id(connector), threading.Lock())
        run = _Row(order, entry, connector, lock, out=1)
        self.active += 1
        self.fetching += 1
        self.fetchers.submit(functools.partial(self._expand, run))

    def _expand(self, run: _Row) -> Callable[[], None]:
        """In a fetch thread: the items of a row's source."""
        try:
            with run.lock:
                items = list(run.connector.expand(run.row.source))
        except ConnectorError as exc:
            return functools.partial(self._expanded, run, [], exc)
        return functools.partial(self._expanded, run, items, None)

    def _expanded(self, run: _Row, items: list[str], error: ConnectorError | None) -> None:
        self.fetching -= 1
        run.out -= 1
        if error is not None:
            self._fail(run.row, (run.order, -1, 0), error)
            run.listed = True
            self._check_done(run)
            return
        run.items = enumerate(items)
        self.ready.append(run)

    def _next_item(self, run: _Row) -> None:
        assert run.items is not None  # noqa: S101 - only expanded rows are ready
        found = next(run.items, None)
        if found is None:
            self.ready.popleft()
            run.listed = True
            self._check_done(run)
            return
        index, item = found
        known = None if self.refresh else _known(self.store, run.connector, item)
        if known is not None:
            self._emit(AddEvent(item, "unchanged", work_id=known, reason="already indexed"))
            return
        run.out += 1
        self.fetching += 1
        self.fetchers.submit(functools.partial(self._fetch, run, index, item))

    def _fetch(self, run: _Row, index: int, item: str) -> Callable[[], None]:
        """In a fetch thread: the documents of one item (those read before a failure, and the failure)."""
        docs: list[Document] = []
        try:
            with run.lock:
                docs.extend(run.connector.fetch(item))
        except ConnectorError as exc:
            return functools.partial(self._fetched, run, index, docs, exc)
        return functools.partial(self._fetched, run, index, docs, None)

    def _fetched(self, run: _Row, index: int, docs: list[Document], error: ConnectorError | None) -> None:
        self.fetching -= 1
        run.out -= 1
        for n, doc in enumerate(docs):
            unchanged = _unchanged(self.store, doc)
            if unchanged is not None:
                self._emit(unchanged)
                continue
            run.out += 1
            self.waiting += 1
            self.fingerprinting.submit(
                doc.text, functools.partial(self._fingerprinted, run, (run.order, index, n), doc)
            )
        if error is not None:
            self._fail(run.row, (run.order, index, len(docs)), error)
        self._check_done(run)

    def _fingerprinted(self, run: _Row, key: _Key, doc: Document, passages: Passages) -> None:
        self.waiting -= 1
        if not self.pending:
            self.pending_since = time.monotonic()
        self.pending.append((run, key, doc, passages))

    def _flush(self) -> None:
        """Write the fingerprinted documents waiting, in one transaction."""
        batch, self.pending = sorted(self.pending, key=lambda p: p[1]), []  # in catalog order: ids follow it
        events = _write_many(self.store, [(doc, passages, run.row) for run, _, doc, passages in batch])
        for (run, key, _, _), event in zip(batch, events, strict=True):
            run.out -= 1
            self._emit(event, key, (f"{self.catalog}:{run.row.line}", run.row.source, event.reason))
            self._check_done(run)

    def _fail(self, row: CatalogRow, key: _Key, exc: ConnectorError) -> None:
        event = AddEvent(f"{exc.source} (catalog line {row.line}, {row.org_id})", "failed", reason=exc.reason)
        self._emit(event, key, (f"{self.catalog}:{row.line}", row.source, exc.reason))

    def _emit(self, event: AddEvent, key: _Key = (0, 0, 0), location: tuple[str, str, str] = ("", "", "")) -> None:
        """Count an event and tell the caller; a failure is kept with where it sits in the catalog."""
        self.summary.counts[event.outcome] += 1
        if event.outcome == "failed":
            self.failures.append((key, event, location))
        if self.on_event is not None:
            self.on_event(event)

    def _check_done(self, run: _Row) -> None:
        if run.listed and run.out == 0 and not run.done:
            run.done = True
            self.active -= 1
            self._row_done()

    def _row_done(self) -> None:
        self.rows_done += 1
        self._progress()

    def _progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(CatalogProgress(self.rows_done, self.rows_total))


def add_sources(
    store: IndexStore,
    sources: Iterable[str],
    on_event: Callable[[AddEvent], None] | None = None,
    *,
    available: Sequence[Connector] | None = None,
    refresh: bool = False,
    on_listing: Callable[[str, int], None] | None = None,
    labels: WorkLabels | None = None,
) -> AddSummary:
    """Index every item of every source; a failing item is reported and the others carry on.

    ``available`` are the connectors to route through (default: the registry's, default options).
    Items already indexed from a network connector are skipped unless ``refresh``; ``on_listing``
    hears how many items each source stands for, before they are fetched. ``labels`` (creator,
    rights holder, title, licence) are set on every work added, and on unchanged ones.
    """
    summary = AddSummary()
    available = available if available is not None else connectors()  # built once: their TLS set-up is slow

    def emit(event: AddEvent) -> None:
        summary.record(event)
        if on_event is not None:
            on_event(event)

    for source in sources:
        try:
            items = list(connector_for(source, available).expand(source))
        except ConnectorError as exc:
            emit(AddEvent(exc.source, "failed", reason=exc.reason))
            continue
        if on_listing is not None:
            on_listing(source, len(items))
        writer = _Writer(store, emit, labels)
        for item in items:
            for got in _add_item(store, item, available, refresh=refresh):
                if isinstance(got, AddEvent):
                    writer.event(got)
                else:
                    writer.add(got)
        writer.flush()
    if summary.counts["added"] or summary.counts["replaced"]:
        store.refresh_common()
    return summary
