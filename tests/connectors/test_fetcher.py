import gzip
import shutil
import socket
import ssl
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from localhttp import Gauge, Route, serve

from connectors import fetcher as fetcher_module
from connectors.errors import (
    FetchError,
    FetchTimeoutError,
    HTTPStatusError,
    PrivateAddressError,
    RobotsDisallowedError,
    SourceNotFoundError,
    TooLargeError,
    TooManyRedirectsError,
    UnsupportedSourceError,
)
from connectors.fetcher import AGENT_NAME, Fetcher, address_problem, decode_robots, tool_version, user_agent


class FakeTime:
    def __init__(self):
        self.now = 1000.0
        self.slept = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def make(**kwargs):
    options = {"allow_private": True, "min_interval": 0.0, "connect_timeout": 2.0, "read_timeout": 2.0}
    options.update(kwargs)
    return Fetcher(**options)


def paths(server):
    return [path for path, _, _ in server.seen]


# --- tests ----------------------------------------------------------------------------------------


def test_get_returns_status_final_url_headers_body_and_time(server):
    server.routes["/page"] = Route(body=b"<p>hello</p>", headers=(("Content-Type", "text/html; charset=ISO-8859-1"),))
    response = make().get(server.base + "/page")
    assert response.status == 200
    assert response.url == response.final_url == server.base + "/page"
    assert response.body == b"<p>hello</p>"
    assert response.content_type == "text/html"
    assert response.charset == "iso-8859-1"
    assert response.retrieved_at.tzinfo is not None
    assert response.redirects == ()


def test_identifies_itself_with_its_version(server):
    server.routes["/page"] = Route(body=b"x")
    make().get(server.base + "/page")
    agents = {agent for _, agent, _ in server.seen}
    assert agents == {f"provenance-audit/{tool_version()}"}
    assert user_agent().startswith(AGENT_NAME + "/")
    assert tool_version() != ""


def test_loopback_is_refused_unless_allowed(server):
    server.routes["/page"] = Route(body=b"x")
    with pytest.raises(PrivateAddressError) as info:
        Fetcher(min_interval=0).get(server.base + "/page")
    assert info.value.source == server.base + "/page"
    assert "127.0.0.1" in info.value.reason
    assert "loopback" in info.value.reason
    assert "--allow-private" in info.value.reason
    assert server.requests == []  # nothing was sent, not even robots.txt


