import gzip
import hashlib
import json
from pathlib import Path

import pytest
from localhttp import Route

from connectors.base import Connector
from connectors.errors import (
    BinaryContentError,
    EmptyDocumentError,
    HTTPStatusError,
    PrivateAddressError,
    ReadError,
    RobotsDisallowedError,
    SourceNotFoundError,
    TooLargeError,
    UnsupportedSourceError,
)
from connectors.fetcher import Fetcher
from connectors.web import WebConnector

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples" / "web"
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared/samples/web is not beside the repository")


def connector(**kwargs):
    fetcher = Fetcher(allow_private=True, min_interval=0.0, connect_timeout=2.0, read_timeout=2.0)
    return WebConnector(fetcher=fetcher, **kwargs)


def html(title, body="", head=""):
    return Route(body=f"<html><head><title>{title}</title>{head}</head><body>{body}</body></html>".encode())


def xml(body, content_type="application/xml"):
    return Route(body=body.encode(), headers=(("Content-Type", content_type),))


ARTICLE = """<!DOCTYPE html>
<html lang="en-GB"><head>
<meta charset="utf-8">
<title>Hedgerow Honey | A Beekeeper's Notes</title>
<link rel="canonical" href="/posts/hedgerow-honey">
<meta name="author" content="Ada Lovelace">
<meta property="article:published_time" content="2024-05-17T08:00:00Z">
<meta name="robots" content="noai">
</head><body>
<header><nav><a href="/">Home</a> <a href="/about">About</a></nav></header>
<article><h1>Hedgerow Honey</h1>
<p>Eight seasons with three hives taught me that the hedgerow decides the honey more than the keeper does.
Blackthorn in March, hawthorn in May, bramble through the summer: each gives its own colour and taste.</p>
<p>The bees forage up to three miles from the hive, so the flowers of the whole parish end up in the jar,
and a dry June shows in the crop as clearly as a wet one does.</p>
</article>
<footer>Copyright the author</footer>
</body></html>"""


# --- routing --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "claimed"),
    [
        ("https://example.com/blog/", True),
        ("HTTP://Example.com", True),
        ("http://127.0.0.1:8000/page", True),
        ("https://", False),
        ("ftp://example.com/file", False),
        ("file:///etc/hostname", False),
        ("notes/a.md", False),
        ("", False),
    ],
)
def test_can_handle_http_urls_only(source, claimed):
    assert WebConnector().can_handle(source) is claimed


def test_is_a_connector():
    web = WebConnector()
    assert isinstance(web, Connector)
    assert web.name == "web"


# --- single pages ---------------------------------------------------------------------------------


def test_single_page_becomes_one_document(server):
    server.routes["/article"] = Route(
        body=ARTICLE.encode(),
        headers=(
            ("Content-Type", "text/html; charset=utf-8"),
            ("Last-Modified", "Fri, 17 May 2024 09:00:00 GMT"),
            ("tdm-reservation", "1"),
        ),
    )
    web = connector()
    items = list(web.expand(server.base + "/article"))
    assert items == [server.base + "/article"]
    (doc,) = web.fetch(items[0])
    assert doc.kind == "web"
    assert doc.title == "Hedgerow Honey"  # trafilatura drops the site name from the title
    assert "the hedgerow decides the honey" in doc.text
    assert "Copyright the author" not in doc.text  # boilerplate left out
    assert doc.source == server.base + "/posts/hedgerow-honey"  # the canonical URL
    assert doc.content_sha256 == hashlib.sha256(ARTICLE.encode()).hexdigest()
    assert doc.metadata["url"] == server.base + "/article"
    assert doc.metadata["final_url"] == server.base + "/article"
    assert doc.metadata["canonical_url"] == server.base + "/posts/hedgerow-honey"
    assert doc.metadata["author"] == "Ada Lovelace"
    assert doc.metadata["creator"] == "Ada Lovelace"
    assert doc.metadata["date"] == "2024-05-17"
    assert doc.metadata["language"] == "en-GB"
    assert doc.metadata["encoding"] == "utf-8"
    assert doc.modified_at is not None
    assert doc.modified_at.year == 2024
    assert doc.consent is not None
    assert doc.consent["status"] == "reserved"
    assert "meta robots: noai" in doc.consent["summary"]
    assert "tdm-reservation: 1 (header)" in doc.consent["summary"]
    assert doc.metadata["consent_status"] == "reserved"
    json.dumps(doc.consent)
    # expand and fetch shared one response; site files were fetched once
    assert server.requests.count("/article") == 1
    assert server.requests.count("/robots.txt") == 1


