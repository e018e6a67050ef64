import pytest

import connectors
from connectors import registry
from connectors.errors import SourceNotFoundError, UnsupportedSourceError


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "talks").mkdir()
    (tmp_path / "notes.md").write_text("# Notes\n\nSome words.\n", encoding="utf-8")
    (tmp_path / "talks" / "one.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nHello there.\n", encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("source", "connector"),
    [
        ("{tree}/notes.md", "files"),  # an existing file
        ("{tree}/talks", "files"),  # an existing folder
        ("{tree}/missing.txt", "files"),  # a path that does not exist: files says so when read
        ("relative/path/story.txt", "files"),
        ("file://{tree}/notes.md", "files"),
        ("file:///etc/hostname", "files"),
        ("https://example.com/article.html", "web"),
        ("http://127.0.0.1:8000/page", "web"),
        ("https://example.com/sitemap.xml", "web"),
        ("ftp://example.com/file.txt", None),
        ("", None),
    ],
)
def test_which_connector_claims_which_source(tree, source, connector):
    source = source.format(tree=tree)
    if connector is None:
        with pytest.raises(UnsupportedSourceError) as info:
            registry.connector_for(source)
        assert info.value.source == source
    else:
        assert registry.connector_for(source).name == connector


def test_fetch_reads_every_file_of_a_folder_in_order(tree):
    documents = list(registry.fetch(str(tree)))
    assert [d.kind for d in documents] == ["markdown", "srt"]
    assert [d.title for d in documents] == ["Notes", "one"]
    assert documents[1].text == "Hello there."


def test_fetch_of_a_missing_path_says_not_found(tree):
    with pytest.raises(SourceNotFoundError):
        list(registry.fetch(str(tree / "missing.txt")))


def test_builtin_connectors_are_listed_last():
    assert registry.connectors()[-1].name == "files"


def test_options_reach_the_web_connector():
    options = registry.ConnectorOptions(crawl=True, max_pages=7, depth=1, allow_private=True)
    (web,) = [c for c in registry.builtin_connectors(options) if c.name == "web"]
    assert (web.crawl, web.max_pages, web.depth, web.fetcher.allow_private) == (True, 7, 1, True)


def test_public_names_are_sorted_and_importable():
    assert connectors.__all__ == sorted(connectors.__all__)
    assert all(hasattr(connectors, name) for name in connectors.__all__)
