"""The YouTube connector, offline: a local HTTP server plays YouTube, yt-dlp's real machinery does the rest.

Videos are extracted by a small yt-dlp extractor (``LocalYouTubeIE``) that claims youtube.com URLs and
downloads their info dicts from the local server with yt-dlp's own networking; captions are fetched by
yt-dlp's subtitle downloader from the caption URLs in those dicts (or in saved .info.json files).
"""

import hashlib
import http.server
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from yt_dlp.extractor.common import InfoExtractor
from yt_dlp.utils import ExtractorError, GeoRestrictedError

from connectors.document import Cue
from connectors.errors import (
    EmptyDocumentError,
    FetchError,
    HTTPStatusError,
    ReadError,
    SourceNotFoundError,
    TranscriptUnavailableError,
    UnavailableError,
    UnsupportedSourceError,
)
from connectors.youtube import Listing, YouTubeConnector, youtube_url, youtube_video_id
from indexes import IndexStore
from provenance import Auditor
from provenance.ingest import add_catalog, add_sources

VIDEO = "dQw4w9WgXcQ"
OTHER = "BaW_jenozKc"
WATCH = f"https://www.youtube.com/watch?v={VIDEO}"


# ---------------------------------------------------------------- caption fixtures (our own, not YouTube's)


def json3(*events):
    return json.dumps({"wireMagic": "pb3", "events": list(events)}, ensure_ascii=False).encode()


MANUAL_JSON3 = json3(
    {"tStartMs": 0, "dDurationMs": 3000, "segs": [{"utf8": "Welcome to the\nhedgerow\u00a0bakery."}]},
    {"tStartMs": 3000, "dDurationMs": 2000, "segs": [{"utf8": "[Music]"}]},
    {"tStartMs": 5000, "dDurationMs": 4000, "segs": [{"utf8": "Today we bake rye bread."}]},
)
MANUAL_TEXT = "Welcome to the hedgerow bakery. Today we bake rye bread."
MANUAL_CUES = (Cue(0, 31, 0.0, 3.0), Cue(32, 56, 5.0, 9.0))

AUTO_JSON3 = json3(
    {"tStartMs": 0, "dDurationMs": 9000, "id": 1, "wpWinPosId": 1, "wsWinStyleId": 1},
    {
        "tStartMs": 0,
        "dDurationMs": 4000,
        "wWinId": 1,
        "segs": [
            {"utf8": "welcome", "acAsrConf": 0},
            {"utf8": " to", "tOffsetMs": 500},
            {"utf8": " the", "tOffsetMs": 700},
        ],
    },
    {"tStartMs": 2000, "dDurationMs": 2000, "wWinId": 1, "aAppend": 1, "segs": [{"utf8": "\n"}]},
    {"tStartMs": 2000, "dDurationMs": 3000, "wWinId": 1, "segs": [{"utf8": "bakery"}]},
    {"tStartMs": 5000, "dDurationMs": 2000, "wWinId": 1, "segs": [{"utf8": "[Music]"}]},
)
AUTO_TEXT = "welcome to the bakery"

TIMED = "so<00:00:00.400><c> today</c><00:00:00.800><c> we</c><00:00:01.200><c> bake</c>"
ROLLING_VTT = (
    "WEBVTT\nKind: captions\nLanguage: en\n\n"
    "00:00:00.000 --> 00:00:02.000 align:start position:0%\n \n" + TIMED + "\n\n"
    "00:00:02.000 --> 00:00:02.010 align:start position:0%\nso today we bake\n \n\n"
    "00:00:02.010 --> 00:00:04.000 align:start position:0%\nso today we bake\n"
    "bread<00:00:02.500><c> first</c>\n\n"
    "00:00:04.000 --> 00:00:04.010 align:start position:0%\nbread first\n \n\n"
    "00:00:04.010 --> 00:00:06.000 align:start position:0%\nbread first\n[Music]\n"
).encode()

GERMAN_JSON3 = json3({"tStartMs": 1000, "dDurationMs": 2000, "segs": [{"utf8": "Guten Morgen aus der Backstube."}]})
FRENCH_VTT = b"WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nBonjour de la <i>boulangerie</i>.\n"


# ---------------------------------------------------------------- a local YouTube


class Site:
    """What the local server answers: per path, a list of (status, body) served in turn (the last repeats).

    ``delay`` seconds pass before each answer and after each warning (so that threads asking at once overlap).
    """

    def __init__(self, base):
        self.base = base
        self.routes = {}
        self.hits = {}
        self.delay = 0.0

    def serve(self, path, *responses):
        self.routes[path] = list(responses)
        return f"{self.base}{path}"

    def url(self, path):
        return f"{self.base}{path}"

    def video(self, video_id, info):
        self.serve(f"/videos/{video_id}.json", (200, json.dumps(info).encode()))

    def listing(self, name, info):
        self.serve(f"/lists/{name}.json", (200, json.dumps(info).encode()))


