#if canImport(Glibc)
import Glibc
#endif
import Transforms

/// Read-side queries for `sellocli status`: the ledger's totals, the latest files and how late
/// they were, the size of each tier, and the archive manifest's totals. Never writes.

/// The ledger summed over every file.
public struct LedgerTotals: Sendable, Equatable {
    public var files: Int64 = 0
    public var rowsRead: Int64 = 0
    public var rowsAccepted: Int64 = 0
    public var rowsRejected: Int64 = 0
    /// Rejected rows by reason code (`bad_price`, ...), summed over the ledger's
    /// `rejected_by_reason`; reasons with no rows are absent. Ordered by code.
    public var rejectedByReason: [(reason: String, rows: Int64)] = []

    public init() {}

    public static func == (a: LedgerTotals, b: LedgerTotals) -> Bool {
        a.files == b.files && a.rowsRead == b.rowsRead && a.rowsAccepted == b.rowsAccepted && a.rowsRejected == b.rowsRejected
            && a.rejectedByReason.map(\.reason) == b.rejectedByReason.map(\.reason) && a.rejectedByReason.map(\.rows) == b.rejectedByReason.map(\.rows)
    }
}

/// One recently ingested file and how late it was.
public struct RecentFile: Sendable, Equatable {
    public var path: String
    public var sha256: String
    public var ingestedAt: Int64
    public var rowsRead: Int64
    public var minTime: Int64?
    public var maxTime: Int64?
    /// The store's watermark just before the file (nil: unknown, or the store was empty).
    public var watermarkBefore: Int64?
    /// `watermarkBefore - minTime`, at least 0; nil when either is unknown.
    public var lateness: Int64?
}

/// The size of one tier's table.
public struct TierSize: Sendable, Equatable {
    public var name: String
    public var width: Int64
    public var rows: Int64
    /// Bytes of the table's pages (from the `dbstat` virtual table); nil when SQLite was built
    /// without it.
    public var bytes: Int64?
}

/// The archive manifest's totals.
public struct ArchiveTotals: Sendable, Equatable {
    public var files: Int64
    public var bytes: Int64
    public var rows: Int64
    public var sources: Int64
}

extension SQLiteStore {
    /// Files, rows and rejects summed over the ledger.
    public func ledgerTotals() throws -> LedgerTotals {
        var t = LedgerTotals()
        let st = try db.prepare("SELECT COUNT(*), COALESCE(SUM(rows_read), 0), COALESCE(SUM(rows_accepted), 0), COALESCE(SUM(rows_rejected), 0) FROM files")
        _ = try st.step()
        t.files = st.int(0); t.rowsRead = st.int(1); t.rowsAccepted = st.int(2); t.rowsRejected = st.int(3)
        var byReason: [String: Int64] = [:]
        let r = try db.prepare("SELECT rejected_by_reason FROM files WHERE rows_rejected > 0")
        while try r.step() {
            for (k, v) in SQLiteStore.parseReasonCounts(r.text(0) ?? "") { byReason[k, default: 0] += v }
        }
        t.rejectedByReason = byReason.filter { $0.value != 0 }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return t
    }

    /// `{"code":n,...}` (as the ledger stores it) to pairs; keeps codes this version does not know.
    static func parseReasonCounts(_ s: String) -> [(String, Int64)] {
        var out: [(String, Int64)] = []
        let body = s.trimmingWhitespace()
        guard body.hasPrefix("{"), body.hasSuffix("}") else { return out }
        for part in body.dropFirst().dropLast().split(separator: ",") {
            guard let colon = part.lastIndex(of: ":") else { continue }
            let k = part[..<colon].filter { $0 != "\"" && $0 != " " }
            if let v = Int64(part[part.index(after: colon)...].filter { $0 != " " }) { out.append((String(k), v)) }
        }
        return out
    }

    /// True when the ledger has the column `watermark_before` (migration 0002 and later).
    public func ledgerHasWatermarkBefore() throws -> Bool {
        let st = try db.prepare("PRAGMA table_info(files)")
        while try st.step() { if st.text(1) == "watermark_before" { return true } }
        return false
    }

