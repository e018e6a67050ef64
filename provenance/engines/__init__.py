"""Scan engines: shards in, shard results out. One small interface, three implementations.

An engine audits dataset shards and hands back one ``ShardOutcome`` per shard (in any order); it
stores nothing. ``provenance.scan`` plans the run, resumes it, and stores what engines return:

- ``local.LocalEngine``: in this process, on the caller's open index (``shares_index``: results are
  stored as each shard finishes);
- ``pool.PoolEngine``: worker processes, each with the index open read-only (the caller must not
  hold it for writing meanwhile, so results are spooled and stored when the pool is done);
- ``spark.SparkEngine``: Apache Spark, locally or on a cluster, from an export of the index.

The model is httpx's transports: a backend is one class with one method that does the work.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from provenance.datasets import ReadProgress, ShardFailure, read_shard
from provenance.inputs import InputFailure, ScanItem
from provenance.runs import ShardOutcome

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from provenance.audit import Auditor
    from provenance.datasets import DatasetOptions, Shard, ShardPart
    from provenance.match import Match
    from provenance.options import AuditOptions

MIB = 1 << 20
# Failures kept per shard (the rest are counted): a shard of a million bad rows must not fill memory.
MAX_FAILURES_KEPT = 10_000


@dataclass(frozen=True)
class ScanOptions:
    """How a scan runs.

    ``workers`` processes audit shards (1: all in this process); audit batches hold at most
    ``AuditOptions.batch_size`` records and ``batch_bytes`` of text. With several workers, Parquet
    shards over ``part_bytes`` are audited in parts of whole row groups of about that size, so that the
    workers finish together; a shard is stored (and resumed) whole, once all its parts are done.
    ``restart`` starts a new run instead of resuming the last one of the same scan.
    """

    workers: int = 1
    batch_bytes: int = 8 * MIB
    part_bytes: int = 32 * MIB
    restart: bool = False


class Engine(Protocol):
    """Audits shards and yields each one's ``ShardOutcome`` (in any order); stores nothing.

    ``name`` is recorded with the run (local, pool, spark). ``shares_index`` says whether the engine
    works on the caller's open index (so results may be stored as they come) or needs the index
    free of writers while it runs. ``on_read`` hears the counters of records read, as deltas.
    """

    name: str
    shares_index: bool

    def scan(self, shards: Sequence[Shard], on_read: Callable[[ReadProgress], None]) -> Iterator[ShardOutcome]:
        """Audit ``shards``; one outcome per shard."""
        ...

    def close(self) -> None:
        """Release processes, sessions and files (also after an error)."""
        ...


def file_sha256(path: str) -> str | None:
    """SHA-256 of a local shard file as scanned (None where it cannot be read here, e.g. a URL)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:  # noqa: PTH123 - a plain read loop
            while chunk := handle.read(MIB):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def audit_shard(
    auditor: Auditor,
    shard: Shard,
    dataset: DatasetOptions,
    audit: AuditOptions,
    options: ScanOptions,
    tick: Callable[[ReadProgress], None],
    part: ShardPart | None = None,
) -> ShardOutcome:
    """Audit one shard's records (or one part's) in batches bounded by count and bytes.

    An unexpected error is recorded as the shard's failure instead of ending the scan. The shard's
    SHA-256 is taken by the whole shard's task, or by its first part's.
    """
    started = time.perf_counter()
    try:
        outcome = _audit_shard(auditor, shard, dataset, audit, options, tick, part)
    except Exception as exc:  # noqa: BLE001 - one shard's bug must not stop the others; it is recorded
        return failed(shard, f"internal error: {type(exc).__name__}: {exc}", time.perf_counter() - started)
    if part is None or part.first == 0:
        outcome = replace(outcome, sha256=file_sha256(shard.path))
    return outcome


def failed(shard: Shard, reason: str, seconds: float = 0.0) -> ShardOutcome:
    """The outcome of a shard that could not be scanned at all."""
    return ShardOutcome(
        shard, "failed", failures=(InputFailure(shard.path, reason),), failure_count=1, seconds=seconds, error=reason
    )


def _audit_shard(
    auditor: Auditor,
    shard: Shard,
    dataset: DatasetOptions,
    audit: AuditOptions,
    options: ScanOptions,
    tick: Callable[[ReadProgress], None],
    part: ShardPart | None,
) -> ShardOutcome:
    started = time.perf_counter()
    read = ReadProgress()
    matches: list[Match] = []
    failures: list[InputFailure] = []
    error: str | None = None
    batch: list[ScanItem] = []
    held = 0

    def flush() -> None:
        nonlocal batch, held
        for _item, found in auditor.audit(batch):
            matches.extend(found)
        batch, held = [], 0
        tick(read)

    for item in read_shard(shard, dataset, read, part=part):
        if isinstance(item, InputFailure):
            if isinstance(item, ShardFailure):
                error = item.reason
            if len(failures) < MAX_FAILURES_KEPT:
                failures.append(item)
            continue
        batch.append(item)
        held += len(item.text)
        if len(batch) >= audit.batch_size or held >= options.batch_bytes:
            flush()
    flush()
    return ShardOutcome(
        shard=shard,
        status="failed" if error else "done",
        records=read.records,
        failures=tuple(failures),
        failure_count=read.failures,
        empty=read.empty,
        matches=tuple(matches),
        text_bytes=read.text_bytes,
        seconds=time.perf_counter() - started,
        error=error,
    )


def merged(shard: Shard, parts: Sequence[tuple[ShardPart, ShardOutcome]]) -> ShardOutcome:
    """One shard's outcome from its parts' outcomes, in row order."""
    outcomes = [o for _, o in sorted(parts, key=lambda p: p[0].first)]
    errors = [o.error for o in outcomes if o.error]
    return ShardOutcome(
        shard=shard,
        status="failed" if errors else "done",
        records=sum(o.records for o in outcomes),
        failures=tuple(f for o in outcomes for f in o.failures)[:MAX_FAILURES_KEPT],
        failure_count=sum(o.failure_count for o in outcomes),
        empty=sum(o.empty for o in outcomes),
        matches=tuple(m for o in outcomes for m in o.matches),
        text_bytes=sum(o.text_bytes for o in outcomes),
        seconds=sum(o.seconds for o in outcomes),
        error=errors[0] if errors else None,
        sha256=next((o.sha256 for o in outcomes if o.sha256), None),
    )
