#!/usr/bin/env bash
# Runs one benchmark script: bash bench/run.sh <name> [flags...] runs bench/<name>.ts.
# The benchmark's own dependencies (peers, data sets) are installed on first use,
# so the root `npm install` stays lean.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ]; then
  echo "usage: bash bench/run.sh <name> [flags...]   (name: ann, make-fixtures)" >&2
  exit 2
fi
name="$1"
shift
if [ ! -f "bench/$name.ts" ]; then
  echo "bench/run.sh: no bench/$name.ts" >&2
  exit 2
fi

if [ ! -d bench/node_modules ]; then
  echo "bench/run.sh: installing benchmark dependencies into bench/node_modules (hnswlib-node builds from source)"
  npm install --prefix bench --no-audit --no-fund
fi

# Parsing the 300 MB GloVe JSON needs a heap well above Node's default.
exec node --max-old-space-size=6144 --import tsx "bench/$name.ts" "$@"
