import Transforms

/// Read-side reports over the clickstream catalog (`sellocli catalog new|obsolete|keys|diff`).
/// Every report returns a `ResultTable` in a fixed order plus its number of findings; nothing
/// here prints. Times are the catalog's Unix seconds (`Cell.time`, printed as ISO 8601 UTC).
public struct CatalogReport: Sendable {
    public var table: ResultTable
    /// What `--fail-on` compares with (rows that are findings).
    public var findings: Int
    public init(table: ResultTable, findings: Int) { self.table = table; self.findings = findings }
}

/// `catalog keys` thresholds.
public struct KeyFlagThresholds: Sendable {
    /// `sometimes_missing`: presence in [missingMin, missingMax].
    public var missingMin: Double
    public var missingMax: Double
    public init(missingMin: Double = 0.5, missingMax: Double = 0.99) { self.missingMin = missingMin; self.missingMax = missingMax }
}

/// One side of `catalog diff`: nil = any value.
public struct CatalogSide: Sendable, Equatable {
    public var tenant: String?
    public var app: String?
    public var platform: String?
    public var appVersion: String?
    public init(tenant: String? = nil, app: String? = nil, platform: String? = nil, appVersion: String? = nil) {
        self.tenant = tenant; self.app = app; self.platform = platform; self.appVersion = appVersion
    }
    /// Whether the side narrows below (tenant, app): screens then come from the hourly counts
    /// and body keys cannot be compared (the store keeps keys per (tenant, app, event)).
    public var usesPlatformOrVersion: Bool { platform != nil || appVersion != nil }
    /// `tenant=b`: the fields that differ from `other` (all set fields when none differ).
    public func label(against other: CatalogSide) -> String {
        let mine = [("tenant", tenant), ("app", app), ("platform", platform), ("app_version", appVersion)]
        let theirs = [other.tenant, other.app, other.platform, other.appVersion]
        var p = zip(mine, theirs).filter { $0.0.1 != $0.1 && $0.0.1 != nil }.map { "\($0.0.0)=\($0.0.1!)" }
        if p.isEmpty { p = mine.compactMap { f in f.1.map { "\(f.0)=\($0)" } } }
        return p.isEmpty ? "all" : p.joined(separator: ",")
    }
}

/// Owner patterns of `[catalog] owners`: `*` matches any run of characters, `?` one character,
/// everything else itself (case-sensitive). A pattern matches when it matches the app or the
/// event; the first matching pattern (file order) wins.
public enum CatalogOwners {
    public static func glob(_ pattern: String, _ s: String) -> Bool {
        let p = Array(pattern.unicodeScalars), t = Array(s.unicodeScalars)
        var pi = 0, ti = 0, star = -1, mark = 0
        while ti < t.count {
            if pi < p.count && (p[pi] == "?" || p[pi] == t[ti]) { pi += 1; ti += 1 }
            else if pi < p.count && p[pi] == "*" { star = pi; mark = ti; pi += 1 }
            else if star >= 0 { pi = star + 1; mark += 1; ti = mark }
            else { return false }
        }
        while pi < p.count && p[pi] == "*" { pi += 1 }
        return pi == p.count
    }

    public static func owner(app: String, event: String, in owners: [(pattern: String, owner: String)]) -> String? {
        owners.first { glob($0.pattern, app) || glob($0.pattern, event) }?.owner
    }
}

extension SQLiteStore {
    /// The catalog's data clock: the latest last_seen, nil for an empty catalog.
    public func catalogClock() throws -> Int64? {
        try db.scalarInt("SELECT MAX(last_seen) FROM cat_catalog")
    }

    private func rows(_ sql: String, _ args: [SQLValue] = [], _ make: (Statement) -> [Cell]) throws -> [[Cell]] {
        let st = try db.prepare(sql)
        try st.bind(args)
        var out: [[Cell]] = []
        while try st.step() { out.append(make(st)) }
        return out
    }

