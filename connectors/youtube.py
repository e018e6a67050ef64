"""YouTube videos, playlists and channels, and saved yt-dlp ``.info.json`` files, to timed transcripts.

Routing: video URLs (``watch?v=``, ``youtu.be/``, ``/shorts/``, ``/embed/``, ``/live/``), playlist and
channel URLs (``/playlist?list=``, ``/@handle``, ``/channel/UC...``, ``/c/...``, ``/user/...``, with or
without ``https://``), bare 11-character video ids, bare ``@handles`` and local ``*.info.json`` files.
Every other URL on a YouTube host is claimed too, and refused with the forms above, so that no other
connector scrapes YouTube pages. A bare id or handle that names an existing local file is left alone.

A channel or playlist expands, by one flat listing (no request per video), into the canonical
``https://www.youtube.com/watch?v=ID`` of each video. Fetching a video reads its metadata and one
caption track, never the media: manual captions first, automatic ones as the fallback, in ``lang``,
else the video's original language, else English. Machine translations are never used: what is
indexed is what the creator said or wrote. An ``.info.json`` is the same work as its video (same
``source``); caption files beside it (``ID.en.json3``, ``Title [ID].en.vtt``, ``.srt``) are used
first, else the caption URLs inside it are fetched (they expire after a few hours).

Failures raise per video: ``UnavailableError`` (private, removed, members-only, age- or
geo-restricted, not yet live), ``EmptyDocumentError`` (no captions in the language),
``TranscriptUnavailableError`` (captions withheld: a PO token demanded, HTTP 429), ``FetchError`` and
its kinds (network and server errors). HTTP 429, 5xx and network failures are retried with
exponential backoff (``backoff_s``, then twice that, ...); nothing else is.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import parse_qs, quote, urlsplit

from connectors._ytdlp import YT_DLP_VERSION, Info, YtDlp, YtDlpError
from connectors.captions import Transcript, parse_json3, parse_srt, parse_webvtt
from connectors.document import Document, MetaValue, sha256_hex
from connectors.encoding import decode
from connectors.errors import (
    ConnectorError,
    EmptyDocumentError,
    FetchError,
    FetchTimeoutError,
    HTTPStatusError,
    ReadError,
    SourceNotFoundError,
    TooLargeError,
    TranscriptUnavailableError,
    UnavailableError,
    UnsupportedSourceError,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

T = TypeVar("T")

DEFAULT_LANG = "en"
"""The caption language when neither ``lang`` nor the video's original language is known."""

CAPTION_FORMATS = ("json3", "vtt", "srt")
"""Caption formats read, most preferred first (json3 is YouTube's own: exact times, no markup)."""

INFO_JSON_SUFFIX = ".info.json"
MAX_INFO_JSON_BYTES = 64 * 1024 * 1024

WATCH_URL = "https://www.youtube.com/watch?v="
_ID = r"[A-Za-z0-9_-]{11}"
_VIDEO_ID = re.compile(_ID)
# 11 base64url characters carry 64 bits, so the last one has 4 bits: one of 16 characters. Bare ids are
# checked strictly, so that few ordinary words of 11 letters pass for one.
_BARE_ID = re.compile(r"[A-Za-z0-9_-]{10}[AEIMQUYcgkosw048]")
_HANDLE = r"@[\w.-]{3,100}"
_BARE_HANDLE = re.compile(_HANDLE)
_VIDEO_PATH = re.compile(rf"/(?:shorts|embed|live|v|e)/(?P<id>{_ID})/?")
_CHANNEL_PATH = re.compile(
    rf"/(?:{_HANDLE}|channel/UC[\w-]{{22}}|c/[^/]+|user/[^/]+)"
    r"(?:/(?:videos|shorts|streams|featured|playlists|podcasts|releases))?/?"
)
_HOSTS = frozenset(
    {"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com"}
    | {"youtube-nocookie.com", "www.youtube-nocookie.com"}
)
_SHORT_HOSTS = frozenset({"youtu.be", "www.youtu.be"})
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_WORD_TIMING = re.compile(rb"<\d{2}:\d{2}(?::\d{2})?\.\d{3}>")
_AUTOMATIC_JSON3 = (b'"tOffsetMs"', b'"aAppend"', b'"acAsrConf"')
_MAX_LISTING_DEPTH = 2
_MESSAGE_CHARS = 200

