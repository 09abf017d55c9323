#!/usr/bin/env bash
# Runs every Go fuzz target in the module for the given time (default 2m) each.
# Usage: scripts/fuzz.sh [duration]
set -euo pipefail
cd "$(dirname "$0")/.."
t="${1:-2m}"
grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(' . | sort | while read -r f; do
  dir="./$(dirname "${f#./}")"
  for name in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$f" | awk '{print $2}'); do
    echo "== $dir $name ($t)"
    go test -run='^$' -fuzz="^${name}\$" -fuzztime="$t" "$dir"
  done
done
