"""Our polite HTTP client: every web request this project makes goes through ``Fetcher``.

Built on the standard library's ``http.client`` rather than ``urllib.request``, ``urllib3`` or
``requests``, because each hop must be checked before it is made and those clients hide the hops:
we resolve the host ourselves, refuse non-public addresses, then connect to exactly the address we
checked (so a second DNS answer cannot slip a private address in), follow redirects one at a time
with the same checks and a limit, apply separate connect and read timeouts, and stop reading at the
size limit. That is a few dozen lines on ``http.client`` and needs no new dependency.

Politeness: the User-Agent is ``provenance-audit/<version>``; robots.txt is honoured for that product
token (RFC 9309: 4xx means no rules, 5xx or an unreachable file means disallow all); requests to one
host are spaced by ``min_interval`` seconds or the site's Crawl-delay, whichever is longer.
Site-level files (robots.txt, /.well-known/tdmrep.json, ai.txt) are fetched once per host per
``Fetcher`` and are themselves exempt from robots.txt, as robots.txt itself is.

Threads may share one ``Fetcher`` (``add --catalog`` fetches rows concurrently): requests to one host
are still made one at a time with the spacing above (a per-host lock is held across the wait and the
request), requests to different hosts run side by side, and each site file is fetched once.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

from connectors._robots import RobotsRules
from connectors.errors import (
    ConnectorError,
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

if TYPE_CHECKING:
    from collections.abc import Callable

AGENT_NAME = "provenance-audit"
"""Our product token in robots.txt terms: a site can address us with ``User-agent: provenance-audit``."""

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_CONNECT_TIMEOUT_S = 10.0
DEFAULT_READ_TIMEOUT_S = 30.0
DEFAULT_MAX_REDIRECTS = 5
"""RFC 9309 asks crawlers to follow at least five redirects for robots.txt; we use the same for pages."""
DEFAULT_MIN_INTERVAL_S = 1.0

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NOT_FOUND = frozenset({404, 410})
_CHUNK = 64 * 1024
# Characters left as they are when a path or query is made ASCII for the request line.
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"

SiteFileStatus = Literal["ok", "missing", "unreachable", "refused"]
_Address = tuple[int, tuple[Any, ...]]
"""A socket family and a socket address (IPv4 or IPv6) to connect to."""


def tool_version() -> str:
    """The installed version of the ``provenance-audit`` distribution, or ``0+unknown``."""
    try:
        return version("provenance-audit")
    except PackageNotFoundError:
        return "0+unknown"


def user_agent() -> str:
    """The User-Agent header we send: ``provenance-audit/<version>``."""
    return f"{AGENT_NAME}/{tool_version()}"


@dataclass(frozen=True)
class Response:
    """One HTTP response after redirects: status, URLs, headers, the (decompressed) body, when.

    ``headers`` keeps every header line in order, names as sent, so repeated headers
    (``X-Robots-Tag``) keep each value. ``body`` is the entity after any ``Content-Encoding``
    (gzip, deflate) is undone: the bytes a client sees, which ``content_sha256`` is taken of.
    """

    url: str
    final_url: str
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    retrieved_at: datetime
    redirects: tuple[str, ...] = ()
    """The URLs that answered with a redirect, in order (``url`` first when it redirected)."""

    def header_values(self, name: str) -> tuple[str, ...]:
        """Every value of the header ``name`` (case-insensitive), in order."""
        wanted = name.lower()
        return tuple(value for key, value in self.headers if key.lower() == wanted)

    def header(self, name: str) -> str | None:
        """The values of header ``name`` joined by ``, `` (as HTTP allows), or None if absent."""
        values = self.header_values(name)
        return ", ".join(values) if values else None

    @property
    def content_type(self) -> str:
        """The media type, lower-cased, without parameters (empty when not sent)."""
        return (self.header("content-type") or "").split(",")[0].split(";")[0].strip().lower()

    @property
    def charset(self) -> str | None:
        """The ``charset`` parameter of Content-Type, lower-cased, if any."""
        for param in (self.header("content-type") or "").split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset" and value.strip().strip("\"'"):
                return value.strip().strip("\"'").lower()
        return None


@dataclass(frozen=True)
class SiteFile:
    """A site-level file (robots.txt, tdmrep.json, ai.txt) as we found it, fetched once per host.

    ``status``: ``ok`` (2xx), ``missing`` (4xx: RFC 9309 reads that as "no rules"), ``unreachable``
    (5xx, network failure, timeout, too large, too many redirects) or ``refused`` (not fetched: a
    non-public address). ``error`` says why when it is not ``ok``.
    """

    url: str
    status: SiteFileStatus
    retrieved_at: datetime
    http_status: int | None = None
    final_url: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    error: str | None = None

    @property
    def content_type(self) -> str:
        """The media type of the answer, lower-cased, without parameters."""
        for key, value in self.headers:
            if key.lower() == "content-type":
                return value.split(";")[0].strip().lower()
        return ""


@dataclass
class _HostState:
    """Per-host politeness state: when the next request may start; the lock makes threads take turns."""

    next_start: float = 0.0
    crawl_delay: float = 0.0
    turn: threading.Lock = field(default_factory=threading.Lock)


class Fetcher:
    """A polite, bounded HTTP GET client (see the module docstring for the rules it follows).

    ``clock`` (monotonic seconds) and ``sleep`` are injectable so that tests of the rate limit do not
    wait. ``ssl_context`` replaces the default (system certificate store, host names checked), to
    trust a private certificate authority. ``obey_robots=False`` is for tests; the CLI never turns it
    off (policy files are always fetched without it).
    """

    def __init__(
        self,
        *,
        allow_private: bool = False,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
        read_timeout: float = DEFAULT_READ_TIMEOUT_S,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
        min_interval: float = DEFAULT_MIN_INTERVAL_S,
        obey_robots: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.allow_private = allow_private
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.min_interval = min_interval
        self.obey_robots = obey_robots
        self.user_agent = user_agent()
        self._clock = clock
        self._sleep = sleep
        self._hosts: dict[str, _HostState] = {}
        self._site_files: dict[str, SiteFile] = {}
        self._robots: dict[str, RobotsRules | None] = {}
        self._guard = threading.Lock()  # held only to look up or add a host's state or a site file's lock
        self._file_locks: dict[str, threading.Lock] = {}
        self._ssl = ssl_context or ssl.create_default_context()

    def get(self, url: str) -> Response:
        """GET ``url`` politely; raise a ``ConnectorError`` naming it unless the answer is 2xx."""
        response = self._request(url, obey_robots=self.obey_robots)
        status = response.status
        if 200 <= status < 300:  # noqa: PLR2004 - the success class of HTTP statuses
            return response
        where = f" (at {response.final_url}, reached by redirect)" if response.redirects else ""
        if status in _NOT_FOUND:
            raise SourceNotFoundError(url, f"HTTP {status}: not found{where}")
        if status in _REDIRECTS:
            raise HTTPStatusError(url, f"HTTP {status} redirect without a Location header{where}", status)
        raise HTTPStatusError(url, f"HTTP {status} {_reason_phrase(status)}".rstrip() + where, status)

    def site_file(self, url: str, path: str) -> SiteFile:
        """The file at ``path`` (``/robots.txt``) on the site of ``url``, fetched once per host; never raises.

        Redirects are followed (RFC 9309 allows at least five for robots.txt); robots.txt rules are
        not applied to these files.
        """
        target = urljoin(_origin(url) + "/", path.lstrip("/"))
        with self._guard:
            lock = self._file_locks.setdefault(target, threading.Lock())
        with lock:  # a second thread asking for the same file waits for the first one's answer
            cached = self._site_files.get(target)
            if cached is None:
                cached = self._site_files[target] = self._fetch_site_file(target)
        return cached

    def robots_rules(self, url: str) -> RobotsRules | None:
        """The parsed robots.txt of ``url``'s site; None when it is missing (4xx) or unreadable."""
        origin = _origin(url)
        if origin not in self._robots:
            found = self.site_file(url, "/robots.txt")
            rules = RobotsRules(decode_robots(found.body)) if found.status == "ok" else None
            self._robots.setdefault(origin, rules)  # two threads may parse the same file; the first one's stays
        return self._robots[origin]

    def _fetch_site_file(self, target: str) -> SiteFile:
        """Fetch one site-level file, recording failures instead of raising them."""
        now = datetime.now(timezone.utc)
        try:
            response = self._request(target, obey_robots=False)
        except PrivateAddressError as exc:
            return SiteFile(target, "refused", now, error=exc.reason)
        except (FetchError, TooLargeError, UnsupportedSourceError) as exc:
            return SiteFile(target, "unreachable", now, error=exc.reason)
        status: SiteFileStatus
        if 200 <= response.status < 300:  # noqa: PLR2004 - the success class
            status, error = "ok", None
        elif 400 <= response.status < 500:  # noqa: PLR2004 - the client-error class
            status, error = "missing", f"HTTP {response.status}"
        else:
            status, error = "unreachable", f"HTTP {response.status}"
        return SiteFile(
            url=target,
            status=status,
            retrieved_at=response.retrieved_at,
            http_status=response.status,
            final_url=response.final_url,
            headers=response.headers,
            body=response.body if status == "ok" else b"",
            error=error,
        )

    def _request(self, url: str, *, obey_robots: bool) -> Response:
        """GET ``url``, following redirects hop by hop with every check; any final status."""
        current = _normalise(url)
        seen = {current}
        redirects: list[str] = []
        while True:
            try:
                addresses = self._addresses(current)
                if obey_robots:
                    self._check_robots(current)
                response = self._exchange(current, addresses)
            except ConnectorError as exc:
                if not redirects:
                    raise
                raise _at_hop(exc, url, current) from exc
            location = response.header("location")
            if response.status not in _REDIRECTS or not location:
                return Response(
                    url=url,
                    final_url=current,
                    status=response.status,
                    headers=response.headers,
                    body=response.body,
                    retrieved_at=response.retrieved_at,
                    redirects=tuple(redirects),
                )
            redirects.append(current)
            if len(redirects) > self.max_redirects:
                raise TooManyRedirectsError(url, f"more than {self.max_redirects} redirects (last to {location})")
            target = _normalise(urljoin(current, location.strip()), source=url)
            if target in seen:
                raise TooManyRedirectsError(url, f"redirect loop: {current} redirects back to {target}")
            seen.add(target)
            current = target

    def _check_robots(self, url: str) -> None:
        """Raise ``RobotsDisallowedError`` if the site's robots.txt disallows us ``url``."""
        found = self.site_file(url, "/robots.txt")
        if found.status == "unreachable":
            reason = f"robots.txt could not be read ({found.error}); RFC 9309 says to assume all is disallowed"
            raise RobotsDisallowedError(url, reason)
        rules = self.robots_rules(url)
        if rules is None:
            return
        if not rules.verdict(url, AGENT_NAME).allowed:
            raise RobotsDisallowedError(url, f"robots.txt disallows {AGENT_NAME} for this URL")
        delay = rules.crawl_delay(AGENT_NAME)
        if delay is not None:
            self._host(url).crawl_delay = delay

    def _addresses(self, url: str) -> list[_Address]:
        """Resolve the host of ``url``; refuse it if any address is not public (unless allowed)."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise FetchError(url, f"cannot resolve host {host!r}: {exc}") from exc
        addresses: list[_Address] = []
        for family, _type, _proto, _name, sockaddr in infos:
            ip = str(sockaddr[0])
            problem = None if self.allow_private else address_problem(ip)
            if problem is not None:
                raise PrivateAddressError(
                    url,
                    f"{host} resolves to {ip}, {problem}; pass allow_private=True (--allow-private) to fetch it",
                )
            addresses.append((int(family), sockaddr))
        if not addresses:
            raise FetchError(url, f"host {host!r} has no address")
        return addresses

    def _exchange(self, url: str, addresses: list[_Address]) -> Response:
        """One request and response on a fresh connection to one of ``addresses``, rate-limited per host."""
        state = self._host(url)
        with state.turn:
            return self._exchange_in_turn(url, addresses, state)

    def _exchange_in_turn(self, url: str, addresses: list[_Address], state: _HostState) -> Response:
        """The exchange, once this thread holds the host's turn: wait out the spacing, then ask."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        wait = state.next_start - self._clock()
        if wait > 0:
            self._sleep(wait)
        connection: http.client.HTTPConnection
        if parts.scheme == "https":
            connection = _PinnedHTTPSConnection(
                host, port, addresses, self.connect_timeout, self.read_timeout, self._ssl
            )
        else:
            connection = _PinnedHTTPConnection(host, port, addresses, self.connect_timeout, self.read_timeout)
        target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        headers = {
            "User-Agent": self.user_agent,
            "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,text/plain;q=0.8,*/*;q=0.5",
            "Accept-Encoding": "gzip, deflate",
        }
        answer: http.client.HTTPResponse | None = None
        try:
            connection.request("GET", target, headers=headers)
            answer = connection.getresponse()
            status = answer.status
            header_lines = tuple((key, value) for key, value in answer.getheaders())
            retrieved_at = datetime.now(timezone.utc)
            body = b"" if status in _REDIRECTS else self._read_body(url, answer)
        except TimeoutError as exc:
            timeouts = f"connect {self.connect_timeout:g} s, read {self.read_timeout:g} s"
            raise FetchTimeoutError(url, f"timed out ({timeouts})") from exc
        except ssl.SSLError as exc:
            raise FetchError(url, f"TLS error: {exc.reason or exc}") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise FetchError(url, f"request failed: {_describe(exc)}") from exc
        finally:
            if answer is not None:
                answer.close()  # an HTTP/1.0 response owns the socket once the connection lets go of it
            connection.close()
            state.next_start = self._clock() + max(self.min_interval, state.crawl_delay)
        encoding = next((v for k, v in header_lines if k.lower() == "content-encoding"), "").strip().lower()
        body = _decompress(url, body, encoding, self.max_bytes)
        return Response(url, url, status, header_lines, body, retrieved_at)

    def _read_body(self, url: str, answer: http.client.HTTPResponse) -> bytes:
        """Read the body, refusing to go past ``max_bytes``."""
        length = answer.getheader("content-length")
        if length is not None and length.strip().isdigit() and int(length) > self.max_bytes:
            raise TooLargeError(url, f"{int(length):,} bytes announced, over the limit of {self.max_bytes:,}")
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = answer.read(_CHUNK)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > self.max_bytes:
                raise TooLargeError(url, f"more than {self.max_bytes:,} bytes, over the limit")
            chunks.append(chunk)

    def _host(self, url: str) -> _HostState:
        """The politeness state of ``url``'s host (host and port)."""
        key = urlsplit(url).netloc.lower()
        with self._guard:
            return self._hosts.setdefault(key, _HostState())


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to an address checked beforehand, not to a fresh DNS answer."""

    def __init__(
        self,
        host: str,
        port: int,
        addresses: list[_Address],
        connect_timeout: float,
        read_timeout: float,
    ) -> None:
        super().__init__(host, port, timeout=connect_timeout)
        self._addresses = addresses
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout

    def connect(self) -> None:
        """Connect to the first reachable checked address, then switch to the read timeout."""
        self.sock = _open_socket(self._addresses, self._connect_timeout)
        self.sock.settimeout(self._read_timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection to an address checked beforehand; the certificate is checked for the host name."""

    def __init__(
        self,
        host: str,
        port: int,
        addresses: list[_Address],
        connect_timeout: float,
        read_timeout: float,
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(host, port, timeout=connect_timeout, context=context)
        self._addresses = addresses
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._tls = context

    def connect(self) -> None:
        """Connect, do the TLS handshake within the connect timeout, then switch to the read timeout."""
        raw = _open_socket(self._addresses, self._connect_timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)
        self.sock.settimeout(self._read_timeout)


def _open_socket(addresses: list[_Address], timeout: float) -> socket.socket:
    """A TCP socket connected to the first of ``addresses`` that answers."""
    last: OSError | None = None
    for family, sockaddr in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        return sock
    if last is None:  # pragma: no cover - callers pass at least one address
        last = OSError("no address to connect to")
    raise last


def address_problem(ip: str) -> str | None:
    """Why the address ``ip`` is not a public one we may fetch from (None when it is public).

    Anything that is not globally routable is refused: private, loopback, link-local, shared
    (carrier-grade NAT), reserved, documentation and unspecified ranges, and multicast. IPv4
    addresses mapped into IPv6 are judged as the IPv4 address.
    """
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    if address.is_multicast:
        return "a multicast address"
    if not address.is_global:
        return "not a public address"
    return None


def decode_robots(body: bytes) -> str:
    """robots.txt (or ai.txt) text: UTF-8 with any byte-order mark skipped, bad bytes replaced."""
    return body.decode("utf-8-sig", errors="replace")


def _normalise(url: str, *, source: str | None = None) -> str:
    """``url`` checked (http or https, a host, a valid port) and made ASCII, without its fragment."""
    named = source or url
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsupportedSourceError(named, f"not a valid URL ({url}): {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        raise UnsupportedSourceError(named, f"only http and https URLs are fetched, not {url}")
    host = parts.hostname
    if not host:
        raise UnsupportedSourceError(named, f"URL without a host: {url}")
    try:
        ascii_host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError as exc:
        raise UnsupportedSourceError(named, f"invalid host name {host!r}") from exc
    netloc = f"[{ascii_host}]" if ":" in ascii_host else ascii_host
    if port is not None:
        netloc += f":{port}"
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    query = quote(parts.query, safe=_QUERY_SAFE)
    return urlunsplit((scheme, netloc, path, query, ""))


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url`` (lower-cased)."""
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower().rsplit('@', 1)[-1]}"


def _decompress(url: str, body: bytes, encoding: str, limit: int) -> bytes:
    """Undo a gzip or deflate Content-Encoding, stopping at ``limit`` bytes of output."""
    if encoding in {"", "identity"} or not body:
        return body
    if encoding not in {"gzip", "x-gzip", "deflate"}:
        raise FetchError(url, f"unsupported Content-Encoding {encoding!r}")
    # 47 = 32 + 15: a zlib or gzip header, detected; raw deflate (some servers) is tried after.
    for wbits in (47, -15):
        inflater = zlib.decompressobj(wbits)
        try:
            data = inflater.decompress(body, limit + 1)
        except zlib.error:
            continue
        if len(data) > limit:
            raise TooLargeError(url, f"more than {limit:,} bytes once decompressed, over the limit")
        return data
    raise FetchError(url, f"body is not valid {encoding} data")


def _at_hop(exc: ConnectorError, source: str, hop: str) -> ConnectorError:
    """The same failure, named after the URL asked for and saying which redirect target failed."""
    reason = f"{exc.reason} (at {hop}, reached by redirect)"
    if isinstance(exc, HTTPStatusError):
        return HTTPStatusError(source, reason, exc.status)
    return type(exc)(source, reason)


def _reason_phrase(status: int) -> str:
    """The standard reason phrase of an HTTP status, or empty."""
    return http.client.responses.get(status, "")


def _describe(exc: BaseException) -> str:
    """A short description of a network error."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
