"""Reports of a stored audit run: one self-contained HTML page, Markdown, JSON, CSV, or the manifest.

The HTML page has inline CSS only (no scripts, no external assets, a Content-Security-Policy that
forbids both) and prints to PDF as it shows. Every text that comes from a work or a scanned input is
escaped, and only http(s) links become links: a crawled page cannot put markup into a report.

Side by side, the two excerpts of a match are cut into aligned segments: both are tokenized as the
index tokenizes (``indexes.normalize``), aligned word by word with rapidfuzz's Indel opcodes (the LCS
that verification uses), and each run of identical words becomes a "same" segment, each stretch in
between a "changed" one (words only in the scanned text on the left, only in the work on the right).
Words compare after normalization (case, Unicode forms); punctuation and spacing are not compared.
"""

from __future__ import annotations

import csv
import html
import io
import json
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote, urlsplit

from rapidfuzz.distance import Indel

from indexes.normalize import tokenize
from provenance.errors import OutputError
from provenance.holders import NOT_DECLARED, group_matches, holder_rows, select_holder
from provenance.manifest import manifest_text
from provenance.match import CSV_COLUMNS as MATCH_CSV_COLUMNS
from provenance.match import format_time_range
from provenance.runs import run_to_dict
from provenance.version import __version__

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from provenance.holders import Grouping, HolderGroup, HolderRow, HolderSelection, HolderWork
    from provenance.match import Match
    from provenance.probe import ProbeDetails
    from provenance.runs import AuditRun, WorkSnapshot

ReportFormat = Literal["html", "md", "json", "csv", "manifest"]
FORMATS: tuple[str, ...] = ("html", "md", "json", "csv", "manifest")
NO_CONSENT = "not recorded"
MANIFEST_NOT_SPLIT = (
    "the manifest is the whole run's and cannot be split by rights holder: write it without --by and --rights-holder"
)
_SUFFIXES = {".html": "html", ".htm": "html", ".md": "md", ".json": "json", ".csv": "csv"}


@dataclass(frozen=True)
class Segment:
    """A stretch of both excerpts: ``same`` words (copied), or ``changed`` (either side may be empty)."""

    kind: Literal["same", "changed"]
    scanned: str
    work: str


def segments(scanned: str, work: str, seed: int) -> list[Segment]:
    """The two excerpts cut into aligned segments (see the module docstring); joined, each side is whole."""
    ta, tb = tokenize(scanned, seed), tokenize(work, seed)
    if len(ta) == 0 or len(tb) == 0:  # no words on one side: nothing in common
        return [Segment("changed", scanned, work)] if scanned or work else []
    # cut[i]: where the segment starting at token i begins; the text between tokens goes with the earlier one.
    cut_a = [0, *ta.starts[1:].tolist(), len(scanned)]
    cut_b = [0, *tb.starts[1:].tolist(), len(work)]
    out: list[Segment] = []
    changed: list[int] | None = None  # a changed stretch being merged: i0, i1, j0, j1
    for op in Indel.opcodes(ta.hashes.tolist(), tb.hashes.tolist()):
        if op.tag != "equal":
            if changed is None:
                changed = [op.src_start, op.src_end, op.dest_start, op.dest_end]
            else:
                changed[1], changed[3] = op.src_end, op.dest_end
            continue
        if changed is not None:
            out.append(_segment("changed", scanned, work, cut_a, cut_b, changed))
            changed = None
        out.append(
            _segment("same", scanned, work, cut_a, cut_b, [op.src_start, op.src_end, op.dest_start, op.dest_end])
        )
    if changed is not None:
        out.append(_segment("changed", scanned, work, cut_a, cut_b, changed))
    return out


def _segment(
    kind: Literal["same", "changed"], scanned: str, work: str, cut_a: list[int], cut_b: list[int], span: list[int]
) -> Segment:
    i0, i1, j0, j1 = span
    return Segment(kind, scanned[cut_a[i0] : cut_a[i1]], work[cut_b[j0] : cut_b[j1]])


def format_for(path: Path | None, fmt: str | None) -> ReportFormat:
    """The format asked for, else the one the output file's suffix names, else HTML."""
    chosen = fmt or (_SUFFIXES.get(path.suffix.lower()) if path is not None else None) or "html"
    if chosen not in FORMATS:
        msg = f"unknown report format {chosen!r} (one of {', '.join(FORMATS)})"
        raise ValueError(msg)
    return chosen  # type: ignore[return-value]


def render(
    run: AuditRun,
    fmt: ReportFormat,
    *,
    by: Grouping | None = None,
    rights_holder: str | None = None,
    probe: ProbeDetails | None = None,
) -> str:
    """The report of ``run`` in ``fmt``: per rights holder with ``by``, only ``rights_holder``'s part when given.

    ``probe`` (``provenance.probe.load_probe``) makes the HTML, Markdown and JSON of a probe run show its
    per-work results and every prompt and response (``provenance.probe_report``).

    Raises ``RightsHolderNotFoundError`` for a holder the run does not have, and ``ValueError`` for the
    manifest with ``by`` or ``rights_holder`` (the manifest is the whole run's; it cannot be split).
    """
    if fmt == "manifest" and (by is not None or rights_holder is not None):
        raise ValueError(MANIFEST_NOT_SPLIT)
    if probe is not None and by is None and rights_holder is None and fmt in {"html", "md", "json"}:
        from provenance import probe_report  # noqa: PLC0415 - it builds on this module

        probe_renderers = {
            "html": probe_report.render_probe_html,
            "md": probe_report.render_probe_markdown,
            "json": probe_report.probe_json,
        }
        return probe_renderers[fmt](run, probe)
    if by is not None:
        return render_holders(run, holder_rows(run, rights_holder), fmt)
    if rights_holder is not None:
        return _render_selection(select_holder(run, rights_holder), fmt)
    renderers: dict[str, Callable[[AuditRun], str]] = {
        "html": render_html,
        "md": render_markdown,
        "csv": render_csv,
        "manifest": lambda r: manifest_text(r.manifest),
        "json": lambda r: json.dumps(run_to_dict(r), ensure_ascii=False, indent=2) + "\n",
    }
    return renderers[fmt](run)


