"""Local files and folders: plain text, Markdown, HTML and caption files become documents.

Routing: this connector claims every source without a URL scheme (``notes/a.md``, ``/srv/site``)
and every ``file:`` URL, whether or not the path exists, so that a mistyped path fails with a clear
``SourceNotFoundError`` from ``expand`` or ``fetch`` instead of "no connector handles this source".
Other URLs (``http://``, ``https://``, ...) are left to other connectors.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from urllib.request import url2pathname

from connectors.captions import parse_srt, parse_webvtt
from connectors.document import Cue, Document, MetaValue, sha256_hex
from connectors.encoding import decode
from connectors.errors import (
    EmptyDocumentError,
    ReadError,
    SourceNotFoundError,
    TooLargeError,
    UnsupportedSourceError,
)
from connectors.html import extract_html
from connectors.markdown import markdown_to_text

if TYPE_CHECKING:
    from collections.abc import Iterator

DEFAULT_MAX_BYTES = 64 * 1024 * 1024

KINDS: dict[str, str] = {
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".vtt": "webvtt",
    ".srt": "srt",
}
"""Document kind by lower-case file extension; any other extension is read as plain text."""

_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_LOCAL_HOSTS = frozenset({"", "localhost"})


class FilesConnector:
    """Reads files from the local file system; a folder expands to the files under it (no state: thread-safe)."""

    name = "files"
    thread_safe = True

    def __init__(self, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes

    def can_handle(self, source: str) -> bool:
        """Claim ``file:`` URLs and every non-empty string without a ``scheme://`` prefix."""
        if not source.strip():
            return False
        return _is_file_url(source) or _URL_SCHEME.match(source) is None

    def expand(self, source: str) -> Iterator[str]:
        """List a file as its absolute resolved path, a folder as the visible files under it.

        Folders are walked depth first with entries in name order (so paths come out sorted by
        their components), skipping names that start with ``.`` and caption files that belong to a
        saved video's ``.info.json`` beside them (the YouTube connector reads those), following symbolic links but
        visiting each folder once (so link loops end), and listing each file once.
        """
        path = _existing_path(source)
        if not path.is_dir():
            yield str(path)
            return
        yield from _walk(path, visited=set(), listed=set())

    def fetch(self, source: str) -> Iterator[Document]:
        """Read the one document of the file ``source``, in the format its extension names."""
        path = _existing_path(source)
        name = str(path)
        try:
            info = path.stat()
        except OSError as exc:
            raise ReadError(name, f"cannot read file: {_reason(exc)}") from exc
        if stat.S_ISDIR(info.st_mode):
            raise ReadError(name, "is a folder, not a file; expand it into files first")
        if not stat.S_ISREG(info.st_mode):
            raise ReadError(name, "not a regular file (a device, socket or pipe)")
        data = self._read(path, info.st_size)
        decoded = decode(data, name)
        kind = KINDS.get(path.suffix.lower(), "text")
        text, title, cues, warnings = _extract(kind, decoded.text, name)
        if not text.strip():
            what = "the file is empty" if not data else f"no text left after reading it as {kind}"
            raise EmptyDocumentError(name, what)
        metadata: dict[str, MetaValue] = {
            "path": name,
            "encoding": decoded.encoding,
            "size_bytes": len(data),
        }
        yield Document(
            text=text,
            source=name,
            kind=kind,
            content_sha256=sha256_hex(data),
            title=title or path.stem,
            modified_at=datetime.fromtimestamp(info.st_mtime, tz=timezone.utc),
            metadata=metadata,
            cues=cues,
            warnings=(*decoded.warnings, *warnings),
        )

    def _read(self, path: Path, size: int) -> bytes:
        """Read ``path``, refusing files over ``max_bytes`` (even ones growing meanwhile)."""
        if size > self.max_bytes:
            raise TooLargeError(str(path), _too_large(_size(size), self.max_bytes))
        try:
            with path.open("rb") as handle:
                data = handle.read(self.max_bytes + 1)
        except FileNotFoundError as exc:
            raise SourceNotFoundError(str(path), "no such file (removed while reading)") from exc
        except OSError as exc:
            raise ReadError(str(path), f"cannot read file: {_reason(exc)}") from exc
        if len(data) > self.max_bytes:
            grown = f"more than {self.max_bytes:,} bytes (it grew while being read)"
            raise TooLargeError(str(path), _too_large(grown, self.max_bytes))
        return data


