# sellocli verify: staged roll-out verification. On generated data the broken candidate
# (myntra/shop/android 3.3) fails exactly for the generator's reasons and the healthy one (ios 3.3)
# passes; rules files loosen tolerances or fail with exit 78 naming the line; JSON parses; crafted
# lines give a type change, --from/--to narrowing and the usage errors. Figures are checked
# independently with python over the raw JSON lines.
d=$(new_scratch)
"$SELLOCLI" gen --clickstream --rows 100000 --start 2019-10-01 --hours 24 --seed 1 --gzip -o "$d/gen.jsonl.gz" 2>/dev/null
"$SELLOCLI" catalog ingest --db "$d/g.db" -q "$d/gen.jsonl.gz"; code=$?
assert_eq "verify: ingest generated events" 0 "$code"
V=("$SELLOCLI" verify --db "$d/g.db" --tenant myntra --app shop --baseline-version 3.2 --candidate-version 3.3)
failed_checks() { awk -F, 'NR > 1 && $3 == "FAIL" { print $1 "," $2 }'; }  # stage, check and status never hold commas

# 1. The broken candidate: exit 3; FAIL rows = the generator's reasons (ClickstreamShape): no
#    addToWishlist (sent on pdp only), fewer pdp screenLoads per session (the product object rides
#    on pdp screenLoads only, so screenLoad's `product` key is carried less often too), items[].qty
#    dropped from every event with items.
"${V[@]}" --platform android --format csv > "$d/broken.csv" 2> "$d/broken.err"; code=$?
assert_eq "broken candidate: exit 3" 3 "$code"
assert_eq "broken candidate: exactly the known FAILs" "coverage,addToWishlist
coverage,addToWishlist on pdp
ratios,pdp_screenLoad_per_session
keys,addToCart: items[].qty (presence)
keys,checkoutStart: items[].qty (presence)
keys,purchase: items[].qty (presence)
keys,removeFromCart: items[].qty (presence)
keys,screenLoad: product (presence)" "$(failed_checks < "$d/broken.csv")"
assert_contains "broken: the compared hours on stderr" "$(head -1 "$d/broken.err")" \
  "myntra/shop/android 3.2 (baseline) vs 3.3 (candidate): 24 hour(s) between 2019-10-01T00:00:00Z and 2019-10-02T00:00:00Z"
assert_contains "broken: summary line last on stderr" "$(tail -1 "$d/broken.err")" "sellocli verify: 8 FAIL, "
assert_contains "broken: qty dropped says so" "$(grep '^keys,addToCart: items\[\].qty (presence),' "$d/broken.csv")" \
  ",100%,0%,-100%,"
# position on click is number ~84% / string ~16% in every version (the generator mixes it
# everywhere): not a change between 3.2 and 3.3, so PASS, with the mix noted.
pos=$(grep '^keys,click: position (type),' "$d/broken.csv")
assert_contains "broken: position type PASS (mixed in both)" "$pos" "PASS,number 8"
assert_contains "broken: position noted as mixed" "$pos" "mixed types in both versions (not a change)"
assert_eq "same store, same bytes" "$(md5sum < "$d/broken.csv")" \
  "$("${V[@]}" --platform android --format csv 2>/dev/null | md5sum)"
assert_eq "--problems-only keeps WARN and FAIL rows" "$(awk -F, 'NR == 1 || $3 != "PASS"' "$d/broken.csv")" \
  "$("${V[@]}" --platform android --format csv --problems-only 2>/dev/null)"

# 2. Independent figures from the raw JSON lines (python, not sellocli): the candidate's events,
#    exact sessions (session_id, else per user with a new session after 30 minutes without an
#    event, across versions of the app) and screenLoads (all, and on pdp) per session.
python3 - "$d/gen.jsonl.gz" > "$d/indep.txt" <<'PY'
import collections, datetime, gzip, json, sys
def secs(ts):  # the catalog's rule: ISO text, or Unix seconds / milliseconds (above 10^11), floored
    if isinstance(ts, int):
        return ts // 1000 if ts > 10**11 else ts
    return int(datetime.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp())
