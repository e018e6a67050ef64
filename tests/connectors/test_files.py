import hashlib
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from connectors.base import Connector
from connectors.document import Document
from connectors.errors import (
    BinaryContentError,
    EmptyDocumentError,
    ReadError,
    SourceNotFoundError,
    TooLargeError,
    UnsupportedSourceError,
)
from connectors.files import FilesConnector

RUNNING_AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
ROOT_SKIP_REASON = "runs as root, and file permissions do not stop root from reading"

VTT = """WEBVTT

00:00:01.000 --> 00:00:02.000
<v Ada>Knead it</v> gently.

00:00:02.000 --> 00:00:03.000
[Music]

00:00:03.000 --> 00:00:04.500
Then let it &amp; rest.
"""

SRT = "1\n00:00:01,000 --> 00:00:02,000\n<i>Knead it</i>\ngently.\n\n2\n00:00:03,000 --> 00:00:04,500\nThen rest.\n"

ARTICLE = "<p>{}</p>".format(
    "The mill turned all summer long, and the miller kept the stones dressed so that the "
    "flour came out fine and even, which the bakers of the valley valued above everything."
)


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def fetch_one(source: str | Path, **options) -> Document:
    documents = list(FilesConnector(**options).fetch(str(source)))
    assert len(documents) == 1
    return documents[0]


def test_is_a_connector():
    connector = FilesConnector()
    assert isinstance(connector, Connector)
    assert connector.name == "files"


def test_plain_text_document_fields(tmp_path):
    raw = b"First line.\r\nSecond line.\r\n"
    path = write(tmp_path / "notes" / "diary.txt", raw)
    os.utime(path, (1_700_000_000, 1_700_000_000))
    document = fetch_one(path)
    assert document.text == "First line.\nSecond line.\n"
    assert document.kind == "text"
    assert document.source == str(path.resolve())
    assert document.title == "diary"
    assert document.content_sha256 == hashlib.sha256(raw).hexdigest()
    assert document.modified_at == datetime.fromtimestamp(1_700_000_000, tz=timezone.utc)
    assert document.modified_at.tzinfo is not None
    assert document.metadata == {
        "path": str(path.resolve()),
        "encoding": "utf-8",
        "size_bytes": len(raw),
    }
    assert document.cues == ()
    assert document.warnings == ()


@pytest.mark.parametrize("name", ["notes.text", "README", "chapter.rst", "story.TXT"])
def test_other_extensions_are_plain_text(tmp_path, name):
    document = fetch_one(write(tmp_path / name, "Once upon a time."))
    assert document.kind == "text"
    assert document.text == "Once upon a time."


@pytest.mark.parametrize("name", ["post.md", "post.markdown", "POST.MD"])
def test_markdown_file(tmp_path, name):
    document = fetch_one(write(tmp_path / name, "# Rye bread\n\nUse *dark* rye [flour](x.html).\n"))
    assert document.kind == "markdown"
    assert document.text == "Rye bread\n\nUse dark rye flour."
    assert document.title == "Rye bread"


@pytest.mark.parametrize("name", ["page.html", "page.htm", "page.xhtml"])
def test_html_file(tmp_path, name):
    page = f"<html><head><title>Mill news</title></head><body><nav>Home</nav>{ARTICLE}</body></html>"
    document = fetch_one(write(tmp_path / name, page))
    assert document.kind == "html"
    assert document.title == "Mill news"
    assert document.text.startswith("The mill turned all summer long")
    assert "Home" not in document.text


def test_html_without_title_uses_the_file_stem(tmp_path):
    assert fetch_one(write(tmp_path / "untitled.html", ARTICLE)).title == "untitled"


def test_webvtt_file_has_cues(tmp_path):
    document = fetch_one(write(tmp_path / "talk.vtt", VTT))
    assert document.kind == "webvtt"
    assert document.text == "Knead it gently. Then let it & rest."
    assert [document.text[c.char_start : c.char_end] for c in document.cues] == [
        "Knead it gently.",
        "Then let it & rest.",
    ]
    assert [(c.start_s, c.end_s) for c in document.cues] == [(1.0, 2.0), (3.0, 4.5)]
    assert document.title == "talk"


def test_srt_file_has_cues(tmp_path):
    document = fetch_one(write(tmp_path / "talk.srt", SRT.replace("\n", "\r\n")))
    assert document.kind == "srt"
    assert document.text == "Knead it gently. Then rest."
    assert [document.text[c.char_start : c.char_end] for c in document.cues] == [
        "Knead it gently.",
        "Then rest.",
    ]


