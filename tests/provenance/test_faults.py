"""Faults: SIGKILL in the middle of adding works, a catalog and a dataset scan; Ctrl-C; a second writer."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from localhttp import Gauge, Route, serve

from indexes import IndexInUseError, IndexStore
from provenance.datasets import DatasetOptions
from provenance.ingest import add_sources
from provenance.scan import scan_dataset

ROOT = Path(__file__).resolve().parents[2]
SLOW_S = 60.0
OUTPUTS = ROOT / "examples" / "outputs"

# Prepended to a child's script: after the statement containing MARKER has run AFTER times, the child says
# "inside" and waits to be killed, in the middle of that transaction.
PAUSE_INSIDE = """
import sys, time
import duckdb
MARKER, AFTER = sys.argv[-2], int(sys.argv[-1])
_connect = duckdb.connect
class _PausingConnection:
    def __init__(self, con):
        self._con, self._seen = con, 0
    def __getattr__(self, name):
        return getattr(self._con, name)
    def execute(self, sql, *args):
        result = self._con.execute(sql, *args)
        if MARKER and MARKER in sql:
            self._seen += 1
            if self._seen == AFTER:
                print("inside", flush=True)
                time.sleep(120)
        return result
def _pausing_connect(*args, **kwargs):
    con = _connect(*args, **kwargs)
    return con if kwargs.get("read_only") else _PausingConnection(con)
duckdb.connect = _pausing_connect
"""

ADD = """
from indexes import IndexStore
from provenance.ingest import add_sources
with IndexStore.open(sys.argv[1]) as store:
    add_sources(store, [sys.argv[2]], on_event=lambda e: print(e.outcome, e.source, flush=True))
print("finished", flush=True)
"""

CATALOG = """
from indexes import IndexStore
from provenance.ingest import add_catalog
if __name__ == "__main__":  # fingerprint workers start with "spawn", which imports this file again
    with IndexStore.open(sys.argv[1]) as store:
        summary = add_catalog(
            store, sys.argv[2], on_event=lambda e: print(e.outcome, e.source, flush=True), jobs=4, workers=2,
            pool=sys.argv[3],
        )
    print("finished", summary.counts["failed"], flush=True)
"""

SCAN = """
from provenance.datasets import DatasetOptions
from provenance.scan import ScanOptions, scan_dataset
if __name__ == "__main__":
    summary = scan_dataset(
        sys.argv[1],
        [sys.argv[2]],
        dataset=DatasetOptions(id_field="id"),
        options=ScanOptions(workers=int(sys.argv[3])),
        on_shard=lambda r, skipped: print("skipped" if skipped else r.status, r.shard.path, flush=True),
    )
    print("finished", summary.skipped, summary.done, flush=True)
"""


def script(tmp_path, name, body):
    path = tmp_path / name
    path.write_text(PAUSE_INSIDE + textwrap.dedent(body))
    return path


def run_until(args, *, lines: int, word: str, delay: float) -> int:
    """Start ``args``, wait for ``lines`` lines starting with ``word``, then SIGKILL it (and its workers)."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, start_new_session=True)
    seen = 0
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            seen += line.startswith(word)
            assert not line.startswith("finished"), "the run ended before it could be killed"
            if seen >= lines:
                break
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.stdout.close()
        proc.wait(timeout=60)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # workers of a pool, should any outlive their parent
    assert proc.returncode == -signal.SIGKILL
    return seen


def run_to_end(args) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def assert_index_consistent(path) -> int:
    """No partial works and no orphans; returns the number of works."""
    with IndexStore.open(path, read_only=True) as store:
        con = store.con

        def one(sql):
            return con.execute(sql).fetchall()[0][0]

        partial = one(
            "SELECT count(*) FROM works w "
            "WHERE n_passages != (SELECT count(*) FROM passages p WHERE p.work_id = w.work_id) "
            "OR NOT EXISTS (SELECT 1 FROM anchors a WHERE a.work_id = w.work_id)"
        )
        assert partial == 0
        assert one("SELECT count(*) FROM bands") == one("SELECT count(*) FROM passages") * store.params.bands
        for table in ("passages", "anchors", "cues", "consent"):
            assert one(f"SELECT count(*) FROM {table} WHERE work_id NOT IN (SELECT work_id FROM works)") == 0
        assert one("SELECT count(*) FROM bands WHERE passage_id NOT IN (SELECT passage_id FROM passages)") == 0
        assert one("SELECT count(*) - count(DISTINCT passage_id) FROM passages") == 0
        assert one("SELECT count(*) - count(DISTINCT source) FROM works") == 0
        return int(one("SELECT count(*) FROM works"))


