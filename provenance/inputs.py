"""Scanned inputs: files and folders through the connectors, JSON Lines records, and stdin."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING

from connectors.document import sha256_hex
from connectors.encoding import decode
from connectors.errors import ConnectorError

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

JSONL_SUFFIXES = (".jsonl", ".ndjson")
STDIN = "-"


@dataclass(frozen=True)
class ScanItem:
    """One text to audit. ``scanned`` names it in results: a path, ``PATH#RECORD`` or ``<stdin>``.

    ``sha256`` is of the bytes read for it: the file, stdin, or a JSON Lines record's line.
    ``source_sha256`` is set for records only: the SHA-256 of the whole file (or stdin) they came from.
    """

    text: str
    scanned: str
    sha256: str
    record_id: str | None = None
    warnings: tuple[str, ...] = ()
    source_sha256: str | None = None


@dataclass(frozen=True)
class InputFailure:
    """An input that could not be read; the others are still scanned."""

    source: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


@dataclass(frozen=True)
class InputOptions:
    """How inputs are read: the JSON field holding the text, an optional record id field, JSONL mode."""

    field: str = "text"
    id_field: str | None = None
    jsonl: bool = False


def read_inputs(
    sources: Sequence[str], options: InputOptions, stdin: IO[bytes] | None = None
) -> Iterator[ScanItem | InputFailure]:
    """Every text named by ``sources`` (``-`` is stdin), failures in their place, in order."""
    for source in sources:
        if source == STDIN:
            yield from _read_stdin(stdin, options)
            continue
        try:
            from connectors.registry import connector_for  # noqa: PLC0415 - connectors load only to read files

            connector = connector_for(source)
            items = list(connector.expand(source))
        except ConnectorError as exc:
            yield InputFailure(exc.source, exc.reason)
            continue
        for item in items:
            if options.jsonl or item.lower().endswith(JSONL_SUFFIXES):
                yield from _read_jsonl_file(item, options)
                continue
            try:
                for doc in connector.fetch(item):
                    yield ScanItem(
                        text=doc.text,
                        scanned=doc.source,
                        sha256=doc.content_sha256,
                        warnings=doc.warnings,
                    )
            except ConnectorError as exc:
                yield InputFailure(exc.source, exc.reason)


def _read_stdin(stdin: IO[bytes] | None, options: InputOptions) -> Iterator[ScanItem | InputFailure]:
    if stdin is None:
        yield InputFailure("<stdin>", "no standard input available")
        return
    data = stdin.read()
    if options.jsonl:
        yield from _read_jsonl(data, "<stdin>", options)
        return
    try:
        decoded = decode(data, "<stdin>")
    except ConnectorError as exc:
        yield InputFailure("<stdin>", exc.reason)
        return
    if not decoded.text.strip():
        yield InputFailure("<stdin>", "empty input")
        return
    yield ScanItem(text=decoded.text, scanned="<stdin>", sha256=sha256_hex(data), warnings=decoded.warnings)


def _read_jsonl_file(path: str, options: InputOptions) -> Iterator[ScanItem | InputFailure]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        yield InputFailure(path, f"cannot read: {exc.strerror or exc}")
        return
    yield from _read_jsonl(data, path, options)


def _read_jsonl(data: bytes, name: str, options: InputOptions) -> Iterator[ScanItem | InputFailure]:
    """Records of a JSON Lines byte string; a bad line is a failure naming its line number."""
    seen: set[str] = set()
    whole = sha256_hex(data)
    for lineno, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        item = _record(raw, lineno, name, options)
        if isinstance(item, ScanItem):
            item = replace(item, source_sha256=whole)
            if item.record_id in seen:
                item = InputFailure(f"{name}:{lineno}", f"duplicate record id {item.record_id!r}")
            else:
                seen.add(str(item.record_id))
        yield item


def _record(raw: bytes, lineno: int, name: str, options: InputOptions) -> ScanItem | InputFailure:  # noqa: PLR0911 - one return per way a record can be bad
    """One JSON Lines record, or why it cannot be audited."""
    where = f"{name}:{lineno}"
    try:
        record = json.loads(raw.decode("utf-8-sig" if lineno == 1 else "utf-8"))
    except UnicodeDecodeError:
        return InputFailure(where, "line is not valid UTF-8")
    except json.JSONDecodeError as exc:
        return InputFailure(where, f"invalid JSON ({exc.msg})")
    if not isinstance(record, dict):
        return InputFailure(where, "record is not a JSON object")
    text = record.get(options.field)
    if not isinstance(text, str):
        reason = "missing" if text is None else f"not a string ({type(text).__name__})"
        return InputFailure(where, f"field {options.field!r} is {reason}")
    record_id = str(lineno)
    if options.id_field is not None:
        value = record.get(options.id_field)
        if value is None or isinstance(value, (dict, list)):
            return InputFailure(where, f"id field {options.id_field!r} is missing or not a scalar")
        record_id = str(value)
    if not text.strip():
        return InputFailure(f"{name}#{record_id}", "empty text")
    return ScanItem(text=text, scanned=f"{name}#{record_id}", sha256=sha256_hex(raw), record_id=record_id)
