"""The ``provenance`` command, a thin layer over the library.

Each command opens the index, calls one library function and turns library errors into a one-line
message and an exit code.
"""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from connectors.errors import ConnectorError
from connectors.options import ConnectorOptions
from indexes.errors import IndexStoreError
from provenance.errors import ExitCode, ProvenanceError
from provenance.holders import Grouping, RightsHolderNotFoundError
from provenance.options import DEFAULT_JOBS, DEFAULT_LIMIT, AuditOptions
from provenance.version import __version__

if TYPE_CHECKING:  # the rest is imported by the commands that use it: `provenance --help` stays fast
    from collections.abc import Iterator, Sequence

    from indexes import IndexStore
    from provenance.auditing import AuditEvents, AuditResult
    from provenance.ingest import AddEvent, CatalogProgress
    from provenance.match import Match
    from provenance.probe import DryPrompt, ProbeEvents, ProbeResult
    from provenance.runs import SaveOutcome, ShardOutcome
    from provenance.scan import ScanProgress, ScanSummary
    from provenance.sql import QueryResult
    from provenance.verify import Verification

DEFAULT_INDEX = "provenance.duckdb"


class Lookup(str, Enum):
    """Where candidate lookups run."""

    auto = "auto"
    memory = "memory"
    duckdb = "duckdb"


class Engine(str, Enum):
    """Where a dataset scan runs."""

    local = "local"
    spark = "spark"


class ReportFormat(str, Enum):
    """Formats of ``provenance report``."""

    html = "html"
    md = "md"
    json = "json"
    csv = "csv"
    manifest = "manifest"


class SqlFormat(str, Enum):
    """Output formats of ``provenance sql``."""

    table = "table"
    csv = "csv"
    json = "json"
    jsonl = "jsonl"


app = typer.Typer(
    help="Prove where creative work went: index works, then audit texts for reuse of them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

IndexOption = Annotated[
    Path,
    typer.Option(
        "--index",
        "-i",
        envvar="PROVENANCE_INDEX",
        help="Index file (DuckDB). Default: $PROVENANCE_INDEX, else ./provenance.duckdb.",
        show_default=False,
    ),
]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks of errors.")]


def _fail(message: str, code: ExitCode) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)
    raise typer.Exit(int(code))


@contextmanager
def _errors(verbose: bool) -> Iterator[None]:
    """Map library errors to one line on stderr and a distinct exit code."""
    try:
        yield
    except IndexStoreError as exc:
        if verbose:
            err.print_exception()
        _fail(str(exc), ExitCode.INDEX_ERROR)
    except ProvenanceError as exc:
        if verbose:
            err.print_exception()
        _fail(str(exc), exc.exit_code)
    except ConnectorError as exc:
        if verbose:
            err.print_exception()
        _fail(str(exc), ExitCode.INPUT_ERROR)
    except KeyboardInterrupt:
        err.print("interrupted; everything committed before this point is kept")
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None


