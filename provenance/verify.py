"""Verify a manifest: recompute what can be recomputed from the files and the index, and say what changed.

Checked, in order: the manifest's own digest (an edited manifest); the run recorded in the index under
the same id (a manifest whose digest was recomputed after editing); the index's fingerprint
parameters; the index as a whole (works added, replaced or removed since the audit); every matched
work (removed, changed, or its stored text altered); every input file and JSON Lines record (SHA-256
of the bytes now); and every match's two excerpts, cut again from the inputs and the works at the
recorded spans. Inputs read from stdin or URLs cannot be read again and are named as not rechecked.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors import sha256_hex
from indexes.store import first_row
from provenance.datasets import DatasetOptions, ReadProgress, Shard, find_shards, read_shard
from provenance.inputs import InputOptions, ScanItem, read_inputs
from provenance.manifest import digest_of, load_manifest
from provenance.runs import open_index, pending_dir

if TYPE_CHECKING:
    from indexes import IndexStore

_SHOWN = 5
_SHORT = 60


@dataclass
class Verification:
    """The outcome: ``problems`` (each a change found) make it fail; ``notes`` say what was not rechecked."""

    manifest: str
    audit_id: str
    index: str
    confirmed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing changed."""
        return not self.problems


def verify_manifest(path: str | Path, index_path: str | Path | None = None) -> Verification:
    """Check the manifest at ``path`` against the files it names and the index (its recorded one by default)."""
    manifest = load_manifest(path)
    index = str(index_path) if index_path is not None else str(manifest["index"].get("path", ""))
    result = Verification(manifest=str(path), audit_id=str(manifest["audit_id"]), index=index)
    recorded, computed = manifest["digest"], digest_of(manifest)
    if recorded == computed:
        result.confirmed.append(f"manifest digest {recorded}")
    else:
        result.problems.append(
            f"manifest: digest mismatch, the file was changed after it was written (it says {recorded}, "
            f"its content gives {computed})"
        )
    with open_index(index, read_only=True) as store:
        _check_recorded_run(store, manifest, result)
        _check_parameters(store, manifest, result)
        _check_index(store, manifest, result)
        work_texts = _check_works(store, manifest, result)
        probed = _check_probe(store, manifest, result)
    scanned_texts = {**_check_inputs(manifest, result), **probed}
    _check_excerpts(manifest, scanned_texts, work_texts, result)
    return result


def _check_recorded_run(store: IndexStore, manifest: dict[str, Any], result: Verification) -> None:
    row = first_row(store.con.execute("SELECT manifest FROM audits WHERE audit_id = ?", [manifest["audit_id"]]))
    stored: dict[str, Any] | None = None
    if row is not None:
        stored = json.loads(row[0])
    else:
        pending = pending_dir(store.path) / f"{manifest['audit_id']}.json"
        if pending.is_file():
            stored = json.loads(pending.read_text(encoding="utf-8")).get("manifest")
    if stored is None:
        result.notes.append(
            f"audit {manifest['audit_id']} is not recorded in {store.path}: checked against the files and works only"
        )
        return
    differences = list(_differences(_body(manifest), _body(stored), ""))
    if not differences and manifest.get("digest") == stored.get("digest"):
        result.confirmed.append(f"same as the run recorded in {store.path}")
        return
    if not differences:
        differences = [f"digest is {manifest.get('digest')} in the file, {stored.get('digest')} in the index"]
    shown = "; ".join(differences[:_SHOWN]) + (
        f"; and {len(differences) - _SHOWN} more" if len(differences) > _SHOWN else ""
    )
    result.problems.append(f"manifest: differs from the run recorded in the index: {shown}")


def _body(manifest: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in manifest.items() if k != "digest"}


def _differences(mine: Any, theirs: Any, where: str) -> Any:  # noqa: ANN401 - walks any JSON value
    """``where: file X, index Y`` for every leaf where two JSON values differ."""
    if isinstance(mine, dict) and isinstance(theirs, dict):
        for key in sorted(set(mine) | set(theirs)):
            yield from _differences(mine.get(key), theirs.get(key), f"{where}.{key}" if where else key)
    elif isinstance(mine, list) and isinstance(theirs, list) and len(mine) == len(theirs):
        for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            yield from _differences(a, b, f"{where}[{i}]")
    elif mine != theirs:
        yield f"{where} is {_short(mine)} in the file, {_short(theirs)} in the index"


