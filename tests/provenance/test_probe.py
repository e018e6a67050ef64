"""``provenance probe`` against a loopback OpenAI-compatible server whose scripted model is known exactly.

The scripted model answers a prompt by finding the quoted words in one of the works it "knows" and
continuing from there: verbatim (memorized), with every tenth word changed (near), keeping one word
in four (paraphrase), or not at all (refuse, and a work it answers with HTTP 500). Its very first
request gets HTTP 429 with ``Retry-After: 1``. So every measured figure is known in advance.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from indexes import IndexStore
from provenance.cli import app
from provenance.nv_recall import NearVerbatimRule, identical_blocks, merge, near_verbatim_blocks, recall
from provenance.probe import INSTRUCTION, SYSTEM, ProbeOptions, load_probe, plan_points
from provenance.probe_client import endpoint_label
from provenance.report import render
from provenance.runs import load_run

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

runner = CliRunner()
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
SECRET = "sk-test-Do-Not-Leak-4f1c9b"  # noqa: S105 - a fake key the tests look for
WORDS = 400
ANSWER_WORDS = 40
REFUSAL = "I'm sorry, but I can't help with reproducing that text."
BEHAVIOURS = ("memorized", "near", "paraphrase", "refuse", "broken")


def vocabulary() -> list[str]:
    rng = random.Random(7)
    syllables = ["ka", "lo", "mi", "ru", "te", "sa", "no", "vi", "de", "pu", "ga", "ze", "fo", "li", "bra", "sto"]
    found: set[str] = set()
    while len(found) < 3000:
        found.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    return sorted(found)


def work_words(n: int) -> list[str]:
    vocab = vocabulary()
    rng = random.Random(100 + n)
    return [rng.choice(vocab) for _ in range(WORDS)]


class Scripted:
    """The scripted model and its log: every request with its time, status and prompt."""

    def __init__(self, works: dict[str, list[str]], *, key: str | None = None, hang_after: int | None = None) -> None:
        self.works = works
        self.key = key
        self.hang_after = hang_after
        self.hanging = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.log: list[dict[str, Any]] = []
        self.sent_429 = False

    def answered(self) -> list[str]:
        """Prompts answered with 200, in order."""
        return [e["prompt"] for e in self.log if e["status"] == 200]

    def handle(  # noqa: PLR0911 - one return per scripted behaviour
        self, path: str, headers: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, str], Any]:
        prompt = json.dumps(body.get("messages", body.get("prompt")))
        entry: dict[str, Any] = {"t": time.monotonic(), "path": path, "prompt": prompt, "status": None}
        with self.lock:
            self.log.append(entry)
            if self.key is not None and headers.get("authorization") != f"Bearer {self.key}":
                entry["status"] = 401
                return 401, {}, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}
            if not self.sent_429:
                self.sent_429 = True
                entry["status"] = 429
                return 429, {"Retry-After": "1"}, {"error": {"message": "Rate limit reached"}}
            hang = self.hang_after is not None and len(self.answered()) >= self.hang_after
        if hang:
            entry["status"] = "hung"
            self.hanging.set()
            self.release.wait(30)
            return 503, {}, {"error": {"message": "gone"}}
        asked_for = body.get("model")
        if asked_for == "unknown":
            entry["status"] = 404
            return 404, {}, {"error": {"message": "The model `unknown` does not exist", "code": "model_not_found"}}
        if asked_for == "slow":
            time.sleep(1.5)
        if asked_for == "malformed":
            entry["status"] = 200
            return 200, {}, {"id": "resp-x", "object": "chat.completion", "created": 1, "model": "m", "choices": []}
        name, position, prompt_words = self.locate(path, body)
        if name == "broken":
            entry["status"] = 500
            return 500, {}, {"error": {"message": "internal error"}}
        text = "" if asked_for == "empty" else self.continuation(name, position)
        entry["status"] = 200
        chat = path.endswith("/chat/completions")
        usage = {"prompt_tokens": prompt_words, "completion_tokens": len(text.split())}
        if chat:
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        else:
            choice = {"index": 0, "text": " " + text, "finish_reason": "stop"}
        return (
            200,
            {},
            {
                "id": f"resp-{len(self.log)}",
                "object": "chat.completion" if chat else "text_completion",
                "created": 1,
                "model": "scripted-model-v1",
                "choices": [choice],
                "usage": {**usage, "total_tokens": sum(usage.values())},
            },
        )

    def locate(self, path: str, body: dict[str, Any]) -> tuple[str, int, int]:
        """Which work the prompt quotes, where its text goes on, and the prompt's words."""
        if path.endswith("/chat/completions"):
            messages = body["messages"]
            quote = messages[1]["content"].split("\n\n", 1)[1].split()
            earlier = sum(len(m["content"].split()) for m in messages if m["role"] == "assistant")
            prompt_words = sum(len(m["content"].split()) for m in messages)
        else:
            quote = body["prompt"].split()
            earlier = 0
            prompt_words = len(quote)
        head = quote[:12]
        for name, words in self.works.items():
            for i in range(len(words) - len(head) + 1):
                if words[i : i + len(head)] == head:
                    return name, i + len(quote) + earlier, prompt_words
        raise AssertionError(f"prompt quotes no known work: {' '.join(head)}")

    def continuation(self, name: str, position: int) -> str:
        words = list(self.works[name][position : position + ANSWER_WORDS])
        if name == "refuse":
            return REFUSAL
        if name == "near":
            words = [f"qq{i}" if i % 10 == 9 else w for i, w in enumerate(words)]
        if name == "paraphrase":
            words = [w if i % 4 == 0 else f"xq{i}" for i, w in enumerate(words)]
        return " ".join(words)


