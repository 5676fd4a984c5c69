# sellocli catalog new|obsolete|keys|diff: known answers on crafted data, --fail-on exit 3,
# JSON that parses, and the committed clickstream sample (position on click is mixed-type).
d=$(new_scratch)
OLD=1714557600   # 2024-05-01T10:00:00Z
NEW=1716199200   # 2024-05-20T10:00:00Z (the data clock of r.db)
ev() {  # ev TENANT APP PLATFORM VERSION EVENT SCREEN TS BODY
  printf '{"tenant":"%s","app":"%s","platform":"%s","app_version":"%s","event":"%s","screen":"%s","session_id":"s","ts":%s,"body":%s}\n' "$@"
}
json_ok() { python3 -c 'import json,sys; v=json.load(sys.stdin); assert isinstance(v, list); print(len(v))' 2>/dev/null; }

{
  ev A shop android 1.0 view home $OLD '{"sku":"s1"}'
  ev A shop ios 1.0 view home $OLD '{"sku":"s1"}'
  ev A shop android 1.0 click home $OLD '{}'
} > "$d/old.jsonl"
{
  ev A shop android 1.0 view home $NEW '{"sku":"s2"}'
  ev A shop android 1.1 view home $NEW '{"sku":"s3","coupon":"c"}'
  ev A shop android 1.0 view pdp $NEW '{"sku":"s4"}'
  ev A lite web 2 search home $NEW '{"q":"x"}'
} > "$d/new.jsonl"
"$SELLOCLI" catalog ingest --db "$d/r.db" -q "$d/old.jsonl" "$d/new.jsonl"; code=$?
assert_eq "reports: ingest" 0 "$code"

# 1. new --since: exactly what was first seen at or after T, absolute and relative to the data clock.
want_new="kind,tenant,app,platform,app_version,event,screen,key_path,first_seen,events
app,A,lite,,,,,,2024-05-20T10:00:00Z,1
event,A,lite,,,search,,,2024-05-20T10:00:00Z,1
combination,A,lite,web,2,search,,,2024-05-20T10:00:00Z,1
combination,A,shop,android,1.1,view,,,2024-05-20T10:00:00Z,1
screen,A,lite,,,search,home,,2024-05-20T10:00:00Z,1
screen,A,shop,,,view,pdp,,2024-05-20T10:00:00Z,1
key,A,lite,,,search,,q,2024-05-20T10:00:00Z,1
key,A,shop,,,view,,coupon,2024-05-20T10:00:00Z,1"
assert_eq "new --since absolute" "$want_new" "$("$SELLOCLI" catalog new --db "$d/r.db" --since 2024-05-10 --format csv)"
assert_eq "new --since -24h (data clock)" "$want_new" "$("$SELLOCLI" catalog new --db "$d/r.db" --since -24h --format csv)"
assert_eq "new --since T is inclusive" "$want_new" "$("$SELLOCLI" catalog new --db "$d/r.db" --since 2024-05-20T10:00:00Z --format csv)"
assert_eq "new --since after everything: header only" "kind,tenant,app,platform,app_version,event,screen,key_path,first_seen,events" \
  "$("$SELLOCLI" catalog new --db "$d/r.db" --since 2024-05-21 --format csv)"
assert_eq "new json parses" 8 "$("$SELLOCLI" catalog new --db "$d/r.db" --since -24h --format json | json_ok)"
assert_exit "new: findings and --fail-on 1 exit 3" 3 "$SELLOCLI" catalog new --db "$d/r.db" --since -24h --fail-on 1
assert_exit "new: 8 findings under --fail-on 9 exit 0" 0 "$SELLOCLI" catalog new --db "$d/r.db" --since -24h --fail-on 9
assert_exit "new: no findings and --fail-on 1 exit 0" 0 "$SELLOCLI" catalog new --db "$d/r.db" --since 2024-05-21 --fail-on 1
assert_exit "new: bad --since is usage" 64 "$SELLOCLI" catalog new --db "$d/r.db" --since yesterday
"$SELLOCLI" catalog new --db "$d/r.db" --since -24h --format jsonl --fail-on 1 > "$d/new.jsonl.out" 2>/dev/null
assert_eq "new: rows still printed when exiting 3" 8 "$(wc -l < "$d/new.jsonl.out" | tr -d ' ')"

