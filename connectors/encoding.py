"""Bytes to text: honour byte-order marks, prefer UTF-8, guess legacy encodings and say so.

The only place ``charset_normalizer`` is used. Text comes back with CRLF and CR line ends made LF
and is otherwise unchanged, so character offsets into it are stable across runs.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

import charset_normalizer

from connectors.errors import BinaryContentError

# Longest marks first: the UTF-32-LE mark begins with the UTF-16-LE one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

BINARY_SNIFF_BYTES = 8 * 1024
"""NUL bytes this close to the start mark a file as binary (as ``git`` and ``grep`` decide)."""

_WIDE_ENCODINGS = ["utf_16", "utf_16_be", "utf_16_le", "utf_32", "utf_32_be", "utf_32_le"]
"""Never guessed: without a mark they only fit data with NUL bytes, which is rejected as binary."""

_PREFERRED_LEGACY = "cp1252"
"""Chosen among equally plausible guesses, as browsers do for unlabelled Western text."""

_MAX_DAMAGE = 0.05
"""Share of undecodable or control characters above which unguessable data counts as binary."""

_DAMAGE_SAMPLE_CHARS = 1024 * 1024

_TEXT_CONTROLS = frozenset("\t\n\v\f\r\x1b")


@dataclass(frozen=True)
class Decoded:
    """Text decoded from bytes, the encoding used, and what had to be guessed or replaced."""

    text: str
    encoding: str
    warnings: tuple[str, ...] = ()


def decode(data: bytes, source: str) -> Decoded:
    """Decode ``data`` read from ``source``; raise ``BinaryContentError`` when it is not text."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _decode_marked(data[len(bom) :], encoding, source)
    if b"\x00" in data[:BINARY_SNIFF_BYTES]:
        raise BinaryContentError(source, "binary content (NUL bytes near the start), not text")
    try:
        return Decoded(_normalise_newlines(data.decode("utf-8")), "utf-8")
    except UnicodeDecodeError:
        pass
    guessed = _guess_encoding(data)
    if guessed is not None:
        try:
            text = data.decode(guessed)
        except (UnicodeDecodeError, LookupError):
            pass
        else:
            warning = f"{source}: not valid UTF-8; decoded as {guessed} (guessed)"
            return Decoded(_normalise_newlines(text), guessed, (warning,))
    text = data.decode("utf-8", errors="replace")
    if _damage(text[:_DAMAGE_SAMPLE_CHARS]) > _MAX_DAMAGE:
        raise BinaryContentError(source, "binary content (no text encoding fits), not text")
    warning = (
        f"{source}: not valid UTF-8 and no encoding fits; decoded as utf-8 with undecodable bytes replaced by U+FFFD"
    )
    return Decoded(_normalise_newlines(text), "utf-8", (warning,))


def _decode_marked(body: bytes, encoding: str, source: str) -> Decoded:
    """Decode the bytes after a byte-order mark, which settles the encoding."""
    name = "utf-8-sig" if encoding == "utf-8" else encoding
    try:
        return Decoded(_normalise_newlines(body.decode(encoding)), name)
    except UnicodeDecodeError as exc:
        warning = (
            f"{source}: invalid {encoding} after its byte-order mark ({exc.reason} at byte "
            f"{exc.start}); undecodable bytes replaced by U+FFFD"
        )
        text = body.decode(encoding, errors="replace")
        return Decoded(_normalise_newlines(text), name, (warning,))


def _guess_encoding(data: bytes) -> str | None:
    """Guess the legacy encoding of ``data`` with ``charset_normalizer``; None if nothing fits."""
    best = charset_normalizer.from_bytes(data, cp_exclusion=_WIDE_ENCODINGS).best()
    if best is None:
        return None
    if _PREFERRED_LEGACY in best.could_be_from_charset:
        # Same text whichever of these is named: name the common one.
        return _PREFERRED_LEGACY
    preferred = charset_normalizer.from_bytes(data, cp_isolation=[_PREFERRED_LEGACY]).best()
    if preferred is not None and preferred.chaos <= best.chaos:
        return _PREFERRED_LEGACY
    return str(best.encoding)


def _damage(text: str) -> float:
    """Share of replacement and non-whitespace control characters in ``text``."""
    if not text:
        return 0.0
    bad = sum(1 for ch in text if ch == "\ufffd" or (ch < " " and ch not in _TEXT_CONTROLS))
    return bad / len(text)


def _normalise_newlines(text: str) -> str:
    """CRLF and lone CR become LF; nothing else changes."""
    return text.replace("\r\n", "\n").replace("\r", "\n")
