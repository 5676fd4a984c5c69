# rebuild / archive / status: files ingested with --archive (some late, one twice, one with bad
# rows) are rebuilt from the archive into a new store with byte-identical stats, before and
# after `archive compact`; `archive verify` passes, and fails (exit 1) on a flipped byte;
# `status --format json` agrees with sqlite3 over the ledger and the manifest.
d=$(new_scratch)
H=event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session
"$SELLOCLI" gen --rows 8000 --start 2019-10-02T00:00:00Z --hours 24 --seed 11 --gzip -o "$d/f2.csv.gz" 2>/dev/null
"$SELLOCLI" gen --rows 8000 --start 2019-10-03T00:00:00Z --hours 24 --seed 12 -o "$d/f3.csv" 2>/dev/null
# late: up to 22 h behind the watermark (within the 24 h dedupe horizon)
"$SELLOCLI" gen --rows 3000 --start 2019-10-03T02:00:00Z --hours 12 --seed 13 --gzip -o "$d/late.csv.gz" 2>/dev/null
"$SELLOCLI" gen --rows 2000 --start 2019-10-03T10:00:00Z --hours 4 --seed 14 --jsonl -o "$d/late2.jsonl" 2>/dev/null
{ echo "$H"; sed -n 2,40p "$d/f3.csv"
  echo '2019-10-03 05:00:00 UTC,buy,1,2,,,3.00,4,s'
  echo 'yesterday,view,3,4,,,3.00,5,s'
  echo '2019-10-03 06:00:00 UTC,view,3,4,,,-1,5,s'
  echo '2019-10-03 06:00:00 UTC,view,3'
  echo '2019-10-03 07:00:00 UTC,purchase,x9,4,,,3.00,5,s'; } > "$d/bad.csv"
# Two sources whose rows for one hour are the very same: the archive then holds two files with
# the same bytes, and both must count in a rebuild (purchases are not deduped).
R='2019-10-03 20:00:01 UTC,purchase,100,7,a.b,acme,10.00,1,s1
2019-10-03 20:00:02 UTC,purchase,101,7,a.b,acme,11.00,1,s1
2019-10-03 20:00:03 UTC,view,101,7,a.b,acme,11.00,1,s1'
printf '%s\n%s\n%s\n' "$H" "$R" '2019-10-03 21:00:00 UTC,purchase,102,7,a.b,acme,5.00,2,s2' > "$d/x.csv"
printf '%s\n%s\n%s\n' "$H" "$R" '2019-10-03 22:00:00 UTC,purchase,103,7,a.b,acme,6.00,3,s3' > "$d/y.csv"

A="$d/A"
"$SELLOCLI" ingest --db "$d/live.db" --archive "$A" -q "$d/f2.csv.gz" "$d/f3.csv"; code=$?
assert_eq "ingest --archive, first batch" 0 "$code"
"$SELLOCLI" ingest --db "$d/live.db" --archive "$A" -q --max-reject-rate 100% "$d/late.csv.gz" "$d/f2.csv.gz" "$d/bad.csv" "$d/late2.jsonl" "$d/x.csv" "$d/y.csv"; code=$?
assert_eq "ingest --archive, second batch (late, a repeat, bad rows)" 0 "$code"
assert_eq "ledger: the repeated file once" "7" "$(sqlv "$d/live.db" "SELECT COUNT(*) FROM files")"
assert_eq "bad rows were rejected" "yes" "$([ "$(sqlv "$d/live.db" "SELECT rows_rejected FROM files WHERE path LIKE '%bad.csv'")" -ge 4 ] && echo yes || echo no)"
stats_dump "$d/live.db" > "$d/live.dump"
assert_eq "the dump has rows" "yes" "$([ "$(wc -l < "$d/live.dump")" -gt 1000 ] && echo yes || echo no)"

# --- archive ls / verify
"$SELLOCLI" archive ls --archive "$A" --format csv > "$d/ls.csv" 2>/dev/null; code=$?
assert_eq "archive ls exit" 0 "$code"
assert_eq "archive ls: rows = manifest rows" "$(sqlv "$A/manifest.sqlite" "SELECT SUM(rows) FROM files")" \
  "$(python3 -c "import csv,sys; print(sum(int(r['rows']) for r in csv.DictReader(open(sys.argv[1]))))" "$d/ls.csv")"
