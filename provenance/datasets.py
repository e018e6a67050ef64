"""Datasets as scanned inputs: Parquet, Arrow, JSON Lines and CSV shards, streamed record by record.

A dataset is one file, a folder (walked recursively, hidden entries skipped, so a downloaded Hugging
Face dataset such as ``data/train-00000-of-00002.parquet`` or ``*.jsonl.gz`` shards reads as is) or
a glob. Each file is a *shard*: the unit a scan records as done, so an interrupted scan resumes.

Every record becomes a ``ScanItem`` named ``PATH#RECORD_ID``: the value of ``id_field``, else the
record's row number in its shard (0-based, counting every record, bad ones included; blank JSON Lines
lines are not records). A bad record (invalid JSON or UTF-8, a missing field, a value that is not
text, a record over ``max_record_bytes``) becomes an ``InputFailure`` naming ``PATH:LINE`` (JSON
Lines, CSV) or ``PATH#ROW`` (Parquet, Arrow), and reading goes on. A shard that cannot be read on
(missing, not Parquet, truncated ``.gz``, no such column) ends with a ``ShardFailure``.

Memory is bounded per shard: line formats hold one read chunk (``chunk_bytes``, of the decompressed
stream) plus one record of at most ``max_record_bytes``; longer lines are skipped as they stream by,
never held whole. Columnar formats hold one record batch of at most ``batch_rows`` rows (Arrow
buffers, plus its texts as Python strings; a value over the limit is in that batch once, as the
Parquet page holding it must be decoded, but it is never converted or handed on). Compressed shards
(``.gz``, ``.zst``) are decompressed as a stream with pyarrow's ``CompressedInputStream`` (zlib and
zstd are built into pyarrow: no extra dependency).

``read_lines`` and ``read_columns`` apply the same rules to lines and values read elsewhere (the Spark
engine, ``provenance.spark``), so both engines name, check and report every record alike.
"""

from __future__ import annotations

import csv
import glob
import itertools
import json
import os
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from connectors import sha256_hex
from provenance.inputs import InputFailure, ScanItem

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

Format = Literal["parquet", "arrow", "jsonl", "csv", "tsv"]
Compression = Literal["gzip", "zstd"]
# A batch of a columnar shard's records: row numbers, texts, their sizes in bytes, record ids (or None).
Columns = tuple["Sequence[int]", "Sequence[Any]", "Sequence[int | None]", "Sequence[Any] | None"]

FORMATS: dict[str, Format] = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".arrow": "arrow",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",  # Hugging Face's JSON shards are JSON Lines; a JSON array is reported as such
    ".csv": "csv",
    ".tsv": "tsv",
}
COMPRESSIONS: dict[str, Compression] = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd"}
# Files a dataset folder may hold besides its shards (a Hugging Face download's card and metadata).
_DATASET_EXTRAS = frozenset({".md", ".gitattributes", ".lock", ".py", ".yaml", ".yml", ".png", ".jpg", ".license", ""})
_DATASET_METADATA = frozenset({"dataset_info.json", "dataset_dict.json", "state.json", "dataset_infos.json"})
_GLOB_CHARS = frozenset("*?[")
KIB = 1 << 10
MIB = 1 << 20
# A shard whose first records all lack the text field was read with the wrong --field: one failure for
# the shard says so, instead of one per record.
GIVE_UP_AFTER = 100


@dataclass(frozen=True)
class DatasetOptions:
    """How dataset records are read.

    ``field`` holds the text and ``id_field`` the record id (default: the row number in the shard).
    ``format`` overrides the format told by the file name. Records over ``max_record_bytes`` (UTF-8
    bytes of the line, CSV record or value) are reported and skipped. ``batch_rows`` bounds a Parquet
    or Arrow record batch; ``chunk_bytes`` is the read size of the line formats.
    """

    field: str = "text"
    id_field: str | None = None
    format: Format | None = None
    max_record_bytes: int = 16 * MIB
    batch_rows: int = 256
    chunk_bytes: int = MIB