def _short(value: Any) -> str:  # noqa: ANN401 - any JSON value
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _SHORT else text[: _SHORT - 3] + "..."


def _check_parameters(store: IndexStore, manifest: dict[str, Any], result: Verification) -> None:
    then = manifest["parameters"].get("index", {})
    now = asdict(store.params)
    differ = [
        f"{k} {then.get(k)!r} then, {now.get(k)!r} now"
        for k in sorted(set(then) | set(now))
        if then.get(k) != now.get(k)
    ]
    if differ:
        result.problems.append(f"parameters: the index's fingerprint parameters differ: {'; '.join(differ)}")
    else:
        result.confirmed.append("fingerprint parameters unchanged")


def _check_index(store: IndexStore, manifest: dict[str, Any], result: Verification) -> None:
    then = manifest["index"]
    state = store.state()
    if state.digest == then.get("digest"):
        result.confirmed.append(f"index unchanged ({state.works} works, digest {state.digest[:16]}...)")
        return
    started = datetime.fromisoformat(manifest["started_at"])
    max_id = int(then.get("max_work_id", 0))
    added = [
        r[0]
        for r in store.con.execute("SELECT source FROM works WHERE work_id > ? ORDER BY work_id", [max_id]).fetchall()
    ]
    replaced = [
        r[0]
        for r in store.con.execute(
            "SELECT source FROM works WHERE work_id <= ? AND added_at > ? ORDER BY work_id", [max_id, started]
        ).fetchall()
    ]
    kept = first_row(store.con.execute("SELECT count(*) FROM works WHERE work_id <= ?", [max_id]))
    removed = int(then.get("works", 0)) - (int(kept[0]) if kept else 0)
    parts = [
        f"{len(added)} added ({_names(added)})" if added else "",
        f"{len(replaced)} replaced ({_names(replaced)})" if replaced else "",
        f"{removed} removed" if removed > 0 else "",
    ]
    what = ", ".join(p for p in parts if p) or "work hashes changed without a recorded replacement (edited directly)"
    result.problems.append(
        f"index: changed since the audit ({then.get('works')} works then, {state.works} now): {what}"
    )


def _names(sources: list[str]) -> str:
    return ", ".join(sources[:3]) + (f" and {len(sources) - 3} more" if len(sources) > 3 else "")  # noqa: PLR2004


def _check_works(store: IndexStore, manifest: dict[str, Any], result: Verification) -> dict[int, str]:
    """Each matched work as it is now; returns the texts of the unchanged ones."""
    texts: dict[int, str] = {}
    unchanged = 0
    for work in manifest["works"]:
        work_id, source = int(work["work_id"]), str(work["source"])
        row = first_row(
            store.con.execute("SELECT source, content_sha256, text FROM works WHERE work_id = ?", [work_id])
        )
        name = f"work {work_id} ({source})"
        if row is None:
            result.problems.append(f"{name}: removed from the index")
        elif row[0] != source:
            result.problems.append(f"work {work_id}: now {row[0]}, was {source}")
        elif row[1] != work["content_sha256"]:
            result.problems.append(
                f"{name}: changed since the audit (content sha256 {work['content_sha256'][:12]}... then, "
                f"{row[1][:12]}... now)"
            )
        elif sha256_hex(row[2].encode("utf-8")) != work["text_sha256"]:
            result.problems.append(f"{name}: its text in the index is not the text the audit matched (edited)")
        else:
            texts[work_id] = row[2]
            unchanged += 1
    if unchanged:
        result.confirmed.append(f"{unchanged} matched work{'s' if unchanged != 1 else ''} unchanged (text re-hashed)")
    return texts


