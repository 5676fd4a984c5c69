#!/usr/bin/env bash
# Benchmark: sellocli ingest against gzip/igzip decompression and the same job in DuckDB.
#
#   bash scripts/bench.sh            (the Makefile's `bench` target builds the release binary first)
#
# Environment:
#   SELLOCLI      the binary to time (default .build/release/sellocli; this script builds nothing)
#   BENCH_ROWS    rows to generate (default 5000000); the cached input is
#                 bench/cache/events-<rows>.csv.gz, e.g. events-5m.csv.gz
#   BENCH_REPEAT  runs per tool, the best (lowest wall) counts (default 1)
#   DUCKDB_VERSION  the duckdb wheel installed into bench/venv (default 1.4.1)
#
# Prints a markdown block (machine, date, table, target ratios, cross-check) and writes it to
# bench/work/last-run.md. Per-tool stderr is kept in bench/work/<tool>.err.
set -euo pipefail

BENCH_ROWS=${BENCH_ROWS:-5000000}
BENCH_REPEAT=${BENCH_REPEAT:-1}
DUCKDB_VERSION=${DUCKDB_VERSION:-1.4.1}
SELLOCLI=${SELLOCLI:-.build/release/sellocli}

BENCH_NAME=bench
# shellcheck source=scripts/bench_lib.sh
source "$(dirname "$0")/bench_lib.sh"

[[ $BENCH_ROWS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROWS must be a positive integer (got '$BENCH_ROWS')"
[[ $BENCH_REPEAT =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPEAT must be a positive integer (got '$BENCH_REPEAT')"

resolve_sellocli

# --- tools -------------------------------------------------------------------------------------
need_tools sqlite3

# --- input (cached) ----------------------------------------------------------------------------
INPUT="bench/cache/events-$(human_rows "$BENCH_ROWS").csv.gz"
cached_input "$INPUT" "$BENCH_ROWS" --rows "$BENCH_ROWS" --start 2019-10-01T00:00:00Z --hours 168 --seed 42 --gzip

# --- DuckDB in a venv (once) -------------------------------------------------------------------
ensure_duckdb_venv

# --- timing ------------------------------------------------------------------------------------
W=bench/work
TOOLS=(gzip igzip dryrun ingest duckdb)
# shellcheck disable=SC2016  # backticks are markdown here
declare -A LABEL=(
    [gzip]='`gzip -dc`'
    [igzip]='`igzip -dc`'
    [dryrun]='`sellocli ingest --dry-run`'
    [ingest]='`sellocli ingest`'
    [duckdb]="DuckDB $DUCKDB_V (Python)"
)
declare -A BEST=()   # tool -> "wall user sys maxrss_kb"

prepare() {
    case $1 in
        dryrun) rm -f "$W"/dry.db "$W"/dry.db-* "$W"/dry.db.* ;;   # -wal, -shm, .rejects.csv.gz
        ingest) rm -f "$W"/store.db "$W"/store.db-* "$W"/store.db.* ;;
        duckdb) rm -f "$W"/duck.duckdb "$W"/duck.duckdb.wal ;;
    esac
}

command_for() {
    case $1 in
        gzip)   CMD=(gzip -dc "$INPUT") ;;
        igzip)  CMD=(igzip -dc "$INPUT") ;;
        dryrun) CMD=("$SELLOCLI" ingest --dry-run --quiet --db "$W/dry.db" "$INPUT") ;;
        ingest) CMD=("$SELLOCLI" ingest --quiet --db "$W/store.db" "$INPUT") ;;
        duckdb) CMD=("$VPY" scripts/bench_duckdb.py "$INPUT" "$W/duck.duckdb") ;;
    esac
}


cat "$INPUT" >/dev/null   # warm the page cache so the first tool does not pay for the disk
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 1; r <= BENCH_REPEAT; r++)); do
    note "run $r of $BENCH_REPEAT"
    for tool in "${TOOLS[@]}"; do run_timed "$tool"; done
done

# --- report ------------------------------------------------------------------------------------
DUCK_WALL=$(field duckdb 1)
IGZIP_WALL=$(field igzip 1)

SELLO_V=$("$SELLOCLI" --version 2>/dev/null | head -n 1 || true)
IGZIP_V=$(igzip --version 2>&1 | head -n 1 || true)
INPUT_MB=$(awk -v b="$(stat -c %s "$INPUT")" 'BEGIN { printf "%.1f", b / 1048576 }')

