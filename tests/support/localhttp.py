"""A real HTTP server on 127.0.0.1 for the network tests: canned routes, every request recorded.

``{base}`` in a route's headers or body becomes the server's own base URL (for links and redirects).
A ``Gauge`` counts the requests a server is answering at once (each server has one; pass a shared one to
several servers to count across them): a request counts while it waits out its route's delay, before
any byte of the answer is sent, so a client can never have seen the answer of a request still counted.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator


@dataclass
class Route:
    """What one path answers."""

    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "text/html; charset=utf-8"),)
    delay: float = 0.0
    length: bool = True  # send Content-Length (else the body ends when the connection closes)


@dataclass
class Gauge:
    """Requests being answered now and at most, counted across threads."""

    now: int = 0
    peak: int = 0
    total: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def enter(self) -> None:
        with self.lock:
            self.now += 1
            self.total += 1
            self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        with self.lock:
            self.now -= 1


NOT_FOUND = Route(404, b"not found", (("Content-Type", "text/plain"),))


class Handler(BaseHTTPRequestHandler):
    """Answers from ``server.routes``; records paths in ``server.requests``, details in ``server.seen``."""

    server: Any

    def do_GET(self):
        server = self.server
        server.requests.append(self.path)
        server.seen.append((self.path, self.headers.get("User-Agent"), self.headers.get("Accept-Encoding")))
        route = server.routes.get(self.path, NOT_FOUND)
        for gauge in server.gauges:
            gauge.enter()
        try:
            if route.delay:
                time.sleep(route.delay)
        finally:
            for gauge in server.gauges:
                gauge.leave()
        body = route.body.replace(b"{base}", server.base.encode())
        try:
            self.send_response(route.status)
            for name, value in route.headers:
                self.send_header(name, value.replace("{base}", server.base))
            if route.length:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (size limit, timeout): that is the point of some tests

    def log_message(self, *args):
        pass


@contextmanager
def serve(
    *, routes: dict[str, Route] | None = None, wrap: Any = None, scheme: str = "http", gauge: Gauge | None = None
) -> Iterator[Any]:
    """A running server (``routes``, ``requests``, ``seen``, ``base``, its own ``gauge``); ``wrap`` makes it TLS.

    ``gauge``, if given, counts this server's requests too (share one between servers to count across them).
    """
    httpd: Any = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if wrap is not None:
        httpd.socket = wrap(httpd.socket)
    httpd.daemon_threads = True
    httpd.routes = {} if routes is None else routes
    httpd.requests = []
    httpd.seen = []
    httpd.gauge = Gauge()
    httpd.gauges = (httpd.gauge,) if gauge is None else (httpd.gauge, gauge)
    httpd.base = f"{scheme}://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
