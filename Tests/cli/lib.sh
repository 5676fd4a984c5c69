# Assertions for the end-to-end tests. Each assertion counts one pass or one failure;
# run.sh prints "N passed, M failed" at the end and exits non-zero on any failure.
PASS=0
FAIL=0
FAILED_NAMES=()

pass() { PASS=$((PASS + 1)); }
failt() { FAIL=$((FAIL + 1)); FAILED_NAMES+=("$CURRENT: $1"); echo "  FAIL [$CURRENT] $1" >&2; }

# assert_eq NAME EXPECTED ACTUAL
assert_eq() { if [ "$2" == "$3" ]; then pass; else failt "$1: expected [$2], got [$3]"; fi; }
# assert_contains NAME HAYSTACK NEEDLE
assert_contains() { if [[ "$2" == *"$3"* ]]; then pass; else failt "$1: [$3] not found in [${2:0:400}]"; fi; }
assert_not_contains() { if [[ "$2" != *"$3"* ]]; then pass; else failt "$1: [$3] unexpectedly found"; fi; }
# assert_files_equal NAME A B
assert_files_equal() { if cmp -s "$2" "$3"; then pass; else failt "$1: $2 and $3 differ: $(diff "$2" "$3" | head -5 | tr '\n' ' ')"; fi; }
# assert_exit NAME EXPECTED_CODE CMD...
assert_exit() { local name=$1 want=$2; shift 2; "$@" >/dev/null 2>&1; local got=$?; assert_eq "$name (exit code)" "$want" "$got"; }

# A fresh scratch directory per test file.
new_scratch() { local d; d=$(mktemp -d "${TMPDIR:-/tmp}/sellocli-e2e.XXXXXX"); echo "$d"; }

# sql DB QUERY: read a single value with the sqlite3 shell (independent of sellocli).
sqlv() { sqlite3 -batch -noheader "$1" "$2"; }

# stats_dump DB: the three tiers in the reference dump format (via the independent reference).
stats_dump() { python3 "$ROOT/scripts/reference.py" dump-store "$1" 2>/dev/null; }
