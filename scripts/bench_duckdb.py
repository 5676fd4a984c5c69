#!/usr/bin/env python3
"""The sellocli ingest job written as a DuckDB user would write it (the benchmark's baseline).

Usage: bench_duckdb.py FILE OUT.duckdb

Reads one REES46 CSV (plain or gzip), rejects, cleans, dedupes views per (session, product) and
aggregates into stats_minute / stats_hour / stats_day in OUT.duckdb, following
shared/spec/retail-semantics.md for a single file in one pass (no store state, no retention).
Columns: bucket BIGINT (Unix seconds, bucket start), event_type VARCHAR, dimension VARCHAR,
key VARCHAR, events BIGINT, value_cents BIGINT.

Deliberate simplifications (they do not matter for REES46-shaped data):
- `event_time` is TRY_CAST to TIMESTAMP after dropping ` UTC` (this takes
  `YYYY-MM-DD HH:MM:SS[ UTC]` and ISO 8601 with Z); a time with a numeric offset after the
  seconds goes through TIMESTAMPTZ instead (session time zone UTC). Values shorter than 19
  characters (a bare date) are rejected. Fractions of a second are dropped.
- `product_id` must be ASCII digits only (DuckDB's own cast would round `12.5` to 13).
- `price` may hold only digits, `.` and `-`, and must cast to DECIMAL (so `1e2` or ` 3` are
  rejected); a leading `-` makes it negative unless it is zero. DuckDB's string -> DECIMAL(18,2)
  cast rounds on the first dropped digit, which is exactly "halves away from zero".
- A JSON Lines input is not handled (the benchmark feeds CSV).

Progress and counts go to stderr; nothing is printed on stdout.
"""
import gzip
import os
import sys
import time

import duckdb

REQUIRED = ["event_time", "event_type", "product_id", "price"]
OPTIONAL = ["category_id", "category_code", "brand", "user_id", "user_session"]
TIERS = [("stats_minute", 60), ("stats_hour", 3600), ("stats_day", 86400)]


def log(msg):
    print(f"bench_duckdb: {msg}", file=sys.stderr, flush=True)


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


def sql_ident(s):
    return '"' + s.replace('"', '""') + '"'


def read_header(path):
    """Header names and the compression read_csv should use (detected from the first bytes)."""
    with open(path, "rb") as f:
        magic = f.read(2)
    gz = magic == b"\x1f\x8b"
    opener = gzip.open if gz else open
    with opener(path, "rb") as f:
        line = f.readline()
    text = line.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    text = text.rstrip("\r\n")
    names = [n.strip().strip('"') for n in text.split(",")]
    return names, ("gzip" if gz else "none")