def serve(model: Scripted) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, payload = model.handle(self.path, headers, body)
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in extra.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client was killed while waiting
                pass

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


@pytest.fixture
def works_index(tmp_path) -> tuple[Path, dict[str, int], dict[str, list[str]]]:
    folder = tmp_path / "works"
    folder.mkdir()
    texts = {name: work_words(n) for n, name in enumerate(BEHAVIOURS)}
    for name, words in texts.items():
        (folder / f"{name}.txt").write_text(" ".join(words) + "\n", encoding="utf-8")
    index = tmp_path / "index.duckdb"
    result = runner.invoke(app, ["add", str(folder), "--index", str(index), "--title", "x"])
    if result.exit_code != 0:
        result = runner.invoke(app, ["add", str(folder), "--index", str(index)])
    assert result.exit_code == 0, result.output
    with IndexStore.open(index, read_only=True) as store:
        ids = {w.source.rsplit("/", 1)[1].removesuffix(".txt"): w.work_id for w in store.works()}
    return index, ids, texts


@pytest.fixture
def scripted(works_index) -> Iterator[tuple[Scripted, str]]:
    model = Scripted(works_index[2])
    server, url = serve(model)
    yield model, url
    model.release.set()
    server.shutdown()
    server.server_close()


def probe(index: Path, url: str, *args: str, env: dict[str, str] | None = None, model: str = "scripted"):
    return runner.invoke(
        app,
        ["probe", "--base-url", url, "--model", model, "--index", str(index), "--backoff", "0.01", *args],
        env=env,
    )


def by_work(output: str) -> dict[int, dict[str, Any]]:
    rows = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return {r["work_id"]: r for r in rows}


# -- the block rule ------------------------------------------------------------------------------