class Handler(http.server.BaseHTTPRequestHandler):
    site: Site

    def do_GET(self):
        path = self.path
        self.site.hits[path] = self.site.hits.get(path, 0) + 1
        responses = self.site.routes.get(path) or [(404, b"not found")]
        status, body = responses.pop(0) if len(responses) > 1 else responses[0]
        time.sleep(self.site.delay)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def site():
    handler = type("BoundHandler", (Handler,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.site = Site(f"http://127.0.0.1:{server.server_port}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield handler.site
    server.shutdown()
    server.server_close()
    thread.join()


def local_extractor(site):
    """A yt-dlp extractor that claims YouTube URLs and reads their info dicts from the local server."""

    class LocalYouTubeIE(InfoExtractor):
        IE_NAME = "localyoutube"
        _VALID_URL = r"https?://www\.youtube\.com/(?:watch\?v=(?P<id>[\w-]{11})|(?P<list>[^?]+|playlist\?list=[\w-]+))$"

        def _real_extract(self, url):
            found = self._match_valid_url(url)
            if found["id"]:
                info = self._download_json(site.url(f"/videos/{found['id']}.json"), found["id"])
                error = info.pop("error", None)
                if error == "geo":
                    raise GeoRestrictedError("The uploader has not made this video available in your country")
                if error:
                    raise ExtractorError(error, expected=True, video_id=found["id"])
                for warning in info.pop("warnings", []):
                    self.report_warning(warning, found["id"])
                    time.sleep(site.delay)  # what happens in other threads meanwhile must not see this warning
                return info
            name = found["list"].replace("playlist?list=", "").replace("/", "_")
            return self._download_json(site.url(f"/lists/{name}.json"), name)

    return LocalYouTubeIE


def track(site, video_id, key, ext, body=None, *, status=200, **extra):
    """A caption format whose URL the local server answers (with ``body`` if given)."""
    path = f"/captions/{video_id}.{key}.{ext}"
    if body is not None:
        site.serve(path, (status, body))
    return {"ext": ext, "url": site.url(path), "name": key, **extra}


def video_info(video_id=VIDEO, *, subtitles=None, automatic=None, **fields):
    return {
        "id": video_id,
        "title": "Baking Rye at the Hedgerow",
        "channel": "Hedgerow Bakery",
        "channel_id": "UCabcdefghijklmnopqrstuv",
        "uploader": "Hedgerow Bakery",
        "upload_date": "20240126",
        "duration": 179,
        "language": "en",
        "webpage_url": youtube_url(video_id),
        "extractor": "youtube",
        "extractor_key": "Youtube",
        "subtitles": subtitles or {},
        "automatic_captions": automatic or {},
        **fields,
    }


OFFLINE = {"cachedir": False, "allowed_extractors": ["end"]}
"""No built-in extractor: a URL that the local one does not claim fails as unsupported, never goes online."""


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def make(site, sleeps):
    made = []

    def make(**options):
        options.setdefault("retries", 2)
        options.setdefault("backoff_s", 0)
        connector = YouTubeConnector(
            sleep=sleeps.append, extractors=[local_extractor(site)], ytdlp_params=OFFLINE, **options
        )
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()


def fetch_one(connector, source):
    documents = list(connector.fetch(source))
    assert len(documents) == 1
    return documents[0]


def slices(document):
    return [document.text[c.char_start : c.char_end] for c in document.cues]


# ---------------------------------------------------------------- which captions


def test_manual_captions_are_preferred_over_automatic(site, make):
    manual = track(site, VIDEO, "en", "json3", MANUAL_JSON3)
    automatic = track(site, VIDEO, "asr", "json3", AUTO_JSON3)  # served, but must not be asked for
    site.video(VIDEO, video_info(subtitles={"en": [manual]}, automatic={"en": [automatic]}))

    document = fetch_one(make(), VIDEO)

    assert document.source == WATCH
    assert document.kind == "youtube"
    assert document.title == "Baking Rye at the Hedgerow"
    assert document.text == MANUAL_TEXT
    assert document.cues == MANUAL_CUES
    assert slices(document) == ["Welcome to the hedgerow bakery.", "Today we bake rye bread."]
    assert document.content_sha256 == hashlib.sha256(MANUAL_JSON3).hexdigest()
    assert site.hits == {f"/videos/{VIDEO}.json": 1, f"/captions/{VIDEO}.en.json3": 1}
    meta = document.metadata
    assert {k: meta[k] for k in ("video_id", "channel", "channel_id", "creator", "caption_kind", "caption_lang")} == {
        "video_id": VIDEO,
        "channel": "Hedgerow Bakery",
        "channel_id": "UCabcdefghijklmnopqrstuv",
        "creator": "Hedgerow Bakery",
        "caption_kind": "manual",
        "caption_lang": "en",
    }
    assert meta["upload_date"] == "2024-01-26"
    assert meta["duration"] == 179
    assert meta["license"] == "standard"
    assert meta["caption_format"] == "json3"
    assert meta["webpage_url"] == WATCH
    assert meta["retrieved_at"] == document.retrieved_at.isoformat()
    assert isinstance(meta["yt_dlp_version"], str)
    assert meta["yt_dlp_version"]


def test_automatic_captions_are_the_fallback_and_say_so(site, make):
    automatic = track(site, VIDEO, "en-orig", "json3", AUTO_JSON3)
    license_cc = "Creative Commons Attribution license (reuse allowed)"
    site.video(VIDEO, video_info(automatic={"en-orig": [automatic]}, license=license_cc))

    document = fetch_one(make(), WATCH)

    assert document.text == AUTO_TEXT
    assert document.cues == (Cue(0, 14, 0.0, 2.0), Cue(15, 21, 2.0, 5.0))
    assert document.metadata["caption_kind"] == "automatic"
    assert document.metadata["caption_lang"] == "en"
    assert document.metadata["license"] == license_cc


def test_json3_is_preferred_and_webvtt_rolling_duplicates_are_removed(site, make):
    vtt = track(site, VIDEO, "en", "vtt", ROLLING_VTT)
    srv3 = track(site, VIDEO, "en", "srv3", b"<timedtext/>")
    site.video(VIDEO, video_info(automatic={"en": [srv3, vtt]}))

    document = fetch_one(make(), VIDEO)

    assert document.text == "so today we bake bread first"
    assert slices(document) == ["so today we bake", "bread first"]
    assert document.cues == (Cue(0, 16, 0.0, 2.0), Cue(17, 28, 2.01, 4.0))
    assert document.metadata["caption_format"] == "vtt"
    assert document.content_sha256 == hashlib.sha256(ROLLING_VTT).hexdigest()


def test_json3_wins_over_webvtt_of_the_same_track(site, make):
    formats = [track(site, VIDEO, "en", "vtt", ROLLING_VTT), track(site, VIDEO, "en", "json3", MANUAL_JSON3)]
    site.video(VIDEO, video_info(subtitles={"en": formats}))
    document = fetch_one(make(), VIDEO)
    assert document.metadata["caption_format"] == "json3"
    assert site.hits.get(f"/captions/{VIDEO}.en.vtt") is None


@pytest.fixture
def multilingual(site):
    site.video(
        VIDEO,
        video_info(
            language="fr",
            subtitles={"fr": [track(site, VIDEO, "fr", "vtt", FRENCH_VTT)]},
            automatic={
                "de-orig": [track(site, VIDEO, "de-orig", "json3", GERMAN_JSON3)],
                "en": [track(site, VIDEO, "en", "json3", AUTO_JSON3)],
            },
        ),
    )


@pytest.mark.parametrize(
    ("lang", "text", "kind", "caption_lang"),
    [
        (None, "Bonjour de la boulangerie.", "manual", "fr"),  # the video's own language
        ("de", "Guten Morgen aus der Backstube.", "automatic", "de"),
        ("EN", AUTO_TEXT, "automatic", "en"),
    ],
)
@pytest.mark.usefixtures("multilingual")
def test_language_is_lang_else_the_original_language(make, lang, text, kind, caption_lang):
    document = fetch_one(make(lang=lang), VIDEO)
    assert (document.text, document.metadata["caption_kind"], document.metadata["caption_lang"]) == (
        text,
        kind,
        caption_lang,
    )


def test_language_defaults_to_english_when_the_original_is_unknown(site, make):
    subtitles = {
        "fr": [track(site, VIDEO, "fr", "vtt", FRENCH_VTT)],
        "en-GB": [track(site, VIDEO, "en-GB", "json3", MANUAL_JSON3)],
    }
    site.video(VIDEO, video_info(language=None, subtitles=subtitles))
    document = fetch_one(make(), VIDEO)
    assert document.text == MANUAL_TEXT
    assert document.metadata["caption_lang"] == "en-GB"


def test_machine_translations_are_never_used(site, make):
    translated = track(site, VIDEO, "en", "json3", AUTO_JSON3)
    translated["url"] += "?tlang=en"
    german = track(site, VIDEO, "de", "json3", GERMAN_JSON3)
    site.video(VIDEO, video_info(language="de", automatic={"en": [translated], "de": [german]}))
    with pytest.raises(EmptyDocumentError) as info:
        list(make(lang="en").fetch(VIDEO))
    assert info.value.reason == "no captions in 'en' (there are: de (automatic); choose one with lang)"


def test_manual_tracks_listed_again_among_automatic_ones_are_not_automatic(site, make):
    # yt-dlp lists manual "de" once more as automatic "en-de" (to be translated from de), untranslated
    german = track(site, VIDEO, "de", "json3", GERMAN_JSON3)
    site.video(VIDEO, video_info(language="de", subtitles={"de": [german]}, automatic={"en-de": [german]}))
    with pytest.raises(EmptyDocumentError) as info:
        list(make(lang="en").fetch(VIDEO))
    assert info.value.reason == "no captions in 'en' (there are: de (manual); choose one with lang)"


# ---------------------------------------------------------------- saved .info.json files (archives)


def save_info(folder, info, name=f"{VIDEO}.info.json"):
    path = folder / name
    path.write_text(json.dumps(info), encoding="utf-8")
    return path


def test_info_json_captions_come_from_its_urls_through_yt_dlp(site, make, tmp_path):
    path = save_info(tmp_path, video_info(subtitles={"en": [track(site, VIDEO, "en", "json3", MANUAL_JSON3)]}))
    connector = make()

    assert list(connector.expand(str(path))) == [str(path)]
    document = fetch_one(connector, str(path))

    assert document.source == WATCH  # the same work as a live fetch of the video
    assert document.text == MANUAL_TEXT
    assert document.cues == MANUAL_CUES
    assert document.metadata["info_json"] == str(path)
    assert document.metadata["caption_file"] is None
    assert site.hits[f"/captions/{VIDEO}.en.json3"] == 1
    assert connector.document_source(str(path)) == WATCH


@pytest.mark.parametrize("stem", [VIDEO, f"Baking Rye at the Hedgerow [{VIDEO}]"])
def test_caption_files_beside_an_info_json_are_used_first(site, make, tmp_path, stem):
    expired = track(site, VIDEO, "en", "json3", b"gone", status=404)
    path = save_info(tmp_path, video_info(subtitles={"en": [expired]}), name=f"{stem}.info.json")
    (tmp_path / f"{stem}.en.json3").write_bytes(MANUAL_JSON3)

    document = fetch_one(make(), str(path))

    assert document.text == MANUAL_TEXT
    assert document.content_sha256 == hashlib.sha256(MANUAL_JSON3).hexdigest()
    assert document.metadata["caption_file"] == str(tmp_path / f"{stem}.en.json3")
    assert document.metadata["caption_kind"] == "manual"
    assert site.hits == {}


@pytest.mark.parametrize(
    ("listed", "body", "kind"),
    [
        ({"automatic": {"en": []}}, FRENCH_VTT, "automatic"),  # listed as automatic only
        ({"subtitles": {"en": []}, "automatic": {"en": []}}, ROLLING_VTT, "automatic"),  # word timings
        ({"subtitles": {"en": []}, "automatic": {"en": []}}, FRENCH_VTT, "manual"),
        ({}, FRENCH_VTT, "unknown"),  # not listed at all
    ],
)
def test_the_kind_of_a_saved_caption_file(make, tmp_path, listed, body, kind):
    path = save_info(tmp_path, video_info(**listed))
    (tmp_path / f"{VIDEO}.en.vtt").write_bytes(body)
    assert fetch_one(make(), str(path)).metadata["caption_kind"] == kind


def test_expired_caption_urls_in_an_info_json_are_a_clear_error(site, make, tmp_path):
    expired = track(site, VIDEO, "en", "json3", b"gone", status=404)
    path = save_info(tmp_path, video_info(subtitles={"en": [expired]}))
    with pytest.raises(ReadError, match=r"HTTP 404.*expire") as info:
        list(make().fetch(str(path)))
    assert info.value.source == str(path)
    assert site.hits[f"/captions/{VIDEO}.en.json3"] == 1  # a 404 is not retried


@pytest.mark.parametrize(
    ("content", "error", "reason"),
    [
        ("{not json", ReadError, "invalid JSON"),
        ("[]", ReadError, "not a JSON object"),
        ('{"_type": "playlist", "id": "PL1", "entries": []}', UnsupportedSourceError, "playlist"),
        ('{"id": "12345", "extractor_key": "Vimeo"}', UnsupportedSourceError, "extractor Vimeo"),
        ('{"id": "short", "extractor_key": "Youtube"}', ReadError, "no YouTube video id"),
    ],
)
def test_bad_info_json_files(make, tmp_path, content, error, reason):
    path = tmp_path / "x.info.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(error, match=reason):
        list(make().fetch(str(path)))


def test_a_missing_info_json_is_not_found(make, tmp_path):
    missing = str(tmp_path / "gone.info.json")
    with pytest.raises(SourceNotFoundError):
        make().expand(missing)
    with pytest.raises(SourceNotFoundError):
        list(make().fetch(missing))


# ---------------------------------------------------------------- failures, retries


def test_a_rate_limited_caption_is_retried_with_backoff_then_read(site, make, sleeps):
    url = track(site, VIDEO, "en", "json3")
    site.serve(f"/captions/{VIDEO}.en.json3", (429, b"slow down"), (429, b"slow down"), (200, MANUAL_JSON3))
    site.video(VIDEO, video_info(subtitles={"en": [url]}))
    retries = []

    connector = make(retries=3, backoff_s=1.5, on_retry=lambda *args: retries.append(args))
    document = fetch_one(connector, VIDEO)

    assert document.text == MANUAL_TEXT
    assert sleeps == [1.5, 3.0]
    assert retries == [(VIDEO, 1, 1.5, "HTTP 429"), (VIDEO, 2, 3.0, "HTTP 429")]


def test_captions_rate_limited_to_the_end_are_transcript_unavailable(site, make, sleeps):
    site.video(VIDEO, video_info(subtitles={"en": [track(site, VIDEO, "en", "json3", b"no", status=429)]}))
    with pytest.raises(TranscriptUnavailableError) as info:
        list(make(retries=2, backoff_s=1).fetch(VIDEO))
    assert info.value.reason.startswith("transcript unavailable: YouTube rate-limited the captions (HTTP 429)")
    assert "after 3 attempts" in info.value.reason
    assert site.hits[f"/captions/{VIDEO}.en.json3"] == 3
    assert sleeps == [1, 2]


@pytest.mark.parametrize("status", [500, 503])
def test_caption_server_errors_are_retried_then_reported(site, make, status):
    site.video(VIDEO, video_info(subtitles={"en": [track(site, VIDEO, "en", "json3", b"oops", status=status)]}))
    with pytest.raises(HTTPStatusError) as info:
        list(make(retries=1).fetch(VIDEO))
    assert info.value.status == status
    assert info.value.reason == f"server error from the caption server (HTTP {status}) after 2 attempts"
    assert site.hits[f"/captions/{VIDEO}.en.json3"] == 2


def test_a_caption_server_error_that_passes_is_retried(site, make):
    url = track(site, VIDEO, "en", "json3")
    site.serve(f"/captions/{VIDEO}.en.json3", (500, b"oops"), (200, MANUAL_JSON3))
    site.video(VIDEO, video_info(subtitles={"en": [url]}))
    assert fetch_one(make(), VIDEO).text == MANUAL_TEXT


def test_an_unreachable_caption_server_is_a_fetch_error_after_retries(site, make):
    dead = {"ext": "json3", "url": "http://127.0.0.1:9/captions.json3"}  # the discard port: nothing listens
    site.video(VIDEO, video_info(subtitles={"en": [dead]}))
    with pytest.raises(FetchError, match=r"caption download failed after 2 attempts"):
        list(make(retries=1).fetch(VIDEO))


def test_a_rate_limited_video_page_is_retried_then_reported(site, make, sleeps):
    site.serve(f"/videos/{VIDEO}.json", (429, b"slow down"))
    with pytest.raises(HTTPStatusError) as info:
        list(make(retries=2, backoff_s=0.5).fetch(VIDEO))
    assert info.value.status == 429
    assert info.value.reason == "rate-limited by YouTube (HTTP 429) after 3 attempts; add it again later"
    assert sleeps == [0.5, 1.0]


def test_a_video_page_that_is_not_found_is_not_retried(site, make):
    with pytest.raises(SourceNotFoundError, match=r"not found \(HTTP 404\)"):
        list(make().fetch(VIDEO))
    assert site.hits[f"/videos/{VIDEO}.json"] == 1


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("Private video. Sign in if you've been granted access to this video", "private video"),
        ("Video unavailable. This video has been removed by the uploader", "removed or unavailable"),
        (
            (
                "This video is no longer available because the YouTube account associated with this video has "
                "been terminated."
            ),
            "removed or unavailable",
        ),
        (
            "Join this channel to get access to members-only content like this video, and other exclusive perks.",
            "members-only video",
        ),
        ("This video is available to this channel's members on level: Baker", "members-only video"),
        ("Sign in to confirm your age. This video may be inappropriate for some users.", "age-restricted video"),
        ("This live event will begin in 3 days.", "not yet available"),
        ("geo", "geo-restricted"),
    ],
)
def test_unavailable_videos_say_why_and_are_never_retried(site, make, sleeps, message, reason):
    site.video(VIDEO, {"error": message})
    with pytest.raises(UnavailableError) as info:
        list(make().fetch(VIDEO))
    assert info.value.source == VIDEO
    assert info.value.reason.startswith(reason)
    assert site.hits[f"/videos/{VIDEO}.json"] == 1
    assert sleeps == []


def test_a_live_stream_in_progress_is_unavailable(site, make):
    site.video(VIDEO, video_info(live_status="is_live"))
    with pytest.raises(UnavailableError, match="live stream still running"):
        list(make().fetch(VIDEO))


def test_a_video_without_captions_is_a_clear_error(site, make):
    site.video(VIDEO, video_info())
    with pytest.raises(EmptyDocumentError) as info:
        list(make().fetch(VIDEO))
    assert info.value.reason == "no captions: the video has none"


def test_captions_withheld_for_a_po_token_are_transcript_unavailable(site, make):
    warning = f"{VIDEO}: There are missing subtitles languages because a PO token was not provided."
    site.video(VIDEO, {**video_info(), "warnings": [warning]})
    with pytest.raises(TranscriptUnavailableError, match=r"transcript unavailable: .*PO token"):
        list(make().fetch(VIDEO))


def test_captions_without_speech_are_empty(site, make):
    music = json3({"tStartMs": 0, "dDurationMs": 5000, "segs": [{"utf8": "[Music]"}]})
    site.video(VIDEO, video_info(subtitles={"en": [track(site, VIDEO, "en", "json3", music)]}))
    with pytest.raises(EmptyDocumentError, match="hold no speech"):
        list(make().fetch(VIDEO))


# ---------------------------------------------------------------- channels and playlists


def stub(video_id, path="watch?v="):
    return {"_type": "url", "ie_key": "Youtube", "id": video_id, "url": f"https://www.youtube.com/{path}{video_id}"}


def test_a_channel_expands_to_each_video_once_with_the_total_known(site, make):
    site.listing(
        "@hedgerow",
        {
            "_type": "playlist",
            "id": "UCabcdefghijklmnopqrstuv",
            "title": "Hedgerow Bakery",
            "entries": [
                {
                    "_type": "playlist",
                    "id": "videos",
                    "title": "Hedgerow Bakery - Videos",
                    "extractor": "localyoutube",
                    "extractor_key": "LocalYouTube",
                    "webpage_url": "https://www.youtube.com/@hedgerow/videos",
                    "entries": [stub(VIDEO), stub(OTHER)],
                },
                {"_type": "url", "ie_key": "YoutubeTab", "url": "https://www.youtube.com/@hedgerow/shorts"},
                stub(VIDEO),  # listed twice: fetched once
            ],
        },
    )
    site.listing("@hedgerow_shorts", {"_type": "playlist", "id": "shorts", "entries": [stub("abcdefghijk", "shorts/")]})

    listing = make().expand("@hedgerow")

    assert isinstance(listing, Listing)
    assert len(listing) == 3
    assert listing.title == "Hedgerow Bakery"
    assert list(listing) == [WATCH, youtube_url(OTHER), youtube_url("abcdefghijk")]
    assert site.hits["/lists/@hedgerow.json"] == 1


def test_limit_caps_the_videos_listed(site, make):
    videos = [stub(VIDEO), stub(OTHER), stub("abcdefghijk")]
    site.listing("PL7", {"_type": "playlist", "id": "PL7", "entries": videos})
    assert list(make(limit=2).expand("https://www.youtube.com/playlist?list=PL7")) == [WATCH, youtube_url(OTHER)]


def test_a_playlist_expands_to_its_videos(site, make):
    site.listing("PL123", {"_type": "playlist", "id": "PL123", "title": "Bread", "entries": [stub(OTHER)]})
    assert list(make().expand("https://youtube.com/playlist?list=PL123")) == [youtube_url(OTHER)]


def test_a_channel_that_does_not_exist(make):
    with pytest.raises(SourceNotFoundError) as info:
        make().expand("https://www.youtube.com/@nobody")
    assert info.value.source == "https://www.youtube.com/@nobody"


def test_a_rate_limited_listing_is_retried(site, make):
    body = json.dumps({"_type": "playlist", "id": "PL9", "entries": [stub(VIDEO)]}).encode()
    site.serve("/lists/PL9.json", (429, b""), (200, body))
    assert list(make().expand("https://www.youtube.com/playlist?list=PL9")) == [WATCH]


@pytest.mark.parametrize("source", [VIDEO, f"https://youtu.be/{VIDEO}?t=42", f"youtube.com/shorts/{VIDEO}"])
def test_a_video_expands_to_its_canonical_url(make, source):
    assert list(make().expand(source)) == [WATCH]


def test_fetching_a_channel_asks_to_expand_it(make):
    with pytest.raises(ReadError, match="expand it into videos first"):
        list(make().fetch("https://www.youtube.com/@hedgerow"))


def test_a_url_that_yt_dlp_does_not_recognise_is_unsupported(make):
    with pytest.raises(UnsupportedSourceError, match="yt-dlp does not recognise this URL"):
        make().expand("https://www.youtube.com/playlist?list=PL%20odd")


def test_other_youtube_urls_are_refused_with_the_accepted_forms(make):
    with pytest.raises(UnsupportedSourceError, match="expected a video URL or id"):
        make().expand("https://www.youtube.com/feed/subscriptions")


# ---------------------------------------------------------------- routing and links


@pytest.mark.parametrize(
    ("source", "video_id", "claimed"),
    [
        (f"https://www.youtube.com/watch?v={VIDEO}", VIDEO, True),
        (f"https://www.youtube.com/watch?v={VIDEO}&list=PL123&t=10s", VIDEO, True),
        (f"http://m.youtube.com/watch?feature=share&v={VIDEO}", VIDEO, True),
        (f"https://music.youtube.com/watch?v={VIDEO}", VIDEO, True),
        (f"https://youtu.be/{VIDEO}", VIDEO, True),
        (f"https://youtu.be/{VIDEO}?si=abc", VIDEO, True),
        (f"https://www.youtube.com/shorts/{VIDEO}", VIDEO, True),
        (f"https://www.youtube.com/embed/{VIDEO}", VIDEO, True),
        (f"https://www.youtube-nocookie.com/embed/{VIDEO}?start=3", VIDEO, True),
        (f"https://www.youtube.com/live/{VIDEO}", VIDEO, True),
        (f"www.youtube.com/watch?v={VIDEO}", VIDEO, True),
        (f"youtu.be/{VIDEO}", VIDEO, True),
        (VIDEO, VIDEO, True),
        (OTHER, OTHER, True),
        ("https://www.youtube.com/playlist?list=PLx0sYbCqOb8TBPRdmBHs5Iftvv9TPboYG", None, True),
        ("https://www.youtube.com/@FactSpark", None, True),
        ("https://www.youtube.com/@FactSpark/videos", None, True),
        ("https://www.youtube.com/channel/UC5EcQrgvXsgGLR4ukxBTM8w", None, True),
        ("https://www.youtube.com/c/FactSpark", None, True),
        ("https://www.youtube.com/user/NASAgovVideo", None, True),
        ("@FactSpark", None, True),
        ("@fact.spark-2", None, True),
        ("archive/NcdgMj3nDvE.info.json", None, True),
        ("/srv/archive/Title [NcdgMj3nDvE].INFO.JSON", None, True),
        ("https://www.youtube.com/feed/subscriptions", None, True),  # claimed, then refused with the forms
        ("https://youtu.be/", None, True),
        ("dQw4w9WgXcZ", None, False),  # 11 characters, but no video id ends in Z
        ("hello_world", None, False),
        ("notes.md", None, False),
        ("@a", None, False),
        ("https://example.com/watch?v=dQw4w9WgXcQ", None, False),
        ("https://notyoutube.com/watch?v=dQw4w9WgXcQ", None, False),
        ("ftp://youtube.com/watch?v=dQw4w9WgXcQ", None, False),
        ("file:///archive/x.info.json", None, False),
        ("", None, False),
        ("   ", None, False),
    ],
)
def test_which_sources_are_claimed(source, video_id, claimed):
    assert YouTubeConnector().can_handle(source) is claimed
    assert youtube_video_id(source) == video_id


def test_a_bare_id_or_handle_that_names_a_local_file_is_left_to_the_files_connector(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / VIDEO).write_text("a local file", encoding="utf-8")
    (tmp_path / "@notes").mkdir()
    connector = YouTubeConnector()
    assert not connector.can_handle(VIDEO)
    assert not connector.can_handle("@notes")
    assert connector.can_handle(OTHER)


@pytest.mark.parametrize(
    ("start_s", "url"),
    [(None, WATCH), (0, f"{WATCH}&t=0s"), (754.9, f"{WATCH}&t=754s"), (-1, f"{WATCH}&t=0s")],
)
def test_video_links_open_at_a_time(start_s, url):
    assert youtube_url(VIDEO, start_s=start_s) == url


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="retries"):
        YouTubeConnector(retries=-1)
    with pytest.raises(ValueError, match="limit"):
        YouTubeConnector(limit=0)


