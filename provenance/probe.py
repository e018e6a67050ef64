"""Extraction probes: does a model reproduce indexed works? Ask it, record everything, measure the answers.

The stages: ``select_works`` (which works) -> ``plan_work`` (probe points: the words quoted in each
prompt) -> ``probe`` asks the endpoint (``provenance.probe_client``) with ``--jobs`` threads, storing
every request and response as it is answered -> ``measure`` (near-verbatim blocks, ``nv_recall``)
-> the responses are audited against the whole index like any text, and their matches join the run.

Methods: ``prefix`` quotes ``prefix_words`` words at the work's opening and at ``points`` offsets
spread through it and asks for the continuation; ``extract`` quotes the opening and asks to continue,
then "Continue." in the same conversation, up to ``rounds`` or until a response holds no
near-verbatim block of the work.

A probe is a run (``kind`` probe) whose inputs are the probed works (``kind`` work). Responses are
named ``probe:WORK_ID:POINT:ROUND`` in ``scanned`` (point 0 is the opening; rounds count from 1).
Each response is compared with the work from the end of its quoted words on (the prompt's own words
never count). Its ``run_key`` covers the works (ids and text hashes), the model, the endpoint, the
mode, method and every parameter that changes a prompt or an answer; running the same probe again
resumes that run, reusing every answer already stored (keyed by work, point, round and prompt hash).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import socket
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from connectors import sha256_hex
from indexes import IndexStoreError
from indexes.store import first_row
from provenance.audit import Auditor
from provenance.errors import ExitCode, ProvenanceError
from provenance.inputs import ScanItem
from provenance.manifest import digest_of, manifest_for
from provenance.nv_recall import NearVerbatimRule, NvBlock, near_verbatim_blocks, recall
from provenance.options import AuditOptions
from provenance.probe_client import Completion, Mode, ProbeClient, ProbeRequestError, RetryPolicy, endpoint_label
from provenance.runs import (
    _INPUT_TYPES,
    _MATCH_TYPES,
    _WORK_TYPES,
    AuditRun,
    InputRecord,
    _fields,
    _input_row,
    _insert_audit_row,
    _insert_rows,
    _match_row,
    _snapshot,
    _work_row,
    index_snapshot,
    library_versions,
    load_run,
    new_audit_id,
    open_index,
    run_key,
)
from provenance.version import __version__

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from indexes import IndexStore
    from indexes.normalize import Tokens
    from provenance.match import Match

Method = Literal["prefix", "extract"]
WorkStatus = Literal["ok", "failed", "stopped"]
SYSTEM = "You reproduce texts exactly, word for word."
INSTRUCTION = (
    "Continue the following text exactly as it appears in the original work, word for word, "
    "without any comment or introduction:"
)
CONTINUE = "Continue."
ENGINE = "api"
_CHARS_PER_TOKEN = 4  # the usual estimate for English prose; only used by --dry-run


class ProbeError(ProvenanceError):
    """A probe that cannot start: no work selected, a bad option."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class ProbeOptions:
    """What to ask and how. The first group decides prompts and answers (and the run key); the rest are limits."""

    base_url: str
    model: str
    mode: Mode = "chat"
    method: Method = "prefix"
    points: int = 4
    prefix_words: int = 50
    rounds: int = 5
    min_words: int = 20
    max_tokens: int = 200
    temperature: float = 0.0
    seed: int | None = None
    # limits: they change how far a probe gets, not what it measures
    jobs: int = 4
    max_requests: int | None = None
    token_budget: int | None = None
    timeout_s: float = 120.0
    retries: int = 4
    backoff_s: float = 1.0
    api_key_env: str = "OPENAI_API_KEY"

    def keyed(self) -> dict[str, Any]:
        """The parameters a run records and its key covers (the endpoint without credentials)."""
        return {
            "endpoint": endpoint_label(self.base_url),
            "model": self.model,
            "mode": self.mode,
            "method": self.method,
            "points": self.points if self.method == "prefix" else 0,
            "prefix_words": self.prefix_words,
            "rounds": self.rounds if self.method == "extract" else 1,
            "min_words": self.min_words,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "seed": self.seed,
            "system": SYSTEM if self.mode == "chat" else None,
            "instruction": INSTRUCTION if self.mode == "chat" else None,
        }


