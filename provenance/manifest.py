"""The manifest of an audit run: what was scanned, against what, how, and one digest over all of it.

A manifest is a JSON object (``format: provenance-audit-manifest``, ``version: 1``) with the run id and
times, tool and library versions, parameters (audit thresholds, input options, fingerprint
parameters), the index state (work count, digest over every work's source and content hash, highest
work id), every input with the SHA-256 of the bytes read, every matched work with its content and text
hashes, and every match with its spans and the SHA-256 of both excerpts.

``digest`` is ``sha256:`` + the SHA-256 of the canonical JSON of everything else: keys sorted, no
whitespace (``separators=(",", ":")``), UTF-8 rather than ASCII escapes, scores rounded to 6 decimals.
In Python: ``json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()``, so
anyone can recompute it from the file without our code.

Every run's manifest is stored with the run when it is recorded (``audits.manifest``);
``provenance report ID --format manifest`` writes it to a file, ``provenance verify FILE`` checks it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors import sha256_hex
from provenance.errors import ManifestError

if TYPE_CHECKING:
    from provenance.runs import AuditRun, InputRecord

FORMAT = "provenance-audit-manifest"
VERSION = 1
_PLACES = 6


def canonical_json(value: Any) -> bytes:  # noqa: ANN401 - any JSON value
    """The byte form the digest is taken over: sorted keys, no whitespace, UTF-8, no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def digest_of(manifest: dict[str, Any]) -> str:
    """``sha256:HEX`` over the canonical JSON of ``manifest`` without its ``digest`` key."""
    body = {k: v for k, v in manifest.items() if k != "digest"}
    return "sha256:" + hashlib.sha256(canonical_json(body)).hexdigest()


def manifest_for(run: AuditRun) -> dict[str, Any]:
    """The manifest of a run, digest included."""
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "audit_id": run.audit_id,
        **({} if run.kind == "texts" else {"kind": run.kind, "engine": run.engine, "state": run.state}),
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat(),
        "tool": {"name": "provenance-audit", "version": run.tool_version},
        "versions": dict(sorted(run.versions.items())),
        "parameters": run.parameters,
        "index": asdict(run.index),
        "arguments": list(run.arguments),
        "inputs": [_input(i) for i in run.inputs],
        "works": [
            {
                "work_id": w.work_id,
                "source": w.source,
                "title": w.title,
                "creator": w.creator,
                "kind": w.kind,
                "content_sha256": w.content_sha256,
                "text_sha256": w.text_sha256,
                "retrieved_at": w.retrieved_at.isoformat(),
                "consent_status": w.consent_status,
            }
            for w in run.works
        ],
        "matches": [
            {
                "match_no": n,
                "scanned": m.scanned,
                "record_id": m.record_id,
                "work_id": m.work_id,
                "scanned_span": list(m.scanned_span),
                "work_span": list(m.work_span),
                "work_time": None if m.work_time is None else [round(t, 3) for t in m.work_time],
                "score": round(m.score, _PLACES),
                "estimated_similarity": round(m.estimated_similarity, _PLACES),
                "containment": round(m.containment, _PLACES),
                "verbatim_words": m.verbatim_words,
                "matched_words": m.matched_words,
                "evidence_words": m.evidence_words,
                "scanned_excerpt_sha256": sha256_hex(m.scanned_excerpt.encode("utf-8")),
                "work_excerpt_sha256": sha256_hex(m.work_excerpt.encode("utf-8")),
            }
            for n, m in enumerate(run.matches, start=1)
        ],
    }
    manifest["digest"] = digest_of(manifest)
    return manifest


def _input(i: InputRecord) -> dict[str, Any]:
    """One input as the manifest lists it; a dataset shard also with its size, records and bad records."""
    entry: dict[str, Any] = {
        "ordinal": i.ordinal,
        "scanned": i.scanned,
        "kind": i.kind,
        "record_id": i.record_id,
        "sha256": i.sha256,
        "source_sha256": i.source_sha256,
        "chars": i.chars,
        "matches": i.matches,
        "error": i.error,
    }
    if i.kind == "shard":
        entry.update(size=i.size, records=i.records, failures=i.failures)
    return entry


def manifest_text(manifest: dict[str, Any]) -> str:
    """The manifest as written to a file: indented, keys sorted (the digest does not depend on layout)."""
    return json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def load_manifest(path: str | Path) -> dict[str, Any]:
    """A manifest file, checked to be ours (not yet checked against anything)."""
    name = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ManifestError(name, f"cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ManifestError(name, "not a provenance audit manifest (not UTF-8 text)") from exc
    except json.JSONDecodeError as exc:
        raise ManifestError(name, f"not a provenance audit manifest (not JSON: {exc.msg}, line {exc.lineno})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ManifestError(name, f'not a provenance audit manifest (no "format": "{FORMAT}")')
    if data.get("version") != VERSION:
        raise ManifestError(
            name, f"manifest version {data.get('version')!r} is not one this provenance reads ({VERSION})"
        )
    missing = [k for k in ("audit_id", "digest", "parameters", "index", "inputs", "works", "matches") if k not in data]
    if missing:
        raise ManifestError(name, f"not a complete provenance audit manifest (missing {', '.join(missing)})")
    return data
