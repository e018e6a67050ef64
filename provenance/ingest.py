"""Adding works: sources -> connectors -> documents -> one transaction per work in the index."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from connectors import ConnectorError, Document, connector_for
from indexes import NewWork
from provenance.catalog import CatalogRow, catalog_rows
from provenance.inputs import InputFailure

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from connectors import Connector
    from indexes import IndexStore

Outcome = Literal["added", "replaced", "unchanged", "failed"]


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

    def merge(self, other: AddSummary) -> None:
        """Add another run's counts and failures to these."""
        for outcome, n in other.counts.items():
            self.counts[outcome] += n
        self.failures.extend(other.failures)

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
    existing = store.work_by_source(doc.source)
    if existing and (existing.content_sha256, existing.text_sha256) == (
        doc.content_sha256,
        doc.text_sha256,
    ):
        return AddEvent(
            doc.source,
            "unchanged",
            work_id=existing.work_id,
            title=doc.title,
            warnings=doc.warnings,
        )
    fp = store.fingerprinter
    passages = fp.passages(fp.tokenize(doc.text))
    need = store.params.shingle_words
    if len(passages.tokens) < need:
        words = len(passages.tokens)
        return AddEvent(
            doc.source,
            "failed",
            reason=f"too short to fingerprint ({words} words; at least {need})",
        )
    work = new_work(doc) if row is None else row.apply(new_work(doc))
    outcome, work_id = store.add_work(work, passages)
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


def _add_item(
    store: IndexStore, item: str, available: Sequence[Connector] | None, *, refresh: bool
) -> Iterator[AddEvent]:
    """Fetch and index one item; failures become events."""
    try:
        connector = connector_for(item, available)  # a folder may hold items of other kinds
        known = None if refresh else _known(store, connector, item)
        if known is not None:
            yield AddEvent(item, "unchanged", work_id=known, reason="already indexed (use --refresh)")
            return
        for doc in connector.fetch(item):
            yield add_document(store, doc)
    except ConnectorError as exc:
        yield AddEvent(exc.source, "failed", reason=exc.reason)


def add_catalog(
    store: IndexStore,
    catalog: str,
    on_event: Callable[[AddEvent], None] | None = None,
    *,
    available: Sequence[Connector] | None = None,
    refresh: bool = False,
) -> AddSummary:
    """Index every row of a catalog; bad rows and failing sources are reported by line.

    A catalog is CSV or JSON Lines naming sources with creator, rights holder, licence or consent and
    the organization's id; every work of a row carries them. Rows already indexed from a network
    connector are skipped unless ``refresh``, so an interrupted catalog run resumes; files are re-read
    and replaced only if changed. The failures of the run replace the catalog's rows in the index's
    ``catalog_failures`` table.
    """
    summary = AddSummary()
    failures: list[tuple[str, str, str]] = []
    for row in catalog_rows(catalog):
        if isinstance(row, InputFailure):
            events = [AddEvent(row.source, "failed", reason=row.reason)]
            failures.append((row.source, "", row.reason))
        else:
            events = _add_row(store, row, available, refresh=refresh)
            failures.extend((f"{catalog}:{row.line}", row.source, e.reason) for e in events if e.outcome == "failed")
        for event in events:
            summary.record(event)
            if on_event is not None:
                on_event(event)
    store.record_catalog_failures(str(Path(catalog).resolve()), failures)
    if summary.counts["added"] or summary.counts["replaced"]:
        store.refresh_common()
    return summary


def _add_row(
    store: IndexStore, row: CatalogRow, available: Sequence[Connector] | None, *, refresh: bool
) -> list[AddEvent]:
    """The works of one catalog row (one, or the videos of a channel), each with the row's rights data."""
    events: list[AddEvent] = []
    try:
        connector = connector_for(row.source, available)
        for item in connector.expand(row.source):
            known = None if refresh else _known(store, connector, item)
            if known is not None:
                events.append(AddEvent(item, "unchanged", work_id=known, reason="already indexed"))
                continue
            events.extend(add_document(store, doc, row=row) for doc in connector.fetch(item))
    except ConnectorError as exc:
        events.append(AddEvent(f"{exc.source} (catalog line {row.line}, {row.org_id})", "failed", reason=exc.reason))
    return events


def add_sources(
    store: IndexStore,
    sources: Iterable[str],
    on_event: Callable[[AddEvent], None] | None = None,
    *,
    available: Sequence[Connector] | None = None,
    refresh: bool = False,
    on_listing: Callable[[str, int], None] | None = None,
) -> AddSummary:
    """Index every item of every source; a failing item is reported and the others carry on.

    ``available`` are the connectors to route through (default: the registry's, default options).
    Items already indexed from a network connector are skipped unless ``refresh``; ``on_listing``
    hears how many items each source stands for, before they are fetched.
    """
    summary = AddSummary()

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
        for item in items:
            for event in _add_item(store, item, available, refresh=refresh):
                emit(event)
    if summary.counts["added"] or summary.counts["replaced"]:
        store.refresh_common()
    return summary
