"""The one place yt-dlp is used: a small typed adapter over its ``YoutubeDL`` class, as a library.

yt-dlp is untyped. Everything leaves this module as plain JSON-like dicts (``Info``) or as a
``YtDlpError`` that says what yt-dlp's exception chain means (HTTP status, network failure, the
extractor's message), so the YouTube connector never touches yt-dlp's types. yt-dlp's own retries
are switched off: the connector retries, with its own backoff, only where retrying helps.
"""

from __future__ import annotations

import gc
import re
import tempfile
import traceback
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yt_dlp
from yt_dlp.networking.exceptions import (
    CertificateVerifyError,
    HTTPError,
    TransportError,
)
from yt_dlp.utils import (
    DownloadError,
    ExtractorError,
    GeoRestrictedError,
    UnsupportedError,
)
from yt_dlp.version import __version__ as _version

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

Info = dict[str, Any]
"""A yt-dlp info dict made JSON-ready (``YoutubeDL.sanitize_info``)."""

YT_DLP_VERSION: str = str(_version)

_PARAMS: dict[str, object] = {
    "quiet": True,
    "noprogress": True,
    "no_color": True,
    "skip_download": True,  # captions only: media is never downloaded
    "noplaylist": True,  # a watch URL with &list= names the video
    "extract_flat": "in_playlist",  # channel and playlist listings are stubs, no request per video
    # Ask for captions so the extractor lists them all and warns (rather than logs at debug level)
    # when a PO token was needed; nothing is downloaded by extraction itself.
    "writesubtitles": True,
    "writeautomaticsub": True,
    # Manual tracks machine-translated into every language are never indexed: do not list them.
    "extractor_args": {"youtube": {"skip": ["translated_subs"]}},
    "ignoreerrors": False,  # failures must raise, with their cause, to be reported per video
    "retries": 0,
    "extractor_retries": 0,
    "fragment_retries": 0,
    "file_access_retries": 0,
    "overwrites": True,
}
_MESSAGE_PREFIX = re.compile(r"^(?:ERROR: )?(?:\[[^\]]*\] )?(?:[\w-]+: )?")
_HTTP_STATUS = re.compile(r"HTTP Error (\d{3})")
_GAVE_UP = "[download] Got error:"
_MAX_REDIRECTS = 3


class YtDlpError(Exception):
    """A yt-dlp call failed; the facts found in its exception chain.

    ``status`` is the HTTP status of the failed request, if any. ``network`` is a transport failure
    (timeout, refused or reset connection, DNS). ``gave_up`` means yt-dlp's downloader met an error it
    counts as transient (5xx, transport) and gave up, having been told not to retry. ``expected`` is
    yt-dlp's flag for a failure the site reported (private, removed), as opposed to a bug.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        network: bool = False,
        gave_up: bool = False,
        expected: bool = False,
        geo_restricted: bool = False,
        unsupported: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.network = network
        self.gave_up = gave_up
        self.expected = expected
        self.geo_restricted = geo_restricted
        self.unsupported = unsupported


class _Log:
    """yt-dlp's logger: keeps warnings and errors, drops the rest (stdout stays ours)."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def debug(self, message: str) -> None:
        """Progress and debug lines: not kept."""

    def info(self, message: str) -> None:
        """Informational lines: not kept."""

    def warning(self, message: str) -> None:
        """Keep a warning."""
        self.messages.append(message)

    def error(self, message: str) -> None:
        """Keep an error (it is raised as well)."""
        self.messages.append(message)