    private static func textOrNull(_ st: Statement, _ i: Int) -> Cell { st.isNull(i) ? .null : .text(st.text(i) ?? "") }

    // MARK: new

    /// Everything first seen at or after `since`: apps (tenant, app), events (tenant, app,
    /// event), combinations (a catalog row), screens (tenant, app, event, screen) and body keys
    /// (tenant, app, event, key_path). Ordered by kind (that order), then the key columns.
    public func catalogNew(since: Int64) throws -> CatalogReport {
        let columns = ["kind", "tenant", "app", "platform", "app_version", "event", "screen", "key_path", "first_seen", "events"]
        let sql = """
            SELECT * FROM (
              SELECT 0 AS o, 'app' AS kind, tenant, app, NULL AS platform, NULL AS app_version, NULL AS event, NULL AS screen, NULL AS key_path,
                     MIN(first_seen) AS fs, SUM(events) AS ev FROM cat_catalog GROUP BY tenant, app HAVING MIN(first_seen) >= ?1
              UNION ALL
              SELECT 1, 'event', tenant, app, NULL, NULL, event, NULL, NULL, MIN(first_seen), SUM(events)
                FROM cat_catalog GROUP BY tenant, app, event HAVING MIN(first_seen) >= ?1
              UNION ALL
              SELECT 2, 'combination', tenant, app, platform, app_version, event, NULL, NULL, first_seen, events
                FROM cat_catalog WHERE first_seen >= ?1
              UNION ALL
              SELECT 3, 'screen', tenant, app, NULL, NULL, event, screen, NULL, first_seen, events
                FROM cat_screens WHERE first_seen >= ?1
              UNION ALL
              SELECT 4, 'key', tenant, app, NULL, NULL, event, NULL, key_path, first_seen, events
                FROM cat_keys WHERE first_seen >= ?1)
            ORDER BY o, tenant, app, platform, app_version, event, screen, key_path
            """
        let r = try rows(sql, [.int(since)]) { st in
            [.text(st.text(1) ?? "")] + (2...8).map { Self.textOrNull(st, $0) } + [.time(st.int(9)), .int(st.int(10))]
        }
        return CatalogReport(table: ResultTable(columns: columns, rows: r), findings: r.count)
    }

    // MARK: obsolete

    /// Catalog combinations whose last_seen is before `cutoff`, with their owner. Ordered by
    /// owner (unowned last), then tenant, app, platform, app_version, event.
    public func catalogObsolete(before cutoff: Int64, owners: [(pattern: String, owner: String)]) throws -> CatalogReport {
        let columns = ["owner", "tenant", "app", "platform", "app_version", "event", "first_seen", "last_seen", "events"]
        var r = try rows("""
            SELECT tenant, app, platform, app_version, event, first_seen, last_seen, events FROM cat_catalog
            WHERE last_seen < ? ORDER BY tenant, app, platform, app_version, event
            """, [.int(cutoff)]) { st in
            let app = st.text(1) ?? "", event = st.text(4) ?? ""
            let owner: Cell = CatalogOwners.owner(app: app, event: event, in: owners).map { .text($0) } ?? .null
            return [owner, .text(st.text(0) ?? ""), .text(app), .text(st.text(2) ?? ""), .text(st.text(3) ?? ""), .text(event),
                    .time(st.int(5)), .time(st.int(6)), .int(st.int(7))]
        }
        // Stable sort: within an owner the SQL order stays.
        func key(_ c: Cell) -> (Int, String) { if case .text(let s) = c { return (0, s) }; return (1, "") }
        r = r.enumerated().sorted { a, b in
            let ka = key(a.element[0]), kb = key(b.element[0])
            return ka != kb ? ka < kb : a.offset < b.offset
        }.map(\.element)
        return CatalogReport(table: ResultTable(columns: columns, rows: r), findings: r.count)
    }

    // MARK: keys