assert_eq "archive ls: segments exist before compact" "yes" "$(python3 -c "import csv,sys; print('yes' if any(int(r['segments']) > 0 for r in csv.DictReader(open(sys.argv[1]))) else 'no')" "$d/ls.csv")"
assert_contains "archive ls: unparsed rows listed" "$(cat "$d/ls.csv")" "unparsed,,"
"$SELLOCLI" archive ls --archive "$A" --files --format csv > "$d/files.csv" 2>/dev/null
assert_eq "archive ls --files: one row per manifest file" "$(sqlv "$A/manifest.sqlite" "SELECT COUNT(*) FROM files")" "$(($(wc -l < "$d/files.csv") - 1))"
assert_eq "two archive files share their bytes" "1" "$(sqlv "$A/manifest.sqlite" "SELECT COUNT(*) FROM (SELECT sha256 FROM files GROUP BY sha256 HAVING COUNT(*) > 1)")"
"$SELLOCLI" archive verify --archive "$A" --format csv > "$d/verify.csv" 2>/dev/null; code=$?
assert_eq "archive verify passes" 0 "$code"
assert_eq "archive verify: every source ok" "$(sqlv "$A/manifest.sqlite" "SELECT COUNT(*) FROM sources")" "$(grep -c ',ok,' "$d/verify.csv")"

# the archive's own lock (held by an archiving ingest): 75 at once, --wait gets it
flock -n "$A/.lock" sleep 2 &
apid=$!
for _ in $(seq 50); do flock -n "$A/.lock" true 2>/dev/null || break; sleep 0.05; done
assert_exit "archive in use: exit 75" 75 "$SELLOCLI" archive ls --archive "$A"
"$SELLOCLI" archive ls --archive "$A" --wait 10 > /dev/null 2>&1; code=$?
assert_eq "archive in use: --wait gets it" 0 "$code"
wait "$apid" 2>/dev/null

# --- rebuild: identical stats
"$SELLOCLI" rebuild --from-archive "$A" --db "$d/new.db" 2> "$d/rebuild.err"; code=$?
assert_eq "rebuild exit (stderr: $(head -c 300 "$d/rebuild.err"))" 0 "$code"
stats_dump "$d/new.db" > "$d/new.dump"
assert_files_equal "rebuilt stats are byte-identical" "$d/live.dump" "$d/new.dump"
assert_contains "rebuild reconciles with the manifest" "$(cat "$d/rebuild.err")" ": reconciled"
unparsed=$(sqlv "$A/manifest.sqlite" "SELECT COALESCE(SUM(rows), 0) FROM files WHERE kind = 'unparsed'")
assert_eq "unparsed rows exist (bad_event_time, field_count)" "yes" "$([ "$unparsed" -ge 2 ] && echo yes || echo no)"
read_rows=$(sqlv "$d/new.db" "SELECT SUM(rows_read) FROM files")
assert_eq "rows read + unparsed = manifest rows" "$(sqlv "$A/manifest.sqlite" "SELECT SUM(rows + unparsed_rows) FROM sources")" "$((read_rows + unparsed))"
assert_eq "rows accepted: rebuild = live" "$(sqlv "$d/live.db" "SELECT SUM(rows_accepted) FROM files")" "$(sqlv "$d/new.db" "SELECT SUM(rows_accepted) FROM files")"
assert_contains "summary counts unparsed files" "$(cat "$d/rebuild.err")" "($unparsed rows without a usable time)"
assert_eq "watermark: rebuild = live" "$(sqlv "$d/live.db" "SELECT value FROM meta WHERE key = 'watermark'")" "$(sqlv "$d/new.db" "SELECT value FROM meta WHERE key = 'watermark'")"
err=$("$SELLOCLI" rebuild --from-archive "$A" --db "$d/new.db" 2>&1); code=$?
assert_eq "rebuild into a non-empty store: exit 1" 1 "$code"
assert_contains "rebuild into a non-empty store: says why" "$err" "not empty"
assert_files_equal "the refused store is unchanged" "$d/new.dump" <(stats_dump "$d/new.db")
err=$("$SELLOCLI" rebuild --from-archive "$d/nowhere" --db "$d/n2.db" 2>&1); code=$?
assert_eq "rebuild from a missing archive: exit 1" 1 "$code"
assert_contains "missing archive named" "$err" "no archive at $d/nowhere"
assert_eq "a missing archive is not created" "no" "$([ -e "$d/nowhere" ] && echo yes || echo no)"
assert_exit "rebuild without --db: usage" 64 "$SELLOCLI" rebuild --from-archive "$A"

