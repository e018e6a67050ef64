"""The Spark engine on a real standalone cluster finds what the local engine finds.

The test starts a master and two one-core workers on 127.0.0.1 with the pyspark wheel's own
``bin/spark-class``, then runs ``provenance audit DATASET`` in subprocesses: once with the local engine,
once with ``--engine spark --spark-master spark://...``. Unlike local mode, the index export, the
executors' Python workers and the results all cross process boundaries here.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors import sha256_hex
from indexes import IndexStore, NewWork

if shutil.which("java") is None:
    pytest.skip(
        "no Java runtime on PATH: Spark needs Java 17+ (apt-get install default-jre-headless)", allow_module_level=True
    )
pyspark = pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'provenance-audit[spark]')")

pytestmark = pytest.mark.slow

LOOPBACK = "127.0.0.1"
SPARK_HOME = Path(pyspark.__file__).parent  # the wheel's jars: the cluster runs the driver's Spark
SPARK_CLASS = SPARK_HOME / "bin" / "spark-class"
WORKERS = 2
STARTUP_SECONDS = 90
SCAN_SECONDS = 600

SYLLABLES = ["ka", "lo", "mi", "ren", "tu", "sa", "ve", "dor", "pi", "na", "qua", "el", "bri", "sto", "fen", "ju"]


# -- the cluster ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    """A running standalone cluster: its master URL, the master's web UI, the workers' work dirs."""

    url: str
    ui: str
    env: dict[str, str]  # what the driver needs too: loopback only, this Python on the executors
    work_dirs: list[Path]
    logs: list[Path]

    def state(self) -> dict:
        with urllib.request.urlopen(f"{self.ui}/json/", timeout=5) as response:
            return json.loads(response.read())

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(
            f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) for log in self.logs
        )


def cluster_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_"))}
    env |= {
        "SPARK_HOME": str(SPARK_HOME),
        "SPARK_LOCAL_IP": LOOPBACK,  # every daemon, executor and the driver bind to loopback only
        "SPARK_LOCAL_DIRS": str(root / "local"),  # shuffle and broadcast blocks stay under tmp_path
        "PYSPARK_PYTHON": sys.executable,  # the executors' Python workers run this venv (and provenance)
    }
    return env


def running_in(folder: Path) -> set[int]:
    """Processes still running (zombies aside) whose working directory is under ``folder``; none without /proc.

    The daemons, their executors and the executors' Python workers all run in the cluster's folder; the
    Python daemon of an executor is in a process group of its own, so killing the groups does not say it ended.
    """
    found: set[int] = set()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cwd = (entry / "cwd").readlink()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]  # after "PID (COMMAND)"
        except (OSError, IndexError):
            continue  # gone meanwhile, or not ours to look at
        if state != "Z" and cwd.is_relative_to(folder):
            found.add(int(entry.name))
    return found


def wait_until_gone(processes: list[subprocess.Popen], folder: Path, seconds: float) -> bool:
    """Whether ``processes`` and everything running in ``folder`` end within ``seconds``."""
    deadline = time.monotonic() + seconds
    while running_in(folder) or any(p.poll() is None for p in processes):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def stop(processes: list[subprocess.Popen], folder: Path) -> None:
    """Stop the daemons (a worker's shutdown hook stops its executors), then make sure nothing they started runs on."""
    for proc in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    if wait_until_gone(processes, folder, 30):
        return
    for proc in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    for pid in running_in(folder):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert wait_until_gone(processes, folder, 10), f"cluster processes left running: {sorted(running_in(folder))}"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A master and two workers of one core and 1 GB each, all on 127.0.0.1, stopped with everything they started."""
    root = tmp_path_factory.mktemp("cluster").resolve()
    (root / "local").mkdir()
    env = cluster_env(root)
    port, ui_port = free_port(), free_port()
    url, ui = f"spark://{LOOPBACK}:{port}", f"http://{LOOPBACK}:{ui_port}"
    commands = [
        ["org.apache.spark.deploy.master.Master", "--host", LOOPBACK, "--port", str(port), "--webui-port", str(ui_port)]
    ]
    work_dirs = [root / f"worker-{n}" for n in range(WORKERS)]
    for work_dir in work_dirs:
        work_dir.mkdir()
        worker = ["org.apache.spark.deploy.worker.Worker", "--cores", "1", "--memory", "1g", "--host", LOOPBACK]
        commands.append([*worker, "--webui-port", str(free_port()), "--work-dir", str(work_dir), url])
    processes: list[subprocess.Popen] = []
    logs: list[Path] = []
    running = Cluster(url, ui, env, work_dirs, logs)
    try:
        for n, command in enumerate(commands):
            log = root / ("master.log" if n == 0 else f"worker-{n - 1}.log")
            logs.append(log)
            with log.open("wb") as out:
                processes.append(
                    subprocess.Popen(
                        [str(SPARK_CLASS), *command],
                        env=env,
                        cwd=root,
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,  # its own process group, killed whole at the end
                    )
                )
        deadline = time.monotonic() + STARTUP_SECONDS
        alive = 0
        while alive < WORKERS:
            if time.monotonic() > deadline:
                pytest.fail(f"{alive} of {WORKERS} workers registered in {STARTUP_SECONDS} s\n{running.log_tail()}")
            if any(p.poll() is not None for p in processes):
                pytest.fail(f"a cluster process exited\n{running.log_tail()}")
            try:
                alive = int(running.state().get("aliveworkers", 0))
            except OSError:  # the master's UI is not up yet
                alive = 0
            time.sleep(0.5)
        yield running
    finally:
        stop(processes, root)


# -- the index and the dataset ----------------------------------------------------------------------


def vocabulary(rng: random.Random, size: int = 1500) -> list[str]:
    words = {"".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3))) for _ in range(size * 2)}
    return sorted(words)[:size]


def prose(rng: random.Random, vocab: list[str], n: int) -> str:
    words = [rng.choice(vocab) for _ in range(n)]
    return " ".join(w.capitalize() if i % 11 == 0 else w for i, w in enumerate(words))


def excerpt(text: str, start: int, n: int) -> str:
    return " ".join(text.split()[start : start + n])


def new_work(source: str, kind: str, title: str, text: str, **extra) -> NewWork:
    digest = sha256_hex(text.encode("utf-8"))
    return NewWork(source, kind, title, text, digest, digest, datetime(2026, 1, 1, tzinfo=timezone.utc), **extra)


@dataclass(frozen=True)
class Corpus:
    index: Path
    dataset: Path
    bad_line: str  # the failure the JSON Lines shard reports, as ``PATH:LINE``


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    """An index of three works and a dataset of three shards (JSON Lines, gzipped JSON Lines, Parquet).

    Every shard quotes the works; the plain JSON Lines shard also has a line that is not JSON.
    """
    rng = random.Random(11)
    vocab = vocabulary(rng)
    root = tmp_path_factory.mktemp("corpus")
    texts = [prose(rng, vocab, 400) for _ in range(3)]
    works = [
        new_work(str(root / "essay.txt"), "text", "Essay", texts[0]),
        new_work(
            "https://example.com/post",
            "web",
            "Post",
            texts[1],
            consent={"status": "reserved", "summary": "robots.txt disallows GPTBot"},
        ),
        new_work(
            "https://www.youtube.com/watch?v=abcdefghijk",
            "youtube",
            "Talk",
            texts[2],
            metadata={"video_id": "abcdefghijk"},
            cues=[(i, i + 200, i / 20.0, (i + 200) / 20.0) for i in range(0, len(texts[2]) + 200, 200)],
        ),
    ]
    index = root / "index.duckdb"
    with IndexStore.open(index, tool_version="test") as store:
        for work in works:
            store.add_work(work)

    def records(shard: int) -> list[str]:
        planted = [
            prose(rng, vocab, 30) + " " + excerpt(text, 40 + 90 * shard + 10 * w, 70) + " " + prose(rng, vocab, 20)
            for w, text in enumerate(texts)
        ]
        return planted + [prose(rng, vocab, rng.randint(40, 200)) for _ in range(4)]  # and unrelated ones

    dataset = root / "dataset"
    dataset.mkdir()
    lines = [json.dumps({"id": f"a{i}", "text": t}) + "\n" for i, t in enumerate(records(0))]
    lines.insert(3, '{"id": "a-bad", "text": "never closed\n')
    (dataset / "a.jsonl").write_text("".join(lines), encoding="utf-8")
    gz = "".join(json.dumps({"id": f"b{i}", "text": t}) + "\n" for i, t in enumerate(records(1)))
    (dataset / "b.jsonl.gz").write_bytes(gzip.compress(gz.encode("utf-8")))
    part = records(2)
    table = pa.table({"id": [f"c{i}" for i in range(len(part))], "text": part})
    pq.write_table(table, dataset / "c.parquet", row_group_size=3)
    return Corpus(index, dataset, f"{dataset / 'a.jsonl'}:4")


# -- the scans --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str
    index: Path
    seconds: float

    @property
    def matches(self) -> list[dict]:
        found = [json.loads(line) for line in self.stdout.splitlines() if line.strip()]
        return sorted(found, key=lambda m: (m["scanned"], m["scanned_span"], m["work_id"]))

    @property
    def failed(self) -> list[str]:
        """The failures told on stderr (``failed LOCATION: REASON``)."""
        return sorted(line for line in self.stderr.splitlines() if line.startswith("failed "))

    @property
    def summary(self) -> str:
        """The summary line without what differs between any two runs: the scan's id and time."""
        line = self.stderr.strip().splitlines()[-1]
        return re.sub(r" in [\d.]+ s,", ",", line.split(": ", 1)[1])

    def stored_failures(self) -> list[tuple[str, str]]:
        with IndexStore.open(self.index, read_only=True) as store:
            return sorted(store.con.execute("SELECT location, reason FROM scan_failures").fetchall())


def audit(corpus: Corpus, folder: Path, env: dict[str, str], *args: str) -> Run:
    """``provenance audit DATASET --dataset --id-field id --json`` in a subprocess, on its own copy of the index."""
    folder.mkdir()
    index = folder / "index.duckdb"
    shutil.copyfile(corpus.index, index)
    command = [sys.executable, "-m", "provenance", "audit", str(corpus.dataset), "--dataset", "--id-field", "id"]
    command += ["--index", str(index), "--json", *args]
    started = time.monotonic()
    proc = subprocess.Popen(
        command,
        env=env,
        cwd=folder,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # the driver's JVM is in its group: killed with it if the run hangs
    )
    try:
        stdout, stderr = proc.communicate(timeout=SCAN_SECONDS)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert wait_until_gone([proc], folder, 10), f"left running after the scan: {sorted(running_in(folder))}"
    return Run(proc.returncode, stdout, stderr, index, time.monotonic() - started)


# Match fields that may differ between two scans of the same data. None do today: a match carries no
# scan id, time or engine. A field added to the match record that is run-specific belongs here.
VARIES: frozenset[str] = frozenset()


def differences(found: list[dict], expected: list[dict]) -> list[str]:
    """What differs between two runs' matches (sorted alike), field by field, whatever fields they have."""
    told = [f"{len(found)} matches, expected {len(expected)}"] if len(found) != len(expected) else []
    for got, want in zip(found, expected, strict=False):
        where = f"{want['scanned']} {want['scanned_span']} work {want['work_id']}"
        fields = sorted((set(got) | set(want)) - VARIES)
        told.extend(
            f"{where}: {field} {got.get(field, '<absent>')!r} != {want.get(field, '<absent>')!r}"
            for field in fields
            if got.get(field, "<absent>") != want.get(field, "<absent>")
        )
    return told


def test_a_scan_on_a_standalone_cluster_finds_what_the_local_engine_finds(cluster, corpus, tmp_path):
    local = audit(corpus, tmp_path / "local", cluster.env, "--workers", "1")
    args = ["--engine", "spark", "--spark-master", cluster.url, "--spark-out", str(tmp_path / "spark" / "out")]
    spark = audit(corpus, tmp_path / "spark", cluster.env, *args)
    print(f"local engine {local.seconds:.1f} s, Spark on the cluster {spark.seconds:.1f} s")  # noqa: T201 - with -s
    assert local.code == 3, local.stderr  # a bad record: reported, the rest audited
    assert spark.code == 3, f"{spark.stderr}\n{cluster.log_tail()}"
    found, expected = spark.matches, local.matches
    assert len(expected) >= 9  # each shard quotes each of the three works
    names = {m["scanned"].split("#")[0] for m in expected}
    assert names == {str(corpus.dataset / n) for n in ("a.jsonl", "b.jsonl.gz", "c.parquet")}
    assert differences(found, expected) == []
    assert any(m.get("consent_status") == "reserved" for m in found)
    assert any(m.get("work_time") for m in found)
    # the bad line: told, counted and stored alike
    assert spark.failed == local.failed
    assert any(line.startswith(f"failed {corpus.bad_line}: invalid JSON") for line in spark.failed), spark.failed
    assert spark.summary == local.summary
    assert spark.stored_failures() == local.stored_failures() != []
    # it ran on the cluster: one application, finished, with an executor on each worker that ran tasks
    state = cluster.state()
    assert state["activeapps"] == []
    (app,) = state["completedapps"]
    assert (app["name"], app["state"]) == ("provenance-scan", "FINISHED")
    logs = [log for work_dir in cluster.work_dirs for log in work_dir.glob(f"{app['id']}/*/stderr")]
    assert len(logs) == WORKERS, logs
    for log in logs:
        assert "Finished task" in log.read_text(errors="replace"), log