def main(argv):
    if len(argv) != 3:
        print("usage: bench_duckdb.py FILE OUT.duckdb", file=sys.stderr)
        return 64
    src, out = argv[1], argv[2]
    t_start = time.monotonic()

    names, compression = read_header(src)
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        log(f"{src}: header lacks {', '.join(missing)}; the file fails as a whole")
        return 1

    for suffix in ("", ".wal"):
        if os.path.exists(out + suffix):
            os.remove(out + suffix)
    con = duckdb.connect(out)
    con.execute("SET TimeZone = 'UTC'")  # TIMESTAMPTZ casts of zone-less times mean UTC
    con.execute("SET enable_progress_bar = false")

    # Every header column is read as text, matched by name; unnamed/extra columns are ignored.
    col_names = [n if n else f"column{i}" for i, n in enumerate(names)]
    columns = "{" + ", ".join(f"{sql_str(n)}: 'VARCHAR'" for n in col_names) + "}"

    def col(n):
        return sql_ident(n) if n in col_names else "NULL::VARCHAR"

    # 1. Parse and classify every row once. Rows whose field count differs from the header's are
    #    skipped by the reader and recorded in reject_errors (store_rejects).
    parse_sql = f"""
    CREATE TEMP TABLE parsed AS
    WITH src AS (
        SELECT
            {col('event_time')} AS event_time_raw,
            lower({col('event_type')}) AS event_type,
            {col('product_id')} AS product_id_raw,
            {col('category_id')} AS category_id,
            {col('category_code')} AS category_code,
            {col('brand')} AS brand_raw,
            {col('price')} AS price_raw,
            {col('user_session')} AS user_session
        FROM read_csv({sql_str(src)},
            header = true, auto_detect = false, columns = {columns},
            delim = ',', quote = '"', escape = '"', compression = {sql_str(compression)},
            store_rejects = true)
    ), typed AS (
        SELECT *,
            -- Plain TIMESTAMP casts are fast but ignore a numeric offset; the (slow, ICU)
            -- TIMESTAMPTZ cast is only used for the rare times that carry one.
            CASE WHEN length(event_time_raw) < 19 THEN NULL
                 WHEN contains(substr(event_time_raw, 20), '+')
                      OR contains(substr(event_time_raw, 20), '-')
                 THEN floor(epoch(TRY_CAST(event_time_raw AS TIMESTAMPTZ)))
                 ELSE floor(epoch(TRY_CAST(replace(event_time_raw, ' UTC', '') AS TIMESTAMP)))
            END AS epoch_s,
            CASE WHEN product_id_raw <> '' AND ltrim(product_id_raw, '0123456789') = ''
                 THEN TRY_CAST(product_id_raw AS BIGINT) END AS product_id,
            CASE WHEN ltrim(price_raw, '-0123456789.') = ''
                 THEN TRY_CAST(price_raw AS DECIMAL(18, 2)) END AS price,
            CASE WHEN coalesce(category_code, '') = '' THEN NULL
                 ELSE string_split(category_code, '.') END AS segs
        FROM src
    )
    SELECT
        CASE
            WHEN epoch_s IS NULL THEN 'bad_time'
            WHEN event_type IS NULL
                 OR event_type NOT IN ('view', 'cart', 'remove_from_cart', 'purchase')
                THEN 'bad_event_type'
            WHEN product_id IS NULL THEN 'bad_product_id'
            WHEN price IS NULL THEN 'bad_price'
            WHEN starts_with(price_raw, '-') AND TRY_CAST(price_raw AS DECIMAL(38, 18)) < 0
                THEN 'negative_price'
        END AS reason,
        CAST(epoch_s AS BIGINT) AS t,
        event_type,
        product_id,
        CAST(price * 100 AS BIGINT) AS cents,
        coalesce(nullif(brand_raw, ''), CAST(product_id AS VARCHAR)) AS brand,
        CASE WHEN segs IS NULL THEN coalesce(nullif(category_id, ''), 'unknown')
             ELSE segs[1] END AS l1,
        CASE WHEN segs IS NULL THEN coalesce(nullif(category_id, ''), 'unknown')
             ELSE segs[1] || '.' || segs[least(2, len(segs))] END AS l2,
        CASE WHEN segs IS NULL THEN coalesce(nullif(category_id, ''), 'unknown')
             ELSE segs[1] || '.' || segs[least(2, len(segs))] || '.' || segs[least(3, len(segs))]
        END AS l3,
        coalesce(user_session, '') AS user_session
    FROM typed
    """
    con.execute(parse_sql)
    t_parse = time.monotonic()

    # 2. Session view dedupe: per (session, product) keep the smallest (time, price, brand, l1,
    #    l2, l3), i.e. the earliest view, ties by lowest price. A grouped min() over a struct is a
    #    hash aggregate; ROW_NUMBER() OVER (PARTITION BY ...) gives the same rows, sorted.
    #    Non-view events and sessionless views pass through untouched.
    con.execute("""
    CREATE TEMP TABLE events AS
    SELECT t, event_type, product_id, cents, brand, l1, l2, l3
    FROM parsed
    WHERE reason IS NULL AND NOT (event_type = 'view' AND user_session <> '')
    UNION ALL
    SELECT m.t, 'view', product_id, m.cents, m.brand, m.l1, m.l2, m.l3
    FROM (
        SELECT user_session, product_id,
               min(struct_pack(t := t, cents := cents, brand := brand,
                               l1 := l1, l2 := l2, l3 := l3)) AS m
        FROM parsed
        WHERE reason IS NULL AND event_type = 'view' AND user_session <> ''
        GROUP BY user_session, product_id
    )
    """)
    t_dedupe = time.monotonic()

    # 3. Aggregates. Minutes from the events, one grouped query per dimension (UNION ALL; it
    #    measured faster here than UNPIVOT, and product ids are grouped as integers and turned
    #    into text afterwards); hours and days are sums of minutes (the measures are additive).
    #    Buckets are floors, also below 0.
    per_dim = " UNION ALL ".join(f"""
        SELECT bucket, event_type, '{dim}' AS dimension, {key_out} AS key, events, value_cents
        FROM (SELECT t - ((t % 60) + 60) % 60 AS bucket, event_type, {key} AS k,
                     CAST(count(*) AS BIGINT) AS events, CAST(sum(cents) AS BIGINT) AS value_cents
              FROM events GROUP BY 1, 2, 3)"""
        for dim, key, key_out in [
            ("product_id", "product_id", "CAST(k AS VARCHAR)"),
            ("brand", "brand", "k"),
            ("category_l1", "l1", "k"),
            ("category_l2", "l2", "k"),
            ("category_l3", "l3", "k"),
        ])
    con.execute(f"CREATE TABLE stats_minute AS {per_dim}")
    prev = "stats_minute"
    for name, width in TIERS[1:]:
        con.execute(f"""
        CREATE TABLE {name} AS
        SELECT bucket - ((bucket % {width}) + {width}) % {width} AS bucket,
               event_type, dimension, key,
               CAST(sum(events) AS BIGINT) AS events,
               CAST(sum(value_cents) AS BIGINT) AS value_cents
        FROM {prev}
        GROUP BY 1, event_type, dimension, key
        """)
        prev = name
    t_agg = time.monotonic()

    # Counts for the log (cheap next to the job).
    reasons = con.execute(
        "SELECT coalesce(reason, 'accepted'), count(*) FROM parsed GROUP BY 1 ORDER BY 1"
    ).fetchall()
    csv_rejects = con.execute(
        "SELECT count(DISTINCT (scan_id, file_id, line)) FROM reject_errors"
    ).fetchone()[0]
    counts = dict(reasons)
    accepted = counts.pop("accepted", 0)
    rejected = sum(counts.values()) + csv_rejects
    if csv_rejects:
        counts["field_count"] = csv_rejects
    views_in, views_kept = con.execute("""
        SELECT (SELECT count(*) FROM parsed WHERE reason IS NULL AND event_type = 'view'),
               (SELECT count(*) FROM events WHERE event_type = 'view')
    """).fetchone()
    tier_rows = {name: con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
                 for name, _ in TIERS}
    con.close()
    t_end = time.monotonic()

    log(f"duckdb {duckdb.__version__}, threads default; file {src}")
    log(f"rows read {accepted + rejected}, accepted {accepted}, rejected {rejected}"
        + ("" if not counts else " (" + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ")"))
    log(f"views accepted {views_in}, after session dedupe {views_kept} "
        f"(merged {views_in - views_kept})")
    log("stat rows: " + ", ".join(f"{k} {v}" for k, v in tier_rows.items()))
    log(f"phases: parse {t_parse - t_start:.2f}s, dedupe {t_dedupe - t_parse:.2f}s, "
        f"aggregate {t_agg - t_dedupe:.2f}s, counts {t_end - t_agg:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
