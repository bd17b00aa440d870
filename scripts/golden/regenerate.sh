#!/usr/bin/env bash
# Regenerates the golden outputs of packages/audit/test/fixtures/golden-*.log with ausearch
# 3.0.9 itself: NAME.events.golden (ausearch's grouping, `ausearch -if`) and
# NAME.interpret.golden (`ausearch -i`), in UTC and the C.UTF-8 locale (golden.test.ts sets
# the same). Then checks the reassembly table against ausearch. No root needed.
# Usage: pnpm golden
set -euo pipefail
dir="$(cd "$(dirname "$0")/../.." && pwd)/packages/audit/test/fixtures"
ausearch -v | grep -q 'version 3.0.9' || { echo "golden: ausearch 3.0.9 is the reference; found $(ausearch -v)" >&2; exit 1; }
export TZ=UTC LC_ALL=C.UTF-8
for log in "$dir"/golden-*.log; do
  base="${log%.log}"
  ausearch -if "$log" > "$base.events.golden" || true
  ausearch -if "$log" -i > "$base.interpret.golden" || true
  echo "golden: $(basename "$log"): $(grep -c '^----' "$base.events.golden") events"
done
node "$(dirname "$0")/check-reassembly.js" >/dev/null && echo "golden: reassembly table agrees with ausearch"