def test_fetch_without_expand(server):
    server.routes["/p"] = html("Plain", "<p>Some words on a page.</p>")
    (doc,) = connector().fetch(server.base + "/p")
    assert doc.text == "Some words on a page."
    assert doc.source == server.base + "/p"
    assert doc.consent["status"] == "not_reserved"
    assert "creator" not in doc.metadata


def test_redirected_page_is_listed_under_its_final_url(server):
    server.routes["/old"] = Route(301, headers=(("Location", "/new"),))
    server.routes["/new"] = html("New", "<p>Moved here.</p>")
    web = connector()
    assert list(web.expand(server.base + "/old")) == [server.base + "/new"]


def test_plain_text_page(server):
    server.routes["/notes.txt"] = Route(body=b"Just text.\nTwo lines.", headers=(("Content-Type", "text/plain"),))
    (doc,) = connector().fetch(server.base + "/notes.txt")
    assert doc.text == "Just text.\nTwo lines."
    assert doc.title == "notes.txt"


@pytest.mark.parametrize(
    ("content_type", "body", "encoding", "warned"),
    [
        ("text/html; charset=windows-1252", "<p>Café crème</p>".encode("cp1252"), "cp1252", False),
        ("text/html", b'<meta charset="iso-8859-1"><p>Caf\xe9 cr\xe8me</p>', "cp1252", False),
        ("text/html", '<meta charset="utf-8"><p>Café crème</p>'.encode(), "utf-8", False),
        ("text/html; charset=utf-8", "<p>Café crème, déjà vu</p>".encode("cp1252"), "cp1252", True),
        ("text/html", b"\xef\xbb\xbf<p>Caf\xc3\xa9 cr\xc3\xa8me</p>", "utf-8-sig", False),
        ("text/html; charset=x-unknown", "<p>Café crème</p>".encode(), "utf-8", True),
    ],
)
def test_charset_detection(server, content_type, body, encoding, warned):
    server.routes["/p"] = Route(body=body, headers=(("Content-Type", content_type),))
    (doc,) = connector().fetch(server.base + "/p")
    assert "Café crème" in doc.text
    assert doc.metadata["encoding"] == encoding
    assert bool(doc.warnings) is warned


def test_non_html_content_is_refused(server):
    server.routes["/logo.png"] = Route(body=b"\x89PNG\r\n\x1a\n" + bytes(64), headers=(("Content-Type", "image/png"),))
    web = connector()
    assert list(web.expand(server.base + "/logo.png")) == [server.base + "/logo.png"]
    with pytest.raises(UnsupportedSourceError, match="image/png is not a web page") as info:
        list(web.fetch(server.base + "/logo.png"))
    assert info.value.source == server.base + "/logo.png"


def test_binary_without_a_type_is_refused(server):
    server.routes["/blob"] = Route(body=bytes(range(256)) * 4, headers=())
    with pytest.raises(BinaryContentError):
        list(connector().fetch(server.base + "/blob"))


def test_empty_page(server):
    server.routes["/empty"] = html("", "")
    with pytest.raises(EmptyDocumentError):
        list(connector().fetch(server.base + "/empty"))


def test_page_errors_name_the_url(server):
    server.routes["/big"] = html("Big", "<p>" + "word " * 5000 + "</p>")
    web = WebConnector(fetcher=Fetcher(allow_private=True, min_interval=0, max_bytes=10_000))
    with pytest.raises(TooLargeError) as info:
        list(web.fetch(server.base + "/big"))
    assert info.value.source == server.base + "/big"
    with pytest.raises(SourceNotFoundError):
        list(connector().fetch(server.base + "/missing"))


def test_loopback_refused_without_allow_private(server):
    server.routes["/p"] = html("P", "<p>x</p>")
    with pytest.raises(PrivateAddressError):
        list(WebConnector().expand(server.base + "/p"))
    assert server.requests == []
    assert WebConnector(allow_private=True).fetcher.allow_private


def test_robots_txt_disallowing_us_is_a_clear_failure(server):
    server.routes["/robots.txt"] = Route(body=b"User-agent: provenance-audit\nDisallow: /\n", headers=())
    server.routes["/p"] = html("P", "<p>x</p>")
    with pytest.raises(RobotsDisallowedError):
        list(connector().expand(server.base + "/p"))


# --- sitemaps ---------------------------------------------------------------------------------------

SITEMAP_INDEX = """<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>{base}/sitemap-posts.xml</loc></sitemap>
  <sitemap><loc>{base}/sitemap-pages.xml.gz</loc><lastmod>2024-01-01</lastmod></sitemap>
  <sitemap><loc>{base}/sitemap-gone.xml</loc></sitemap>
</sitemapindex>"""