@pytest.mark.parametrize(
    ("ip", "problem"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.1", "private"),
        ("172.16.5.4", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("::ffff:127.0.0.1", "loopback"),
        ("100.64.0.1", "not a public"),
        ("0.0.0.0", "private"),  # noqa: S104 - an address under test, not a bind
        ("224.0.0.1", "multicast"),
        ("93.184.215.14", None),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", None),
    ],
)
def test_address_problem(ip, problem):
    found = address_problem(ip)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_redirect_to_a_private_address_is_refused_at_that_hop(server, monkeypatch):
    # Pretend 127.0.0.1 is public, so that only the redirect target is non-public.
    monkeypatch.setattr(fetcher_module, "address_problem", lambda ip: None if ip == "127.0.0.1" else "a private one")
    server.routes["/go"] = Route(302, headers=(("Location", "http://10.255.255.1/admin"),))
    with pytest.raises(PrivateAddressError) as info:
        Fetcher(min_interval=0).get(server.base + "/go")
    assert info.value.source == server.base + "/go"
    assert "10.255.255.1" in info.value.reason
    assert "at http://10.255.255.1/admin, reached by redirect" in info.value.reason
    assert paths(server) == ["/robots.txt", "/go"]


def test_redirects_are_followed_and_recorded(server):
    server.routes["/old"] = Route(301, headers=(("Location", "/middle"),))
    server.routes["/middle"] = Route(307, headers=(("Location", "{base}/new?x=1"),))
    server.routes["/new?x=1"] = Route(body=b"arrived")
    response = make().get(server.base + "/old")
    assert response.final_url == server.base + "/new?x=1"
    assert response.redirects == (server.base + "/old", server.base + "/middle")
    assert response.body == b"arrived"
    assert response.url == server.base + "/old"


def test_redirect_loop_is_detected(server):
    server.routes["/a"] = Route(302, headers=(("Location", "/b"),))
    server.routes["/b"] = Route(302, headers=(("Location", "/a"),))
    with pytest.raises(TooManyRedirectsError, match="loop") as info:
        make().get(server.base + "/a")
    assert info.value.source == server.base + "/a"


def test_redirect_limit(server):
    for n in range(6):
        server.routes[f"/r{n}"] = Route(302, headers=(("Location", f"/r{n + 1}"),))
    server.routes["/r6"] = Route(body=b"end")
    with pytest.raises(TooManyRedirectsError, match="more than 3 redirects"):
        make(max_redirects=3).get(server.base + "/r0")
    assert make(max_redirects=6).get(server.base + "/r0").body == b"end"


def test_redirect_to_another_scheme_is_refused(server):
    server.routes["/ftp"] = Route(302, headers=(("Location", "ftp://example.com/file"),))
    with pytest.raises(UnsupportedSourceError) as info:
        make().get(server.base + "/ftp")
    assert info.value.source == server.base + "/ftp"


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "http:///nohost", "http://host:99999/"])
def test_only_http_and_https_urls_with_a_host(url):
    with pytest.raises(UnsupportedSourceError) as info:
        make().get(url)
    assert info.value.source == url


def test_oversized_page_announced_by_content_length(server):
    server.routes["/big"] = Route(body=b"x" * 5000)
    with pytest.raises(TooLargeError, match="5,000 bytes announced"):
        make(max_bytes=1000).get(server.base + "/big")


def test_oversized_page_without_content_length(server):
    server.routes["/big"] = Route(body=b"x" * 300_000, length=False)
    with pytest.raises(TooLargeError, match="over the limit"):
        make(max_bytes=100_000).get(server.base + "/big")
    assert len(make(max_bytes=400_000).get(server.base + "/big").body) == 300_000


def test_gzip_content_encoding_is_undone_within_the_limit(server):
    page = b"<p>" + b"compressible " * 1000 + b"</p>"
    server.routes["/gz"] = Route(body=gzip.compress(page), headers=(("Content-Encoding", "gzip"),))
    assert make().get(server.base + "/gz").body == page
    assert server.seen[-1][2] == "gzip, deflate"
    with pytest.raises(TooLargeError, match="decompressed"):
        make(max_bytes=5000).get(server.base + "/gz")


def test_slow_page_times_out(server):
    server.routes["/slow"] = Route(body=b"late", delay=1.0)
    started = time.monotonic()
    with pytest.raises(FetchTimeoutError) as info:
        make(read_timeout=0.2).get(server.base + "/slow")
    assert time.monotonic() - started < 0.9
    assert info.value.source == server.base + "/slow"


def test_connection_refused_is_a_fetch_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FetchError, match=r"request failed|refused"):
        make(obey_robots=False).get(f"http://127.0.0.1:{port}/")


def test_unresolvable_host_is_a_fetch_error(monkeypatch):
    def no_such_host(*_args, **_kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)  # no DNS query leaves the machine
    with pytest.raises(FetchError, match="cannot resolve") as info:
        make().get("http://no-such-host.invalid/")
    assert info.value.source == "http://no-such-host.invalid/"