def test_blocks_merge_across_small_gaps_with_small_skew_and_keep_long_ones():
    work = list(range(100))
    # 9 identical, one substituted, 9 identical, ... : one near-verbatim block of 36 words over 39.
    output = [w if i % 10 != 9 else -1 for i, w in enumerate(work[10:49])]
    blocks = near_verbatim_blocks(output, work, NearVerbatimRule())
    assert [(b.b_start, b.b_end, b.words, b.longest) for b in blocks] == [(10, 49, 36, 9)]
    # A gap of three words on one side and one on the other (skew 2) does not merge in the first pass.
    raw = identical_blocks([*range(15), -1, *range(18, 33)], work)
    assert len(merge(raw, gap=2, skew=1, keep=0)) == 2
    assert len(merge(raw, gap=10, skew=3, keep=0)) == 1
    # One word in four kept: never a block.
    sparse = [w if i % 4 == 0 else -1 for i, w in enumerate(work[:60])]
    assert near_verbatim_blocks(sparse, work, NearVerbatimRule()) == []
    assert recall(blocks, 100).nv_recall == 0.39


@settings(max_examples=50, deadline=None)
@given(start=st.integers(0, 200), length=st.integers(20, 90), extra=st.integers(0, 30))
def test_a_verbatim_stretch_is_one_block_covering_exactly_it(start, length, extra):
    work = list(range(300))
    output = [-1] * extra + work[start : start + length] + [-2] * extra
    blocks = near_verbatim_blocks(output, work, NearVerbatimRule())
    got = recall(blocks, len(work))
    assert (got.covered, got.matched, got.longest) == (length, length, length)


def test_probe_points_are_the_opening_and_even_cuts():
    cuts = [p.cut for p in plan_points(400, ProbeOptions(base_url="x", model="m", points=3))]
    assert cuts == [50, 138, 225, 312]
    assert plan_points(50, ProbeOptions(base_url="x", model="m")) == ()


# -- a probe against the scripted model ----------------------------------------------------------


def test_measured_figures_equal_the_scripted_model_exactly(works_index, scripted):
    index, ids, _texts = works_index
    model, url = scripted
    result = probe(index, url, "--points", "3", "--retries", "1", "--max-tokens", "60", "--jobs", "2", "--json")
    assert result.exit_code == 3, result.output
    got = by_work(result.stdout)
    prompt = len(SYSTEM.split()) + len(INSTRUCTION.split()) + 50
    common = {"model": "scripted", "method": "prefix", "points": 4}
    expected = {
        "memorized": {
            "nv_recall": 0.4,
            "longest_verbatim_words": 40,
            "matched_words": 160,
            "points_matched": 4,
            "requests": 4,
            "prompt_tokens": 4 * prompt,
            "completion_tokens": 160,
            "status": "ok",
            "error": None,
        },
        "near": {
            "nv_recall": 0.39,
            "longest_verbatim_words": 9,
            "matched_words": 144,
            "points_matched": 4,
            "requests": 4,
            "prompt_tokens": 4 * prompt,
            "completion_tokens": 160,
            "status": "ok",
            "error": None,
        },
        "paraphrase": {
            "nv_recall": 0.0,
            "longest_verbatim_words": 0,
            "matched_words": 0,
            "points_matched": 0,
            "requests": 4,
            "prompt_tokens": 4 * prompt,
            "completion_tokens": 160,
            "status": "ok",
            "error": None,
        },
        "refuse": {
            "nv_recall": 0.0,
            "longest_verbatim_words": 0,
            "matched_words": 0,
            "points_matched": 0,
            "requests": 4,
            "prompt_tokens": 4 * prompt,
            "completion_tokens": 4 * len(REFUSAL.split()),
            "status": "ok",
            "error": None,
        },
    }
    for name, figures in expected.items():
        row = got[ids[name]]
        assert {k: row[k] for k in (*figures, *common)} == {**figures, **common}, name
        assert row["title"]
    broken = got[ids["broken"]]
    assert broken["status"] == "failed"
    assert broken["error"] == "127.0.0.1: HTTP 500 after 2 attempts: internal error"
    assert broken["requests"] == 0
    assert len({r["probe_id"] for r in got.values()}) == 1
    assert "1 of 5 works failed" in result.stderr
    # Retry-After honoured: the first request got 429 and the retry came a second later, not 0.01 s.
    first = model.log[0]
    second = next(e for e in model.log[1:] if e["prompt"] == first["prompt"])
    assert first["status"] == 429
    assert second["t"] - first["t"] >= 1.0
    # Every request stored verbatim; the responses audited against the index joined the run's matches.
    audit_id = next(iter(got.values()))["probe_id"]
    with IndexStore.open(index, read_only=True) as store:
        run = load_run(store, audit_id)
        stored = store.con.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'ok'), count(DISTINCT model_reported) "
            "FROM research.probe_requests WHERE audit_id = ?",
            [audit_id],
        ).fetchone()
        views = store.con.execute("SELECT work_id, nv_recall FROM research.probe_works ORDER BY work_id").fetchall()
    assert run.kind == "probe"
    assert run.state == "finished"
    assert stored == (17, 16, 1)
    assert dict(views)[ids["memorized"]] == 0.4
    assert [i.kind for i in run.inputs] == ["work"] * 5
    memorized = sorted(m.scanned for m in run.matches if m.work_id == ids["memorized"])
    assert memorized == [f"probe:{ids['memorized']}:{p}:1" for p in range(4)]
    assert not [m for m in run.matches if m.work_id in {ids["paraphrase"], ids["refuse"]}]
    listed = runner.invoke(app, ["audits", "--index", str(index), "--json"])
    assert json.loads(listed.stdout.splitlines()[0])["kind"] == "probe"


