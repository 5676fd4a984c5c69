#!/usr/bin/env python3
"""Independent reference implementation of /work/shared/spec/retail-semantics.md.

Used by the tests as an oracle against the Swift `sellocli`.  It deliberately shares no code or
logic with the Swift program: it reads everything into memory and applies the spec literally.
Standard library only.

  python3 scripts/reference.py compute FILE... > dump.csv
      Stats of the union of the DISTINCT files (content sha256 counted once) in one pass.
      Options: --rejects PATH  write every rejected row (file,line,reason,raw) as CSV
               --hash-raw      identify files by the sha256 of their raw bytes instead of the
                               sha256 of their decompressed content (the default)
  python3 scripts/reference.py dump-store DB > dump.csv
      The same CSV format, read from a sellocli store's stats_minute/_hour/_day views.

Output: header `tier,bucket,event_type,dimension,key,events,value_cents`; rows ordered by tier
(minute, hour, day), then bucket numerically, then event_type, dimension, key as Python strings.
A one-line summary goes to stderr.
"""

import argparse
import csv
import decimal
import gzip
import hashlib
import io
import json
import re
import sqlite3
import sys

TIERS = (("minute", 60), ("hour", 3600), ("day", 86400))
TIER_ORDER = {name: i for i, (name, _) in enumerate(TIERS)}
DIMENSIONS = ("product_id", "brand", "category_l1", "category_l2", "category_l3")
EVENT_TYPES = ("view", "cart", "remove_from_cart", "purchase")
REQUIRED = ("event_time", "event_type", "product_id", "price")
COLUMNS = ("event_time", "event_type", "product_id", "category_id", "category_code", "brand",
           "price", "user_id", "user_session")
REASONS = ("field_count", "bad_event_time", "bad_event_type", "bad_product_id", "bad_price",
           "bad_json")
HEADER = ("tier", "bucket", "event_type", "dimension", "key", "events", "value_cents")

DIGITS = re.compile(r"[0-9]+")
PLAIN_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")
TIME_SPACE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})( UTC)?")
TIME_ISO = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
                      r"(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})?")

DEC = decimal.Context(prec=200, rounding=decimal.ROUND_HALF_UP)


class Reject(Exception):
    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class JsonNumber:
    """A JSON number kept as its exact source text."""
    __slots__ = ("text",)

    def __init__(self, text):
        self.text = text


def _bad_constant(name):
    raise ValueError("not JSON: " + name)


# ---------------------------------------------------------------- time

def days_from_civil(y, m, d):
    """Days since 1970-01-01 of a proleptic Gregorian date (valid for any year)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    mp = (m + 9) % 12
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def days_in_month(y, m):
    if m == 2:
        leap = (y % 4 == 0 and y % 100 != 0) or y % 400 == 0
        return 29 if leap else 28
    return 30 if m in (4, 6, 9, 11) else 31


MIN_T = days_from_civil(0, 1, 1) * 86400            # 0000-01-01T00:00:00Z
MAX_T = days_from_civil(9999, 12, 31) * 86400 + 86399


def fields_to_epoch(y, mo, d, h, mi, s):
    y, mo, d, h, mi, s = int(y), int(mo), int(d), int(h), int(mi), int(s)
    if not (1 <= mo <= 12 and 1 <= d <= days_in_month(y, mo)):
        raise Reject("bad_event_time")
    if not (h <= 23 and mi <= 59 and s <= 59):
        raise Reject("bad_event_time")
    return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s


def parse_time_text(text):
    m = TIME_SPACE.fullmatch(text)
    if m:
        return fields_to_epoch(*m.group(1, 2, 3, 4, 5, 6))
    m = TIME_ISO.fullmatch(text)
    if m:
        t = fields_to_epoch(*m.group(1, 2, 3, 4, 5, 6))  # the fraction (group 7) is dropped
        zone = m.group(8)
        if zone and zone != "Z":
            oh, om = int(zone[1:3]), int(zone[4:6])
            if oh > 23 or om > 59:
                raise Reject("bad_event_time")
            off = oh * 3600 + om * 60
            t -= off if zone[0] == "+" else -off
        return t
    raise Reject("bad_event_time")


def parse_time_number(text):
    try:
        n = DEC.create_decimal(text)
    except decimal.InvalidOperation:
        raise Reject("bad_event_time")
    if not n.is_finite():
        raise Reject("bad_event_time")
    if n > 10 ** 11:
        n = DEC.divide(n, decimal.Decimal(1000))
    t = int(n.to_integral_value(rounding=decimal.ROUND_FLOOR))  # fraction dropped (toward the past)
    if not (MIN_T <= t <= MAX_T):
        raise Reject("bad_event_time")
    return t


# ---------------------------------------------------------------- one record

def price_to_cents(text):
    if not PLAIN_DECIMAL.fullmatch(text):
        raise Reject("bad_price")
    d = decimal.Decimal(text)
    q = d.quantize(decimal.Decimal("0.01"), rounding=decimal.ROUND_HALF_UP, context=DEC)
    return int(DEC.multiply(q, decimal.Decimal(100)))


def categories(code, category_id):
    if code == "":
        v = category_id if category_id != "" else "unknown"
        return v, v, v
    seg = code.split(".")
    while len(seg) < 3:
        seg.append(seg[-1])
    return seg[0], seg[0] + "." + seg[1], seg[0] + "." + seg[1] + "." + seg[2]


def make_event(get):
    """get(name) -> (kind, value); kind 'text' (str), 'num' (JSON number text), 'other', 'missing'.
    Returns the cleaned event or raises Reject.  Checks run in the spec's order."""
    kind, v = get("event_time")
    if kind == "text":
        t = parse_time_text(v)
    elif kind == "num":
        t = parse_time_number(v)
    else:
        raise Reject("bad_event_time")

    kind, v = get("event_type")
    if kind != "text" or v.lower() not in EVENT_TYPES:
        raise Reject("bad_event_type")
    etype = v.lower()

    kind, v = get("product_id")
    if kind not in ("text", "num") or not DIGITS.fullmatch(v):
        raise Reject("bad_product_id")
    pid = str(int(v))

    kind, v = get("price")
    if kind not in ("text", "num"):
        raise Reject("bad_price")
    cents = price_to_cents(v)

    def text(name):
        k, val = get(name)
        return val if k in ("text", "num", "other") else ""

    brand = text("brand") or pid
    l1, l2, l3 = categories(text("category_code"), text("category_id"))
    return {
        "t": t, "event_type": etype, "product_id": pid, "cents": cents,
        "brand": brand, "category_l1": l1, "category_l2": l2, "category_l3": l3,
        "session": text("user_session"),
    }


