#!/usr/bin/env bash
# Regenerates the golden outputs of packages/audit/test/fixtures/golden-*.log with ausearch
# 3.0.9 itself: NAME.events.golden (ausearch's grouping, `ausearch -if`) and
# NAME.interpret.golden (`ausearch -i`), NAME.text.golden and NAME.csv.golden (`--format text`,
# `--format csv`), NAME.csv-extra.golden (csv with every --extra-* column), NAME.csv.stderr.golden
# and NAME.csv-extra.stderr.golden (what ausearch prints on stderr for them), in UTC and the C.UTF-8 locale (golden.test.ts sets
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
  ausearch -if "$log" --format text > "$base.text.golden" || true
  # stderr: ausearch's "error normalizing TYPE" per event libauparse cannot normalize
  ausearch -if "$log" --format csv > "$base.csv.golden" 2> "$base.csv.stderr.golden" || true
  ausearch -if "$log" --format csv --extra-keys --extra-labels --extra-obj2 --extra-time > "$base.csv-extra.golden" 2> "$base.csv-extra.stderr.golden" || true
  echo "golden: $(basename "$log"): $(grep -c '^----' "$base.events.golden") events"
done
node "$(dirname "$0")/check-reassembly.js" >/dev/null && echo "golden: reassembly table agrees with ausearch"
