# sellocli catalog ingest: the clickstream catalog. Order independence, known answers, idempotency,
# a Divolte export through a mapping, derived sessions (30-minute gap), rejects with reasons.
d=$(new_scratch)
cat_dump() {
  sqlite3 -batch "$1" "SELECT * FROM catalog ORDER BY 1,2,3,4,5;
    SELECT * FROM event_counts_hour ORDER BY 1,2,3,4,5,6,7,8;
    SELECT * FROM event_keys ORDER BY 1,2,3,4;
    SELECT * FROM catalog_screens ORDER BY 1,2,3,4;"
}

# 1. Order independence: one file, cuts of it, in several orders, plain and gzip.
python3 "$ROOT/Tests/cli/catalog_gen.py" 4000 3 > "$d/all.jsonl"
"$SELLOCLI" catalog ingest --db "$d/one.db" -q "$d/all.jsonl"; code=$?
assert_eq "ingest exit" 0 "$code"
want=$(cat_dump "$d/one.db" | md5sum)
assert_eq "catalog has rows" 1 "$([ "$(sqlv "$d/one.db" 'SELECT COUNT(*) FROM catalog')" -gt 10 ] && echo 1)"
mkdir -p "$d/cuts"
split -l 700 -d "$d/all.jsonl" "$d/cuts/a"; gzip -k "$d/cuts/a02"; rm "$d/cuts/a02"
"$SELLOCLI" catalog ingest --db "$d/fwd.db" -q $(ls "$d"/cuts/a* | sort); code=$?
assert_eq "cuts exit" 0 "$code"
assert_eq "cuts in order = one file" "$want" "$(cat_dump "$d/fwd.db" | md5sum)"
"$SELLOCLI" catalog ingest --db "$d/rev.db" -q $(ls "$d"/cuts/a* | sort -r)
assert_eq "cuts reversed = one file" "$want" "$(cat_dump "$d/rev.db" | md5sum)"
shuf --random-source=<(yes) "$d/all.jsonl" > "$d/shuf.jsonl"
split -l 1300 -d "$d/shuf.jsonl" "$d/cuts/b"
for f in $(ls "$d"/cuts/b* | shuf --random-source=<(yes 7)); do "$SELLOCLI" catalog ingest --db "$d/shuf.db" -q "$f"; done
assert_eq "shuffled lines, other cuts, one run per file = one file" "$want" "$(cat_dump "$d/shuf.db" | md5sum)"
cat "$d/all.jsonl" | "$SELLOCLI" catalog ingest --db "$d/stdin.db" -q -
assert_eq "stdin = file" "$want" "$(cat_dump "$d/stdin.db" | md5sum)"

# 2. Idempotency: the same content again (also under another name) is skipped.
cp "$d/all.jsonl" "$d/copy.jsonl"
"$SELLOCLI" catalog ingest --db "$d/one.db" --summary-json "$d/re.json" -q "$d/all.jsonl" "$d/copy.jsonl"; code=$?
assert_eq "re-ingest exit" 0 "$code"
assert_contains "re-ingest skipped" "$(cat "$d/re.json")" '"files_skipped":2'
assert_eq "re-ingest changes nothing" "$want" "$(cat_dump "$d/one.db" | md5sum)"
assert_eq "one ledger row" 1 "$(sqlv "$d/one.db" 'SELECT COUNT(*) FROM catalog_files')"
assert_eq "retail ledger untouched" 0 "$(sqlv "$d/one.db" 'SELECT COUNT(*) FROM files')"
"$SELLOCLI" catalog ingest --db "$d/one.db" --dry-run -q "$d/cuts/a00"
assert_eq "dry run writes nothing" "$want" "$(cat_dump "$d/one.db" | md5sum)"