# ---------------------------------------------------------------- end to end: index, audit, time range and link

LONG_CUES = [
    "so the first thing you notice about a rye starter",
    "is how little it rises compared with a wheat one",
    "it gets bubbly and smells sharp like green apples",
    "but it never doubles in the jar the way people expect",
    "which is why I go by the smell and the bubbles",
    "rather than by the height of the starter on the glass",
    "once it smells right I mix the flour and the water",
    "and leave the dough to rest for about half an hour",
    "before I add the salt and start to knead it gently",
    "rye dough is sticky so wet hands help a great deal",
]


def test_end_to_end_a_quoted_transcript_is_found_with_its_time_and_link(site, make, tmp_path):
    events = [
        {"tStartMs": 10_000 + 4000 * i, "dDurationMs": 4000, "segs": [{"utf8": line}]}
        for i, line in enumerate(LONG_CUES)
    ]
    subtitles = {"en": [track(site, VIDEO, "en", "json3", json3(*events))]}
    site.video(VIDEO, video_info(subtitles=subtitles))
    with IndexStore.open(tmp_path / "index.duckdb") as store:
        summary = add_sources(store, [WATCH], available=[make()])
        assert summary.counts["added"] == 1
        again = add_sources(store, [WATCH], available=[make()])
        assert again.counts["unchanged"] == 1
        assert site.hits[f"/videos/{VIDEO}.json"] == 1  # the known video was not fetched again
        quote = " ".join(" ".join(LONG_CUES[2:9]).split()[:60])
        (match,) = Auditor(store).audit_text(f"A model wrote: {quote}. The end.")
    assert match.kind == "youtube"
    assert match.source == WATCH
    assert match.work_time == (18.0, 42.0)  # cue 2 starts at 18 s; the 60th word is in cue 7, ending at 42 s
    assert match.link == f"{WATCH}&t=18s"
    assert match.to_dict()["work_time_label"] == "0:18-0:42"