# --- compact: fewer files, same rows, same rebuild
"$SELLOCLI" archive compact --archive "$A" --dry-run --format csv > "$d/cdry.csv" 2>/dev/null; code=$?
assert_eq "compact --dry-run exit" 0 "$code"
files_before=$(sqlv "$A/manifest.sqlite" "SELECT COUNT(*) FROM files")
assert_eq "compact --dry-run changes nothing" "$files_before" "$(sqlv "$A/manifest.sqlite" "SELECT COUNT(*) FROM files")"
"$SELLOCLI" archive compact --archive "$A" --format csv > "$d/creal.csv" 2>/dev/null; code=$?
assert_eq "compact exit" 0 "$code"
assert_eq "compact merged what the dry run listed" "$(cut -d, -f1-4 "$d/cdry.csv")" "$(cut -d, -f1-4 "$d/creal.csv")"
assert_eq "compact: one file per partition now" "0" "$(sqlv "$A/manifest.sqlite" "SELECT COUNT(*) FROM (SELECT partition FROM files WHERE kind != 'unparsed' GROUP BY partition HAVING COUNT(*) > 1)")"
assert_eq "compact: fewer files" "yes" "$([ "$(sqlv "$A/manifest.sqlite" "SELECT COUNT(*) FROM files")" -lt "$files_before" ] && echo yes || echo no)"
"$SELLOCLI" archive verify --archive "$A" > /dev/null 2>&1; code=$?
assert_eq "archive verify passes after compact" 0 "$code"
"$SELLOCLI" rebuild --from-archive "$A" --db "$d/new2.db" -q; code=$?
assert_eq "rebuild after compact exit" 0 "$code"
assert_files_equal "rebuild after compact is byte-identical" "$d/live.dump" <(stats_dump "$d/new2.db")

