# Bad and unusual input: every documented outcome of `sellocli ingest` on damaged, odd or wrong
# files. The corpus is generated at run time from real sample rows (nothing binary is committed).
# "Nothing good lost" is checked against scripts/reference.py (an independent implementation of
# the spec) or against the stats of the clean 300-row base file; "nothing stored" with sqlite3.
BI=$(new_scratch)
BI_REF="$ROOT/scripts/reference.py"

# ---------------------------------------------------------------- helpers
# bi_ingest DB ARGS...: runs ingest (in $BI, so relative names are what the ledger sees);
# sets BI_OUT (stdout and stderr) and BI_CODE.
bi_ingest() { local db=$1; shift; BI_OUT=$(cd "$BI" && "$SELLOCLI" ingest --db "$db" "$@" 2>&1); BI_CODE=$?; }
# bi_count DB TABLE: rows of a table, 0 when the store does not exist.
bi_count() { if [ -e "$BI/$1" ]; then sqlv "$BI/$1" "SELECT COUNT(*) FROM $2"; else echo 0; fi; }
# bi_nothing_stored NAME DB: no ledger row and no stats row.
bi_nothing_stored() {
  assert_eq "$1: no ledger row" 0 "$(bi_count "$2" files)"
  assert_eq "$1: no stats row" 0 "$(bi_count "$2" stats_minute)"
}
# bi_same_as_ref NAME DB FILE...: the store's stats equal the reference over FILE...
bi_same_as_ref() {
  local name=$1 db=$2; shift 2
  (cd "$BI" && python3 "$BI_REF" compute --hash-raw "$@" 2>/dev/null) > "$BI/ref.dump"
  stats_dump "$BI/$db" > "$BI/got.dump"
  assert_files_equal "$name: stats equal the reference" "$BI/ref.dump" "$BI/got.dump"
}
# bi_same_as_base NAME DB: the store's stats equal those of the clean base file.
bi_same_as_base() {
  stats_dump "$BI/$2" > "$BI/got.dump"
  assert_files_equal "$1: stats equal the clean base file's" "$BI/base.dump" "$BI/got.dump"
}
# bi_rejects GZ: the rejects file parsed as CSV, one `source_file|line|reason|raw` line per row
# (CR and LF inside raw shown as \r and \n).
bi_rejects() {
  zcat "$1" | python3 -c '
import csv, io, sys
rows = list(csv.reader(io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", newline="")))
print("|".join(rows[0]))
for r in rows[1:]:
    print("|".join([r[0], r[1], r[2], r[3].replace("\r", "\\r").replace("\n", "\\n")]))'
}

# ---------------------------------------------------------------- corpus
head -301 "$SAMPLES/rees46-2019-oct-head17k.csv" > "$BI/base.csv"     # header + 300 real rows
gzip -n -c "$BI/base.csv" > "$BI/base.csv.gz"
python3 "$BI_REF" compute --hash-raw "$BI/base.csv" 2>/dev/null > "$BI/base.dump"
( cd "$BI" && python3 - ) <<'PY'
import calendar, csv, io, json, random, time

lines = open("base.csv", newline="").read().split("\n")[:-1]
header, data = lines[0], lines[1:]
assert len(data) == 300
rows = [r for r in csv.reader(data)]

def line(fields):
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(fields)  # quotes fields with CR or LF
    return out.getvalue()[:-2]

def write(name, text, mode="w"):
    with open(name, mode, newline="" if mode == "w" else None) as f:
        f.write(text)

# Missing price column; pandas index column.
write("noprice.csv", "".join(line(r[:6] + r[7:]) + "\n" for r in [header.split(",")] + rows))
write("index.csv", "," + header + "\n" + "".join(f"{i},{l}\n" for i, l in enumerate(data)))
# CRLF, BOM, no final newline, and all three at once.
write("crlf.csv", "".join(l + "\r\n" for l in lines))
write("bom.csv", "\ufeff" + "".join(l + "\n" for l in lines))
write("nonl.csv", "\n".join(lines))
write("all3.csv", "\ufeff" + "\r\n".join(lines))

# Quoted brands (a comma; doubled quotes) on two purchases with known prices.
q = [list(r) for r in rows]
q[10][1], q[10][5], q[10][6] = "purchase", "acme, inc.", "12.34"
q[11][1], q[11][5], q[11][6] = "purchase", 'say "hi", ok', "5.00"
write("quoted.csv", header + "\n" + "".join(line(r) + "\n" for r in q))

# A 180 KB brand (a purchase at 1.23) and a 180 KB session, amid normal rows; and the same file
# with those two values short, for the reference (Python's csv module refuses fields > 128 KiB).
LONG = 180000
for name, brand, session in (("long.csv", "b" * LONG, "s" * LONG),
                             ("long-short.csv", "LONGBRAND", "LONGSESSION")):
    L = [list(r) for r in rows]
    L[100][1], L[100][5], L[100][6] = "purchase", brand, "1.23"
    L[101][8] = session
    write(name, header + "\n" + "".join(line(r) + "\n" for r in L))

# One- and three-decimal prices on purchases of products of their own.
P = [list(r) for r in rows]
for i, (pid, price) in enumerate((("990001", "0.6"), ("990002", "1.005"), ("990003", "2.004"),
                                  ("990004", "0.995"), ("990005", "7"))):
    P[150 + i][1], P[150 + i][2], P[150 + i][6] = "purchase", pid, price
write("prices.csv", header + "\n" + "".join(line(r) + "\n" for r in P))

# One of each reject reason among good rows, after a good row with a quoted newline, so the
# physical line numbers differ from the record numbers. Expected rejects written alongside.
def bad_file(name, eol):
    B = [list(r) for r in rows]
    B[3][5] = "two\nline brand"                      # good, spans two physical lines
    B[9][6] = "-1.50"                                # bad_price
    B[19][1] = "click"                               # bad_event_type
    B[29][0] = "2019-13-01 00:00:00 UTC"             # bad_event_time
    B[39][2] = "12ab"                                # bad_product_id
    B[49] = B[49] + ["extra"]                        # field_count
    B[59][5], B[59][6] = "x, y", "abc"               # bad_price, quoted field in raw
    B[69][5], B[69][6] = "multi\nline", "-2"         # bad_price, raw spans two lines
    reasons = {9: "bad_price", 19: "bad_event_type", 29: "bad_event_time",
               39: "bad_product_id", 49: "field_count", 59: "bad_price", 69: "bad_price"}
    out, exp, phys = [header + eol], ["source_file|line|reason|raw"], 2
    for i, r in enumerate(B):
        text = line(r)
        if i in reasons:
            exp.append(f"{name}|{phys}|{reasons[i]}|" + text.replace("\n", "\\n"))
        out.append(text + eol)
        phys += 1 + text.count("\n")
    write(name, "".join(out))
    write(name + ".expected-rejects", "\n".join(exp) + "\n")
bad_file("bad.csv", "\n")
bad_file("badcrlf.csv", "\r\n")

# Reject rates: 20/300 negative prices (6.7%, above 5%), 15/300 (exactly 5%), 50/99 on a
# file under 100 rows, 6/100 on a file of exactly 100 rows.
def negate(name, src, every):
    out = [header]
    n = 0
    for i, r in enumerate(src, start=2):
        r = list(r)
        if i % every == 0:
            r[6] = "-" + r[6]
            n += 1
        out.append(line(r))
    write(name, "\n".join(out) + "\n")
    return n
assert negate("many.csv", rows, 15) == 20
assert negate("five.csv", rows, 20) == 15
assert negate("small.csv", rows[:99], 2) == 50
assert negate("hundred.csv", rows[:100], 16) == 6

# JSON Lines: the first 40 rows as objects, times as text, Unix seconds, Unix milliseconds and
# ISO 8601 with an offset and a fraction; numeric product ids and prices; null brand; a cut
# line and an array (bad_json). And the same 40 rows as CSV.
J = []
hdr = header.split(",")
for i, r in enumerate(rows[:40]):
    o = dict(zip(hdr, r))
    t = calendar.timegm(time.strptime(o["event_time"], "%Y-%m-%d %H:%M:%S UTC"))
    if i % 4 == 1:
        o["event_time"] = t
    elif i % 4 == 2:
        o["event_time"] = t * 1000 + 789
    elif i % 4 == 3:
        o["event_time"] = time.strftime("%Y-%m-%dT%H:%M:%S.250+02:00", time.gmtime(t + 7200))
    if i % 5 == 0:
        o["price"] = json.loads(o["price"])
    if i % 7 == 0:
        o["product_id"] = int(o["product_id"])
    if o["brand"] == "":
        o["brand"] = None
    J.append(json.dumps(o))
J.insert(20, '{"event_time": "2019-10-01 00:00:30 UTC", "event_type": "view",')   # line 21
J.insert(25, "[1,2,3]")                                                           # line 26
write("events.jsonl", "\n".join(J) + "\n")
write("events40.csv", "\n".join(lines[:41]) + "\n")

# Binary: seeded random bytes (not starting with the gzip magic); a good CSV with a NUL line.
write("random.csv", random.Random(46).randbytes(5000), "wb")
write("nul.csv", ("\n".join(lines) + "\n").encode() + b"x\x00y\x00z\n", "wb")

# Documented edges.
N = [list(r) for r in rows]
N[5][6] = "-0.004"                                   # a negative decimal: bad_price
write("negzero.csv", header + "\n" + "".join(line(r) + "\n" for r in N))
T = [list(r) for r in rows]
T[5][0] = "1969-12-31 23:59:55 UTC"                  # a valid time in the spec's format
write("pre1970.csv", header + "\n" + "".join(line(r) + "\n" for r in T))
# Bad times in the minute of the row before (rows of one minute are parsed from their seconds).
M = [list(r) for r in rows]
M[10][0] = M[9][0][:17] + "60 UTC"                   # second 60: bad_event_time
M[20][0] = M[19][0][:17] + "6 UTC"                   # one digit: bad_event_time
M[30][0] = M[29][0][:19] + " utc"                    # lower case zone: bad_event_time
write("sameminute.csv", header + "\n" + "".join(line(r) + "\n" for r in M))
write("jsonnum.jsonl",
      '{"event_time": 1.5e9, "event_type": "purchase", "product_id": 5, "price": "1.00"}\n'
      '{"event_time": -5, "event_type": "purchase", "product_id": 6, "price": "1.00"}\n')
PY
tail -n +2 "$SAMPLES/rees46-2019-nov-head683.csv" > "$BI/nohdr.csv"
head -c 5000 "$BI/base.csv.gz" > "$BI/trunc.csv.gz"
# The base rows last first, cut: its new brands and categories take other ids than base.csv's.
{ head -1 "$BI/base.csv"; tail -n +2 "$BI/base.csv" | tac; } | gzip -n | head -c 5000 > "$BI/revtrunc.csv.gz"
python3 -c '
import sys
d = bytearray(open(sys.argv[1], "rb").read())
for i in range(4000, 4100):
    d[i] ^= 0x5A
open(sys.argv[2], "wb").write(d)' "$BI/base.csv.gz" "$BI/corrupt.csv.gz"
cp "$BI/base.csv" "$BI/plain.gz"
cp "$BI/base.csv.gz" "$BI/gzipped.csv"
head -151 "$BI/base.csv" | gzip -n > "$BI/m1.gz"
tail -n +152 "$BI/base.csv" | gzip -n > "$BI/m2.gz"
cat "$BI/m1.gz" "$BI/m2.gz" > "$BI/members.csv.gz"
: > "$BI/empty.csv"
head -1 "$BI/base.csv" > "$BI/header-only.csv"

# Precondition: the reference read the base file, which goes in whole and matches it.
assert_eq "reference dump of the base file is not empty" yes "$([ "$(wc -l < "$BI/base.dump")" -gt 1000 ] && echo yes || echo no)"
bi_ingest base.db -q base.csv
# The store is closed at exit: its write-ahead log is checkpointed and removed (a thread that
# kept the store alive once left it, and a copy of the file alone missed the data).
assert_eq "base: no write-ahead log left at exit" "" "$(ls "$BI"/base.db-wal 2>/dev/null)"
assert_eq "base ingest exit" 0 "$BI_CODE"
bi_same_as_base "base" base.db

# ---------------------------------------------------------------- gzip
# Truncated gzip: fails with the byte offset; the good file of the same command goes in.
bi_ingest trunc.db trunc.csv.gz base.csv
assert_eq "truncated gzip: exit" 1 "$BI_CODE"
assert_contains "truncated gzip: names the file" "$BI_OUT" "trunc.csv.gz"
[[ "$BI_OUT" =~ trunc\.csv\.gz:\ corrupt\ gzip\ at\ byte\ ([0-9]+) ]] && pass || failt "truncated gzip: no 'trunc.csv.gz: corrupt gzip at byte N' in [${BI_OUT:0:300}]"
bi_n=${BASH_REMATCH[1]:-0}
assert_eq "truncated gzip: offset N within the 5000 bytes given (N=$bi_n)" yes "$([ "$bi_n" -gt 0 ] && [ "$bi_n" -le 5000 ] && echo yes || echo no)"
assert_eq "truncated gzip: only the good file in the ledger" "base.csv" "$(sqlv "$BI/trunc.db" 'SELECT group_concat(path) FROM files')"
bi_same_as_base "truncated gzip + good file" trunc.db
# A failed file's keys are forgotten, and so are the caches in front of them: the good file
# after it is counted under its own brands and categories.
bi_ingest revtrunc.db revtrunc.csv.gz base.csv
assert_eq "failed file, then a good one: exit" 1 "$BI_CODE"
bi_same_as_base "failed file with other keys + good file" revtrunc.db

# Corrupt gzip (100 bytes flipped mid-stream): fails, names a byte offset, stores nothing.
bi_ingest corrupt.db corrupt.csv.gz
assert_eq "corrupt gzip: exit" 1 "$BI_CODE"
[[ "$BI_OUT" =~ corrupt\.csv\.gz:\ corrupt\ gzip\ at\ byte\ [0-9]+ ]] && pass || failt "corrupt gzip: no 'corrupt.csv.gz: corrupt gzip at byte N' in [${BI_OUT:0:300}]"
bi_nothing_stored "corrupt gzip" corrupt.db

# Compression is read from the bytes, not the name; concatenated members are one stream.
for f in plain.gz gzipped.csv members.csv.gz; do
  bi_ingest "name-$f.db" -q "$f"
  assert_eq "$f: exit" 0 "$BI_CODE"
  assert_eq "$f: rows read" 300 "$(sqlv "$BI/name-$f.db" 'SELECT rows_read FROM files')"
  bi_same_as_base "$f" "name-$f.db"
done

# ---------------------------------------------------------------- binary data
for f in random.csv nul.csv; do
  bi_ingest "bin-$f.db" "$f"
  assert_eq "$f: exit" 1 "$BI_CODE"
  assert_contains "$f: says binary data" "$BI_OUT" "binary data"
  assert_contains "$f: names the file" "$BI_OUT" "$f:"
  bi_nothing_stored "$f" "bin-$f.db"
done

# ---------------------------------------------------------------- empty, header only
bi_ingest empty.db empty.csv
assert_eq "empty file: exit" 0 "$BI_CODE"
assert_contains "empty file: reported empty" "$BI_OUT" "1 empty"
bi_nothing_stored "empty file" empty.db

bi_ingest header.db header-only.csv
assert_eq "header only: exit" 0 "$BI_CODE"
assert_contains "header only: 0 rows" "$BI_OUT" "rows read 0 = accepted 0 + rejected 0"
assert_eq "header only: ledger row with 0 rows" "header-only.csv|0|0|0" \
  "$(sqlv "$BI/header.db" "SELECT path||'|'||rows_read||'|'||rows_accepted||'|'||rows_rejected FROM files")"
assert_eq "header only: no stats" 0 "$(bi_count header.db stats_minute)"

# ---------------------------------------------------------------- header problems
# No price column; the real Nov rows without their header line.
for f in noprice.csv nohdr.csv; do
  bi_ingest "hdr-$f.db" "$f"
  assert_eq "$f: exit" 1 "$BI_CODE"
  assert_contains "$f: says what is missing" "$BI_OUT" "$f: line 1: header lacks required column(s) "
  [ "$f" = noprice.csv ] && assert_contains "$f: names the column" "$BI_OUT" "required column(s) price ("
  bi_nothing_stored "$f" "hdr-$f.db"
done

bi_ingest index.db -q index.csv
assert_eq "pandas index column: exit" 0 "$BI_CODE"
bi_same_as_base "pandas index column" index.db

# ---------------------------------------------------------------- line endings, BOM
for f in crlf.csv bom.csv nonl.csv all3.csv; do
  bi_ingest "eol-$f.db" -q "$f"
  assert_eq "$f: exit" 0 "$BI_CODE"
  assert_eq "$f: all rows accepted" "300|300" "$(sqlv "$BI/eol-$f.db" "SELECT rows_read||'|'||rows_accepted FROM files")"
  bi_same_as_base "$f" "eol-$f.db"
done

# ---------------------------------------------------------------- quoting
bi_ingest quoted.db -q quoted.csv
assert_eq "quoted brands: exit" 0 "$BI_CODE"
bi_same_as_ref "quoted brands" quoted.db quoted.csv
assert_eq "quoted brand key in the store" "1|1234" \
  "$(sqlv "$BI/quoted.db" "SELECT events||'|'||value_cents FROM stats_day WHERE event_type='purchase' AND dimension='brand' AND key='acme, inc.'")"
bi_got=$("$SELLOCLI" sql --db "$BI/quoted.db" --format csv "SELECT key, events, value_cents FROM stats_day WHERE event_type='purchase' AND dimension='brand' AND (key LIKE 'acme%' OR key LIKE 'say%') ORDER BY key")
assert_eq "sql --format csv quotes the keys" $'key,events,value_cents\n"acme, inc.",1,1234\n"say ""hi"", ok",1,500' "$bi_got"

# ---------------------------------------------------------------- a 180 KB line
bi_ingest long.db long.csv
assert_eq "180 KB fields: exit" 0 "$BI_CODE"
assert_contains "180 KB fields: every row accepted" "$BI_OUT" "rows read 300 = accepted 300 + rejected 0"
assert_eq "180 KB brand is one key" "180000|1|123" \
  "$(sqlv "$BI/long.db" "SELECT length(key)||'|'||events||'|'||value_cents FROM stats_day WHERE event_type='purchase' AND dimension='brand' AND length(key) > 1000")"
(cd "$BI" && python3 "$BI_REF" compute --hash-raw long-short.csv 2>/dev/null) > "$BI/ref.dump"
stats_dump "$BI/long.db" | python3 -c 'import sys; sys.stdout.write(sys.stdin.read().replace("b" * 180000, "LONGBRAND"))' > "$BI/got.dump"
assert_files_equal "180 KB fields: rows around them unaffected (reference with short values)" "$BI/ref.dump" "$BI/got.dump"

# ---------------------------------------------------------------- prices
bi_ingest prices.db -q prices.csv
assert_eq "prices: exit" 0 "$BI_CODE"
bi_got=$(sqlv "$BI/prices.db" "SELECT group_concat(key||'='||value_cents, ' ') FROM (SELECT key, value_cents FROM stats_day WHERE event_type='purchase' AND dimension='product_id' AND key LIKE '99000_' ORDER BY key)")
assert_eq "prices: 0.6, 1.005, 2.004, 0.995, 7 in cents" "990001=60 990002=101 990003=200 990004=100 990005=700" "$bi_got"
bi_same_as_ref "prices" prices.db prices.csv

# ---------------------------------------------------------------- rejected rows
bi_ingest rej.db bad.csv
assert_eq "rejects: exit" 0 "$BI_CODE"
assert_contains "rejects: summary reconciles" "$BI_OUT" "rows read 300 = accepted 293 + rejected 7 ("
for r in "field_count 1" "bad_event_time 1" "bad_event_type 1" "bad_product_id 1" "bad_price 3"; do
  assert_contains "rejects: summary counts $r" "$BI_OUT" "$r"
done
assert_eq "rejects: ledger" "300|293|7" "$(sqlv "$BI/rej.db" "SELECT rows_read||'|'||rows_accepted||'|'||rows_rejected FROM files")"
assert_eq "rejects: ledger by reason" '1|1|1|1|3' "$(sqlv "$BI/rej.db" "SELECT json_extract(rejected_by_reason,'\$.field_count')||'|'||json_extract(rejected_by_reason,'\$.bad_event_time')||'|'||json_extract(rejected_by_reason,'\$.bad_event_type')||'|'||json_extract(rejected_by_reason,'\$.bad_product_id')||'|'||json_extract(rejected_by_reason,'\$.bad_price') FROM files")"
if [ -f "$BI/rej.rejects.csv.gz" ]; then
  pass
  bi_rejects "$BI/rej.rejects.csv.gz" > "$BI/rej.got"
  assert_files_equal "rejects: default file holds file, physical line, reason, raw" "$BI/bad.csv.expected-rejects" "$BI/rej.got"
else
  failt "rejects: no default rejects file rej.rejects.csv.gz beside the store"
fi
bi_same_as_ref "rejects: good rows all counted" rej.db bad.csv

# --rejects PATH, CRLF file: the raw text has no CR, the default file is not written.
bi_ingest rejcrlf.db -q --rejects "$BI/mine.csv.gz" badcrlf.csv
assert_eq "rejects to --rejects: exit" 0 "$BI_CODE"
assert_eq "rejects to --rejects: no default file" "no" "$([ -e "$BI/rejcrlf.rejects.csv.gz" ] && echo yes || echo no)"
bi_rejects "$BI/mine.csv.gz" > "$BI/mine.got" 2>/dev/null
assert_files_equal "rejects to --rejects: CRLF file, same lines" "$BI/badcrlf.csv.expected-rejects" "$BI/mine.got"
bi_same_as_ref "rejects, CRLF: good rows all counted" rejcrlf.db badcrlf.csv

# ---------------------------------------------------------------- reject rate
bi_ingest rate.db many.csv
assert_eq "over 5% rejected: exit" 1 "$BI_CODE"
assert_contains "over 5% rejected: names the file" "$BI_OUT" "many.csv:"
assert_contains "over 5% rejected: says why" "$BI_OUT" "max-reject-rate"
bi_nothing_stored "over 5% rejected" rate.db
assert_eq "over 5% rejected: none of its rows in the rejects file" 0 "$({ zcat "$BI/rate.rejects.csv.gz" 2>/dev/null || true; } | grep -c '^many.csv,')"
bi_ingest rate.db -q --max-reject-rate 100% many.csv
assert_eq "--max-reject-rate 100%: exit" 0 "$BI_CODE"
assert_eq "--max-reject-rate 100%: ledger" "300|280|20" "$(sqlv "$BI/rate.db" "SELECT rows_read||'|'||rows_accepted||'|'||rows_rejected FROM files")"
bi_same_as_ref "--max-reject-rate 100%" rate.db many.csv
bi_ingest rate5.db -q five.csv
assert_eq "exactly 5% rejected is not above 5%: exit" 0 "$BI_CODE"
bi_ingest rate99.db -q small.csv
assert_eq "50% rejected of 99 rows (under 100, not judged): exit" 0 "$BI_CODE"
bi_ingest rate100.db -q hundred.csv
assert_eq "6% rejected of exactly 100 rows: exit" 1 "$BI_CODE"
bi_nothing_stored "6% of 100 rows" rate100.db

# ---------------------------------------------------------------- JSON Lines
bi_ingest json.db events.jsonl
assert_eq "jsonl: exit" 0 "$BI_CODE"
assert_contains "jsonl: summary reconciles" "$BI_OUT" "rows read 42 = accepted 40 + rejected 2 (bad_json 2)"
bi_same_as_ref "jsonl" json.db events.jsonl
bi_same_as_ref "jsonl equals the same rows as CSV" json.db events40.csv
assert_eq "jsonl: rejects lines" $'21|bad_json\n26|bad_json' "$(bi_rejects "$BI/json.rejects.csv.gz" | tail -n +2 | cut -d'|' -f2,3)"

# ---------------------------------------------------------------- standard input
BI_OUT=$(cd "$BI" && cat base.csv | "$SELLOCLI" ingest -q --db stdin.db - 2>&1); BI_CODE=$?
assert_eq "stdin: exit" 0 "$BI_CODE"
assert_eq "stdin: ledger" "-|300" "$(sqlv "$BI/stdin.db" "SELECT path||'|'||rows_read FROM files")"
bi_same_as_base "stdin" stdin.db
BI_OUT=$(cd "$BI" && cat base.csv.gz | "$SELLOCLI" ingest -q --db stdingz.db - 2>&1); BI_CODE=$?
assert_eq "stdin gzip: exit" 0 "$BI_CODE"
bi_same_as_base "stdin gzip" stdingz.db

# ---------------------------------------------------------------- dry run
cp "$BI/base.db" "$BI/dry.db"
bi_state() { sqlv "$BI/dry.db" "SELECT (SELECT COUNT(*)||'/'||SUM(events)||'/'||SUM(value_cents) FROM stats_minute)||' '||(SELECT COUNT(*) FROM stats_day)||' '||(SELECT COUNT(*) FROM files)"; }
bi_before=$(bi_state); bi_sum_before=$(cksum < "$BI/dry.db")
bi_ingest dry.db --dry-run bad.csv
assert_eq "dry run: exit" 0 "$BI_CODE"
assert_contains "dry run: reports the rows" "$BI_OUT" "rows read 300 = accepted 293 + rejected 7"
assert_eq "dry run: stats and ledger unchanged" "$bi_before" "$(bi_state)"
assert_eq "dry run: store file unchanged" "$bi_sum_before" "$(cksum < "$BI/dry.db")"
assert_eq "dry run: no rejects file" "no" "$([ -e "$BI/dry.rejects.csv.gz" ] && echo yes || echo no)"
# --dry-run writes nothing, not even a new store file.
bi_ingest dry-new.db -q --dry-run base.csv
assert_eq "dry run on a new store: exit" 0 "$BI_CODE"
assert_eq "dry run on a new store creates no file" "no" "$([ -e "$BI/dry-new.db" ] && echo yes || echo no)"

# ---------------------------------------------------------------- usage errors
assert_exit "no files" 64 "$SELLOCLI" ingest --db "$BI/usage.db"
assert_exit "--max-reject-rate abc" 64 "$SELLOCLI" ingest --db "$BI/usage.db" --max-reject-rate abc "$BI/base.csv"
assert_exit "unknown option" 64 "$SELLOCLI" ingest --db "$BI/usage.db" --no-such-option "$BI/base.csv"
assert_eq "usage errors store nothing" 0 "$(bi_count usage.db files)"

# ---------------------------------------------------------------- documented edges
# A negative price is rejected even when it rounds to 0 cents (-0.004).
bi_ingest negzero.db negzero.csv
assert_contains "price -0.004 is rejected as bad_price" "$BI_OUT" "rows read 300 = accepted 299 + rejected 1 (bad_price 1)"
# Documented range: event times from 1970-01-01 to 9999-12-31 UTC; earlier ones are rejected
# as bad_event_time (kept in the rejects file), never silently shifted.
bi_ingest pre1970.db pre1970.csv
assert_contains "1969-12-31 23:59:55 UTC is outside the documented range" "$BI_OUT" "rows read 300 = accepted 299 + rejected 1 (bad_event_time 1)"
bi_ingest sameminute.db sameminute.csv
assert_contains "bad times within a minute of good ones are rejected" "$BI_OUT" "rows read 300 = accepted 297 + rejected 3 (bad_event_time 3)"
bi_same_as_ref "bad times within a minute: good rows all counted" sameminute.db sameminute.csv
# Documented: a JSON numeric time is a plain non-negative decimal (no exponent); 1.5e9 and -5 are
# rejected as bad_event_time with their line kept.
bi_ingest jsonnum.db jsonnum.jsonl --max-reject-rate 100%
assert_contains "JSON times 1.5e9 and -5 are rejected" "$BI_OUT" "rows read 2 = accepted 0 + rejected 2 (bad_event_time 2)"

rm -rf "$BI"
