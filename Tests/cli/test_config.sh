# Configuration: discovery, precedence (flag > env SELLO_* > file > default), tiers added by a
# file, strict parsing with exit 78, TOML and YAML meaning the same.
d=$(new_scratch)
# cfg_get JSON_FILE PATH.TO.KEY FIELD: one field of `sellocli config --format json`.
cfg_get() { python3 -c 'import json,sys
v=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): v=v[k]
print(v[sys.argv[3]] if sys.argv[3] else v)' "$1" "$2" "${3:-}"; }
# cfg_values JSON_FILE: the effective values without sources (to compare two configs).
cfg_values() { python3 -c 'import json,sys
def strip(v):
    if isinstance(v, dict): return {k: strip(x) for k, x in v.items() if k not in ("source", "config_file")}
    if isinstance(v, list): return [strip(x) for x in v]
    return v
print(json.dumps(strip(json.load(open(sys.argv[1]))), sort_keys=True))' "$1"; }

# --- precedence, checked through `config --format json`
mkdir -p "$d/p"
env -u SELLO_DEDUPE_HORIZON -u SELLO_CONFIG -u SELLO_DB "$SELLOCLI" config --db "$d/p/s.db" --format json > "$d/c0.json"; code=$?
assert_eq "config without a file exits 0" 0 "$code"
assert_eq "default horizon" "86400" "$(cfg_get "$d/c0.json" dedupe_horizon seconds)"
assert_eq "default source" "default" "$(cfg_get "$d/c0.json" dedupe_horizon source)"
assert_eq "default tiers" "minute hour day" "$(python3 -c 'import json,sys; print(" ".join(t["name"] for t in json.load(open(sys.argv[1]))["tiers"]["value"]))' "$d/c0.json")"
printf 'dedupe_horizon = "12h"\nmax_reject_rate = "10%%"\n' > "$d/p/sello.toml"
"$SELLOCLI" config --db "$d/p/s.db" --format json > "$d/c1.json"
assert_eq "file beats default" "43200" "$(cfg_get "$d/c1.json" dedupe_horizon seconds)"
assert_eq "file source names file and line" "file $d/p/sello.toml:1" "$(cfg_get "$d/c1.json" dedupe_horizon source)"
assert_eq "rate from file" "0.1" "$(cfg_get "$d/c1.json" max_reject_rate value)"
assert_eq "accepted lateness follows the horizon" "43200" "$(cfg_get "$d/c1.json" accepted_lateness seconds)"
SELLO_DEDUPE_HORIZON=6h "$SELLOCLI" config --db "$d/p/s.db" --format json > "$d/c2.json"
assert_eq "env beats file" "21600" "$(cfg_get "$d/c2.json" dedupe_horizon seconds)"
assert_eq "env source" "env SELLO_DEDUPE_HORIZON" "$(cfg_get "$d/c2.json" dedupe_horizon source)"
SELLO_DEDUPE_HORIZON=6h "$SELLOCLI" config --db "$d/p/s.db" --dedupe-horizon 2h --format json > "$d/c3.json"
assert_eq "flag beats env" "7200" "$(cfg_get "$d/c3.json" dedupe_horizon seconds)"
assert_eq "flag source" "flag --dedupe-horizon" "$(cfg_get "$d/c3.json" dedupe_horizon source)"
assert_eq "file still gives the rate" "file $d/p/sello.toml:2" "$(cfg_get "$d/c3.json" max_reject_rate source)"
# $SELLO_DB decides where the file is looked for; --config and $SELLO_CONFIG name it.
(cd "$d" && SELLO_DB=p/s.db "$SELLOCLI" config --format json > "$d/c4.json")
assert_eq "file found beside \$SELLO_DB" "43200" "$(cfg_get "$d/c4.json" dedupe_horizon seconds)"
printf 'dedupe_horizon = "3h"\n' > "$d/other.toml"
SELLO_CONFIG="$d/other.toml" "$SELLOCLI" config --db "$d/p/s.db" --format json > "$d/c5.json"
assert_eq "\$SELLO_CONFIG beats discovery" "10800" "$(cfg_get "$d/c5.json" dedupe_horizon seconds)"
SELLO_CONFIG="$d/other.toml" "$SELLOCLI" config --db "$d/p/s.db" --config "$d/p/sello.toml" --format json > "$d/c6.json"
assert_eq "--config beats \$SELLO_CONFIG" "43200" "$(cfg_get "$d/c6.json" dedupe_horizon seconds)"
# The TOML output is itself a config file giving the same values.
"$SELLOCLI" config --db "$d/p/s.db" > "$d/round.toml"
"$SELLOCLI" config --db "$d/p/s.db" --config "$d/round.toml" --format json > "$d/c7.json"
assert_eq "toml output reads back the same" "$(cfg_values "$d/c1.json")" "$(cfg_values "$d/c7.json")"

# --- errors: exit 78 naming the key / the files
printf 'dedupe_horizn = "12h"\n' > "$d/p/sello.toml"
err=$("$SELLOCLI" config --db "$d/p/s.db" 2>&1 >/dev/null); code=$?
assert_eq "unknown key exit" 78 "$code"
assert_contains "unknown key named with line" "$err" "sello.toml:1: dedupe_horizn: unknown key"
assert_contains "did you mean" "$err" "did you mean dedupe_horizon?"
err=$("$SELLOCLI" top --db "$d/p/s.db" 2>&1 >/dev/null); code=$?
assert_eq "a bad config fails top with 78 too" 78 "$code"
printf '[archive]\npartition = "week"\n' > "$d/p/sello.toml"
err=$("$SELLOCLI" ingest --db "$d/p/s.db" "$SAMPLES/generated-2019-10-02.jsonl" 2>&1); code=$?
assert_eq "bad value fails ingest with 78" 78 "$code"
assert_contains "bad value named" "$err" "sello.toml:2: archive.partition: expected hour or day"
assert_eq "nothing ingested with a bad config" "no" "$([ -e "$d/p/s.db" ] && echo yes || echo no)"
printf 'dedupe_horizon = "12h"\n' > "$d/p/sello.toml"
printf 'dedupe_horizon: 12h\n' > "$d/p/sello.yaml"
err=$("$SELLOCLI" config --db "$d/p/s.db" 2>&1 >/dev/null); code=$?
assert_eq "two config files exit" 78 "$code"
assert_contains "two config files named" "$err" "$d/p/sello.toml, $d/p/sello.yaml"
rm "$d/p/sello.yaml"
err=$(SELLO_DEDUPE_HORIZON=soon "$SELLOCLI" config --db "$d/p/s.db" 2>&1 >/dev/null); code=$?
assert_eq "bad env value exit" 78 "$code"
assert_contains "bad env value named" "$err" "\$SELLO_DEDUPE_HORIZON"
assert_exit "bad flag value is a usage error" 64 "$SELLOCLI" config --db "$d/p/s.db" --dedupe-horizon soon
assert_exit "missing --config file" 78 "$SELLOCLI" config --db "$d/p/s.db" --config "$d/none.toml"
printf 'tiers:\n  - name: minute\n    width: 1m\n    retention: {a: 1}\n' > "$d/bad.yaml"
err=$("$SELLOCLI" config --config "$d/bad.yaml" 2>&1 >/dev/null); code=$?
assert_eq "yaml outside the subset exit" 78 "$code"
assert_contains "yaml error names line" "$err" "bad.yaml:4: flow mappings"
rm -f "$d/p/sello.toml"

# --- the same configuration in TOML and YAML
mkdir -p "$d/t" "$d/y"
cat > "$d/t/sello.toml" <<'TOML'
# tiers with a 15-minute one
dedupe_horizon = "24h"
max_reject_rate = 0.05
[[tiers]]
name = "minute"
width = "1m"
retention = "24h"
[[tiers]]
name = "quarter"
width = "15m"
retention = "7d"
[[tiers]]
name = "hour"
width = "1h"
retention = "31d"
[[tiers]]
name = "day"
width = "1d"
retention = "unlimited"
[archive]
partition = "day"
[run]
surge_bytes = "1GiB"
interval = "30s"
TOML
cat > "$d/y/sello.yaml" <<'YAML'
# tiers with a 15-minute one
dedupe_horizon: 24h
max_reject_rate: 0.05
tiers:
  - name: minute
    width: 1m
    retention: 24h
  - name: quarter
    width: "15m"
    retention: 7d
  - {name: hour}   # replaced below
YAML
# (flow mappings are outside the subset: the file above must fail, then the block form works)
assert_exit "yaml flow mapping rejected" 78 "$SELLOCLI" config --db "$d/y/s.db"
cat > "$d/y/sello.yaml" <<'YAML'
# tiers with a 15-minute one
dedupe_horizon: 24h
max_reject_rate: 0.05
tiers:
- name: minute
  width: 1m
  retention: 24h
- name: quarter
  width: "15m"
  retention: 7d
- name: hour
  width: 1h
  retention: 31d
- name: 'day'
  width: 1d
  retention: unlimited
archive:
  partition: day
run:
  surge_bytes: 1GiB   # 2^30 bytes
  interval: 30s
YAML
"$SELLOCLI" config --db "$d/t/s.db" --format json > "$d/tj.json"; c1=$?
"$SELLOCLI" config --db "$d/y/s.db" --format json > "$d/yj.json"; c2=$?
assert_eq "toml and yaml exit 0" "0 0" "$c1 $c2"
sed -i "s#$d/[ty]/##g" "$d/tj.json" "$d/yj.json"  # archive dir beside each store
assert_eq "toml and yaml give the same effective config" "$(cfg_values "$d/tj.json")" "$(cfg_values "$d/yj.json")"
assert_eq "yaml source line" "file sello.yaml:20" "$(cfg_get "$d/yj.json" run.surge_bytes source)"

# --- a 15-minute tier added by the file: stats_quarter, and its sums equal the minutes'
out=$("$SELLOCLI" ingest --db "$d/t/s.db" "$SAMPLES/generated-2019-10-01.csv.gz" "$SAMPLES/generated-2019-10-02.jsonl" 2>&1); code=$?
assert_eq "ingest with a quarter tier" 0 "$code"
assert_eq "tiers table records the quarter" "900" "$(sqlv "$d/t/s.db" "SELECT width FROM tiers WHERE name='quarter'")"
assert_eq "stats_quarter has rows" "yes" "$(sqlv "$d/t/s.db" "SELECT CASE WHEN COUNT(*) > 100 THEN 'yes' ELSE 'no' END FROM stats_quarter")"
assert_eq "quarter buckets are multiples of 900 s" "0" "$(sqlv "$d/t/s.db" "SELECT COUNT(*) FROM stats_quarter WHERE bucket % 900 <> 0")"
q_minus_m="SELECT bucket, event_type, dimension, key, events, value_cents FROM stats_quarter EXCEPT
  SELECT bucket / 900 * 900, event_type, dimension, key, SUM(events), SUM(value_cents) FROM stats_minute GROUP BY 1, 2, 3, 4"
m_minus_q="SELECT bucket / 900 * 900, event_type, dimension, key, SUM(events), SUM(value_cents) FROM stats_minute GROUP BY 1, 2, 3, 4
  EXCEPT SELECT bucket, event_type, dimension, key, events, value_cents FROM stats_quarter"
assert_eq "quarter rows = minute sums (one way)" "0" "$(sqlv "$d/t/s.db" "SELECT COUNT(*) FROM ($q_minus_m)")"
assert_eq "quarter rows = minute sums (other way)" "0" "$(sqlv "$d/t/s.db" "SELECT COUNT(*) FROM ($m_minus_q)")"
assert_eq "quarter total GMV = day total GMV" \
  "$(sqlv "$d/t/s.db" "SELECT SUM(value_cents) FROM stats_day WHERE event_type='purchase' AND dimension='brand'")" \
  "$(sqlv "$d/t/s.db" "SELECT SUM(value_cents) FROM stats_quarter WHERE event_type='purchase' AND dimension='brand'")"
out=$("$SELLOCLI" series --db "$d/t/s.db" --event purchase --dim category_l1 --tier quarter --format csv 2>&1); code=$?
assert_eq "series --tier quarter" 0 "$code"
assert_contains "series quarter buckets" "$out" "2019-10-01T"
assert_exit "top --tier not configured" 64 "$SELLOCLI" top --db "$d/t/s.db" --tier fortnight
# The same store read with the default tiers: quarter is not configured there.
assert_exit "quarter unknown without the file" 64 "$SELLOCLI" top --db "$d/t/s.db" --config "$d/round.toml" --tier quarter
# sql sees the view by name
assert_eq "sql on stats_quarter" "$(sqlv "$d/t/s.db" "SELECT COUNT(DISTINCT bucket / 900) FROM stats_minute")" \
  "$("$SELLOCLI" sql --db "$d/t/s.db" --format csv "SELECT COUNT(DISTINCT bucket) AS n FROM stats_quarter" 2>&1 | tail -1)"

# Adding a tier to a store made with the default tiers (the next ingest creates and fills it).
# Fails until SQLiteStore stops writing tiers.id = position in the list (UNIQUE constraint).
mkdir -p "$d/a"
"$SELLOCLI" ingest -q --db "$d/a/s.db" "$SAMPLES/generated-2019-10-01.csv.gz"
cp "$d/t/sello.toml" "$d/a/sello.toml"
out=$("$SELLOCLI" ingest -q --db "$d/a/s.db" "$SAMPLES/generated-2019-10-02.jsonl" 2>&1); code=$?
assert_eq "adding a tier to an existing store ($(echo "$out" | head -c 200))" 0 "$code"

# --- warnings: a tier kept less than the dedupe horizon / accepted lateness
mkdir -p "$d/w"
printf 'accepted_lateness = "2d"\n[[tiers]]\nname = "minute"\nwidth = "1m"\nretention = "12h"\n[[tiers]]\nname = "day"\nwidth = "1d"\n' > "$d/w/sello.toml"
err=$("$SELLOCLI" config --db "$d/w/s.db" 2>&1 >/dev/null); code=$?
assert_eq "warnings do not fail" 0 "$code"
assert_contains "warning: retention < horizon" "$err" "warning: tier minute keeps 12h, less than the dedupe horizon (1d)"
assert_contains "warning: retention < lateness" "$err" "warning: tier minute keeps 12h, less than the accepted lateness (2d)"
err=$("$SELLOCLI" ingest --db "$d/w/s.db" "$SAMPLES/generated-2019-10-02.jsonl" 2>&1); code=$?
assert_eq "ingest with warnings" 0 "$code"
assert_contains "ingest prints the warning" "$err" "warning: tier minute keeps 12h"
assert_eq "only the configured tiers exist" "day minute" "$(sqlv "$d/w/s.db" "SELECT group_concat(name, ' ') FROM (SELECT name FROM tiers ORDER BY name)")"
# Flag overrides of ingest settings still work next to a file.
out=$("$SELLOCLI" config --db "$d/w/s.db" --max-reject-rate 100% --format json 2>/dev/null)
assert_contains "flag rate" "$out" '"max_reject_rate": {"value": 1.0, "source": "flag --max-reject-rate"}'
rm -rf "$d"