# 3. Known answers on a crafted file.
cat > "$d/known.jsonl" <<'J'
{"tenant":"t","app":"a","platform":"ios","app_version":"1","event":"view","screen":"pdp","session_id":"s1","ts":"2024-05-01T10:00:00Z","body":{"items":[{"sku":"x"},{"sku":1}],"f":{"brand":"n"}}}
{"tenant":"t","app":"a","platform":"ios","app_version":"1","event":"view","screen":"pdp","session_id":"s1","ts":1714558200,"body":{"items":[]}}
{"tenant":"t","app":"a","platform":"ios","app_version":"1","event":"view","screen":"pdp","session_id":"s2","ts":1714559999999,"body":{"f":null}}
{"tenant":"t","app":"a","platform":"ios","app_version":"1","event":"view","screen":"pdp","session_id":"s1","ts":"2024-05-01T11:00:00+00:00","body":{}}
{"tenant":"t","app":"a","platform":"web","app_version":"2","event":"view","screen":"plp","ts":"1714557600.9"}

{"tenant":"t","app":"a","platform":"web","app_version":"2","event":"view","screen":"plp","ts":1714557601}
J
"$SELLOCLI" catalog ingest --db "$d/k.db" -q "$d/known.jsonl"
assert_eq "catalog rows" "t|a|ios|1|view|1714557600|1714561200|4
t|a|web|2|view|1714557600|1714557601|2" "$(sqlv "$d/k.db" 'SELECT * FROM catalog ORDER BY platform')"
assert_eq "hourly counts, exact distinct sessions, one session per event without ids" "1714557600|t|a|ios|1|view|pdp|3|2
1714557600|t|a|web|2|view|plp|2|2
1714561200|t|a|ios|1|view|pdp|1|1" "$(sqlv "$d/k.db" 'SELECT * FROM event_counts_hour ORDER BY bucket, platform')"
assert_eq "key paths, type counts, presence" "f|1714557600|1714559999|2|0|0|0|1|0|1|0.333333333333333
f.brand|1714557600|1714557600|1|1|0|0|0|0|0|0.166666666666667
items|1714557600|1714558200|2|0|0|0|0|2|0|0.333333333333333
items[]|1714557600|1714557600|1|0|0|0|1|0|0|0.166666666666667
items[].sku|1714557600|1714557600|1|1|1|0|0|0|0|0.166666666666667" \
  "$(sqlv "$d/k.db" 'SELECT key_path, first_seen, last_seen, events, strings, numbers, bools, objects, arrays, nulls, presence FROM event_keys ORDER BY key_path')"
assert_eq "presence over the (tenant, app, event) total of 6" "6" "$(sqlv "$d/k.db" "SELECT SUM(events) FROM catalog WHERE event='view'")"
assert_eq "screens" "t|a|view|pdp|1714557600|1714561200|4
t|a|view|plp|1714557600|1714557601|2" "$(sqlv "$d/k.db" 'SELECT * FROM catalog_screens ORDER BY screen')"
# The second half of the hour again in another file: s1 is not counted twice, s3 is new.
printf '%s\n' '{"tenant":"t","app":"a","platform":"ios","app_version":"1","event":"view","screen":"pdp","session_id":"s1","ts":1714559000}' \
  '{"tenant":"t","app":"a","platform":"ios","app_version":"1","event":"view","screen":"pdp","session_id":"s3","ts":1714559001}' > "$d/known2.jsonl"
"$SELLOCLI" catalog ingest --db "$d/k.db" -q "$d/known2.jsonl"
assert_eq "sessions across files stay exact" "5|3" "$(sqlv "$d/k.db" "SELECT events, sessions FROM event_counts_hour WHERE bucket=1714557600 AND platform='ios'")"

