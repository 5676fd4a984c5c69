# sellocli run: the cron tick. The defining property with the inbox, the archive, late and
# repeated files, kill -9 at random points and concurrent ticks: the store must end equal to one
# ingest of all the events, and `rebuild` from the archive equal to both.
d=$(new_scratch)
"$SELLOCLI" gen --rows 30000 --start 2019-10-01T00:00:00Z --hours 6 --seed 11 -o "$d/all.csv" 2>/dev/null
"$SELLOCLI" split --every 5m --servers 2 -o "$d/parts" "$d/all.csv" 2>/dev/null
nparts=$(ls "$d/parts" | grep -c '\.csv$')
"$SELLOCLI" ingest --db "$d/one.db" -q "$d/all.csv"
want=$(stats_dump "$d/one.db" | md5sum)

# deliver NAME...: copy into the inbox atomically (dot-name, then rename), as writers must.
deliver() { local inbox=$1; shift; for f in "$@"; do cp "$d/parts/$f" "$inbox/.$f.part" && mv "$inbox/.$f.part" "$inbox/$f"; done; }

# 1. Everything in one tick.
mkdir -p "$d/in1"; deliver "$d/in1" $(ls "$d/parts" | grep '\.csv$')
"$SELLOCLI" run --inbox "$d/in1" --db "$d/t1.db" -q --summary-json "$d/t1.json"; code=$?
assert_eq "one tick exit" 0 "$code"
assert_eq "one tick equals one pass" "$want" "$(stats_dump "$d/t1.db" | md5sum)"
assert_eq "inbox emptied" "" "$(ls -A "$d/in1" | grep -v '^\.sello-claimed$')"
assert_eq "claimed dir emptied" "" "$(ls -A "$d/in1/.sello-claimed")"
assert_eq "ledger holds every file" "$nparts" "$(sqlv "$d/t1.db" 'SELECT COUNT(*) FROM files')"
assert_eq "archive rows = input rows" "30000" "$(sqlite3 "$d/archive/manifest.sqlite" 'SELECT SUM(rows) FROM files' 2>/dev/null || sqlite3 "$d/t1.db" 'select 0')"
assert_contains "summary json" "$(cat "$d/t1.json")" '"claimed":'"$nparts"
assert_contains "last tick kept in the store" "$(sqlv "$d/t1.db" "SELECT value FROM meta WHERE key='last_tick'")" '"claimed":'"$nparts"

# 2. Random order over several ticks, some files twice, a late half: on-time first, backlog after.
mkdir -p "$d/in2"
mapfile -t shuffled < <(ls "$d/parts" | grep '\.csv$' | python3 -c 'import sys,random; l=[x.strip() for x in sys.stdin]; random.seed(5); random.shuffle(l); print("\n".join(l))')
i=0
while [ $i -lt ${#shuffled[@]} ]; do
  deliver "$d/in2" "${shuffled[@]:$i:17}"
  [ $i -gt 0 ] && deliver "$d/in2" "${shuffled[0]}"   # a repeat of an already counted file
  "$SELLOCLI" run --inbox "$d/in2" --db "$d/t2.db" --archive "$d/a2" -q --summary-json "$d/t2.json" || failt "tick exit $?"
  i=$((i + 17))
done
assert_eq "random order and repeats equal one pass" "$want" "$(stats_dump "$d/t2.db" | md5sum)"
backlog_seen=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["backlog"])' "$d/t2.json")
assert_eq "last tick: its late files were counted as backlog" "1" "$([ "$backlog_seen" -ge 1 ] && echo 1 || echo 0)"

# 3. kill -9 at random moments, then ticks until the inbox is empty: nothing lost or doubled.
mkdir -p "$d/in3"; deliver "$d/in3" $(ls "$d/parts" | grep '\.csv$')
kills=0; killed_mid=0
for s in 0.05 0.1 0.2 0.3 0.15 0.4 0.25; do
  "$SELLOCLI" run --inbox "$d/in3" --db "$d/t3.db" --archive "$d/a3" -q --no-housekeeping 2>/dev/null &
  pid=$!
  sleep "$s"
  if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); [ -n "$(ls -A "$d/in3/.sello-claimed" 2>/dev/null)" ] && killed_mid=$((killed_mid + 1)); fi
  wait "$pid" 2>/dev/null
