"""Reports of a probe run: per work the measures, per probe point the three texts side by side.

For each request the report shows the prompt (the work's words it quoted), the model's output and
the work's true continuation, copied words highlighted by the same word alignment as audit reports
(``provenance.report.segments``). The continuation shown starts where the response's first
near-verbatim block lies in the work (else at the point's cut, after earlier rounds' words) and runs
ten words longer than the response. The matches of the responses against the whole index follow,
as in any audit report.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from indexes.normalize import tokenize
from provenance.holders import group_matches
from provenance.report import (
    FULL_PER_WORK,
    FULL_TOTAL,
    OPEN_FIRST,
    _e,
    _html_footer,
    _html_matches,
    _md,
    _numbers,
    _page,
    _seed,
    render_markdown,
    run_state,
    segments,
)
from provenance.runs import run_to_dict

if TYPE_CHECKING:
    from provenance.probe import ProbeDetails, StoredRequest, WorkResult
    from provenance.runs import AuditRun

_MORE_WORDS = 10
_CSS = """
table.results td.num, table.results th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.results { border-collapse: collapse; margin: 8px 0 20px; }
table.results th, table.results td { border-bottom: 1px solid var(--line); padding: 4px 10px; }
section.probe-point { break-inside: avoid; margin: 10px 0 18px; }
table.three { width: 100%; border-collapse: collapse; table-layout: fixed; }
table.three td, table.three th { border: 1px solid var(--line); padding: 6px 8px; vertical-align: top; }
table.three td { white-space: pre-wrap; word-wrap: break-word; }
td.failed { color: #a4262c; }
"""


def _continuation(details: ProbeDetails, r: StoredRequest, seed: int) -> str:
    """The work's real text the response should have been, as the module docstring says."""
    text = details.texts.get(r.work_id)
    if text is None or r.response is None:
        return ""
    tokens = tokenize(text, seed)
    starts = tokens.starts.tolist()
    cut = next((i for i, s in enumerate(starts) if s >= r.prefix_end), len(starts))
    work = next((w for w in details.works if w.work_id == r.work_id), None)
    blocks = [b for b in (work.blocks if work else ()) if b["point"] == r.point and b["round"] == r.round]
    if blocks:
        start = max(cut, blocks[0]["work_start"] - blocks[0]["response_start"])
    else:
        earlier = [
            q.response or ""
            for q in details.requests
            if q.work_id == r.work_id and q.point == r.point and q.round < r.round
        ]
        start = cut + sum(len(tokenize(e, seed)) for e in earlier)
    n = len(tokenize(r.response, seed)) + _MORE_WORDS
    end = min(len(starts), start + n)
    if start >= end:
        return ""
    return text[tokens.starts[start] : tokens.ends[end - 1]]


def _quote(details: ProbeDetails, r: StoredRequest) -> str:
    text = details.texts.get(r.work_id)
    if text is not None:
        return text[r.prefix_start : r.prefix_end]
    prompt: Any = json.loads(r.prompt)
    return str(prompt if isinstance(prompt, str) else prompt[1]["content"])


def _meta_rows(run: AuditRun, details: ProbeDetails) -> list[tuple[str, str]]:
    p = details.parameters
    return [
        ("Run", run_state(run)),
        ("Started", f"{run.started_at:%Y-%m-%d %H:%M:%S} UTC"),
        ("Finished", f"{run.finished_at:%Y-%m-%d %H:%M:%S} UTC"),
        ("Model asked", str(p.get("model", ""))),
        ("Model reported", ", ".join(details.models_reported) or "(none)"),
        ("Endpoint", str(p.get("endpoint", ""))),
        ("Method", f"{p.get('method')} ({p.get('mode')} completions)"),
        (
            "Parameters",
            (
                f"{p.get('prefix_words')} words quoted, {p.get('points')} points besides the opening, "
                f"{p.get('rounds')} rounds, at most {p.get('max_tokens')} tokens, "
                f"temperature {p.get('temperature')}, seed {p.get('seed')}, "
                f"blocks of at least {p.get('min_words')} words"
            ),
        ),
        ("Index", f"{run.index.path} ({run.index.works} works, digest {run.index.digest[:16]}…)"),
        ("Tool", f"provenance {run.tool_version}"),
    ]


_RESULT_HEAD = ("Work", "Title", "Status", "nv_recall", "Longest run", "Matched words", "Points", "Requests", "Tokens")


def _result_cells(w: WorkResult) -> tuple[str, ...]:
    return (
        str(w.work_id),
        w.title,
        w.status if w.error is None else f"{w.status}: {w.error}",
        f"{w.nv_recall:.3f}",
        str(w.longest_verbatim_words),
        str(w.matched_words),
        f"{w.points_matched}/{w.points}",
        str(w.requests),
        str(w.prompt_tokens + w.completion_tokens),
    )


def render_probe_html(run: AuditRun, details: ProbeDetails) -> str:
    """The probe report as one self-contained HTML page."""
    seed = _seed(run)
    meta = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in _meta_rows(run, details))
    head = "".join(f"<th{' class=num' if i > 2 else ''}>{_e(h)}</th>" for i, h in enumerate(_RESULT_HEAD))  # noqa: PLR2004
    rows = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{_e(c)}</td>' if i > 2 else f"<td>{_e(c)}</td>"  # noqa: PLR2004
            for i, c in enumerate(_result_cells(w))
        )
        + "</tr>"
        for w in details.works
    )
    body = [
        f"<style>{_CSS}</style>",
        "<header>",
        f"<h1>Probe report <code>{_e(run.audit_id)}</code></h1>",
        f'<dl class="meta">{meta}</dl>',
        "</header>",
        '<section id="results"><h2>Results per work</h2>',
        (
            "<p>nv_recall: share of the work's words covered by near-verbatim blocks of the responses "
            "(identical-word blocks merged across small gaps, kept from the minimum length). A high value says "
            "the model reproduced the work's text from the prompts; a low one does not prove it never saw it.</p>"
        ),
        f'<table class="results"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></section>',
    ]
    for w in details.works:
        body.append(f'<section class="probe-work" id="work-{w.work_id}"><h2>{_e(w.title)} (work {w.work_id})</h2>')
        body.extend(_html_point(details, r, seed) for r in details.requests if r.work_id == w.work_id)
        body.append("</section>")
    nums = _numbers(run, None)
    body.append(_html_matches(run, group_matches(run, nums), FULL_PER_WORK, FULL_TOTAL, OPEN_FIRST))
    body.append(_html_footer(run))
    return _page(f"Probe report {run.audit_id}", body)