def write_report(
    run: AuditRun,
    fmt: ReportFormat,
    path: Path,
    *,
    by: Grouping | None = None,
    rights_holder: str | None = None,
    probe: ProbeDetails | None = None,
) -> None:
    """Write the report to ``path`` (UTF-8); ``by``, ``rights_holder`` and ``probe`` as for ``render``."""
    text = render(run, fmt, by=by, rights_holder=rights_holder, probe=probe)
    try:
        path.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the report ({exc.strerror or exc})") from exc


def _render_selection(sel: HolderSelection, fmt: ReportFormat) -> str:
    scope = (
        f"Only the works of rights holder {sel.label}: {len(sel.numbers)} of the run's {sel.matches_in_run} "
        "matches, numbered as in the whole run. The manifest digest is the whole run's."
    )
    if fmt == "html":
        return render_html(sel.run, numbers=sel.numbers, scope=scope)
    if fmt == "md":
        return render_markdown(sel.run, numbers=sel.numbers, scope=scope)
    if fmt == "csv":
        return render_csv(sel.run, numbers=sel.numbers)
    data = run_to_dict(sel.run)
    data["selection"] = {
        "rights_holder": sel.rights_holder,
        "label": sel.label,
        "match_numbers": list(sel.numbers),
        "matches_in_run": sel.matches_in_run,
        "note": "only this rights holder's works and matches; the manifest is the whole run's",
    }
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


# -- what every format says ------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """The headline figures of a run."""

    texts_scanned: int
    inputs_failed: int
    texts_matched: int
    matches: int
    works_matched: int
    creators: tuple[str, ...]
    works_without_creator: int
    consent: tuple[tuple[str, tuple[str, ...]], ...]  # status -> titles of the matched works


def summarize(run: AuditRun) -> Summary:
    """Counts, the creators affected and the consent status of the matched works."""
    creators = sorted({w.creator for w in run.works if w.creator})
    by_status: dict[str, list[str]] = {}
    for w in run.works:
        by_status.setdefault(w.consent_status or NO_CONSENT, []).append(w.title or w.source)
    order = {"reserved": 0, "unknown": 1, "not_reserved": 2, NO_CONSENT: 3}
    consent = tuple(
        (status, tuple(titles))
        for status, titles in sorted(by_status.items(), key=lambda kv: (order.get(kv[0], 9), kv[0]))
    )
    return Summary(
        texts_scanned=run.texts_scanned,
        inputs_failed=run.inputs_failed,
        texts_matched=run.texts_matched,
        matches=len(run.matches),
        works_matched=len(run.works),
        creators=tuple(creators),
        works_without_creator=sum(1 for w in run.works if not w.creator),
        consent=consent,
    )


def run_state(run: AuditRun) -> str:
    """What kind of run it is and whether its results are complete."""
    kinds = {
        "texts": "audit of texts",
        "dataset": f"dataset scan ({run.engine} engine, {len(run.inputs)} shards)",
        "probe": f"model probe of {len(run.inputs)} works",
    }
    kind = kinds[run.kind]
    resumed = f", resumed {run.invocations - 1}x" if run.invocations > 1 else ""
    if run.partial:
        return f"{kind}, {run.state}{resumed}: PARTIAL results; rerun the same command to resume"
    return f"{kind}, finished{resumed}"


def verify_hint(run: AuditRun) -> str:
    """The two commands that check a run's manifest."""
    name = f"{run.audit_id}.manifest.json"
    return f"provenance report {run.audit_id} --format manifest -o {name} && provenance verify {name}"


def safe_link(url: str | None) -> str | None:
    """``url`` if it is an http(s) URL without spaces or control characters, else None."""
    if not url or any(ord(c) <= 0x20 or c == "\x7f" for c in url):  # noqa: PLR2004 - space and controls
        return None
    parts = urlsplit(url)
    return url if parts.scheme in {"http", "https"} and parts.netloc else None


def _autolink(url: str) -> str:
    """A URL safe inside a Markdown autolink ``<...>``: characters HTML or Markdown act on are percent-encoded."""
    return quote(url, safe="/:?#[]@!$&'()*+,;=%~-._")


def _seed(run: AuditRun) -> int:
    return int(run.parameters.get("index", {}).get("seed", 1))


def _time(m: Match) -> str:
    return "" if m.work_time is None else format_time_range(*m.work_time)


def _consent_line(w: WorkSnapshot) -> str:
    if w.consent_status is None:
        return f"{NO_CONSENT} (no rights signals are collected for local files)"
    return f"{w.consent_status}: {w.consent_summary or ''}".rstrip(": ")


def _reasons(w: WorkSnapshot) -> list[str]:
    reasons = (w.consent or {}).get("reasons") or []
    return [str(r) for r in reasons] if isinstance(reasons, list) else []


# -- HTML ------------------------------------------------------------------------------------------

FULL_PER_WORK = 50
"""At most this many matches of one work are shown side by side (its best by score); the rest are table rows."""
FULL_TOTAL = 1000
"""Fewer per work when the page would otherwise hold more side-by-side views than this (each work keeps its best)."""
OPEN_FIRST = 20
"""Runs of at most this many matches show every match open; larger ones open the best match of this many works."""
SUMMARY_TABLE_MAX = 100
"""Up to this many matches, the summary lists them all in one table."""
EXCERPT_CHARS = 200
TITLES_SHOWN = 12