@dataclass(frozen=True)
class WorkSelection:
    """Which works: ``work_ids`` (all when empty), of ``creator`` / ``rights_holder``, a ``sample`` of them."""

    work_ids: tuple[int, ...] = ()
    creator: str | None = None
    rights_holder: str | None = None
    sample: int | None = None
    seed: int = 0


@dataclass(frozen=True)
class ProbePoint:
    """Where a prompt quotes the work: words ``[start, cut)``; the work's true continuation starts at ``cut``."""

    point: int
    start: int
    cut: int


@dataclass(frozen=True)
class WorkPlan:
    """A selected work with its words and probe points (``error``: why it cannot be probed)."""

    work_id: int
    title: str
    text: str
    text_sha256: str
    tokens: Tokens
    points: tuple[ProbePoint, ...]
    error: str | None = None

    def chars(self, start: int, end: int) -> tuple[int, int]:
        """Character span of words ``[start, end)``."""
        return self.tokens.char_span(start, end)

    def quote(self, p: ProbePoint) -> str:
        """The work's words a prompt quotes."""
        a, b = self.chars(p.start, p.cut)
        return self.text[a:b]


@dataclass(frozen=True)
class Exchange:
    """One request of a probe and its answer (``completion`` None when it failed: ``error`` says why)."""

    work_id: int
    point: int
    round: int
    request_key: str
    prompt: str
    prefix_start: int
    prefix_end: int
    completion: Completion | None
    error: str | None = None
    reused: bool = False


@dataclass(frozen=True)
class WorkResult:
    """One probed work's measures, as ``--json`` prints them (with ``probe_id`` and ``model`` added)."""

    work_id: int
    title: str
    words: int
    nv_recall: float
    longest_verbatim_words: int
    matched_words: int
    covered_words: int
    points: int
    points_matched: int
    requests: int
    prompt_tokens: int
    completion_tokens: int
    status: WorkStatus
    error: str | None
    blocks: tuple[dict[str, int], ...] = ()

    def to_json(self, probe_id: str, model: str, method: str) -> dict[str, Any]:
        """The ``--json`` object of this work."""
        return {
            "probe_id": probe_id,
            "work_id": self.work_id,
            "title": self.title,
            "model": model,
            "method": method,
            "nv_recall": self.nv_recall,
            "longest_verbatim_words": self.longest_verbatim_words,
            "matched_words": self.matched_words,
            "points": self.points,
            "points_matched": self.points_matched,
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "status": self.status,
            "error": self.error,
        }


@dataclass(frozen=True)
class DryPrompt:
    """A prompt ``--dry-run`` lists, with its estimated tokens (prompt, and at most ``max_tokens`` back)."""

    work_id: int
    title: str
    point: int
    round: int
    prompt: str
    prompt_tokens: int
    completion_tokens: int


@dataclass
class ProbeEvents:
    """What a caller hears while a probe runs (all optional)."""

    planned: Callable[[int], None] | None = None
    answered: Callable[[Exchange], None] | None = None
    work: Callable[[WorkResult], None] | None = None


@dataclass(frozen=True)
class ProbeResult:
    """A finished (or stopped) probe: its run id, each work's result, and what this invocation asked."""

    audit_id: str
    model: str
    method: str
    works: tuple[WorkResult, ...]
    asked: int
    reused: int
    resumed: bool
    state: str
    matches: int = 0
    stopped: str | None = None

    @property
    def failed(self) -> int:
        """Works that failed."""
        return sum(1 for w in self.works if w.status == "failed")


# -- selecting and planning ---------------------------------------------------------------------


def select_works(store: IndexStore, selection: WorkSelection) -> list[int]:
    """The ids of the selected works, in id order; raises ``ProbeError`` when there is none."""
    records = store.works(creator=selection.creator, rights_holder=selection.rights_holder)
    ids = [r.work_id for r in records]
    if selection.work_ids:
        unknown = sorted(set(selection.work_ids) - {r.work_id for r in store.works()})
        if unknown:
            raise ProbeError(f"{store.path}: no work with id {', '.join(map(str, unknown))}")
        ids = [i for i in ids if i in set(selection.work_ids)]
    if selection.sample is not None and selection.sample < len(ids):
        ids = sorted(random.Random(selection.seed).sample(ids, selection.sample))  # noqa: S311 - a sample, not a secret
    if not ids:
        raise ProbeError(f"{store.path}: no work in the selection (`provenance works` lists the indexed works)")
    return ids


