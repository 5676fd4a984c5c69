# concentrate, split and replay (issue 3, reproducing the Kaggle run), on the real REES46 head,
# each checked against something independent of sellocli: python3 for the time formula, the
# window and the server of every row; zcat/sort/cmp for row conservation; gzip -t for gzip.
d=$(new_scratch)
OCT="$SAMPLES/rees46-2019-oct-head17k.csv"
HEADER='event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session'

# ---------------------------------------------------------------- concentrate
# The formula, independently: origin + floor((t - origin) / ratio), floor toward -inf (python //).
cat > "$d/concentrate_ref.py" <<'EOF'
import csv, sys, datetime as dt
src, ratio, origin = sys.argv[1], int(sys.argv[2]), sys.argv[3]
utc = dt.timezone.utc
o = int(dt.datetime.strptime(origin, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=utc).timestamp())
w = csv.writer(sys.stdout, lineterminator="\n")
with open(src, newline="") as f:
    r = csv.reader(f)
    print(",".join(next(r)))
    for row in r:
        try:
            t = int(dt.datetime.strptime(row[0], "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=utc).timestamp())
        except ValueError:
            w.writerow(row); continue  # unparsable: passed through unchanged
        c = o + (t - o) // ratio
        row[0] = dt.datetime.fromtimestamp(c, utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        w.writerow(row)
EOF
out=$("$SELLOCLI" concentrate --ratio 30 --origin 2019-10-01T00:00:00Z "$OCT" -o "$d/oct30.csv" 2>&1); code=$?
assert_eq "concentrate exit" 0 "$code"
assert_contains "concentrate reconciles" "$out" "rows read 17434 = written 17434 (compressed 17434 + unparsable time passed through 0) + to rejects 0 + malformed dropped 0"
python3 "$d/concentrate_ref.py" "$OCT" 30 2019-10-01T00:00:00Z > "$d/oct30.ref.csv"
assert_files_equal "concentrate equals the python formula on the sample" "$d/oct30.ref.csv" "$d/oct30.csv"
# A different origin and ratio, so the test does not pass by accident at the defaults.
"$SELLOCLI" concentrate --ratio 7 --origin 2019-10-01T01:00:00Z "$OCT" -o "$d/oct7.csv" 2>/dev/null
python3 "$d/concentrate_ref.py" "$OCT" 7 2019-10-01T01:00:00Z > "$d/oct7.ref.csv"
assert_files_equal "concentrate ratio 7, origin inside the data (times before it floor downward)" "$d/oct7.ref.csv" "$d/oct7.csv"

# gzip output (by --gzip and by name), and gzip / stdin input.
gzip -c "$OCT" > "$d/oct.csv.gz"
"$SELLOCLI" concentrate --gzip -o "$d/g1" "$d/oct.csv.gz" 2>/dev/null
"$SELLOCLI" concentrate - < "$OCT" 2>/dev/null | gzip -c > /dev/null
"$SELLOCLI" concentrate -o "$d/g2.csv.gz" - < "$d/oct.csv.gz" 2>/dev/null
assert_exit "concentrate --gzip output passes gzip -t" 0 gzip -t "$d/g1"
assert_exit "concentrate .gz output passes gzip -t" 0 gzip -t "$d/g2.csv.gz"
assert_eq "concentrate gzip in, gzip out, same rows" "$(md5sum < "$d/oct30.csv")" "$(zcat "$d/g2.csv.gz" | md5sum)"

# Edge rows: before the origin, exactly on it, :59, quoting, an unparsable time, a short row.
cat > "$d/edge.csv" <<'EOF'
event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session
2019-09-30 23:59:59 UTC,view,1,10,,a,1.00,5,s1
2019-09-30 23:59:30 UTC,view,2,10,,a,1.00,5,s1
2019-09-30 23:59:29 UTC,view,3,10,,a,1.00,5,s1
2019-10-01 00:00:00 UTC,view,4,10,,"b,c",1.00,5,s1
2019-10-01 00:00:59 UTC,view,5,10,,"say ""hi""",1.00,5,s2
2019-10-01 01:00:00 UTC,view,6,10,,,1.00,5,
2019-10-31 23:59:59 UTC,purchase,7,10,x.y,d,2.50,6,s3
yesterday,view,8,10,,a,1.00,5,s1
2019-10-01 00:00:01 UTC,view,9
EOF
out=$("$SELLOCLI" concentrate "$d/edge.csv" -o "$d/edge.out" 2>&1); code=$?
assert_eq "concentrate edge exit" 0 "$code"
assert_contains "edge reconciles (passed through, dropped)" "$out" "rows read 9 = written 8 (compressed 7 + unparsable time passed through 1) + to rejects 0 + malformed dropped 1"
head -9 "$d/edge.csv" > "$d/edge8.csv"
python3 "$d/concentrate_ref.py" "$d/edge8.csv" 30 2019-10-01T00:00:00Z > "$d/edge.ref"
assert_files_equal "edge rows equal the python formula" "$d/edge.ref" "$d/edge.out"
assert_eq "one second before the origin floors to -1 s" "2019-09-30 23:59:59 UTC,view,1" "$(sed -n 2p "$d/edge.out" | cut -d, -f1-3)"
assert_eq "-30 s maps to -1 s, -31 s to -2 s" "2019-09-30 23:59:59 UTC|2019-09-30 23:59:58 UTC" "$(sed -n 3,4p "$d/edge.out" | cut -d, -f1 | paste -sd'|')"
out=$("$SELLOCLI" concentrate --rejects "$d/edge.rej.csv" "$d/edge.csv" -o "$d/edge2.out" 2>&1)
assert_contains "with --rejects the summary reconciles" "$out" "rows read 9 = written 7 (compressed 7 + unparsable time passed through 0) + to rejects 2 (field_count 1, bad_event_time 1) + malformed dropped 0"
assert_eq "rejects file rows (ingest's layout)" "source_file,line,reason,raw|$d/edge.csv,9,bad_event_time,\"yesterday,view,8,10,,a,1.00,5,s1\"|$d/edge.csv,10,field_count,\"2019-10-01 00:00:01 UTC,view,9\"" "$(paste -sd'|' "$d/edge.rej.csv")"
assert_exit "concentrate bad --ratio is a usage error" 64 "$SELLOCLI" concentrate --ratio 0 "$OCT"
assert_exit "concentrate bad --origin is a usage error" 64 "$SELLOCLI" concentrate --origin yesterday "$OCT"
assert_exit "concentrate missing input fails" 1 "$SELLOCLI" concentrate "$d/nope.csv"

# ---------------------------------------------------------------- split
# Window and server of every row, independently: the name's start <= t < start + every, and
# server = fnv1a64(user_session) % servers + 1; header exactly once, first, in every file.
cat > "$d/split_check.py" <<'EOF'
import csv, gzip, os, re, sys, datetime as dt
root, every, servers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
utc = dt.timezone.utc
HEADER = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"
def fnv(b):
    h = 0xcbf29ce484222325
    for x in b:
        h = ((h ^ x) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h
bad, rows, sessions = [], 0, {}
for name in sorted(os.listdir(root)):
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d)-(\d\d)-(\d\dZ)\.s(\d+)\.csv(\.gz)?", name)
    if not m:
        continue
    start = int(dt.datetime.strptime(f"{m[1]}:{m[2]}:{m[3]}", "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=utc).timestamp())
    server = int(m[4])
    op = gzip.open if m[5] else open
    with op(os.path.join(root, name), "rt", newline="") as f:
        lines = f.read().split("\n")
    if lines[0] != HEADER or lines.count(HEADER) != 1:
        bad.append(f"{name}: header not exactly once, first")
    for row in csv.reader(l for l in lines[1:] if l):
        rows += 1
        t = int(dt.datetime.strptime(row[0], "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=utc).timestamp())
        if not (start <= t < start + every):
            bad.append(f"{name}: {row[0]} outside its window")
        if row[8] and fnv(row[8].encode()) % servers + 1 != server:
            bad.append(f"{name}: session {row[8]} on the wrong server")
        if row[8]:
            sessions.setdefault(row[8], set()).add(server)
split = [s for s, v in sessions.items() if len(v) > 1]
print(f"rows={rows} bad={len(bad)} sessions_on_two_servers={len(split)}", *bad[:3])
EOF
out=$("$SELLOCLI" split --every 1m --servers 4 --gzip -o "$d/min" --summary-json "$d/split.json" "$OCT" 2>&1); code=$?
assert_eq "split exit" 0 "$code"
assert_contains "split reconciles" "$out" "rows read 17434 = written 17434 + unparsable 0 (none)"
nfiles=$(ls "$d/min" | wc -l)
assert_contains "split summary counts the files" "$out" "files written $nfiles + unparsable 0"
bad_gz=0; for f in "$d"/min/*.csv.gz; do gzip -t "$f" 2>/dev/null || bad_gz=$((bad_gz + 1)); done
assert_eq "every split file passes gzip -t" 0 "$bad_gz"
assert_eq "one header per file" "$nfiles" "$(zcat "$d"/min/*.csv.gz | grep -c "^$HEADER\$")"
zcat "$d"/min/*.csv.gz | grep -v "^$HEADER\$" | LC_ALL=C sort > "$d/split.rows"
tail -n +2 "$OCT" | LC_ALL=C sort > "$d/input.rows"
assert_files_equal "split conserves every row (sorted multiset)" "$d/input.rows" "$d/split.rows"
assert_eq "windows and servers (python)" "rows=17434 bad=0 sessions_on_two_servers=0" "$(python3 "$d/split_check.py" "$d/min" 60 4)"
assert_eq "names sort by time" "$(ls "$d/min" | LC_ALL=C sort)" "$(ls "$d/min" | LC_ALL=C sort -t. -k1,1 -s)"
assert_eq "the first window's files" "2019-10-01T00-00-00Z.s1.csv.gz 2019-10-01T00-00-00Z.s2.csv.gz 2019-10-01T00-00-00Z.s3.csv.gz 2019-10-01T00-00-00Z.s4.csv.gz" "$(ls "$d/min" | head -4 | paste -sd' ')"
python3 - "$d/split.json" > "$d/json.check" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
print(j["rows_read"] == j["rows_written"] + j["rows_unparsable"] == sum(j["rows_written_per_server"]) + j["rows_unparsable"], j["rows_read"])
EOF
assert_eq "summary json adds up" "True 17434" "$(cat "$d/json.check")"
# Every second :00 row of the sample (the rows Sellometer lost) is in the window starting then.
zero_rows=$(tail -n +2 "$OCT" | grep -c '^2019-10-01 ..:..:00 UTC')
zero_ok=0
for f in "$d"/min/*.csv.gz; do
  w=$(basename "$f" | cut -c1-20 | sed 's/T\(..\)-\(..\)-\(..\)Z/ \1:\2:\3 UTC/')
  zero_ok=$((zero_ok + $(zcat "$f" | grep -c "^$w,")))
done
assert_eq "rows at second :00 are in the window starting then" "$zero_rows" "$zero_ok"

# Boundaries on crafted rows: 00:00:59 and 00:01:00 are in different windows; 30 s windows.
cat > "$d/bound.csv" <<'EOF'
event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session
2019-10-01 00:00:59 UTC,view,1,10,,a,1.00,5,s
2019-10-01 00:01:00 UTC,view,2,10,,a,1.00,5,s
2019-10-01 00:01:29 UTC,view,3,10,,a,1.00,5,s
2019-10-01 00:01:30 UTC,view,4,10,,a,1.00,5,s
EOF
"$SELLOCLI" split --every 1m --servers 1 -o "$d/b1" "$d/bound.csv" 2>/dev/null
assert_eq "1m: 00:00:59 in the 00:00 window" "1" "$(tail -n +2 "$d/b1/2019-10-01T00-00-00Z.s1.csv" | cut -d, -f3 | paste -sd' ')"
assert_eq "1m: 00:01:00 in the 00:01 window" "2 3 4" "$(tail -n +2 "$d/b1/2019-10-01T00-01-00Z.s1.csv" | cut -d, -f3 | paste -sd' ')"
"$SELLOCLI" split --every 30s --servers 12 -o "$d/b30" "$d/bound.csv" 2>/dev/null
assert_eq "30s windows, servers padded to two digits" "2019-10-01T00-00-30Z 2019-10-01T00-01-00Z 2019-10-01T00-01-30Z" "$(ls "$d/b30" | cut -c1-20 | paste -sd' ')"
assert_eq "server number padded to the width of --servers" "3" "$(ls "$d/b30" | grep -c '\.s[0-9][0-9]\.csv$')"

# Unsorted input with few open files: windows are reopened (new gzip members), nothing is lost,
# and every file still has one header and holds the same rows as the sorted run's file.
python3 -c "
import random, sys
lines = open(sys.argv[1]).read().splitlines(True)
body = lines[1:]; random.Random(7).shuffle(body)
sys.stdout.write(lines[0] + ''.join(body))" "$OCT" > "$d/shuffled.csv"
out=$("$SELLOCLI" split --every 1m --servers 4 --gzip --max-open 3 -o "$d/shuf" "$d/shuffled.csv" 2>&1); code=$?
assert_eq "split unsorted exit" 0 "$code"
reopened=$(echo "$out" | sed -n 's/.*reopened \([0-9]*\) time.*/\1/p')
[ "${reopened:-0}" -gt 100 ] && pass || failt "unsorted input with --max-open 3 reopens files (got '$reopened')"
bad_gz=0; for f in "$d"/shuf/*.csv.gz; do gzip -t "$f" 2>/dev/null || bad_gz=$((bad_gz + 1)); done
assert_eq "reopened files pass gzip -t" 0 "$bad_gz"
assert_eq "reopened files: windows, servers, one header (python)" "rows=17434 bad=0 sessions_on_two_servers=0" "$(python3 "$d/split_check.py" "$d/shuf" 60 4)"
assert_eq "same file names as the sorted run" "$(ls "$d/min")" "$(ls "$d/shuf")"
same=0
for f in $(ls "$d/min"); do
  [ "$(zcat "$d/min/$f" | LC_ALL=C sort | md5sum)" == "$(zcat "$d/shuf/$f" | LC_ALL=C sort | md5sum)" ] && same=$((same + 1))
done
assert_eq "every file holds the same rows as in the sorted run" "$nfiles" "$same"
"$SELLOCLI" split --every 1m --servers 4 --max-open 2 -o "$d/shufplain" "$d/shuffled.csv" 2>/dev/null
cat "$d"/shufplain/*.csv | grep -v "^$HEADER\$" | LC_ALL=C sort > "$d/shufplain.rows"
assert_files_equal "plain files reopened in append mode conserve rows" "$d/input.rows" "$d/shufplain.rows"
assert_eq "plain files: one header each" "$(ls "$d/shufplain" | wc -l)" "$(cat "$d"/shufplain/*.csv | grep -c "^$HEADER\$")"

# Unparsable times and malformed records: all in unparsable.csv, the summary adds up.
{ cat "$OCT"; printf '%s\n' 'yesterday,view,1,10,,a,1.00,5,s' '2019-10-01 00:00:01 UTC,view' '2019-13-01 00:00:00 UTC,view,1,10,,a,1.00,5,s'; } > "$d/withbad.csv"
out=$("$SELLOCLI" split --every 1m --servers 4 -o "$d/wb" --summary-json "$d/wb.json" "$d/withbad.csv" 2>&1); code=$?
assert_eq "split with bad rows exit" 0 "$code"
assert_contains "unparsable rows accounted" "$out" "rows read 17437 = written 17434 + unparsable 3 (field_count 1, bad_event_time 2)"
assert_eq "unparsable.csv holds them (python csv)" "3 bad_event_time,field_count,bad_event_time" \
  "$(python3 -c "import csv,sys; r=list(csv.DictReader(open(sys.argv[1]))); print(len(r), ','.join(x['reason'] for x in r))" "$d/wb/unparsable.csv")"
assert_contains "summary json unparsable" "$(cat "$d/wb.json")" '"rows_read":17437,"rows_written":17434'
cat "$d"/wb/2019*.csv | grep -v "^$HEADER\$" | LC_ALL=C sort > "$d/wb.rows"
assert_files_equal "parsable rows all in window files" "$d/input.rows" "$d/wb.rows"
out=$("$SELLOCLI" split -o "$d/wb" "$OCT" 2>&1); code=$?
assert_eq "split into a non-empty directory fails" 1 "$code"
assert_contains "and says why" "$out" "not empty"
assert_exit "split bad --every is a usage error" 64 "$SELLOCLI" split --every 0s -o "$d/zz" "$OCT"

# ---------------------------------------------------------------- replay
# Everything at once: every window in order, every file complete, no temporary files left.
"$SELLOCLI" split --every 10m --servers 4 --gzip -o "$d/ten" "$OCT" 2>/dev/null
cp "$d/wb/unparsable.csv" "$d/ten/"
out=$("$SELLOCLI" replay --from "$d/ten" --to "$d/inbox" --interval 0 2>&1); code=$?
assert_eq "replay exit" 0 "$code"
assert_eq "every window file delivered" "$(ls "$d/ten" | grep -v unparsable)" "$(ls "$d/inbox")"
same=0; for f in $(ls "$d/inbox"); do cmp -s "$d/ten/$f" "$d/inbox/$f" && same=$((same + 1)); done
assert_eq "delivered files are byte-identical" "$(ls "$d/inbox" | wc -l)" "$same"
assert_eq "no temporary or other files left in the inbox" "" "$(ls -A "$d/inbox" | grep -v '^2019-')"
windows=$(echo "$out" | sed -n 's/^  window \([^:]*:[^:]*:[^:]*\): .*/\1/p')
assert_eq "windows delivered in time order, each once" "$(ls "$d/ten" | grep '^2019' | cut -c1-20 | uniq | sed 's/T\(..\)-\(..\)-\(..\)Z/T\1:\2:\3Z/')" "$windows"
assert_contains "ignored files are reported" "$out" "ignored 1 other file(s) (e.g. unparsable.csv)"
# Delivery order as the filesystem saw it: modification times never go backwards by window.
ordered=$(cd "$d/inbox" && for f in $(ls); do stat -c '%.9Y' "$f"; done | awk 'NR>1 && $1<prev {bad=1} {prev=$1} END {print bad ? "no" : "yes"}')
assert_eq "files were written in window order (mtimes)" "yes" "$ordered"
assert_eq "copy leaves the source alone" "$(ls "$d/inbox" | wc -l)" "$(ls "$d/ten" | grep -c '^2019')"

# While replay runs, a reader never sees a partial file (every visible name is complete gzip).
rm -rf "$d/inbox2"; mkdir "$d/inbox2"
"$SELLOCLI" replay --from "$d/min" --to "$d/inbox2" --interval 1s --speed 100 2>/dev/null &
rp=$!
partial=0; polls=0
while kill -0 "$rp" 2>/dev/null; do
  for f in "$d"/inbox2/2019*; do
    [ -e "$f" ] || continue
    gzip -t "$f" 2>/dev/null || { [ -e "$f" ] && partial=$((partial + 1)); }
  done
  polls=$((polls + 1))
done
wait "$rp"; code=$?
assert_eq "replay --speed exit" 0 "$code"
assert_eq "no partial file ever visible ($polls polls)" 0 "$partial"
assert_eq "all minute files delivered" "$nfiles" "$(ls "$d/inbox2" | wc -l)"

# --move moves the window files and leaves the rest.
cp -r "$d/ten" "$d/ten2"
"$SELLOCLI" replay --from "$d/ten2" --to "$d/inbox3" --interval 0 --move 2>/dev/null; code=$?
assert_eq "replay --move exit" 0 "$code"
assert_eq "--move empties the source of window files" "unparsable.csv" "$(ls "$d/ten2")"
assert_eq "--move delivers them" "$(ls "$d/inbox")" "$(ls "$d/inbox3")"

# SIGTERM between windows: stops cleanly after the current window, nothing partial.
"$SELLOCLI" replay --from "$d/ten" --to "$d/inbox4" --interval 5s 2>"$d/sig.err" &
rp=$!
for _ in $(seq 100); do [ "$(ls "$d/inbox4" 2>/dev/null | wc -l)" -ge 4 ] && break; sleep 0.05; done
kill -TERM "$rp"; wait "$rp"; code=$?
assert_eq "replay stopped by SIGTERM exits 143" 143 "$code"
assert_eq "only the first window was delivered" "$(ls "$d/ten" | grep '^2019-10-01T00-00-00Z')" "$(ls -A "$d/inbox4")"
assert_contains "stop is reported with a resume point" "$(cat "$d/sig.err")" "stopped by SIGTERM: 1 of"
"$SELLOCLI" replay --from "$d/ten" --to "$d/inbox4" --interval 0 --after 2019-10-01T00:00:00Z 2>/dev/null
assert_eq "--after resumes with the rest" "$(ls "$d/inbox")" "$(ls "$d/inbox4")"
assert_exit "replay bad --speed is a usage error" 64 "$SELLOCLI" replay --from "$d/ten" --to "$d/x" --speed 0
rm -rf "$d"
