#!/usr/bin/env bash
# Sourced by demo.sh and test.sh: makes .venv (once) and installs the project into it.
# Usage: source scripts/setup.sh [extras], e.g. "dev".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
extras="${1:-}"
target="."
if [ -n "$extras" ]; then target=".[$extras]"; fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
# constraints.txt pins what CI tested: the same numpy, duckdb and Python libraries, the same fingerprints.
.venv/bin/python -m pip install --quiet --disable-pip-version-check --constraint constraints.txt --editable "$target"