def test_http_errors(server):
    server.routes["/gone"] = Route(410)
    server.routes["/moved"] = Route(302, headers=(("Location", "/broken"),))
    server.routes["/broken"] = Route(500, b"oops")
    with pytest.raises(SourceNotFoundError, match="HTTP 404"):
        make().get(server.base + "/missing")
    with pytest.raises(SourceNotFoundError, match="HTTP 410"):
        make().get(server.base + "/gone")
    with pytest.raises(HTTPStatusError, match="HTTP 500 Internal Server Error") as info:
        make().get(server.base + "/broken")
    assert info.value.status == 500
    with pytest.raises(HTTPStatusError, match="reached by redirect") as info:
        make().get(server.base + "/moved")
    assert (info.value.source, info.value.status) == (server.base + "/moved", 500)


def test_robots_txt_is_honoured_for_our_agent(server):
    server.routes["/robots.txt"] = Route(
        body=b"User-agent: *\nDisallow: /all-closed/\n\nUser-agent: provenance-audit\nDisallow: /private/\n",
        headers=(("Content-Type", "text/plain"),),
    )
    server.routes["/private/page"] = Route(body=b"secret")
    server.routes["/all-closed/page"] = Route(body=b"open to us")
    server.routes["/public"] = Route(body=b"ok")
    fetcher = make()
    with pytest.raises(RobotsDisallowedError) as info:
        fetcher.get(server.base + "/private/page")
    assert info.value.source == server.base + "/private/page"
    assert "provenance-audit" in info.value.reason
    # our own group applies, not *
    assert fetcher.get(server.base + "/all-closed/page").body == b"open to us"
    assert fetcher.get(server.base + "/public").body == b"ok"
    assert paths(server).count("/robots.txt") == 1  # once per host
    assert "/private/page" not in paths(server)


def test_robots_txt_disallowing_a_redirect_target(server):
    server.routes["/robots.txt"] = Route(body=b"User-agent: *\nDisallow: /hidden\n")
    server.routes["/go"] = Route(302, headers=(("Location", "/hidden"),))
    with pytest.raises(RobotsDisallowedError):
        make().get(server.base + "/go")


def test_robots_txt_with_a_byte_order_mark(server):
    server.routes["/robots.txt"] = Route(body=b"\xef\xbb\xbfUser-agent: *\nDisallow: /\n")
    with pytest.raises(RobotsDisallowedError):
        make().get(server.base + "/page")
    assert decode_robots(b"\xef\xbb\xbfUser-agent: *") == "User-agent: *"


def test_unreachable_robots_txt_means_disallow_all(server):
    server.routes["/robots.txt"] = Route(503, b"down")
    server.routes["/page"] = Route(body=b"x")
    with pytest.raises(RobotsDisallowedError, match="assume all is disallowed"):
        make().get(server.base + "/page")


def test_missing_robots_txt_means_allow_all(server):
    server.routes["/robots.txt"] = Route(403, b"forbidden")
    server.routes["/page"] = Route(body=b"x")
    assert make().get(server.base + "/page").body == b"x"


def test_rate_limit_per_host_without_sleeping(server):
    fake = FakeTime()
    server.routes["/a"] = Route(body=b"a")
    server.routes["/b"] = Route(body=b"b")
    fetcher = make(min_interval=1.5, clock=fake.clock, sleep=fake.sleep)
    fetcher.get(server.base + "/a")  # robots.txt, then /a: 1.5 s apart
    fetcher.get(server.base + "/b")
    assert fake.slept == [1.5, 1.5]
    other = make(min_interval=1.5, clock=fake.clock, sleep=fake.sleep, obey_robots=False)
    other.get(server.base + "/a")
    assert fake.slept == [1.5, 1.5]  # a new fetcher has no history with the host


def test_crawl_delay_stretches_the_interval(server):
    fake = FakeTime()
    server.routes["/robots.txt"] = Route(body=b"User-agent: *\nCrawl-delay: 4\nAllow: /\n")
    server.routes["/a"] = Route(body=b"a")
    server.routes["/b"] = Route(body=b"b")
    fetcher = make(min_interval=1.0, clock=fake.clock, sleep=fake.sleep)
    fetcher.get(server.base + "/a")
    fetcher.get(server.base + "/b")
    assert fake.slept == [1.0, 4.0]