derived = collections.defaultdict(list)   # (tenant, app, user) -> [(t, is the candidate's)]
events = loads = pdp = 0
sessions = set()
for line in gzip.open(sys.argv[1], "rt"):
    e = json.loads(line)
    mine = (e["tenant"], e["app"], e["platform"], e["app_version"]) == ("myntra", "shop", "android", "3.3")
    if "session_id" not in e:
        derived[(e["tenant"], e["app"], e["user_id"])].append((secs(e["ts"]), mine))
    if mine:
        events += 1
        loads += e["event"] == "screenLoad"
        pdp += e["event"] == "screenLoad" and e["screen"] == "pdp"
        if "session_id" in e:
            sessions.add(e["session_id"])
for user, evs in derived.items():
    n, last = 0, None
    for t, mine in sorted(evs):
        if last is None or t - last > 1800:
            n += 1
        last = t
        if mine:
            sessions.add((user, n))
s = len(sessions)
print(events, s, "%.3f" % (loads / s), "%.3f" % (pdp / s))
PY
read -r ind_events ind_sessions ind_loads ind_pdp < "$d/indep.txt"
field() { grep "^$1," "$d/broken.csv" | cut -d, -f"$2"; }
assert_eq "independent: candidate events" "$ind_events" "$(field 'volume,events' 5)"
assert_eq "independent: candidate sessions" "$ind_sessions" "$(field 'volume,sessions' 5)"
assert_eq "independent: candidate screenLoads per session" "$ind_loads" "$(field 'ratios,screenLoad_per_session' 5)"
assert_eq "independent: candidate pdp screenLoads per session" "$ind_pdp" "$(field 'ratios,pdp_screenLoad_per_session' 5)"
# The same sessions with the sqlite3 shell over the raw session triples of the candidate's groups.
assert_eq "sqlite3: candidate sessions" "$ind_sessions" "$(sqlv "$d/g.db" "SELECT COUNT(DISTINCT session) FROM cat_hour_sessions
  WHERE grp IN (SELECT id FROM cat_groups
                WHERE tenant = 'myntra' AND app = 'shop' AND platform = 'android' AND app_version = '3.3')")"

# 3. The healthy candidate (ios 3.3, the same behaviour as 3.2): exit 0, no FAIL.
"${V[@]}" --platform ios --format csv > "$d/healthy.csv" 2> "$d/healthy.err"; code=$?
assert_eq "healthy candidate: exit 0" 0 "$code"
assert_eq "healthy candidate: no FAIL" "" "$(failed_checks < "$d/healthy.csv")"
assert_contains "healthy: summary" "$(tail -1 "$d/healthy.err")" "sellocli verify: 0 FAIL, "
assert_eq "healthy: every stage ran" "volume coverage mix ratios keys" \
  "$(cut -d, -f1 "$d/healthy.csv" | tail -n +2 | uniq | tr '\n' ' ' | sed 's/ $//')"

# 4. JSON parses; the worst status per stage.
"${V[@]}" --platform android --format json 2>/dev/null > "$d/broken.json"
assert_eq "json: stage statuses" "volume=PASS coverage=FAIL mix=WARN ratios=FAIL keys=FAIL" "$(python3 -c '
import json, sys
rows = json.load(open(sys.argv[1]))
assert all(set(r) == {"stage", "check", "status", "baseline", "candidate", "change", "threshold", "note"} for r in rows)
rank = {"PASS": 0, "WARN": 1, "FAIL": 2}
worst = {}
for r in rows:
    worst[r["stage"]] = max(worst.get(r["stage"], "PASS"), r["status"], key=rank.get)
print(" ".join("%s=%s" % kv for kv in worst.items()))' "$d/broken.json" 2>&1)"
assert_eq "json rows = csv rows" "$(($(wc -l < "$d/broken.csv") - 1))" \
  "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$d/broken.json")"

# 5. Rules files. Loosening the pdp ratio turns its FAIL into PASS (YAML); a TOML file that
#    ignores addToWishlist, skips keys and loosens the ratios makes the whole run pass.
cat > "$d/loose.yaml" <<'Y'
# the pdp screenLoad ratio may move by 70% before it warns
ratios:
  define:
    - name: pdp_screenLoad_per_session
      event: screenLoad
      screen: pdp
      warn: 70%
      fail: 80%
Y
"${V[@]}" --platform android --rules "$d/loose.yaml" --format csv > "$d/loose.csv" 2>/dev/null
assert_contains "rules: loosened ratio passes" "$(grep '^ratios,' "$d/loose.csv")" "ratios,pdp_screenLoad_per_session,PASS,"
assert_eq "rules: define replaces the default ratios" 1 "$(grep -c '^ratios,' "$d/loose.csv")"
cat > "$d/loose.toml" <<'T'
stages = ["volume", "coverage", "mix", "ratios"]
ignore_events = ["addToWishlist"]