def _check_inputs(manifest: dict[str, Any], result: Verification) -> dict[str, str]:
    """Each input's bytes hashed again; returns the texts of unchanged inputs that have matches."""
    options = InputOptions(**manifest["parameters"].get("inputs", {}))
    texts: dict[str, str] = {}
    unchanged = 0
    records: dict[str, list[dict[str, Any]]] = {}
    matched = [str(m["scanned"]) for m in manifest["matches"]]
    for entry in manifest["inputs"]:
        kind, scanned = entry["kind"], str(entry["scanned"])
        if kind == "work":  # a probed work: checked by _check_probe
            continue
        if kind == "shard":
            unchanged += _check_shard(entry, manifest, matched, texts, result)
            continue
        if entry.get("error") is not None:
            continue
        if kind == "record":
            container = scanned[: -(len(str(entry["record_id"])) + 1)]
            records.setdefault(container, []).append(entry)
        elif kind in {"stdin", "url"}:
            result.notes.append(f"{scanned}: read from {'stdin' if kind == 'stdin' else 'the web'}, not rechecked")
        elif _file_unchanged(scanned, entry["sha256"], result):
            unchanged += 1
            if entry.get("matches"):
                texts.update(_texts(scanned, options, {scanned}))
    for container, entries in records.items():
        unchanged += _check_records(container, entries, options, texts, result)
    _count_inputs(manifest, unchanged, result)
    return texts


def _check_probe(store: IndexStore, manifest: dict[str, Any], result: Verification) -> dict[str, str]:
    """A probe run: each probed work's text hashed again; returns the stored responses by their ``scanned`` name.

    The responses come from the run's ``probe_requests``: the excerpt check then finds a stored response
    edited after its matches were recorded.
    """
    works = [e for e in manifest["inputs"] if e["kind"] == "work"]
    if not works:
        return {}
    unchanged = 0
    for entry in works:
        work_id = int(str(entry["scanned"]).removeprefix("work:"))
        row = first_row(store.con.execute("SELECT text FROM works WHERE work_id = ?", [work_id]))
        if row is None:
            result.problems.append(f"probed work {work_id}: removed from the index")
        elif sha256_hex(row[0].encode("utf-8")) != entry["sha256"]:
            result.problems.append(f"probed work {work_id}: its text changed since the probe")
        else:
            unchanged += 1
    if unchanged:
        result.confirmed.append(f"{unchanged} probed work{'s' if unchanged != 1 else ''} unchanged (text re-hashed)")
    rows = store.con.execute(
        "SELECT request_key, work_id, point, round, response FROM probe_requests WHERE audit_id = ? AND status = 'ok'",
        [manifest["audit_id"]],
    ).fetchall()
    stored = {str(r[0]): str(r[4]) for r in rows}
    recorded = manifest.get("probe", {}).get("requests", [])
    changed = [
        f"probe:{q['work_id']}:{q['point']}:{q['round']}"
        for q in recorded
        if sha256_hex(stored.get(str(q["request_key"]), "").encode("utf-8")) != q["response_sha256"]
    ]
    if changed:
        result.problems.append(f"probe responses changed or missing in the index: {', '.join(changed[:_SHOWN])}")
    elif recorded:
        result.confirmed.append(f"{len(recorded)} probe responses unchanged (SHA-256 recomputed)")
    return {f"probe:{r[1]}:{r[2]}:{r[3]}": str(r[4]) for r in rows}


def _count_inputs(manifest: dict[str, Any], unchanged: int, result: Verification) -> None:
    failed = sum(1 for e in manifest["inputs"] if e.get("error") is not None)
    if unchanged:
        result.confirmed.append(f"{unchanged} input{'s' if unchanged != 1 else ''} unchanged (SHA-256 recomputed)")
    if failed:
        result.notes.append(f"{failed} input{'s' if failed != 1 else ''} could not be read when the audit ran")


def _check_shard(
    entry: dict[str, Any], manifest: dict[str, Any], matched: list[str], texts: dict[str, str], result: Verification
) -> int:
    """A dataset shard: hashed again; its matched records read again (so excerpts are checked), changed or not.

    A changed shard is named with both hashes, and its matched records that are gone are listed; the
    excerpt check then names the matches whose record's text changed.
    """
    path, sha256 = str(entry["scanned"]), entry.get("sha256")
    if sha256 is None:
        result.notes.append(f"shard {path}: not scanned to the end when the manifest was written, not rechecked")
        return 0
    prefix = path + "#"
    wanted = {s for s in matched if s.startswith(prefix)}
    if not Path(path).is_file():
        result.problems.append(f"shard {path}: missing (deleted or moved since the scan)")
        return 0
    same = _file_unchanged(path, str(sha256), result, what="shard")
    if wanted:
        options = DatasetOptions(**manifest["parameters"].get("dataset", {}))
        found = {
            item.scanned: item.text
            for shard in find_shards([path], options)
            if isinstance(shard, Shard)
            for item in read_shard(shard, options, ReadProgress())
            if isinstance(item, ScanItem) and item.scanned in wanted
        }
        texts.update(found)
        gone = sorted(s.removeprefix(prefix) for s in wanted - set(found))
        if gone:
            result.problems.append(f"shard {path}: matched records gone: {', '.join(gone)}")
    return 1 if same else 0


