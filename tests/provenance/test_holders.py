"""Reports by rights holder: the aggregation by hand, one holder's part, every format, the grouped HTML page."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import shutil
import struct
import subprocess
from datetime import datetime, timedelta, timezone

import pytest

from provenance.holders import (
    NO_HOLDER,
    Grouping,
    RightsHolderNotFoundError,
    group_matches,
    holder_rows,
    holders_of,
    select_holder,
)
from provenance.match import Match
from provenance.report import render, render_html
from provenance.runs import AuditRun, IndexSnapshot, InputRecord, WorkSnapshot

HOSTILE = "=cmd|' /C calc'!A0 <script>alert('h')</script> [/x][bold]"
PRESS = "Harbour Press"
WHEN = datetime(2026, 11, 29, 0, 31, 43, tzinfo=timezone.utc)
BY = Grouping.rights_holder
POOL = "keeper ledger harbour lantern tide orchard honey meadow signal ferry winter quarry"


def words(seed: int, n: int) -> str:
    pool = POOL.split()
    return " ".join(f"{pool[(seed * 7 + i * 5) % len(pool)]}{(seed + i) % 9}" for i in range(n))


def work(work_id: int, title: str, holder: str | None, **extra) -> WorkSnapshot:
    return WorkSnapshot(
        work_id=work_id,
        source=f"https://example.org/{work_id}",
        title=title,
        creator=extra.pop("creator", f"Creator {work_id}"),
        kind="html",
        content_sha256=f"{work_id:064x}",
        text_sha256=f"{work_id:064x}",
        retrieved_at=WHEN,
        rights_holder=holder,
        **extra,
    )


def match(work_id: int, scanned: str, score: float, verbatim: int, shared: int, seed: int) -> Match:
    text = words(seed, shared)
    edited = text.replace(text.split()[3], "CHANGED", 1)
    return Match(
        work_id=work_id,
        source=f"https://example.org/{work_id}",
        title=f"title {work_id}",
        kind="html",
        scanned=scanned,
        record_id=scanned.split("#")[1] if "#" in scanned else None,
        score=score,
        estimated_similarity=score,
        containment=score,
        verbatim_words=verbatim,
        matched_words=shared,
        evidence_words=shared,
        scanned_span=(seed * 100, seed * 100 + len(edited)),
        work_span=(seed * 10, seed * 10 + len(text)),
        scanned_excerpt=edited,
        work_excerpt=text,
    )


def make_run() -> AuditRun:
    """Four works of three holders (one hostile, one missing) and seven matches; counts worked out in the tests."""
    works = (
        work(
            1,
            "Keeper",
            PRESS,
            org_id="HP-1",
            licence="CC-BY-4.0",
            consent_declared="reserved",
            consent_declared_source="catalog works.csv:2",
            consent_status="reserved",
            consent_summary="robots.txt disallows GPTBot",
        ),
        work(2, "Tides", PRESS, org_id="HP-2"),
        work(
            3,
            "<b>Evil</b> title",
            HOSTILE,
            org_id="<i>O</i>",
            licence="=1+1",
            consent_declared="granted",
            consent_declared_source="catalog works.csv:4",
            consent_status="not_reserved",
            consent_summary="no reservation found",
        ),
        work(4, "Orphan", None, creator="Dee"),
    )
    matches = (
        match(1, "/in/a.txt", 0.90, 30, 40, 1),
        match(2, "/in/a.txt", 0.80, 20, 25, 2),
        match(1, "/in/b.jsonl#r1", 1.00, 50, 50, 3),
        match(3, "/in/c.txt", 0.70, 12, 30, 4),
        match(4, "/in/c.txt", 0.95, 44, 44, 5),
        match(1, "/in/b.jsonl#r2", 0.85, 35, 38, 6),
        match(3, "/in/a.txt", 0.75, 15, 31, 7),
    )
    inputs = (
        InputRecord(0, "/in/a.txt", "file", sha256="a" * 64, matches=3),
        InputRecord(1, "/in/b.jsonl#r1", "record", sha256="b" * 64, record_id="r1", matches=1),
        InputRecord(2, "/in/b.jsonl#r2", "record", sha256="c" * 64, record_id="r2", matches=1),
        InputRecord(3, "/in/c.txt", "file", sha256="d" * 64, matches=2),
        InputRecord(4, "/in/clean.txt", "file", sha256="e" * 64, matches=0),
    )
    return AuditRun(
        audit_id="20261129T003143Z-abc123",
        started_at=WHEN,
        finished_at=WHEN + timedelta(seconds=42),
        tool_version="9.9.9",
        index=IndexSnapshot("/idx.duckdb", 4, 400, "f" * 64, 1, 4),
        parameters={"audit": {"min_words": 12, "min_score": 0.5}, "index": {"seed": 1}},
        versions={},
        arguments=("/in",),
        inputs=inputs,
        works=works,
        matches=tuple(m.with_rights(next(w for w in works if w.work_id == m.work_id).rights()) for m in matches),
        manifest={"digest": "sha256:" + "ab" * 32},
    )


@pytest.fixture
def run() -> AuditRun:
    return make_run()


# -- the aggregation -------------------------------------------------------------------------------


def test_counts_per_holder_are_the_ones_worked_out_by_hand(run):
    rows = {r.label: r for r in holder_rows(run)}
    assert list(rows) == [HOSTILE, PRESS, NO_HOLDER]  # by name ('=' sorts before 'h'), no holder last
    press = rows[PRESS]
    assert press.rights_holder == PRESS
    assert [w.work_id for w in press.works] == [1, 2]  # the most matched first
    assert (press.works_matched, press.texts_matched, press.matches) == (2, 3, 4)  # a.txt, b#r1, b#r2
    assert (press.longest_verbatim_words, press.shared_words, press.best_score) == (50, 40 + 25 + 50 + 38, 1.0)
    assert press.consent_declared == (("reserved", 1), ("not declared", 1))
    assert press.consent_observed == (("reserved", 1), ("not recorded", 1))
    keeper = press.works[0]
    assert (keeper.title, keeper.org_id, keeper.licence, keeper.matches, keeper.texts_matched) == (
        "Keeper",
        "HP-1",
        "CC-BY-4.0",
        3,
        3,
    )
    assert keeper.consent_declared_source == "catalog works.csv:2"
    hostile = rows[HOSTILE]
    assert (hostile.works_matched, hostile.texts_matched, hostile.matches) == (1, 2, 2)
    assert (hostile.longest_verbatim_words, hostile.shared_words, hostile.best_score) == (15, 61, 0.75)
    assert hostile.consent_declared == (("granted", 1),)
    assert hostile.consent_observed == (("not_reserved", 1),)
    none = rows[NO_HOLDER]
    assert none.rights_holder is None
    assert (none.works_matched, none.texts_matched, none.matches, none.shared_words) == (1, 1, 1, 44)
    assert none.works[0].creator == "Dee"
    assert none.consent_declared == (("not declared", 1),)
    for row in rows.values():  # each row stands alone
        assert (row.audit_id, row.tool_version, row.manifest_sha256) == (run.audit_id, "9.9.9", "ab" * 32)
        assert (row.started_at, row.finished_at) == (run.started_at, run.finished_at)
    assert sum(r.matches for r in rows.values()) == len(run.matches)


def test_one_holder_and_the_works_without_one(run):
    assert [r.label for r in holder_rows(run, PRESS)] == [PRESS]
    [none] = holder_rows(run, NO_HOLDER)
    assert none.rights_holder is None
    assert [w.work_id for w in none.works] == [4]


def test_an_unknown_holder_names_the_ones_there(run):
    with pytest.raises(RightsHolderNotFoundError) as caught:
        holder_rows(run, "Nobody")
    assert caught.value.exit_code == 6
    message = str(caught.value)
    assert "no rights holder 'Nobody' in audit 20261129T003143Z-abc123" in message
    assert repr(PRESS) in message
    assert repr(NO_HOLDER) in message
    assert holders_of(run) == [HOSTILE, PRESS, NO_HOLDER]
    with pytest.raises(RightsHolderNotFoundError, match="matched no works"):
        holder_rows(dataclasses.replace(run, works=(), matches=()), PRESS)
    with pytest.raises(RightsHolderNotFoundError):
        select_holder(run, "harbour press")  # names are exact, as in `provenance works --rights-holder`


def test_matches_group_by_holder_and_work_best_first(run):
    groups = group_matches(run)
    assert [g.label for g in groups] == [HOSTILE, PRESS, NO_HOLDER]
    layout = [(wg.work.work_id, [n for n, _ in wg.matches]) for g in groups for wg in g.works]
    assert layout == [(3, [7, 4]), (1, [3, 1, 6]), (2, [2]), (4, [5])]


def test_selecting_a_holder_keeps_its_matches_numbered_as_in_the_run(run):
    sel = select_holder(run, PRESS)
    assert sel.numbers == (1, 2, 3, 6)
    assert [w.work_id for w in sel.run.works] == [1, 2]
    assert {m.work_id for m in sel.run.matches} == {1, 2}
    assert [i.matches for i in sel.run.inputs] == [2, 1, 1, 0, 0]  # recounted for this holder
    assert sel.run.manifest == run.manifest
    assert (sel.label, sel.matches_in_run) == (PRESS, 7)


# -- formats ---------------------------------------------------------------------------------------


def test_html_by_holder_escapes_and_stands_alone_per_holder(run):
    page = render(run, "html", by=BY)
    assert "<script" not in page
    assert "<b>Evil" not in page
    assert "<i>O</i>" not in page
    assert "&lt;b&gt;Evil&lt;/b&gt; title" in page
    assert "&lt;script&gt;alert(&#x27;h&#x27;)&lt;/script&gt; [/x][bold]" in page
    assert "default-src 'none'" in page
    assert page.count('<section class="holder-page"') == 3
    for section in re.findall(r'<section class="holder-page".*?</section>', page, flags=re.DOTALL):
        assert "audit 20261129T003143Z-abc123, provenance 9.9.9" in section
        assert "sha256:" + "ab" * 32 in section
        assert "2026-11-29 00:31:43 to 2026-11-29 00:32:25 UTC" in section
    assert "reserved (catalog works.csv:2)" in page
    assert "not declared" in page
    assert "not recorded" in page
    assert "--rights-holder &#x27;Harbour Press&#x27;" in page  # the command for its matches, shell-quoted
    assert "break-before: page" in page


def test_markdown_by_holder_escapes(run):
    md = render(run, "md", by=BY)
    assert "<script" not in md
    assert "&lt;script&gt;" in md
    assert "\\[/x\\]\\[bold\\]" in md
    assert "## Harbour Press" in md
    assert "- Consent declared by the rights holder: reserved 1, not declared 1" in md
    assert md.count("manifest digest sha256:" + "ab" * 32) == 3


def test_csv_by_holder_has_one_row_per_holder_and_defuses_formulas(run):
    rows = list(csv.DictReader(io.StringIO(render(run, "csv", by=BY))))
    assert [r["label"] for r in rows] == ["'" + HOSTILE, PRESS, NO_HOLDER]
    assert rows[0]["rights_holder"] == "'" + HOSTILE
    press = rows[1]
    assert (press["works_matched"], press["texts_matched"], press["matches"]) == ("2", "3", "4")
    assert (press["longest_verbatim_words"], press["shared_words"], press["best_score"]) == ("50", "153", "1.0000")
    assert press["works"].startswith("Keeper (work 1, org id HP-1, licence CC-BY-4.0) | Tides (work 2")
    assert press["consent_declared"] == "reserved: 1; not declared: 1"
    assert "work 1: reserved (catalog works.csv:2)" in press["consent_declared_sources"]
    assert press["manifest_sha256"] == "ab" * 32
    assert rows[2]["rights_holder"] == ""


def test_json_by_holder(run):
    data = json.loads(render(run, "json", by=BY))
    assert data["format"] == "provenance-holder-report"
    assert data["manifest_sha256"] == "ab" * 32
    press = data["holders"][1]
    assert press["rights_holder"] == PRESS
    assert press["consent_declared"] == {"reserved": 1, "not declared": 1}
    assert [w["work_id"] for w in press["works"]] == [1, 2]
    assert press["works"][0]["consent_declared_source"] == "catalog works.csv:2"
    assert press["audit_id"] == run.audit_id
    assert data["holders"][2]["rights_holder"] is None
    assert data["holders"][2]["label"] == NO_HOLDER


def test_one_holders_part_in_every_format(run):
    page = render(run, "html", rights_holder=PRESS)
    assert "Only the works of rights holder Harbour Press: 4 of the run&#x27;s 7 matches" in page
    assert sorted(int(n) for n in re.findall(r'<article class="match" id="match-(\d+)"', page)) == [1, 2, 3, 6]
    assert "Evil" not in page
    assert run.manifest["digest"] in page
    rows = list(csv.DictReader(io.StringIO(render(run, "csv", rights_holder=PRESS))))
    assert [r["match_no"] for r in rows] == ["1", "2", "3", "6"]
    assert {r["rights_holder"] for r in rows} == {PRESS}
    data = json.loads(render(run, "json", rights_holder=PRESS))
    assert data["selection"]["match_numbers"] == [1, 2, 3, 6]
    assert len(data["matches"]) == 4
    md = render(run, "md", rights_holder=NO_HOLDER)
    assert "## Match 5: title 4" in md
    assert "## Match 1" not in md


def test_the_manifest_cannot_be_split(run):
    with pytest.raises(ValueError, match="whole run"):
        render(run, "manifest", by=BY)
    with pytest.raises(ValueError, match="whole run"):
        render(run, "manifest", rights_holder=PRESS)


# -- the grouped HTML report -----------------------------------------------------------------------


def article_order(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<article class="match" id="match-(\d+)"', page)]


def test_html_groups_matches_by_holder_and_work_with_a_table_of_contents(run):
    page = render_html(run)
    assert article_order(page) == [7, 4, 3, 1, 6, 2, 5]
    for anchor in ("holder-1", "holder-2", "holder-3", "work-3", "work-1", "work-2", "work-4"):
        assert f'href="#{anchor}"' in page
        assert f'id="{anchor}"' in page
    contents = page.split('<table class="toc">', 1)[1].split("</table>", 1)[0]
    assert contents.index("Harbour Press") < contents.index("Keeper") < contents.index("Tides")
    assert "2 works, 4 matches" in contents
    assert "&lt;script&gt;alert(&#x27;h&#x27;)&lt;/script&gt;" in contents
    assert "<script" not in page
    assert "<b>Evil" not in page
    assert page.count("<details") == 7
    assert page.count('<details class="m" open>') == 7  # a small run shows everything open
    assert "details::details-content" in page  # printing opens them


def test_html_bounds_side_by_side_views_and_lists_the_rest(run):
    page = render_html(run, full_per_work=2)
    assert article_order(page) == [7, 4, 3, 1, 2, 5]
    rest = page.split('<table class="rest">', 1)[1].split("</table>", 1)[0]
    assert '<tr id="match-6">' in rest
    assert "0.85" in rest
    assert "1 more match of this work" in page
    assert "every match in full is in the CSV and JSON reports" in page
    assert article_order(render_html(run, full_total=4)) == [7, 3, 2, 5]  # one per work keeps within 4


def test_larger_runs_open_only_the_best_match_of_the_first_works(run):
    page = render_html(run, open_first=2)
    opened = re.findall(r'<details class="m" open><summary>Match (\d+) ', page)
    assert opened == ["7", "3"]
    assert page.count('<details class="m">') == 5
    assert "The best match of the first 2 works is open" in page


# -- through the CLI, on a run recorded from a catalog ---------------------------------------------

KEEPER = (
    "The lighthouse keeper kept a ledger of every ship that passed the point, and in the margins he drew the weather "
    "as he saw it: small suns, clouds like folded napkins, and once a whale that surfaced twice beside the rocks "
    "before turning north toward the colder water where the herring ran thick in the late summer months."
)
HARBOUR = (
    "Notes from the harbour wall, written the morning after the storm had passed and the small boats came back in "
    "one by one with their nets torn and their engines coughing, while the harbour master stood at the end of the "
    "pier with a clipboard and counted every hull, calling out the names to his daughter at the fish market door."
)
ORCHARD = (
    "In the old orchard behind the chapel the pear trees flowered a week before the apples, and the bees worked the "
    "white blossom from first light until the cold came down off the hill; the beekeeper lifted the roof of each "
    "hive in turn and counted the frames of capped honey, writing the numbers in pencil on the underside of the lid."
)


@pytest.fixture
def recorded(tmp_path, invoke):
    """An index of two catalog works (one of a hostile holder) and one plain work, and one recorded audit."""
    works = tmp_path / "works"
    works.mkdir()
    (works / "keeper.txt").write_text(KEEPER, encoding="utf-8")
    (works / "harbour.txt").write_text(HARBOUR, encoding="utf-8")
    (tmp_path / "orchard.txt").write_text(ORCHARD, encoding="utf-8")
    catalog = works / "catalog.csv"
    with catalog.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["source", "creator", "rights_holder", "org_id", "licence"])
        writer.writerow(["keeper.txt", "Ada", PRESS, "HP-1", "CC-BY-4.0"])
        writer.writerow(["harbour.txt", "Bo", HOSTILE, "EV-1", "all rights reserved"])
    index = tmp_path / "index.duckdb"
    assert invoke("add", "--catalog", str(catalog), "--index", str(index)).exit_code == 0
    assert invoke("add", str(tmp_path / "orchard.txt"), "--index", str(index)).exit_code == 0
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "copy.txt").write_text("Intro. " + KEEPER, encoding="utf-8")
    (inputs / "harbour-copy.txt").write_text(HARBOUR, encoding="utf-8")
    (inputs / "batch.jsonl").write_text(
        json.dumps({"id": "r1", "text": KEEPER}) + "\n" + json.dumps({"id": "r2", "text": ORCHARD}) + "\n",
        encoding="utf-8",
    )
    result = invoke("audit", str(inputs), "--id-field", "id", "--index", str(index))
    assert result.exit_code == 0, result.output
    return lambda *args: invoke("report", *args, "--index", str(index))


def test_cli_by_holder_counts_every_holder(recorded):
    result = recorded("--by", "rights-holder", "--format", "json")
    assert result.exit_code == 0, result.output
    holders = {h["label"]: h for h in json.loads(result.stdout)["holders"]}
    assert list(holders) == [HOSTILE, PRESS, NO_HOLDER]
    press = holders[PRESS]
    assert (press["works_matched"], press["texts_matched"], press["matches"]) == (1, 2, 2)
    assert press["works"][0]["org_id"] == "HP-1"
    assert press["works"][0]["licence"] == "CC-BY-4.0"
    assert press["consent_declared"] == {"not declared": 1}  # rows from the index do not fill it yet
    assert (holders[HOSTILE]["matches"], holders[NO_HOLDER]["matches"]) == (1, 1)
    assert holders[NO_HOLDER]["works"][0]["title"] == "orchard"


@pytest.mark.parametrize("fmt", ["html", "md", "csv", "json"])
def test_cli_by_holder_writes_every_format(recorded, tmp_path, fmt):
    path = tmp_path / f"holders.{fmt}"
    result = recorded("--by", "rights-holder", "-o", str(path))
    assert result.exit_code == 0, result.output
    assert f"wrote {path} ({fmt})" in result.stderr
    text = path.read_text(encoding="utf-8")
    assert "Harbour Press" in text
    if fmt in {"html", "md"}:
        assert "<script" not in text
    elif fmt == "csv":
        assert ",'=cmd|" in text
    else:
        assert HOSTILE in {h["rights_holder"] for h in json.loads(text)["holders"]}  # data, as it is


def test_cli_one_holder_alone_and_with_by(recorded):
    result = recorded("--rights-holder", PRESS, "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 2
    assert {r["rights_holder"] for r in rows} == {PRESS}
    result = recorded("--by", "rights-holder", "--rights-holder", HOSTILE, "--format", "csv")
    assert result.exit_code == 0, result.output
    [row] = list(csv.DictReader(io.StringIO(result.stdout)))
    assert row["label"] == "'" + HOSTILE


def test_cli_unknown_holder_exits_6_and_lists_the_holders_verbatim(recorded):
    result = recorded("--by", "rights-holder", "--rights-holder", "[/nobody]")
    assert result.exit_code == 6, result.output
    assert "no rights holder '[/nobody]'" in result.stderr
    assert HOSTILE in result.stderr  # printed as text, not read as console markup
    assert "'(no rights holder)'" in result.stderr


def test_cli_refuses_to_split_the_manifest(recorded):
    for args in (("--by", "rights-holder"), ("--rights-holder", PRESS)):
        result = recorded(*args, "--format", "manifest")
        assert result.exit_code == 2
        assert "the manifest is the whole run's" in result.stderr


# -- in a real browser -----------------------------------------------------------------------------

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run")
CHROMIUM_FLAGS += ("--disable-background-networking", "--disable-component-update", "--disable-sync")


def chromium(tmp_path, name, *args):
    return subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / f'profile-{name}'}", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def pdf_pages(path) -> int:
    return len(re.findall(rb"/Type\s*/Page[^s]", path.read_bytes()))


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH (Debian: apt-get install -y chromium)")
def test_the_grouped_report_renders_and_prints_every_match_open(run, tmp_path):
    # Two matches open, the rest closed, one work's weakest match as a table row.
    page = tmp_path / "grouped.html"
    page.write_text(render_html(run, full_per_work=2, open_first=2), encoding="utf-8")
    png = tmp_path / "grouped.png"
    result = chromium(tmp_path, "png", f"--screenshot={png}", "--window-size=1200,2400", page.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1200, 2400)
    assert len(data) > 50_000
    dom = chromium(tmp_path, "dom", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<script" not in dom.stdout
    assert dom.stdout.count("<details") == 6
    # Printing opens the closed matches: more pages than the same page without the print rule.
    pdf = tmp_path / "grouped.pdf"
    assert chromium(tmp_path, "pdf", f"--print-to-pdf={pdf}", "--no-pdf-header-footer", page.as_uri()).returncode == 0
    closed = tmp_path / "closed.html"
    closed.write_text(page.read_text(encoding="utf-8").replace("details::details-content", "x-none"), encoding="utf-8")
    closed_pdf = tmp_path / "closed.pdf"
    args = (f"--print-to-pdf={closed_pdf}", "--no-pdf-header-footer", closed.as_uri())
    assert chromium(tmp_path, "pdf2", *args).returncode == 0
    assert pdf_pages(pdf) > pdf_pages(closed_pdf) >= 1