[ratios]
warn = "70%"
fail = "80%"
T
assert_exit "rules (TOML): the whole run passes" 0 "${V[@]}" --platform android --rules "$d/loose.toml"
assert_eq "rules (TOML): no keys stage" "" \
  "$("${V[@]}" --platform android --rules "$d/loose.toml" --format csv 2>/dev/null | grep '^keys,')"
cat > "$d/strict.yaml" <<'Y'
keys:
  type_change: warn
  min_presence: 1%
ratios:
  warn: 0.5%
  fail: 1%
Y
"${V[@]}" --platform ios --rules "$d/strict.yaml" --format csv > "$d/strict.csv" 2>/dev/null; code=$?
assert_eq "rules: a stricter ratio tolerance fails the healthy candidate" 3 "$code"

# 6. Bad rules files: exit 78 naming file and line; a name without .yaml/.yml/.toml is usage (64).
cat > "$d/bad.yaml" <<'Y'
volume:
  min_events: 10
ratios:
  define:
    - name: pdp
      event: screenLoad
      per: session
Y
"${V[@]}" --platform android --rules "$d/bad.yaml" > /dev/null 2> "$d/bad.err"; code=$?
assert_eq "bad rules: exit 78" 78 "$code"
assert_contains "bad rules: names the line and key" "$(cat "$d/bad.err")" "bad.yaml:7: ratios.define[0].per: unknown key"
printf '[mix.warn]\npoints = 1\nrelative = 25\n' > "$d/bad.toml"
"${V[@]}" --platform android --rules "$d/bad.toml" > /dev/null 2> "$d/bad.err"; code=$?
assert_eq "bad rules (TOML): exit 78" 78 "$code"
assert_contains "bad rules (TOML): a bare 25 is refused" "$(cat "$d/bad.err")" \
  "bad.toml:3: mix.warn.relative: a bare number is a fraction"
printf 'mix:\n  warn: [1\n' > "$d/syntax.yaml"
assert_exit "rules: a syntax error is 78" 78 "${V[@]}" --platform android --rules "$d/syntax.yaml"
# The full rules file of `verify --help` (the defaults, two ratios defined) parses and gives the
# default verdicts on every stage but ratios.
"$SELLOCLI" verify --help | sed -n '/The full file, with the defaults:/,/^Rates are/p' | sed '1d;$d' | sed 's/^  //' \
  > "$d/help.yaml"
assert_eq "help's rules file: 33 lines" 33 "$(wc -l < "$d/help.yaml" | tr -d ' ')"
"${V[@]}" --platform android --rules "$d/help.yaml" --format csv > "$d/help.csv" 2>/dev/null; code=$?
assert_eq "help's rules file: parses, same verdicts" 3 "$code"
assert_eq "help's rules file: same rows outside ratios" "$(grep -v '^ratios,' "$d/broken.csv")" \
  "$(grep -v '^ratios,' "$d/help.csv")"
assert_eq "help's rules file: its two ratios" "pdp_screenLoad_per_session addToCart_per_session" \
  "$(grep '^ratios,' "$d/help.csv" | cut -d, -f2 | tr '\n' ' ' | sed 's/ $//')"
assert_exit "rules: a missing file is 78" 78 "${V[@]}" --platform android --rules "$d/none.yaml"
assert_exit "rules: unknown extension is usage" 64 "${V[@]}" --platform android --rules "$d/rules.json"

# 7. Arguments: unknown app, ambiguous tenant, missing baseline (64, listing what exists); a
#    candidate without events fails at volume (3); no store is 1.
"$SELLOCLI" verify --db "$d/g.db" --app nope --baseline-version 1 --candidate-version 2 > /dev/null 2> "$d/e.err"; code=$?
assert_eq "unknown app: exit 64" 64 "$code"
assert_contains "unknown app: lists the apps" "$(cat "$d/e.err")" \
  "app nope is not in the catalog; apps (tenant/app): jabong/shop, myntra/lite, myntra/shop"
assert_exit "app in two tenants without --tenant: 64" 64 \
  "$SELLOCLI" verify --db "$d/g.db" --app shop --baseline-version 3.2 --candidate-version 3.3