def test_extract_continues_the_conversation_until_it_stops_matching(works_index, scripted):
    index, ids, _texts = works_index
    model, url = scripted
    args = ("--method", "extract", "--rounds", "3", "--max-tokens", "60", "--json")
    result = probe(index, url, *args, "--work", str(ids["memorized"]), "--work", str(ids["paraphrase"]))
    assert result.exit_code == 0, result.output
    got = by_work(result.stdout)
    assert got[ids["memorized"]]["nv_recall"] == 0.3
    assert got[ids["memorized"]]["requests"] == 3
    assert got[ids["memorized"]]["longest_verbatim_words"] == ANSWER_WORDS  # each response is compared alone
    assert got[ids["paraphrase"]]["requests"] == 1
    assert got[ids["paraphrase"]]["nv_recall"] == 0.0
    # The third round carries the whole conversation.
    conversations = [json.loads(p) for p in model.answered() if len(json.loads(p)) == 6]
    assert conversations
    assert [m["role"] for m in conversations[0]] == ["system", "user", "assistant", "user", "assistant", "user"]


def test_plain_completions_for_base_models(works_index, scripted):
    index, ids, _texts = works_index
    model, url = scripted
    result = probe(index, url, "--mode", "completion", "--points", "1", "--work", str(ids["memorized"]), "--json")
    assert result.exit_code == 0, result.output
    row = by_work(result.stdout)[ids["memorized"]]
    assert (row["nv_recall"], row["points_matched"], row["requests"]) == (0.2, 2, 2)
    assert {e["path"] for e in model.log} == {"/v1/completions"}


def test_rerun_resumes_the_same_run_and_asks_nothing_again(works_index, scripted):
    index, ids, _texts = works_index
    model, url = scripted
    first = probe(index, url, "--points", "1", "--work", str(ids["memorized"]), "--json")
    again = probe(index, url, "--points", "1", "--work", str(ids["memorized"]), "--json")
    assert first.exit_code == again.exit_code == 0
    assert by_work(first.stdout) == by_work(again.stdout)
    assert len(model.answered()) == 2
    assert "0 requests asked, 2 answered before" in again.stderr
    other = probe(index, url, "--points", "1", "--work", str(ids["memorized"]), "--max-tokens", "99", "--json")
    assert other.exit_code == 0
    assert {r["probe_id"] for r in by_work(other.stdout).values()} != {
        r["probe_id"] for r in by_work(first.stdout).values()
    }
    assert len(model.answered()) == 4  # other parameters: another probe, asked anew


