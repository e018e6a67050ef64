"""A site served on 127.0.0.1: indexed through the CLI, audited, and its consent signals carried into matches."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from provenance.cli import app

ARTICLE = (
    "Every spring the salt marsh floods twice a day, and the samphire that grows along the creeks turns "
    "from a dull olive to a bright glassy green almost overnight. The pickers come down from the village "
    "with flat baskets and short knives, working the edges of the channels at low tide, cutting only the "
    "top few inches so that the plants will grow back before the next harvest in the early summer weeks."
)
QUOTE = " ".join(ARTICLE.split()[4:64])
PAGE = f"""<!doctype html><html lang="en"><head><title>Marsh Notes</title>
<meta name="tdm-reservation" content="1"></head>
<body><nav><a href="/">Home</a></nav><article><h1>Marsh Notes</h1><p>{ARTICLE}</p></article>
<footer>Subscribe to the newsletter</footer></body></html>"""
ROBOTS = "User-agent: GPTBot\nDisallow: /\n\nUser-agent: CCBot\nDisallow: /\n\nUser-agent: *\nAllow: /\n"


class Site(BaseHTTPRequestHandler):
    def do_GET(self):
        routes = {
            "/robots.txt": ("text/plain", ROBOTS),
            "/marsh.html": ("text/html; charset=utf-8", PAGE),
        }
        if self.path not in routes:
            self.send_error(404)
            return
        kind, body = routes[self.path]
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_page_is_indexed_with_its_consent_and_matches_carry_it(site, tmp_path):
    runner = CliRunner()
    index = tmp_path / "index.duckdb"
    refused = runner.invoke(app, ["add", f"{site}/marsh.html", "--index", str(index)])
    assert refused.exit_code == 3
    assert "private" in refused.stderr
    added = runner.invoke(app, ["add", f"{site}/marsh.html", "--index", str(index), "--allow-private"])
    assert added.exit_code == 0, added.output
    result = runner.invoke(app, ["audit", "-", "--index", str(index), "--json"], input=f"As they say: {QUOTE}.")
    assert result.exit_code == 0, result.output
    (match,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert match["source"] == f"{site}/marsh.html"
    assert match["title"] == "Marsh Notes"
    assert match["consent_status"] == "reserved"
    assert "GPTBot" in match["consent_summary"]
    assert "tdm-reservation: 1" in match["consent_summary"]


def test_consent_command_without_indexing(site):
    runner = CliRunner()
    result = runner.invoke(app, ["consent", f"{site}/marsh.html", "--allow-private", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "reserved"
    text = runner.invoke(app, ["consent", f"{site}/marsh.html", "--allow-private"])
    assert text.stdout.startswith("reserved: ")
