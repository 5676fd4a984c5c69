# retain: tier retention on the data clock. The dry run prints exactly what the real run does
# and deletes nothing; the real run leaves no minute bucket before watermark - 24h; a late file
# afterwards does not re-create deleted minute buckets but still updates hour and day (checked
# against sums computed by python over the late rows); the store lock gives exit 75 / --wait.
d=$(new_scratch)
"$SELLOCLI" gen --rows 20000 --start 2019-10-01 --hours 72 --seed 3 -o "$d/a.csv" 2>/dev/null
"$SELLOCLI" ingest --db "$d/s.db" -q "$d/a.csv"
counts() { sqlv "$1" "SELECT (SELECT COUNT(*) FROM stat_minute)||','||(SELECT COUNT(*) FROM stat_hour)||','||(SELECT COUNT(*) FROM stat_day)"; }
iso() { sqlv "$d/s.db" "SELECT strftime('%Y-%m-%dT%H:%M:%SZ', $1, 'unixepoch')"; }
rt_before=$(counts "$d/s.db")
wm=$(sqlv "$d/s.db" "SELECT value FROM meta WHERE key = 'watermark'")
# The minute cutoff, computed here: (watermark - 24h) rounded down to the minute.
cut=$(( (wm - 86400) - (wm - 86400) % 60 ))
hcut=$(( (wm - 31 * 86400) - (wm - 31 * 86400) % 3600 ))
want_rows=$(sqlv "$d/s.db" "SELECT COUNT(*) FROM stat_minute WHERE bucket < $cut")
first=$(iso "$(sqlv "$d/s.db" "SELECT MIN(bucket) FROM stat_minute WHERE bucket < $cut")")
last=$(iso "$(sqlv "$d/s.db" "SELECT MAX(bucket) FROM stat_minute WHERE bucket < $cut")")
assert_eq "72 hours of data leave minute rows to delete" "yes" "$([ "$want_rows" -gt 1000 ] && echo yes || echo no)"

"$SELLOCLI" retain --db "$d/s.db" --dry-run --format csv > "$d/dry.csv" 2> "$d/dry.err"; code=$?
assert_eq "dry run exit" 0 "$code"
assert_eq "dry run deletes nothing" "$rt_before" "$(counts "$d/s.db")"
assert_eq "dry run sets no retained_from" "0" "$(sqlv "$d/s.db" "SELECT COUNT(*) FROM meta WHERE key LIKE 'retained_from:%'")"
assert_eq "dry run: the plan, computed independently" \
  "tier,retention,cutoff,rows_deleted,first_bucket,last_bucket
minute,1d,$(iso $cut),$want_rows,$first,$last
hour,31d,$(iso $hcut),0,,
day,unlimited,,0,," "$(cat "$d/dry.csv")"
assert_contains "dry run says so" "$(cat "$d/dry.err")" "nothing was deleted"

kept_before=$(sqlv "$d/s.db" "SELECT COUNT(*)||','||SUM(events)||','||SUM(value_cents) FROM stat_minute WHERE bucket >= $cut")
"$SELLOCLI" retain --db "$d/s.db" --format csv > "$d/real.csv" 2> "$d/real.err"; code=$?
assert_eq "real run exit" 0 "$code"
assert_files_equal "dry run output = real run output" "$d/dry.csv" "$d/real.csv"
IFS=, read -r m0 h0 y0 <<< "$rt_before"
assert_eq "real run deleted the planned minute rows, nothing else" "$((m0 - want_rows)),$h0,$y0" "$(counts "$d/s.db")"
assert_eq "no minute bucket before the cutoff" "0" "$(sqlv "$d/s.db" "SELECT COUNT(*) FROM stat_minute WHERE bucket < $cut")"
assert_eq "no minute bucket wholly before watermark-24h" "0" "$(sqlv "$d/s.db" "SELECT COUNT(*) FROM stat_minute WHERE bucket + 60 <= $wm - 86400")"
assert_eq "minute rows from the cutoff on all kept" "$kept_before" "$(sqlv "$d/s.db" "SELECT COUNT(*)||','||SUM(events)||','||SUM(value_cents) FROM stat_minute WHERE bucket >= $cut")"
out=$("$SELLOCLI" retain --db "$d/s.db" --format csv 2>/dev/null)
assert_contains "a second run deletes nothing" "$out" "minute,1d,$(iso $cut),0,,"