_ACCEPTED = "expected a video URL or id, a playlist URL, a channel URL or @handle, or a yt-dlp .info.json file"

_TOO_MANY_REQUESTS = HTTPStatus.TOO_MANY_REQUESTS
_SERVER_ERRORS = range(500, 600)
_GONE = frozenset({HTTPStatus.NOT_FOUND, HTTPStatus.GONE})
_SHOWN_LANGUAGES = 8

_MESSAGE_RULES: tuple[tuple[tuple[str, ...], type[ConnectorError], str], ...] = (
    (("private video",), UnavailableError, "private video"),
    (
        ("members-only", "members only", "join this channel", "channel's members"),
        UnavailableError,
        "members-only video",
    ),
    (
        ("confirm your age", "age-restricted", "age restricted", "age-verification", "inappropriate for some"),
        UnavailableError,
        "age-restricted video (YouTube wants a signed-in adult account: pass cookies via ytdlp_params)",
    ),
    (
        ("live event will begin", "premieres in", "premiere will begin", "is upcoming"),
        UnavailableError,
        "not yet available: an upcoming premiere or live stream",
    ),
    (("not a bot",), FetchError, "YouTube asks to confirm this is not a bot: wait, or pass cookies via ytdlp_params"),
    (
        ("try again later", "rate-limited", "rate limited"),
        FetchError,
        "rate-limited by YouTube ({message}); add it again later",
    ),
    (("does not exist",), SourceNotFoundError, "does not exist ({message})"),
    (
        ("removed", "terminated", "no longer available", "video unavailable", "this video is unavailable"),
        UnavailableError,
        "removed or unavailable ({message})",
    ),
)
"""(words in the message of yt-dlp or YouTube, error class, reason): the first rule that matches wins."""


def youtube_url(video_id: str, *, start_s: float | None = None) -> str:
    """The canonical watch URL of a video, opening at ``start_s`` (whole seconds, rounded down) if given."""
    url = WATCH_URL + video_id
    if start_s is None:
        return url
    return f"{url}&t={max(int(start_s), 0)}s"


def youtube_video_id(source: str) -> str | None:
    """The video id that a video URL or a bare id names; None for anything else."""
    target = _target(source)
    return target.value if target is not None and target.kind == "video" else None


class Listing(Iterator[str]):
    """The item sources a source expands to, iterated once; ``len()`` is the total, known up front."""

    def __init__(self, sources: Sequence[str], *, title: str = "") -> None:
        self.sources = tuple(sources)
        self.title = title
        self._rest = iter(self.sources)

    def __next__(self) -> str:
        return next(self._rest)

    def __len__(self) -> int:
        return len(self.sources)


@dataclass(frozen=True)
class _Target:
    """What a source names: a video (its id), a playlist or channel (its URL), or an info.json (its path)."""

    kind: Literal["video", "playlist", "channel", "info_json", "other"]
    value: str


@dataclass(frozen=True)
class _Track:
    """One caption track: its kind, its key in yt-dlp's tables (``en``, ``en-orig``) and the chosen format."""

    kind: Literal["manual", "automatic", "unknown"]
    key: str
    ext: str
    format: Mapping[str, Any]

    @property
    def lang(self) -> str:
        """The language code (``en-orig``, yt-dlp's name for the original track, is ``en``)."""
        return self.key.removesuffix("-orig")


