#!/usr/bin/env bash
# The main job end to end on the bundled examples: index the sample works, audit the sample model
# outputs, print the matches and write them to build/demo/matches.jsonl. Needs only python3.
set -euo pipefail
source "$(dirname "$0")/setup.sh" fast
index=build/demo/provenance.duckdb
mkdir -p build/demo
rm -f "$index" "$index.wal"
.venv/bin/provenance add examples/works --index "$index"
.venv/bin/provenance works --index "$index"
.venv/bin/provenance audit examples/outputs --id-field id --index "$index" --output build/demo/matches.jsonl
echo "Matches written to build/demo/matches.jsonl; the index is $index."