# --- a flipped byte: verify names the source and exits 1; rebuild fails too
cp -r "$A" "$d/B"
victim=$(sqlv "$d/B/manifest.sqlite" "SELECT path FROM files WHERE kind = 'main' ORDER BY bytes DESC LIMIT 1")
python3 -c "
import sys; p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); b[len(b) // 2] ^= 0x01; open(p, 'wb').write(b)" "$d/B/$victim"
err=$("$SELLOCLI" archive verify --archive "$d/B" 2>&1 >/dev/null); code=$?
assert_eq "verify of a flipped byte: exit 1" 1 "$code"
assert_contains "verify names the file" "$err" "$victim"
one=$(sqlv "$d/B/manifest.sqlite" "SELECT source_sha256 FROM file_sources WHERE path = '$victim' LIMIT 1")
assert_contains "verify names a source of it" "$err" "$one"
"$SELLOCLI" archive verify --archive "$d/B" --sha "${one:0:12}" > /dev/null 2>&1; code=$?
assert_eq "verify --sha of that source: exit 1" 1 "$code"
other=$(sqlv "$d/B/manifest.sqlite" "SELECT sha256 FROM sources WHERE sha256 NOT IN (SELECT source_sha256 FROM file_sources WHERE path = '$victim') LIMIT 1")
if [ -n "$other" ]; then
  "$SELLOCLI" archive verify --archive "$d/B" --sha "$other" > /dev/null 2>&1; code=$?
  assert_eq "verify --sha of an untouched source: exit 0" 0 "$code"
fi
"$SELLOCLI" rebuild --from-archive "$d/B" --db "$d/n3.db" -q 2>/dev/null; code=$?
assert_eq "rebuild from a damaged archive: exit 1" 1 "$code"
assert_exit "archive ls of no archive: exit 1" 1 "$SELLOCLI" archive ls --archive "$d/nowhere"

# --- status --format json agrees with sqlite3
mkdir -p "$d/inbox/.sello-failed"
touch "$d/inbox/a.csv" "$d/inbox/b.csv.gz" "$d/inbox/.hidden" "$d/inbox/.sello-failed/c.csv" "$d/inbox/.sello-failed/c.csv.error"
sqlite3 "$d/live.db" "INSERT INTO meta(key, value) VALUES ('last_tick', '{\"inbox\":\"$d/inbox\",\"files_ingested\":3,\"ok\":true}')"
"$SELLOCLI" status --db "$d/live.db" --archive "$A" --format json > "$d/status.json"; code=$?
assert_eq "status exit" 0 "$code"
sj() { python3 -c "import json,sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split('.'): v = v[int(k)] if isinstance(v, list) else v[k]
print(json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v)" "$d/status.json" "$1"; }
assert_eq "status: watermark" "$(sqlv "$d/live.db" "SELECT strftime('%Y-%m-%dT%H:%M:%SZ', value, 'unixepoch') FROM meta WHERE key = 'watermark'")" "$(sj watermark)"
assert_eq "status: processed" "$(sqlv "$d/live.db" "SELECT COUNT(*) FROM files")" "$(sj files.processed)"
assert_eq "status: rejects by reason" "$(sqlv "$d/live.db" "SELECT rejected_by_reason FROM files" | python3 -c "
import json, sys, collections
c = collections.Counter()
for line in sys.stdin:
    for k, v in json.loads(line).items(): c[k] += v
print(json.dumps({k: v for k, v in c.items() if v}, sort_keys=True))")" "$(sj rejects_by_reason)"
assert_eq "status: rows rejected" "$(sqlv "$d/live.db" "SELECT SUM(rows_rejected) FROM files")" "$(sj rows.rejected)"
assert_eq "status: pending (inbox from the last tick)" "2" "$(sj files.pending)"
assert_eq "status: failed (no .error notes)" "1" "$(sj files.failed)"
assert_eq "status: last tick fields" "3" "$(sj last_tick.files_ingested)"
assert_eq "status: archive bytes" "$(sqlv "$A/manifest.sqlite" "SELECT SUM(bytes) FROM files")" "$(sj archive.bytes)"
assert_eq "status: archive files" "$(sqlv "$A/manifest.sqlite" "SELECT COUNT(*) FROM files")" "$(sj archive.files)"
assert_eq "status: minute rows" "$(sqlv "$d/live.db" "SELECT COUNT(*) FROM stat_minute")" "$(sj tiers.0.rows)"
assert_eq "status: lateness of the most late file" \
  "$(sqlv "$d/live.db" "SELECT MAX(MAX(watermark_before - min_event_time, 0)) FROM files")" \
  "$(python3 -c "import json,sys; print(max(f['lateness_seconds'] or 0 for f in json.load(open(sys.argv[1]))['recent_files']))" "$d/status.json")"
out=$("$SELLOCLI" status --db "$d/live.db" --archive "$A" --inbox "$d/inbox" --format csv); code=$?
assert_eq "status csv exit" 0 "$code"
assert_contains "status csv: a reject reason row" "$out" "rejects.bad_price,1"
assert_eq "status: dedupe pairs" "$(sqlv "$d/live.db" "SELECT (SELECT COUNT(*) FROM view_state) + (SELECT COUNT(*) FROM view_state_recent) + (SELECT COUNT(*) FROM view_state_overflow)")" "$(sj dedupe.pairs)"
assert_eq "status: no overflow rows" "0" "$(sj dedupe.overflow)"
assert_eq "status: no dedupe note" "None" "$(sj dedupe.note)"
# Overflow rows (what the dedupe bugs fixed on 2026-11-22 left behind) are reported with advice.
cp "$d/live.db" "$d/old.db"
sqlite3 "$d/old.db" "INSERT INTO view_state_overflow(session, product_id, t, price_cents, brand, l1, l2, l3, last_seen) VALUES (X'6F6C64', 1, 0, 0, 0, 0, 0, 0, 0)"
out=$("$SELLOCLI" status --db "$d/old.db" --format csv); code=$?
assert_eq "status csv exit (overflow)" 0 "$code"
assert_contains "status csv: overflow count" "$out" "dedupe.overflow,1"
assert_contains "status csv: overflow advice" "$out" "rebuild the store"
assert_exit "status of no store: exit 1" 1 "$SELLOCLI" status --db "$d/missing.db"
rm -rf "$d"
