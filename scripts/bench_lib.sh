# Shared by scripts/bench.sh and scripts/bench_catalog.sh (sourced, not run): locating the binary,
# installing the tools, the DuckDB venv, timing one tool, and the report's helpers.
# The caller sets BENCH_NAME (log prefix) and SELLOCLI first, and defines prepare TOOL and
# command_for TOOL (which sets CMD) before calling run_timed.

die() { echo "$BENCH_NAME: $*" >&2; exit 1; }
note() { echo "$BENCH_NAME: $*" >&2; }

# A SELLOCLI given by the caller is taken relative to the caller's directory; the default is the
# repository's own release build. Then everything runs from the repository root (ROOT).
resolve_sellocli() {
    ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    if [[ $SELLOCLI != */* ]] && command -v "$SELLOCLI" >/dev/null 2>&1; then
        SELLOCLI=$(command -v "$SELLOCLI")
    elif [[ $SELLOCLI == .build/release/sellocli ]]; then
        SELLOCLI="$ROOT/$SELLOCLI"
    elif [[ $SELLOCLI != /* ]]; then
        SELLOCLI="$PWD/$SELLOCLI"
    fi
    cd "$ROOT"
    if [[ ! -x $SELLOCLI ]]; then
        die "no sellocli binary at $SELLOCLI
  build it first:  swift build -c release   (or: make bench, which builds it)
  or point SELLOCLI at one:  SELLOCLI=/path/to/sellocli bash scripts/$BENCH_NAME.sh"
    fi
}

# need_tools [sqlite3]: igzip, /usr/bin/time, gzip, python3 (and sqlite3 when asked), installed
# with apt-get when root, else a message saying what to install.
need_tools() {
    local missing_pkgs=()
    command -v igzip >/dev/null 2>&1 || missing_pkgs+=(isal)
    [[ -x /usr/bin/time ]] || missing_pkgs+=(time)
    [[ ${1:-} == sqlite3 ]] && { command -v sqlite3 >/dev/null 2>&1 || missing_pkgs+=(sqlite3); }
    command -v gzip >/dev/null 2>&1 || missing_pkgs+=(gzip)
    command -v python3 >/dev/null 2>&1 || missing_pkgs+=(python3 python3-venv)
    if ((${#missing_pkgs[@]})); then
        if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
            note "installing ${missing_pkgs[*]} (apt-get)"
            apt-get update -qq >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_pkgs[@]}" >&2
        else
            die "missing tools; install the Debian packages: ${missing_pkgs[*]}
  e.g.  sudo apt-get install -y ${missing_pkgs[*]}"
        fi
    fi
    mkdir -p bench/cache bench/work
}

human_rows() {
    local n=$1
    if ((n % 1000000 == 0)); then echo "$((n / 1000000))m"
    elif ((n % 1000 == 0)); then echo "$((n / 1000))k"
    else echo "$n"; fi
}

# cached_input PATH ROWS GEN-ARGS...: generates PATH once with `sellocli gen GEN-ARGS`
# (atomically: a temporary file renamed into place), else says the cache is used.
cached_input() {
    local path=$1 rows=$2
    shift 2
    if [[ -s $path ]]; then note "using cached $path"; return; fi
    note "generating $path ($rows rows; cached for later runs)"
    local tmp="$path.tmp.$$"
    trap 'rm -f "$tmp"' EXIT
    "$SELLOCLI" gen "$@" -o "$tmp" || die "sellocli gen failed"
    [[ -s $tmp ]] || die "sellocli gen wrote nothing to $tmp"
    mv -f "$tmp" "$path"
    trap - EXIT
}

# DuckDB in bench/venv (created once, shared by the benchmarks): sets VPY and DUCKDB_V.
ensure_duckdb_venv() {
    VENV=bench/venv
    VPY=$VENV/bin/python
    if ! "$VPY" -c "import duckdb" >/dev/null 2>&1 ||
       [[ $("$VPY" -c "import duckdb; print(duckdb.__version__)" 2>/dev/null) != "$DUCKDB_VERSION" ]]; then
        note "creating $VENV with duckdb==$DUCKDB_VERSION"
        rm -rf "$VENV"
        python3 -m venv "$VENV" ||
            die "python3 -m venv failed; install the Debian package python3-venv (apt-get install -y python3-venv)"
        "$VPY" -m pip install -q --disable-pip-version-check "duckdb==$DUCKDB_VERSION" >&2 ||
            die "pip install duckdb==$DUCKDB_VERSION failed (see 'pip index versions duckdb' for what is offered)"
    fi
    DUCKDB_V=$("$VPY" -c "import duckdb; print(duckdb.__version__)")
}

# run_timed TOOL: one timed run (files $W/$TIME_PREFIX<tool>.time/.err); keeps the lowest wall
# in BEST[TOOL] as "wall user sys maxrss_kb".
run_timed() {
    local tool=$1 tf="$W/${TIME_PREFIX:-}$1.time" err="$W/${TIME_PREFIX:-}$1.err" rc=0
    prepare "$tool"
    command_for "$tool"
    /usr/bin/time -f '%e %U %S %M' -o "$tf" "${CMD[@]}" >/dev/null 2>"$err" || rc=$?
    if ((rc != 0)); then
        echo "$BENCH_NAME: $tool failed (exit $rc): ${CMD[*]}" >&2
        tail -n 20 "$err" >&2
        exit 1
    fi
    local line
    line=$(tail -n 1 "$tf")
    note "  $tool: wall user sys rssKB = $line"
    if [[ -z ${BEST[$tool]:-} ]] || awk -v a="$line" -v b="${BEST[$tool]}" \
        'BEGIN { split(a, x, " "); split(b, y, " "); exit !(x[1] < y[1]) }'; then
        BEST[$tool]=$line
    fi
}

field() { echo "${BEST[$1]}" | awk -v i="$2" '{ print $i }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a < 0.01) a = 0.01; if (b < 0.01) b = 0.01; printf "%.2f", a / b }'; }

# "2 cores, <cpu model>, 23.5 GiB RAM, Linux <release>"
machine_line() {
    local cpu
    cpu=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)
    [[ -n $cpu ]] || cpu=$(uname -m)
    echo "$(nproc) cores, $cpu, $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r)"
}
