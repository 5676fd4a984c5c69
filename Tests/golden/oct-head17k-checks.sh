#!/usr/bin/env bash
# Headline checks of a sellocli store against the raw October sample, computed independently with
# the sqlite3 shell straight from the raw CSV (no sellocli, no scripts/reference.py).
#
#   Tests/golden/oct-head17k-checks.sh STORE.db [SAMPLE.csv]
#
# STORE.db must have ingested the sample (alone). SAMPLE defaults to
# /work/shared/samples/rees46-2019-oct-head17k.csv. Prints one line per check and
# `N passed, M failed` last; exits non-zero on any failure.
#
# Prices in this sample all have exactly two decimals (checked first), so
# CAST(REPLACE(price,'.','') AS INTEGER) is their exact value in cents. Event times are all
# `YYYY-MM-DD HH:MM:SS UTC`, so text order is time order.
set -u

store=${1:?usage: $0 STORE.db [SAMPLE.csv]}
sample=${2:-/work/shared/samples/rees46-2019-oct-head17k.csv}
[ -r "$store" ] || { echo "no store: $store" >&2; exit 2; }
[ -r "$sample" ] || { echo "no sample: $sample" >&2; exit 2; }
command -v sqlite3 >/dev/null || { echo "sqlite3 shell not found" >&2; exit 2; }

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
raw="$scratch/raw.db"
sqlite3 "$raw" ".import --csv '$sample' raw" || { echo "import failed" >&2; exit 2; }

# A helper view over raw rows: cents, epoch seconds, and the deduped-view rank.
sqlite3 "$raw" "
CREATE VIEW ev AS
  SELECT *, CAST(REPLACE(price, '.', '') AS INTEGER) AS cents,
         CAST(strftime('%s', substr(event_time, 1, 19)) AS INTEGER) AS t
  FROM raw;
CREATE VIEW counted_views AS
  SELECT * FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY user_session, product_id ORDER BY event_time, cents) AS rn
    FROM ev WHERE event_type = 'view' AND user_session <> '')
  WHERE rn = 1
  UNION ALL
  SELECT *, 1 FROM ev WHERE event_type = 'view' AND user_session = '';
" || exit 2

pass=0
fail=0
q_raw() { sqlite3 -batch "$raw" "$1"; }
q_store() { sqlite3 -batch -readonly "$store" "$1"; }
check() { # name expected actual
  if [ "$2" = "$3" ]; then
    pass=$((pass + 1)); echo "ok   $1: $2"
  else
    fail=$((fail + 1)); echo "FAIL $1: expected [$2] got [$3]"
  fi
}

check "sample prices all have two decimals (precondition)" 0 \
  "$(q_raw "SELECT COUNT(*) FROM raw WHERE price NOT GLOB '[0-9]*.[0-9][0-9]' OR price GLOB '*.*.*'")"

purchases=$(q_raw "SELECT COUNT(*), SUM(cents) FROM ev WHERE event_type = 'purchase'")
check "purchases count|GMV, stats_day by brand" "$purchases" \
  "$(q_store "SELECT SUM(events), SUM(value_cents) FROM stats_day WHERE event_type='purchase' AND dimension='brand'")"
check "purchases count|GMV, stats_hour by product_id" "$purchases" \
  "$(q_store "SELECT SUM(events), SUM(value_cents) FROM stats_hour WHERE event_type='purchase' AND dimension='product_id'")"
check "purchases count|GMV, stats_minute by category_l3" "$purchases" \
  "$(q_store "SELECT SUM(events), SUM(value_cents) FROM stats_minute WHERE event_type='purchase' AND dimension='category_l3'")"

check "carts count|value, stats_day by category_l1" \
  "$(q_raw "SELECT COUNT(*), SUM(cents) FROM ev WHERE event_type = 'cart'")" \
  "$(q_store "SELECT SUM(events), SUM(value_cents) FROM stats_day WHERE event_type='cart' AND dimension='category_l1'")"

check "deduped views count|value, stats_day by brand" \
  "$(q_raw "SELECT COUNT(*), SUM(cents) FROM counted_views")" \
  "$(q_store "SELECT SUM(events), SUM(value_cents) FROM stats_day WHERE event_type='view' AND dimension='brand'")"

