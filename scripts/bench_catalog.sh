#!/usr/bin/env bash
# Benchmark (issue 4): sellocli catalog ingest against gzip/igzip decompression and the same
# hourly counts and catalog in DuckDB (read_ndjson).
#
#   bash scripts/bench_catalog.sh    (the Makefile's `bench` target builds the release binary first)
#
# Environment:
#   SELLOCLI            the binary to time (default .build/release/sellocli; this script builds nothing)
#   BENCH_CATALOG_ROWS  clickstream rows to generate (default 2000000); the cached input is
#                       bench/cache/clickstream-<rows>.jsonl.gz, e.g. clickstream-2m.jsonl.gz
#   BENCH_REPEAT        runs per tool, the best (lowest wall) counts (default 2)
#   BENCH_CATALOG_KEYS  1 (default) also times DuckDB building the key inventory (json_tree), the
#                       part of the job the main DuckDB run leaves out; 0 skips it
#   DUCKDB_VERSION      the duckdb wheel installed into bench/venv (default 1.4.1)
#
# Prints a markdown block (machine, load, date, table, target, cross-check) and writes it to
# bench/work/catalog-last-run.md. Per-tool stderr is kept in bench/work/catalog-<tool>.err.
set -euo pipefail

BENCH_CATALOG_ROWS=${BENCH_CATALOG_ROWS:-2000000}
BENCH_REPEAT=${BENCH_REPEAT:-2}
BENCH_CATALOG_KEYS=${BENCH_CATALOG_KEYS:-1}
DUCKDB_VERSION=${DUCKDB_VERSION:-1.4.1}
SELLOCLI=${SELLOCLI:-.build/release/sellocli}

BENCH_NAME=bench_catalog
# shellcheck source=scripts/bench_lib.sh
source "$(dirname "$0")/bench_lib.sh"

[[ $BENCH_CATALOG_ROWS =~ ^[1-9][0-9]*$ ]] ||
    die "BENCH_CATALOG_ROWS must be a positive integer (got '$BENCH_CATALOG_ROWS')"
[[ $BENCH_REPEAT =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPEAT must be a positive integer (got '$BENCH_REPEAT')"
[[ $BENCH_CATALOG_KEYS =~ ^[01]$ ]] || die "BENCH_CATALOG_KEYS must be 0 or 1 (got '$BENCH_CATALOG_KEYS')"

resolve_sellocli

# --- tools -------------------------------------------------------------------------------------
need_tools

# --- input (cached) ----------------------------------------------------------------------------
GEN_ARGS=(--clickstream --rows "$BENCH_CATALOG_ROWS" --start 2019-10-01T00:00:00Z --hours 168 --seed 42 --gzip)
INPUT="bench/cache/clickstream-$(human_rows "$BENCH_CATALOG_ROWS").jsonl.gz"
cached_input "$INPUT" "$BENCH_CATALOG_ROWS" "${GEN_ARGS[@]}"

# --- DuckDB in a venv (once; the same venv as scripts/bench.sh) --------------------------------
ensure_duckdb_venv

# --- timing ------------------------------------------------------------------------------------
W=bench/work
TOOLS=(gzip igzip dryrun ingest duckdb)
((BENCH_CATALOG_KEYS)) && TOOLS+=(duckdbkeys)
# shellcheck disable=SC2016  # backticks are markdown here
declare -A LABEL=(
    [gzip]='`gzip -dc`'
    [igzip]='`igzip -dc`'
    [dryrun]='`sellocli catalog ingest --dry-run`'
    [ingest]='`sellocli catalog ingest`'
    [duckdb]="DuckDB $DUCKDB_V \`read_ndjson\`: hourly counts + catalog"
    [duckdbkeys]="DuckDB $DUCKDB_V: the same + key inventory (\`json_tree\`)"
)
TIME_PREFIX=catalog-
declare -A BEST=()   # tool -> "wall user sys maxrss_kb"

prepare() {
    case $1 in
        dryrun) rm -f "$W"/catalog-dry.db "$W"/catalog-dry.db-* "$W"/catalog-dry.db.* ;;   # -wal, -shm, .lock, .rejects.csv.gz
        ingest) rm -f "$W"/catalog.db "$W"/catalog.db-* "$W"/catalog.db.* ;;
        duckdb) rm -f "$W"/catalog.duckdb "$W"/catalog.duckdb.wal ;;
        duckdbkeys) rm -f "$W"/catalog-keys.duckdb "$W"/catalog-keys.duckdb.wal ;;
    esac
}

# The session gap and ts unit are given explicitly so that neither SELLO_* variables nor a config
# file change the semantics the DuckDB script mirrors (30 min, auto).
SELLO_FLAGS=(--quiet --session-gap 30m --ts-unit auto)
command_for() {
    case $1 in
        gzip)   CMD=(gzip -dc "$INPUT") ;;
        igzip)  CMD=(igzip -dc "$INPUT") ;;
        dryrun) CMD=("$SELLOCLI" catalog ingest --dry-run "${SELLO_FLAGS[@]}" --db "$W/catalog-dry.db" "$INPUT") ;;
        ingest) CMD=("$SELLOCLI" catalog ingest "${SELLO_FLAGS[@]}" --db "$W/catalog.db" "$INPUT") ;;
        duckdb) CMD=("$VPY" scripts/bench_catalog_duckdb.py "$INPUT" "$W/catalog.duckdb") ;;
        duckdbkeys) CMD=("$VPY" scripts/bench_catalog_duckdb.py --keys "$INPUT" "$W/catalog-keys.duckdb") ;;
    esac
}


