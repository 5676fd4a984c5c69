#!/usr/bin/env bash
# End-to-end tests of the real binary on real and generated data.
# Usage: SELLOCLI=.build/release/sellocli bash Tests/cli/run.sh [test-file-pattern]
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export ROOT
SELLOCLI=$(cd "$ROOT" && realpath "${SELLOCLI:-.build/release/sellocli}")
export SELLOCLI
SAMPLES="$ROOT/SampleData"
export SAMPLES
if [ ! -x "$SELLOCLI" ]; then echo "no binary at $SELLOCLI: run make build" >&2; exit 2; fi
source "$ROOT/Tests/cli/lib.sh"

pattern=${1:-}
for t in "$ROOT"/Tests/cli/test_*.sh; do
  [ -n "$pattern" ] && [[ "$t" != *"$pattern"* ]] && continue
  CURRENT=$(basename "$t" .sh)
  echo "== $CURRENT" >&2
  before=$FAIL
  # shellcheck disable=SC1090
  source "$t"
  [ "$FAIL" -eq "$before" ] || echo "   ($((FAIL - before)) failed)" >&2
done

# Golden CLI cases: Tests/cli/cases/NAME/{cmd,expected[,exit]}; cmd runs in a scratch dir
# with $SELLOCLI, $SAMPLES and $ROOT set; its stdout must equal `expected` byte for byte.
for c in "$ROOT"/Tests/cli/cases/*/; do
  [ -f "$c/cmd" ] || continue
  CURRENT="case $(basename "$c")"
  [ -n "$pattern" ] && [[ "$CURRENT" != *"$pattern"* ]] && continue
  d=$(new_scratch)
  got=$(cd "$d" && bash "$c/cmd" 2>"$d/stderr"); code=$?
  want_code=$(cat "$c/exit" 2>/dev/null || echo 0)
  assert_eq "exit code (stderr: $(head -c 300 "$d/stderr"))" "$want_code" "$code"
  assert_eq "stdout" "$(cat "$c/expected")" "$got"
  rm -rf "$d"
done

echo "${PASS} passed, ${FAIL} failed"
[ "$FAIL" -eq 0 ]
