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
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from rapidfuzz.distance import Indel

from indexes.normalize import tokenize
from provenance.errors import OutputError
from provenance.manifest import manifest_text
from provenance.match import CSV_COLUMNS as MATCH_CSV_COLUMNS
from provenance.match import format_time_range
from provenance.runs import run_to_dict
from provenance.version import __version__

if TYPE_CHECKING:
    from pathlib import Path

    from provenance.match import Match
    from provenance.runs import AuditRun, WorkSnapshot

ReportFormat = Literal["html", "md", "json", "csv", "manifest"]
FORMATS: tuple[str, ...] = ("html", "md", "json", "csv", "manifest")
NO_CONSENT = "not recorded"
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


def render(run: AuditRun, fmt: ReportFormat) -> str:
    """The report of ``run`` in ``fmt``."""
    if fmt == "html":
        return render_html(run)
    if fmt == "md":
        return render_markdown(run)
    if fmt == "csv":
        return render_csv(run)
    if fmt == "manifest":
        return manifest_text(run.manifest)
    return json.dumps(run_to_dict(run), ensure_ascii=False, indent=2) + "\n"


def write_report(run: AuditRun, fmt: ReportFormat, path: Path) -> None:
    """Write the report to ``path`` (UTF-8)."""
    try:
        path.write_text(render(run, fmt), encoding="utf-8", newline="")
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the report ({exc.strerror or exc})") from exc


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
    kind = "audit of texts" if run.kind == "texts" else f"dataset scan ({run.engine} engine, {len(run.inputs)} shards)"
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
.figures { display: flex; flex-wrap: wrap; gap: 10px; margin: 8px 0 14px; }
.figure { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; min-width: 130px; }
.figure b { display: block; font-size: 22px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0 0 10px; }
dl.meta dt { color: var(--muted); } dl.meta dd { margin: 0; overflow-wrap: anywhere; }
.match { border-top: 1px solid var(--line); padding-top: 14px; margin-top: 22px; }
table.sbs { table-layout: fixed; }
table.sbs td.text { white-space: pre-wrap; font-family: "DejaVu Serif", Georgia, serif; }
table.sbs td.tag, table.sbs th.tag { width: 2.2em; text-align: center; color: var(--muted); }
mark.copied { background: var(--same); color: inherit; }
span.only-scanned { background: var(--scan); text-decoration: underline dotted; }
span.only-work { background: var(--work); text-decoration: underline dashed; }
span.gap { color: var(--muted); font-style: italic; }
.legend span, .legend mark { padding: 0 4px; }
.status-reserved { font-weight: bold; color: #9b1c1c; }
footer { margin-top: 34px; border-top: 2px solid var(--ink); padding-top: 10px; font-size: 12px; }
@page { size: A4; margin: 14mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  h2, h3 { break-after: avoid; } tr, .figure, dl.meta { break-inside: avoid; }
  a { color: inherit; } a[href]::after { content: " <" attr(href) ">"; color: var(--muted); overflow-wrap: anywhere; }
}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _a(url: str | None, label: str) -> str:
    link = safe_link(url)
    return f'<a href="{_e(link)}">{_e(label)}</a>' if link else _e(label)


def render_html(run: AuditRun) -> str:
    """The report as one self-contained HTML page."""
    s = summarize(run)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Audit report {_e(run.audit_id)}</title>",
        f"<style>{_CSS}</style></head><body>",
        "<header>",
        f"<h1>Audit report <code>{_e(run.audit_id)}</code></h1>",
        _html_run_meta(run),
        "</header>",
        _html_summary(run, s),
        _html_matches(run),
        _html_footer(run),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


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


def _html_summary(run: AuditRun, s: Summary) -> str:
    figures = [
        ("Works matched", s.works_matched),
        ("Scanned texts matched", f"{s.texts_matched} of {s.texts_scanned}"),
        ("Matches", s.matches),
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
        out.append(
            f'<tr><td class="status-{_e(status)}">{_e(status)}</td><td>{len(titles)}</td>'
            f"<td>{_e('; '.join(titles))}</td></tr>"
        )
    out.append("</tbody></table>")
    counts = Counter(m.work_id for m in run.matches)
    longest = {
        w.work_id: max((m.verbatim_words for m in run.matches if m.work_id == w.work_id), default=0) for w in run.works
    }
    out.append("<h3>Matched works</h3>")
    out.append(
        "<table><thead><tr><th>Work</th><th>Title</th><th>Creator</th><th>Rights holder</th><th>Kind</th>"
        "<th>Consent</th><th>Matches</th><th>Longest run</th></tr></thead><tbody>"
    )
    for w in run.works:
        out.append(
            f"<tr><td>{w.work_id}</td><td>{_a(w.source, w.title or w.source)}</td><td>{_e(w.creator or '')}</td>"
            f"<td>{_e(w.rights_holder or '')}</td><td>{_e(w.kind)}</td><td>{_e(w.consent_status or NO_CONSENT)}</td>"
            f"<td>{counts[w.work_id]}</td><td>{longest[w.work_id]} words</td></tr>"
        )
    out.append("</tbody></table>")
    out.append("<h3>Matches</h3>")
    out.append(
        "<table><thead><tr><th>#</th><th>Scanned text</th><th>Work</th><th>Score</th><th>Verbatim</th>"
        "<th>Spans (scanned → work)</th></tr></thead><tbody>"
    )
    for n, m in enumerate(run.matches, start=1):
        spans = f"{m.scanned_span[0]}-{m.scanned_span[1]} → {m.work_span[0]}-{m.work_span[1]}"
        if m.work_time is not None:
            spans += f" at {_time(m)}"
        out.append(
            f'<tr><td><a href="#match-{n}">{n}</a></td><td>{_e(m.scanned)}</td><td>{_e(m.title or m.source)}</td>'
            f"<td>{m.score:.2f}</td><td>{m.verbatim_words}/{m.matched_words} words</td><td>{_e(spans)}</td></tr>"
        )
    out.append("</tbody></table></section>")
    return "\n".join(out)


def _html_matches(run: AuditRun) -> str:
    if not run.matches:
        return ""
    seed = _seed(run)
    out = [
        '<section id="matches"><h2>Matches side by side</h2>',
        (
            '<p class="legend">Words are compared after normalization (case, Unicode forms); punctuation is not '
            'compared. <mark class="copied">copied</mark> in both texts, <span class="only-scanned">only in the '
            'scanned text</span>, <span class="only-work">only in the work</span>; rows marked = are identical, '
            "≠ differ.</p>"
        ),
    ]
    out += [_html_match(run, n, m, seed) for n, m in enumerate(run.matches, start=1)]
    out.append("</section>")
    return "\n".join(out)


def _html_match(run: AuditRun, n: int, m: Match, seed: int) -> str:
    w = run.work(m.work_id)
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
    return (
        f'<article class="match" id="match-{n}"><h3>Match {n}: {_e(m.title or m.source)}</h3>'
        f'<dl class="meta">{meta}</dl>'
        '<table class="sbs"><thead><tr><th class="tag"></th><th>Scanned text</th><th>Work</th></tr></thead><tbody>'
        + "".join(body)
        + "</tbody></table></article>"
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


def render_markdown(run: AuditRun) -> str:
    """The report as Markdown: copied words in bold, differing ones in italics."""
    s = summarize(run)
    audit = run.parameters.get("audit", {})
    lines = [
        f"# Audit report {run.audit_id}",
        "",
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
    for n, m in enumerate(run.matches, start=1):
        w = run.work(m.work_id)
        link = safe_link(m.link or w.source)
        lines += [
            f"## Match {n}: {_md(m.title or m.source)}",
            "",
            f"- Scanned text: {_md(m.scanned)} (characters {m.scanned_span[0]}-{m.scanned_span[1]})",
            f"- Work {m.work_id}: {_md(w.source)} (characters {m.work_span[0]}-{m.work_span[1]}"
            + (f", at {_time(m)}" if m.work_time else "")
            + ")",
            f"- Source: <{link}>" if link else f"- Source: {_md(w.source)}",
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


def render_csv(run: AuditRun) -> str:
    """One row per match: every match field (``CSV_COLUMNS``), excerpts included; scores to 4 places."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for n, m in enumerate(run.matches, start=1):
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