done
for _ in 1 2 3; do "$SELLOCLI" run --inbox "$d/in3" --db "$d/t3.db" --archive "$d/a3" -q || failt "tick after kills exit $?"; done
assert_eq "kill -9 (x$kills) then ticks equal one pass" "$want" "$(stats_dump "$d/t3.db" | md5sum)"
assert_eq "nothing left claimed after kills" "" "$(ls -A "$d/in3/.sello-claimed")"
assert_eq "at least one kill hit a tick with files claimed" "1" "$([ "$killed_mid" -ge 1 ] && echo 1 || echo 0)"
"$SELLOCLI" rebuild --from-archive "$d/a3" --db "$d/r3.db" -q >/dev/null 2>&1; code=$?
assert_eq "rebuild after kills exit" 0 "$code"
assert_eq "rebuild from the archive equals the live store" "$want" "$(stats_dump "$d/r3.db" | md5sum)"

# 4. Two ticks at once on one store: one waits for the other's lock, or exits 75 without --wait.
mkdir -p "$d/in4"; deliver "$d/in4" $(ls "$d/parts" | grep '\.csv$')
"$SELLOCLI" run --inbox "$d/in4" --db "$d/t4.db" --archive "$d/a4" -q --wait 60s & p1=$!
"$SELLOCLI" run --inbox "$d/in4" --db "$d/t4.db" --archive "$d/a4" -q --wait 60s & p2=$!
wait $p1; c1=$?; wait $p2; c2=$?
assert_eq "concurrent ticks with --wait both succeed" "0 0" "$c1 $c2"
assert_eq "concurrent ticks equal one pass" "$want" "$(stats_dump "$d/t4.db" | md5sum)"
flock -n "$d/t4.db.lock" sleep 3 & holder=$!
sleep 0.3
"$SELLOCLI" run --inbox "$d/in4" --db "$d/t4.db" --archive "$d/a4" -q 2>"$d/busy.err"; code=$?
assert_eq "a tick while the lock is held exits 75" 75 "$code"
assert_contains "busy message" "$(cat "$d/busy.err")" "busy"
wait $holder

# 5. A surge defers housekeeping; a quiet tick does it.
mkdir -p "$d/in5"; deliver "$d/in5" $(ls "$d/parts" | grep '\.csv$' | head -5)
"$SELLOCLI" run --inbox "$d/in5" --db "$d/t5.db" --archive "$d/a5" -q --surge-bytes 1000 --summary-json "$d/t5.json"
assert_contains "surge defers housekeeping" "$(cat "$d/t5.json")" '"housekeeping":"deferred'
assert_contains "surge flagged" "$(cat "$d/t5.json")" '"surge":true'
"$SELLOCLI" run --inbox "$d/in5" --db "$d/t5.db" --archive "$d/a5" -q --surge-bytes 1000 --summary-json "$d/t5.json"
assert_contains "quiet tick does housekeeping" "$(cat "$d/t5.json")" '"housekeeping":"done"'

# 6. A bad file goes to .sello-failed with its reason; the good ones still go in.
mkdir -p "$d/in6"; deliver "$d/in6" $(ls "$d/parts" | grep '\.csv$' | head -2)
printf 'not,a,retail\nfile,at,all\n' > "$d/in6/bad.csv"
"$SELLOCLI" run --inbox "$d/in6" --db "$d/t6.db" --archive "$d/a6" -q; code=$?
assert_eq "a failed file makes the tick exit 1" 1 "$code"
assert_eq "failed file moved" "yes" "$([ -f "$d/in6/.sello-failed/bad.csv" ] && echo yes)"
assert_contains "failed file's reason" "$(cat "$d/in6/.sello-failed/bad.csv.error" 2>/dev/null)" "bad.csv"
assert_eq "good files ingested" "2" "$(sqlv "$d/t6.db" 'SELECT COUNT(*) FROM files')"
# A file that fails only at its end (too many rejected rows), among good ones: the tick's
# group is rolled back and redone file by file, so its rejects and archive rows never stay.
mkdir -p "$d/in6b"; deliver "$d/in6b" $(ls "$d/parts" | grep '\.csv$' | sed -n '3,5p')
{ echo "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"
  for i in $(seq 1 150); do echo "2019-10-01 00:00:0$((i % 10)) UTC,bogus,1,2,,,1.00,3,s$i"; done
  echo "2019-10-01 00:00:01 UTC,view,1,2,,,1.00,3,s1"; } > "$d/in6b/rejecty.csv"