def _file_unchanged(path: str, sha256: str, result: Verification, *, what: str = "input") -> bool:
    try:
        digest = hashlib.sha256()
        with Path(path).open("rb") as handle:  # streamed: a shard may be larger than memory
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        now = digest.hexdigest()
    except FileNotFoundError:
        result.problems.append(f"{what} {path}: missing (deleted or moved since the audit)")
        return False
    except OSError as exc:
        result.problems.append(f"{what} {path}: cannot be read ({exc.strerror or exc})")
        return False
    if now != sha256:
        result.problems.append(
            f"{what} {path}: modified since the audit (sha256 {sha256[:12]}... then, {now[:12]}... now)"
        )
        return False
    return True


def _check_records(
    container: str, entries: list[dict[str, Any]], options: InputOptions, texts: dict[str, str], result: Verification
) -> int:
    """A JSON Lines file: unchanged as a whole, or which of its audited records changed."""
    if container == "<stdin>":
        result.notes.append(f"{len(entries)} JSON Lines records read from stdin, not rechecked")
        return 0
    matched = {str(e["scanned"]) for e in entries if e.get("matches")}
    try:
        whole = sha256_hex(Path(container).read_bytes())
    except OSError as exc:
        reason = (
            "missing (deleted or moved since the audit)" if isinstance(exc, FileNotFoundError) else "cannot be read"
        )
        result.problems.append(f"input {container}: {reason}")
        return 0
    if whole == entries[0].get("source_sha256"):
        texts.update(_texts(container, options, matched))
        return len(entries)
    now = {item.scanned: item for item in _items(container, options)}
    changed, gone, same = [], [], 0
    for entry in entries:
        item = now.get(str(entry["scanned"]))
        if item is None:
            gone.append(str(entry["record_id"]))
        elif item.sha256 != entry["sha256"]:
            changed.append(str(entry["record_id"]))
        else:
            same += 1
            if entry["scanned"] in matched:
                texts[item.scanned] = item.text
    detail = [
        f"records changed: {', '.join(changed)}" if changed else "",
        f"records gone: {', '.join(gone)}" if gone else "",
    ]
    summary = "; ".join(d for d in detail if d) or "the audited records are unchanged"
    result.problems.append(f"input {container}: modified since the audit ({summary}; {same} unchanged)")
    return same


def _items(path: str, options: InputOptions) -> list[ScanItem]:
    return [item for item in read_inputs([path], options) if isinstance(item, ScanItem)]


def _texts(path: str, options: InputOptions, wanted: set[str]) -> dict[str, str]:
    return {item.scanned: item.text for item in _items(path, options) if item.scanned in wanted}


def _check_excerpts(
    manifest: dict[str, Any], scanned_texts: dict[str, str], work_texts: dict[int, str], result: Verification
) -> None:
    """Cut both excerpts again at the recorded spans and compare their hashes with the manifest's."""
    checked = 0
    for match in manifest["matches"]:
        number = match["match_no"]
        scanned = scanned_texts.get(str(match["scanned"]))
        work = work_texts.get(int(match["work_id"]))
        ok = True
        if scanned is not None:
            a, b = match["scanned_span"]
            if sha256_hex(scanned[a:b].encode("utf-8")) != match["scanned_excerpt_sha256"]:
                result.problems.append(f"match {number}: the scanned text at {a}-{b} is not the excerpt recorded")
                ok = False
        if work is not None:
            a, b = match["work_span"]
            if sha256_hex(work[a:b].encode("utf-8")) != match["work_excerpt_sha256"]:
                result.problems.append(f"match {number}: the work's text at {a}-{b} is not the excerpt recorded")
                ok = False
        if ok and scanned is not None and work is not None:
            checked += 1
    if checked:
        result.confirmed.append(f"{checked} match{'es' if checked != 1 else ''}: both excerpts cut again and re-hashed")