def test_malformed_caption_file_is_a_read_error_naming_it(tmp_path):
    path = write(tmp_path / "broken.vtt", "this is not a caption file\n")
    with pytest.raises(ReadError) as info:
        fetch_one(path)
    assert info.value.source == str(path.resolve())
    assert str(path.resolve()) in str(info.value)


def test_cp1252_file_is_decoded_with_a_warning_naming_it(tmp_path):
    text = "Café crème, naïve façade — “quoted” and it’s fine. " * 10
    path = write(tmp_path / "legacy.txt", text.encode("cp1252"))
    document = fetch_one(path)
    assert document.text == text
    assert document.metadata["encoding"] == "cp1252"
    assert document.warnings == (f"{path.resolve()}: not valid UTF-8; decoded as cp1252 (guessed)",)


def test_utf16_file_with_bom(tmp_path):
    path = write(tmp_path / "wide.txt", "Ünïcode wide text\r\nline two".encode("utf-16"))
    document = fetch_one(path)
    assert document.text == "Ünïcode wide text\nline two"
    assert document.metadata["encoding"] in {"utf-16-le", "utf-16-be"}
    assert document.warnings == ()


def test_binary_file_is_refused(tmp_path):
    path = write(tmp_path / "photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(100))
    with pytest.raises(BinaryContentError) as info:
        fetch_one(path)
    assert info.value.source == str(path.resolve())


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.txt", b"", "the file is empty"),
        ("blank.txt", b"  \n\t\r\n ", "no text left after reading it as text"),
        ("blank.md", b"<!-- draft -->\n", "no text left after reading it as markdown"),
        ("script.html", b"<script>var a = 1;</script>", "no text left after reading it as html"),
        ("silence.vtt", b"WEBVTT\n\n00:01.000 --> 00:02.000\n[Music]\n", "no text left"),
    ],
)
def test_empty_documents_are_refused(tmp_path, name, data, reason):
    path = write(tmp_path / name, data)
    with pytest.raises(EmptyDocumentError) as info:
        fetch_one(path)
    assert info.value.source == str(path.resolve())
    assert info.value.reason.startswith(reason)


def test_file_over_the_limit_is_refused_with_size_and_limit(tmp_path):
    path = write(tmp_path / "big.txt", "x" * 2000)
    with pytest.raises(TooLargeError) as info:
        fetch_one(path, max_bytes=1024)
    assert info.value.source == str(path.resolve())
    assert "2,000 bytes" in info.value.reason
    assert "1,024 bytes" in info.value.reason


def test_file_at_the_limit_is_read(tmp_path):
    path = write(tmp_path / "exact.txt", "x" * 1024)
    assert len(fetch_one(path, max_bytes=1024).text) == 1024


@pytest.mark.parametrize("method", ["fetch", "expand"])
def test_missing_path_is_not_found(tmp_path, method):
    missing = str(tmp_path / "nowhere" / "gone.txt")
    with pytest.raises(SourceNotFoundError) as info:
        list(getattr(FilesConnector(), method)(missing))
    assert info.value.source == missing
    assert "no such file or directory" in str(info.value)


def test_relative_paths_become_absolute(tmp_path, monkeypatch):
    write(tmp_path / "docs" / "a.txt", "alpha")
    monkeypatch.chdir(tmp_path)
    connector = FilesConnector()
    assert list(connector.expand("docs/a.txt")) == [str((tmp_path / "docs" / "a.txt").resolve())]
    assert fetch_one("docs/a.txt").source == str((tmp_path / "docs" / "a.txt").resolve())


def test_file_url(tmp_path):
    path = write(tmp_path / "with space.txt", "spaced out")
    url = path.resolve().as_uri()
    assert "%20" in url
    assert fetch_one(url).text == "spaced out"
    assert list(FilesConnector().expand(url)) == [str(path.resolve())]


def test_file_url_on_another_host_is_unsupported():
    with pytest.raises(UnsupportedSourceError):
        list(FilesConnector().fetch("file://fileserver/share/a.txt"))


def test_web_url_is_unsupported_not_missing():
    with pytest.raises(UnsupportedSourceError):
        list(FilesConnector().fetch("https://example.com/a.txt"))


