"""Caption files (WebVTT, SRT, YouTube json3) to one clean transcript whose character ranges map to media times.

The only place ``webvtt-py`` is used: it reads the cue structure, and this module cleans each cue's
text (tags, entities, sound labels, the rolling repeats of YouTube automatic captions) and joins the
cues with single spaces, recording which characters each cue contributed. json3 (YouTube's own
format) is plain JSON text without markup or rolling repeats, cleaned and joined the same way.
"""

from __future__ import annotations

import html
import itertools
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError

from connectors.document import Cue
from connectors.errors import ReadError

if TYPE_CHECKING:
    from collections.abc import Sequence

CUE_SEPARATOR = " "
"""Between the text of consecutive cues (and between lines within a cue)."""

_SOUND_LABEL_LINE = re.compile(r"(?:\s*(?:\[[^\]]*\]|\([^)]*\)|[♪♫♬]+))+\s*")
"""A line holding only labels such as ``[Music]``, ``(laughs)`` or a music note, no speech."""

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_WORD_TIMING_TAG = re.compile(r"<(?:\d+:)?\d{1,2}:\d{1,2}\.\d{1,3}>")
# {\an8} and the other ASS override tags that some SRT files carry
_SRT_OVERRIDE_TAG = re.compile(r"\{\\[^}]*\}")
# Timing lines the parser can read (its own lenient patterns); others make it skip the cue.
_VTT_TIME = r"(?:\d+:)?\d{1,2}:\d{1,2}\.\d{1,3}"
_SRT_TIME = r"\d+:\d{1,2}:\d{1,2}[,.]\d+"
_VTT_TIMINGS = re.compile(rf"\s*{_VTT_TIME}\s*-->\s*{_VTT_TIME}")
_SRT_TIMINGS = re.compile(rf"\s*{_SRT_TIME}\s*-->\s*{_SRT_TIME}")


@dataclass(frozen=True)
class Transcript:
    """Clean spoken text, the cues that map its character ranges to times, and skipped-cue notes."""

    text: str
    cues: tuple[Cue, ...]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class _RawCue:
    """One cue as read: times in seconds and its cleaned, non-empty lines."""

    start_s: float
    end_s: float
    lines: tuple[str, ...]


def parse_webvtt(text: str, source: str) -> Transcript:
    """Read the transcript of WebVTT ``text``; errors name ``source``."""
    try:
        parsed = webvtt.from_string(text)
    except MalformedFileError as exc:
        raise ReadError(source, "not WebVTT (the first line must start with WEBVTT)") from exc
    except (MalformedCaptionError, ValueError) as exc:
        raise ReadError(source, f"malformed WebVTT: {exc}") from exc
    return _transcript(parsed.captions, text, source, _VTT_TIMINGS, srt=False)


def parse_srt(text: str, source: str) -> Transcript:
    """Read the transcript of SubRip ``text``; errors name ``source``."""
    try:
        parsed = webvtt.from_buffer([text.lstrip()], format="srt")
    except MalformedFileError as exc:
        raise ReadError(source, "not an SRT file (it must start with a cue number and a timing line)") from exc
    except (MalformedCaptionError, ValueError) as exc:
        raise ReadError(source, f"malformed SRT: {exc}") from exc
    return _transcript(parsed.captions, text, source, _SRT_TIMINGS, srt=True)


def parse_json3(text: str, source: str) -> Transcript:
    """Read the transcript of YouTube json3 ``text`` (``events[].segs[].utf8``); errors name ``source``.

    Each event with text is a cue from ``tStartMs`` for ``dDurationMs``. An event's end is clamped to
    the start of the next one: automatic captions keep a line on screen while the next is spoken.
    """
    try:
        data: object = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReadError(source, f"not json3 captions: invalid JSON ({exc})") from exc
    events = data.get("events") if isinstance(data, dict) else None
    if not isinstance(events, list):
        raise ReadError(source, "not json3 captions (no events list)")
    cues: list[_RawCue] = []
    skipped: list[str] = []
    for number, event in enumerate(events, start=1):
        cue = _json3_cue(event)
        if isinstance(cue, str):
            skipped.append(f"{source}: event {number}: {cue}; cue skipped")
        elif cue is not None:
            cues.append(cue)
    if not cues and skipped:
        raise ReadError(source, f"no readable cues ({len(skipped)} events with text, none timed)")
    cues.sort(key=lambda c: c.start_s)
    clamped = [
        _RawCue(cue.start_s, min(cue.end_s, following.start_s), cue.lines)
        if cue.start_s < following.start_s < cue.end_s
        else cue
        for cue, following in itertools.pairwise(cues)
    ]
    text_out, spans = _join([*clamped, *cues[-1:]], rolling=False)
    return Transcript(text_out, spans, tuple(skipped))


