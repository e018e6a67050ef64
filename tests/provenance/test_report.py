"""Reports: aligned segments, escaping, every format, and the HTML page in a real headless Chromium."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import shutil
import struct
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexes import IndexStore
from provenance.report import _cell, format_for, render_html, render_markdown, safe_link, segments
from provenance.runs import load_run

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
# What a sandboxed root CI needs: no sandbox, no GPU, and no background connections (the network is closed).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary on PATH (Debian: apt-get install -y chromium)"
)


def load(audited):
    with IndexStore.open(audited.index, read_only=True) as store:
        return load_run(store, audited.audit_id)


# -- aligned segments ------------------------------------------------------------------------------


def test_segments_pair_identical_runs_and_mark_edits():
    got = segments(
        "Hello there, the quick brown fox jumps over the lazy dog!", "The quick red fox jumped over the lazy dog.", 1
    )
    assert [(s.kind, s.scanned, s.work) for s in got] == [
        ("changed", "Hello there, ", ""),
        ("same", "the quick ", "The quick "),
        ("changed", "brown ", "red "),
        ("same", "fox ", "fox "),
        ("changed", "jumps ", "jumped "),
        ("same", "over the lazy dog!", "over the lazy dog."),
    ]


words = st.lists(
    st.sampled_from(["the", "bee", "hive", "honey", "Lane", "clover", "é", "日本", "--", "42"]), max_size=30
)


@settings(deadline=None)  # the first call builds the tokenizer's character table
@given(words, words, st.sampled_from([" ", "  ", "\n", ", "]))
def test_segments_cover_both_texts_exactly(a, b, sep):
    scanned, work = sep.join(a), sep.join(b)
    got = segments(scanned, work, 1)
    assert "".join(s.scanned for s in got) == scanned
    assert "".join(s.work for s in got) == work
    assert all(s.kind == "changed" or (s.scanned.split() and s.work.split()) for s in got)


# -- HTML content and escaping ---------------------------------------------------------------------


def test_html_escapes_text_from_works_and_inputs(audited):
    page = audited.run("report", "--format", "html").stdout
    assert "<script" not in page.lower()
    assert "<img" not in page.lower()
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in page
    assert "Content-Security-Policy" in page
    assert "default-src 'none'" in page
    for external in ("<link", "@import", 'src="', "url("):
        assert external not in page


def test_html_has_summary_side_by_side_and_footer(audited):
    run = load(audited)
    page = render_html(run)
    assert "Works matched" in page
    assert "Scanned texts matched" in page
    assert "Creators affected" in page
    assert "Consent status of the matched works" in page
    assert page.count('<article class="match"') == 4
    assert run.manifest["digest"] in page
    assert f"provenance verify {run.audit_id}.manifest.json" in page
    assert "@media print" in page


def test_transcript_links_are_timestamped_and_consent_is_shown(audited):
    run = load(audited)
    work = dataclasses.replace(
        run.works[0],
        kind="youtube",
        creator="Harbour Channel",
        consent_status="reserved",
        consent_summary="robots.txt disallows GPTBot",
        consent={"reasons": ["robots.txt disallows GPTBot, CCBot"], "checked_at": "2026-10-01T12:00:00+00:00"},
    )
    match = dataclasses.replace(
        next(m for m in run.matches if m.work_id == work.work_id),
        link="https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=138s",
        work_time=(138.0, 166.0),
    )
    page = render_html(dataclasses.replace(run, works=(work,), matches=(match,)))
    assert 'href="https://www.youtube.com/watch?v=dQw4w9WgXcQ&amp;t=138s"' in page
    assert "at 2:18-2:46 in the video" in page
    assert "reserved: robots.txt disallows GPTBot" in page
    assert "<li>robots.txt disallows GPTBot, CCBot</li>" in page
    assert "Harbour Channel" in page


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://example.org/a?b=1", True),
        ("http://example.org", True),
        ("javascript:alert(1)", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("/local/path.txt", False),
        ("https://exa mple.org", False),
        (None, False),
    ],
)
def test_only_http_links_become_links(url, safe):
    assert (safe_link(url) is not None) is safe


# -- other formats ---------------------------------------------------------------------------------


def test_markdown_escapes_and_marks_copied_words(audited):
    md = render_markdown(load(audited))
    assert "<script" not in md
    assert "&lt;script&gt;" in md
    assert "| ≠ | *little* | *small* |" in md
    assert "**" in md


def test_json_report_is_the_whole_run(audited):
    data = json.loads(audited.run("report", "--format", "json").stdout)
    assert data["audit_id"] == audited.audit_id
    assert len(data["matches"]) == 4
    assert data["summary"]["texts_scanned"] == 6
    assert data["manifest"]["digest"].startswith("sha256:")


def test_csv_report_has_one_row_per_match(audited, tmp_path):
    path = tmp_path / "matches.csv"
    result = audited.run("report", "-o", str(path))
    assert result.exit_code == 0
    assert f"wrote {path} (csv)" in result.stderr
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert len(rows) == 4
    assert {r["title"] for r in rows} == {"keeper", "harbour"}
    assert rows[0]["consent_status"] == "not recorded"


def test_csv_cells_that_a_spreadsheet_would_run_are_defused():
    assert _cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert _cell("+1") == "'+1"
    assert _cell("plain") == "plain"
    assert _cell(None) == ""


def test_format_comes_from_the_option_then_the_suffix(tmp_path):
    assert format_for(tmp_path / "r.md", None) == "md"
    assert format_for(tmp_path / "r.HTML", None) == "html"
    assert format_for(tmp_path / "r.txt", None) == "html"
    assert format_for(tmp_path / "r.md", "json") == "json"
    assert format_for(None, None) == "html"


def test_unwritable_output_exits_8(audited, tmp_path):
    result = audited.run("report", "-o", str(tmp_path / "no" / "such" / "dir" / "r.html"))
    assert result.exit_code == 8
    assert "cannot write the report" in result.stderr


# -- the page in a real browser --------------------------------------------------------------------


def chromium(tmp_path, name, *args):
    profile = tmp_path / f"profile-{name}"
    return subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture
def page(audited, tmp_path):
    path = tmp_path / "report.html"
    assert audited.run("report", "-o", str(path)).exit_code == 0
    return path


def article(dom, number):
    found = re.search(rf'<article class="match" id="match-{number}">(.*?)</article>', dom, flags=re.DOTALL)
    assert found, number
    return found.group(1)


@needs_chromium
def test_the_report_renders_in_chromium_with_highlights_where_expected(page, tmp_path, audited):
    result = chromium(tmp_path, "dom", "--dump-dom", page.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    # No script ran (the payload would have renamed the page), and none is in the document.
    assert f"<title>Audit report {audited.audit_id}</title>" in dom
    assert "<script" not in dom
    assert "<img" not in dom
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom
    # Verbatim copies: one identical row, all highlighted.
    verbatim = article(dom, 2)
    assert verbatim.count('<tr class="same">') == 1
    assert '<tr class="changed">' not in verbatim
    assert verbatim.count('<mark class="copied">') == 2
    # The edited copy: each edit on its own row, each side marked.
    edited = article(dom, 3)
    only_scanned = [s.strip() for s in re.findall(r'<span class="only-scanned">(.*?)</span>', edited, re.DOTALL)]
    only_work = [s.strip() for s in re.findall(r'<span class="only-work">(.*?)</span>', edited, re.DOTALL)]
    assert only_scanned == ["little", "each"]
    assert only_work == ["small", "every", "in the rain"]
    assert '<span class="gap">(not in the scanned text)</span>' in edited
    assert edited.count('<mark class="copied">') == 2 * edited.count('<tr class="same">')


@needs_chromium
def test_the_report_screenshots_and_prints_to_pdf(page, tmp_path):
    png = tmp_path / "report.png"
    result = chromium(tmp_path, "png", f"--screenshot={png}", "--window-size=1200,2600", page.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1200, 2600)
    assert len(data) > 50_000  # text and highlights, not a blank page
    pdf = tmp_path / "report.pdf"
    result = chromium(tmp_path, "pdf", f"--print-to-pdf={pdf}", "--no-pdf-header-footer", page.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes())) >= 2
