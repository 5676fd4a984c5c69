#!/usr/bin/env bash
# Benchmark of the cron tick at Sellometer's cadence (issue 3): 40,000 events per minute over 4
# "web servers", i.e. 4 files of about 10,000 rows per one-minute window.
#
#   bash scripts/bench_ticks.sh        (make bench runs it after the ingest benchmark)
#
# 1. A store and raw archive holding 24 hours of minute data (TICK_BASE_ROWS events of the day
#    before, ingested with --archive; cached in bench/cache).
# 2. TICK_WINDOWS one-minute windows of TICK_ROWS_PER_MIN events (split into 4 files each),
#    delivered one window at a time into an inbox; one `sellocli run` per window, timed.
# 3. The cost of retention (`retain --dry-run`, `retain`) and archive compaction on that store.
# Prints a markdown block and writes it to bench/work/ticks.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SELLOCLI=${SELLOCLI:-$ROOT/.build/release/sellocli}
[[ $SELLOCLI == /* ]] || SELLOCLI="$PWD/$SELLOCLI"
cd "$ROOT"
TICK_WINDOWS=${TICK_WINDOWS:-60}
TICK_ROWS_PER_MIN=${TICK_ROWS_PER_MIN:-40000}
TICK_BASE_ROWS=${TICK_BASE_ROWS:-2000000}
note() { echo "bench-ticks: $*" >&2; }
now() { date +%s.%N; }

W=bench/work/ticks
C=bench/cache
mkdir -p "$C" "$W"
base="$C/tick-base-$TICK_BASE_ROWS.csv.gz"
if [[ ! -s $base ]]; then
    note "generating 24 h of base data ($TICK_BASE_ROWS rows)"
    "$SELLOCLI" gen --rows "$TICK_BASE_ROWS" --start 2019-10-01T00:00:00Z --hours 24 --seed 101 --gzip -o "$base.tmp" 2>/dev/null
    mv "$base.tmp" "$base"
fi
rm -rf "$W"/*
mkdir -p "$W/inbox" "$W/minutes" "$W/summaries"
note "ingesting the base day into a store with a raw archive"
t0=$(now)
"$SELLOCLI" ingest --db "$W/store.db" --archive "$W/archive" -q "$base"
base_s=$(echo "$(now) - $t0" | bc)

rows=$((TICK_WINDOWS * TICK_ROWS_PER_MIN))
note "generating $TICK_WINDOWS minutes x $TICK_ROWS_PER_MIN events and splitting them per minute and server"
"$SELLOCLI" gen --rows "$rows" --start 2019-10-02T00:00:00Z --hours 1 --seed 102 -o "$W/hour.csv" 2>/dev/null
"$SELLOCLI" split --every 1m --servers 4 -o "$W/minutes" "$W/hour.csv" 2>/dev/null
rm -f "$W/hour.csv"
mapfile -t windows < <(ls "$W/minutes" | grep '\.csv$' | sed 's/\.s[0-9]*\.csv$//' | sort -u)

note "running ${#windows[@]} ticks"
: > "$W/ticks.txt"
for w in "${windows[@]}"; do
    for f in "$W/minutes/$w".*.csv; do mv "$f" "$W/inbox/"; done
    n=$(cat "$W"/inbox/*.csv | wc -l)
    t0=$(now)
    "$SELLOCLI" run --inbox "$W/inbox" --db "$W/store.db" --archive "$W/archive" -q \
        --summary-json "$W/summaries/$w.json"
    echo "$(echo "$(now) - $t0" | bc) $((n - 4))" >> "$W/ticks.txt"
done

t0=$(now); "$SELLOCLI" retain --db "$W/store.db" --dry-run >/dev/null; retain_dry=$(echo "$(now) - $t0" | bc)
# Move the data clock a day on so that retention has a day of minute buckets to delete.
"$SELLOCLI" gen --rows 1000 --start 2019-10-03T01:00:00Z --hours 1 --seed 103 -o "$W/next.csv" 2>/dev/null
"$SELLOCLI" ingest --db "$W/store.db" --archive "$W/archive" -q "$W/next.csv"
minute_rows=$(sqlite3 "$W/store.db" "SELECT COUNT(*) FROM stat_minute")
t0=$(now); "$SELLOCLI" retain --db "$W/store.db" >/dev/null; retain_s=$(echo "$(now) - $t0" | bc)
minute_left=$(sqlite3 "$W/store.db" "SELECT COUNT(*) FROM stat_minute")
segs=$(sqlite3 "$W/archive/manifest.sqlite" "SELECT COUNT(*) FROM files WHERE kind = 'segment'" 2>/dev/null || echo "?")
t0=$(now); "$SELLOCLI" archive compact --db "$W/store.db" --archive "$W/archive" >/dev/null; compact_s=$(echo "$(now) - $t0" | bc)

report=$(python3 - "$W/ticks.txt" <<EOF
import sys, statistics
t = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
secs = sorted(x[0] for x in t); rows = [x[1] for x in t]
def pct(p):
    k = max(0, min(len(secs) - 1, int(round(p / 100 * (len(secs) - 1)))))
    return secs[k]
print(f"| ticks | events per tick (mean) | p50 s | p95 s | max s | total s | events/s |")
print(f"|---:|---:|---:|---:|---:|---:|---:|")
print(f"| {len(secs)} | {statistics.mean(rows):.0f} | {pct(50):.3f} | {pct(95):.3f} | {secs[-1]:.3f} | {sum(secs):.1f} | {sum(rows)/sum(secs):.0f} |")
per40k = [x[0] * 40000 / x[1] for x in t if x[1] > 0]
print()
print(f"- per-tick time scaled to a 40,000-event batch: p50 {statistics.median(per40k):.3f} s, max {max(per40k):.3f} s (target < 1 s)")
EOF
)
{
    echo "### Cron ticks $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- store: 24 h of minute data ($TICK_BASE_ROWS events, ingested with --archive in ${base_s} s), then one \`sellocli run\` per one-minute window, 4 files per window; housekeeping on"
    echo
    echo "$report"
    echo "- retention on that store: \`retain --dry-run\` ${retain_dry} s; \`retain\` after the clock moved a day: ${retain_s} s, minute rows ${minute_rows} -> ${minute_left}"
    echo "- \`archive compact\` of ${segs} segment(s): ${compact_s} s"
} | tee "$W/../ticks.md"