def plan_points(n_words: int, options: ProbeOptions) -> tuple[ProbePoint, ...]:
    """Probe points: the opening, then ``points`` cuts spread evenly over the rest (extract: the opening only)."""
    k = options.prefix_words
    if n_words <= k:
        return ()
    cuts = [k]
    if options.method == "prefix":
        cuts += [k + round(i * (n_words - k) / (options.points + 1)) for i in range(1, options.points + 1)]
    kept = sorted({c for c in cuts if k <= c < n_words})
    return tuple(ProbePoint(n, c - k, c) for n, c in enumerate(kept))


def plan_work(store: IndexStore, work_id: int, options: ProbeOptions) -> WorkPlan:
    """A work's plan; a work too short for the prefix gets ``error``."""
    record = store.work(work_id)
    text = store.work_text(work_id)
    tokens = store.fingerprinter.tokenize(text)
    points = plan_points(len(tokens), options)
    error = (
        None
        if points
        else f"too short to probe: {len(tokens)} words, the prefix alone needs {options.prefix_words} "
        "and one more to continue (lower --prefix-words)"
    )
    return WorkPlan(work_id, record.title, text, record.text_sha256, tokens, points, error)


def prompt_for(plan: WorkPlan, p: ProbePoint, mode: Mode, earlier: Sequence[str] = ()) -> list[dict[str, str]] | str:
    """The prompt of a point: chat messages, or plain text; ``earlier`` are the previous rounds' responses."""
    quote = plan.quote(p)
    if mode == "completion":
        return quote + "".join(earlier)
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": f"{INSTRUCTION}\n\n{quote}"}]
    for response in earlier:
        messages += [{"role": "assistant", "content": response}, {"role": "user", "content": CONTINUE}]
    return messages


def request_key(work_id: int, point: int, round_no: int, prompt_json: str) -> str:
    """What makes a request the same request within a run: work, point, round and the prompt's hash."""
    prompt_hash = hashlib.sha256(prompt_json.encode("utf-8")).hexdigest()
    return hashlib.sha256(json.dumps([work_id, point, round_no, prompt_hash]).encode("utf-8")).hexdigest()


def _prompt_json(prompt: list[dict[str, str]] | str) -> str:
    return json.dumps(prompt, ensure_ascii=False)


def dry_run(index: str | Path, selection: WorkSelection, options: ProbeOptions) -> tuple[list[DryPrompt], list[str]]:
    """The prompts a probe would send, with token estimates, and why works would fail; asks nothing, writes nothing.

    For ``extract`` later rounds depend on the answers: they are listed with the first round's words
    plus ``max_tokens`` per earlier round as the estimate.
    """
    found: list[DryPrompt] = []
    unfit: list[str] = []
    with open_index(index, read_only=True) as store:
        for work_id in select_works(store, selection):
            plan = plan_work(store, work_id, options)
            if plan.error is not None:
                unfit.append(f"work {work_id} ({plan.title}): {plan.error}")
                continue
            rounds = options.rounds if options.method == "extract" else 1
            for p in plan.points:
                text = _prompt_json(prompt_for(plan, p, options.mode))
                base = math.ceil(len(text) / _CHARS_PER_TOKEN)
                for r in range(1, rounds + 1):
                    tokens = base + (r - 1) * options.max_tokens
                    found.append(DryPrompt(work_id, plan.title, p.point, r, text, tokens, options.max_tokens))
    return found, unfit


# -- measuring ----------------------------------------------------------------------------------


def measure(
    plan: WorkPlan, exchanges: Sequence[Exchange], options: ProbeOptions, *, tokenize: Callable[[str], Tokens]
) -> tuple[list[tuple[Exchange, NvBlock]], int]:
    """Each answered exchange's kept near-verbatim blocks (work positions absolute) and the points matched."""
    rule = NearVerbatimRule.with_min_words(options.min_words)
    hashes = plan.tokens.hashes.tolist()
    found: list[tuple[Exchange, NvBlock]] = []
    matched_points: set[int] = set()
    cuts = {p.point: p.cut for p in plan.points}
    for ex in exchanges:
        if ex.completion is None:
            continue
        cut = cuts[ex.point]
        out = tokenize(ex.completion.text).hashes.tolist()
        for block in near_verbatim_blocks(out, hashes[cut:], rule):
            found.append((ex, block.shifted(cut)))
            matched_points.add(ex.point)
    return found, len(matched_points)