cat "$INPUT" >/dev/null   # warm the page cache so the first tool does not pay for the disk
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
STARTED=$(date -u '+%Y-%m-%d %H:%M UTC')
for ((r = 1; r <= BENCH_REPEAT; r++)); do
    note "run $r of $BENCH_REPEAT"
    for tool in "${TOOLS[@]}"; do run_timed "$tool"; done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report ------------------------------------------------------------------------------------
DUCK_WALL=$(field duckdb 1)

SELLO_V=$("$SELLOCLI" --version 2>/dev/null | head -n 1 || true)
IGZIP_V=$(igzip --version 2>&1 | head -n 1 || true)
INPUT_MB=$(awk -v b="$(stat -c %s "$INPUT")" 'BEGIN { printf "%.1f", b / 1048576 }')
# Events without a session id (sessions derived from user_id), from the DuckDB job's log.
DERIVED=$(grep -o '[0-9]* with a user_id' "$W/catalog-duckdb.err" | head -n 1 | cut -d' ' -f1 || true)

REPORT="$W/catalog-last-run.md"
{
    echo "### Catalog benchmark $STARTED"
    echo
    echo "- machine: $(machine_line); load average before: $LOAD_BEFORE, after: $LOAD_AFTER"
    echo "- input: \`$INPUT\`, $BENCH_CATALOG_ROWS rows, $INPUT_MB MB gzip (\`sellocli gen ${GEN_ARGS[*]}\`); ${DERIVED:-?} events without session_id (derived sessions)"
    echo "- versions: sellocli ${SELLO_V:-unknown}, DuckDB $DUCKDB_V (Python, default threads), $IGZIP_V, $(gzip --version | head -n 1)"
    echo "- best of $BENCH_REPEAT run(s) each, \`/usr/bin/time\`; rows/s counts the input rows for every tool; every store is a fresh file"
    echo
    echo "| tool | wall s | user+sys CPU s | rows/s | peak RSS MB | DuckDB wall ÷ wall |"
    echo "|---|---:|---:|---:|---:|---:|"
    for tool in "${TOOLS[@]}"; do
        read -r wall user sys rss <<<"${BEST[$tool]}"
        awk -v t="${LABEL[$tool]}" -v w="$wall" -v u="$user" -v s="$sys" -v m="$rss" \
            -v n="$BENCH_CATALOG_ROWS" -v d="$DUCK_WALL" 'BEGIN {
            ww = (w < 0.01 ? 0.01 : w); dd = (d < 0.01 ? 0.01 : d)
            printf "| %s | %.2f | %.2f | %.0f | %.1f | %.2f |\n", t, w, u + s, n / ww, m / 1024, dd / ww }'
    done
    echo
    SPEEDUP=$(ratio "$DUCK_WALL" "$(field ingest 1)")
    verdict=$(awk -v v="$SPEEDUP" 'BEGIN { print (v > 1 ? "met" : "MISSED") }')
    echo "Target (issue 4): catalog ingest faster than DuckDB doing the same hourly counts (DuckDB wall ÷ ingest wall > 1): **${SPEEDUP}x, $verdict**"
    if ((BENCH_CATALOG_KEYS)); then
        echo "- against DuckDB also building the key inventory (the whole job sellocli does): $(ratio "$(field duckdbkeys 1)" "$(field ingest 1)")x"
    fi
} >"$REPORT.tmp"

# --- cross-check: the stores should agree -------------------------------------------------------
{
    echo
    echo "Cross-check, sellocli store vs DuckDB file (rows, SUM(events), SUM(sessions), SHA-256 prefix of the sorted rows):"
    echo
    echo "| table | sellocli | DuckDB | agree |"
    echo "|---|---|---|---|"
} >>"$REPORT.tmp"
agree=1
"$VPY" scripts/bench_catalog_duckdb.py --compare "$W/catalog.db" "$W/catalog.duckdb" \
    >>"$REPORT.tmp" 2>"$W/catalog-compare.err" || agree=0
if ((BENCH_CATALOG_KEYS)); then
    # Only the key inventory from the --keys file (the other tables were compared above).
    "$VPY" scripts/bench_catalog_duckdb.py --compare "$W/catalog.db" "$W/catalog-keys.duckdb" 2>>"$W/catalog-compare.err" |
        grep '^| event_keys ' >>"$REPORT.tmp" || agree=0
    grep -q '^| event_keys .* yes |$' "$REPORT.tmp" || agree=0
fi
echo >>"$REPORT.tmp"
if ((agree)); then
    echo "- sellocli and DuckDB agree on every table compared" >>"$REPORT.tmp"
else
    {
        echo "- WARNING: sellocli and DuckDB DISAGREE; differing rows:"
        sed 's/^/    /' "$W/catalog-compare.err"
    } >>"$REPORT.tmp"
fi

mv -f "$REPORT.tmp" "$REPORT"
echo
cat "$REPORT"
echo
note "DuckDB job log:"
sed 's/^/    /' "$W/catalog-duckdb.err" >&2
note "report written to $REPORT"
((agree)) || exit 1