REPORT="$W/last-run.md"
{
    echo "### Benchmark $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "- machine: $(machine_line); load average before: $LOAD_BEFORE"
    echo "- input: \`$INPUT\`, $BENCH_ROWS rows, $INPUT_MB MB gzip (\`sellocli gen --hours 168 --seed 42\`)"
    echo "- versions: sellocli ${SELLO_V:-unknown}, DuckDB $DUCKDB_V, $IGZIP_V, $(gzip --version | head -n 1)"
    echo "- best of $BENCH_REPEAT run(s) each, \`/usr/bin/time\`; rows/s counts the input rows for every tool"
    echo
    echo "| tool | wall s | user+sys CPU s | M rows/s | peak RSS MB | DuckDB wall ÷ wall | wall ÷ igzip wall |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for tool in "${TOOLS[@]}"; do
        read -r wall user sys rss <<<"${BEST[$tool]}"
        awk -v t="${LABEL[$tool]}" -v w="$wall" -v u="$user" -v s="$sys" -v m="$rss" \
            -v n="$BENCH_ROWS" -v d="$DUCK_WALL" -v g="$IGZIP_WALL" 'BEGIN {
            ww = (w < 0.01 ? 0.01 : w); dd = (d < 0.01 ? 0.01 : d); gg = (g < 0.01 ? 0.01 : g)
            printf "| %s | %.2f | %.2f | %.2f | %.1f | %.2f | %.2f |\n",
                t, w, u + s, n / ww / 1e6, m / 1024, dd / ww, ww / gg }'
    done
    echo
    ING_SPEEDUP=$(ratio "$DUCK_WALL" "$(field ingest 1)")
    DRY_VS_IGZIP=$(ratio "$(field dryrun 1)" "$IGZIP_WALL")
    ING_RSS=$(awk -v k="$(field ingest 4)" 'BEGIN { printf "%.1f", k / 1024 }')
    DRY_RSS=$(awk -v k="$(field dryrun 4)" 'BEGIN { printf "%.1f", k / 1024 }')
    verdict() { awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
        ok = (op == ">=") ? (v >= t) : (op == "<=") ? (v <= t) : (v < t); print (ok ? "met" : "MISSED") }'; }
    echo "Targets:"
    echo "- ingest vs DuckDB (DuckDB wall ÷ ingest wall): **${ING_SPEEDUP}x** (target ≥ 1x: $(verdict "$ING_SPEEDUP" ">=" 1); goal 2x: $(verdict "$ING_SPEEDUP" ">=" 2))"
    echo "- dry-run vs \`igzip -dc\` (dry-run wall ÷ igzip wall): **${DRY_VS_IGZIP}x** (target within 3x: $(verdict "$DRY_VS_IGZIP" "<=" 3))"
    echo "- peak RSS: ingest **${ING_RSS} MB**, dry-run ${DRY_RSS} MB (target < 300 MB: $(verdict "$ING_RSS" "<" 300))"
} >"$REPORT.tmp"

# --- cross-check: the two stores should agree --------------------------------------------------
{
    echo
    echo "Cross-check (rows, SUM(events), SUM(value_cents)), sellocli store vs DuckDB:"
    echo
    echo "| table | sellocli | DuckDB |"
    echo "|---|---|---|"
} >>"$REPORT.tmp"
mismatch=0
warnings=
for t in stats_minute stats_hour stats_day; do
    q="SELECT COUNT(*), COALESCE(SUM(events), 0), COALESCE(SUM(value_cents), 0) FROM $t"
    s=$(sqlite3 -separator ' ' "$W/store.db" "$q" 2>&1 | head -n 1) || s="error: $s"
    d=$("$VPY" -c 'import sys, duckdb
c = duckdb.connect(sys.argv[1], read_only=True)
print(" ".join(str(v) for v in c.execute(sys.argv[2]).fetchone()))' "$W/duck.duckdb" "$q" 2>&1 | tail -n 1) || d="error: $d"
    echo "| $t | $s | $d |" >>"$REPORT.tmp"
    if [[ $s != "$d" ]]; then
        warnings+="- WARNING: $t differs: sellocli '$s', DuckDB '$d'"$'\n'
        mismatch=1
    fi
done
echo >>"$REPORT.tmp"
if ((mismatch)); then
    printf '%s' "$warnings" >>"$REPORT.tmp"
else
    echo "- the stats tables agree in row count and sums" >>"$REPORT.tmp"
fi

mv -f "$REPORT.tmp" "$REPORT"
echo
cat "$REPORT"
echo
note "DuckDB job log:"
sed 's/^/    /' "$W/duckdb.err" >&2
note "report written to $REPORT"
