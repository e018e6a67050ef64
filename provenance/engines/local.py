"""The local engine: shards audited one after another in this process, on the caller's open index."""

from __future__ import annotations

from typing import TYPE_CHECKING

from provenance.audit import Auditor
from provenance.datasets import DatasetOptions, ReadProgress
from provenance.engines import ScanOptions, audit_shard
from provenance.options import AuditOptions

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from indexes import IndexStore
    from provenance.datasets import Shard
    from provenance.runs import ShardOutcome


class LocalEngine:
    """Audits shards in this process with one ``Auditor`` over ``store`` (open read-only or for writing)."""

    name = "local"
    shares_index = True

    def __init__(
        self,
        store: IndexStore,
        dataset: DatasetOptions | None = None,
        audit: AuditOptions | None = None,
        options: ScanOptions | None = None,
    ) -> None:
        self.store = store
        self.dataset = dataset or DatasetOptions()
        self.audit = audit or AuditOptions()
        self.options = options or ScanOptions()
        self._auditor: Auditor | None = None

    def scan(self, shards: Sequence[Shard], on_read: Callable[[ReadProgress], None]) -> Iterator[ShardOutcome]:
        """Each shard's outcome, in the order given."""
        for shard in shards:
            if self._auditor is None:
                self._auditor = Auditor(self.store, self.audit)
            yield audit_shard(self._auditor, shard, self.dataset, self.audit, self.options, _deltas(on_read))

    def close(self) -> None:
        """Nothing to release: the store is the caller's."""


def _deltas(on_read: Callable[[ReadProgress], None]) -> Callable[[ReadProgress], None]:
    """A shard reader's running counters turned into deltas since the last call."""
    last = ReadProgress()

    def tick(read: ReadProgress) -> None:
        on_read(delta(read, last))

    return tick


def delta(read: ReadProgress, last: ReadProgress) -> ReadProgress:
    """``read - last`` (and ``last`` set to ``read``)."""
    out = ReadProgress(
        read.bytes_read - last.bytes_read,
        read.records - last.records,
        read.failures - last.failures,
        read.empty - last.empty,
        read.text_bytes - last.text_bytes,
    )
    last.bytes_read, last.records, last.failures, last.empty, last.text_bytes = (
        read.bytes_read,
        read.records,
        read.failures,
        read.empty,
        read.text_bytes,
    )
    return out