def _extract(kind: str, text: str, source: str) -> tuple[str, str, tuple[Cue, ...], tuple[str, ...]]:
    """Text, title, cues and warnings of decoded file content of the given kind."""
    if kind == "markdown":
        extracted = markdown_to_text(text)
        return extracted.text, extracted.title, (), ()
    if kind == "html":
        extracted = extract_html(text, source)
        return extracted.text, extracted.title, (), ()
    if kind in {"webvtt", "srt"}:
        transcript = parse_webvtt(text, source) if kind == "webvtt" else parse_srt(text, source)
        return transcript.text, "", transcript.cues, transcript.warnings
    return text, "", (), ()


def _walk(folder: Path, *, visited: set[tuple[int, int]], listed: set[str]) -> Iterator[str]:
    """Visible regular files under ``folder``, depth first in name order, each folder once."""
    try:
        info = folder.stat()
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except OSError as exc:
        raise ReadError(str(folder), f"cannot list folder: {_reason(exc)}") from exc
    key = (info.st_dev, info.st_ino)
    if key in visited:
        return
    visited.add(key)
    names = {entry.name for entry in entries}
    for entry in entries:
        if entry.name.startswith(".") or _caption_of_saved_video(entry.name, names):
            continue
        try:
            is_dir, is_file = entry.is_dir(), entry.is_file()
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # a link that leads back to itself names nothing
                continue
            raise ReadError(entry.path, f"cannot open: {_reason(exc)}") from exc
        if is_dir:
            yield from _walk(Path(entry.path), visited=visited, listed=listed)
        elif is_file:
            resolved = str(Path(entry.path).resolve())
            if resolved not in listed:
                listed.add(resolved)
                yield resolved


_CAPTION_FILE = re.compile(r"^(?P<stem>.+)\.[A-Za-z0-9_-]+\.(?:vtt|srt|json3)$")


def _caption_of_saved_video(name: str, names: set[str]) -> bool:
    """Whether ``name`` is a caption file beside a saved yt-dlp ``STEM.info.json`` (which reads it)."""
    found = _CAPTION_FILE.match(name)
    return found is not None and f"{found.group('stem')}.info.json" in names


def _existing_path(source: str) -> Path:
    """Resolve the path that ``source`` names to an absolute one; raise if it does not exist."""
    if not source.strip():
        raise SourceNotFoundError(source, "empty path")
    if _URL_SCHEME.match(source) and not _is_file_url(source):
        raise UnsupportedSourceError(source, "not a local path or file: URL")
    if _is_file_url(source):
        parts = urlsplit(source)
        if parts.netloc.lower() not in _LOCAL_HOSTS:
            raise UnsupportedSourceError(source, f"file URL on another host ({parts.netloc})")
        path = Path(url2pathname(parts.path))
    else:
        path = Path(source)
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise SourceNotFoundError(source, "no such file or directory") from exc
    except OSError as exc:
        raise ReadError(source, f"cannot open: {_reason(exc)}") from exc
    return path.resolve()


def _is_file_url(source: str) -> bool:
    """Whether ``source`` is a ``file:`` URL."""
    return source[:5].lower() == "file:"


def _too_large(size: str, limit: int) -> str:
    """Why a file of ``size`` is refused."""
    return f"{size}, over the limit of {_size(limit)}; raise max_bytes to read it"


def _size(count: int) -> str:
    """Format a byte count in MiB and in bytes."""
    return f"{count / (1024 * 1024):.1f} MiB ({count:,} bytes)"


def _reason(exc: OSError) -> str:
    """Give the operating system's reason for ``exc``, without the path Python repeats."""
    return exc.strerror or str(exc)
