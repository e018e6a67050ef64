"""Shared fixtures: real index files under tmp_path and the bundled examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexes import IndexStore

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture
def index_path(tmp_path: Path) -> Path:
    return tmp_path / "index.duckdb"


@pytest.fixture
def store(index_path: Path):
    with IndexStore.open(index_path, tool_version="test") as s:
        yield s