def _version(value: bool) -> None:
    if value:
        out.print(f"provenance {__version__}")
        raise typer.Exit


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Prove where creative work went: index works, then audit texts for reuse of them."""


@app.command()
def add(
    sources: Annotated[
        list[str] | None,
        typer.Argument(help="Files, folders, web pages, sitemaps, feeds, YouTube videos, playlists or channels."),
    ] = None,
    index: IndexOption = Path(DEFAULT_INDEX),
    catalog: Annotated[
        Path | None,
        typer.Option(
            help="A catalog (CSV or JSONL): one source per row with creator, rights holder, licence or consent "
            "status and your own id.",
        ),
    ] = None,
    crawl: Annotated[bool, typer.Option("--crawl", help="Follow same-site links from each web page.")] = False,
    max_pages: Annotated[int, typer.Option(min=1, help="Pages a crawl fetches at most, per source.")] = (
        ConnectorOptions.max_pages
    ),
    depth: Annotated[int, typer.Option(min=0, help="Links a crawl follows away from the start page.")] = (
        ConnectorOptions.depth
    ),
    allow_private: Annotated[
        bool,
        typer.Option("--allow-private", help="Allow fetching from private, loopback and link-local addresses."),
    ] = False,
    lang: Annotated[
        str | None,
        typer.Option(help="Caption language of videos (default: each video's original language, else English)."),
    ] = None,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Fetch videos already indexed again (changed captions replace).")
    ] = False,
    jobs: Annotated[
        int,
        typer.Option(
            min=1,
            help="Catalog rows fetched at once (each web host still gets one request at a time); "
            "documents are fingerprinted on every core.",
        ),
    ] = DEFAULT_JOBS,
    creator: Annotated[
        str | None, typer.Option(help="Your name as the works' creator (instead of what the source says).")
    ] = None,
    rights_holder: Annotated[str | None, typer.Option(help="Who holds the rights to these works.")] = None,
    title: Annotated[
        str | None, typer.Option(help="The work's title (for one work; every work added gets it).")
    ] = None,
    licence: Annotated[str | None, typer.Option(help="The licence the works are published under.")] = None,
    verbose: VerboseOption = False,
) -> None:
    """Index works: files and folders, web pages, sitemaps, feeds, YouTube videos, playlists and channels.

    Unchanged works are skipped and changed ones replace their old version; videos already indexed are
    not fetched again unless --refresh, so an interrupted channel or catalog resumes where it stopped.
    """
    from connectors.registry import connectors  # noqa: PLC0415 - loaded by the commands that use it
    from indexes import IndexStore  # noqa: PLC0415
    from provenance.catalog import WorkLabels  # noqa: PLC0415
    from provenance.ingest import add_catalog, add_sources  # noqa: PLC0415

    if not sources and catalog is None:
        _fail("name works to add, or a --catalog", ExitCode.USAGE)
    given = {"creator": creator, "rights_holder": rights_holder, "title": title, "licence": licence}
    labels = WorkLabels(**given) if any(given.values()) else None
    if labels is not None and not sources:
        _fail("--creator, --rights-holder, --title and --licence label SOURCES; a catalog has its own", ExitCode.USAGE)
    options = ConnectorOptions(crawl=crawl, max_pages=max_pages, depth=depth, allow_private=allow_private, lang=lang)
    available = connectors(options)
    with _errors(verbose), IndexStore.open(index, tool_version=__version__) as store, _AddProgress() as progress:
        summary = add_sources(
            store,
            sources or [],
            on_event=progress.event,
            available=available,
            refresh=refresh,
            on_listing=progress.listing,
            labels=labels,
        )
        if catalog is not None:
            from_catalog = add_catalog(
                store,
                str(catalog),
                progress.event,
                available=available,
                refresh=refresh,
                jobs=jobs,
                on_progress=progress.catalog,
            )
            summary.merge(from_catalog)
        state = store.state()
    if catalog is not None:
        rate = summary.rows / max(summary.seconds, 1e-9)
        err.print(f"catalog: {_plural(summary.rows, 'row')} in {summary.seconds:.1f} s ({rate:.1f} rows/s)")
    counts = ", ".join(f"{n} {k}" for k, n in summary.counts.items() if n)
    err.print(
        f"{counts or 'nothing to do'}; the index {index} holds {_plural(state.works, 'work')}, "
        f"{_plural(state.passages, 'passage')}"
    )
    if summary.failures:
        raise typer.Exit(int(ExitCode.INPUT_ERROR))


class _AddProgress:
    """A progress bar on stderr while items are added (done of total, failures, rate), a line per item.

    Through a catalog the bar counts rows (of the catalog's line count), as works of a row finish in
    any order.
    """

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        )
        self.task = self.progress.add_task("adding", total=None, failed=0, rate="")
        self.failed = 0
        self.total = 0
        self.started = time.monotonic()
        self.by_rows = False

    def __enter__(self) -> _AddProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def listing(self, source: str, count: int) -> None:
        """A source turned out to name ``count`` items."""
        self.total += count
        self.progress.update(self.task, total=self.total, description=_display_path(source)[:40])

    def event(self, event: AddEvent) -> None:
        """One item done: print its line above the bar and advance."""
        for warning in event.warnings:
            self.progress.console.print(f"[yellow]warning:[/] {warning}", markup=True)
        if event.outcome == "failed":
            self.failed += 1
            self.progress.console.print(f"[red]failed[/]     {event.source}: {event.reason}", markup=True)
        else:
            self.progress.console.print(f"{event.outcome:<10} {event.source} (work {event.work_id})", markup=False)
        if self.by_rows:
            self.progress.update(self.task, failed=self.failed)
            return
        done = self.progress.tasks[0].completed + 1
        rate = done / max(time.monotonic() - self.started, 1e-9)
        self.progress.update(self.task, advance=1, failed=self.failed, rate=f"{rate:.1f}/s")

    def catalog(self, progress: CatalogProgress) -> None:
        """A catalog's rows done, of about how many: from the first call on, the bar counts rows."""
        if not self.by_rows:
            self.by_rows = True
            self.started = time.monotonic()
            self.progress.reset(self.task, total=progress.rows_total, description="catalog rows")
        rate = progress.rows_done / max(time.monotonic() - self.started, 1e-9)
        self.progress.update(
            self.task, completed=progress.rows_done, total=progress.rows_total, rate=f"{rate:.1f} rows/s"
        )


@app.command()
def audit(
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Text files, folders, JSONL files, - for stdin, or datasets: Parquet, JSONL and CSV shards "
            "(.gz, .zst), folders and globs of them, a downloaded Hugging Face dataset.",
        ),
    ],
    index: IndexOption = Path(DEFAULT_INDEX),
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per match per line.")] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Also write the matches as JSON Lines to this file."),
    ] = None,
    field: Annotated[str, typer.Option(help="JSONL field or dataset column holding the text.")] = "text",
    id_field: Annotated[
        str | None,
        typer.Option(help="JSONL field or dataset column holding the record id (default: line or row number)."),
    ] = None,
    dataset: Annotated[
        bool,
        typer.Option(
            "--dataset",
            help="Scan the inputs as a dataset: streamed shard by shard, resumable, matches stored per record. "
            "Parquet, CSV, compressed shards and globs are datasets anyway.",
        ),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Processes scanning dataset shards [default: one per core]; they share the lookup arrays "
            "of a large index (memory-mapped from INDEX.lookup/).",
            show_default=False,
        ),
    ] = None,
    restart: Annotated[
        bool, typer.Option("--restart", help="Scan a dataset anew instead of resuming an interrupted scan.")
    ] = False,
    engine: Annotated[
        Engine,
        typer.Option(help="Where a dataset scan runs: this machine, or Apache Spark (pip install '.[spark]')."),
    ] = Engine.local,
    spark_master: Annotated[str, typer.Option(help="Spark master URL (--engine spark).")] = "local[*]",
    spark_out: Annotated[
        Path | None,
        typer.Option(help="Where --engine spark writes matches.parquet (default: INDEX.spark/ beside the index)."),
    ] = None,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="Read every input (stdin too) as JSON Lines.")] = False,
    min_words: Annotated[
        int,
        typer.Option(
            min=1,
            help="Shared words a region needs to count, stock phrases and boilerplate aside "
            "(20 finds quotes of 25 words).",
        ),
    ] = AuditOptions.min_words,
    min_score: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Least verified similarity of a match.")
    ] = AuditOptions.min_score,
    lookup: Annotated[
        Lookup,
        typer.Option(
            help="Candidate lookups: index arrays in memory (fast once loaded), joins in DuckDB (little memory, "
            "nothing to load), or auto: DuckDB for a few texts when no array cache is beside the index, else memory."
        ),
    ] = Lookup.auto,
    fail_on_match: Annotated[
        bool, typer.Option("--fail-on-match", help="Exit with 1 when any match is found.")
    ] = False,
    record: Annotated[
        bool,
        typer.Option(
            "--record/--no-record",
            help="Store the run in the index (inputs' SHA-256, matches, manifest) for `report` and `verify`; "
            "--no-record never writes to the index.",
        ),
    ] = True,
    verbose: VerboseOption = False,
) -> None:
    """Audit texts for reuse of indexed works, and record the run.

    The index is read read-only while texts are scanned, so audits run side by side; the run is written at
    the end in one short transaction (or, while another process has the index open, to INDEX.pending/,
    imported later). Exit codes: 0 ran, 1 matches found (only with --fail-on-match), 2 usage error,
    3 some input could not be read (the rest was audited), 4 index error, 130 interrupted.
    """
    from provenance.auditing import AuditRequest, run_audit  # noqa: PLC0415 - loaded by the commands that use it

    if output is not None:
        _refuse_clobber(output, index, inputs)
    request = AuditRequest(
        inputs=tuple(inputs),
        options=AuditOptions(min_words=min_words, min_score=min_score),
        lookup=lookup.value,
        field=field,
        id_field=id_field,
        jsonl=jsonl,
        dataset=dataset,
        workers=workers,
        restart=restart,
        engine=engine.value,
        spark_master=spark_master,
        spark_out=spark_out,
        record=record,
    )
    with _errors(verbose), _AuditOutput(as_json=as_json, output=output) as shown:
        result = run_audit(index, request, stdin=sys.stdin.buffer, events=shown.events())
    shown.finish(result, fail_on_match=fail_on_match)


