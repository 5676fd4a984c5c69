import Transforms

/// A cell of a query result, typed so that writers can format money and times consistently.
public enum Cell: Sendable, Equatable {
    case null
    case int(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
    /// Integer cents, printed as a decimal with two places.
    case money(Int64)
    /// Unix seconds, printed as ISO 8601 UTC.
    case time(Int64)
}

/// A result: column names and rows, in a deterministic order.
public struct ResultTable: Sendable {
    public var columns: [String]
    public var rows: [[Cell]]
    public init(columns: [String], rows: [[Cell]]) { self.columns = columns; self.rows = rows }
}

/// What `top` and `series` ask of the store.
public struct StatsQuery: Sendable {
    public var eventType: String
    public var dimension: Dimension
    public var tier: String
    /// Buckets whose start is in [from, to).
    public var from: Int64?
    public var to: Int64?
    public var key: String?
    public init(eventType: String, dimension: Dimension, tier: String, from: Int64? = nil, to: Int64? = nil, key: String? = nil) {
        self.eventType = eventType; self.dimension = dimension; self.tier = tier; self.from = from; self.to = to; self.key = key
    }
}

extension SQLiteStore {
    /// The tiers recorded in the store, narrowest first.
    public func storedTiers() throws -> [Tier] {
        let st = try db.prepare("SELECT name, width FROM tiers ORDER BY width")
        var out: [Tier] = []
        while try st.step() { out.append(Tier(name: st.text(0) ?? "", width: st.int(1))) }
        return out
    }

    private func checkedTier(_ name: String) throws -> String {
        let known = try storedTiers()
        guard known.contains(where: { $0.name == name }) else {
            throw StorageError.invalidQuery("unknown tier \(name) (the store has: \(known.map(\.name).joined(separator: ", ")))")
        }
        return name
    }

    private func eventTypeId(_ name: String) throws -> Int64 {
        guard let i = ValueParsers.eventTypeNames.firstIndex(of: name.lowercased()) else {
            throw StorageError.invalidQuery("unknown event type \(name) (one of: \(ValueParsers.eventTypeNames.joined(separator: ", ")))")
        }
        return Int64(i)
    }

    private func rangeClause(_ q: StatsQuery, _ args: inout [SQLValue]) -> String {
        var sql = ""
        if let f = q.from { sql += " AND s.bucket >= ?"; args.append(.int(f)) }
        if let t = q.to { sql += " AND s.bucket < ?"; args.append(.int(t)) }
        return sql
    }

    /// The key's stored integer, or nil when the store has never seen it.
    private func keyCode(_ q: StatsQuery, _ key: String) throws -> Int64? {
        if q.dimension == .productId { return Int64(key) }
        return try db.scalarInt("SELECT id FROM keys WHERE text = ?", [.text(key)])
    }

    /// Top keys by value (or events) summed over the buckets in range.
    public func top(_ q: StatsQuery, byValue: Bool, limit: Int) throws -> ResultTable {
        let tier = try checkedTier(q.tier)
        var args: [SQLValue] = [.int(try eventTypeId(q.eventType)), .int(Int64(q.dimension.rawValue))]
        let range = rangeClause(q, &args)
        let keyText = q.dimension == .productId ? "CAST(g.key AS TEXT)" : "k.text"
        let join = q.dimension == .productId ? "" : "JOIN keys k ON k.id = g.key"
        let order = byValue ? "g.val DESC, g.ev DESC" : "g.ev DESC, g.val DESC"
        let st = try db.prepare("""
            SELECT \(keyText) AS key, g.ev, g.val FROM (
                SELECT s.key AS key, SUM(s.events) AS ev, SUM(s.value_cents) AS val FROM stat_\(tier) s
                WHERE s.event_type = ? AND s.dim = ?\(range) GROUP BY s.key) g \(join)
            ORDER BY \(order), key LIMIT ?
            """)
        args.append(.int(Int64(limit)))
        try st.bind(args)
        var rows: [[Cell]] = []
        while try st.step() {
            let ev = st.int(1), val = st.int(2)
            rows.append([.text(st.text(0) ?? ""), .int(ev), .money(val), Format.averageCents(cents: val, events: ev).map { .money($0) } ?? .null])
        }
        return ResultTable(columns: [q.dimension.name, "events", "value", "avg_price"], rows: rows)
    }

    /// One row per bucket and key, ordered by bucket then key.
    public func series(_ q: StatsQuery) throws -> ResultTable {
        let tier = try checkedTier(q.tier)
        var args: [SQLValue] = [.int(try eventTypeId(q.eventType)), .int(Int64(q.dimension.rawValue))]
        var keyFilter = ""
        if let k = q.key {
            guard let code = try keyCode(q, k) else {
                return ResultTable(columns: ["bucket", q.dimension.name, "events", "value", "avg_price"], rows: [])
            }
            keyFilter = " AND s.key = ?"
            args.append(.int(code))
        }
        let range = rangeClause(q, &args)
        let keyText = q.dimension == .productId ? "CAST(s.key AS TEXT)" : "k.text"
        let join = q.dimension == .productId ? "" : "JOIN keys k ON k.id = s.key"
        let st = try db.prepare("""
            SELECT s.bucket, \(keyText) AS key, s.events, s.value_cents FROM stat_\(tier) s \(join)
            WHERE s.event_type = ? AND s.dim = ?\(keyFilter)\(range)
            ORDER BY s.bucket, key
            """)
        try st.bind(args)
        var rows: [[Cell]] = []
        while try st.step() {
            let ev = st.int(2), val = st.int(3)
            rows.append([.time(st.int(0)), .text(st.text(1) ?? ""), .int(ev), .money(val), Format.averageCents(cents: val, events: ev).map { .money($0) } ?? .null])
        }
        return ResultTable(columns: ["bucket", q.dimension.name, "events", "value", "avg_price"], rows: rows)
    }

    /// Runs read-only SQL, streaming rows to `body`. Statements that would write are refused.
    public func readOnlyQuery(_ sql: String, columns: ([String]) throws -> Void, row: ([Cell]) throws -> Void) throws {
        let st = try db.prepare(sql)
        guard st.isReadOnly else { throw StorageError.readOnlyViolation("sql: only read-only statements are allowed (SELECT, WITH, read-only PRAGMA)") }
        try columns((0..<st.columnCount).map { st.columnName($0) })
        while try st.step() {
            try row((0..<st.columnCount).map { i -> Cell in
                switch st.value(i) {
                case .null: return .null
                case .int(let v): return .int(v)
                case .real(let v): return .real(v)
                case .text(let s): return .text(s)
                case .blob(let b): return .blob(b)
                }
            })
        }
    }
}