# --- a late file (events before the minute cutoff): hour and day move, minute does not.
# Purchases and carts only (no view dedupe involved), so python can sum them exactly.
"$SELLOCLI" gen --rows 6000 --start 2019-10-01T05:00:00Z --hours 6 --seed 5 -o "$d/late-all.csv" 2>/dev/null
python3 - "$d/late-all.csv" "$d/late.csv" <<'PY'
import csv, sys
r = csv.reader(open(sys.argv[1])); w = csv.writer(open(sys.argv[2], "w", newline=""), lineterminator="\n")
h = next(r); w.writerow(h); i = h.index("event_type")
for row in r:
    if row[i] in ("purchase", "cart"): w.writerow(row)
PY
# per (tier, bucket, event_type) over dimension product_id: events, value_cents
sums() { sqlv "$1" "SELECT 'hour', bucket, event_type, SUM(events), SUM(value_cents) FROM stats_hour WHERE dimension = 'product_id' GROUP BY bucket, event_type
  UNION ALL SELECT 'day', bucket, event_type, SUM(events), SUM(value_cents) FROM stats_day WHERE dimension = 'product_id' GROUP BY bucket, event_type"; }
sums "$d/s.db" > "$d/sums-before"
minute_before=$(sqlv "$d/s.db" "SELECT COUNT(*)||','||SUM(events)||','||SUM(value_cents) FROM stat_minute")
"$SELLOCLI" ingest --db "$d/s.db" -q "$d/late.csv"; code=$?
assert_eq "late file ingested" 0 "$code"
sums "$d/s.db" > "$d/sums-after"
late_rows=$(($(wc -l < "$d/late.csv") - 1))
assert_eq "the late file has rows, all before the cutoff" "yes" "$(python3 -c "
import csv, calendar, time
ts = [calendar.timegm(time.strptime(r['event_time'], '%Y-%m-%d %H:%M:%S UTC')) for r in csv.DictReader(open('$d/late.csv'))]
print('yes' if len(ts) > 50 and max(ts) < $cut else 'no')")"
assert_eq "no minute bucket re-created before the cutoff" "0" "$(sqlv "$d/s.db" "SELECT COUNT(*) FROM stat_minute WHERE bucket < $cut")"
assert_eq "minute tier untouched by the late file" "$minute_before" "$(sqlv "$d/s.db" "SELECT COUNT(*)||','||SUM(events)||','||SUM(value_cents) FROM stat_minute")"
got=$(python3 - "$d/sums-before" "$d/sums-after" <<'PY'
import sys
def load(p):
    out = {}
    for line in open(p):
        t, b, e, n, v = line.strip().split("|")
        out[(t, int(b), e)] = (int(n), int(v))
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
for k in sorted(set(a) | set(b)):
    x, y = a.get(k, (0, 0)), b.get(k, (0, 0))
    if x != y: print(k[0], k[1], k[2], y[0] - x[0], y[1] - x[1])
PY
)
want=$(python3 - "$d/late.csv" <<'PY'
import csv, sys, calendar, time
from decimal import Decimal
d = {}
for r in csv.DictReader(open(sys.argv[1])):
    t = calendar.timegm(time.strptime(r["event_time"], "%Y-%m-%d %H:%M:%S UTC"))
    cents = int(Decimal(r["price"]) * 100)
    for tier, w in (("hour", 3600), ("day", 86400)):
        k = (tier, t - t % w, r["event_type"])
        n, v = d.get(k, (0, 0)); d[k] = (n + 1, v + cents)
for k in sorted(d):
    print(k[0], k[1], k[2], d[k][0], d[k][1])
PY
)
assert_eq "hour and day moved by exactly the late rows (python)" "$want" "$got"
assert_eq "late rows counted in the ledger" "$late_rows" "$(sqlv "$d/s.db" "SELECT rows_accepted FROM files WHERE path LIKE '%late.csv'")"

# --- the store lock: busy gives 75 at once; --wait gets it once released
# The holder waits for the lock (-w) rather than giving up if something still has it, and the
# test waits until it is held (up to 10 s): under load either step was seen to miss, once.
flock -w 10 "$d/s.db.lock" sleep 3 &
lockpid=$!
for _ in $(seq 200); do flock -n "$d/s.db.lock" true 2>/dev/null || break; sleep 0.05; done
t0=$(date +%s%N)
err=$("$SELLOCLI" retain --db "$d/s.db" --format csv 2>&1 >/dev/null); code=$?
t1=$(date +%s%N)
assert_eq "busy store: exit 75" 75 "$code"
assert_contains "busy store: message names the lock" "$err" "s.db.lock"
assert_eq "busy store: fails at once" "yes" "$([ $(( (t1 - t0) / 1000000 )) -lt 1500 ] && echo yes || echo no)"
"$SELLOCLI" retain --db "$d/s.db" --wait 10 --format csv > /dev/null 2>&1; code=$?
t2=$(date +%s%N)
assert_eq "--wait 10: succeeds once the lock is released" 0 "$code"
assert_eq "--wait 10: it did wait" "yes" "$([ $(( (t2 - t1) / 1000000 )) -ge 1000 ] && echo yes || echo no)"
wait "$lockpid" 2>/dev/null
assert_exit "--wait with a bad duration is a usage error" 64 "$SELLOCLI" retain --db "$d/s.db" --wait soon

# --- nothing to do / no store
printf 'event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n' > "$d/none.csv"
"$SELLOCLI" ingest --db "$d/e.db" -q "$d/none.csv"
assert_eq "a header-only ingest makes a store without a watermark" "0" "$(sqlv "$d/e.db" "SELECT COUNT(*) FROM meta WHERE key = 'watermark'")"
err=$("$SELLOCLI" retain --db "$d/e.db" 2>&1); code=$?
assert_eq "store without a watermark: exit 0" 0 "$code"
assert_contains "store without a watermark: says so" "$err" "nothing to do"
assert_exit "no store: exit 1" 1 "$SELLOCLI" retain --db "$d/missing.db"
assert_eq "no store: not created" "no" "$([ -e "$d/missing.db" ] && echo yes || echo no)"

# --- a config with a short minute tier: warnings on stderr, the shorter cutoff applied
printf '[[tiers]]\nname = "minute"\nwidth = "1m"\nretention = "12h"\n[[tiers]]\nname = "hour"\nwidth = "1h"\nretention = "31d"\n[[tiers]]\nname = "day"\nwidth = "1d"\n' > "$d/short.toml"
out=$("$SELLOCLI" retain --db "$d/s.db" --config "$d/short.toml" --dry-run --format csv 2> "$d/w.err"); code=$?
assert_eq "short retention: exit 0" 0 "$code"
assert_contains "warning: shorter than the dedupe horizon" "$(cat "$d/w.err")" "less than the dedupe horizon"
assert_contains "warning: shorter than the accepted lateness" "$(cat "$d/w.err")" "less than the accepted lateness"
c12=$(( (wm - 43200) - (wm - 43200) % 60 ))
assert_contains "12h cutoff planned" "$out" "minute,12h,$(iso $c12),$(sqlv "$d/s.db" "SELECT COUNT(*) FROM stat_minute WHERE bucket < $c12"),"
rm -rf "$d"