    /// The key inventory of one event: presence (events carrying the path / the (tenant, app,
    /// event) total), the type histogram and flags. `inconsistent_type`: more than one non-null
    /// JSON type; `sometimes_missing`: presence within the thresholds. Findings = flagged keys.
    public func catalogKeys(event: String, app: String?, tenant: String?, thresholds: KeyFlagThresholds, onlyFlagged: Bool) throws -> CatalogReport {
        let columns = ["tenant", "app", "event", "key_path", "events", "presence", "types", "flags",
                       "strings", "numbers", "bools", "objects", "arrays", "nulls", "first_seen", "last_seen"]
        var args: [SQLValue] = [.text(event)]
        var filter = ""
        if let tenant { filter += " AND k.tenant = ?"; args.append(.text(tenant)) }
        if let app { filter += " AND k.app = ?"; args.append(.text(app)) }
        let st = try db.prepare("""
            SELECT k.tenant, k.app, k.event, k.key_path, k.events, k.strings, k.numbers, k.bools, k.objects, k.arrays, k.nulls,
                   k.first_seen, k.last_seen, t.total
            FROM cat_keys k JOIN (SELECT tenant, app, event, SUM(events) AS total FROM cat_screens GROUP BY tenant, app, event) t
              ON t.tenant = k.tenant AND t.app = k.app AND t.event = k.event
            WHERE k.event = ?\(filter)
            ORDER BY k.tenant, k.app, k.event, k.key_path
            """)
        try st.bind(args)
        let typeNames = ["string", "number", "bool", "object", "array", "null"]
        var out: [[Cell]] = []
        var findings = 0
        while try st.step() {
            let events = st.int(4), total = st.int(13)
            let counts = (5...10).map { st.int($0) }
            let presence = total > 0 ? Double(events) / Double(total) : 0
            let typed = counts.reduce(0, +)
            var present: [(name: String, count: Int64)] = []
            for (i, c) in counts.enumerated() where c > 0 { present.append((typeNames[i], c)) }
            present.sort { (a: (name: String, count: Int64), b: (name: String, count: Int64)) -> Bool in
                a.count != b.count ? a.count > b.count : a.name < b.name
            }
            var parts: [String] = []
            for p in present { parts.append(p.name + " " + Self.percent(Double(p.count) / Double(max(typed, 1)))) }
            let hist = parts.joined(separator: " / ")
            var flags: [String] = []
            if counts[0..<5].filter({ $0 > 0 }).count > 1 { flags.append("inconsistent_type") }
            if presence >= thresholds.missingMin && presence <= thresholds.missingMax { flags.append("sometimes_missing") }
            if !flags.isEmpty { findings += 1 }
            if onlyFlagged && flags.isEmpty { continue }
            out.append([.text(st.text(0) ?? ""), .text(st.text(1) ?? ""), .text(st.text(2) ?? ""), .text(st.text(3) ?? ""),
                        .int(events), .real((presence * 10000).rounded() / 10000), .text(hist), .text(flags.joined(separator: ","))]
                       + counts.map { .int($0) } + [.time(st.int(11)), .time(st.int(12))])
        }
        return CatalogReport(table: ResultTable(columns: columns, rows: out), findings: findings)
    }

    /// `84.2%` (one decimal, trailing `.0` dropped).
    static func percent(_ x: Double) -> String {
        let tenths = Int64((x * 1000).rounded())
        return tenths % 10 == 0 ? "\(tenths / 10)%" : "\(tenths / 10).\(tenths % 10)%"
    }

    // MARK: diff

    private func sideFilter(_ s: CatalogSide, platform: Bool, _ args: inout [SQLValue]) -> String {
        var w = "1"
        if let t = s.tenant { w += " AND tenant = ?"; args.append(.text(t)) }
        if let a = s.app { w += " AND app = ?"; args.append(.text(a)) }
        if platform {
            if let p = s.platform { w += " AND platform = ?"; args.append(.text(p)) }
            if let v = s.appVersion { w += " AND app_version = ?"; args.append(.text(v)) }
        }
        return w
    }