@dataclass(frozen=True)
class Shard:
    """One dataset file. ``size`` is on disk (compressed), ``mtime_ns`` tells a changed file on resume."""

    path: str
    format: Format
    compression: Compression | None
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class ShardPart:
    """Row groups ``[first, end)`` of a Parquet shard: a unit of work, so that workers finish together.

    ``rows_before`` are the shard's rows before the part (record numbers stay the shard's); ``size``
    is the part's share of the shard's bytes on disk, for progress; ``last`` marks the shard's last part.
    """

    first: int
    end: int
    rows_before: int
    size: int
    last: bool


def split_shard(shard: Shard, part_bytes: int) -> list[ShardPart] | None:
    """Consecutive row groups of about ``part_bytes`` each, for a Parquet shard larger than that; else ``None``.

    A shard that cannot be opened here is left whole (reading it reports why).
    """
    if shard.format != "parquet" or shard.size <= part_bytes:
        return None
    try:
        meta = pq.ParquetFile(shard.path).metadata
    except (OSError, pa.ArrowException):
        return None
    groups = [
        (meta.row_group(i).num_rows, max(1, meta.row_group(i).total_byte_size)) for i in range(meta.num_row_groups)
    ]
    total = sum(size for _, size in groups)
    share = max(1, part_bytes * total // shard.size)  # part_bytes on disk, in uncompressed bytes
    bounds = [0]
    held = 0
    for i, (_, size) in enumerate(groups):
        held += size
        if held >= share and i + 1 < len(groups):
            bounds.append(i + 1)
            held = 0
    bounds.append(len(groups))
    if len(bounds) < 3:  # noqa: PLR2004 - one part: read it whole
        return None
    parts = []
    rows_before = 0
    for first, end in itertools.pairwise(bounds):
        size = sum(s for _, s in groups[first:end])
        parts.append(ShardPart(first, end, rows_before, shard.size * size // total, last=end == len(groups)))
        rows_before += sum(rows for rows, _ in groups[first:end])
    return parts


@dataclass(frozen=True)
class ShardFailure(InputFailure):
    """The rest of a shard cannot be read (records before the failure were handed on)."""


@dataclass
class ReadProgress:
    """Counters a reader advances as it goes; a CLI polls them to show progress by bytes and records.

    ``bytes_read`` counts shard bytes as stored (compressed bytes of ``.gz`` and ``.zst`` files, so it
    runs up to the sum of ``Shard.size``; Parquet and Arrow advance it in proportion to rows read).
    ``records`` counts every record, good or bad; ``empty`` the blank texts skipped without failure;
    ``text_bytes`` the UTF-8 bytes of the texts handed on.
    """

    bytes_read: int = 0
    records: int = 0
    failures: int = 0
    empty: int = 0
    text_bytes: int = 0
    shards: int = 0


# -- finding shards -------------------------------------------------------------------------------


def dataset_format(path: str | Path, override: Format | None = None) -> tuple[Format, Compression | None] | None:
    """The format and compression a file name tells (``train.jsonl.zst``), or ``None`` if not a dataset file."""
    name = Path(path).name.lower()
    suffix = Path(name).suffix
    compression = COMPRESSIONS.get(suffix)
    if compression is not None:
        name = name[: -len(suffix)]
        suffix = Path(name).suffix
    fmt = override or FORMATS.get(suffix)
    if fmt is None or (compression is not None and fmt in {"parquet", "arrow"}):
        return None
    return fmt, compression


def looks_like_dataset(source: str) -> bool:
    """Whether ``source`` should be read as a dataset: a glob, a dataset file, or a folder of nothing else.

    A folder counts when it holds at least one shard and otherwise only what a Hugging Face download
    carries (a card, ``.gitattributes``, ``dataset_info.json``); a folder of ``.txt`` files does not.
    """
    if _is_glob(source) and not Path(source).exists():
        return True
    path = Path(source)
    if path.is_file():
        return dataset_format(path) is not None
    if not path.is_dir():
        return False
    shards = 0
    for file in _walk(path):
        if dataset_format(file) is not None and file.name not in _DATASET_METADATA:
            shards += 1
        elif file.suffix.lower() not in _DATASET_EXTRAS and file.name not in _DATASET_METADATA:
            return False
    return shards > 0


def find_shards(sources: Iterable[str], options: DatasetOptions | None = None) -> Iterator[Shard | InputFailure]:
    """Every shard named by ``sources`` (files, folders, globs), in sorted order, each once.

    A named file in an unknown format is a failure; files of other kinds inside folders and globs are
    passed over (a dataset card, ``.gitattributes``).
    """
    options = options or DatasetOptions()
    seen: set[str] = set()
    for source in sources:
        if _is_glob(source) and not Path(source).exists():
            matches = sorted(glob.glob(source, recursive=True))  # noqa: PTH207 - glob patterns with **, absolute or not
            if not matches:
                yield InputFailure(source, "no files match this pattern")
            candidates = [(Path(m), False) for m in matches]
        else:
            candidates = [(Path(source), True)]
        for path, named in candidates:
            for found in _shards_at(path, named=named, options=options):
                if isinstance(found, Shard):
                    key = os.path.realpath(found.path)
                    if key in seen:
                        continue
                    seen.add(key)
                yield found


def listed_shard(path: str, size: int, mtime_ns: int, options: DatasetOptions | None = None) -> Shard | None:
    """A file listed elsewhere (by Spark, under a URL) as a shard, or ``None`` if a folder's walk passes it over."""
    if dataset_format(path) is None or path.rstrip("/").rsplit("/", 1)[-1] in _DATASET_METADATA:
        return None
    told = dataset_format(path, (options or DatasetOptions()).format)
    if told is None:
        return None
    return Shard(path=path, format=told[0], compression=told[1], size=size, mtime_ns=mtime_ns)


def _shards_at(path: Path, *, named: bool, options: DatasetOptions) -> Iterator[Shard | InputFailure]:
    if path.is_dir():
        found = False
        for file in _walk(path):
            if file.name in _DATASET_METADATA or dataset_format(file, None) is None:
                continue
            shard = _shard(file, options)
            found = found or isinstance(shard, Shard)
            yield shard
        if not found and named:
            yield InputFailure(str(path), "no dataset files here (.parquet, .arrow, .jsonl, .json, .csv, .tsv)")
        return
    if not path.exists():
        yield InputFailure(str(path), "no such file or folder")
        return
    if named or dataset_format(path) is not None:
        yield _shard(path, options)


def _shard(path: Path, options: DatasetOptions) -> Shard | InputFailure:
    told = dataset_format(path, options.format)
    if told is None:
        return InputFailure(
            str(path),
            "not a dataset file: expected .parquet, .arrow, .jsonl, .json, .csv or .tsv, "
            "the line formats optionally .gz or .zst",
        )
    try:
        stat = path.stat()
    except OSError as exc:
        return InputFailure(str(path), f"cannot read: {exc.strerror or exc}")
    return Shard(
        path=os.path.abspath(path),  # noqa: PTH100 - absolute without resolving symlinks (Hugging Face cache)
        format=told[0],
        compression=told[1],
        size=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
    )


def _walk(folder: Path) -> Iterator[Path]:
    """Files below ``folder`` in sorted order, hidden files and folders skipped (``.cache``, ``.git``)."""
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") or name == ".gitattributes":
                yield Path(root) / name


def _is_glob(source: str) -> bool:
    return any(c in _GLOB_CHARS for c in source)


# -- reading records ------------------------------------------------------------------------------


def read_datasets(
    sources: Iterable[str], options: DatasetOptions | None = None, progress: ReadProgress | None = None
) -> Iterator[ScanItem | InputFailure]:
    """Every record of every shard named by ``sources``, failures in their place, in order."""
    options = options or DatasetOptions()
    for found in find_shards(sources, options):
        if isinstance(found, InputFailure):
            if progress is not None:
                progress.failures += 1
            yield found
            continue
        yield from read_shard(found, options, progress)


def read_shard(
    shard: Shard,
    options: DatasetOptions | None = None,
    progress: ReadProgress | None = None,
    *,
    part: ShardPart | None = None,
) -> Iterator[ScanItem | InputFailure]:
    """The records of one shard as ``ScanItem``, bad records as ``InputFailure``, a fatal error last.

    With ``part``, only that part of a Parquet shard (record numbers are still the shard's).
    """
    options = options or DatasetOptions()
    progress = progress if progress is not None else ReadProgress()
    start = progress.bytes_read
    readers: dict[str, Callable[[Shard, DatasetOptions, ReadProgress], Iterator[ScanItem | InputFailure]]] = {
        "parquet": partial(_read_parquet, part=part),
        "arrow": _read_arrow,
        "jsonl": _read_jsonl,
        "csv": _read_csv,
        "tsv": _read_csv,
    }
    try:
        yield from _counted(readers[shard.format](shard, options, progress), progress)
    finally:
        progress.bytes_read = start + (shard.size if part is None else part.size)
        progress.shards += int(part is None or part.last)


def read_lines(
    shard: Shard, lines: Iterable[Line], options: DatasetOptions, progress: ReadProgress
) -> Iterator[ScanItem | InputFailure]:
    """The records of a JSON Lines or CSV shard whose physical lines are read elsewhere (by Spark), in order.

    ``lines`` must be every line of the shard from the first, numbered from 1, each with its terminator
    (a line over the record limit as ``Line(number, None, size, quotes)``): records are then named,
    checked and reported exactly as ``read_shard`` does.
    """
    readers = {"jsonl": _jsonl_items, "csv": _csv_items, "tsv": _csv_items}
    if shard.format not in readers:
        raise ValueError(f"{shard.path}: {shard.format} is not a line format")
    return _counted(readers[shard.format](shard, lines, options, progress), progress)


def read_columns(
    shard: Shard, batches: Iterable[Columns], options: DatasetOptions, progress: ReadProgress
) -> Iterator[ScanItem | InputFailure]:
    """The records of a columnar shard whose values are read elsewhere (by Spark), as ``read_shard`` names them.

    Each batch holds row numbers, texts (``str``, ``bytes`` or other values, which are reported), their
    sizes in bytes, and record ids (``None`` without ``id_field``); a text over the record limit comes as
    ``None`` with its size, so it is never converted.
    """
    return _counted(_column_items(shard, batches, options, progress), progress)


def _counted(items: Iterable[ScanItem | InputFailure], progress: ReadProgress) -> Iterator[ScanItem | InputFailure]:
    """Items passed on, failures and text bytes counted."""
    for item in items:
        if isinstance(item, InputFailure):
            progress.failures += 1
        else:
            progress.text_bytes += len(item.text.encode("utf-8")) if not item.text.isascii() else len(item.text)
        yield item


def _fatal(path: str, exc: BaseException) -> ShardFailure:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        reason = exc.strerror
    return ShardFailure(path, f"cannot read on: {reason}")


class _Extract:
    """Turns a record's values into a ``ScanItem`` or the reason it cannot be audited."""

    def __init__(self, shard: Shard, options: DatasetOptions, progress: ReadProgress) -> None:
        self.shard = shard
        self.options = options
        self.progress = progress
        self.seen_field = False
        self.missing = 0

    def item(  # noqa: PLR0911 - one return per way a record can be bad
        self,
        where: str,
        row: int,
        text: Any,  # noqa: ANN401 - a value straight from JSON, CSV or Arrow
        record_id: Any,  # noqa: ANN401 - same
        raw: bytes | None,
    ) -> ScanItem | InputFailure | None:
        """The record as a ``ScanItem``; ``None`` for a blank text (counted, not a failure)."""
        opts = self.options
        self.progress.records += 1
        if text is _MISSING:
            self.missing += 1
            if not self.seen_field and self.missing >= GIVE_UP_AFTER:
                return ShardFailure(
                    self.shard.path,
                    f"none of the first {self.missing} records has the field {opts.field!r}; check --field",
                )
            return InputFailure(where, f"field {opts.field!r} is missing")
        self.seen_field = True
        if text is None:
            return InputFailure(where, f"field {opts.field!r} is null")
        if isinstance(text, (bytes, bytearray)):
            try:
                text = bytes(text).decode("utf-8")
            except UnicodeDecodeError:
                return InputFailure(where, f"field {opts.field!r} is not valid UTF-8")
        if not isinstance(text, str):
            return InputFailure(where, f"field {opts.field!r} is not text ({type(text).__name__})")
        if opts.id_field is None:
            rid = str(row)
        elif record_id is _MISSING or record_id is None or isinstance(record_id, (dict, list, bytes)):
            state = "missing" if record_id is _MISSING else "null" if record_id is None else "not a scalar"
            return InputFailure(where, f"id field {opts.id_field!r} is {state}")
        else:
            rid = str(record_id)
        if not text.strip():
            self.progress.empty += 1
            return None
        digest = sha256_hex(raw if raw is not None else text.encode("utf-8"))
        return ScanItem(text=text, scanned=f"{self.shard.path}#{rid}", sha256=digest, record_id=rid)


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


# -- line formats: JSON Lines and CSV ---------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One physical line with its terminator; ``data`` is ``None`` for a line over the limit, not kept."""

    number: int
    data: bytes | None
    size: int
    quotes: int = 0  # quote characters of a dropped line, so CSV keeps its quoting state across it


class _Stream:
    """A shard opened for streaming: decompressed bytes, and the on-disk position for progress."""

    def __init__(self, shard: Shard) -> None:
        self.raw = pa.OSFile(shard.path, "rb")
        self.stream = pa.CompressedInputStream(self.raw, shard.compression) if shard.compression else self.raw

    def read(self, n: int) -> bytes:
        return bytes(self.stream.read(n))

    def position(self) -> int:
        return int(self.raw.tell())

    def close(self) -> None:
        self.stream.close()
        self.raw.close()


def _lines(shard: Shard, options: DatasetOptions, progress: ReadProgress) -> Iterator[Line]:
    """Physical lines of a shard in bounded memory: one chunk plus one line of at most the record limit."""
    limit = options.max_record_bytes
    start = progress.bytes_read
    stream = _Stream(shard)
    try:
        number = 0
        parts: list[bytes] = []
        held = 0
        dropped = -1  # bytes of the current line skipped so far; -1 while the line is kept
        quotes = 0
        while True:
            data = stream.read(options.chunk_bytes)
            progress.bytes_read = start + stream.position()
            if not data:
                break
            at = 0
            while at < len(data):
                nl = data.find(b"\n", at)
                end = len(data) if nl < 0 else nl + 1
                piece = data[at:end]
                at = end
                if dropped < 0 and held + len(piece) > limit:
                    dropped = held
                    quotes = sum(p.count(b'"') for p in parts)
                    parts, held = [], 0
                if dropped >= 0:
                    dropped += len(piece)
                    quotes += piece.count(b'"')
                else:
                    parts.append(piece)
                    held += len(piece)
                if nl >= 0:
                    number += 1
                    if dropped >= 0:
                        yield Line(number, None, dropped, quotes)
                    else:
                        yield Line(number, b"".join(parts), held)
                    parts, held, dropped, quotes = [], 0, -1, 0
        if parts or dropped >= 0:
            number += 1
            yield Line(number, None, dropped, quotes) if dropped >= 0 else Line(number, b"".join(parts), held)
    finally:
        stream.close()


def _too_large(size: int, options: DatasetOptions) -> str:
    return f"record of {_bytes(size)} is over the limit of {_bytes(options.max_record_bytes)}; skipped"


def _bytes(n: int) -> str:
    if n >= MIB:
        return f"{n / MIB:.1f} MiB"
    return f"{n / KIB:.1f} KiB" if n >= KIB else f"{n} bytes"


def _read_jsonl(shard: Shard, options: DatasetOptions, progress: ReadProgress) -> Iterator[ScanItem | InputFailure]:
    return _jsonl_items(shard, _lines(shard, options, progress), options, progress)


def _jsonl_items(
    shard: Shard, lines: Iterable[Line], options: DatasetOptions, progress: ReadProgress
) -> Iterator[ScanItem | InputFailure]:
    extract = _Extract(shard, options, progress)
    row = 0
    number = 0
    try:
        for line in lines:
            number = line.number
            where = f"{shard.path}:{line.number}"
            if line.data is None:
                progress.records += 1
                row += 1
                yield InputFailure(where, _too_large(line.size, options))
                continue
            raw = line.data.rstrip(b"\r\n")
            if not raw.strip():
                continue
            if row == 0 and raw.lstrip().startswith(b"["):
                yield ShardFailure(shard.path, "a JSON array, not JSON Lines (one object per line): convert it first")
                return
            # named by its line number, as `provenance audit FILE.jsonl` names it (README: record ids)
            item = _jsonl_record(raw, where, line.number, extract, first=line.number == 1)
            row += 1
            if item is not None:
                yield item
                if isinstance(item, ShardFailure):
                    return
    except (OSError, pa.ArrowException) as exc:
        yield _fatal(f"{shard.path}:{number + 1}", exc)


def _jsonl_record(
    raw: bytes, where: str, row: int, extract: _Extract, *, first: bool
) -> ScanItem | InputFailure | None:
    try:
        record = json.loads(raw.decode("utf-8-sig" if first else "utf-8"))
    except UnicodeDecodeError:
        extract.progress.records += 1
        return InputFailure(where, "line is not valid UTF-8")
    except json.JSONDecodeError as exc:
        extract.progress.records += 1
        return InputFailure(where, f"invalid JSON ({exc.msg})")
    if not isinstance(record, dict):
        extract.progress.records += 1
        return InputFailure(where, f"record is not a JSON object ({type(record).__name__})")
    opts = extract.options
    rid = record.get(opts.id_field, _MISSING) if opts.id_field is not None else None
    return extract.item(where, row, record.get(opts.field, _MISSING), rid, raw)


def _quoting_after(line: str, in_quotes: bool, delimiter: str) -> bool:
    """Whether a CSV record is still inside a quoted field after ``line`` (Python's csv, default dialect).

    A field that starts with a quote runs to the next lone quote (``""`` is an escaped quote); quotes
    elsewhere are literal characters. ``str.find`` keeps this at C speed, one step per field.
    """
    at = 0
    n = len(line)
    while True:
        if in_quotes:
            q = line.find('"', at)
            while 0 <= q < n - 1 and line[q + 1] == '"':
                q = line.find('"', q + 2)
            if q < 0:
                return True
            in_quotes = False
            at = q + 1
        elif at < n and line[at] == '"':
            in_quotes = True
            at += 1
            continue
        comma = line.find(delimiter, at)
        if comma < 0:
            return False
        at = comma + 1


@dataclass(frozen=True)
class _CsvRecord:
    """The physical lines of one CSV record (quoted fields may span lines), or why they were not kept."""

    first: int  # line number where the record starts
    lines: list[str]
    raw: bytes
    size: int
    problem: str = ""  # "too large", "not UTF-8" or "unclosed"; the lines are then not kept


def _csv_records(physical: Iterable[Line], options: DatasetOptions, delimiter: str) -> Iterator[_CsvRecord]:
    """Records of a CSV shard in bounded memory: a record over the limit is dropped as it streams by."""
    lines: list[str] = []
    raw: list[bytes] = []
    size = first = 0
    in_quotes = False
    problem = ""
    for line in physical:
        if not lines and not problem:
            first = line.number
        size += line.size
        if line.data is None:
            problem = "too large"
            in_quotes ^= line.quotes % 2 == 1
        else:
            try:
                text = line.data.decode("utf-8-sig" if line.number == 1 else "utf-8")
            except UnicodeDecodeError:
                problem = problem or "not UTF-8"
                text = line.data.decode("utf-8", errors="replace")
            in_quotes = _quoting_after(text, in_quotes, delimiter)
            if size > options.max_record_bytes:
                problem = "too large"
            if not problem:
                lines.append(text)
                raw.append(line.data)
        if problem:
            lines, raw = [], []
        if not in_quotes:
            yield _CsvRecord(first, lines, b"".join(raw), size, problem)
            lines, raw, size, problem = [], [], 0, ""
    if lines or problem:
        yield _CsvRecord(first, [], b"", size, "unclosed")


def _read_csv(shard: Shard, options: DatasetOptions, progress: ReadProgress) -> Iterator[ScanItem | InputFailure]:
    return _csv_items(shard, _lines(shard, options, progress), options, progress)


def _csv_items(
    shard: Shard, lines: Iterable[Line], options: DatasetOptions, progress: ReadProgress
) -> Iterator[ScanItem | InputFailure]:
    """CSV (TSV) records; the first record is the header naming the columns."""
    delimiter = "\t" if shard.format == "tsv" else ","
    csv.field_size_limit(min(max(csv.field_size_limit(), options.max_record_bytes), sys.maxsize))
    extract = _Extract(shard, options, progress)
    header: list[str] | None = None
    columns: tuple[int, int | None] = (0, None)
    row = 0
    at = 1
    try:
        for record in _csv_records(lines, options, delimiter):
            at = record.first
            where = f"{shard.path}:{record.first}"
            if not record.problem and not "".join(record.lines).strip():
                continue
            if header is None:
                found = _csv_header(record, options, delimiter)
                if isinstance(found, str):
                    yield ShardFailure(where, found)
                    return
                header, columns = found
                continue
            row += 1
            values = _csv_values(record, options, delimiter, len(header))
            if isinstance(values, str):
                progress.records += 1
                yield InputFailure(where, values)
                continue
            text_at, id_at = columns
            item = extract.item(where, row - 1, values[text_at], None if id_at is None else values[id_at], record.raw)
            if item is not None:
                yield item
                if isinstance(item, ShardFailure):
                    return
    except (OSError, pa.ArrowException) as exc:
        yield _fatal(f"{shard.path}:{at}", exc)


def _csv_header(
    record: _CsvRecord, options: DatasetOptions, delimiter: str
) -> tuple[list[str], tuple[int, int | None]] | str:
    if record.problem:
        return f"the header is unreadable ({record.problem})"
    header = next(csv.reader(record.lines, delimiter=delimiter))
    found = _csv_columns(header, options)
    return found if isinstance(found, str) else (header, found)


def _csv_values(record: _CsvRecord, options: DatasetOptions, delimiter: str, width: int) -> list[str] | str:
    """A record's fields, or why it cannot be read."""
    if record.problem == "too large":
        return _too_large(record.size, options)
    if record.problem == "not UTF-8":
        return "record is not valid UTF-8"
    if record.problem == "unclosed":
        return "a quoted field is not closed before the end of the file"
    try:
        values = next(csv.reader(record.lines, delimiter=delimiter))
    except csv.Error as exc:
        return f"invalid CSV ({exc})"
    if len(values) != width:
        return f"has {len(values)} fields, the header has {width}"
    return values


def _csv_columns(header: list[str], options: DatasetOptions) -> tuple[int, int | None] | str:
    """Column positions of the text and id fields, or why the header does not have them."""
    names = [h.strip() for h in header]
    shown = ", ".join(names[:20])
    if options.field not in names:
        return f"no column {options.field!r} in the header (columns: {shown}); check --field"
    if options.id_field is not None and options.id_field not in names:
        return f"no column {options.id_field!r} in the header (columns: {shown}); check --id-field"
    return names.index(options.field), None if options.id_field is None else names.index(options.id_field)


# -- columnar formats: Parquet and Arrow ------------------------------------------------------------


def _columns(schema: pa.Schema, options: DatasetOptions) -> list[str] | str:
    """Columns to read, or why the schema cannot give texts."""
    names = list(schema.names)
    shown = ", ".join(names[:20])
    if options.field not in names:
        return f"no column {options.field!r} (columns: {shown}); check --field"
    kind = schema.field(options.field).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or _is_binary(kind) or _is_view(kind)):
        return f"column {options.field!r} holds {kind}, not text"
    wanted = [options.field]
    if options.id_field is not None:
        if options.id_field not in names:
            return f"no column {options.id_field!r} (columns: {shown}); check --id-field"
        wanted.append(options.id_field)
    return wanted


def _is_binary(kind: pa.DataType) -> bool:
    return bool(pa.types.is_binary(kind) or pa.types.is_large_binary(kind))


def _is_view(kind: pa.DataType) -> bool:
    check = getattr(pa.types, "is_string_view", None)
    return bool(check is not None and check(kind))


def _read_parquet(
    shard: Shard, options: DatasetOptions, progress: ReadProgress, *, part: ShardPart | None = None
) -> Iterator[ScanItem | InputFailure]:
    try:
        file = pq.ParquetFile(shard.path, buffer_size=MIB, pre_buffer=False)
        wanted = _columns(file.schema_arrow, options)
        if isinstance(wanted, str):
            yield ShardFailure(shard.path, wanted)
            return
        groups = None if part is None else list(range(part.first, part.end))
        rows = file.metadata.num_rows if groups is None else sum(file.metadata.row_group(g).num_rows for g in groups)
        total = max(1, int(rows))
        size = shard.size if part is None else part.size
        batches = file.iter_batches(batch_size=options.batch_rows, row_groups=groups, columns=wanted, use_threads=False)
    except (OSError, pa.ArrowException) as exc:
        yield _fatal(shard.path, exc)
        return
    first_row = 0 if part is None else part.rows_before
    yield from _read_batches(shard, options, progress, batches, lambda rows: size * rows // total, first_row)


def _read_arrow(shard: Shard, options: DatasetOptions, progress: ReadProgress) -> Iterator[ScanItem | InputFailure]:
    """Arrow IPC files as ``datasets.save_to_disk`` writes them (the stream format), or the file format."""
    try:
        source = pa.memory_map(shard.path, "r")
        reader: Any
        try:
            reader = pa.ipc.open_stream(source)
            batches: Iterator[Any] = iter(reader)
        except pa.ArrowInvalid:
            source.seek(0)
            reader = pa.ipc.open_file(source)
            batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
        wanted = _columns(reader.schema, options)
    except (OSError, pa.ArrowException) as exc:
        yield _fatal(shard.path, exc)
        return
    if isinstance(wanted, str):
        yield ShardFailure(shard.path, wanted)
        return
    selected = (b.select(wanted) for b in batches)
    yield from _read_batches(shard, options, progress, selected, lambda _rows: int(source.tell()))


def _read_batches(
    shard: Shard,
    options: DatasetOptions,
    progress: ReadProgress,
    batches: Iterator[Any],
    position: Callable[[int], int],
    first_row: int = 0,
) -> Iterator[ScanItem | InputFailure]:
    """Records of record batches (text column first, id column second); ``position(rows)`` is bytes read.

    ``first_row`` is the shard's row number of the first record (a part of a shard starts past 0).
    """
    start = progress.bytes_read
    row = first_row

    def columns() -> Iterator[Columns]:
        nonlocal row
        for batch in batches:
            column = batch.column(0)
            lengths = pc.binary_length(column)
            over = pc.fill_null(pc.greater(lengths, options.max_record_bytes), fill_value=False)
            texts = pc.if_else(over, pa.scalar(None, column.type), column).to_pylist()
            ids = batch.column(1).to_pylist() if options.id_field is not None else None
            progress.bytes_read = start + min(shard.size, position(row - first_row + len(texts)))
            yield range(row, row + len(texts)), texts, lengths.to_pylist(), ids
            row += len(texts)

    try:
        yield from _column_items(shard, columns(), options, progress)
    except (OSError, pa.ArrowException) as exc:
        yield _fatal(f"{shard.path}#{row}", exc)


def _column_items(
    shard: Shard, batches: Iterable[Columns], options: DatasetOptions, progress: ReadProgress
) -> Iterator[ScanItem | InputFailure]:
    extract = _Extract(shard, options, progress)
    for rows, texts, sizes, ids in batches:
        for i, (row, text) in enumerate(zip(rows, texts, strict=True)):
            where = f"{shard.path}#{row}"
            size = sizes[i]
            if size is not None and size > options.max_record_bytes:
                progress.records += 1
                yield InputFailure(where, _too_large(size, options))
                continue
            item = extract.item(where, row, text, None if ids is None else ids[i], None)
            if item is not None:
                yield item
                if isinstance(item, ShardFailure):
                    return