def test_site_files_are_fetched_once_and_never_raise(server):
    server.routes["/robots.txt"] = Route(body=b"User-agent: *\nAllow: /\n")
    server.routes["/ai.txt"] = Route(500, b"")
    fetcher = make()
    robots = fetcher.site_file(server.base + "/any/page", "/robots.txt")
    assert robots.status == "ok"
    assert robots.http_status == 200
    assert robots.body.startswith(b"User-agent")
    assert robots.url == server.base + "/robots.txt"
    assert fetcher.site_file(server.base + "/other", "robots.txt") is robots
    missing = fetcher.site_file(server.base + "/", "/.well-known/tdmrep.json")
    assert (missing.status, missing.http_status, missing.body) == ("missing", 404, b"")
    broken = fetcher.site_file(server.base + "/", "/ai.txt")
    assert broken.status == "unreachable"
    assert broken.error == "HTTP 500"
    assert paths(server) == ["/robots.txt", "/.well-known/tdmrep.json", "/ai.txt"]


def test_threads_sharing_a_fetcher_take_turns_per_host_and_go_side_by_side_across_hosts():
    shared = Gauge()
    with serve(gauge=shared) as a, serve(gauge=shared) as b:
        for server in (a, b):
            server.routes["/robots.txt"] = Route(body=b"User-agent: *\nAllow: /\n", delay=0.05)
            for i in range(4):
                server.routes[f"/p{i}"] = Route(body=f"page {i}".encode(), delay=0.05)
        fetcher = make()
        urls = [f"{s.base}/p{i}" for i in range(4) for s in (a, b)]
        with ThreadPoolExecutor(len(urls)) as pool:
            bodies = list(pool.map(lambda url: fetcher.get(url).body, urls))
    assert bodies == [f"page {i}".encode() for i in range(4) for _ in (a, b)]
    assert (a.gauge.peak, b.gauge.peak) == (1, 1)  # one request at a time to a host
    assert shared.peak == 2  # the two hosts side by side
    assert paths(a).count("/robots.txt") == paths(b).count("/robots.txt") == 1  # asked once, though all at once


def test_site_file_on_a_private_host_is_refused_not_fetched(server):
    found = Fetcher().site_file(server.base + "/", "/robots.txt")
    assert found.status == "refused"
    assert "loopback" in (found.error or "")
    assert server.requests == []


def test_non_ascii_paths_are_percent_encoded(server):
    server.routes["/caf%C3%A9?q=%C3%A9t%C3%A9"] = Route(body=b"coffee")
    response = make().get(server.base + "/café?q=été")
    assert response.body == b"coffee"
    assert response.final_url == server.base + "/caf%C3%A9?q=%C3%A9t%C3%A9"


# --- HTTPS: the connection goes to the checked address, the certificate is checked for the host -----


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl command to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    command += ["-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"]
    command += ["-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(command, check=True, capture_output=True)
    return cert, key


@pytest.fixture
def https_server(server, certificate):
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with serve(
        routes=server.routes, wrap=lambda sock: context.wrap_socket(sock, server_side=True), scheme="https"
    ) as httpd:
        yield httpd


def test_https_with_a_trusted_certificate(https_server, certificate):
    https_server.routes["/secure"] = Route(body=b"over tls")
    trusted = ssl.create_default_context(cafile=str(certificate[0]))
    response = make(ssl_context=trusted).get(https_server.base + "/secure")
    assert response.body == b"over tls"
    assert response.final_url == https_server.base + "/secure"


def test_https_with_an_untrusted_certificate_fails_clearly(https_server):
    https_server.routes["/secure"] = Route(body=b"over tls")
    with pytest.raises(FetchError, match="TLS error") as info:
        make(obey_robots=False).get(https_server.base + "/secure")
    assert info.value.source == https_server.base + "/secure"