# ---------------------------------------------------------------- files

class Stats:
    def __init__(self):
        self.events = []
        self.rejects = []  # (file, line, reason, raw)
        self.read = 0
        self.files = 0
        self.duplicate_files = 0
        self.skipped_files = 0

    def reject(self, name, line, reason, raw):
        self.read += 1
        self.rejects.append((name, line, reason, raw))

    def accept(self, ev):
        self.read += 1
        self.events.append(ev)


def split_lines(text):
    """Physical lines split on LF only, each keeping its terminator; no empty tail."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


class LineFeed:
    """Feeds csv.reader one physical line at a time and remembers what it consumed."""

    def __init__(self, lines):
        self.lines = lines
        self.i = 0
        self.consumed = []

    def __iter__(self):
        return self

    def __next__(self):
        if self.i >= len(self.lines):
            raise StopIteration
        line = self.lines[self.i]
        self.i += 1
        self.consumed.append(line)
        return line

    def take(self):
        raw = "".join(self.consumed)
        self.consumed = []
        if raw.endswith("\n"):
            raw = raw[:-1]
            if raw.endswith("\r"):
                raw = raw[:-1]
        return raw


def read_csv(name, text, stats):
    feed = LineFeed(split_lines(text))
    reader = csv.reader(feed)
    try:
        header = next(reader)
    except StopIteration:
        header = []
    except csv.Error:
        header = []
    feed.take()
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        print(f"reference: {name}: header lacks {', '.join(missing)}; file skipped", file=sys.stderr)
        stats.skipped_files += 1
        stats.files -= 1
        return
    index = {}
    for i, col in enumerate(header):
        if col in COLUMNS and col not in index:
            index[col] = i
    width = len(header)
    while True:
        start = feed.i + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error:  # malformed record (e.g. a bare CR in an unquoted field)
            stats.reject(name, start, "field_count", feed.take())
            continue
        raw = feed.take()
        if len(row) != width:
            stats.reject(name, start, "field_count", raw)
            continue

        def get(col):
            if col not in index:
                return ("missing", "")
            v = row[index[col]]
            return ("text", v) if v != "" else ("missing", "")

        try:
            stats.accept(make_event(get))
        except Reject as r:
            stats.reject(name, start, r.reason, raw)


def read_jsonl(name, text, stats):
    for n, line in enumerate(split_lines(text), start=1):
        raw = line[:-1] if line.endswith("\n") else line
        if raw.endswith("\r"):
            raw = raw[:-1]
        try:
            obj = json.loads(raw, parse_float=JsonNumber, parse_int=JsonNumber,
                             parse_constant=_bad_constant)
        except ValueError:
            stats.reject(name, n, "bad_json", raw)
            continue
        if not isinstance(obj, dict):
            stats.reject(name, n, "bad_json", raw)
            continue

        def get(col):
            if col not in obj or obj[col] is None:
                return ("missing", "")
            v = obj[col]
            if isinstance(v, str):
                return ("text", v) if v != "" else ("missing", "")
            if isinstance(v, JsonNumber):
                return ("num", v.text)
            # true/false/object/array: kept as JSON text for optional fields, rejected otherwise
            return ("other", json.dumps(v, default=lambda x: x.text, separators=(",", ":")))

        try:
            stats.accept(make_event(get))
        except Reject as r:
            stats.reject(name, n, r.reason, raw)


def load(paths, hash_raw):
    stats = Stats()
    seen = set()
    for path in paths:
        name = path
        try:
            if path == "-":
                data = sys.stdin.buffer.read()
            else:
                with open(path, "rb") as f:
                    data = f.read()
        except OSError as e:
            print(f"reference: {name}: {e}; file skipped", file=sys.stderr)
            stats.skipped_files += 1
            continue
        raw_digest = hashlib.sha256(data).hexdigest()
        if data[:2] == b"\x1f\x8b":
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError, ValueError) as e:
                print(f"reference: {name}: bad gzip ({e}); file skipped", file=sys.stderr)
                stats.skipped_files += 1
                continue
        digest = raw_digest if hash_raw else hashlib.sha256(data).hexdigest()
        if digest in seen:
            print(f"reference: {name}: same content as an earlier file; counted once", file=sys.stderr)
            stats.duplicate_files += 1
            continue
        seen.add(digest)
        stats.files += 1
        if data[:3] == b"\xef\xbb\xbf":
            data = data[3:]
        text = data.decode("utf-8", errors="replace")
        if text.lstrip(" \t\r\n").startswith("{"):
            read_jsonl(name, text, stats)
        else:
            read_csv(name, text, stats)
    return stats


# ---------------------------------------------------------------- dedupe and aggregate

def dedupe(events):
    counted = []
    best = {}
    for ev in events:
        if ev["event_type"] != "view" or ev["session"] == "":
            counted.append(ev)
            continue
        key = (ev["session"], ev["product_id"])
        rank = (ev["t"], ev["cents"], ev["brand"], ev["category_l1"], ev["category_l2"],
                ev["category_l3"])
        if key not in best or rank < best[key][0]:
            best[key] = (rank, ev)
    counted.extend(ev for _, ev in best.values())
    return counted


def aggregate(events):
    acc = {}
    for ev in events:
        for tier, width in TIERS:
            bucket = (ev["t"] // width) * width
            for dim in DIMENSIONS:
                k = (tier, bucket, ev["event_type"], dim, ev[dim])
                cur = acc.get(k)
                if cur is None:
                    acc[k] = [1, ev["cents"]]
                else:
                    cur[0] += 1
                    cur[1] += ev["cents"]
    return [(k[0], k[1], k[2], k[3], k[4], v[0], v[1]) for k, v in acc.items()]


def write_rows(rows, out):
    rows = sorted(rows, key=lambda r: (TIER_ORDER[r[0]], r[1], r[2], r[3], r[4]))
    w = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    w.writerow(HEADER)
    for r in rows:
        w.writerow(r)


def stdout_text():
    return io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="", write_through=False)


def cmd_compute(args):
    stats = load(args.files, args.hash_raw)
    views = sum(1 for ev in stats.events if ev["event_type"] == "view")
    counted = dedupe(stats.events)
    deduped = len(stats.events) - len(counted)
    out = stdout_text()
    write_rows(aggregate(counted), out)
    out.flush()
    by_reason = {r: 0 for r in REASONS}
    for rej in stats.rejects:
        by_reason[rej[2]] += 1
    types = {t: 0 for t in EVENT_TYPES}
    for ev in counted:
        types[ev["event_type"]] += 1
    gmv = sum(ev["cents"] for ev in counted if ev["event_type"] == "purchase")
    print("reference: files={} duplicate_files={} skipped_files={} rows_read={} accepted={} "
          "rejected={} ({}) views_accepted={} views_deduped={} counted={} ({}) purchase_gmv_cents={}"
          .format(stats.files, stats.duplicate_files, stats.skipped_files, stats.read,
                  len(stats.events), len(stats.rejects),
                  " ".join(f"{r}={by_reason[r]}" for r in REASONS), views, deduped, len(counted),
                  " ".join(f"{t}={types[t]}" for t in EVENT_TYPES), gmv),
          file=sys.stderr)
    if args.rejects:
        with open(args.rejects, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(("file", "line", "reason", "raw"))
            w.writerows(stats.rejects)
    return 0


def cmd_dump_store(args):
    con = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
    rows = []
    for tier, _ in TIERS:
        for b, et, dim, key, ev, val in con.execute(
                f"SELECT bucket, event_type, dimension, key, events, value_cents FROM stats_{tier}"):
            rows.append((tier, int(b), str(et), str(dim), str(key), int(ev), int(val)))
    con.close()
    out = stdout_text()
    write_rows(rows, out)
    out.flush()
    print(f"reference: {args.db}: {len(rows)} stats rows", file=sys.stderr)
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="reference.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compute", help="stats of the union of the distinct input files")
    c.add_argument("files", nargs="+", metavar="FILE")
    c.add_argument("--rejects", metavar="PATH", help="write rejected rows as CSV to PATH")
    c.add_argument("--hash-raw", action="store_true",
                   help="identify files by the sha256 of their raw (possibly gzipped) bytes")
    c.set_defaults(func=cmd_compute)
    d = sub.add_parser("dump-store", help="the same CSV from a sellocli SQLite store")
    d.add_argument("db")
    d.set_defaults(func=cmd_dump_store)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