def test_max_requests_stops_cleanly_and_the_rerun_goes_on(works_index, scripted):
    index, ids, _texts = works_index
    model, url = scripted
    one = str(ids["memorized"])
    stopped = probe(index, url, "--points", "3", "--work", one, "--max-requests", "2", "--json")
    assert stopped.exit_code == 0, stopped.output
    row = by_work(stopped.stdout)[ids["memorized"]]
    assert (row["status"], row["requests"], row["nv_recall"]) == ("stopped", 2, 0.2)
    assert "--max-requests 2 reached" in stopped.stderr
    done = probe(index, url, "--points", "3", "--work", one, "--json")
    assert by_work(done.stdout)[ids["memorized"]]["nv_recall"] == 0.4
    assert len(model.answered()) == 4
    assert len(set(model.answered())) == 4


def test_a_token_budget_stops_before_the_request_that_would_start_past_it(works_index, scripted):
    index, ids, _texts = works_index
    model, url = scripted
    model.sent_429 = True
    per_request = len(SYSTEM.split()) + len(INSTRUCTION.split()) + 50 + ANSWER_WORDS
    budget = str(per_request + 1)  # the second request starts under the budget, the third would not
    result = probe(index, url, "--points", "3", "--work", str(ids["memorized"]), "--token-budget", budget, "--json")
    assert result.exit_code == 0, result.output
    row = by_work(result.stdout)[ids["memorized"]]
    assert (row["status"], row["requests"], row["prompt_tokens"] + row["completion_tokens"]) == (
        "stopped",
        2,
        2 * per_request,
    )
    assert f"token budget {budget} reached ({2 * per_request} used)" in result.stderr


def test_a_probe_killed_halfway_resumes_and_asks_nothing_twice(works_index, tmp_path):
    index, ids, texts = works_index
    model = Scripted(texts, hang_after=5)
    model.sent_429 = True  # Retry-After is tested above; here every answer is a 200 or the hang
    server, url = serve(model)
    try:
        cmd = [sys.executable, "-m", "provenance", "probe", "--base-url", url, "--model", "scripted"]
        cmd += ["--index", str(index), "--points", "3", "--jobs", "1", "--backoff", "0.01", "--retries", "0"]
        for name in ("memorized", "near", "refuse"):
            cmd += ["--work", str(ids[name])]
        log = tmp_path / "killed.log"
        with log.open("wb") as sink, subprocess.Popen(cmd, stdout=sink, stderr=sink, cwd=tmp_path) as proc:
            assert model.hanging.wait(120), log.read_text()
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        model.release.set()
        answered_before = len(model.answered())
        assert answered_before == 5
        with IndexStore.open(index, read_only=True) as store:  # the killed run: interrupted, its answers kept
            killed = load_run(store)
            kept = store.con.execute("SELECT count(*) FROM probe_requests WHERE status = 'ok'").fetchone()
        assert (killed.kind, killed.state, kept) == ("probe", "interrupted", (5,))
        model.hang_after = None
        result = subprocess.run(
            [*cmd, "--json"], capture_output=True, text=True, cwd=tmp_path, check=False, timeout=300
        )
        assert result.returncode == 0, result.stderr
    finally:
        model.release.set()
        server.shutdown()
        server.server_close()
    answered = model.answered()
    assert len(answered) == 12
    assert len(set(answered)) == 12  # nothing answered twice
    rows = by_work(result.stdout)
    assert rows[ids["memorized"]]["nv_recall"] == 0.4
    assert len({r["probe_id"] for r in rows.values()}) == 1
    with IndexStore.open(index, read_only=True) as store:
        run = load_run(store, next(iter(rows.values()))["probe_id"])
    assert (run.state, run.invocations) == ("finished", 2)
    assert "7 requests asked, 5 answered before" in result.stderr