def test_fetching_a_directory_is_a_read_error(tmp_path):
    with pytest.raises(ReadError, match="expand it into files first"):
        fetch_one(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
def test_named_pipe_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    with pytest.raises(ReadError, match="not a regular file"):
        fetch_one(fifo)


def test_expand_a_file_gives_itself(tmp_path):
    path = write(tmp_path / "one.txt", "1")
    assert list(FilesConnector().expand(str(path))) == [str(path.resolve())]


def test_expand_walks_folders_in_order_skipping_hidden(tmp_path):
    for name in [
        "b.txt",
        "a.txt",
        "a.b.txt",
        "sub/z.md",
        "sub/deeper/y.txt",
        "sub2/x.html",
        ".hidden.txt",
        ".git/config",
        "sub/.cache/c.txt",
    ]:
        write(tmp_path / name, name)
    expanded = list(FilesConnector().expand(str(tmp_path)))
    relative = [Path(p).relative_to(tmp_path.resolve()).as_posix() for p in expanded]
    assert relative == [
        "a.b.txt",
        "a.txt",
        "b.txt",
        "sub/deeper/y.txt",
        "sub/z.md",
        "sub2/x.html",
    ]
    assert all(Path(p).is_absolute() for p in expanded)


def test_expand_survives_symlink_loops_and_lists_each_file_once(tmp_path):
    write(tmp_path / "a.txt", "a")
    write(tmp_path / "sub" / "b.txt", "b")
    (tmp_path / "sub" / "up").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "self").symlink_to(tmp_path / "self")
    (tmp_path / "alias.txt").symlink_to(tmp_path / "a.txt")
    (tmp_path / "dangling.txt").symlink_to(tmp_path / "missing.txt")
    expanded = list(FilesConnector().expand(str(tmp_path)))
    assert expanded == [str((tmp_path / "a.txt").resolve()), str((tmp_path / "sub" / "b.txt").resolve())]


def test_expand_an_empty_folder_gives_nothing(tmp_path):
    assert list(FilesConnector().expand(str(tmp_path))) == []


@pytest.mark.skipif(RUNNING_AS_ROOT, reason=ROOT_SKIP_REASON)
def test_unreadable_file_is_a_read_error(tmp_path):
    path = write(tmp_path / "secret.txt", "hidden")
    path.chmod(0)
    try:
        with pytest.raises(ReadError) as info:
            fetch_one(path)
        assert info.value.source == str(path.resolve())
        assert "Permission denied" in info.value.reason
    finally:
        path.chmod(0o600)


@pytest.mark.skipif(RUNNING_AS_ROOT, reason=ROOT_SKIP_REASON)
def test_unreadable_folder_is_a_read_error(tmp_path):
    folder = tmp_path / "locked"
    write(folder / "a.txt", "a")
    folder.chmod(0)
    try:
        with pytest.raises(ReadError) as info:
            list(FilesConnector().expand(str(tmp_path)))
        assert info.value.source == str(folder.resolve())
    finally:
        folder.chmod(0o700)


def test_os_errors_while_reading_are_read_errors_with_the_reason(tmp_path, monkeypatch):
    # The chmod tests above cannot run as root; this one reaches the same path by raising the
    # error the operating system would give.
    path = write(tmp_path / "secret.txt", "hidden")

    def refuse(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(ReadError) as info:
        fetch_one(path)
    assert info.value.source == str(path.resolve())
    assert info.value.reason == "cannot read file: Permission denied"


def test_os_errors_while_listing_are_read_errors_naming_the_folder(tmp_path, monkeypatch):
    folder = tmp_path / "locked"
    write(folder / "a.txt", "a")
    real_scandir = os.scandir

    def scandir(path):
        if Path(path) == folder.resolve():
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(ReadError) as info:
        list(FilesConnector().expand(str(tmp_path)))
    assert info.value.source == str(folder.resolve())
    assert info.value.reason == "cannot list folder: Permission denied"


def test_caption_files_of_a_saved_video_are_left_to_its_info_json(tmp_path):
    (tmp_path / "abc.info.json").write_text("{}", encoding="utf-8")
    (tmp_path / "abc.en.vtt").write_text("WEBVTT\n", encoding="utf-8")
    (tmp_path / "abc.de.json3").write_text("{}", encoding="utf-8")
    (tmp_path / "talk.en.vtt").write_text("WEBVTT\n", encoding="utf-8")
    names = [Path(p).name for p in FilesConnector().expand(str(tmp_path))]
    assert names == ["abc.info.json", "talk.en.vtt"]
