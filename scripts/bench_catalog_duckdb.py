#!/usr/bin/env python3
"""`sellocli catalog ingest` written as a DuckDB user would write it (the catalog benchmark's
baseline).

Usage: bench_catalog_duckdb.py [--keys] FILE OUT.duckdb
       bench_catalog_duckdb.py --compare STORE.db OUT.duckdb   (the benchmark's cross-check)

Reads one clickstream JSON Lines file (plain or gzip) with `read_ndjson` and writes, into
OUT.duckdb (a fresh file, so the result is persisted like the sellocli store):

- event_counts_hour(bucket, tenant, app, platform, app_version, event, screen, events, sessions):
  per hour (bucket = floor(ts) rounded down to the hour, Unix seconds UTC) and group, the events
  and the exact distinct sessions;
- catalog(tenant, app, platform, app_version, event, first_seen, last_seen, events) and
  catalog_screens(tenant, app, event, screen, first_seen, last_seen, events);
- with --keys also event_keys(tenant, app, event, key_path, first_seen, last_seen, events,
  strings, numbers, bools, objects, arrays, nulls), the body key inventory, from `json_tree`.
  Without --keys the body is not read at all (sellocli always builds the inventory).

Semantics follow Sources/Transforms/Clickstream/CatalogIngestor.swift for one file on a fresh
store:
- `ts`: a JSON number or a string of digits with an optional fraction is Unix seconds, or
  milliseconds when the integer part is above 10^11 (ts_unit auto), floored to the second;
  otherwise an ISO 8601 string (`YYYY-MM-DD[T ]HH:MM:SS[.fff][Z| UTC|+hh[:mm]]`), floored.
- tenant and app default to "default", platform, app_version and screen to "" (missing, null or
  an empty string); a line without an event name or without a readable ts is rejected.
- sessions: session_id when it is a non-empty value; else, with a user_id, a derived session per
  (tenant, app, user_id): a new one when more than 1800 s (the default session_gap) passed since
  the user's previous event, in time order (sellocli's key for it is "\\x01 user \\x1F number",
  never equal to a real session id); with neither, each event is a session of its own.

Deliberate simplifications (none of them matters for `gen --clickstream` data, which has no bad
lines, objects in canonical fields, escapes in keys, or other layouts): no bad_json/bad_field/
bad_body/line_too_long rejects (DuckDB's reader fails the file on invalid JSON); no mapping; the
ISO parser is DuckDB's TIMESTAMP / TIMESTAMPTZ cast, which is more lenient than sellocli's; key
paths from json_tree's `fullkey` (`$.items[0].sku` -> `items[].sku`) would differ for keys that
hold `.`, `[` or quotes. A time before 1970 (possible with an ISO offset, `1970-01-01T00:30:00+01:00`)
is rejected here as bad_time, as sellocli's parseTime documents; sellocli 0.1.0 accepts it and puts
it in bucket 0 (a truncating division), so such a line would make the two differ.

Progress and counts go to stderr; nothing is printed on stdout (but for --compare, which prints
one markdown table row per table and exits 0 when everything agrees, 1 when not).
"""
import hashlib
import os
import sys
import time

import duckdb

SESSION_GAP = 1800
FIELDS = ["tenant", "app", "platform", "app_version", "event", "screen", "session_id", "user_id", "ts"]


def log(msg):
    print(f"bench_catalog_duckdb: {msg}", file=sys.stderr, flush=True)


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


# Public columns compared by --compare; the sort key is the whole row.
COMPARE = {
    "event_counts_hour": ["bucket", "tenant", "app", "platform", "app_version", "event", "screen",
                          "events", "sessions"],
    "catalog": ["tenant", "app", "platform", "app_version", "event", "first_seen", "last_seen", "events"],
    "catalog_screens": ["tenant", "app", "event", "screen", "first_seen", "last_seen", "events"],
    "event_keys": ["tenant", "app", "event", "key_path", "first_seen", "last_seen", "events",
                   "strings", "numbers", "bools", "objects", "arrays", "nulls"],
}


def summary(rows, cols):
    """(rows, SUM(events), SUM(sessions) or '-', sha256 prefix over the sorted rows)."""
    rows = sorted(tuple(str(v) for v in r) for r in rows)
    h = hashlib.sha256()
    for r in rows:
        h.update("\x1f".join(r).encode("utf-8", "surrogateescape") + b"\n")
    ev = sum(int(r[cols.index("events")]) for r in rows)
    se = sum(int(r[cols.index("sessions")]) for r in rows) if "sessions" in cols else "-"
    return rows, f"{len(rows)} {ev} {se} {h.hexdigest()[:12]}"