# -- keys, faults, dry runs ----------------------------------------------------------------------


def test_the_api_key_is_sent_but_never_written(works_index, tmp_path):
    index, ids, texts = works_index
    model = Scripted(texts, key=SECRET)
    model.sent_429 = True
    server, url = serve(model)
    try:
        ok = probe(index, url, "--points", "1", "--work", str(ids["memorized"]), env={"OPENAI_API_KEY": SECRET})
        wrong = probe(index, url, "--points", "1", "--api-key-env", "PROBE_KEY", env={"PROBE_KEY": SECRET + "x"})
    finally:
        server.shutdown()
        server.server_close()
    assert ok.exit_code == 0, ok.output
    assert wrong.exit_code == 3
    assert "401 unauthorized" in wrong.stderr
    outputs = [ok.stdout, ok.stderr, wrong.stdout, wrong.stderr]
    for fmt in ("html", "md", "json", "csv", "manifest"):
        report = runner.invoke(app, ["report", "--index", str(index), "--format", fmt])
        assert report.exit_code == 0, report.output
        outputs.append(report.stdout)
    exported = runner.invoke(app, ["export", str(tmp_path / "tables"), "--index", str(index)])
    assert exported.exit_code == 0, exported.output
    for text in outputs:
        assert SECRET not in text
    for path in [*tmp_path.rglob("*")]:
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


def test_the_endpoint_is_recorded_without_user_info_or_query():
    assert endpoint_label(f"https://me:{SECRET}@api.example.com:8443/v1/?key={SECRET}") == (
        "https://api.example.com:8443/v1"
    )


def test_unreachable_endpoint_fails_every_work_with_the_reason(works_index):
    index, ids, _texts = works_index
    result = probe(index, "http://127.0.0.1:9/v1", "--work", str(ids["memorized"]), "--retries", "0", "--json")
    assert result.exit_code == 3
    row = by_work(result.stdout)[ids["memorized"]]
    assert row["status"] == "failed"
    assert row["error"].startswith("127.0.0.1: unreachable")


@pytest.mark.parametrize(
    ("model", "reason"),
    [
        (
            "unknown",
            (
                "127.0.0.1: 404 not found (unknown model, or not an OpenAI-compatible /v1 URL): "
                "The model `unknown` does not exist"
            ),
        ),
        ("empty", "127.0.0.1: empty response"),
        ("malformed", "127.0.0.1: malformed response (no choice with text)"),
        ("slow", "127.0.0.1: timed out (1 attempts)"),
    ],
)
def test_faults_fail_the_work_with_the_reason(works_index, scripted, model, reason):
    index, ids, _texts = works_index
    server, url = scripted
    server.sent_429 = True
    one = ("--work", str(ids["memorized"]), "--work", str(ids["near"]))
    result = probe(index, url, *one, "--retries", "0", "--timeout", "0.5", "--json", model=model)
    assert result.exit_code == 3, result.output
    rows = by_work(result.stdout)
    assert [(r["status"], r["error"], r["requests"]) for r in rows.values()] == [("failed", reason, 0)] * 2
    assert f"failed work {ids['memorized']} (" in result.stderr