    private struct DiffItem { var events: Int64; var first: Int64; var last: Int64 }

    /// (kind, event, screen, key_path) -> figures, for one side.
    private func diffItems(_ s: CatalogSide) throws -> [[String]: DiffItem] {
        var out: [[String]: DiffItem] = [:]
        func load(_ kind: String, _ sql: String, _ args: [SQLValue], screen: Bool, key: Bool) throws {
            let st = try db.prepare(sql)
            try st.bind(args)
            while try st.step() {
                let k = [kind, st.text(0) ?? "", screen ? st.text(1) ?? "" : "", key ? st.text(1) ?? "" : ""]
                out[k] = DiffItem(events: st.int(2), first: st.int(3), last: st.int(4))
            }
        }
        var a: [SQLValue] = []
        var w = sideFilter(s, platform: true, &a)
        try load("event", "SELECT event, NULL, SUM(events), MIN(first_seen), MAX(last_seen) FROM cat_catalog WHERE \(w) GROUP BY event", a, screen: false, key: false)
        a = []
        if s.usesPlatformOrVersion {
            w = sideFilter(s, platform: true, &a)
            try load("screen", """
                SELECT event, screen, SUM(events), MIN(bucket), MAX(bucket) FROM event_counts_hour WHERE \(w) GROUP BY event, screen
                """, a, screen: true, key: false)
        } else {
            w = sideFilter(s, platform: false, &a)
            try load("screen", "SELECT event, screen, SUM(events), MIN(first_seen), MAX(last_seen) FROM cat_screens WHERE \(w) GROUP BY event, screen", a, screen: true, key: false)
            a = []
            w = sideFilter(s, platform: false, &a)
            try load("key", "SELECT event, key_path, SUM(events), MIN(first_seen), MAX(last_seen) FROM cat_keys WHERE \(w) GROUP BY event, key_path", a, screen: false, key: true)
        }
        return out
    }

    /// Events, (event, screen) pairs and body keys present on one side and not the other. Body
    /// keys are compared only when neither side names a platform or app version. A screen or
    /// key of an event that the other side lacks altogether is listed too (it is absent there).
    /// Ordered by kind (event, screen, key), event, screen, key_path, side (a first).
    public func catalogDiff(_ a: CatalogSide, _ b: CatalogSide) throws -> CatalogReport {
        let columns = ["kind", "event", "screen", "key_path", "only_in", "missing_in", "events", "first_seen", "last_seen"]
        let ia = try diffItems(a), ib = try diffItems(b)
        let kindOrder = ["event": 0, "screen": 1, "key": 2]
        var diffs: [(key: [String], side: Int, item: DiffItem)] = []
        for (k, v) in ia where ib[k] == nil { diffs.append((k, 0, v)) }
        for (k, v) in ib where ia[k] == nil { diffs.append((k, 1, v)) }
        diffs.sort { x, y in
            let ox = kindOrder[x.key[0]] ?? 9, oy = kindOrder[y.key[0]] ?? 9
            if ox != oy { return ox < oy }
            if x.key != y.key { return x.key.lexicographicallyPrecedes(y.key) }
            return x.side < y.side
        }
        let labels = [a.label(against: b), b.label(against: a)]
        let r: [[Cell]] = diffs.map { d in
            [.text(d.key[0]), .text(d.key[1]), d.key[0] == "screen" ? .text(d.key[2]) : .null, d.key[0] == "key" ? .text(d.key[3]) : .null,
             .text(labels[d.side]), .text(labels[1 - d.side]), .int(d.item.events), .time(d.item.first), .time(d.item.last)]
        }
        return CatalogReport(table: ResultTable(columns: columns, rows: r), findings: r.count)
    }
}
