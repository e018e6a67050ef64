"""The Spark engine: shards audited on Apache Spark (see ``provenance.spark`` for the job itself).

Spark reads an export of the index, not the index (``export_index``): the caller must not hold the
index for writing while it runs, and results come back when Spark is done with the shards given.
Spark also keeps results of its own under ``out_dir`` (a shard done there with the same settings is
read back, not scanned again), so a killed driver loses no finished group.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING

from provenance.datasets import DatasetOptions, ReadProgress, find_shards
from provenance.engines import MAX_FAILURES_KEPT, file_sha256
from provenance.errors import SparkUnavailableError
from provenance.inputs import InputFailure
from provenance.options import AuditOptions
from provenance.runs import ShardOutcome

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from pathlib import Path

    from pyspark.sql import SparkSession

    from provenance.datasets import Shard
    from provenance.spark import SparkScan


@dataclass(frozen=True)
class SparkSettings:
    """Where Spark runs (``master``) and where it writes its results (``out_dir``)."""

    out_dir: Path
    master: str = "local[*]"


class SparkEngine:
    """Audits shards on Spark: local mode, a standalone cluster, or the active session (spark-submit)."""

    name = "spark"
    shares_index = False

    def __init__(
        self,
        index: str,
        settings: SparkSettings,
        dataset: DatasetOptions | None = None,
        audit: AuditOptions | None = None,
        *,
        restart: bool = False,
    ) -> None:
        _check_available()
        self.index = index
        self.settings = settings
        self.dataset = dataset or DatasetOptions()
        self.audit = audit or AuditOptions()
        self.restart = restart
        self._session: SparkSession | None = None

    def find(self, sources: Sequence[str]) -> tuple[list[Shard], list[InputFailure]]:
        """The shards ``sources`` name: local ones by the local rules, URLs as Spark lists them."""
        from provenance import spark  # noqa: PLC0415 - pyspark loads only for this engine

        if not any(spark.is_url(s) for s in sources):
            found = list(find_shards(sources, self.dataset))
            shards = {s.path: s for s in found if not isinstance(s, InputFailure)}
            return list(shards.values()), [f for f in found if isinstance(f, InputFailure)]
        if self._session is None:
            self._session = spark.session(self.settings.master)
        return spark.find_spark_shards(self._session, sources, self.dataset)

    def scan(self, shards: Sequence[Shard], on_read: Callable[[ReadProgress], None]) -> Iterator[ShardOutcome]:
        """Every shard's outcome once Spark is done with them all."""
        from provenance import spark  # noqa: PLC0415 - pyspark loads only for this engine

        if not shards:
            return
        result = spark.scan_with_spark(
            self.index,
            [s.path for s in shards],
            out_dir=self.settings.out_dir,
            dataset=self.dataset,
            options=self.audit,
            master=self.settings.master,
            restart=self.restart,
            shards=shards,
        )
        for outcome in outcomes(result):
            on_read(
                ReadProgress(
                    outcome.shard.size, outcome.records, outcome.failure_count, outcome.empty, outcome.text_bytes
                )
            )
            yield outcome

    def close(self) -> None:
        """Stop the session this engine started."""
        session, self._session = self._session, None
        if session is not None:
            session.stop()


def _check_available() -> None:
    """Refuse early, with what to install, where pyspark or Java is missing."""
    try:
        import pyspark  # noqa: F401, PLC0415 - only whether it imports
    except ImportError as exc:
        msg = f"the Spark engine needs pip install 'provenance-audit[spark]' and Java 17 or newer ({exc})"
        raise SparkUnavailableError(msg) from exc
    if shutil.which("java") is None:
        raise SparkUnavailableError("the Spark engine needs Java 17 or newer on PATH (no `java` found)")


def outcomes(result: SparkScan) -> Iterator[ShardOutcome]:
    """A Spark scan's shards as ``ShardOutcome`` values, their matches and bad records read back from its files."""
    from provenance import spark  # noqa: PLC0415 - pyspark loads only for this engine

    for outcome in result.shards:
        yield ShardOutcome(
            shard=outcome.shard,
            status="failed" if outcome.status == "failed" else "done",
            records=outcome.records,
            failures=tuple(spark.read_failures(outcome, MAX_FAILURES_KEPT)),
            failure_count=outcome.failures,
            empty=outcome.empty,
            matches=tuple(spark.read_matches(outcome)),
            text_bytes=outcome.text_bytes,
            seconds=outcome.seconds,
            error=outcome.error,
            sha256=None if spark.is_url(outcome.shard.path) else file_sha256(outcome.shard.path),
        )