def _html_point(details: ProbeDetails, r: StoredRequest, seed: int) -> str:
    quote = _quote(details, r)
    title = f"Point {r.point}, round {r.round}"
    if r.response is None:
        output = f'<td class="failed">failed: {_e(r.error or "")}</td>'
        truth = f"<td>{_e(_continuation(details, r, seed))}</td>"
    else:
        out_parts: list[str] = []
        work_parts: list[str] = []
        for seg in segments(r.response, _continuation(details, r, seed), seed):
            if seg.kind == "same":
                out_parts.append(f'<mark class="copied">{_e(seg.scanned)}</mark>')
                work_parts.append(f'<mark class="copied">{_e(seg.work)}</mark>')
            else:
                out_parts.append(_e(seg.scanned))
                work_parts.append(_e(seg.work))
        output, truth = f"<td>{''.join(out_parts)}</td>", f"<td>{''.join(work_parts)}</td>"
    reported = f" · {_e(r.model_reported)}" if r.model_reported else ""
    finish = f" · finish {_e(r.finish_reason)}" if r.finish_reason else ""
    return (
        f'<section class="probe-point"><h3>{_e(title)}{reported}{finish}</h3>'
        '<table class="three"><thead><tr><th>Prompt (the work\'s words)</th><th>Model output</th>'
        "<th>The work's true continuation</th></tr></thead>"
        f"<tbody><tr><td>{_e(quote)}</td>{output}{truth}</tr></tbody></table></section>"
    )


def render_probe_markdown(run: AuditRun, details: ProbeDetails) -> str:
    """The probe report as Markdown: copied words in bold; then the matches as in an audit report."""
    seed = _seed(run)
    lines = [f"# Probe report {run.audit_id}", ""]
    lines += [f"- {k}: {_md(v)}" for k, v in _meta_rows(run, details)]
    lines += ["", "## Results per work", "", "| " + " | ".join(_RESULT_HEAD) + " |", "|---" * len(_RESULT_HEAD) + "|"]
    lines += ["| " + " | ".join(_md(c) for c in _result_cells(w)) + " |" for w in details.works]
    lines.append("")
    for w in details.works:
        lines += [f"## {_md(w.title)} (work {w.work_id})", ""]
        for r in (q for q in details.requests if q.work_id == w.work_id):
            lines += [
                f"### Point {r.point}, round {r.round}",
                "",
                f"- Prompt (the work's words): {_md(_quote(details, r))}",
            ]
            if r.response is None:
                lines += [f"- Model output: failed: {_md(r.error or '')}", ""]
                continue
            out_parts, work_parts = [], []
            for seg in segments(r.response, _continuation(details, r, seed), seed):
                a, b = seg.scanned.strip(), seg.work.strip()
                out_parts.append(f"**{_md(a)}**" if seg.kind == "same" and a else _md(a))
                work_parts.append(f"**{_md(b)}**" if seg.kind == "same" and b else _md(b))
            lines += [
                f"- Model output: {' '.join(p for p in out_parts if p)}",
                f"- The work's true continuation: {' '.join(p for p in work_parts if p)}",
                "",
            ]
    lines += ["", "---", "", "## The responses audited against the index", ""]
    matches = render_markdown(run).split("\n", 1)[1]
    return "\n".join(lines) + matches


def probe_json(run: AuditRun, details: ProbeDetails) -> str:
    """The whole run as JSON, with the probe's parameters, per-work results and every request."""
    data = run_to_dict(run)
    data["probe"] = {
        "parameters": details.parameters,
        "works": [asdict(w) for w in details.works],
        "requests": [asdict(r) for r in details.requests],
    }
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