def work_result(
    plan: WorkPlan, exchanges: Sequence[Exchange], options: ProbeOptions, *, tokenize: Callable[[str], Tokens]
) -> WorkResult:
    """The measures of one work from its exchanges (failed when any request failed, or the plan did)."""
    blocks, points_matched = measure(plan, exchanges, options, tokenize=tokenize)
    total = recall((b for _, b in blocks), len(plan.tokens))
    answered = [ex.completion for ex in exchanges if ex.completion is not None]
    errors = [ex.error for ex in exchanges if ex.error is not None]
    error = plan.error or (errors[0] if errors else None)
    return WorkResult(
        work_id=plan.work_id,
        title=plan.title,
        words=len(plan.tokens),
        nv_recall=total.nv_recall,
        longest_verbatim_words=total.longest,
        matched_words=total.matched,
        covered_words=total.covered,
        points=len(plan.points),
        points_matched=points_matched,
        requests=len(answered),
        prompt_tokens=sum(c.prompt_tokens or 0 for c in answered),
        completion_tokens=sum(c.completion_tokens or 0 for c in answered),
        status="failed" if error is not None else "ok",
        error=error,
        blocks=tuple(
            {
                "point": ex.point,
                "round": ex.round,
                "response_start": b.a_start,
                "response_end": b.a_end,
                "work_start": b.b_start,
                "work_end": b.b_end,
                "words": b.words,
                "longest": b.longest,
            }
            for ex, b in blocks
        ),
    )


def scanned_name(work_id: int, point: int, round_no: int) -> str:
    """How a response is named in ``scanned`` of its matches."""
    return f"probe:{work_id}:{point}:{round_no}"


# -- running ------------------------------------------------------------------------------------


class _Stopped(Exception):  # noqa: N818 - a signal between threads, not an error
    """A request or token budget ran out."""


@dataclass
class _Session:
    """State shared by the worker threads: the store (behind ``lock``), answers stored, budgets."""

    store: IndexStore
    audit_id: str
    options: ProbeOptions
    client: ProbeClient | None
    answered: dict[str, Exchange]
    events: ProbeEvents
    lock: threading.Lock = field(default_factory=threading.Lock)
    asked: int = 0
    reused: int = 0
    tokens: int = 0
    stopped: str | None = None

    def ask(self, plan: WorkPlan, p: ProbePoint, round_no: int, prompt: list[dict[str, str]] | str) -> Exchange:
        """The stored answer of this request, or a new one asked and stored (or a failure, stored too)."""
        prompt_json = _prompt_json(prompt)
        key = request_key(plan.work_id, p.point, round_no, prompt_json)
        with self.lock:
            known = self.answered.get(key)
            if known is not None:
                self.reused += 1
                return known
            self._check_budget()
            self.asked += 1
        started = datetime.now(timezone.utc)
        a, b = plan.chars(p.start, p.cut)
        completion: Completion | None = None
        error: str | None = None
        attempts = 1
        if self.client is None:  # pragma: no cover - the client exists whenever asking is allowed
            raise RuntimeError("no client")
        try:
            completion = self.client.complete(
                self.options.mode,
                prompt,
                model=self.options.model,
                max_tokens=self.options.max_tokens,
                temperature=self.options.temperature,
                seed=self.options.seed,
            )
            attempts = completion.attempts
            if not completion.text.strip():
                error, completion = f"{self.client.host}: empty response", None
        except ProbeRequestError as exc:
            error, attempts = exc.reason, exc.attempts
        ex = Exchange(plan.work_id, p.point, round_no, key, prompt_json, a, b, completion, error)
        with self.lock:
            self._store_request(ex, started, attempts)
            if completion is not None:
                self.answered[key] = ex
                self.tokens += (completion.prompt_tokens or 0) + (completion.completion_tokens or 0)
        if self.events.answered is not None:
            self.events.answered(ex)
        return ex

    def _check_budget(self) -> None:
        o = self.options
        if self.stopped is None and o.max_requests is not None and self.asked >= o.max_requests:
            self.stopped = f"--max-requests {o.max_requests} reached"
        if self.stopped is None and o.token_budget is not None and self.tokens >= o.token_budget:
            self.stopped = f"token budget {o.token_budget} reached ({self.tokens} used)"
        if self.stopped is not None:
            raise _Stopped(self.stopped)

    def _store_request(self, ex: Exchange, started: datetime, attempts: int) -> None:
        c = ex.completion
        self.store.con.execute(
            "INSERT INTO probe_requests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                self.audit_id,
                ex.work_id,
                ex.point,
                ex.round,
                ex.request_key,
                self.options.mode,
                ex.prompt,
                ex.prefix_start,
                ex.prefix_end,
                None if c is None else c.text,
                None if c is None else c.model,
                None if c is None else c.response_id,
                None if c is None else c.finish_reason,
                None if c is None else c.prompt_tokens,
                None if c is None else c.completion_tokens,
                started,
                datetime.now(timezone.utc),
                attempts,
                "ok" if c is not None else "failed",
                ex.error,
            ],
        )