# ---------------------------------------------------------------- threads


def test_threads_sharing_the_connector_get_what_one_at_a_time_gets(site, make):
    """Each thread has its own yt-dlp: no thread's warnings (a PO token's) end up in another's video."""
    urls = []
    for i in range(6):
        video_id = f"vid{i:08d}"
        if i % 3 == 0:  # captions withheld, which only yt-dlp's warning tells
            warning = f"{video_id}: There are missing subtitles languages because a PO token was not provided."
            site.video(video_id, {**video_info(video_id), "warnings": [warning]})
        elif i % 3 == 1:  # no captions at all
            site.video(video_id, video_info(video_id))
        else:
            said = json3({"tStartMs": 0, "dDurationMs": 3000, "segs": [{"utf8": f"Video {i} says hello."}]})
            site.video(video_id, video_info(video_id, subtitles={"en": [track(site, video_id, "en", "json3", said)]}))
        urls.append(youtube_url(video_id))
    site.delay = 0.02
    connector = make()

    def outcome(url):
        try:
            return fetch_one(connector, url).text
        except (TranscriptUnavailableError, EmptyDocumentError) as exc:
            return type(exc).__name__

    one_at_a_time = [outcome(url) for url in urls]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(outcome, urls * 3))
    withheld, none = "TranscriptUnavailableError", "EmptyDocumentError"
    assert one_at_a_time == [withheld, none, "Video 2 says hello.", withheld, none, "Video 5 says hello."]
    assert together == one_at_a_time * 3