POSTS = """<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>{base}/posts/one</loc><lastmod>2024-02-01</lastmod></url>
  <url><loc>{base}/posts/two</loc></url>
  <url><loc>{base}/posts/data.xml</loc></url>
</urlset>"""

PAGES = """<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>{base}/about</loc></url>
  <url><loc>{base}/posts/one</loc></url>
</urlset>"""


def test_sitemap_index_lists_the_pages_of_every_sitemap(server):
    server.routes["/sitemap.xml"] = xml(SITEMAP_INDEX)
    server.routes["/sitemap-posts.xml"] = xml(POSTS, "text/xml")
    pages_gz = gzip.compress(PAGES.replace("{base}", server.base).encode())
    server.routes["/sitemap-pages.xml.gz"] = Route(body=pages_gz, headers=(("Content-Type", "application/x-gzip"),))
    web = connector()
    items = list(web.expand(server.base + "/sitemap.xml"))
    base = server.base
    assert items == [
        f"{base}/posts/one",
        f"{base}/posts/two",
        f"{base}/posts/data.xml",  # a page whose name ends in .xml is still a page
        f"{base}/about",
        f"{base}/sitemap-gone.xml",  # listed so that its failure is reported
    ]
    with pytest.raises(SourceNotFoundError) as info:
        list(web.fetch(f"{base}/sitemap-gone.xml"))
    assert info.value.source == f"{base}/sitemap-gone.xml"
    assert server.requests.count("/sitemap-gone.xml") == 1  # the failure was remembered, not refetched


def test_plain_text_sitemap(server):
    server.routes["/sitemap.txt"] = Route(
        body=b"{base}/a\n{base}/b\n\n{base}/a\n", headers=(("Content-Type", "text/plain"),)
    )
    assert list(connector().expand(server.base + "/sitemap.txt")) == [server.base + "/a", server.base + "/b"]


def test_a_sitemap_that_is_not_one(server):
    server.routes["/sitemap.xml"] = xml("<urlset><url><loc>not a url</loc></url></urlset>")
    assert list(connector().expand(server.base + "/sitemap.xml")) == []


def test_broken_nested_sitemap_is_reported_not_fatal(server):
    server.routes["/sitemap.xml"] = xml(
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        "<sitemap><loc>{base}/bad.xml</loc></sitemap><sitemap><loc>{base}/binary.xml</loc></sitemap>"
        "<sitemap><loc>{base}/good.xml</loc></sitemap></sitemapindex>"
    )
    server.routes["/bad.xml"] = html("Not a sitemap", "<p>oops</p>")
    server.routes["/binary.xml"] = Route(body=bytes(range(256)), headers=(("Content-Type", "application/xml"),))
    server.routes["/good.xml"] = xml(POSTS)
    web = connector()
    items = list(web.expand(server.base + "/sitemap.xml"))
    assert items[:2] == [server.base + "/bad.xml", server.base + "/binary.xml"]
    assert items[2:] == [server.base + p for p in ("/posts/one", "/posts/two", "/posts/data.xml")]
    with pytest.raises(ReadError, match="not a readable sitemap"):
        list(web.fetch(server.base + "/bad.xml"))
    with pytest.raises(BinaryContentError):
        list(web.fetch(server.base + "/binary.xml"))


# --- feeds ----------------------------------------------------------------------------------------

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel>
  <title>Notes</title><link>{base}/</link><description>d</description>
  <item><title>One</title><link>{base}/posts/one</link></item>
  <item><title>Two</title><link>/posts/two</link></item>
  <item><guid isPermaLink="true">{base}/posts/three</guid><description>no link</description></item>
  <item><title>One again</title><link>{base}/posts/one#comments</link></item>
</channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="{base}/blog/">
  <title>Notes</title><id>urn:notes</id><updated>2024-01-01T00:00:00Z</updated>
  <link rel="self" href="{base}/atom.xml"/><link href="{base}/"/>
  <entry><title>A</title><id>urn:a</id><updated>2024-01-01T00:00:00Z</updated>
    <link rel="alternate" href="a.html"/><link rel="enclosure" href="a.mp3"/></entry>
  <entry><title>B</title><id>urn:b</id><updated>2024-01-02T00:00:00Z</updated><link href="{base}/blog/b.html"/></entry>