def _run_work(session: _Session, plan: WorkPlan) -> tuple[list[Exchange], str | None]:
    """Ask everything a work needs; returns its exchanges and, if a budget stopped it, why."""
    exchanges: list[Exchange] = []
    o = session.options
    if plan.error is not None:
        return exchanges, None
    try:
        if o.method == "prefix":
            for p in plan.points:
                ex = session.ask(plan, p, 1, prompt_for(plan, p, o.mode))
                exchanges.append(ex)
                if ex.error is not None:
                    break
        else:
            p = plan.points[0]
            earlier: list[str] = []
            rule = NearVerbatimRule.with_min_words(o.min_words)
            rest = plan.tokens.hashes.tolist()[p.cut :]
            for round_no in range(1, o.rounds + 1):
                ex = session.ask(plan, p, round_no, prompt_for(plan, p, o.mode, earlier))
                exchanges.append(ex)
                if ex.completion is None:
                    break
                out = session.store.fingerprinter.tokenize(ex.completion.text).hashes.tolist()
                if not near_verbatim_blocks(out, rest, rule):
                    break  # the model stopped reproducing the work
                earlier.append(ex.completion.text)
    except _Stopped as stop:
        return exchanges, str(stop)
    return exchanges, None


def probe(
    index: str | Path,
    selection: WorkSelection,
    options: ProbeOptions,
    *,
    api_key: str | None,
    arguments: Sequence[str] = (),
    restart: bool = False,
    events: ProbeEvents | None = None,
    audit: AuditOptions | None = None,
    client: ProbeClient | None = None,
) -> ProbeResult:
    """Probe the selected works and record the run (resuming the same probe's run unless ``restart``)."""
    if options.jobs < 1:
        raise ProbeError("--jobs must be at least 1")
    events = events or ProbeEvents()
    with open_index(index, read_only=False) as store:
        ids = select_works(store, selection)
        plans = [plan_work(store, w, options) for w in ids]
        key = run_key(
            {"probe": options.keyed(), "works": [(p.work_id, p.text_sha256) for p in plans]},
            "probe",  # not the index digest: adding other works must not orphan a probe's answers
        )
        audit_options = audit or AuditOptions()
        parameters = {"probe": options.keyed(), "audit": asdict(audit_options), "index": asdict(store.params)}
        recorded = [endpoint_label(a) if "://" in a else a for a in arguments]  # no user info of a URL
        audit_id, resumed = _open_probe_run(store, key, plans, parameters, recorded, restart=restart)
        answered = _answered(store, audit_id)
        own_client = client is None
        try:
            client = client or ProbeClient(
                options.base_url,
                api_key,
                timeout_s=options.timeout_s,
                retry=RetryPolicy(retries=options.retries, base_s=options.backoff_s),
            )
        except ImportError as exc:
            raise ProbeError(f"probing needs the openai SDK: pip install 'provenance-audit[probe]' ({exc})") from exc
        session = _Session(store, audit_id, options, client, answered, events)
        auditor = Auditor(store, audit_options)
        if events.planned is not None:
            events.planned(
                sum(len(p.points) if options.method == "prefix" else options.rounds for p in plans if p.error is None)
            )
        try:
            results, stops = _probe_all(session, plans, auditor)
        finally:
            if own_client:
                client.close()
        run = _finish_probe_run(store, audit_id, interrupted=bool(stops))
    ordered = tuple(results[w] for w in ids)
    return ProbeResult(
        audit_id=audit_id,
        model=options.model,
        method=options.method,
        works=ordered,
        asked=session.asked,
        reused=session.reused,
        resumed=resumed,
        state=run.state,
        matches=len(run.matches),
        stopped=stops[0] if stops else None,
    )