def compare(store, out):
    """Markdown rows `| table | sellocli | DuckDB | agree |`; the first differing rows to stderr."""
    import sqlite3
    s = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    s.text_factory = lambda b: b.decode("utf-8", "surrogateescape")
    d = duckdb.connect(out, read_only=True)
    have = {r[0] for r in d.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    ok = True
    for table, cols in COMPARE.items():
        if table not in have:
            continue
        q = f"SELECT {', '.join(cols)} FROM {table}"
        srows, ssum = summary(s.execute(q).fetchall(), cols)
        drows, dsum = summary(d.execute(q).fetchall(), cols)
        same = srows == drows
        ok &= same
        print(f"| {table} | {ssum} | {dsum} | {'yes' if same else '**NO**'} |")
        if not same:
            sa, da = set(srows), set(drows)
            only_s, only_d = sorted(sa - da), sorted(da - sa)
            log(f"{table}: {len(only_s)} row(s) only in sellocli, {len(only_d)} only in DuckDB; first ones:")
            for r in only_s[:5]:
                log("  sellocli: " + repr(r))
            for r in only_d[:5]:
                log("  duckdb:   " + repr(r))
    return 0 if ok else 1


def main(argv):
    args = argv[1:]
    if len(args) == 3 and args[0] == "--compare":
        return compare(args[1], args[2])
    keys = False
    if args and args[0] == "--keys":
        keys = True
        args = args[1:]
    if len(args) != 2:
        print("usage: bench_catalog_duckdb.py [--keys] FILE OUT.duckdb", file=sys.stderr)
        return 64
    src, out = args
    t_start = time.monotonic()
    with open(src, "rb") as f:
        compression = "gzip" if f.read(2) == b"\x1f\x8b" else "uncompressed"
    for suffix in ("", ".wal"):
        if os.path.exists(out + suffix):
            os.remove(out + suffix)

    con = duckdb.connect(out)
    con.execute("SET TimeZone = 'UTC'")

    # Every canonical field as text: JSON numbers and booleans arrive as their JSON text, as in
    # sellocli (ts is a number on android/ios and a string on web).
    cols = {f: "VARCHAR" for f in FIELDS}
    if keys:
        cols["body"] = "JSON"
    columns = "{" + ", ".join(f"{sql_str(k)}: {sql_str(v)}" for k, v in cols.items()) + "}"
    body_col = ", body" if keys else ""

    # 1. Parse: types, defaults, rejects. One pass over the file into a temporary table.
    con.execute(f"""
    CREATE TEMP TABLE parsed AS
    WITH src AS (
        SELECT * FROM read_ndjson({sql_str(src)}, columns = {columns},
                                  compression = {sql_str(compression)})
    ), typed AS (
        SELECT *,
            CASE
                WHEN ts IS NULL OR ts = '' THEN NULL
                -- digits with an optional fraction: seconds, or milliseconds above 10^11
                WHEN regexp_full_match(ts, '[0-9]{{1,17}}(\\.[0-9]+)?') THEN
                    CASE WHEN CAST(split_part(ts, '.', 1) AS BIGINT) > 100000000000
                         THEN CAST(split_part(ts, '.', 1) AS BIGINT) // 1000
                         ELSE CAST(split_part(ts, '.', 1) AS BIGINT) END
                WHEN length(ts) < 19 THEN NULL
                -- a numeric offset needs the (slow, ICU) TIMESTAMPTZ cast; Z and " UTC" do not
                WHEN contains(substr(ts, 20), '+') OR contains(substr(ts, 20), '-')
                    THEN CAST(floor(epoch(TRY_CAST(ts AS TIMESTAMPTZ))) AS BIGINT)
                ELSE CAST(floor(epoch(TRY_CAST(replace(ts, ' UTC', '') AS TIMESTAMP))) AS BIGINT)
            END AS t
        FROM src
    )
    SELECT
        CASE WHEN event IS NULL OR event = '' THEN 'no_event'
             WHEN ts IS NULL THEN 'no_time'
             WHEN t IS NULL OR t < 0 OR t > 253402300799 THEN 'bad_time' END AS reason,
        coalesce(nullif(tenant, ''), 'default') AS tenant,
        coalesce(nullif(app, ''), 'default') AS app,
        coalesce(platform, '') AS platform,
        coalesce(app_version, '') AS app_version,
        event,
        coalesce(screen, '') AS screen,
        nullif(session_id, '') AS sess,
        nullif(user_id, '') AS usr,
        t{body_col}
    FROM typed
    """)
    t_parse = time.monotonic()

    # 2. Hourly counts. Events with a session id (or with neither id: a session each) as they
    #    are; events with only a user id get a derived session number from a window over that
    #    user's events in time order (a gap above SESSION_GAP starts the next one).
    con.execute(f"""
    CREATE TABLE event_counts_hour AS
    WITH ev AS (SELECT * FROM parsed WHERE reason IS NULL),
    s AS (
        SELECT t, tenant, app, platform, app_version, event, screen, sess AS sk
        FROM ev WHERE sess IS NOT NULL OR usr IS NULL
        UNION ALL
        SELECT t, tenant, app, platform, app_version, event, screen,
               chr(1) || usr || chr(31)
                   || CAST(sum(new) OVER (PARTITION BY tenant, app, usr ORDER BY t
                                          ROWS UNBOUNDED PRECEDING) AS VARCHAR) AS sk
        FROM (SELECT *,
                     CASE WHEN t - lag(t) OVER (PARTITION BY tenant, app, usr ORDER BY t) <= {SESSION_GAP}
                          THEN 0 ELSE 1 END AS new
              FROM ev WHERE sess IS NULL AND usr IS NOT NULL)
    )
    SELECT t - t % 3600 AS bucket, tenant, app, platform, app_version, event, screen,
           CAST(count(*) AS BIGINT) AS events,
           CAST(count(DISTINCT sk) + count(*) FILTER (WHERE sk IS NULL) AS BIGINT) AS sessions
    FROM s
    GROUP BY ALL
    """)
    t_hours = time.monotonic()

    # 3. The catalog and the screens.
    con.execute("""
    CREATE TABLE catalog AS
    SELECT tenant, app, platform, app_version, event,
           min(t) AS first_seen, max(t) AS last_seen, CAST(count(*) AS BIGINT) AS events
    FROM parsed WHERE reason IS NULL
    GROUP BY ALL
    """)
    con.execute("""
    CREATE TABLE catalog_screens AS
    SELECT tenant, app, event, screen,
           min(t) AS first_seen, max(t) AS last_seen, CAST(count(*) AS BIGINT) AS events
    FROM parsed WHERE reason IS NULL
    GROUP BY ALL
    """)
    t_catalog = time.monotonic()

    # 4. Optional: the key inventory. Every node below the body root, array indexes made [];
    #    each (event, path, type) counted once per event.
    if keys:
        con.execute("""
        CREATE TABLE event_keys AS
        WITH ev AS (
            SELECT row_number() OVER () AS rid, tenant, app, event, t, body
            FROM parsed WHERE reason IS NULL AND body IS NOT NULL
        ), n AS (
            SELECT DISTINCT ev.rid, ev.tenant, ev.app, ev.event, ev.t,
                   regexp_replace(substr(j.fullkey, 3), '\\[[0-9]+\\]', '[]', 'g') AS key_path,
                   CASE j.type WHEN 'VARCHAR' THEN 's' WHEN 'BOOLEAN' THEN 'b' WHEN 'OBJECT' THEN 'o'
                               WHEN 'ARRAY' THEN 'a' WHEN 'NULL' THEN 'n' ELSE 'd' END AS k
            FROM ev, json_tree(ev.body) AS j
            WHERE j.fullkey <> '$'
        )
        SELECT tenant, app, event, key_path, min(t) AS first_seen, max(t) AS last_seen,
               CAST(count(DISTINCT rid) AS BIGINT) AS events,
               CAST(count(*) FILTER (WHERE k = 's') AS BIGINT) AS strings,
               CAST(count(*) FILTER (WHERE k = 'd') AS BIGINT) AS numbers,
               CAST(count(*) FILTER (WHERE k = 'b') AS BIGINT) AS bools,
               CAST(count(*) FILTER (WHERE k = 'o') AS BIGINT) AS objects,
               CAST(count(*) FILTER (WHERE k = 'a') AS BIGINT) AS arrays,
               CAST(count(*) FILTER (WHERE k = 'n') AS BIGINT) AS nulls
        FROM n
        GROUP BY ALL
        """)
    t_keys = time.monotonic()

    # Counts for the log (cheap next to the job).
    reasons = dict(con.execute(
        "SELECT coalesce(reason, 'accepted'), count(*) FROM parsed GROUP BY 1").fetchall())
    accepted = reasons.pop("accepted", 0)
    no_sess = con.execute(
        "SELECT count(*) FILTER (WHERE sess IS NULL AND usr IS NOT NULL),"
        " count(*) FILTER (WHERE sess IS NULL AND usr IS NULL) FROM parsed WHERE reason IS NULL").fetchone()
    tables = ["event_counts_hour", "catalog", "catalog_screens"] + (["event_keys"] if keys else [])
    rows = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    con.execute("DROP TABLE parsed")
    con.close()
    t_end = time.monotonic()

    log(f"duckdb {duckdb.__version__}, threads default; file {src}; key inventory {'yes' if keys else 'no'}")
    log(f"rows read {accepted + sum(reasons.values())}, accepted {accepted}, rejected {sum(reasons.values())}"
        + ("" if not reasons else " (" + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) + ")"))
    log(f"events without session_id: {no_sess[0]} with a user_id (derived sessions), {no_sess[1]} with neither")
    log("rows: " + ", ".join(f"{k} {v}" for k, v in rows.items()))
    log(f"phases: parse {t_parse - t_start:.2f}s, hours {t_hours - t_parse:.2f}s, "
        f"catalog {t_catalog - t_hours:.2f}s, keys {t_keys - t_catalog:.2f}s, counts {t_end - t_keys:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