_CSS = """
:root { --ink: #1c2430; --muted: #5f6b7a; --line: #d9dee5; --same: #ffe58a; --scan: #ffd0cc; --work: #c8f0d0; }
* { box-sizing: border-box; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { font: 14px/1.5 "DejaVu Sans", "Segoe UI", Arial, sans-serif; color: var(--ink); margin: 0 auto;
  max-width: 1120px; padding: 28px; }
h1 { font-size: 22px; margin: 0 0 6px; }
h2 { font-size: 18px; margin: 28px 0 10px; border-bottom: 2px solid var(--ink); }
h3 { font-size: 15px; margin: 0 0 8px; }
.muted { color: var(--muted); } code { font-family: "DejaVu Sans Mono", Consolas, monospace; font-size: 12px;
  overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top;
  overflow-wrap: anywhere; }
th { background: #f2f4f7; white-space: nowrap; }
td.num, th.num { text-align: right; white-space: nowrap; }
.figures { display: flex; flex-wrap: wrap; gap: 10px; margin: 8px 0 14px; }
.figure { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; min-width: 130px; }
.figure b { display: block; font-size: 22px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0 0 10px; }
dl.meta dt { color: var(--muted); } dl.meta dd { margin: 0; overflow-wrap: anywhere; }
.scope { border-left: 4px solid #b7791f; background: #fdf6e3; padding: 6px 12px; }
table.consent td:first-child { white-space: nowrap; }
table.works th { white-space: normal; } table.works td:nth-child(2) { min-width: 14em; }
table.toc tr.holder th { background: #e3e8ef; white-space: normal; }
section.holder > h3 { font-size: 17px; margin: 30px 0 6px; padding: 4px 8px; background: #e3e8ef; }
section.work > h4 { font-size: 15px; margin: 18px 0 4px; padding-bottom: 2px; border-bottom: 2px solid var(--line); }
details.m { border-bottom: 1px solid var(--line); }
details.m > summary { cursor: pointer; padding: 5px 0; overflow-wrap: anywhere; }
details.m[open] > summary { font-weight: bold; }
.match { padding: 4px 0 10px; }
table.rest td:nth-child(-n+4) { white-space: nowrap; overflow-wrap: normal; }
table.rest td:nth-child(2) { white-space: normal; overflow-wrap: anywhere; }
table.rest td.excerpt { font-family: "DejaVu Serif", Georgia, serif; }
table.sbs { table-layout: fixed; }
table.sbs td.text { white-space: pre-wrap; font-family: "DejaVu Serif", Georgia, serif; }
table.sbs td.tag, table.sbs th.tag { width: 2.2em; text-align: center; color: var(--muted); }
mark.copied { background: var(--same); color: inherit; }
span.only-scanned { background: var(--scan); text-decoration: underline dotted; }
span.only-work { background: var(--work); text-decoration: underline dashed; }
span.gap { color: var(--muted); font-style: italic; }
.legend span, .legend mark { padding: 0 4px; }
.status-reserved { font-weight: bold; color: #9b1c1c; }
p.stamp { font-size: 12px; color: var(--muted); overflow-wrap: anywhere; }
footer { margin-top: 34px; border-top: 2px solid var(--ink); padding-top: 10px; font-size: 12px; }
@page { size: A4; margin: 14mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  h2, h3, h4, summary { break-after: avoid; } tr, .figure, dl.meta { break-inside: avoid; }
  a { color: inherit; }
  a[href^="http"]::after { content: " <" attr(href) ">"; color: var(--muted); overflow-wrap: anywhere; }
  details::details-content { content-visibility: visible; display: contents; }
  details.m > summary { list-style: none; font-weight: bold; }
  section.holder-page { break-before: page; }
  .screen-only { display: none; }
}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _a(url: str | None, label: str) -> str:
    link = safe_link(url)
    return f'<a href="{_e(link)}">{_e(label)}</a>' if link else _e(label)


def _numbers(run: AuditRun, numbers: Sequence[int] | None) -> tuple[int, ...]:
    return tuple(range(1, len(run.matches) + 1)) if numbers is None else tuple(numbers)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 'es' if word.endswith('ch') else 's'}"


def _clip(text: str, limit: int = EXCERPT_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _spans(m: Match) -> str:
    spans = f"{m.scanned_span[0]}-{m.scanned_span[1]} → {m.work_span[0]}-{m.work_span[1]}"
    return spans + (f" at {_time(m)}" if m.work_time is not None else "")


def _page(title: str, body: list[str]) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        *body,
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def render_html(
    run: AuditRun,
    *,
    numbers: Sequence[int] | None = None,
    scope: str | None = None,
    full_per_work: int = FULL_PER_WORK,
    full_total: int = FULL_TOTAL,
    open_first: int = OPEN_FIRST,
) -> str:
    """The report as one self-contained HTML page: the summary, then the matches by rights holder and work.

    ``numbers`` are the matches' numbers in the whole run (default 1, 2, ...) and ``scope`` a note on what
    part of the run this is. Of each work, at most ``full_per_work`` matches (its best) are shown side
    by side, fewer when the page would hold more than ``full_total``; the rest are rows of a table. Every
    match sits in a ``<details>``: all open when there are at most ``open_first``, else the best match of
    the first ``open_first`` works.
    """
    s = summarize(run)
    nums = _numbers(run, numbers)
    groups = group_matches(run, nums)
    return _page(
        f"Audit report {run.audit_id}",
        [
            "<header>",
            f"<h1>Audit report <code>{_e(run.audit_id)}</code></h1>",
            _html_run_meta(run),
            f'<p class="scope">{_e(scope)}</p>' if scope else "",
            "</header>",
            _html_summary(run, s, groups, nums),
            _html_matches(run, groups, full_per_work, full_total, open_first),
            _html_footer(run),
        ],
    )


def _html_run_meta(run: AuditRun) -> str:
    audit = run.parameters.get("audit", {})
    rows = [
        ("Run", run_state(run)),
        ("Started", f"{run.started_at:%Y-%m-%d %H:%M:%S} UTC"),
        ("Finished", f"{run.finished_at:%Y-%m-%d %H:%M:%S} UTC"),
        ("Tool", f"provenance {run.tool_version}"),
        ("Index", f"{run.index.path} ({run.index.works} works, digest {run.index.digest[:16]}…)"),
        ("Thresholds", f"at least {audit.get('min_words')} shared words, similarity at least {audit.get('min_score')}"),
        ("Inputs", ", ".join(run.arguments)),
    ]
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in rows)
    return f'<dl class="meta">{items}</dl>'


def _html_summary(run: AuditRun, s: Summary, groups: list[HolderGroup], numbers: tuple[int, ...]) -> str:
    figures = [
        ("Works matched", s.works_matched),
        ("Scanned texts matched", f"{s.texts_matched} of {s.texts_scanned}"),
        ("Matches", s.matches),
        ("Rights holders", sum(1 for g in groups if g.rights_holder is not None)),
        ("Creators affected", len(s.creators)),
        ("Inputs unreadable", s.inputs_failed),
    ]
    out = ['<section id="summary"><h2>Summary</h2><div class="figures">']
    out += [f'<div class="figure"><b>{_e(v)}</b>{_e(k)}</div>' for k, v in figures]
    out.append("</div>")
    if not run.matches:
        out.append(
            f"<p>No matches: none of the {s.texts_scanned} scanned texts reuses an indexed work "
            "at these thresholds.</p>"
        )
        out.append("</section>")
        return "\n".join(out)
    creators = ", ".join(s.creators) or "none named"
    if s.works_without_creator:
        creators += (
            f" ({s.works_without_creator} matched work{'s' if s.works_without_creator != 1 else ''} name no creator)"
        )
    out.append(f"<p><b>Creators affected:</b> {_e(creators)}</p>")
    out.append("<h3>Consent status of the matched works (as recorded at retrieval)</h3>")
    out.append('<table class="consent"><thead><tr><th>Status</th><th>Works</th><th>Titles</th></tr></thead><tbody>')
    for status, titles in s.consent:
        shown = "; ".join(titles[:TITLES_SHOWN]) + (
            f"; and {len(titles) - TITLES_SHOWN} more (below)" if len(titles) > TITLES_SHOWN else ""
        )
        out.append(
            f'<tr><td class="status-{_e(status)}">{_e(status)}</td><td>{len(titles)}</td><td>{_e(shown)}</td></tr>'
        )
    out.append("</tbody></table>")
    out.append(_html_contents(groups))
    if len(run.matches) > SUMMARY_TABLE_MAX:
        out.append(
            f"<p>The {len(run.matches)} matches follow by rights holder and work; the table above links to each "
            "group. One row per match: the CSV report.</p></section>"
        )
        return "\n".join(out)
    out.append("<h3>Matches</h3>")
    out.append(
        "<table><thead><tr><th>#</th><th>Scanned text</th><th>Work</th><th>Score</th><th>Verbatim</th>"
        "<th>Spans (scanned → work)</th></tr></thead><tbody>"
    )
    for n, m in zip(numbers, run.matches, strict=True):
        out.append(
            f'<tr><td><a href="#match-{n}">{n}</a></td><td>{_e(m.scanned)}</td><td>{_e(m.title or m.source)}</td>'
            f"<td>{m.score:.2f}</td><td>{m.verbatim_words}/{m.matched_words} words</td><td>{_e(_spans(m))}</td></tr>"
        )
    out.append("</tbody></table></section>")
    return "\n".join(out)


def _html_contents(groups: list[HolderGroup]) -> str:
    """The matched works by rights holder, with counts, each linking to its group of matches."""
    out = [
        "<h3>Matched works by rights holder</h3>",
        (
            '<table class="toc"><thead><tr><th>Work</th><th>Title</th><th>Creator</th><th>Rights holder</th>'
            '<th>Kind</th><th>Consent</th><th class="num">Matches</th><th class="num">Longest run</th></tr></thead>'
            "<tbody>"
        ),
    ]
    for gi, g in enumerate(groups, start=1):
        out.append(
            f'<tr class="holder"><th colspan="8"><a href="#holder-{gi}">{_e(g.label)}</a> '
            f'<span class="muted">{_plural(len(g.works), "work")}, {_plural(g.matches, "match")}</span></th></tr>'
        )
        for wg in g.works:
            w = wg.work
            longest = max((m.verbatim_words for _, m in wg.matches), default=0)
            source = f' <span class="muted">({_a(w.source, "source")})</span>' if safe_link(w.source) else ""
            out.append(
                f'<tr><td>{w.work_id}</td><td><a href="#work-{w.work_id}">{_e(w.title or w.source)}</a>{source}</td>'
                f"<td>{_e(w.creator or '')}</td><td>{_e(w.rights_holder or '')}</td><td>{_e(w.kind)}</td>"
                f"<td>{_e(w.consent_status or NO_CONSENT)}</td>"
                f'<td class="num">{len(wg.matches)}</td><td class="num">{longest} words</td></tr>'
            )
    out.append("</tbody></table>")
    return "\n".join(out)


def _full_per_work(groups: list[HolderGroup], full_per_work: int, full_total: int) -> int:
    """The most matches per work to show in full: ``full_per_work``, less if the page would exceed ``full_total``."""
    sizes = [len(wg.matches) for g in groups for wg in g.works]
    k = max(1, full_per_work)
    while k > 1 and sum(min(size, k) for size in sizes) > full_total:
        k -= 1
    return k


def _html_matches(
    run: AuditRun, groups: list[HolderGroup], full_per_work: int, full_total: int, open_first: int
) -> str:
    if not run.matches:
        return ""
    seed = _seed(run)
    works = {w.work_id: w for w in run.works}
    k = _full_per_work(groups, full_per_work, full_total)
    every_open = len(run.matches) <= open_first
    cut = any(len(wg.matches) > k for g in groups for wg in g.works)
    out = [
        '<section id="matches"><h2>Matches side by side</h2>',
        (
            '<p class="legend">Words are compared after normalization (case, Unicode forms); punctuation is not '
            'compared. <mark class="copied">copied</mark> in both texts, <span class="only-scanned">only in the '
            'scanned text</span>, <span class="only-work">only in the work</span>; rows marked = are identical, '
            "≠ differ.</p>"
        ),
        (
            "<p>By rights holder, then work (the most matched first), each work's matches best first. "
            + (
                ""
                if every_open
                else f"The best match of the first {open_first} works is open; click a match's line to open or "
                "close it. Printing opens every match (browsers from 2025 on; in older ones open those you need "
                "first). "
            )
            + (
                f"Of each work, the {k} best matches (by verified similarity) are shown side by side and the rest "
                "are table rows with their spans, score and the start of the scanned excerpt; every match in "
                f"full is in the CSV and JSON reports (<code>provenance report {_e(run.audit_id)} --format csv</code>)."
                if cut
                else ""
            )
            + "</p>"
        ),
    ]
    opened = 0
    for gi, g in enumerate(groups, start=1):
        out.append(
            f'<section class="holder" id="holder-{gi}"><h3>{_e(g.label)} '
            f'<span class="muted">{_plural(len(g.works), "work")}, {_plural(g.matches, "match")}</span></h3>'
        )
        for wg in g.works:
            w = wg.work
            if not wg.matches:
                continue
            out.append(
                f'<section class="work" id="work-{w.work_id}"><h4>{_e(w.title or w.source)} '
                f'<span class="muted">work {w.work_id} · {_plural(len(wg.matches), "match")} · longest run '
                f"{max(m.verbatim_words for _, m in wg.matches)} words · best score {wg.matches[0][1].score:.2f}"
                "</span></h4>"
            )
            for rank, (n, m) in enumerate(wg.matches[:k]):
                is_open = every_open or (rank == 0 and opened < open_first)
                opened += 1 if is_open and not every_open else 0
                out.append(_html_match(works[m.work_id], n, m, seed, is_open=is_open))
            rest = wg.matches[k:]
            if rest:
                out.append(_html_rest(rest))
            out.append("</section>")
        out.append("</section>")
    out.append("</section>")
    return "\n".join(out)


def _html_rest(rest: tuple[tuple[int, Match], ...]) -> str:
    out = [
        (
            f"<p>{_plural(len(rest), 'more match')} of this work, weaker by score (in full in the CSV and JSON "
            "reports):</p>"
        ),
        (
            '<table class="rest"><thead><tr><th>#</th><th>Scanned text</th><th>Score</th><th>Verbatim</th>'
            "<th>Spans (scanned → work)</th><th>Start of the scanned excerpt</th></tr></thead><tbody>"
        ),
    ]
    out += [
        f'<tr id="match-{n}"><td>{n}</td><td>{_e(m.scanned)}</td><td>{m.score:.2f}</td>'
        f"<td>{m.verbatim_words}/{m.matched_words} words</td><td>{_e(_spans(m))}</td>"
        f'<td class="excerpt">{_e(_clip(m.scanned_excerpt))}</td></tr>'
        for n, m in rest
    ]
    out.append("</tbody></table>")
    return "\n".join(out)


def _html_match(w: WorkSnapshot, n: int, m: Match, seed: int, *, is_open: bool) -> str:
    where = f"characters {m.work_span[0]}-{m.work_span[1]}" + (f", at {_time(m)} in the video" if m.work_time else "")
    consent = _e(_consent_line(w))
    reasons = _reasons(w)
    if reasons:
        consent += "<ul>" + "".join(f"<li>{_e(r)}</li>" for r in reasons) + "</ul>"
    checked = (w.consent or {}).get("checked_at")
    if checked:
        consent += f'<span class="muted">checked {_e(checked)}</span>'
    rows = [
        (
            "Scanned text",
            _e(m.scanned) + f' <span class="muted">characters {m.scanned_span[0]}-{m.scanned_span[1]}</span>',
        ),
        (
            "Work",
            f"{_e(m.title or m.source)} (work {m.work_id}, {_e(w.kind)})"
            + (f" by {_e(w.creator)}" if w.creator else "")
            + (f", rights held by {_e(w.rights_holder)}" if w.rights_holder else ""),
        ),
        ("Where in the work", _e(where)),
        ("Source", _a(m.link or w.source, m.link or w.source)),
        (
            "Scores",
            (
                f"verified similarity {m.score:.3f} · estimated {m.estimated_similarity:.3f} · "
                f"containment {m.containment:.3f}"
            ),
        ),
        ("Longest verbatim run", f"{m.verbatim_words} words"),
        ("Shared words", f"{m.matched_words} ({m.evidence_words} outside stock phrases and boilerplate)"),
        ("Consent at retrieval", consent),
    ]
    meta = "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in rows)
    body = []
    for seg in segments(m.scanned_excerpt, m.work_excerpt, seed):
        if seg.kind == "same":
            body.append(
                '<tr class="same"><td class="tag">=</td>'
                f'<td class="text"><mark class="copied">{_e(seg.scanned)}</mark></td>'
                f'<td class="text"><mark class="copied">{_e(seg.work)}</mark></td></tr>'
            )
        else:
            left = (
                f'<span class="only-scanned">{_e(seg.scanned)}</span>' if seg.scanned.strip() else _gap("scanned text")
            )
            right = f'<span class="only-work">{_e(seg.work)}</span>' if seg.work.strip() else _gap("work")
            body.append(
                f'<tr class="changed"><td class="tag">≠</td><td class="text">{left}</td>'
                f'<td class="text">{right}</td></tr>'
            )
    summary = (
        f"Match {n} · score {m.score:.2f} · {m.verbatim_words}/{m.matched_words} words verbatim · "
        f'{_e(m.scanned)} <span class="muted">{_e(_spans(m))}</span>'
    )
    return (
        f'<details class="m"{" open" if is_open else ""}><summary>{summary}</summary>'
        f'<article class="match" id="match-{n}">'
        f'<dl class="meta">{meta}</dl>'
        '<table class="sbs"><thead><tr><th class="tag"></th><th>Scanned text</th><th>Work</th></tr></thead><tbody>'
        + "".join(body)
        + "</tbody></table></article></details>"
    )


def _gap(side: str) -> str:
    return f'<span class="gap">(not in the {side})</span>'


def _html_footer(run: AuditRun) -> str:
    return (
        "<footer>"
        f"<p><b>Manifest digest</b> <code>{_e(run.manifest.get('digest', ''))}</code> "
        "(SHA-256 over the run's canonical JSON manifest: inputs and their hashes, matched works and their hashes, "
        "parameters, versions, every match).</p>"
        "<p><b>To verify</b> that the inputs and works are still the ones audited: "
        f"<code>{_e(verify_hint(run))}</code></p>"
        f'<p class="muted">Report generated by provenance {_e(__version__)}.</p>'
        "</footer>"
    )


# -- Markdown --------------------------------------------------------------------------------------

_MD_SPECIAL = "\\`*_[]#|<>~"


def _md(text: object) -> str:
    """Escape for Markdown, HTML included (a renderer that passes HTML through must not see markup)."""
    out = []
    for ch in str(text):
        if ch == "&":
            out.append("&amp;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ch in _MD_SPECIAL:
            out.append("\\" + ch)
        elif ch in "\r\n":
            out.append("<br>" if ch == "\n" else "")
        else:
            out.append(ch)
    return "".join(out)


def render_markdown(run: AuditRun, *, numbers: Sequence[int] | None = None, scope: str | None = None) -> str:
    """The report as Markdown: copied words in bold, differing ones in italics (``numbers``, ``scope``: see HTML)."""
    s = summarize(run)
    audit = run.parameters.get("audit", {})
    works = {w.work_id: w for w in run.works}
    lines = [
        f"# Audit report {run.audit_id}",
        "",
        *([f"> {_md(scope)}", ""] if scope else []),
        f"- Run: {_md(run_state(run))}",
        f"- Started: {run.started_at:%Y-%m-%d %H:%M:%S} UTC; finished {run.finished_at:%Y-%m-%d %H:%M:%S} UTC",
        f"- Tool: provenance {_md(run.tool_version)}",
        f"- Index: {_md(run.index.path)} ({run.index.works} works, digest `{run.index.digest}`)",
        f"- Thresholds: at least {audit.get('min_words')} shared words, similarity at least {audit.get('min_score')}",
        "",
        "## Summary",
        "",
        f"- Works matched: {s.works_matched}",
        f"- Scanned texts matched: {s.texts_matched} of {s.texts_scanned} ({s.inputs_failed} inputs unreadable)",
        f"- Matches: {s.matches}",
        f"- Creators affected: {len(s.creators)}" + (f" ({_md(', '.join(s.creators))})" if s.creators else ""),
        "",
    ]
    if s.consent:
        lines += ["| Consent status | Works | Titles |", "|---|---|---|"]
        lines += [f"| {_md(status)} | {len(titles)} | {_md('; '.join(titles))} |" for status, titles in s.consent]
        lines.append("")
    seed = _seed(run)
    for n, m in zip(_numbers(run, numbers), run.matches, strict=True):
        w = works[m.work_id]
        link = safe_link(m.link or w.source)
        lines += [
            f"## Match {n}: {_md(m.title or m.source)}",
            "",
            f"- Scanned text: {_md(m.scanned)} (characters {m.scanned_span[0]}-{m.scanned_span[1]})",
            f"- Work {m.work_id}: {_md(w.source)} (characters {m.work_span[0]}-{m.work_span[1]}"
            + (f", at {_time(m)}" if m.work_time else "")
            + ")",
            f"- Source: <{_autolink(link)}>" if link else f"- Source: {_md(w.source)}",
            (
                f"- Scores: verified similarity {m.score:.3f}, estimated {m.estimated_similarity:.3f}, "
                f"containment {m.containment:.3f}"
            ),
            f"- Longest verbatim run: {m.verbatim_words} words; shared words {m.matched_words}",
            f"- Consent at retrieval: {_md(_consent_line(w))}",
            *[f"  - {_md(r)}" for r in _reasons(w)],
            "",
            "| | Scanned text | Work |",
            "|---|---|---|",
        ]
        for seg in segments(m.scanned_excerpt, m.work_excerpt, seed):
            if seg.kind == "same":
                lines.append(f"| = | **{_md(seg.scanned.strip())}** | **{_md(seg.work.strip())}** |")
            else:
                left = f"*{_md(seg.scanned.strip())}*" if seg.scanned.strip() else "(not in the scanned text)"
                right = f"*{_md(seg.work.strip())}*" if seg.work.strip() else "(not in the work)"
                lines.append(f"| ≠ | {left} | {right} |")
        lines.append("")
    if not run.matches:
        lines += [f"No matches: none of the {s.texts_scanned} scanned texts reuses an indexed work.", ""]
    lines += [
        "---",
        "",
        f"Manifest digest: `{run.manifest.get('digest', '')}`. To verify: `{verify_hint(run)}`",
        "",
    ]
    return "\n".join(lines)


# -- CSV -------------------------------------------------------------------------------------------

CSV_COLUMNS = MATCH_CSV_COLUMNS
"""The run, the match's number, every field of ``provenance.match.MATCH_FIELDS``, the time label."""


