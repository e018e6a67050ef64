#!/usr/bin/env bash
# The main job end to end on the bundled examples: index the sample works, audit the sample model
# outputs, print the matches, write them to build/demo/matches.jsonl and the HTML report to
# build/demo/report.html. Needs only python3.
set -euo pipefail
source "$(dirname "$0")/setup.sh" fast
index=build/demo/provenance.duckdb
mkdir -p build/demo
rm -f "$index" "$index.wal"
.venv/bin/provenance add examples/works --index "$index"
.venv/bin/provenance works --index "$index"
.venv/bin/provenance audit examples/outputs --id-field id --index "$index" --output build/demo/matches.jsonl
.venv/bin/provenance report --index "$index" --format html -o build/demo/report.html
echo "Matches: build/demo/matches.jsonl; side-by-side report: build/demo/report.html; index: $index."