"$SELLOCLI" run --inbox "$d/in6b" --db "$d/t6.db" --archive "$d/a6" -q; code=$?
assert_eq "a file failing at its end makes the tick exit 1" 1 "$code"
assert_eq "its group's good files went in" "5" "$(sqlv "$d/t6.db" 'SELECT COUNT(*) FROM files')"
assert_eq "none of its rejected rows kept" "0" "$(gzip -dc "$d/t6.rejects.csv.gz" 2>/dev/null | grep -c rejecty.csv)"
assert_eq "archive holds the good sources only" "5" "$(sqlv "$d/a6/manifest.sqlite" 'SELECT COUNT(*) FROM sources')"
assert_exit "archive verifies" 0 "$SELLOCLI" archive verify --archive "$d/a6"
rm -rf "$d"

# 7. --loop: ticks until SIGTERM; SIGTERM finishes the current file and exits 0; what was not
#    reached stays for the next tick, and the result still equals one pass.
d=$(new_scratch)
"$SELLOCLI" gen --rows 30000 --start 2019-10-01T00:00:00Z --hours 6 --seed 11 -o "$d/all.csv" 2>/dev/null
"$SELLOCLI" split --every 5m --servers 2 -o "$d/parts" "$d/all.csv" 2>/dev/null
"$SELLOCLI" ingest --db "$d/one.db" -q "$d/all.csv"
mkdir -p "$d/in7"; for f in $(ls "$d/parts" | grep '\.csv$'); do mv "$d/parts/$f" "$d/in7/"; done
"$SELLOCLI" run --inbox "$d/in7" --db "$d/t7.db" --archive "$d/a7" --loop --interval 1s -q --summary-json "$d/t7.json" 2>"$d/t7.err" &
pid=$!
sleep 0.4
kill -TERM "$pid"
wait "$pid"; code=$?
assert_eq "SIGTERM: the loop exits cleanly" 0 "$code"
"$SELLOCLI" run --inbox "$d/in7" --db "$d/t7.db" --archive "$d/a7" -q
assert_eq "after SIGTERM and one more tick: equal to one pass" "$(stats_dump "$d/one.db" | md5sum)" "$(stats_dump "$d/t7.db" | md5sum)"
assert_eq "after SIGTERM: inbox and claimed dir empty" "" "$(ls -A "$d/in7" | grep -v '^\.sello-claimed$'; ls -A "$d/in7/.sello-claimed")"
rm -rf "$d"

# 8. Plain ingest (and catalog ingest) take the same lock as a tick: busy is exit 75, --wait waits.
d=$(new_scratch)
"$SELLOCLI" gen --rows 200 --seed 3 -o "$d/e.csv" 2>/dev/null
flock -n "$d/s.db.lock" sleep 2 & holder=$!
sleep 0.3
"$SELLOCLI" ingest --db "$d/s.db" -q "$d/e.csv" 2>"$d/err"; code=$?
assert_eq "ingest while a tick holds the lock exits 75" 75 "$code"
assert_contains "ingest busy message" "$(cat "$d/err")" "busy"
assert_eq "nothing ingested while busy" "no store" "$([ -f "$d/s.db" ] && echo store || echo "no store")"
"$SELLOCLI" catalog ingest --db "$d/s.db" -q "$SAMPLES/clickstream-2019-10-01.jsonl.gz" 2>/dev/null; code=$?
assert_eq "catalog ingest while busy exits 75" 75 "$code"
"$SELLOCLI" ingest --db "$d/s.db" -q --wait 10s "$d/e.csv"; code=$?
assert_eq "ingest --wait gets the lock once released" 0 "$code"
assert_eq "dry run needs no lock" 0 "$(flock -n "$d/s.db.lock" sleep 1 & sleep 0.2; "$SELLOCLI" ingest --db "$d/s.db" -q --dry-run "$d/e.csv" >/dev/null 2>&1; echo $?)"
wait $holder
rm -rf "$d"
