"""The pool engine: shards audited in worker processes, each with the index open read-only.

Workers start when the engine is made, before the scan is planned, and import and warm up while the
caller still holds the index for writing; each opens the index read-only on its first shard (waiting
while a writer holds it). Large Parquet shards are audited in parts of whole row groups
(``ScanOptions.part_bytes``) so that workers finish together; a shard's outcome is yielded once all
its parts are done. Workers send progress deltas now and then through a queue.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import queue
import signal
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from indexes import IndexStore, IndexStoreError, tokenize
from provenance.audit import Auditor
from provenance.datasets import DatasetOptions, ReadProgress, split_shard
from provenance.engines import ScanOptions, audit_shard, failed, merged
from provenance.engines.local import delta
from provenance.options import AuditOptions

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from provenance.datasets import Shard, ShardPart
    from provenance.runs import ShardOutcome

_PROGRESS_EVERY = 0.2  # seconds between progress messages from workers
_OPEN_WAIT = 60.0  # seconds a worker waits for the parent (or another writer) to let go of the index
_worker: dict[str, Any] = {}


class PoolEngine:
    """``options.workers`` processes auditing shards (or parts of large ones) side by side."""

    name = "pool"
    shares_index = False

    def __init__(
        self,
        index: str,
        dataset: DatasetOptions | None = None,
        audit: AuditOptions | None = None,
        options: ScanOptions | None = None,
    ) -> None:
        self.options = options or ScanOptions()
        context = multiprocessing.get_context("spawn")  # never fork a process that has run DuckDB threads
        self.messages = context.Queue()
        self.pool = ProcessPoolExecutor(
            max_workers=self.options.workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(index, dataset or DatasetOptions(), audit or AuditOptions(), self.options, self.messages),
        )
        for _ in range(self.options.workers):  # one task each starts them all now
            self.pool.submit(_warm_up)

    def scan(self, shards: Sequence[Shard], on_read: Callable[[ReadProgress], None]) -> Iterator[ShardOutcome]:
        """Outcomes as shards finish (a split shard once its last part is done)."""
        tasks = _tasks(shards, self.options)
        waiting: dict[str, int] = {}
        for shard, _ in tasks:
            waiting[shard.path] = waiting.get(shard.path, 0) + 1
        parts: dict[str, list[tuple[ShardPart, ShardOutcome]]] = {}
        pending = {self.pool.submit(_run_shard, shard, part): part for shard, part in tasks}
        try:
            while pending:
                finished, _ = wait(pending, timeout=_PROGRESS_EVERY, return_when=FIRST_COMPLETED)
                self._drain(on_read)
                for future in finished:
                    part = pending.pop(future)
                    outcome: ShardOutcome = future.result()
                    path = outcome.shard.path
                    waiting[path] -= 1
                    if part is not None:
                        parts.setdefault(path, []).append((part, outcome))
                        if waiting[path]:
                            continue
                        outcome = merged(outcome.shard, parts.pop(path))
                    yield outcome
        finally:
            self._drain(on_read)

    def close(self) -> None:
        """Stop the workers at once, dropping shards not started."""
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _drain(self, on_read: Callable[[ReadProgress], None]) -> None:
        while True:
            try:
                bytes_read, records, failures, text_bytes = self.messages.get_nowait()
            except queue.Empty:
                break
            on_read(ReadProgress(bytes_read, records, failures, 0, text_bytes))


def _tasks(todo: Sequence[Shard], options: ScanOptions) -> list[tuple[Shard, ShardPart | None]]:
    """The units of a parallel scan, biggest first (less waiting at the end): shards, or parts of large ones."""
    tasks: list[tuple[Shard, ShardPart | None]] = []
    for shard in todo:
        parts = split_shard(shard, options.part_bytes)
        tasks.extend([(shard, None)] if parts is None else [(shard, part) for part in parts])
    return sorted(tasks, key=lambda t: -(t[0].size if t[1] is None else t[1].size))


# -- in the workers ------------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """Have the kernel kill this worker when the parent dies (Linux), so no orphan keeps the index open."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _init_worker(
    index: str,
    dataset: DatasetOptions,
    audit: AuditOptions,
    options: ScanOptions,
    messages: Any,  # noqa: ANN401 - a multiprocessing queue
) -> None:
    _die_with_parent()
    _worker.update(index=index, dataset=dataset, audit=audit, options=options, messages=messages)


def _warm_up() -> None:
    """Load what the first shard would otherwise wait for: the compiled kernels and the character classes."""
    tokenize("warm up", 0)


def _worker_auditor() -> Auditor:
    """The worker's auditor, opening the index read-only on first use (waiting while a writer holds it)."""
    auditor = _worker.get("auditor")
    if auditor is None:
        store = IndexStore.open(_worker["index"], read_only=True, wait_s=_OPEN_WAIT)
        auditor = Auditor(store, _worker["audit"])
        _worker.update(store=store, auditor=auditor)
    return auditor


def _run_shard(shard: Shard, part: ShardPart | None = None) -> ShardOutcome:
    """In a worker: audit one shard (or part), sending progress deltas to the parent now and then."""
    last = ReadProgress()
    sent = time.monotonic()
    messages = _worker["messages"]

    def send(read: ReadProgress) -> None:
        step = delta(read, last)
        messages.put((step.bytes_read, step.records, step.failures, step.text_bytes))

    def tick(read: ReadProgress) -> None:
        nonlocal sent
        if time.monotonic() - sent >= _PROGRESS_EVERY:
            send(read)
            sent = time.monotonic()

    try:
        auditor = _worker_auditor()
    except IndexStoreError as exc:
        return failed(shard, str(exc))
    outcome = audit_shard(auditor, shard, _worker["dataset"], _worker["audit"], _worker["options"], tick, part)
    size = shard.size if part is None else part.size
    send(ReadProgress(size, outcome.records, outcome.failure_count, outcome.empty, outcome.text_bytes))
    return outcome