def test_dry_run_lists_prompts_and_asks_nothing(works_index, scripted):
    index, ids, _texts = works_index
    model, url = scripted
    result = probe(index, url, "--dry-run", "--points", "2", "--work", str(ids["memorized"]), "--json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["point"] for r in rows] == [0, 1, 2]
    assert rows[0]["prompt"][0] == {"role": "system", "content": SYSTEM}
    assert "nothing was asked" in result.stderr
    assert model.log == []


def test_no_work_and_too_short_works_say_so(works_index, scripted):
    index, ids, _texts = works_index
    _model, url = scripted
    none = probe(index, url, "--creator", "nobody")
    assert none.exit_code == 2
    assert "no work in the selection" in none.stderr
    planned = probe(index, url, "--prefix-words", "400", "--dry-run")
    assert planned.exit_code == 3
    assert planned.stderr.count("would fail work ") == len(ids)
    assert "too short to probe: 400 words" in planned.stderr
    short = probe(index, url, "--prefix-words", "400", "--work", str(ids["memorized"]), "--json")
    assert short.exit_code == 3
    row = by_work(short.stdout)[ids["memorized"]]
    assert (row["status"], row["requests"]) == ("failed", 0)
    assert row["error"].startswith("too short to probe: 400 words, the prefix alone needs 400")


def test_verify_rechecks_the_probed_works_and_the_stored_responses(works_index, scripted, tmp_path):
    index, ids, _texts = works_index
    _model, url = scripted
    assert probe(index, url, "--points", "1", "--work", str(ids["memorized"])).exit_code == 0
    manifest = tmp_path / "probe.json"
    assert runner.invoke(app, ["report", "--index", str(index), "-f", "manifest", "-o", str(manifest)]).exit_code == 0
    ok = runner.invoke(app, ["verify", str(manifest), "--index", str(index)])
    assert ok.exit_code == 0, ok.output
    assert "1 probed work unchanged" in ok.stdout
    assert "2 matches: both excerpts cut again" in ok.stdout
    assert "2 probe responses unchanged" in ok.stdout
    with IndexStore.open(index) as store:
        store.con.execute("UPDATE probe_requests SET response = 'edited ' || response WHERE point = 0")
    changed = runner.invoke(app, ["verify", str(manifest), "--index", str(index)])
    assert changed.exit_code == 5
    assert "match 1: the scanned text" in changed.stdout
    assert f"probe responses changed or missing in the index: probe:{ids['memorized']}:0:1" in changed.stdout


# -- reports ---------------------------------------------------------------------------------------


def test_the_report_shows_recall_and_the_three_texts_side_by_side(works_index, scripted):
    index, ids, texts = works_index
    _model, url = scripted
    result = probe(index, url, "--points", "1", "--work", str(ids["near"]), "--work", str(ids["refuse"]))
    assert result.exit_code == 0, result.output
    with IndexStore.open(index, read_only=True) as store:
        run = load_run(store)
        html = render(run, "html", probe=load_probe(store, run))
        md = render(run, "md", probe=load_probe(store, run))
    # Two points each: the near copy covers 2 x 39 of 400 words; the refusal nothing.
    assert '<td class="num">0.195</td>' in html
    assert '<td class="num">0.000</td>' in html
    assert html.count('class="probe-point"') == 4
    near = re.findall(r'<section class="probe-point">.*?</section>', html, flags=re.DOTALL)[0]
    assert near.count('<mark class="copied">') == 2 * 4  # four copied stretches, each on both sides
    assert "qq9" in near
    assert REFUSAL.replace("'", "&#x27;") in html
    assert "| nv_recall |" in md.replace(" nv_recall ", " nv_recall ")
    assert f"**{' '.join(texts['near'][50:59])}**" in md
    assert "## The responses audited against the index" in md


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on PATH (Debian: apt-get install -y chromium)")
def test_the_probe_report_renders_in_chromium(works_index, scripted, tmp_path):
    index, ids, _texts = works_index
    _model, url = scripted
    assert probe(index, url, "--points", "1", "--work", str(ids["memorized"])).exit_code == 0
    page = tmp_path / "probe.html"
    assert runner.invoke(app, ["report", "--index", str(index), "-o", str(page)]).exit_code == 0
    profile = tmp_path / "profile"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
    done = subprocess.run(
        [CHROMIUM, *flags, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert "<script" not in dom
    assert 'class="probe-point"' in dom
    assert dom.count('<mark class="copied">') >= 4