class YtDlp:
    """One ``YoutubeDL`` configured for metadata and captions only.

    ``params`` are extra or overriding YoutubeDL options (``cookiefile``, ``proxy``, ...).
    ``extractors`` are extra extractor classes tried before the built-in ones, in order; the tests
    use one to serve YouTube-like results from a local server.
    """

    def __init__(
        self,
        *,
        timeout_s: float = 30.0,
        params: Mapping[str, object] | None = None,
        extractors: Sequence[type] = (),
    ) -> None:
        self._log = _Log()
        options = {**_PARAMS, "socket_timeout": timeout_s, "logger": self._log, **(params or {})}
        self._ydl = yt_dlp.YoutubeDL(options, auto_init=False)
        for extractor in extractors:
            self._ydl.add_info_extractor(extractor())
        self._ydl.add_default_info_extractors()

    def take_warnings(self) -> list[str]:
        """The warnings logged since the last call."""
        messages, self._log.messages = self._log.messages, []
        return messages

    def video(self, url: str) -> Info:
        """The info dict of one video, unprocessed: metadata and the caption tracks on offer."""
        for _ in range(_MAX_REDIRECTS):
            info = self._extract(url, process=False)
            if info.get("_type") not in {"url", "url_transparent"} or not isinstance(info.get("url"), str):
                return info
            url = info["url"]
        raise YtDlpError(f"more than {_MAX_REDIRECTS} redirects", unsupported=True)

    def listing(self, url: str) -> Info:
        """A channel or playlist flattened: entries are stubs (``id``, ``url``) or nested playlists."""
        return self._extract(url, process=True)

    def download(self, track: Mapping[str, Any], *, http_headers: Mapping[str, str] | None = None) -> bytes:
        """The bytes of one caption track (a ``subtitles`` format), through yt-dlp's subtitle downloader."""
        info = dict(track)
        if http_headers is not None:
            info.setdefault("http_headers", dict(http_headers))
        ext = re.sub(r"[^\w]", "", str(info.get("ext") or "txt")) or "txt"
        with tempfile.TemporaryDirectory(prefix="provenance-captions-") as folder:
            path = Path(folder) / f"captions.{ext}"
            try:
                result = self._ydl.dl(str(path), info, subtitle=True)
            except Exception as exc:  # yt-dlp raises many kinds; all are translated
                failure = _failure(exc)
                _release(exc)
                raise failure from exc
            if not result or not path.is_file():
                raise YtDlpError("the caption download produced no file", gave_up=True)
            return path.read_bytes()

    def close(self) -> None:
        """Close yt-dlp's network connections."""
        self._ydl.close()

    def _extract(self, url: str, *, process: bool) -> Info:
        """Run ``extract_info`` without downloading; translate its failures."""
        try:
            result: object = self._ydl.extract_info(url, download=False, process=process)
        except Exception as exc:  # yt-dlp raises many kinds; all are translated
            raise _failure(exc) from exc
        if not isinstance(result, dict):
            raise YtDlpError("yt-dlp returned no information")
        sanitized: object = yt_dlp.YoutubeDL.sanitize_info(result, remove_private_keys=False)
        return dict(sanitized) if isinstance(sanitized, dict) else dict(result)


def _failure(exc: BaseException) -> YtDlpError:
    """Read an exception chain from yt-dlp into a ``YtDlpError``."""
    status: int | None = None
    network = gave_up = expected = geo = unsupported = False
    message: str | None = None
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        error = pending.pop(0)
        if id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, HTTPError):
            status = status or int(error.status)
            error.close()  # its response holds a connection open
        elif isinstance(error, TransportError) and not isinstance(error, CertificateVerifyError):
            network = True
        if isinstance(error, ExtractorError):
            expected = expected or bool(error.expected)
            geo = geo or isinstance(error, GeoRestrictedError)
            unsupported = unsupported or isinstance(error, UnsupportedError)
            message = message or str(error.orig_msg or error.msg)
        if isinstance(error, DownloadError) and _GAVE_UP in str(error):
            gave_up = True
            found = _HTTP_STATUS.search(str(error))
            status = status or (int(found.group(1)) if found else None)
            network = network or found is None
        pending.extend(_causes(error))
    text = message or _MESSAGE_PREFIX.sub("", str(exc), count=1) or type(exc).__name__
    return YtDlpError(
        " ".join(text.split()),
        status=status,
        network=network,
        gave_up=gave_up,
        expected=expected,
        geo_restricted=geo,
        unsupported=unsupported,
    )


def _causes(error: BaseException) -> list[BaseException]:
    """The exceptions behind ``error``: yt-dlp's ``exc_info`` and ``cause``, then Python's chain."""
    found: list[BaseException] = []
    exc_info = getattr(error, "exc_info", None)
    if isinstance(exc_info, tuple) and len(exc_info) > 1 and isinstance(exc_info[1], BaseException):
        found.append(exc_info[1])
    cause = getattr(error, "cause", None)
    if isinstance(cause, BaseException):
        found.append(cause)
    found.extend(e for e in (error.__cause__, error.__context__) if e is not None)
    return found


def _release(exc: BaseException) -> None:
    """Free what a failed yt-dlp call still holds, now rather than at some later garbage collection.

    yt-dlp's downloader keeps the error response of a request it gave up on in a local variable of a
    frame of the traceback, without closing it. Clearing those frames and collecting closes its socket
    here; the ``ResourceWarning`` that Python gives for closing it that way is expected and muted.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        for error in [exc, *_causes(exc)]:
            traceback.clear_frames(error.__traceback__)
        gc.collect()