class _AuditOutput:
    """What ``audit`` shows: failures and progress on stderr, matches on stdout (JSON or a table) and in ``-o``.

    Texts' matches are written as each text is audited; a dataset scan's once the run is stored (all of
    its matches, earlier invocations' included).
    """

    def __init__(self, *, as_json: bool, output: Path | None) -> None:
        self.as_json = as_json
        self.output = output.open("w", encoding="utf-8") if output else None
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TextColumn("{task.fields[records]} records, {task.fields[matches]} matches"),
            TimeRemainingColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        )
        self.task: TaskID | None = None

    def __enter__(self) -> _AuditOutput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()
        if self.output is not None:
            self.output.close()

    def events(self) -> AuditEvents:
        """The callbacks ``run_audit`` calls."""
        from provenance.auditing import AuditEvents  # noqa: PLC0415 - loaded by the commands that use it

        return AuditEvents(
            failure=lambda f: err.print(f"[red]failed[/] {escape(str(f))}", markup=True),
            warning=lambda w: err.print(f"[yellow]warning:[/] {escape(w)}", markup=True),
            matches=self.matches,
            shard=self.shard,
            progress=self.progress,
        )

    def matches(self, found: Sequence[Match]) -> None:
        """Matches to write as JSON Lines (stdout with --json, and -o)."""
        for match in found:
            line = json.dumps(match.to_dict(), ensure_ascii=False) + "\n"
            if self.as_json:
                sys.stdout.write(line)
            if self.output is not None:
                self.output.write(line)

    def progress(self, counters: ScanProgress) -> None:
        """A scan's counters moved: bytes read of the total, records, matches."""
        if self.task is None:
            self.bar.start()
            self.task = self.bar.add_task("scanning", total=None, records=0, matches=0)
        self.bar.update(
            self.task,
            total=counters.bytes_total or None,
            completed=counters.bytes_read,
            records=counters.records,
            matches=counters.matches,
        )

    def shard(self, outcome: ShardOutcome, skipped: bool) -> None:
        """A shard is stored (or was done before): its bad records and its own failure."""
        if skipped:
            return
        for failure in outcome.failures:
            self.bar.console.print(f"[red]failed[/] {escape(str(failure))}", markup=True)

    def finish(self, result: AuditResult, *, fail_on_match: bool) -> None:
        """The table (unless JSON), the summary lines, and the exit code."""
        self.bar.stop()
        if not self.as_json:
            _print_matches(list(result.matches))
        if result.saved is not None:
            _print_saved(result.saved)
        scan = result.scan
        if scan is None:
            texts = len({m.scanned for m in result.matches})
            err.print(
                f"{_plural(result.scanned, 'text')} scanned, {_plural(len(result.matches), 'match')} in "
                f"{_plural(texts, 'text')}, {_plural(len(result.failures), 'input')} failed"
            )
        else:
            for failure in scan.unreadable:
                err.print(f"[red]failed[/] {escape(str(failure))}", markup=True)
            err.print(_scan_line(scan, len(result.matches)))
        if result.failures:
            raise typer.Exit(int(ExitCode.INPUT_ERROR))
        if fail_on_match and result.matches:
            raise typer.Exit(int(ExitCode.MATCHES_FOUND))