# 2. obsolete: stale on the data clock (2024-05-20T10:00Z - 14d), owners by first matching pattern.
cat > "$d/sello.toml" <<'T'
[catalog.owners]
"cli*" = "ux@example.com"
"shop" = "shop@example.com"
"*" = "nobody@example.com"
T
assert_eq "obsolete --older-than 14d, owners (event glob before app)" "owner,tenant,app,platform,app_version,event,first_seen,last_seen,events
shop@example.com,A,shop,ios,1.0,view,2024-05-01T10:00:00Z,2024-05-01T10:00:00Z,1
ux@example.com,A,shop,android,1.0,click,2024-05-01T10:00:00Z,2024-05-01T10:00:00Z,1" \
  "$("$SELLOCLI" catalog obsolete --db "$d/r.db" --older-than 14d --format csv 2>/dev/null)"
assert_contains "obsolete: clock on stderr" "$("$SELLOCLI" catalog obsolete --db "$d/r.db" --format csv 2>&1 >/dev/null)" "data clock 2024-05-20T10:00:00Z, stale when last seen before 2024-05-06T10:00:00Z"
assert_eq "obsolete --older-than 30d: none" "owner,tenant,app,platform,app_version,event,first_seen,last_seen,events" \
  "$("$SELLOCLI" catalog obsolete --db "$d/r.db" --older-than 30d --format csv -q)"
assert_exit "obsolete: findings and --fail-on 1 exit 3" 3 "$SELLOCLI" catalog obsolete --db "$d/r.db" --fail-on 1
assert_exit "obsolete: none and --fail-on 1 exit 0" 0 "$SELLOCLI" catalog obsolete --db "$d/r.db" --older-than 30d --fail-on 1
assert_eq "obsolete json parses" 2 "$("$SELLOCLI" catalog obsolete --db "$d/r.db" --format json -q | json_ok)"
mkdir -p "$d/noown" && cp "$d/r.db" "$d/noown/r.db"
assert_eq "obsolete without owners: owner empty" ",A,shop,android,1.0,click
,A,shop,ios,1.0,view" "$("$SELLOCLI" catalog obsolete --db "$d/noown/r.db" --format csv -q | tail -n +2 | cut -d, -f1-6)"

# 3. keys: pos is number 8 / string 2 (inconsistent), sku present in 7 of 10 (sometimes missing),
#    id always a string (no flag), rare in 1 of 10 (below 50%: no flag).
{
  for i in 1 2 3 4 5 6 7 8 9 10; do
    if [ "$i" -le 8 ]; then pos=$i; else pos="\"$i\""; fi
    body="{\"id\":\"e$i\",\"pos\":$pos"
    [ "$i" -le 7 ] && body="$body,\"sku\":\"k$i\""
    [ "$i" -eq 1 ] && body="$body,\"rare\":true"
    ev A shop android 1.0 click home $((OLD + i)) "$body}"
  done
  ev A shop android 1.0 view home $OLD '{"pos":"x"}'
} > "$d/keys.jsonl"
"$SELLOCLI" catalog ingest --db "$d/k.db" -q "$d/keys.jsonl"
assert_eq "keys: presence, histogram, flags" "key_path,presence,types,flags
id,1.0,string 100%,
pos,1.0,number 80% / string 20%,inconsistent_type
rare,0.1,bool 100%,
sku,0.7,string 100%,sometimes_missing" \
  "$("$SELLOCLI" catalog keys --db "$d/k.db" --event click --format csv | cut -d, -f4,6-8)"