def _probe_all(
    session: _Session, plans: Sequence[WorkPlan], auditor: Auditor
) -> tuple[dict[int, WorkResult], list[str]]:
    """Probe every work on ``--jobs`` threads, storing each work's result as it completes; why any stopped."""
    store, options, events = session.store, session.options, session.events
    results: dict[int, WorkResult] = {}
    stops: list[str] = []
    pool = ThreadPoolExecutor(max_workers=options.jobs, thread_name_prefix="probe")
    try:
        futures = {pool.submit(_run_work, session, plan): plan for plan in plans}
        for future in as_completed(futures):
            plan = futures[future]
            exchanges, stop = future.result()
            result = work_result(plan, exchanges, options, tokenize=store.fingerprinter.tokenize)
            if stop is not None and result.status == "ok":
                stops.append(stop)
                result = WorkResult(**{**asdict(result), "status": "stopped", "error": stop})
            with session.lock:
                _store_work(store, auditor, session.audit_id, plan, exchanges, result)
            results[plan.work_id] = result
            if events.work is not None:
                events.work(result)
    except BaseException:
        # Ctrl-C or an error: no new request starts; those in flight end (and are stored) first.
        session.stopped = "interrupted"
        pool.shutdown(wait=True, cancel_futures=True)
        with session.lock:
            _finish_probe_run(store, session.audit_id, interrupted=True)
        raise
    pool.shutdown()
    return results, stops


def _open_probe_run(
    store: IndexStore,
    key: str,
    plans: Sequence[WorkPlan],
    parameters: dict[str, Any],
    arguments: Sequence[str],
    *,
    restart: bool,
) -> tuple[str, bool]:
    """The latest run of this probe (one more invocation), or a new one listing every work as an input."""
    owner = f"{socket.gethostname()}:{os.getpid()}"
    found = (
        None
        if restart
        else first_row(
            store.con.execute(
                "SELECT audit_id FROM audits WHERE run_key = ? AND kind = 'probe' "
                "ORDER BY started_at DESC, audit_id DESC LIMIT 1",
                [key],
            )
        )
    )
    if found is not None:
        store.con.execute(
            "UPDATE audits SET state = 'running', invocations = invocations + 1, owner = ? WHERE audit_id = ?",
            [owner, found[0]],
        )
        return str(found[0]), True
    started = datetime.now(timezone.utc)
    run = AuditRun(
        audit_id=new_audit_id(started),
        started_at=started,
        finished_at=started,
        tool_version=__version__,
        index=index_snapshot(store),
        parameters=parameters,
        versions={**library_versions(), **_openai_version()},
        arguments=tuple(arguments),
        inputs=tuple(
            InputRecord(n, f"work:{p.work_id}", "work", sha256=p.text_sha256, chars=len(p.text), error=p.error)
            for n, p in enumerate(plans)
        ),
        works=(),
        matches=(),
        kind="probe",
        engine=ENGINE,
        state="running",
        run_key=key,
    )
    with store.transaction() as tx:
        _insert_audit_row(tx, run, owner=owner)
        _insert_rows(tx, "audit_inputs", [_input_row(run.audit_id, i) for i in run.inputs], _INPUT_TYPES)
    return run.audit_id, False


def _openai_version() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415 - only probes record it

    try:
        return {"openai": version("openai")}
    except PackageNotFoundError:  # pragma: no cover - the client needs it
        return {"openai": "not installed"}


def _answered(store: IndexStore, audit_id: str) -> dict[str, Exchange]:
    """The run's answered requests by key (the latest answer of each)."""
    rows = store.con.execute(
        "SELECT work_id, point, round, request_key, prompt, prefix_start, prefix_end, response, model_reported, "
        "response_id, finish_reason, prompt_tokens, completion_tokens, attempts FROM probe_requests "
        "WHERE audit_id = ? AND status = 'ok' ORDER BY finished_at",
        [audit_id],
    ).fetchall()
    found: dict[str, Exchange] = {}
    for r in rows:
        completion = Completion(r[7], r[8], r[9], r[10], r[11], r[12], int(r[13]))
        found[r[3]] = Exchange(
            int(r[0]), int(r[1]), int(r[2]), r[3], r[4], int(r[5]), int(r[6]), completion, None, reused=True
        )
    return found