def _scan_line(scan: ScanSummary, run_matches: int) -> str:
    """The summary of a scan's invocation, and of its run."""
    run = f"run {scan.scan_id}"
    if scan.already_finished:
        return (
            f"{run} was finished before: its stored result is shown ({_plural(run_matches, 'match')}); "
            "--restart scans again as a new run"
        )
    head = f"{run} ({'resumed' if scan.resumed else 'new'}, {scan.engine} engine): "
    line = (
        head
        + f"{_plural(scan.shards, 'shard')} ({scan.skipped} done before), "
        + f"{_plural(scan.records, 'record')}, {scan.text_bytes / 1e6:.1f} MB of text in {scan.seconds:.1f} s, "
        + f"{_plural(scan.matches, 'match')} this time ({run_matches} in the run), "
        + f"{_plural(scan.failures, 'failure')}"
        + (f" ({scan.failed} of whole shards)" if scan.failed else "")
    )
    return line + ("" if scan.complete else "; partial: rerun the same command to resume")


def _print_saved(outcome: SaveOutcome) -> None:
    if outcome.imported:
        err.print(f"imported {_plural(outcome.imported, 'pending run')} into the index")
    if outcome.recorded:
        err.print(f"recorded as audit {outcome.audit_id} (`provenance report {outcome.audit_id}` shows it)")
        return
    err.print(
        f"[yellow]note:[/] {escape(outcome.reason)}; audit {outcome.audit_id} was saved to "
        f"{escape(str(outcome.pending_file))} and goes into the index with the next recorded audit, "
        "`provenance audits` or `provenance report`",
        markup=True,
    )


def _refuse_clobber(output: Path, index: Path, inputs: Sequence[str]) -> None:
    """Exit (usage) when ``-o`` names the index, its WAL or an input of the same run: writing would destroy it."""
    protected = [(index, "the index"), (Path(f"{index}.wal"), "the index's log")]
    protected += [(Path(i), "an input of this audit") for i in inputs if i != "-"]
    target = output.resolve()
    for path, what in protected:
        same = target == path.resolve()
        if not same and output.exists() and path.exists():
            same = output.samefile(path)
        if same:
            _fail(f"-o {output} is {what}; writing there would destroy it: choose another file", ExitCode.USAGE)


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}{'es' if noun.endswith('ch') else 's'}"


def _excerpt(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _display_path(source: str) -> str:
    """A path relative to the working directory when it lies below it; anything else unchanged."""
    path, sep, record = source.partition("#")
    try:
        shown = str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        shown = path
    return shown + sep + record


def _print_matches(matches: list[Match]) -> None:
    from provenance.match import format_time_range  # noqa: PLC0415 - loaded by the commands that use it

    if not matches:
        out.print("No matches.")
        return
    table = Table(title=f"{_plural(len(matches), 'match')}", show_lines=False)
    for column in ("#", "Scanned", "Work", "Score", "Verbatim", "Spans (scanned → work)"):
        table.add_column(column, overflow="fold")
    for number, m in enumerate(matches, start=1):
        spans = f"{m.scanned_span[0]}-{m.scanned_span[1]} → {m.work_span[0]}-{m.work_span[1]}"
        if m.work_time is not None:
            spans += f" at {format_time_range(*m.work_time)}"
        table.add_row(
            str(number),
            _display_path(m.scanned),
            m.title or _display_path(m.source),
            f"{m.score:.2f}",
            f"{m.verbatim_words}/{m.matched_words} words",
            spans,
        )
    out.print(table)
    for number, m in enumerate(matches, start=1):
        out.print(f"[bold]{number}.[/] “{_excerpt(m.scanned_excerpt)}”", markup=True)


class ProbeMode(str, Enum):
    """How ``probe`` asks: chat completions, or plain completions for base models."""

    chat = "chat"
    completion = "completion"


class ProbeMethod(str, Enum):
    """What ``probe`` asks."""

    prefix = "prefix"
    extract = "extract"


@app.command()
def probe(
    base_url: Annotated[
        str,
        typer.Option(
            "--base-url",
            help="The OpenAI-compatible API, e.g. http://localhost:11434/v1 (Ollama), http://localhost:8000/v1 "
            "(vLLM), https://api.openai.com/v1. Loopback and private addresses are allowed.",
        ),
    ],
    model: Annotated[str, typer.Option("--model", help="Model name as the endpoint knows it.")],
    index: IndexOption = Path(DEFAULT_INDEX),
    work: Annotated[list[int] | None, typer.Option("--work", help="Probe this work id (repeatable).")] = None,
    creator: Annotated[str | None, typer.Option(help="Only works of this creator.")] = None,
    rights_holder: Annotated[str | None, typer.Option(help="Only works of this rights holder.")] = None,
    sample: Annotated[int | None, typer.Option(min=1, help="Probe a random sample of N of the selected works.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of --sample.")] = 0,
    mode: Annotated[
        ProbeMode, typer.Option(help="chat (chat completions) or completion (plain completions, for base models).")
    ] = ProbeMode.chat,
    method: Annotated[
        ProbeMethod,
        typer.Option(
            help="prefix: quote --prefix-words words at the opening and at --points offsets, ask for the "
            "continuation; extract: from the opening, ask to continue, up to --rounds or until it stops matching."
        ),
    ] = ProbeMethod.prefix,
    points: Annotated[int, typer.Option(min=0, help="Probe points spread through a work, besides its opening.")] = 4,
    prefix_words: Annotated[int, typer.Option(min=1, help="Words of the work quoted in each prompt.")] = 50,
    rounds: Annotated[int, typer.Option(min=1, help="Rounds of --method extract.")] = 5,
    min_words: Annotated[
        int, typer.Option(min=1, help="Identical words a near-verbatim block needs (a point counts from there).")
    ] = 20,
    max_tokens: Annotated[int, typer.Option(min=1, help="Most tokens asked per response.")] = 200,
    temperature: Annotated[float, typer.Option(min=0.0, help="Sampling temperature (0: the likeliest text).")] = 0.0,
    model_seed: Annotated[
        int | None, typer.Option(help="Seed sent to the model, where the endpoint supports it.")
    ] = None,
    jobs: Annotated[int, typer.Option(min=1, help="Works probed at once, one request at a time each.")] = 4,
    max_requests: Annotated[
        int | None, typer.Option(min=0, help="Ask at most this many requests, then stop cleanly (resumable).")
    ] = None,
    token_budget: Annotated[
        int | None,
        typer.Option(min=0, help="Stop cleanly once this many tokens (prompt and completion) were used (resumable)."),
    ] = None,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for one response.")] = 120.0,
    retries: Annotated[
        int,
        typer.Option(
            min=0, help="Retries after 429/503 (Retry-After honoured), other 5xx, timeouts, refused connections."
        ),
    ] = 4,
    backoff: Annotated[float, typer.Option(min=0.0, help="First backoff wait in seconds (doubling).")] = 1.0,
    api_key_env: Annotated[
        str, typer.Option(help="Environment variable holding the API key (none needed for local servers).")
    ] = "OPENAI_API_KEY",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List the prompts and an estimate of tokens; ask nothing.")
    ] = False,
    restart: Annotated[bool, typer.Option("--restart", help="Start a new run instead of resuming this probe.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per probed work per line.")] = False,
    verbose: VerboseOption = False,
) -> None:
    """Probe a model: does it reproduce your indexed works? Every prompt and answer is recorded as a run.

    Measures per work the near-verbatim recall (README: "Probing models"), the longest verbatim run and
    the probe points reproduced; the responses are also audited against the whole index. A killed or
    stopped probe resumes when run again with the same options, asking nothing already answered.
    Exit codes: 0 ran, 2 usage error, 3 a work failed (the others were probed), 4 index error.
    """
    from provenance import probe as probing  # noqa: PLC0415 - loaded by the commands that use it

    selection = probing.WorkSelection(
        work_ids=tuple(work or ()), creator=creator, rights_holder=rights_holder, sample=sample, seed=seed
    )
    options = probing.ProbeOptions(
        base_url=base_url,
        model=model,
        mode=mode.value,
        method=method.value,
        points=points,
        prefix_words=prefix_words,
        rounds=rounds,
        min_words=min_words,
        max_tokens=max_tokens,
        temperature=temperature,
        seed=model_seed,
        jobs=jobs,
        max_requests=max_requests,
        token_budget=token_budget,
        timeout_s=timeout,
        retries=retries,
        backoff_s=backoff,
        api_key_env=api_key_env,
    )
    with _errors(verbose):
        if dry_run:
            prompts, unfit = probing.dry_run(index, selection, options)
            _print_dry_run(prompts, as_json=as_json)
            for reason in unfit:
                err.print(Text.assemble(("would fail", "red"), f" {reason}"), highlight=False)
            if unfit:
                raise typer.Exit(int(ExitCode.INPUT_ERROR))
            return
        with _ProbeProgress() as progress:
            result = probing.probe(
                index,
                selection,
                options,
                api_key=os.environ.get(api_key_env) or None,
                arguments=sys.argv[1:],
                restart=restart,
                events=progress.events(),
            )
    _print_probe(result, as_json=as_json)
    if result.failed:
        raise typer.Exit(int(ExitCode.INPUT_ERROR))