check "deduped (session,product) pairs + empty-session views = view events, stats_hour by product_id" \
  "$(q_raw "SELECT (SELECT COUNT(*) FROM (SELECT DISTINCT user_session, product_id FROM raw WHERE event_type='view' AND user_session<>''))
                 + (SELECT COUNT(*) FROM raw WHERE event_type='view' AND user_session='')")" \
  "$(q_store "SELECT SUM(events) FROM stats_hour WHERE event_type='view' AND dimension='product_id'")"

check "view count|GMV in hour 2019-10-01T00, stats_hour by category_l2" \
  "$(q_raw "SELECT COUNT(*), SUM(cents) FROM counted_views WHERE t / 3600 * 3600 = 1569888000")" \
  "$(q_store "SELECT SUM(events), SUM(value_cents) FROM stats_hour WHERE bucket=1569888000 AND event_type='view' AND dimension='category_l2'")"

check "purchases per hour (bucket:count:cents)" \
  "$(q_raw "SELECT group_concat(b || ':' || n || ':' || v, ' ') FROM (
              SELECT t / 3600 * 3600 AS b, COUNT(*) AS n, SUM(cents) AS v FROM ev
              WHERE event_type='purchase' GROUP BY b ORDER BY b)")" \
  "$(q_store "SELECT group_concat(bucket || ':' || events || ':' || value_cents, ' ') FROM (
              SELECT bucket, SUM(events) AS events, SUM(value_cents) AS value_cents FROM stats_hour
              WHERE event_type='purchase' AND dimension='category_l1' GROUP BY bucket ORDER BY bucket)")"

check "distinct purchased products = purchase rows of stats_day by product_id" \
  "$(q_raw "SELECT COUNT(DISTINCT product_id) FROM raw WHERE event_type='purchase'")" \
  "$(q_store "SELECT COUNT(*) FROM stats_day WHERE event_type='purchase' AND dimension='product_id'")"

check "purchase GMV by category_l1 (key:cents, top 5)" \
  "$(q_raw "SELECT group_concat(k || ':' || v, ' ') FROM (
              SELECT CASE WHEN category_code = '' THEN (CASE WHEN category_id = '' THEN 'unknown' ELSE category_id END)
                          ELSE substr(category_code, 1, instr(category_code || '.', '.') - 1) END AS k,
                     SUM(cents) AS v
              FROM ev WHERE event_type='purchase' GROUP BY k ORDER BY v DESC, k LIMIT 5)")" \
  "$(q_store "SELECT group_concat(key || ':' || v, ' ') FROM (
              SELECT key, SUM(value_cents) AS v FROM stats_day
              WHERE event_type='purchase' AND dimension='category_l1' GROUP BY key ORDER BY v DESC, key LIMIT 5)")"

check "empty brand -> product id: purchases whose brand key is their product id" \
  "$(q_raw "SELECT COUNT(*) FROM raw WHERE event_type='purchase' AND (brand='' OR brand=product_id)")" \
  "$(q_store "SELECT COALESCE(SUM(events), 0) FROM stats_day
              WHERE event_type='purchase' AND dimension='brand'
                AND key IN (SELECT key FROM stats_day WHERE event_type='purchase' AND dimension='product_id')")"

check "event types present" \
  "$(q_raw "SELECT group_concat(event_type, ',') FROM (SELECT DISTINCT event_type FROM raw ORDER BY 1)")" \
  "$(q_store "SELECT group_concat(event_type, ',') FROM (SELECT DISTINCT event_type FROM stats_day ORDER BY 1)")"

check "first|last minute bucket" \
  "$(q_raw "SELECT MIN(t) / 60 * 60, MAX(t) / 60 * 60 FROM ev")" \
  "$(q_store "SELECT MIN(bucket), MAX(bucket) FROM stats_minute")"

check "minute tier sums to hour tier (events|cents per type and dimension)" \
  "$(q_store "SELECT group_concat(x, ' ') FROM (SELECT event_type || '/' || dimension || '/' || SUM(events) || '/' || SUM(value_cents) AS x
              FROM stats_hour GROUP BY event_type, dimension ORDER BY 1)")" \
  "$(q_store "SELECT group_concat(x, ' ') FROM (SELECT event_type || '/' || dimension || '/' || SUM(events) || '/' || SUM(value_cents) AS x
              FROM stats_minute GROUP BY event_type, dimension ORDER BY 1)")"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