def test_sigkill_while_adding_many_works_leaves_whole_works_and_a_rerun_completes(tmp_path):
    folder = works_folder(tmp_path, n=150)
    index = tmp_path / "index.duckdb"
    add = script(tmp_path, "add.py", ADD)
    command = [sys.executable, str(add), str(index), str(folder)]
    # Killed inside the transaction of the second batch (its works' rows written, their passages not
    # yet): works are written a batch (at most 64) per transaction, so none of that batch is kept.
    added = run_until([*command, "INSERT INTO works", "2"], lines=1, word="inside", delay=0.0)
    assert added == 1
    kept = assert_index_consistent(index)
    assert 0 < kept <= 64
    out = run_to_end([*command, "", "0"])
    assert out.count("unchanged") == kept  # what was committed before the kill is kept, not redone
    assert out.count("added") == 150 - kept
    assert out.rstrip().endswith("finished")
    assert assert_index_consistent(index) == 150


def works_folder(tmp_path, n=40):
    folder = tmp_path / "works"
    folder.mkdir()
    rng = np.random.default_rng(7)
    for i in range(n):
        words = rng.integers(0, 20000, size=1000)
        (folder / f"work-{i:03d}.txt").write_text(" ".join(f"w{w}" for w in words))
    return folder


@pytest.mark.parametrize("pool", ["threads", "processes"])
def test_sigkill_during_a_catalog_run_with_jobs_leaves_whole_works_and_a_rerun_completes(tmp_path, pool):
    folder = works_folder(tmp_path, n=150)
    catalog = tmp_path / "catalog.csv"
    rows = [f"{p},Writer,Press,CC-BY-4.0,ID-{p.stem}" for p in sorted(folder.glob("*.txt"))]
    catalog.write_text("source,creator,rights_holder,licence,org_id\n" + "\n".join(rows) + "\n")
    index = tmp_path / "index.duckdb"
    command = [sys.executable, str(script(tmp_path, "catalog.py", CATALOG)), str(index), str(catalog), pool]
    # Killed inside the transaction of the second batch of works, with rows fetched and fingerprinted
    # around it: works ready together are written in one transaction, so none of that batch is kept.
    assert run_until([*command, "INSERT INTO works", "2"], lines=1, word="inside", delay=0.0) == 1
    kept = assert_index_consistent(index)
    assert 0 < kept < 150
    out = run_to_end([*command, "", "0"])
    assert out.count("unchanged") == kept  # what was committed before the kill is kept, not redone
    assert out.count("added") == 150 - kept
    assert out.rstrip().endswith("finished 0")
    assert assert_index_consistent(index) == 150
    with IndexStore.open(index, read_only=True) as store:
        assert {w.creator for w in store.works()} == {"Writer"}


def test_ctrl_c_during_a_catalog_run_stops_at_once_though_servers_are_slow(tmp_path):
    folder = works_folder(tmp_path, n=3)
    shared = Gauge()
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(serve(gauge=shared)) for _ in range(3)]
        rows = [f"{p},Writer,Press,CC-BY-4.0,F-{p.stem}" for p in sorted(folder.glob("*.txt"))]
        for i in range(9):
            server = servers[i % 3]
            server.routes[f"/slow{i}.html"] = Route(body=b"<p>late</p>", delay=SLOW_S)
            rows.append(f"{server.base}/slow{i}.html,Writer,Press,CC-BY-4.0,S-{i}")
        catalog = tmp_path / "catalog.csv"
        catalog.write_text("source,creator,rights_holder,licence,org_id\n" + "\n".join(rows) + "\n")
        index = tmp_path / "index.duckdb"
        args = ["add", "--catalog", str(catalog), "--index", str(index), "--allow-private", "--jobs", "4"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "provenance", *args], stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        try:
            waited = 0
            while shared.now < len(servers) and proc.poll() is None and waited < 600:
                time.sleep(0.1)  # until a slow page is being asked for on every host
                waited += 1
            assert shared.now == len(servers), "the run never reached the slow pages"
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=SLOW_S / 2)  # well before any slow page could have come back
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, stderr
    assert "interrupted; everything committed before this point is kept" in stderr
    assert assert_index_consistent(index) == 3