# 4. Rejects with reasons and line numbers.
cat > "$d/bad.jsonl" <<'J'
{"event":"ok","ts":1714557600}
not json at all
{"event":"x","ts":1714557600,}
{"ts":1714557600}
{"event":"","ts":1714557600}
{"event":"x"}
{"event":"x","ts":"yesterday"}
{"event":"x","ts":-5}
{"event":"x","ts":1714557600,"screen":{"a":1}}
{"event":"x","ts":1714557600,"body":[1,2]}
{"event":"x","ts":1714557600,"body":{"s":"\u00e9\ud83d\ude00","bad":"\x"}}
["event","x"]
J
"$SELLOCLI" catalog ingest --db "$d/bad.db" --summary-json "$d/bad.json" "$d/bad.jsonl" 2>"$d/bad.err"; code=$?
assert_eq "a file with rejects under 100 rows still goes in" 0 "$code"
assert_contains "summary by reason" "$(cat "$d/bad.err")" "rows read 12 = accepted 1 + rejected 11 (bad_json 4, no_event 2, no_time 1, bad_time 2, bad_field 1, bad_body 1)"
assert_contains "json summary" "$(cat "$d/bad.json")" '"rejected_by_reason":{"bad_json":4,"no_event":2,"no_time":1,"bad_time":2,"bad_field":1,"bad_body":1,"line_too_long":0}'
assert_eq "rejects file: line numbers and reasons" "bad.jsonl,2,bad_json
bad.jsonl,3,bad_json
bad.jsonl,4,no_event
bad.jsonl,5,no_event
bad.jsonl,6,no_time
bad.jsonl,7,bad_time
bad.jsonl,8,bad_time
bad.jsonl,9,bad_field
bad.jsonl,10,bad_body
bad.jsonl,11,bad_json
bad.jsonl,12,bad_json" "$(zcat "$d/bad.rejects.csv.gz" | tail -n +2 | sed 's/^\([^,]*\),\([^,]*\),\([^,]*\),.*/\1,\2,\3/' | sed "s|^$d/||")"
assert_contains "ledger reasons" "$(sqlv "$d/bad.db" 'SELECT rejected_by_reason FROM catalog_files')" '"bad_json":4'
python3 "$ROOT/Tests/cli/catalog_gen.py" 200 5 > "$d/mostly.jsonl"; for i in $(seq 30); do echo 'garbage' >> "$d/mostly.jsonl"; done
"$SELLOCLI" catalog ingest --db "$d/bad.db" -q "$d/mostly.jsonl" 2>/dev/null; code=$?
assert_eq "too many rejects fails the file" 1 "$code"
assert_eq "a failed file stores nothing" 1 "$(sqlv "$d/bad.db" 'SELECT COUNT(*) FROM catalog_files')"
printf 'x\0y\n' > "$d/bin.jsonl"
"$SELLOCLI" catalog ingest --db "$d/bad.db" -q "$d/bin.jsonl" 2>"$d/bin.err"; code=$?
assert_eq "binary file fails" 1 "$code"
assert_contains "binary message" "$(cat "$d/bin.err")" "binary data"

