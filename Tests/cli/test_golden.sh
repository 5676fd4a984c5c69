# Golden: the real REES46 October head, checked against expected values derived independently
# (scripts/reference.py, a separate Python implementation of the spec, and sqlite3-shell SQL
# over the raw rows in Tests/golden/oct-head17k-checks.sh).
d=$(new_scratch)
OCT="$SAMPLES/rees46-2019-oct-head17k.csv"
out=$("$SELLOCLI" ingest --db "$d/s.db" --summary-json "$d/sum.json" "$OCT" 2>&1); code=$?
assert_eq "oct ingest exit" 0 "$code"
assert_contains "summary reconciles" "$out" "rows read 17434 = accepted 17434 + rejected 0"
assert_contains "views deduped" "$out" "views deduped 4761"
assert_not_contains "no progress bar when stderr is not a terminal" "$out" "ETA"
stats_dump "$d/s.db" > "$d/dump.csv"
zcat "$ROOT/Tests/golden/rees46-2019-oct-head17k.stats.csv.gz" > "$d/golden.csv"
assert_files_equal "oct stats equal the committed golden dump" "$d/golden.csv" "$d/dump.csv"
checks=$(bash "$ROOT/Tests/golden/oct-head17k-checks.sh" "$d/s.db" "$OCT" 2>&1); code=$?
assert_eq "sqlite3-shell headline checks ($(echo "$checks" | tail -1))" 0 "$code"
assert_contains "summary json" "$(cat "$d/sum.json")" '"rows_read":17434'
assert_contains "summary json watermark" "$(cat "$d/sum.json")" '"watermark":"2019-10-01T02:50:00Z"'

# Re-running never double counts: same content is skipped, under any name.
cp "$OCT" "$d/renamed.csv"
out=$("$SELLOCLI" ingest --db "$d/s.db" "$OCT" "$d/renamed.csv" 2>&1); code=$?
assert_eq "re-ingest exit" 0 "$code"
assert_contains "re-ingest skipped" "$out" "0 ingested, 2 skipped"
stats_dump "$d/s.db" > "$d/dump2.csv"
assert_files_equal "stats unchanged after re-ingest" "$d/golden.csv" "$d/dump2.csv"
assert_eq "ledger rows" 1 "$(sqlv "$d/s.db" 'SELECT COUNT(*) FROM files')"

# The other real samples: November (header added) and the derived cosmetics layout, which has
# no category or brand columns, minimal-decimal prices, remove_from_cart and exact duplicates.
for f in rees46-2019-nov-head683.csv cosmetics-derived-2022-oct-head1k.csv; do
  rm -f "$d/x.db"*
  "$SELLOCLI" ingest -q --db "$d/x.db" "$SAMPLES/$f"; code=$?
  assert_eq "$f exit" 0 "$code"
  python3 "$ROOT/scripts/reference.py" compute --hash-raw "$SAMPLES/$f" > "$d/ref.csv" 2>/dev/null
  stats_dump "$d/x.db" > "$d/got.csv"
  assert_files_equal "$f stats equal the reference" "$d/ref.csv" "$d/got.csv"
done
rm -rf "$d"