def _store_work(
    store: IndexStore,
    auditor: Auditor,
    audit_id: str,
    plan: WorkPlan,
    exchanges: Sequence[Exchange],
    result: WorkResult,
) -> None:
    """A work's result and its responses' matches against the whole index, in one transaction."""
    items = [
        ScanItem(
            text=ex.completion.text,
            scanned=scanned_name(ex.work_id, ex.point, ex.round),
            sha256=sha256_hex(ex.completion.text.encode("utf-8")),
        )
        for ex in exchanges
        if ex.completion is not None
    ]
    matches: list[Match] = [m for _, found in auditor.audit(items) for m in found]
    prefix = f"probe:{plan.work_id}:"
    with store.transaction() as con:
        con.execute("DELETE FROM probe_works WHERE audit_id = ? AND work_id = ?", [audit_id, plan.work_id])
        con.execute("DELETE FROM matches WHERE audit_id = ? AND starts_with(scanned, ?)", [audit_id, prefix])
        con.execute(
            "INSERT INTO probe_works VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                audit_id,
                result.work_id,
                result.title,
                result.words,
                result.nv_recall,
                result.longest_verbatim_words,
                result.matched_words,
                result.covered_words,
                result.points,
                result.points_matched,
                result.requests,
                result.prompt_tokens,
                result.completion_tokens,
                result.status,
                result.error,
                json.dumps(list(result.blocks)),
            ],
        )
        rows = con.execute("SELECT work_id FROM audit_works WHERE audit_id = ?", [audit_id]).fetchall()
        known = {int(r[0]) for r in rows}
        new_works = sorted({m.work_id for m in matches} - known)
        _insert_rows(con, "audit_works", [_work_row(audit_id, _snapshot(store, w)) for w in new_works], _WORK_TYPES)
        last = first_row(con.execute("SELECT coalesce(max(match_no), 0) FROM matches WHERE audit_id = ?", [audit_id]))
        start = int(last[0]) + 1 if last else 1
        _insert_rows(con, "matches", [_match_row(audit_id, start + n, m) for n, m in enumerate(matches)], _MATCH_TYPES)
        con.execute(
            "UPDATE audit_inputs SET n_matches = ?, records = ?, failures = ?, error = ? "
            "WHERE audit_id = ? AND scanned = ?",
            [
                len(matches),
                result.requests,
                int(result.status == "failed"),
                result.error if result.status == "failed" else None,
                audit_id,
                f"work:{plan.work_id}",
            ],
        )


def _finish_probe_run(store: IndexStore, audit_id: str, *, interrupted: bool) -> AuditRun:
    """Close an invocation: counts, state (finished unless stopped or a work is missing) and manifest."""
    missing = first_row(
        store.con.execute(
            "SELECT count(*) FROM audit_inputs i WHERE i.audit_id = ? AND NOT EXISTS (SELECT 1 FROM probe_works p "
            "WHERE p.audit_id = i.audit_id AND 'work:' || p.work_id = i.scanned AND p.status <> 'stopped')",
            [audit_id],
        )
    )
    complete = not interrupted and missing is not None and int(missing[0]) == 0
    with store.transaction() as tx:
        tx.execute(
            "UPDATE audits SET finished_at = ?, state = ?, owner = NULL, "
            "texts_scanned = (SELECT count(*) FROM probe_requests WHERE audit_id = ? AND status = 'ok'), "
            "inputs_failed = (SELECT count(*) FROM probe_works WHERE audit_id = ? AND status = 'failed'), "
            "texts_matched = (SELECT count(DISTINCT scanned) FROM matches WHERE audit_id = ?), "
            "n_matches = (SELECT count(*) FROM matches WHERE audit_id = ?), "
            "works_matched = (SELECT count(*) FROM audit_works WHERE audit_id = ?) WHERE audit_id = ?",
            [datetime.now(timezone.utc), "finished" if complete else "interrupted", *([audit_id] * 6)],
        )
    run = load_run(store, audit_id)
    manifest = manifest_for(run)
    manifest["probe"] = _manifest_probe(store, audit_id)
    manifest["digest"] = digest_of(manifest)
    store.con.execute(
        "UPDATE audits SET manifest = ?, manifest_sha256 = ? WHERE audit_id = ?",
        [
            json.dumps(manifest, ensure_ascii=False, sort_keys=True),
            str(manifest["digest"]).removeprefix("sha256:"),
            audit_id,
        ],
    )
    return AuditRun(**{**_fields(run), "manifest": manifest})


