"""Fixtures for stored runs, reports, manifests and SQL: a real index, real inputs, one recorded audit."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from provenance.cli import app

if TYPE_CHECKING:
    from pathlib import Path

runner = CliRunner()

KEEPER = (
    "The lighthouse keeper kept a ledger of every ship that passed the point, and in the margins he "
    "drew the weather as he saw it: small suns, clouds like folded napkins, and once a whale that "
    "surfaced twice beside the rocks before turning north toward the colder water where the herring "
    "ran thick in the late summer months of that long and quiet year on the island."
)
QUOTE = " ".join(KEEPER.split()[5:65])
PAYLOAD = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"
HARBOUR = (
    "Notes from the harbour wall, written the morning after the storm had passed and the small boats "
    "came back in one by one with their nets torn and their engines coughing. "
    f"{PAYLOAD} "
    "The harbour master stood at the end of the pier with a clipboard and counted every hull, calling "
    "out the names to his daughter, who wrote them in chalk on the slate board beside the fish market "
    "door so that the families waiting in the rain could see who was safe and who was still out beyond "
    "the lighthouse in the grey swell of the open sea."
)
# The harbour passage copied with edits: two words substituted, three dropped, the payload kept.
HARBOUR_EDITED = (
    "I read this somewhere once. Notes from the harbour wall, written the morning after the storm had "
    "passed and the little boats came back in one by one with their nets torn and their engines coughing. "
    f"{PAYLOAD} "
    "The harbour master stood at the end of the pier with a clipboard and counted each hull, calling "
    "out the names to his daughter, who wrote them in chalk on the slate board beside the fish market "
    "door so that the families waiting could see who was safe and who was still out beyond "
    "the lighthouse in the grey swell of the open sea."
)


def invoke(*args: str, input: str | None = None):  # noqa: A002
    return runner.invoke(app, list(args), input=input)


@dataclass(frozen=True)
class Samples:
    """The texts the fixtures use, for tests to build on (test modules cannot import conftest)."""

    keeper: str = KEEPER
    quote: str = QUOTE
    harbour: str = HARBOUR
    harbour_edited: str = HARBOUR_EDITED
    payload: str = PAYLOAD


@pytest.fixture
def samples() -> Samples:
    return Samples()


@pytest.fixture(name="invoke")
def _invoke():
    """Run the CLI in-process: ``invoke("audit", "-", input=...)``."""
    return invoke


@pytest.fixture(name="make_index")
def _make_index():
    """Make an index of the two sample works under a folder: ``make_index(tmp_path) -> index path``."""
    return make_index


@dataclass
class Audited:
    """An index with two works and one recorded audit of files, a JSON Lines file and stdin."""

    root: Path
    index: Path
    works: Path
    copy: Path
    edited: Path
    batch: Path
    stdin_text: str
    audit_id: str

    def run(self, *args: str, input: str | None = None):  # noqa: A002
        return invoke(*args, "--index", str(self.index), input=input)


def make_index(root: Path) -> Path:
    works = root / "works"
    works.mkdir()
    (works / "keeper.txt").write_text(KEEPER, encoding="utf-8")
    (works / "harbour.txt").write_text(HARBOUR, encoding="utf-8")
    index = root / "index.duckdb"
    result = invoke("add", str(works), "--index", str(index))
    assert result.exit_code == 0, result.output
    return index


@pytest.fixture
def audited(tmp_path) -> Audited:
    index = make_index(tmp_path)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    copy = inputs / "copy.txt"
    copy.write_text("Intro. " + QUOTE, encoding="utf-8")
    edited = inputs / "edited.txt"
    edited.write_text(HARBOUR_EDITED, encoding="utf-8")
    (inputs / "clean.txt").write_text("Only my own words about tomatoes and the garden this year.", encoding="utf-8")
    batch = inputs / "batch.jsonl"
    batch.write_text(
        json.dumps({"id": "q1", "text": QUOTE})
        + "\n"
        + json.dumps({"id": "q2", "text": "nothing copied here at all, just a note"})
        + "\n",
        encoding="utf-8",
    )
    stdin_text = "From memory: " + QUOTE
    result = invoke("audit", str(inputs), "-", "--id-field", "id", "--index", str(index), input=stdin_text)
    assert result.exit_code == 0, result.output
    assert "recorded as audit" in result.stderr
    audit_id = result.stderr.split("recorded as audit ", 1)[1].split()[0]
    return Audited(tmp_path, index, tmp_path / "works", copy, edited, batch, stdin_text, audit_id)