def _json3_cue(event: object) -> _RawCue | str | None:
    """One json3 event as a cue; None if it holds no text, a reason if it cannot be timed."""
    if not isinstance(event, dict):
        return None
    segs = event.get("segs")
    if not isinstance(segs, list):
        return None  # window definitions and style events carry no text
    raw = "".join(s["utf8"] for s in segs if isinstance(s, dict) and isinstance(s.get("utf8"), str))
    lines = tuple(cleaned for line in raw.split("\n") if (cleaned := " ".join(line.split())))
    if not lines:
        return None  # "\n" events that only start a new line
    start, duration = event.get("tStartMs"), event.get("dDurationMs", 0)
    if not isinstance(start, (int, float)) or isinstance(start, bool):
        return "text without a start time (tStartMs)"
    if not isinstance(duration, (int, float)) or isinstance(duration, bool):
        duration = 0
    return _RawCue(start / 1000, (start + max(duration, 0)) / 1000, lines)


def _transcript(
    captions: Sequence[webvtt.Caption],
    raw: str,
    source: str,
    timings: re.Pattern[str],
    *,
    srt: bool,
) -> Transcript:
    """Clean and join parsed captions; warn about timing lines the parser had to skip."""
    skipped = [
        f"{source}: line {number}: unreadable cue timings {line.strip()!r}; cue skipped"
        for number, line in enumerate(_LINE_BREAK.split(raw), start=1)
        if "-->" in line and not timings.match(line)
    ]
    if not captions and skipped:
        raise ReadError(source, f"no readable cues ({len(skipped)} timing lines, none valid)")
    cues = sorted((_raw_cue(c, srt=srt) for c in captions), key=lambda c: c.start_s)
    rolling = any(_WORD_TIMING_TAG.search(c.raw_text) for c in captions) or _looks_rolling(cues)
    text, spans = _join(cues, rolling=rolling)
    return Transcript(text, spans, tuple(skipped))


def _raw_cue(caption: webvtt.Caption, *, srt: bool) -> _RawCue:
    """Clean one caption: drop tags, decode entities, collapse spaces, drop empty lines."""
    lines = []
    for line in caption.text.split("\n"):
        plain = _SRT_OVERRIDE_TAG.sub("", line) if srt else line
        cleaned = " ".join(html.unescape(plain).split())
        if cleaned:
            lines.append(cleaned)
    start_ms = caption.start_time.in_milliseconds()
    end_ms = caption.end_time.in_milliseconds()
    return _RawCue(start_ms / 1000, end_ms / 1000, tuple(lines))


def _looks_rolling(cues: Sequence[_RawCue]) -> bool:
    """Whether most multi-line cues start by repeating the previous cue's last line."""
    multi = repeats = 0
    for previous, cue in itertools.pairwise(cues):
        if len(cue.lines) > 1:
            multi += 1
            repeats += bool(previous.lines) and cue.lines[0] == previous.lines[-1]
    return repeats > 0 and 2 * repeats >= multi


def _join(cues: Sequence[_RawCue], *, rolling: bool) -> tuple[str, tuple[Cue, ...]]:
    """Concatenate the new speech of each cue, recording the character range each one added."""
    parts: list[str] = []
    spans: list[Cue] = []
    length = 0
    previous: tuple[str, ...] = ()
    for cue in cues:
        lines = cue.lines[_overlap(previous, cue.lines) :] if rolling else cue.lines
        previous = cue.lines
        spoken = CUE_SEPARATOR.join(line for line in lines if not _SOUND_LABEL_LINE.fullmatch(line))
        if not spoken:
            continue
        if parts:
            parts.append(CUE_SEPARATOR)
            length += len(CUE_SEPARATOR)
        parts.append(spoken)
        spans.append(Cue(length, length + len(spoken), cue.start_s, cue.end_s))
        length += len(spoken)
    return "".join(parts), tuple(spans)


def _overlap(previous: Sequence[str], lines: Sequence[str]) -> int:
    """How many leading ``lines`` repeat the trailing lines of the previous cue."""
    for size in range(min(len(previous), len(lines)), 0, -1):
        if tuple(previous[-size:]) == tuple(lines[:size]):
            return size
    return 0