    /// The `limit` most recently ingested files, newest first, with their lateness when the
    /// ledger records the watermark before each file.
    public func recentFiles(limit: Int) throws -> [RecentFile] {
        let hasWB = try ledgerHasWatermarkBefore()
        let st = try db.prepare("""
            SELECT path, sha256, ingested_at, rows_read, min_event_time, max_event_time, \(hasWB ? "watermark_before" : "NULL")
            FROM files ORDER BY ingested_at DESC, path DESC, sha256 DESC LIMIT ?
            """)
        try st.bind([.int(Int64(limit))])
        var out: [RecentFile] = []
        while try st.step() {
            let minT: Int64? = st.isNull(4) ? nil : st.int(4)
            let wb: Int64? = st.isNull(6) ? nil : st.int(6)
            var late: Int64?
            if let minT, let wb { late = max(0, wb - minT) }
            out.append(RecentFile(path: st.text(0) ?? "", sha256: st.text(1) ?? "", ingestedAt: st.int(2), rowsRead: st.int(3),
                                  minTime: minT, maxTime: st.isNull(5) ? nil : st.int(5), watermarkBefore: wb, lateness: late))
        }
        return out
    }

    /// Rows (and bytes, when `dbstat` is available) of every tier table the store holds,
    /// narrowest first.
    public func tierSizes() throws -> [TierSize] {
        var out: [TierSize] = []
        var dbstat = true
        for t in try storedTiers() {
            let table = "stat_\(t.name)"
            guard try db.scalarInt("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?", [.text(table)]) == 1 else { continue }
            let rows = try db.scalarInt("SELECT COUNT(*) FROM \(table)") ?? 0
            var bytes: Int64?
            if dbstat {
                do {
                    bytes = try db.scalarInt("SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name = ?", [.text(table)])
                } catch {
                    dbstat = false
                }
            }
            out.append(TierSize(name: t.name, width: t.width, rows: rows, bytes: bytes))
        }
        return out
    }

    /// Pairs held in the view-dedupe state (both levels), and rows of its overflow table for
    /// 64-bit hash collisions, which should stay empty: rows there almost certainly come from
    /// the dedupe bugs fixed on 2026-11-22 (commit fbc1dbe), not from real collisions.
    public func dedupeStateSizes() throws -> (pairs: Int64, overflow: Int64) {
        let main = try db.scalarInt("SELECT COUNT(*) FROM view_state") ?? 0
        let recent = try db.scalarInt("SELECT COUNT(*) FROM view_state_recent") ?? 0
        let overflow = try db.scalarInt("SELECT COUNT(*) FROM view_state_overflow") ?? 0
        return (main + recent + overflow, overflow)
    }

    /// A `meta` value as text (e.g. `last_tick`, stored as JSON text by `run`).
    public func metaText(_ key: String) throws -> String? {
        let st = try db.prepare("SELECT value FROM meta WHERE key = ?")
        try st.bind([.text(key)])
        guard try st.step(), !st.isNull(0) else { return nil }
        return st.text(0)
    }
}

/// The totals of the archive manifest at `root`, read without taking the archive's lock (so a
/// status never waits for an archiving ingest); nil when there is no archive there.
public func archiveManifestTotals(root: String) throws -> ArchiveTotals? {
    let path = root + "/" + RawArchive.manifestName
    var st = stat()
    guard stat(path, &st) == 0 else { return nil }
    let db = try Database(path: path, readOnly: true)
    let q = try db.prepare("SELECT COUNT(*), COALESCE(SUM(bytes), 0), COALESCE(SUM(rows), 0) FROM files")
    _ = try q.step()
    let files = q.int(0), bytes = q.int(1), rows = q.int(2)
    let sources = try db.scalarInt("SELECT COUNT(*) FROM sources") ?? 0
    return ArchiveTotals(files: files, bytes: bytes, rows: rows, sources: sources)
}

private extension String {
    func trimmingWhitespace() -> Substring {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\n" || f == "\t" || f == "\r" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\n" || l == "\t" || l == "\r" { s.removeLast() }
        return s
    }
}