assert_eq "keys --only-flagged" "pos
sku" "$("$SELLOCLI" catalog keys --db "$d/k.db" --event click --only-flagged --format csv | tail -n +2 | cut -d, -f4)"
assert_eq "keys: --missing-max 60% unflags sku" "sku," "$("$SELLOCLI" catalog keys --db "$d/k.db" --event click --missing-max 60% --format csv | grep '^A,shop,click,sku,' | cut -d, -f4,8)"
assert_eq "keys: another app has none" "" "$("$SELLOCLI" catalog keys --db "$d/k.db" --event click --app other --format csv | tail -n +2)"
assert_exit "keys: 2 flagged, --fail-on 2 exit 3" 3 "$SELLOCLI" catalog keys --db "$d/k.db" --event click --fail-on 2
assert_exit "keys: 2 flagged, --fail-on 3 exit 0" 0 "$SELLOCLI" catalog keys --db "$d/k.db" --event click --fail-on 3
assert_exit "keys: nothing flagged on view, --fail-on 1 exit 0" 0 "$SELLOCLI" catalog keys --db "$d/k.db" --event view --fail-on 1
assert_eq "keys json parses" 4 "$("$SELLOCLI" catalog keys --db "$d/k.db" --event click --format json | json_ok)"
assert_contains "keys json types" "$("$SELLOCLI" catalog keys --db "$d/k.db" --event click --format jsonl)" '"key_path":"pos","events":10,"presence":1.0,"types":"number 80% / string 20%","flags":"inconsistent_type"'

# 4. diff: an event only in tenant B, a key only in A; platforms within a tenant/app.
{
  ev A shop android 1.0 view home $OLD '{"sku":"a","coupon":"c"}'
  ev B shop android 1.0 view home $OLD '{"sku":"b"}'
  ev B shop android 1.0 wishlist home $OLD '{"sku":"b"}'
  ev A shop ios 1.0 view home $OLD '{"sku":"a"}'
} > "$d/diff.jsonl"
"$SELLOCLI" catalog ingest --db "$d/d.db" -q "$d/diff.jsonl"
assert_eq "diff tenants" "kind,event,screen,key_path,only_in,missing_in,events
event,wishlist,,,tenant=B,tenant=A,1
screen,wishlist,home,,tenant=B,tenant=A,1
key,view,,coupon,tenant=A,tenant=B,1
key,wishlist,,sku,tenant=B,tenant=A,1" "$("$SELLOCLI" catalog diff --db "$d/d.db" --tenant A --tenant B --format csv | cut -d, -f1-7)"
assert_eq "diff is symmetric" "$("$SELLOCLI" catalog diff --db "$d/d.db" --tenant A --tenant B --format csv | tail -n +2 | cut -d, -f1-4 | sort)" \
  "$("$SELLOCLI" catalog diff --db "$d/d.db" --tenant B --tenant A --format csv | tail -n +2 | cut -d, -f1-4 | sort)"
assert_eq "diff platforms within a tenant: no body keys" "event,click,,,platform=android,platform=ios
screen,click,home,,platform=android,platform=ios" \
  "$("$SELLOCLI" catalog diff --db "$d/r.db" --tenant A --app shop --platform android --platform ios --format csv | tail -n +2 | cut -d, -f1-6 | grep -v ',pdp,')"
assert_exit "diff: differences and --fail-on 1 exit 3" 3 "$SELLOCLI" catalog diff --db "$d/d.db" --tenant A --tenant B --fail-on 1
assert_exit "diff: same side twice, --fail-on 1 exit 0" 0 "$SELLOCLI" catalog diff --db "$d/d.db" --tenant A --tenant A --fail-on 1
assert_exit "diff: one side only is usage" 64 "$SELLOCLI" catalog diff --db "$d/d.db" --tenant A
assert_eq "diff json parses" 4 "$("$SELLOCLI" catalog diff --db "$d/d.db" --tenant A --tenant B --format json | json_ok)"
assert_contains "reports --help has examples" "$("$SELLOCLI" catalog keys --help)" "Examples:"

# 5. The committed sample: position on click is number ~84% / string ~16%.
"$SELLOCLI" catalog ingest --db "$d/s.db" -q "$SAMPLES/clickstream-2019-10-01.jsonl.gz"
pos=$("$SELLOCLI" catalog keys --db "$d/s.db" --event click --format csv | grep '^myntra,shop,click,position,')
assert_contains "sample: position flagged inconsistent" "$pos" "inconsistent_type"
assert_contains "sample: position mostly numbers" "$pos" ",number 8"
assert_contains "sample: addToWishlist missing in the 3.3 candidate" \
  "$("$SELLOCLI" catalog diff --db "$d/s.db" --tenant myntra --app shop --platform android --app-version 3.2 --app-version 3.3 --format csv)" \
  "event,addToWishlist,,,app_version=3.2,app_version=3.3"
rm -rf "$d"