"${V[@]/3.2/3.1}" --platform android > /dev/null 2> "$d/e.err"; code=$?
assert_eq "baseline without events: exit 64" 64 "$code"
assert_contains "baseline without events: lists the versions" "$(cat "$d/e.err")" "versions: 3.2 ("
"${V[@]/3.3/3.9}" --platform android --format csv > "$d/none.csv" 2> "$d/e.err"; code=$?
assert_eq "candidate without events: exit 3" 3 "$code"
assert_eq "candidate without events: volume FAILs only" "volume,events
volume,sessions" "$(failed_checks < "$d/none.csv")"
assert_contains "candidate without events: says so" "$(cat "$d/e.err")" "the candidate 3.9 has no events in the store"
assert_exit "no store: exit 1" 1 "$SELLOCLI" verify --db "$d/none.db" --app shop --baseline-version 3.2 --candidate-version 3.3
assert_exit "--from after --to: usage" 64 "${V[@]}" --platform android --from 2019-10-02 --to 2019-10-01
assert_contains "verify --help: rules and examples" "$("$SELLOCLI" verify --help)" "Rules file (--rules"
assert_contains "verify --help: examples" "$("$SELLOCLI" verify --help)" "Examples:"

# 8. Crafted lines: the same clicks from 1.0 (hours 10-11) and 1.1 (hours 11-12), but 1.1 sends
#    `pos` as a string: a type change, the only FAIL. Compared hours: 11 only; --from 12 leaves none.
H10=1714557600   # 2024-05-01T10:00:00Z
click() {  # click VERSION SESSION TS POS-JSON
  printf '{"tenant":"t","app":"a","platform":"android","app_version":"%s","event":"click","screen":"home",' "$1"
  printf '"session_id":"%s","ts":%s,"body":{"pos":%s}}\n' "$2" "$3" "$4"
}
{
  for i in $(seq 1 60); do
    click 1.0 "b$i" $((H10 + i)) "$i"
    click 1.0 "b$i" $((H10 + 3600 + i)) "$i"
    click 1.1 "c$i" $((H10 + 3600 + i)) "\"$i\""
    click 1.1 "c$i" $((H10 + 7200 + i)) "\"$i\""
  done
} > "$d/crafted.jsonl"
"$SELLOCLI" catalog ingest --db "$d/c.db" -q "$d/crafted.jsonl"
cat > "$d/small.yaml" <<'Y'
volume:
  min_events: 50
ratios:
  min_sessions: 50
  define:
    - name: click_per_session
      event: click
Y
C=("$SELLOCLI" verify --db "$d/c.db" --app a --baseline-version 1.0 --candidate-version 1.1 --rules "$d/small.yaml")
"${C[@]}" --format csv > "$d/c.csv" 2> "$d/c.err"; code=$?
assert_eq "crafted: type change exits 3" 3 "$code"
assert_eq "crafted: the type change is the only FAIL" "keys,click: pos (type)" "$(failed_checks < "$d/c.csv")"
assert_contains "crafted: one compared hour" "$(head -1 "$d/c.err")" \
  "1 hour(s) between 2024-05-01T11:00:00Z and 2024-05-01T12:00:00Z"
assert_contains "crafted: dominant type change" "$(grep '^keys,click: pos (type)' "$d/c.csv")" \
  "number 100%,string 100%,changed,same dominant type; no new type >= 1%,dominant type number -> string; string appears (100%)"
assert_eq "crafted: hour-11 figures" "volume,events,PASS,60,60
volume,sessions,PASS,60,60
ratios,click_per_session,PASS,1.000,1.000" "$(grep -E '^(volume|ratios),' "$d/c.csv" | cut -d, -f1-5)"
{ cat "$d/small.yaml"; printf 'keys:\n  type_change: warn\n'; } > "$d/warn.yaml"
assert_exit "crafted: type_change warn, exit 0" 0 \
  "$SELLOCLI" verify --db "$d/c.db" --app a --baseline-version 1.0 --candidate-version 1.1 --rules "$d/warn.yaml"
"${C[@]}" --from 2024-05-01T12:00:00Z --format csv > "$d/c2.csv" 2> "$d/c2.err"; code=$?
assert_eq "crafted: --from past the common hour exits 3" 3 "$code"
assert_contains "crafted: no common hour said" "$(cat "$d/c2.err")" \
  "no hour in which both versions have events within --from/--to"
rm -rf "$d"