</feed>"""


def test_rss_feed_lists_its_items(server):
    server.routes["/feed"] = xml(RSS, "application/rss+xml")
    items = list(connector().expand(server.base + "/feed"))
    assert items == [server.base + "/posts/one", server.base + "/posts/two", server.base + "/posts/three"]


def test_atom_feed_lists_its_entries(server):
    server.routes["/atom.xml"] = xml(ATOM, "application/atom+xml")
    items = list(connector().expand(server.base + "/atom.xml"))
    assert items == [server.base + "/blog/a.html", server.base + "/blog/b.html"]


# --- crawling -------------------------------------------------------------------------------------


@pytest.fixture
def site(server):
    r = server.routes
    r["/robots.txt"] = Route(body=b"User-agent: *\nDisallow: /private/\n", headers=(("Content-Type", "text/plain"),))
    r["/"] = html(
        "Home",
        '<a href="/a">A</a> <a href="b">B</a> <a href="/private/x">P</a> <a href="/a#top">A again</a>'
        '<a href="/broken">Broken</a> <a href="/photo.jpg">Photo</a> <a href="/doc">Doc</a>'
        '<a href="http://example.com/elsewhere">External</a> <a href="mailto:me@example.com">Mail</a>',
    )
    r["/a"] = html("A", '<p>Page A.</p><a href="/a/deeper">Deeper</a> <a href="/">Home</a>')
    r["/b"] = html("B", "<p>Page B.</p>", head='<meta name="robots" content="nofollow">')
    r["/a/deeper"] = html("Deeper", '<p>Deeper.</p><a href="/a/deepest">Deepest</a>')
    r["/a/deepest"] = html("Deepest", "<p>Deepest.</p>")
    r["/broken"] = Route(500, b"oops")
    r["/doc"] = Route(body=b"%PDF-1.4", headers=(("Content-Type", "application/pdf"),))
    return server


def test_crawl_follows_same_site_links_breadth_first(site):
    web = connector(crawl=True, depth=2)
    base = site.base
    items = list(web.expand(base + "/"))
    assert items == [base + "/", base + "/a", base + "/b", base + "/broken", base + "/a/deeper"]
    assert "/private/x" not in site.requests  # robots.txt disallows it: not fetched, not listed
    assert "/photo.jpg" not in site.requests  # not a page: not fetched
    assert "/a/deepest" not in site.requests  # three links away
    documents = [doc for item in items if item != base + "/broken" for doc in web.fetch(item)]
    assert [d.title for d in documents] == ["Home", "A", "B", "Deeper"]
    for path in ("/", "/a", "/b", "/a/deeper"):
        assert site.requests.count(path) == 1  # pages read by the crawl were not fetched again
    with pytest.raises(HTTPStatusError) as info:
        list(web.fetch(base + "/broken"))
    assert info.value.status == 500
    assert site.requests.count("/broken") == 1


def test_crawl_limits(site):
    base = site.base
    assert list(connector(crawl=True, depth=0).expand(base + "/")) == [base + "/"]
    assert list(connector(crawl=True, max_pages=2).expand(base + "/")) == [base + "/", base + "/a"]


def test_nofollow_page_links_are_not_followed(site):
    items = list(connector(crawl=True, depth=3).expand(site.base + "/b"))
    assert items == [site.base + "/b"]


def test_without_crawl_a_page_is_only_itself(site):
    assert list(connector().expand(site.base + "/")) == [site.base + "/"]


# --- saved real pages -----------------------------------------------------------------------------


@needs_samples
@pytest.mark.parametrize(
    ("name", "title", "canonical_path", "date"),
    [
        ("lemire.me.json.html", "JSON parsing: simdjson vs. JSON for Modern C++", "/blog/2019/08/02/", "2019-08-02"),
        ("harpers.org.justice.html", "A Letter on Justice and Open Debate", "/a-letter-on-justice", "2020-07-07"),
        ("docs.docker.com.install.html", "Install Docker Engine", "/engine/install/", "2022-04-22"),
        ("anarc.at.cdpath.html", "CDPATH replacements", None, "2020-10-18"),
    ],
)
def test_saved_real_pages(server, name, title, canonical_path, date):
    server.routes["/page"] = Route(body=(SAMPLES / "pages" / name).read_bytes())
    (doc,) = connector().fetch(server.base + "/page")
    assert doc.title.startswith(title)
    assert len(doc.text) > 1000
    assert doc.metadata["date"] == date
    assert doc.metadata["language"].startswith("en")
    if canonical_path is None:
        assert doc.source == server.base + "/page"
    else:
        assert canonical_path in doc.source
        assert doc.metadata["final_url"] == server.base + "/page"
    if name.startswith("lemire"):
        assert doc.metadata["creator"] == "Daniel Lemire"