# 5. Divolte export (the workshop's event shape) through a mapping in sello.toml.
mkdir -p "$d/div"
cat > "$d/div/sello.toml" <<'T'
[catalog]
session_gap = "30m"
[catalog.mapping]
event = "eventType"
ts = "timestamp"
session_id = "sessionId"
user_id = "partyId"
screen = "location"
body = ""
T
cat > "$d/div/divolte.jsonl" <<'J'
{"firstInSession":true,"timestamp":1714557600123,"clientTimestamp":1714557599000,"remoteHost":"127.0.0.1","referer":null,"location":"http://localhost:9011/","partyId":"0:is8wamy1:HSxIFWZl","sessionId":"0:is8wamy2:CfYWvsDn","pageViewId":"0:ARw7f5Nm","eventId":"0:ARw7f5Nm0","eventType":"pageView"}
{"firstInSession":false,"timestamp":1714557660000,"clientTimestamp":1714557659000,"remoteHost":"127.0.0.1","referer":"http://localhost:9011/","location":"http://localhost:9011/p/1","partyId":"0:is8wamy1:HSxIFWZl","sessionId":"0:is8wamy2:CfYWvsDn","pageViewId":"0:BBw7f5Nm","eventId":"0:BBw7f5Nm0","eventType":"pageView"}
J
"$SELLOCLI" catalog ingest --db "$d/div/d.db" -q "$d/div/divolte.jsonl"; code=$?
assert_eq "divolte exit" 0 "$code"
assert_eq "divolte catalog" "default|default|||pageView|1714557600|1714557660|2" "$(sqlv "$d/div/d.db" 'SELECT * FROM catalog')"
assert_eq "divolte hourly by location" "1714557600|http://localhost:9011/|1|1
1714557600|http://localhost:9011/p/1|1|1" "$(sqlv "$d/div/d.db" 'SELECT bucket, screen, events, sessions FROM event_counts_hour ORDER BY screen')"
assert_eq "divolte keys (whole record as body)" "clientTimestamp|2|0|2|0
eventType|2|2|0|0
firstInSession|2|0|0|2
referer|2|1|0|0" "$(sqlv "$d/div/d.db" "SELECT key_path, events, strings, numbers, bools FROM event_keys WHERE key_path IN ('clientTimestamp','eventType','firstInSession','referer') ORDER BY key_path")"
assert_eq "divolte referer null counted" "1" "$(sqlv "$d/div/d.db" "SELECT nulls FROM event_keys WHERE key_path='referer'")"
assert_contains "config shows the mapping" "$("$SELLOCLI" config --db "$d/div/d.db" 2>/dev/null)" 'event = "eventType"'
printf '[catalog]\nsesion_gap = "5m"\n' > "$d/div/bad.toml"
"$SELLOCLI" catalog ingest --db "$d/div/d.db" --config "$d/div/bad.toml" -q "$d/div/divolte.jsonl" 2>"$d/div/bad.err"; code=$?
assert_eq "unknown catalog key exits 78" 78 "$code"
assert_contains "did you mean" "$(cat "$d/div/bad.err")" "did you mean session_gap"
printf '[catalog.mapping]\nevnt = "x"\n' > "$d/div/bad2.toml"
assert_exit "unknown mapping field exits 78" 78 "$SELLOCLI" catalog ingest --db "$d/div/d.db" --config "$d/div/bad2.toml" -q "$d/div/divolte.jsonl"

# 6. Derived sessions (no session id): Divolte's 30-minute rule, per user, across files.
u() { printf '{"event":"view","user_id":"%s","ts":%s}\n' "$1" "$2"; }
T0=1714557600  # 10:00
{ u u1 $T0; u u1 $((T0 + 29*60)); u u1 $((T0 + 29*60 + 31*60 - 60 + 59)); u u2 $((T0 + 100)); } > "$d/s1.jsonl"
"$SELLOCLI" catalog ingest --db "$d/s.db" --summary-json "$d/s1.json" -q "$d/s1.jsonl"
# u1: 10:00, 10:29 (29 min: same), 10:59:59 (30m59s: new); u2: one session.
assert_eq "29 min same session, 31 min new" "1714557600|4|3" "$(sqlv "$d/s.db" 'SELECT bucket, events, sessions FROM event_counts_hour')"
assert_contains "derived sessions started" "$(cat "$d/s1.json")" '"derived_sessions":3'
{ u u1 $((T0 + 3600 + 25*60)); } > "$d/s2.jsonl"   # 11:25, 25m26s after 10:59:59: same session as before
{ u u1 $((T0 + 3600 + 57*60)); } > "$d/s3.jsonl"   # 11:57, 32 min later: new session
"$SELLOCLI" catalog ingest --db "$d/s.db" --summary-json "$d/s2.json" -q "$d/s2.jsonl" "$d/s3.jsonl"
assert_contains "state carried across files" "$(cat "$d/s2.json")" '"derived_sessions":1'
assert_eq "hour 11: two sessions" "2|2" "$(sqlv "$d/s.db" 'SELECT events, sessions FROM event_counts_hour WHERE bucket=1714561200')"
"$SELLOCLI" catalog ingest --db "$d/s.db" --session-gap 1h --summary-json "$d/s4.json" -q <(u u9 $T0; u u9 $((T0 + 45*60)))
assert_contains "--session-gap 1h" "$(cat "$d/s4.json")" '"derived_sessions":1'
rm -rf "$d"