class _ProbeProgress:
    """A progress bar of requests on a terminal (stderr)."""

    def __init__(self) -> None:
        self.bar = Progress(
            TextColumn("probing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("requests"),
            TimeRemainingColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        )
        self.task: TaskID | None = None

    def __enter__(self) -> _ProbeProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def events(self) -> ProbeEvents:
        """The callbacks ``probe`` calls."""
        from provenance.probe import ProbeEvents  # noqa: PLC0415 - loaded by the commands that use it

        return ProbeEvents(planned=self.planned, answered=lambda _ex: self.advance())

    def planned(self, total: int) -> None:
        """The requests a probe plans at most."""
        self.task = self.bar.add_task("probing", total=total)

    def advance(self) -> None:
        """One request answered or failed."""
        if self.task is not None:
            self.bar.advance(self.task)


def _print_dry_run(prompts: Sequence[DryPrompt], *, as_json: bool) -> None:
    total = sum(p.prompt_tokens + p.completion_tokens for p in prompts)
    for p in prompts:
        if as_json:
            row = {
                "work_id": p.work_id,
                "title": p.title,
                "point": p.point,
                "round": p.round,
                "prompt": json.loads(p.prompt),
                "prompt_tokens_estimate": p.prompt_tokens,
                "completion_tokens_max": p.completion_tokens,
            }
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            sys.stdout.write(f"work {p.work_id} point {p.point} round {p.round}: {p.prompt}\n")
    err.print(
        f"dry run: {_plural(len(prompts), 'request')}, about {total} tokens at most "
        f"(prompts estimated at 4 characters a token, plus --max-tokens per response); nothing was asked",
        markup=False,
    )


def _print_probe(result: ProbeResult, *, as_json: bool) -> None:
    if as_json:
        for w in result.works:
            sys.stdout.write(json.dumps(w.to_json(result.audit_id, result.model, result.method)) + "\n")
    else:
        table = Table(title=f"probe {result.audit_id}: {escape(result.model)} ({result.method})")
        for column in ("Work", "Title", "Status"):
            table.add_column(column)
        for column in ("nv_recall", "Longest", "Matched", "Points", "Requests", "Tokens"):
            table.add_column(column, justify="right", no_wrap=True)
        for w in result.works:
            table.add_row(
                str(w.work_id),
                escape(w.title),
                w.status,
                f"{w.nv_recall:.3f}",
                str(w.longest_verbatim_words),
                str(w.matched_words),
                f"{w.points_matched}/{w.points}",
                str(w.requests),
                str(w.prompt_tokens + w.completion_tokens),
            )
        out.print(table)
    for w in result.works:
        if w.status == "failed":
            err.print(Text.assemble(("failed", "red"), f" work {w.work_id} ({w.title}): {w.error}"), highlight=False)
    how = "resumed" if result.resumed else "new"
    err.print(
        f"probe {result.audit_id} ({how}, {result.state}): {_plural(result.asked, 'request')} asked, "
        f"{result.reused} answered before, {_plural(result.matches, 'match')} with the index, "
        f"{result.failed} of {_plural(len(result.works), 'work')} failed"
        + (f"; stopped: {result.stopped} (run it again to go on)" if result.stopped else ""),
        markup=False,
    )
    err.print(f"`provenance report {result.audit_id}` shows it", markup=False)


@app.command()
def works(
    index: IndexOption = Path(DEFAULT_INDEX),
    creator: Annotated[str | None, typer.Option(help="Only the works of this creator.")] = None,
    rights_holder: Annotated[str | None, typer.Option(help="Only the works of this rights holder.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per work per line.")] = False,
    limit: Annotated[int, typer.Option(min=0, help="Works the table shows on a terminal at most; 0 shows all.")] = 50,
    verbose: VerboseOption = False,
) -> None:
    """List the indexed works (with their rights holder, when a catalog or `add --rights-holder` named one).

    On a terminal a table of the first --limit works; in a pipe, tab-separated rows of all of them;
    with --json, one object per work.
    """
    from provenance.runs import open_index  # noqa: PLC0415 - loaded by the commands that use it

    with _errors(verbose), open_index(index, read_only=True) as store:
        records = store.works(creator=creator, rights_holder=rights_holder)
    if as_json:
        for r in records:
            row = {
                "work_id": r.work_id,
                "source": r.source,
                "title": r.title,
                "kind": r.kind,
                "creator": r.creator,
                "rights_holder": r.rights_holder,
                "org_id": r.org_id,
                "licence": r.licence,
                "consent_declared": r.consent_declared,
                "consent_declared_source": r.consent_declared_source,
                "content_sha256": r.content_sha256,
                "words": r.n_tokens,
                "passages": r.n_passages,
                "added_at": r.added_at.isoformat(),
            }
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    if not out.is_terminal:  # a pipe: every work, one plain row each
        sys.stdout.write("work_id\ttitle\tkind\trights_holder\twords\tpassages\tsource\n")
        for r in records:
            cells = (r.work_id, r.title, r.kind, r.rights_holder or "", r.n_tokens, r.n_passages, r.source)
            sys.stdout.write("\t".join(str(c).replace("\t", " ").replace("\n", " ") for c in cells) + "\n")
        return
    shown = records if not limit else records[:limit]
    table = Table(title=f"{_plural(len(records), 'work')} in {escape(str(index))}")
    rights = any(r.rights_holder for r in shown)  # a column only where a catalog named rights holders
    table.add_column("ID", no_wrap=True)
    for column in ("Title", "Kind", *(["Rights holder"] if rights else []), "Words", "Passages", "Source"):
        table.add_column(column, overflow="fold")
    for r in shown:
        table.add_row(
            str(r.work_id),
            escape(r.title),
            r.kind,
            *([escape(r.rights_holder or "")] if rights else []),
            str(r.n_tokens),
            str(r.n_passages),
            escape(_display_path(r.source)),
        )
    out.print(table)
    if len(shown) < len(records):
        err.print(f"showing {len(shown)} of {_plural(len(records), 'work')}; --limit 0 shows all, --json streams them")


@app.command()
def consent(
    url: Annotated[str, typer.Argument(help="The web page to check.")],
    as_json: Annotated[bool, typer.Option("--json", help="The whole report with its raw evidence, as JSON.")] = False,
    allow_private: Annotated[
        bool,
        typer.Option("--allow-private", help="Allow fetching from private, loopback and link-local addresses."),
    ] = False,
    verbose: VerboseOption = False,
) -> None:
    """Show the machine-readable rights reservations of a web page, without indexing it."""
    from connectors import Fetcher, check_consent  # noqa: PLC0415 - loaded by the commands that use it

    with _errors(verbose):
        report = check_consent(url, Fetcher(allow_private=allow_private))
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    out.print(f"[bold]{report.status}[/]: {report.summary}", markup=True)
    for reason in report.reasons:
        out.print(f"  - {reason}")
    for note in report.notes:
        out.print(f"  note: {note}")


@app.command()
def audits(
    index: IndexOption = Path(DEFAULT_INDEX),
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per run per line.")] = False,
    verbose: VerboseOption = False,
) -> None:
    """List the stored audit runs, newest first (runs waiting in INDEX.pending/ are marked pending)."""
    from provenance.runs import list_runs, open_index, sync_pending  # noqa: PLC0415 - loaded when used

    with _errors(verbose):
        sync_pending(index)
        with open_index(index, read_only=True) as store:
            runs = list_runs(store)
    if as_json:
        for r in runs:
            row = {
                "audit_id": r.audit_id,
                "kind": r.kind,
                "engine": r.engine,
                "state": r.state,
                "invocations": r.invocations,
                "started_at": r.started_at.isoformat(),
                "finished_at": r.finished_at.isoformat(),
                "inputs": r.inputs,
                "texts_scanned": r.texts_scanned,
                "texts_matched": r.texts_matched,
                "matches": r.matches,
                "works_matched": r.works_matched,
                "inputs_failed": r.inputs_failed,
                "arguments": list(r.arguments),
                "manifest_sha256": r.manifest_sha256,
                "pending": r.pending,
            }
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    if not runs:
        out.print(f"No audit runs in {escape(str(index))} yet.")
        return
    if not out.is_terminal:  # a pipe: plain tab-separated rows that never wrap (or --json)
        sys.stdout.write("audit_id\tkind\tstate\tstarted_utc\ttexts\tmatches\tworks\tfailed\tinputs\n")
        for r in runs:
            cells = (
                r.audit_id,
                r.kind,
                "pending" if r.pending else r.state,
                f"{r.started_at:%Y-%m-%dT%H:%M:%S}",
                r.texts_scanned,
                r.matches,
            )
            rest = (r.works_matched, r.inputs_failed, " ".join(r.arguments))
            sys.stdout.write("\t".join(str(c) for c in (*cells, *rest)) + "\n")
        return
    table = Table(title=f"{_plural(len(runs), 'audit run')} in {escape(str(index))}")
    for column in ("Audit", "Kind", "State", "Started (UTC)"):
        table.add_column(column, no_wrap=True)
    for column in ("Texts", "Matches", "Works", "Failed"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("Inputs", overflow="fold")
    for r in runs:
        shown: str = "pending" if r.pending else r.state
        if r.invocations > 1:
            shown += f" (resumed {r.invocations - 1}x)"
        table.add_row(
            r.audit_id,
            r.kind if r.kind == "texts" else f"{r.kind} ({r.engine})",
            shown,
            f"{r.started_at:%Y-%m-%d %H:%M}",
            str(r.texts_scanned),
            str(r.matches),
            str(r.works_matched),
            str(r.inputs_failed),
            escape(", ".join(_display_path(a) for a in r.arguments)),
        )
    out.print(table)


@app.command()
def report(
    audit_id: Annotated[
        str | None, typer.Argument(help="Audit id, or a unique prefix of one (default: the latest run).")
    ] = None,
    index: IndexOption = Path(DEFAULT_INDEX),
    fmt: Annotated[
        ReportFormat | None,
        typer.Option(
            "--format",
            "-f",
            help="html (one self-contained page), md, json, csv (one row per match), or manifest. "
            "Default: from the suffix of -o, else html.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file (default: stdout).")] = None,
    by: Annotated[
        Grouping | None,
        typer.Option("--by", help="rights-holder: one part per rights holder (works, matches, consent, digest)."),
    ] = None,
    rights_holder: Annotated[
        str | None,
        typer.Option(
            "--rights-holder",
            help="Only this rights holder's works and matches (exact name; '(no rights holder)' for works without).",
        ),
    ] = None,
    verbose: VerboseOption = False,
) -> None:
    """Write the report of a stored audit run: matches side by side, scores, sources, consent, manifest digest."""
    from provenance.probe import load_probe  # noqa: PLC0415 - loaded when used
    from provenance.report import format_for, render, write_report  # noqa: PLC0415 - loaded when used
    from provenance.runs import load_run, open_index, sync_pending  # noqa: PLC0415

    if output is not None:
        _refuse_clobber(output, index, [])
    chosen = format_for(output, fmt.value if fmt else None)
    if chosen == "manifest" and (by or rights_holder is not None):
        _fail("the manifest is the whole run's: write it without --by and --rights-holder", ExitCode.USAGE)
    with _errors(verbose):
        sync_pending(index)
        with open_index(index, read_only=True) as store:
            run = load_run(store, audit_id)
            details = load_probe(store, run) if run.kind == "probe" else None
        try:
            if output is None:
                sys.stdout.write(render(run, chosen, by=by, rights_holder=rights_holder, probe=details))
                return
            write_report(run, chosen, output, by=by, rights_holder=rights_holder, probe=details)
        except RightsHolderNotFoundError as exc:  # printed as text: holder names may look like console markup
            err.print(Text.assemble(("error:", "bold red"), f" {exc}"), highlight=False)
            raise typer.Exit(int(exc.exit_code)) from None
    err.print(f"wrote {output} ({chosen}) for audit {run.audit_id}", markup=False)


@app.command()
def verify(
    manifest: Annotated[Path, typer.Argument(help="A manifest file (`provenance report ID --format manifest`).")],
    index: Annotated[
        Path | None,
        typer.Option(
            "--index",
            "-i",
            envvar="PROVENANCE_INDEX",
            help="Index to check against. Default: $PROVENANCE_INDEX, else the index the manifest names.",
            show_default=False,
        ),
    ] = None,
    verbose: VerboseOption = False,
) -> None:
    """Check an audit manifest against the files and the index: OK, or exactly what changed (exit 5)."""
    from provenance.verify import verify_manifest  # noqa: PLC0415 - loaded by the commands that use it

    with _errors(verbose):
        result = verify_manifest(manifest, index)
    _print_verification(result)
    if not result.ok:
        raise typer.Exit(int(ExitCode.VERIFY_FAILED))


def _print_verification(result: Verification) -> None:
    if result.ok:
        out.print(f"[bold green]OK[/]: audit {result.audit_id} verified against {result.index}", markup=True)
    else:
        out.print(
            f"[bold red]CHANGED[/]: audit {result.audit_id}: {_plural(len(result.problems), 'problem')} "
            f"(checked against {result.index})",
            markup=True,
        )
    for problem in result.problems:
        out.print(f"  [red]changed[/] {problem}", markup=True, highlight=False)
    for line in result.confirmed:
        out.print(f"  ok      {line}", markup=False)
    for note in result.notes:
        out.print(f"  note    {note}", markup=False)


@app.command()
def sql(
    query: Annotated[
        str | None,
        typer.Argument(help="One SELECT over the views (works, passages, consent, audits, audit_inputs, matches)."),
    ] = None,
    index: IndexOption = Path(DEFAULT_INDEX),
    fmt: Annotated[SqlFormat, typer.Option("--format", "-f", help="table, csv, json (a list of objects) or jsonl.")] = (
        SqlFormat.table
    ),
    limit: Annotated[int, typer.Option(min=0, help="Rows to print at most; 0 prints all.")] = DEFAULT_LIMIT,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds a query may run before it is stopped.")] = 60.0,
    verbose: VerboseOption = False,
) -> None:
    """Run read-only SQL against the index; without a query, print the views and their columns.

    Statements that write (INSERT, COPY, ATTACH, SET ...) are refused, and a query reaches the index only:
    no files, URLs or extensions, at most 2 GB of memory and --timeout seconds. Any DuckDB client can
    read the same views as research.NAME in the index file.
    """
    from provenance.runs import open_index  # noqa: PLC0415 - loaded by the commands that use it
    from provenance.sql import format_result, run_query  # noqa: PLC0415

    with _errors(verbose), open_index(index, read_only=True) as store:
        if query is None:
            _print_views(store)
            return
        result = run_query(store, query, limit=limit or None, timeout_s=timeout)
    if fmt is SqlFormat.table:
        _print_result(result)
    else:
        sys.stdout.write(format_result(result, fmt.value))
    if result.truncated:
        err.print(f"showing the first {_plural(limit, 'row')}; --limit 0 prints all")


def _print_views(store: IndexStore) -> None:
    from provenance.sql import views  # noqa: PLC0415 - loaded by the commands that use it

    for view in views(store):
        table = Table(title=f"research.{view.name}: {view.comment}", title_justify="left")
        for column in ("Column", "Type", "Meaning"):
            table.add_column(column, overflow="fold")
        for c in view.columns:
            table.add_row(c.name, c.type, c.comment)
        out.print(table)


def _print_result(result: QueryResult) -> None:
    table = Table(show_lines=False)
    for name in result.columns:
        table.add_column(name, overflow="fold")
    for row in result.rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    out.print(table)
    err.print(_plural(len(result.rows), "row"))


@app.command()
def export(
    directory: Annotated[Path, typer.Argument(help="Folder to write VIEW.parquet files and schema.json into.")],
    index: IndexOption = Path(DEFAULT_INDEX),
    verbose: VerboseOption = False,
) -> None:
    """Write the views (works, passages, consent, audits, audit_inputs, matches) as Parquet files."""
    from provenance.runs import open_index, sync_pending  # noqa: PLC0415 - loaded when used
    from provenance.sql import export_views  # noqa: PLC0415

    with _errors(verbose):
        sync_pending(index)
        with open_index(index, read_only=True) as store:
            written = export_views(store, directory)
    for item in written:
        out.print(f"{item.path}  {_plural(item.rows, 'row')}", markup=False)


@app.command()
def remove(
    index: IndexOption = Path(DEFAULT_INDEX),
    work: Annotated[list[int] | None, typer.Option("--work", help="A work id to take down (repeatable).")] = None,
    creator: Annotated[str | None, typer.Option(help="Take down every work of this creator.")] = None,
    rights_holder: Annotated[str | None, typer.Option(help="Take down every work of this rights holder.")] = None,
    source_prefix: Annotated[
        str | None, typer.Option(help="Take down every work whose source starts with this (a site, a folder).")
    ] = None,
    verbose: VerboseOption = False,
) -> None:
    """Take works down: remove them, their fingerprints and their scan matches, in one transaction.

    Criteria given together must all hold. Stored audit runs keep what they recorded.
    """
    from indexes import IndexStore  # noqa: PLC0415 - loaded by the commands that use it
    from indexes.maintenance import remove_works  # noqa: PLC0415

    if not (work or creator or rights_holder or source_prefix):
        _fail("say which works: --work, --creator, --rights-holder or --source-prefix", ExitCode.USAGE)
    with _errors(verbose), IndexStore.open(index, tool_version=__version__) as store:
        removed = remove_works(
            store, work_ids=work, creator=creator, rights_holder=rights_holder, source_prefix=source_prefix
        )
        left = store.state().works
    err.print(f"removed {_plural(removed, 'work')}; {_plural(left, 'work')} left in {index}")


@app.command()
def compact(
    index: IndexOption = Path(DEFAULT_INDEX),
    rewrite: Annotated[
        bool, typer.Option("--rewrite", help="Copy the index into a fresh file, giving freed space back to the disk.")
    ] = False,
    verbose: VerboseOption = False,
) -> None:
    """Rebuild the key tables sorted by key (faster lookups) and reclaim space."""
    from indexes import IndexStore  # noqa: PLC0415 - loaded by the commands that use it
    from indexes.maintenance import compact as compact_index  # noqa: PLC0415

    with _errors(verbose), IndexStore.open(index, tool_version=__version__) as store:
        done = compact_index(store, rewrite=rewrite)
    mib = 1024 * 1024
    err.print(
        f"compacted in {done.seconds:.1f} s: file {done.file_bytes_before / mib:.1f} -> "
        f"{done.file_bytes_after / mib:.1f} MiB, in use {done.used_bytes_before / mib:.1f} -> "
        f"{done.used_bytes_after / mib:.1f} MiB"
    )


def main() -> None:
    """Console-script entry point."""
    app()