def test_a_catalog_of_videos_added_side_by_side_resumes_without_fetching_them_again(site, make, tmp_path):
    catalog = tmp_path / "catalog.csv"
    rows = ["source,creator,rights_holder,consent,org_id"]
    for i in range(8):
        video_id = f"vid{i:08d}"
        lines = [f"video {i}", *LONG_CUES[1:]]
        events = [{"tStartMs": 4000 * n, "dDurationMs": 4000, "segs": [{"utf8": t}]} for n, t in enumerate(lines)]
        subtitles = {"en": [track(site, video_id, "en", "json3", json3(*events))]}
        site.video(video_id, video_info(video_id, subtitles=subtitles))
        rows.append(f"{youtube_url(video_id)},Baker,Hedgerow Bakery,granted,V-{i}")
    catalog.write_text("\n".join(rows) + "\n")
    with IndexStore.open(tmp_path / "index.duckdb") as store:
        first = add_catalog(store, str(catalog), available=[make()], jobs=4, workers=2)
        again = add_catalog(store, str(catalog), available=[make()], jobs=4, workers=2)
        creators = {w.creator for w in store.works()}
    assert first.counts == {"added": 8, "replaced": 0, "unchanged": 0, "failed": 0}
    assert again.counts == {"added": 0, "replaced": 0, "unchanged": 8, "failed": 0}
    assert all(site.hits[f"/videos/vid{i:08d}.json"] == 1 for i in range(8))  # known videos are not fetched again
    assert creators == {"Baker"}