class YouTubeConnector:
    """Reads transcripts of YouTube videos through yt-dlp, used as a library; see the module docstring.

    ``lang`` picks the caption language. ``retries`` and ``backoff_s`` bound the retries of HTTP 429,
    5xx and network failures; ``sleep`` waits between them (tests pass a recorder). ``on_retry`` is
    told ``(source, attempt, delay_s, reason)`` before each wait. ``limit`` caps the videos listed per
    channel or playlist. ``ytdlp_params`` are extra YoutubeDL options (``cookiefile``, ``proxy``);
    ``extractors`` are extra yt-dlp extractor classes tried before the built-in ones. Threads may share
    the connector: each thread gets its own ``YoutubeDL`` (which is not safe to share) and its warnings.
    """

    name = "youtube"
    thread_safe = True

    def __init__(
        self,
        *,
        lang: str | None = None,
        retries: int = 3,
        backoff_s: float = 1.0,
        timeout_s: float = 30.0,
        limit: int | None = None,
        on_retry: Callable[[str, int, float, str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        ytdlp_params: Mapping[str, object] | None = None,
        extractors: Sequence[type] = (),
    ) -> None:
        if retries < 0 or backoff_s < 0 or timeout_s <= 0 or (limit is not None and limit < 1):
            msg = "retries and backoff_s must be >= 0, timeout_s > 0, limit >= 1"
            raise ValueError(msg)
        self.lang = lang.strip() if lang and lang.strip() else None
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.limit = limit
        self.on_retry = on_retry
        self._sleep = sleep
        self._params = dict(ytdlp_params or {})
        if limit is not None:
            self._params.setdefault("playlist_items", f"1-{limit}")
        self._extractors = tuple(extractors)
        self._local = threading.local()
        self._clients: list[YtDlp] = []
        self._clients_lock = threading.Lock()

    def can_handle(self, source: str) -> bool:
        """Claim YouTube URLs, bare video ids and @handles (unless a local file has that name), and .info.json files."""
        return _target(source) is not None

    def expand(self, source: str) -> Listing:
        """The canonical watch URL of each video that ``source`` names (an .info.json stands for itself)."""
        target = self._target_of(source)
        if target.kind == "video":
            return Listing([youtube_url(target.value)])
        if target.kind == "info_json":
            return Listing([str(_existing_file(source, Path(target.value)))])
        client = self._client()
        info = self._retrying(source, lambda: client.listing(target.value), captions=False)
        ids = self._video_ids(source, info, depth=0)[: self.limit]
        return Listing([youtube_url(video_id) for video_id in ids], title=_text(info, "title") or "")

    def fetch(self, source: str) -> Iterator[Document]:
        """The one document of a video (by URL or id) or of a saved ``.info.json``."""
        target = self._target_of(source)
        if target.kind == "video":
            yield self._fetch_video(source, target.value)
        elif target.kind == "info_json":
            yield self._fetch_archive(source, Path(target.value))
        else:
            raise ReadError(source, f"a {target.kind} names many videos; expand it into videos first")

    def document_source(self, source: str) -> str:
        """The ``Document.source`` that fetching item ``source`` gives, found without fetching it.

        For a video that is its canonical watch URL; an ``.info.json`` is read for its video id.
        """
        target = self._target_of(source)
        if target.kind == "video":
            return youtube_url(target.value)
        if target.kind == "info_json":
            return youtube_url(_video_id(source, _read_info_json(source, Path(target.value))))
        raise ReadError(source, f"a {target.kind} names many videos; expand it into videos first")

    def close(self) -> None:
        """Close yt-dlp's network connections (the connector can be used again afterwards)."""
        with self._clients_lock:
            clients, self._clients = self._clients, []
            self._local = threading.local()
        for client in clients:
            client.close()

    def _client(self) -> YtDlp:
        """The calling thread's yt-dlp adapter, made on first use and kept for later videos."""
        local = self._local
        client: YtDlp | None = getattr(local, "client", None)
        if client is None:
            client = YtDlp(timeout_s=self.timeout_s, params=self._params, extractors=self._extractors)
            with self._clients_lock:
                self._clients.append(client)
            local.client = client
        return client

    def _target_of(self, source: str) -> _Target:
        """What ``source`` names, or ``UnsupportedSourceError``."""
        target = _target(source)
        if target is None or target.kind == "other":
            raise UnsupportedSourceError(source, _ACCEPTED)
        return target

    def _fetch_video(self, source: str, video_id: str) -> Document:
        """Extract a video's metadata and caption list, then fetch one track."""
        client = self._client()
        client.take_warnings()
        info = self._retrying(source, lambda: client.video(youtube_url(video_id)), captions=False)
        return self._document(source, info, client.take_warnings(), archive=None)

    def _fetch_archive(self, source: str, path: Path) -> Document:
        """Read a saved info dict; captions come from files beside it, else from the URLs in it."""
        info = _read_info_json(source, _existing_file(source, path))
        _video_id(source, info)
        return self._document(source, info, [], archive=path)

    def _document(self, source: str, info: Info, warnings: Sequence[str], *, archive: Path | None) -> Document:
        """The transcript document of one video's info dict."""
        video_id = _video_id(source, info)
        live_status = _text(info, "live_status")
        if live_status in {"is_live", "is_upcoming"}:
            what = "a live stream still running" if live_status == "is_live" else "an upcoming live stream"
            raise UnavailableError(source, f"{what}: add it again once it has ended")
        wanted = self.lang or _text(info, "language") or DEFAULT_LANG
        tracks = _caption_tracks(info, wanted)
        found = _sibling_captions(archive, info, video_id, wanted, tracks) if archive is not None else None
        if found is not None:
            track, data, caption_file = found
        elif tracks:
            track, caption_file = tracks[0], None
            headers = info.get("http_headers")
            client = self._client()
            data = self._retrying(
                source,
                lambda: client.download(track.format, http_headers=headers if isinstance(headers, dict) else None),
                captions=True,
            )
        else:
            raise _no_captions(source, info, wanted, warnings)
        transcript = _parse(track.ext, data, str(caption_file) if caption_file else source)
        if not transcript.text:
            raise EmptyDocumentError(source, f"the {track.kind} {track.lang!r} captions hold no speech")
        retrieved_at = datetime.now(timezone.utc)
        metadata: dict[str, MetaValue] = {
            "video_id": video_id,
            "channel": _text(info, "channel") or _text(info, "uploader"),
            "channel_id": _text(info, "channel_id"),
            "creator": _text(info, "channel") or _text(info, "uploader"),
            "upload_date": _upload_date(info),
            "duration": _number(info, "duration"),
            "license": _text(info, "license") or "standard",
            "caption_kind": track.kind,
            "caption_lang": track.lang,
            "caption_format": track.ext,
            "retrieved_at": retrieved_at.isoformat(),
            "yt_dlp_version": YT_DLP_VERSION,
            "webpage_url": _text(info, "webpage_url") or youtube_url(video_id),
        }
        if archive is not None:
            metadata["info_json"] = str(archive.resolve())
            metadata["caption_file"] = str(caption_file) if caption_file else None
        return Document(
            text=transcript.text,
            source=youtube_url(video_id),
            kind="youtube",
            content_sha256=sha256_hex(data),
            title=_text(info, "title") or _text(info, "fulltitle") or video_id,
            retrieved_at=retrieved_at,
            metadata=metadata,
            cues=transcript.cues,
            warnings=transcript.warnings,
        )

    def _video_ids(self, source: str, info: Info, *, depth: int) -> list[str]:
        """Video ids of a flat listing in order, each once, following nested playlists and channel tabs."""
        ids: list[str] = []
        entries = info.get("entries")
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict):
                continue
            if entry.get("_type") == "playlist":
                ids.extend(self._video_ids(source, entry, depth=depth))
                continue
            video_id = _entry_video_id(entry)
            url = entry.get("url")
            if video_id is not None:
                ids.append(video_id)
            elif isinstance(url, str) and depth < _MAX_LISTING_DEPTH and _target(url) is not None:
                nested = self._retrying(source, functools.partial(self._client().listing, url), captions=False)
                ids.extend(self._video_ids(source, nested, depth=depth + 1))
        return list(dict.fromkeys(ids))

    def _retrying(self, source: str, action: Callable[[], T], *, captions: bool) -> T:
        """Run ``action``, retrying rate limits, server and network errors with exponential backoff."""
        for attempt in itertools.count():
            try:
                return action()
            except YtDlpError as exc:
                if not _retryable(exc) or attempt >= self.retries:
                    raise _error(source, exc, captions=captions, attempts=attempt + 1) from exc
                delay = self.backoff_s * 2**attempt
                if self.on_retry is not None:
                    self.on_retry(source, attempt + 1, delay, _describe(exc))
                if delay > 0:
                    self._sleep(delay)
        raise AssertionError  # pragma: no cover - the loop returns or raises


def _target(source: str) -> _Target | None:
    """Classify ``source``; None when it is not for this connector."""
    text = source.strip()
    lowered = text.lower()
    if _URL_SCHEME.match(text):
        return _url_target(text)
    if lowered.startswith(tuple(f"{host}/" for host in _HOSTS | _SHORT_HOSTS)):
        return _url_target(f"https://{text}")
    if lowered.endswith(INFO_JSON_SUFFIX) and not lowered.startswith("file:"):
        return _Target("info_json", text)
    return _bare_target(text)


def _bare_target(text: str) -> _Target | None:
    """A bare video id or @handle, unless a local file or folder has that name."""
    if _BARE_HANDLE.fullmatch(text) and not _exists(text):
        return _Target("channel", f"https://www.youtube.com/{text}")
    if _BARE_ID.fullmatch(text) and not _exists(text):
        return _Target("video", text)
    return None


def _url_target(url: str) -> _Target | None:  # noqa: PLR0911 - one return per form of URL
    """Classify a URL: None unless it is on a YouTube host."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or host not in _HOSTS | _SHORT_HOSTS:
        return None
    query = parse_qs(parts.query)
    path = parts.path or "/"
    if host in _SHORT_HOSTS:
        found = re.fullmatch(rf"/({_ID})/?", path)
        return _Target("video", found.group(1)) if found else _Target("other", url)
    video = query.get("v", [""])[0]
    if path.rstrip("/") == "/watch" and _VIDEO_ID.fullmatch(video):
        return _Target("video", video)
    found = _VIDEO_PATH.fullmatch(path)
    if found:
        return _Target("video", found.group("id"))
    playlist = query.get("list", [""])[0]
    if path.rstrip("/") in {"/playlist", "/watch", "/embed/videoseries"} and playlist:
        return _Target("playlist", f"https://www.youtube.com/playlist?list={quote(playlist, safe='')}")
    if _CHANNEL_PATH.fullmatch(path):
        return _Target("channel", f"https://www.youtube.com{path.rstrip('/')}")
    return _Target("other", url)


def _exists(path: str) -> bool:
    """Whether a local file or folder of that name exists (then a bare id or handle means it)."""
    try:
        return Path(path).exists()
    except OSError:
        return False


def _existing_file(source: str, path: Path) -> Path:
    """``path`` resolved, or the error that says why it cannot be read."""
    try:
        if path.is_dir():
            raise ReadError(source, "is a folder, not a .info.json file")
        if not path.is_file():
            raise SourceNotFoundError(source, "no such file")
    except OSError as exc:
        raise ReadError(source, f"cannot open: {exc.strerror or exc}") from exc
    return path.resolve()


def _read_info_json(source: str, path: Path) -> Info:
    """A saved yt-dlp info dict of one YouTube video."""
    try:
        size = path.stat().st_size
        if size > MAX_INFO_JSON_BYTES:
            raise TooLargeError(source, f"{size:,} bytes, over the limit of {MAX_INFO_JSON_BYTES:,} for an info.json")
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise SourceNotFoundError(source, "no such file") from exc
    except OSError as exc:
        raise ReadError(source, f"cannot read file: {exc.strerror or exc}") from exc
    try:
        info: object = json.loads(decode(raw, source).text)
    except ValueError as exc:
        raise ReadError(source, f"not a yt-dlp .info.json: invalid JSON ({exc})") from exc
    if not isinstance(info, dict):
        raise ReadError(source, "not a yt-dlp .info.json (not a JSON object)")
    if info.get("_type") == "playlist":
        raise UnsupportedSourceError(
            source, "the .info.json of a playlist: add the playlist URL, or the .info.json of each video"
        )
    extractor = str(info.get("extractor_key") or info.get("extractor") or "youtube")
    if not extractor.lower().startswith("youtube"):
        raise UnsupportedSourceError(source, f"not a YouTube video's .info.json (extractor {extractor})")
    return info


def _video_id(source: str, info: Mapping[str, Any]) -> str:
    """The 11-character id of the video an info dict describes."""
    video_id = info.get("id")
    if not isinstance(video_id, str) or not _VIDEO_ID.fullmatch(video_id):
        raise ReadError(source, f"no YouTube video id in the video information (id {video_id!r})")
    return video_id


def _entry_video_id(entry: Mapping[str, Any]) -> str | None:
    """The video id of a flat listing entry, None if it is not a video (a nested playlist or tab)."""
    url = entry.get("url")
    if isinstance(url, str):
        found = youtube_video_id(url)
        if found is not None:
            return found
    video_id = entry.get("id")
    is_video = entry.get("ie_key") == "Youtube" or entry.get("_type", "video") == "video"
    return video_id if is_video and isinstance(video_id, str) and _VIDEO_ID.fullmatch(video_id) else None


def _caption_tracks(info: Mapping[str, Any], wanted: str) -> list[_Track]:
    """The usable tracks in language ``wanted``, best first: manual before automatic, exact code first."""
    ranked = [(rank, track) for track in _offered_tracks(info) if (rank := _lang_rank(track.key, wanted)) is not None]
    ranked.sort(key=lambda pair: (pair[1].kind != "manual", pair[0]))
    return [track for _, track in ranked]


def _offered_tracks(info: Mapping[str, Any]) -> Iterator[_Track]:
    """Every readable, untranslated track of a video: manual ones, then automatic ones.

    yt-dlp also lists each manual track among the automatic ones under a translation key (``en-en``
    for manual ``en``, without translating it): those are skipped, as the manual track is there.
    """
    manual, automatic = _table(info, "subtitles"), _table(info, "automatic_captions")
    tables: tuple[tuple[Literal["manual", "automatic"], dict[Any, Any]], ...] = (
        ("manual", manual),
        ("automatic", automatic),
    )
    for kind, table in tables:
        for key, formats in table.items():
            if not isinstance(key, str) or key == "live_chat":
                continue
            if kind == "automatic" and "-" in key and key.split("-", 1)[1] in manual:
                continue
            chosen = _best_format(formats if isinstance(formats, list) else [])
            if chosen is not None:
                yield _Track(kind, key, chosen[0], chosen[1])


def _table(info: Mapping[str, Any], field: str) -> dict[Any, Any]:
    """A caption table of an info dict (``subtitles`` or ``automatic_captions``), empty if absent."""
    table = info.get(field)
    return table if isinstance(table, dict) else {}


def _lang_rank(key: str, wanted: str) -> int | None:
    """How well a track key fits the wanted language: 0 exact, 1 original, 2 regional variant, 3 base."""
    key, wanted = key.lower(), wanted.lower()
    if key == wanted:
        return 0
    if key == f"{wanted}-orig":
        return 1
    if key.startswith(f"{wanted}-"):
        return 2
    if "-" in wanted and key == wanted.split("-", 1)[0]:
        return 3
    return None


def _best_format(formats: Sequence[object]) -> tuple[str, Mapping[str, Any]] | None:
    """The most preferred readable format of a track, skipping machine translations."""
    usable: list[tuple[int, int, str, Mapping[str, Any]]] = []
    for fmt in formats:
        if not isinstance(fmt, dict):
            continue
        url, data = fmt.get("url"), fmt.get("data")
        if isinstance(url, str):
            if "tlang" in parse_qs(urlsplit(url).query):
                continue  # translated by YouTube, not the creator's words
        elif not isinstance(data, str):
            continue
        ext = str(fmt.get("ext") or _url_ext(url if isinstance(url, str) else "")).lower()
        if ext in CAPTION_FORMATS:
            streamed = str(fmt.get("protocol") or "").startswith("m3u8")
            usable.append((CAPTION_FORMATS.index(ext), int(streamed), ext, {**fmt, "ext": ext}))
    if not usable:
        return None
    _, _, ext, fmt = min(usable, key=lambda u: (u[0], u[1]))
    return ext, fmt


def _url_ext(url: str) -> str:
    """The caption format a URL names: its ``fmt`` query parameter, else its path's extension."""
    parts = urlsplit(url)
    fmt = parse_qs(parts.query).get("fmt")
    if fmt:
        return fmt[0]
    return Path(parts.path).suffix.lstrip(".")


def _sibling_captions(
    archive: Path, info: Mapping[str, Any], video_id: str, wanted: str, tracks: Sequence[_Track]
) -> tuple[_Track, bytes, Path] | None:
    """A caption file saved beside an .info.json for the wanted language, best first, with its track."""
    stems = dict.fromkeys([archive.name[: -len(INFO_JSON_SUFFIX)], video_id])
    keys = dict.fromkeys([*(t.key for t in tracks), wanted, f"{wanted}-orig"])
    for key, ext, stem in itertools.product(keys, CAPTION_FORMATS, stems):
        path = archive.with_name(f"{stem}.{key}.{ext}")
        try:
            if not path.is_file():
                continue
            data = path.read_bytes()
        except OSError:
            continue
        return _Track(_sibling_kind(info, key, ext, data), key, ext, {}), data, path.resolve()
    return None


def _sibling_kind(
    info: Mapping[str, Any], key: str, ext: str, data: bytes
) -> Literal["manual", "automatic", "unknown"]:
    """Which kind of track a saved caption file holds: from the info dict, else from its content.

    A track key listed both as manual and as automatic is told apart by content: automatic captions
    carry word timings (``<00:00:01.200>`` in WebVTT, ``tOffsetMs`` and ``aAppend`` in json3).
    """
    manual = key in _table(info, "subtitles")
    automatic = key in _table(info, "automatic_captions")
    if manual and not automatic:
        return "manual"
    if automatic and not manual:
        return "automatic"
    looks_automatic = (
        _WORD_TIMING.search(data) is not None
        if ext == "vtt"
        else ext == "json3" and any(marker in data for marker in _AUTOMATIC_JSON3)
    )
    if looks_automatic:
        return "automatic"
    return "manual" if manual else "unknown"


def _parse(ext: str, data: bytes, source: str) -> Transcript:
    """The transcript of caption bytes in format ``ext``."""
    text = decode(data, source).text
    if ext == "json3":
        return parse_json3(text, source)
    if ext == "srt":
        return parse_srt(text, source)
    return parse_webvtt(text, source)


def _no_captions(source: str, info: Mapping[str, Any], wanted: str, warnings: Sequence[str]) -> ConnectorError:
    """Why there is no track to read: withheld (a PO token was wanted) or none in that language."""
    if any("po token" in w.lower() for w in warnings):
        return TranscriptUnavailableError(
            source,
            "transcript unavailable: YouTube withheld the captions for want of a PO token "
            "(see yt-dlp's PO token guide); add it again later or with a PO token provider",
        )
    offered = [f"{track.key} ({track.kind})" for track in _offered_tracks(info)]
    if not offered:
        return EmptyDocumentError(source, "no captions: the video has none")
    more = len(offered) - _SHOWN_LANGUAGES
    shown = ", ".join(offered[:_SHOWN_LANGUAGES]) + (f" and {more} more" if more > 0 else "")
    return EmptyDocumentError(source, f"no captions in {wanted!r} (there are: {shown}; choose one with lang)")


def _retryable(exc: YtDlpError) -> bool:
    """Whether waiting and trying again can help: rate limits, server errors, network failures."""
    return exc.status == _TOO_MANY_REQUESTS or exc.status in _SERVER_ERRORS or exc.network or exc.gave_up


def _describe(exc: YtDlpError) -> str:
    """A short reason for a retry notice."""
    if exc.status is not None:
        return f"HTTP {exc.status}"
    return _short(exc.message)


def _error(source: str, exc: YtDlpError, *, captions: bool, attempts: int) -> ConnectorError:
    """The connector error for a yt-dlp failure on ``source`` (``captions``: while fetching captions)."""
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    text = exc.message.lower()
    if exc.unsupported:
        return UnsupportedSourceError(source, f"yt-dlp does not recognise this URL: {_short(exc.message)}")
    if exc.geo_restricted:
        return UnavailableError(source, "geo-restricted: not available from this country")
    for needles, error, reason in _MESSAGE_RULES:
        if any(needle in text for needle in needles):
            return error(source, reason.replace("{message}", _short(exc.message)))
    if exc.status is not None:
        return _status_error(source, exc.status, captions=captions, tries=tries)
    if exc.network or exc.gave_up:
        what = "caption download" if captions else "network error"
        error_class = FetchTimeoutError if "timed out" in text else FetchError
        return error_class(source, f"{what} failed{tries}: {_short(exc.message)}")
    return ReadError(source, f"yt-dlp: {_short(exc.message)}")


def _status_error(source: str, status: int, *, captions: bool, tries: str) -> ConnectorError:
    """The connector error for an HTTP error status."""
    if status == _TOO_MANY_REQUESTS:
        if captions:
            return TranscriptUnavailableError(
                source,
                f"transcript unavailable: YouTube rate-limited the captions (HTTP 429){tries}; add it again later",
            )
        return HTTPStatusError(source, f"rate-limited by YouTube (HTTP 429){tries}; add it again later", status)
    if status in _SERVER_ERRORS:
        what = "the caption server" if captions else "YouTube"
        return HTTPStatusError(source, f"server error from {what} (HTTP {status}){tries}", status)
    if captions:
        return ReadError(
            source,
            f"the captions could not be downloaded (HTTP {status}); caption URLs saved in an .info.json "
            "expire after hours: save the caption file beside it, or add the video by URL",
        )
    if status in _GONE:
        return SourceNotFoundError(source, f"not found (HTTP {status})")
    return HTTPStatusError(source, f"HTTP {status} from YouTube", status)


def _short(message: str) -> str:
    """``message`` on one line, cut to a readable length."""
    line = " ".join(message.split())
    return line if len(line) <= _MESSAGE_CHARS else line[: _MESSAGE_CHARS - 1] + "…"


def _text(info: Mapping[str, Any], key: str) -> str | None:
    """A non-empty string field of an info dict."""
    value = info.get(key)
    return value if isinstance(value, str) and value else None


def _number(info: Mapping[str, Any], key: str) -> int | float | None:
    """A numeric field of an info dict."""
    value = info.get(key)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _upload_date(info: Mapping[str, Any]) -> str | None:
    """The upload date as ``YYYY-MM-DD``, from ``upload_date`` (``YYYYMMDD``) or the upload timestamp."""
    raw = _text(info, "upload_date")
    if raw is not None and re.fullmatch(r"\d{8}", raw):
        return f"{raw[:4]}-{raw[4:6]}-{raw[6:]}"
    timestamp = _number(info, "timestamp")
    if timestamp is not None:
        return datetime.fromtimestamp(timestamp, tz=timezone.utc).date().isoformat()
    return None
