#!/usr/bin/env bash
# Reproduce Sellometer's whole run (issue 3): concentrate the month 30:1, split it into
# one-minute files per "web server", then drop one window per tick into an inbox and run
# `sellocli run` for every window, as fast as possible. Reports throughput and the final tiers.
#
#   make kaggle KAGGLE_DIR=/path/to/kaggle     (2019-Oct.csv, 2019-Oct.csv.gz, ... from the
#                                               REES46 "eCommerce behavior data" dataset)
#   make kaggle                                (no files: generated data of the same shape)
#
# Environment: KAGGLE_DIR, KAGGLE_WORK (default bench/kaggle), KAGGLE_GEN_ROWS (default
# 3000000, generated month only), KAGGLE_RATIO (30), KAGGLE_SERVERS (4).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SELLOCLI=${SELLOCLI:-$ROOT/.build/release/sellocli}
[[ $SELLOCLI == /* ]] || SELLOCLI="$PWD/$SELLOCLI"
cd "$ROOT"
WORK=${KAGGLE_WORK:-bench/kaggle}
RATIO=${KAGGLE_RATIO:-30}
SERVERS=${KAGGLE_SERVERS:-4}
note() { echo "kaggle: $*" >&2; }

rm -rf "$WORK"; mkdir -p "$WORK/inbox" "$WORK/minutes"
inputs=()
if [[ -n ${KAGGLE_DIR:-} ]]; then
    mapfile -t inputs < <(ls "$KAGGLE_DIR"/*.csv "$KAGGLE_DIR"/*.csv.gz 2>/dev/null | sort)
    ((${#inputs[@]})) || { note "no *.csv or *.csv.gz in KAGGLE_DIR=$KAGGLE_DIR"; exit 1; }
    note "using the Kaggle files: ${inputs[*]}"
    origin=2019-10-01T00:00:00Z  # the dataset starts 2019-10-01 00:00 UTC
else
    rows=${KAGGLE_GEN_ROWS:-3000000}
    note "no KAGGLE_DIR: generating a month of data of the same shape ($rows rows, 2019-10-01 + 31 days); NOT the real dataset"
    "$SELLOCLI" gen --rows "$rows" --start 2019-10-01T00:00:00Z --hours 744 --seed 2019 --gzip -o "$WORK/month.csv.gz"
    inputs=("$WORK/month.csv.gz")
    origin=2019-10-01T00:00:00Z
fi

t0=$(date +%s.%N)
note "concentrate $RATIO:1 from $origin"
"$SELLOCLI" concentrate --ratio "$RATIO" --origin "$origin" "${inputs[@]}" -o "$WORK/concentrated.csv"
note "split per minute and $SERVERS servers"
"$SELLOCLI" split --every 1m --servers "$SERVERS" --gzip -o "$WORK/minutes" "$WORK/concentrated.csv"
rm -f "$WORK/concentrated.csv"
prep=$(echo "$(date +%s.%N) - $t0" | bc)

mapfile -t windows < <(ls "$WORK/minutes" | grep '\.csv\.gz$' | sed 's/\.s[0-9]*\.csv\.gz$//' | sort -u)
note "${#windows[@]} one-minute windows: one tick each"
: > "$WORK/ticks.txt"
t0=$(date +%s.%N)
for w in "${windows[@]}"; do
    mv "$WORK/minutes/$w".*.csv.gz "$WORK/inbox/"
    a=$(date +%s.%N)
    "$SELLOCLI" run --inbox "$WORK/inbox" --db "$WORK/sello.db" --archive "$WORK/archive" -q --summary-json "$WORK/tick.json"
    echo "$(echo "$(date +%s.%N) - $a" | bc) $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ingest"]["rows_read"])' "$WORK/tick.json")" >> "$WORK/ticks.txt"
done
total=$(echo "$(date +%s.%N) - $t0" | bc)

python3 - "$WORK/ticks.txt" "$total" "$prep" <<'PY'
import sys, statistics
t = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
secs = sorted(x[0] for x in t); rows = sum(x[1] for x in t); total = float(sys.argv[2])
p = lambda q: secs[max(0, min(len(secs) - 1, round(q * (len(secs) - 1))))]
print(f"ticks {len(t)}, events {rows:.0f}, preparation (concentrate + split) {float(sys.argv[3]):.1f} s")
print(f"ticks total {total:.1f} s, {rows / total:.0f} events/s; per tick p50 {p(.5):.3f} s, p95 {p(.95):.3f} s, max {secs[-1]:.3f} s")
PY
echo "final tiers:"
"$SELLOCLI" status --db "$WORK/sello.db" --inbox "$WORK/inbox" --format table 2>/dev/null || true