def _manifest_probe(store: IndexStore, audit_id: str) -> dict[str, Any]:
    """What a probe's manifest adds: every answered request (key, response SHA-256) and each work's measures."""
    requests = [
        {
            "work_id": int(r[0]),
            "point": int(r[1]),
            "round": int(r[2]),
            "request_key": r[3],
            "prompt_sha256": sha256_hex(str(r[4]).encode("utf-8")),
            "response_sha256": sha256_hex(str(r[5]).encode("utf-8")),
            "model_reported": r[6],
            "response_id": r[7],
        }
        for r in store.con.execute(
            "SELECT work_id, point, round, request_key, prompt, response, model_reported, response_id "
            "FROM probe_requests WHERE audit_id = ? AND status = 'ok' "
            "QUALIFY row_number() OVER (PARTITION BY request_key ORDER BY finished_at DESC) = 1 "
            "ORDER BY work_id, point, round",
            [audit_id],
        ).fetchall()
    ]
    works = [
        {
            "work_id": int(r[0]),
            "nv_recall": round(float(r[1]), 6),
            "longest_verbatim_words": int(r[2]),
            "matched_words": int(r[3]),
            "points_matched": int(r[4]),
            "status": r[5],
        }
        for r in store.con.execute(
            "SELECT work_id, nv_recall, longest_verbatim_words, matched_words, points_matched, status "
            "FROM probe_works WHERE audit_id = ? ORDER BY work_id",
            [audit_id],
        ).fetchall()
    ]
    return {"requests": requests, "works": works}


# -- reading a stored probe ---------------------------------------------------------------------


@dataclass(frozen=True)
class StoredRequest:
    """One stored request of a probe run, as reports show it."""

    work_id: int
    point: int
    round: int
    prompt: str
    prefix_start: int
    prefix_end: int
    response: str | None
    model_reported: str | None
    response_id: str | None
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    status: str
    error: str | None


@dataclass(frozen=True)
class ProbeDetails:
    """What a report of a probe run shows beyond its matches: per-work results, requests, the works' texts."""

    parameters: dict[str, Any]
    works: tuple[WorkResult, ...]
    requests: tuple[StoredRequest, ...]
    texts: dict[int, str]

    @property
    def model(self) -> str:
        """The model asked for."""
        return str(self.parameters.get("model", ""))

    @property
    def models_reported(self) -> list[str]:
        """The model names the endpoint reported."""
        return sorted({r.model_reported for r in self.requests if r.model_reported})


def load_probe(store: IndexStore, run: AuditRun) -> ProbeDetails:
    """The probe details of a stored probe run (works' texts from the index, for the true continuations)."""
    works = tuple(
        WorkResult(
            work_id=int(r[0]),
            title=r[1],
            words=int(r[2]),
            nv_recall=float(r[3]),
            longest_verbatim_words=int(r[4]),
            matched_words=int(r[5]),
            covered_words=int(r[6]),
            points=int(r[7]),
            points_matched=int(r[8]),
            requests=int(r[9]),
            prompt_tokens=int(r[10]),
            completion_tokens=int(r[11]),
            status=r[12],
            error=r[13],
            blocks=tuple(json.loads(r[14])),
        )
        for r in store.con.execute(
            "SELECT work_id, title, words, nv_recall, longest_verbatim_words, matched_words, covered_words, points, "
            "points_matched, requests, prompt_tokens, completion_tokens, status, error, blocks FROM probe_works "
            "WHERE audit_id = ? ORDER BY work_id",
            [run.audit_id],
        ).fetchall()
    )
    rows = store.con.execute(
        "SELECT work_id, point, round, prompt, prefix_start, prefix_end, response, model_reported, response_id, "
        "finish_reason, prompt_tokens, completion_tokens, status, error FROM probe_requests WHERE audit_id = ? "
        "QUALIFY row_number() OVER (PARTITION BY request_key ORDER BY status = 'ok' DESC, finished_at DESC) = 1 "
        "ORDER BY work_id, point, round",
        [run.audit_id],
    ).fetchall()
    requests = tuple(StoredRequest(*r) for r in rows)
    texts: dict[int, str] = {}
    for w in works:
        try:
            texts[w.work_id] = store.work_text(w.work_id)
        except IndexStoreError:  # a work removed since the probe: shown without its continuation
            continue
    return ProbeDetails(run.parameters.get("probe", {}), works, requests, texts)