def test_a_catalog_run_while_another_process_writes_is_told_the_index_is_in_use(tmp_path, invoke):
    folder = works_folder(tmp_path, n=2)
    catalog = tmp_path / "catalog.csv"
    rows = [f"{p},Writer,Press,CC-BY-4.0,F-{p.stem}" for p in sorted(folder.glob("*.txt"))]
    catalog.write_text("source,creator,rights_holder,licence,org_id\n" + "\n".join(rows) + "\n")
    index = tmp_path / "index.duckdb"
    assert invoke("add", "--catalog", str(catalog), "--index", str(index)).exit_code == 0
    with holding(index):
        result = invoke("add", "--catalog", str(catalog), "--index", str(index))
    assert result.exit_code == 4
    assert "in use by another process" in result.stderr
    assert assert_index_consistent(index) == 2


@contextlib.contextmanager
def holding(index):
    """Another process with the index open for writing, until the block ends."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(index)!r}); print('ready', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        yield
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


def dataset(folder: Path, shards: int) -> None:
    records = [{"id": p.stem, "text": p.read_text(encoding="utf-8")} for p in sorted(OUTPUTS.glob("*.txt"))]
    records += [json.loads(line) for line in (OUTPUTS / "batch.jsonl").read_text(encoding="utf-8").splitlines()]
    folder.mkdir()
    for n in range(shards):
        with (folder / f"part-{n:03d}.jsonl").open("w", encoding="utf-8") as out:
            for copy in range(6):
                for r in records:
                    out.write(json.dumps({"id": f"{r['id']}-{copy}", "text": r["text"]}) + "\n")


def stored(index) -> list[tuple]:
    with IndexStore.open(index, read_only=True) as store:
        return store.con.execute(
            "SELECT shard, record_id, scanned, work_id, scanned_start, scanned_end, work_start, work_end "
            "FROM matches ORDER BY ALL"
        ).fetchall()


@pytest.fixture(scope="module")
def example_index(tmp_path_factory):
    path = tmp_path_factory.mktemp("index") / "index.duckdb"
    with IndexStore.open(path) as store:
        add_sources(store, [str(ROOT / "examples" / "works")])
    return path


@pytest.mark.parametrize(
    ("workers", "kill"),
    [(1, "inside"), (1, "done"), (2, "done")],
    ids=["inside-a-shard-transaction", "one-process", "two-workers"],
)
def test_sigkill_during_a_dataset_scan_and_the_rerun_completes_without_duplicates(
    tmp_path, example_index, workers, kill
):
    data = tmp_path / "data"
    dataset(data, shards=10)
    reference = tmp_path / "reference.duckdb"
    shutil.copy(example_index, reference)
    scan_dataset(reference, [str(data)], dataset=DatasetOptions(id_field="id"))
    expected = stored(reference)
    index = tmp_path / "index.duckdb"
    shutil.copy(example_index, index)
    scan = script(tmp_path, "scan.py", SCAN)
    command = [sys.executable, str(scan), str(index), str(data), str(workers)]
    if kill == "inside":  # the fourth shard's matches and status written, not committed
        run_until([*command, "INSERT INTO scan_shards", "4"], lines=1, word="inside", delay=0.0)
    else:
        run_until([*command, "", "0"], lines=3, word="done", delay=0.01)
    spool = tmp_path / "index.duckdb.scans"
    if workers > 1:
        assert len(list(spool.rglob("*.json"))) >= 3  # finished shards wait in the spool for the index
    with IndexStore.open(index, read_only=True) as store:
        shards = store.con.execute("SELECT shard, status, matches FROM scan_shards").fetchall()
    for shard, status, matches in shards:
        assert status == "done"
        assert sum(1 for row in stored(index) if row[0] == shard) == matches  # never half a shard
    if kill == "inside":
        assert len(shards) == 3
    elif workers == 1:
        assert len(shards) >= 3
    rows = stored(index)
    assert len(rows) == len(set(rows))
    out = run_to_end([*command, "", "0"]).splitlines()
    skipped, done = map(int, out[-1].split()[1:])
    assert skipped >= 3
    assert skipped + done == 10
    assert stored(index) == expected  # every match once, as an uninterrupted scan finds them
    assert not spool.exists()
    assert_index_consistent(index)
    with IndexStore.open(index, read_only=True) as store:  # one run, resumed once, finished, with every match
        runs = store.con.execute("SELECT kind, state, invocations, matches FROM research.audits").fetchall()
    assert runs == [("dataset", "finished", 2, len(expected))]


def test_a_scan_while_another_process_writes_is_told_the_index_is_in_use(tmp_path, example_index):
    index = tmp_path / "index.duckdb"
    shutil.copy(example_index, index)
    dataset(tmp_path / "data", shards=1)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(index)!r}); print('ready', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(IndexInUseError, match="in use"):
            scan_dataset(index, [str(tmp_path / "data")])
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert not (tmp_path / "index.duckdb.scans").exists()