def _cell(value: object) -> str:
    """A CSV cell; text that a spreadsheet would run as a formula gets a leading apostrophe (OWASP)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text


def render_csv(run: AuditRun, *, numbers: Sequence[int] | None = None) -> str:
    """One row per match: every match field (``CSV_COLUMNS``), excerpts included; scores to 4 places.

    ``match_no`` comes from ``numbers`` (the run's numbering) when given.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for n, m in zip(_numbers(run, numbers), run.matches, strict=True):
        row = m.to_row()
        row.update(
            audit_id=run.audit_id,
            match_no=n,
            consent_status=m.consent_status or NO_CONSENT,
            work_time_label=_time(m),
            **{k: f"{row[k]:.4f}" for k in ("score", "estimated_similarity", "containment")},
        )
        writer.writerow([_cell(row[c]) for c in CSV_COLUMNS])
    return buffer.getvalue()


# -- by rights holder ------------------------------------------------------------------------------

HOLDER_CSV_COLUMNS = (
    "audit_id",
    "started_at",
    "finished_at",
    "tool_version",
    "manifest_sha256",
    "rights_holder",
    "label",
    "works_matched",
    "works",
    "texts_matched",
    "matches",
    "longest_verbatim_words",
    "shared_words",
    "best_score",
    "consent_declared",
    "consent_declared_sources",
    "consent_observed",
    "consent_observed_summaries",
)


def render_holders(run: AuditRun, rows: Sequence[HolderRow], fmt: ReportFormat) -> str:
    """``holder_rows(run)`` (or some of them) as html, md, csv or json; the manifest cannot be split (ValueError)."""
    if fmt == "html":
        return render_holders_html(run, rows)
    if fmt == "md":
        return render_holders_markdown(run, rows)
    if fmt == "csv":
        return render_holders_csv(rows)
    if fmt == "json":
        return render_holders_json(run, rows)
    raise ValueError(MANIFEST_NOT_SPLIT)


def holder_command(audit_id: str, label: str) -> str:
    """The command that writes one holder's matches side by side (the name quoted for a POSIX shell)."""
    return f"provenance report {audit_id} --rights-holder {shlex.quote(label)} -o report.html"


def _counts(counts: Sequence[tuple[str, int]]) -> str:
    return ", ".join(f"{value} {n}" for value, n in counts)


def _stamp(row: HolderRow) -> str:
    return (
        f"audit {row.audit_id}, provenance {row.tool_version}, run {row.started_at:%Y-%m-%d %H:%M:%S} to "
        f"{row.finished_at:%Y-%m-%d %H:%M:%S} UTC, manifest digest sha256:{row.manifest_sha256}"
    )


def _declared(w: HolderWork) -> str:
    if w.consent_declared is None:
        return NOT_DECLARED
    return w.consent_declared + (f" ({w.consent_declared_source})" if w.consent_declared_source else "")


def _observed(w: HolderWork) -> str:
    if w.consent_status is None:
        return NO_CONSENT
    return f"{w.consent_status}: {w.consent_summary or ''}".rstrip(": ")


def render_holders_html(run: AuditRun, rows: Sequence[HolderRow]) -> str:
    """One self-contained page: an overview of the holders, then one section (a printed page) per holder."""
    out = [
        "<header>",
        f"<h1>Audit report by rights holder <code>{_e(run.audit_id)}</code></h1>",
        _html_run_meta(run),
        f"<p><b>Manifest digest</b> <code>sha256:{_e(run.manifest_sha256)}</code></p>",
        "</header>",
        '<section id="holders"><h2>Rights holders</h2>',
        (
            '<table><thead><tr><th>Rights holder</th><th class="num">Works</th><th class="num">Texts with a match</th>'
            '<th class="num">Matches</th><th class="num">Longest run</th><th class="num">Shared words</th>'
            '<th class="num">Best score</th><th>Consent declared</th><th>Consent observed</th></tr></thead><tbody>'
        ),
    ]
    out += [
        f'<tr><td><a href="#holder-{i}">{_e(r.label)}</a></td><td class="num">{r.works_matched}</td>'
        f'<td class="num">{r.texts_matched}</td><td class="num">{r.matches}</td>'
        f'<td class="num">{r.longest_verbatim_words} words</td><td class="num">{r.shared_words}</td>'
        f'<td class="num">{r.best_score:.2f}</td><td>{_e(_counts(r.consent_declared))}</td>'
        f"<td>{_e(_counts(r.consent_observed))}</td></tr>"
        for i, r in enumerate(rows, start=1)
    ]
    if not rows:
        out.append('<tr><td colspan="9">The run matched no works.</td></tr>')
    out.append("</tbody></table></section>")
    out += [_html_holder(run, i, r) for i, r in enumerate(rows, start=1)]
    out.append(_html_footer(run))
    return _page(f"Audit report by rights holder {run.audit_id}", out)


def _html_holder(run: AuditRun, i: int, r: HolderRow) -> str:
    figures = [
        ("Works matched", r.works_matched),
        ("Scanned texts with a match", r.texts_matched),
        ("Matches", r.matches),
        ("Longest verbatim run", f"{r.longest_verbatim_words} words"),
        ("Shared words", r.shared_words),
        ("Best score", f"{r.best_score:.2f}"),
    ]
    out = [
        f'<section class="holder-page" id="holder-{i}"><h2>{_e(r.label)}</h2>',
        f'<p class="stamp">{_e(_stamp(r))}</p>',
        '<div class="figures">',
        *[f'<div class="figure"><b>{_e(v)}</b>{_e(k)}</div>' for k, v in figures],
        "</div>",
        "<h3>Consent</h3>",
        (
            '<table class="consent"><thead><tr><th>Declared by the rights holder (catalog)</th>'
            '<th class="num">Works</th><th>Observed at retrieval</th>'
            '<th class="num">Works</th></tr></thead><tbody>'
        ),
    ]
    declared, observed = list(r.consent_declared), list(r.consent_observed)
    for j in range(max(len(declared), len(observed))):
        left = (
            f'<td class="status-{_e(declared[j][0])}">{_e(declared[j][0])}</td><td class="num">{declared[j][1]}</td>'
            if j < len(declared)
            else "<td></td><td></td>"
        )
        right = (
            f'<td class="status-{_e(observed[j][0])}">{_e(observed[j][0])}</td><td class="num">{observed[j][1]}</td>'
            if j < len(observed)
            else "<td></td><td></td>"
        )
        out.append(f"<tr>{left}{right}</tr>")
    out += [
        "</tbody></table>",
        "<h3>Works matched</h3>",
        (
            '<table class="works"><thead><tr><th>Work</th><th>Title</th><th>Org id</th><th>Licence</th>'
            '<th class="num">Matches</th><th class="num">Longest run</th><th class="num">Best score</th>'
            "<th>Consent declared</th><th>Consent observed</th></tr></thead><tbody>"
        ),
    ]
    out += [
        f"<tr><td>{w.work_id}</td><td>{_a(w.source, w.title or w.source)}"
        + (f'<br><span class="muted">by {_e(w.creator)}</span>' if w.creator else "")
        + f"</td><td>{_e(w.org_id or '')}</td><td>{_e(w.licence or '')}</td>"
        f'<td class="num">{w.matches}</td><td class="num">{w.longest_verbatim_words} words</td>'
        f'<td class="num">{w.best_score:.2f}</td><td>{_e(_declared(w))}</td><td>{_e(_observed(w))}</td></tr>'
        for w in r.works
    ]
    out += [
        "</tbody></table>",
        f"<p>The matches side by side: <code>{_e(holder_command(run.audit_id, r.label))}</code></p>",
        "</section>",
    ]
    return "\n".join(out)


def render_holders_markdown(run: AuditRun, rows: Sequence[HolderRow]) -> str:
    """The holders as Markdown: an overview table, then one section per holder."""
    audit = run.parameters.get("audit", {})
    lines = [
        f"# Audit report by rights holder {run.audit_id}",
        "",
        f"- Started: {run.started_at:%Y-%m-%d %H:%M:%S} UTC; finished {run.finished_at:%Y-%m-%d %H:%M:%S} UTC",
        f"- Tool: provenance {_md(run.tool_version)}",
        f"- Index: {_md(run.index.path)} ({run.index.works} works, digest `{run.index.digest}`)",
        f"- Thresholds: at least {audit.get('min_words')} shared words, similarity at least {audit.get('min_score')}",
        f"- Manifest digest: `sha256:{run.manifest_sha256}`",
        "",
        "| Rights holder | Works | Texts with a match | Matches | Longest run | Shared words | Best score |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {_md(r.label)} | {r.works_matched} | {r.texts_matched} | {r.matches} | {r.longest_verbatim_words} words "
        f"| {r.shared_words} | {r.best_score:.2f} |"
        for r in rows
    ]
    lines.append("")
    for r in rows:
        lines += [
            f"## {_md(r.label)}",
            "",
            f"_{_md(_stamp(r))}_",
            "",
            f"- Works matched: {r.works_matched}",
            f"- Scanned texts with a match: {r.texts_matched}",
            f"- Matches: {r.matches}",
            f"- Longest verbatim run: {r.longest_verbatim_words} words",
            f"- Shared words: {r.shared_words}",
            f"- Best score: {r.best_score:.2f}",
            f"- Consent declared by the rights holder: {_md(_counts(r.consent_declared))}",
            f"- Consent observed at retrieval: {_md(_counts(r.consent_observed))}",
            "",
            (
                "| Work | Title | Org id | Licence | Creator | Matches | Longest run | Consent declared "
                "| Consent observed |"
            ),
            "|---|---|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {w.work_id} | {_md(w.title or w.source)} | {_md(w.org_id or '')} | {_md(w.licence or '')} "
            f"| {_md(w.creator or '')} | {w.matches} | {w.longest_verbatim_words} words | {_md(_declared(w))} "
            f"| {_md(_observed(w))} |"
            for w in r.works
        ]
        lines += ["", f"The matches side by side: {_md(holder_command(run.audit_id, r.label))}", ""]
    lines += ["---", "", f"To verify: `{verify_hint(run)}`", ""]
    return "\n".join(lines)


def render_holders_csv(rows: Sequence[HolderRow]) -> str:
    """One row per holder; the works, consent sources and summaries joined with `` | `` in their cells."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HOLDER_CSV_COLUMNS)
    for r in rows:
        values = (
            r.audit_id,
            r.started_at.isoformat(),
            r.finished_at.isoformat(),
            r.tool_version,
            r.manifest_sha256,
            r.rights_holder,
            r.label,
            r.works_matched,
            " | ".join(
                f"{w.title or w.source} (work {w.work_id}, org id {w.org_id or '-'}, licence {w.licence or '-'})"
                for w in r.works
            ),
            r.texts_matched,
            r.matches,
            r.longest_verbatim_words,
            r.shared_words,
            f"{r.best_score:.4f}",
            "; ".join(f"{value}: {n}" for value, n in r.consent_declared),
            " | ".join(f"work {w.work_id}: {_declared(w)}" for w in r.works),
            "; ".join(f"{value}: {n}" for value, n in r.consent_observed),
            " | ".join(f"work {w.work_id}: {_observed(w)}" for w in r.works),
        )
        writer.writerow([_cell(v) for v in values])
    return buffer.getvalue()


def render_holders_json(run: AuditRun, rows: Sequence[HolderRow]) -> str:
    """``{"format": "provenance-holder-report", ..., "holders": [...]}``, each holder carrying the run's stamp."""
    data = {
        "format": "provenance-holder-report",
        "version": 1,
        "audit_id": run.audit_id,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat(),
        "tool_version": run.tool_version,
        "manifest_sha256": run.manifest_sha256,
        "holders": [r.to_dict() for r in rows],
    }
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
