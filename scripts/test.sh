#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs the project with its dev tools into .venv, then
# runs ruff, mypy (strict, on the three packages) and pytest.
set -euo pipefail
source "$(dirname "$0")/setup.sh" dev,fast,spark
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/pytest "$@"
