#if canImport(Glibc)
import Glibc
#endif
import CSQLite
import Transforms

/// The embedded default store: one SQLite file in WAL mode.
///
/// Public interface (what users' SQL and dashboards read): the views `stats_minute`,
/// `stats_hour`, `stats_day` (bucket, event_type, dimension, key, events, value_cents) and the
/// table `files` (the ledger). Everything else (`stat_*` with integer-coded keys, `keys`,
/// `view_state*`, `meta`) is internal and may change between versions through migrations.
public final class SQLiteStore: IngestStore {
    public let db: Database
    public let tiers: [Tier]
    private var upserts: [Statement] = []
    /// The same upsert over `SQLiteStore.rowsPerUpsert` rows at once: one statement step per
    /// batch instead of per row.
    private var batchUpserts: [Statement] = []
    static let rowsPerUpsert = 64
    private var zeroDeletes: [Statement] = []
    private var pairGet: Statement!
    private var pairUpdate: Statement!
    private var overflowGet: Statement!
    private var overflowPut: Statement!
    private var overflowRows: Int64 = 0
    /// New pairs waiting to be inserted `rowsPerUpsert` at a time. Every other pair read or
    /// write, pruning and commit insert them first, so nothing ever reads around them.
    private var newPairs: [(hash: Int64, offset: Int, length: Int, productId: Int64, view: CountedView)] = []
    private var newPairSessions: [UInt8] = []
    private var pairBatchPut: Statement!

    // The recent dedupe state (`view_state_recent`): new pairs are appended there, at the right
    // edge of their slice's id range, so a file's new pairs dirty a few pages instead of one
    // random leaf of the pair index each (that cost a cron tick about 1 s with a day of state).
    // Lookups find them through `recentIndex` (pair -> row id, loaded at first use). Every
    // commit moves one sixteenth of the pair space (the next slice in turn) into `view_state`,
    // in pair order: a sorted pass over that sixteenth of the pair index. The recent rows stay
    // about eight commits' worth. A pair hash lives in at most one of the two tables.
    private var recentIndex: RecentPairIndex?
    /// The slices' filters of `view_state` (nil entry: that slice has none yet), loaded with
    /// `recentIndex` and dropped with it.
    private var sliceFilters: [SliceFilter?]?
    private var recentGet: Statement!
    private var recentPut: Statement!
    private var recentBatchPut: Statement!
    private var recentUpdate: Statement!
    /// Recent rows are all merged at once beyond this many (ticks without housekeeping, e.g. in
    /// a surge) or when one transaction appended more than `maxRecentPairsPerTransaction` (a
    /// large file): this bounds the in-memory map (16 bytes a slot, half full at worst). The
    /// merge waits for a point where no looked-up pair is still to be saved (`endPairBatch`,
    /// `commit`, `prunePairs`): it moves rows, and a lookup's location must stay valid.
    public var maxRecentPairs = 1 << 20
    public var maxRecentPairsPerTransaction = 1 << 17
    private var appendedInTransaction = 0

    /// The page cache of a writing connection, in MiB: the stats upserts' working set (the
    /// right edge of each tier's B-tree) should fit; reads go through `mmap` (1 GiB), so 32 MiB
    /// measured as fast as 96 (BENCHMARKS.md).
    public static let defaultCacheMiB = 32

    /// Opens (creating and migrating when needed) the store at `path`.
    public init(path: String, tiers: [Tier] = Tier.defaults, readOnly: Bool = false, cacheMiB: Int = SQLiteStore.defaultCacheMiB) throws {
        self.tiers = tiers
        if readOnly {
            var st = stat()
            if stat(path, &st) != 0 { throw StorageError.cannotOpen(path: path, message: "no such file (run `sellocli ingest` first)") }
        }
        db = try Database(path: path, readOnly: readOnly)
        if readOnly {
            try db.execute("PRAGMA query_only = 1")
            let has = try db.scalarInt("SELECT COUNT(*) FROM sqlite_master WHERE name = 'schema_migrations'") ?? 0
            if has == 0 { throw StorageError.cannotOpen(path: path, message: "not a sellocli store") }
            return
        }
        try db.execute("PRAGMA journal_mode = WAL")
        try db.execute("PRAGMA synchronous = NORMAL")
        try db.execute("PRAGMA cache_size = -\(max(1, cacheMiB) * 1024)")
        try db.execute("PRAGMA temp_store = MEMORY")
        try db.execute("PRAGMA mmap_size = 1073741824")
        try SQLiteStore.migrator.migrate(db)
        for t in tiers {
            guard t.name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }), !t.name.isEmpty else {
                throw StorageError.schema("tier name \(t.name) must be letters, digits and _")
            }
            try db.execute("""
                CREATE TABLE IF NOT EXISTS stat_\(t.name) (
                    bucket INTEGER NOT NULL, event_type INTEGER NOT NULL, dim INTEGER NOT NULL, key INTEGER NOT NULL,
                    events INTEGER NOT NULL, value_cents INTEGER NOT NULL,
                    PRIMARY KEY (bucket, event_type, dim, key)) WITHOUT ROWID;
                CREATE VIEW IF NOT EXISTS stats_\(t.name) AS
                    SELECT s.bucket AS bucket, e.name AS event_type, d.name AS dimension,
                           CASE WHEN s.dim = 0 THEN CAST(s.key AS TEXT) ELSE k.text END AS key,
                           s.events AS events, s.value_cents AS value_cents
                    FROM stat_\(t.name) s
                    JOIN event_types e ON e.id = s.event_type
                    JOIN dimensions d ON d.id = s.dim
                    LEFT JOIN keys k ON s.dim <> 0 AND k.id = s.key;
                INSERT INTO tiers(name, width) VALUES ('\(t.name)', \(t.width))
                    ON CONFLICT(name) DO NOTHING;
                """)
            let width = try db.scalarInt("SELECT width FROM tiers WHERE name = ?", [.text(t.name)])
            if width != t.width {
                throw StorageError.schema("tier \(t.name) has width \(width ?? 0) s in the store, not \(t.width) s")
            }
            upserts.append(try db.prepare("""
                INSERT INTO stat_\(t.name)(bucket, event_type, dim, key, events, value_cents) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(bucket, event_type, dim, key) DO UPDATE SET
                    events = events + excluded.events, value_cents = value_cents + excluded.value_cents
                """))
            let rows = Array(repeating: "(?, ?, ?, ?, ?, ?)", count: SQLiteStore.rowsPerUpsert).joined(separator: ", ")
            batchUpserts.append(try db.prepare("""
                INSERT INTO stat_\(t.name)(bucket, event_type, dim, key, events, value_cents) VALUES \(rows)
                ON CONFLICT(bucket, event_type, dim, key) DO UPDATE SET
                    events = events + excluded.events, value_cents = value_cents + excluded.value_cents
                """))
            zeroDeletes.append(try db.prepare(
                "DELETE FROM stat_\(t.name) WHERE bucket = ? AND event_type = ? AND dim = ? AND key = ? AND events = 0"))
        }
        pairGet = try db.prepare("SELECT session, product_id, t, price_cents, brand, l1, l2, l3, last_seen FROM view_state WHERE pair = ?")
        pairUpdate = try db.prepare("UPDATE view_state SET t = ?, price_cents = ?, brand = ?, l1 = ?, l2 = ?, l3 = ?, last_seen = ? WHERE pair = ?")
        recentGet = try db.prepare("SELECT session, product_id, t, price_cents, brand, l1, l2, l3, last_seen FROM view_state_recent WHERE id = ?")
        recentPut = try db.prepare("INSERT INTO view_state_recent(id, pair, session, product_id, t, price_cents, brand, l1, l2, l3, last_seen) VALUES (?,?,?,?,?,?,?,?,?,?,?)")
        let recentRows = Array(repeating: "(?,?,?,?,?,?,?,?,?,?,?)", count: SQLiteStore.rowsPerUpsert).joined(separator: ",")
        recentBatchPut = try db.prepare("INSERT INTO view_state_recent(id, pair, session, product_id, t, price_cents, brand, l1, l2, l3, last_seen) VALUES \(recentRows)")
        recentUpdate = try db.prepare("UPDATE view_state_recent SET t = ?, price_cents = ?, brand = ?, l1 = ?, l2 = ?, l3 = ?, last_seen = ? WHERE id = ?")
        overflowGet = try db.prepare("SELECT t, price_cents, brand, l1, l2, l3, last_seen FROM view_state_overflow WHERE session = ? AND product_id = ?")
        overflowPut = try db.prepare("INSERT OR REPLACE INTO view_state_overflow(session, product_id, t, price_cents, brand, l1, l2, l3, last_seen) VALUES (?,?,?,?,?,?,?,?,?)")
        overflowRows = try db.scalarInt("SELECT COUNT(*) FROM view_state_overflow") ?? 0
    }

    static var migrator: Migrator {
        var m = Migrator()
        m.register("0001_core", """
            CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
            CREATE TABLE keys (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
            CREATE TABLE event_types (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
            INSERT INTO event_types VALUES (0, 'view'), (1, 'cart'), (2, 'remove_from_cart'), (3, 'purchase');
            CREATE TABLE dimensions (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
            INSERT INTO dimensions VALUES (0, 'product_id'), (1, 'brand'), (2, 'category_l1'), (3, 'category_l2'), (4, 'category_l3');
            CREATE TABLE tiers (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, width INTEGER NOT NULL);
            -- Rows are appended in eviction order (roughly time order), so inserts touch the
            -- table's right edge; lookups go through the compact pair index instead.
            CREATE TABLE view_state (
                id INTEGER PRIMARY KEY, pair INTEGER NOT NULL UNIQUE, session BLOB NOT NULL, product_id INTEGER NOT NULL,
                t INTEGER NOT NULL, price_cents INTEGER NOT NULL,
                brand INTEGER NOT NULL, l1 INTEGER NOT NULL, l2 INTEGER NOT NULL, l3 INTEGER NOT NULL,
                last_seen INTEGER NOT NULL);
            CREATE TABLE view_state_overflow (
                session BLOB NOT NULL, product_id INTEGER NOT NULL,
                t INTEGER NOT NULL, price_cents INTEGER NOT NULL,
                brand INTEGER NOT NULL, l1 INTEGER NOT NULL, l2 INTEGER NOT NULL, l3 INTEGER NOT NULL,
                last_seen INTEGER NOT NULL,
                PRIMARY KEY (session, product_id)) WITHOUT ROWID;
            CREATE TABLE files (
                sha256 TEXT PRIMARY KEY, path TEXT NOT NULL, size INTEGER NOT NULL, mtime INTEGER NOT NULL,
                rows_read INTEGER NOT NULL, rows_accepted INTEGER NOT NULL, rows_rejected INTEGER NOT NULL,
                rejected_by_reason TEXT NOT NULL, min_event_time INTEGER, max_event_time INTEGER,
                ingested_at INTEGER NOT NULL) WITHOUT ROWID;
            CREATE INDEX files_by_path ON files(path, size, mtime);
            """)
        // How late each file was: the watermark just before it was ingested.
        m.register("0002_files_watermark_before", "ALTER TABLE files ADD COLUMN watermark_before INTEGER;")
        // Recent dedupe state, appended in write order without an index (see `recentIndex`).
        m.register("0004_view_state_recent", """
            CREATE TABLE view_state_recent (
                id INTEGER PRIMARY KEY, pair INTEGER NOT NULL, session BLOB NOT NULL, product_id INTEGER NOT NULL,
                t INTEGER NOT NULL, price_cents INTEGER NOT NULL,
                brand INTEGER NOT NULL, l1 INTEGER NOT NULL, l2 INTEGER NOT NULL, l3 INTEGER NOT NULL,
                last_seen INTEGER NOT NULL);
            -- Per merge slice, a Bloom filter of the pairs in view_state (see SliceFilter).
            CREATE TABLE view_state_filter (slice INTEGER PRIMARY KEY, pairs INTEGER NOT NULL, bits BLOB NOT NULL);
            """)
        for c in SQLiteStore.catalogMigrations { m.register(c.name, c.sql) }
        return m
    }

    // MARK: IngestStore

    public func loadKeys() throws -> [[UInt8]] {
        let st = try db.prepare("SELECT id, text FROM keys ORDER BY id")
        var out: [[UInt8]] = []
        while try st.step() {
            guard st.int(0) == Int64(out.count) else { throw StorageError.schema("key dictionary has a gap at id \(out.count)") }
            out.append(st.bytes(1))
        }
        return out
    }

    public func watermark() throws -> Int64? {
        try db.scalarInt("SELECT value FROM meta WHERE key = 'watermark'")
    }

    public func setWatermark(_ t: Int64) throws {
        try setMeta("watermark", t)
    }

    public func meta(_ key: String) throws -> Int64? {
        try db.scalarInt("SELECT value FROM meta WHERE key = ?", [.text(key)])
    }

    public func setMeta(_ key: String, _ v: Int64) throws {
        let st = try db.prepare("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
        try st.bind([.text(key), .int(v)])
        try st.run()
    }

    /// Stores a text value in `meta` (e.g. the last tick's summary as JSON), in its own statement.
    public func setMetaText(_ key: String, _ v: String) throws {
        let st = try db.prepare("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
        try st.bind([.text(key), .text(v)])
        try st.run()
    }

    public func ledgerEntry(sha256: String) throws -> LedgerEntry? {
        try ledger(where: "sha256 = ?", [.text(sha256)]).first
    }

    public func ledgerEntry(path: String, size: Int64, mtime: Int64) throws -> LedgerEntry? {
        try ledger(where: "path = ? AND size = ? AND mtime = ?", [.text(path), .int(size), .int(mtime)]).first
    }

    /// Ledger rows, oldest first.
    public func ledger(where clause: String = "1", _ args: [SQLValue] = []) throws -> [LedgerEntry] {
        let st = try db.prepare("""
            SELECT sha256, path, size, mtime, rows_read, rows_accepted, rejected_by_reason, min_event_time, max_event_time, ingested_at,
                   watermark_before
            FROM files WHERE \(clause) ORDER BY ingested_at, path
            """)
        try st.bind(args)
        var out: [LedgerEntry] = []
        while try st.step() {
            out.append(LedgerEntry(
                sha256: st.text(0) ?? "", path: st.text(1) ?? "", size: st.int(2), mtime: st.int(3), rowsRead: st.int(4),
                rowsAccepted: st.int(5), rejected: SQLiteStore.decodeReasons(st.text(6) ?? ""),
                minTime: st.isNull(7) ? nil : st.int(7), maxTime: st.isNull(8) ? nil : st.int(8), ingestedAt: st.int(9),
                watermarkBefore: st.isNull(10) ? nil : st.int(10)))
        }
        return out
    }

    static func encodeReasons(_ r: [Int64]) -> String {
        var parts: [String] = []
        for reason in RejectReason.allCases where r[reason.rawValue] > 0 { parts.append("\"\(reason.code)\":\(r[reason.rawValue])") }
        return "{" + parts.joined(separator: ",") + "}"
    }

    static func decodeReasons(_ s: String) -> [Int64] {
        var out = [Int64](repeating: 0, count: RejectReason.allCases.count)
        // The text is {"code":n,...} as written by encodeReasons.
        for part in s.dropFirst().dropLast().split(separator: ",") {
            let kv = part.split(separator: ":")
            guard kv.count == 2 else { continue }
            let code = kv[0].filter { $0 != "\"" }
            if let r = RejectReason.allCases.first(where: { $0.code == code }) { out[r.rawValue] = Int64(kv[1]) ?? 0 }
        }
        return out
    }

    public func hasPairState() throws -> Bool {
        if !newPairs.isEmpty { return true }
        return (try db.scalarInt("""
            SELECT EXISTS (SELECT 1 FROM view_state) OR EXISTS (SELECT 1 FROM view_state_recent)
                OR EXISTS (SELECT 1 FROM view_state_overflow)
            """) ?? 0) != 0
    }

    /// Turns SQLite's automatic WAL checkpoints off for this connection: a run of small
    /// transactions (a cron tick's files) then copies each page it changed into the database
    /// once, at `checkpoint()`, instead of once per transaction.
    public func deferCheckpoints() throws { try db.execute("PRAGMA wal_autocheckpoint = 0") }

    /// Copies the WAL into the database file as far as readers allow.
    public func checkpoint() throws { try db.execute("PRAGMA wal_checkpoint(PASSIVE)") }

    public func begin() throws {
        appendedInTransaction = 0
        try db.execute("BEGIN IMMEDIATE")
    }
    public func commit() throws {
        try endPairBatch()
        try db.execute("COMMIT")
    }

    public func endPairBatch() throws {
        if !newPairs.isEmpty { try flushNewPairs() }
        if let index = recentIndex, index.count > maxRecentPairs || appendedInTransaction > maxRecentPairsPerTransaction {
            try mergeRecentPairs(slice: nil)
            appendedInTransaction = 0
        }
    }

    public func rollback() {
        newPairs.removeAll(keepingCapacity: true)
        newPairSessions.removeAll(keepingCapacity: true)
        // Rows appended or merged in the transaction are gone: reload the map when next needed.
        recentIndex = nil
        sliceFilters = nil
        if !db.isAutocommit { try? db.execute("ROLLBACK") }
    }

    /// Moves the next slice in turn of the recent dedupe state into `view_state`, in its own
    /// transaction (housekeeping: `run` does it once per tick, so each slice waits about 16
    /// ticks and its merge moves that many ticks' pairs in one sorted pass). Returns pairs moved.
    @discardableResult
    public func mergeNextRecentSlice() throws -> Int {
        try db.execute("BEGIN IMMEDIATE")
        do {
            let slice = Int(try meta("recent_merge_slice") ?? 0) % RecentPairIndex.slices
            let moved = try mergeRecentPairs(slice: slice)
            try setMeta("recent_merge_slice", Int64((slice + 1) % RecentPairIndex.slices))
            try db.execute("COMMIT")
            return moved
        } catch {
            rollback()
            throw error
        }
    }

    /// Moves recent dedupe state into `view_state` in pair order, inside the current
    /// transaction: the pairs of one slice (the top four bits of the hash), or all when nil.
    @discardableResult
    public func mergeRecentPairs(slice: Int?) throws -> Int {
        if !newPairs.isEmpty { try flushNewPairs() }
        var moved = 0
        if sliceFilters == nil { _ = try recent() }
        // Slice by slice even for all: each sort holds a sixteenth of the rows.
        for sl in slice.map({ [$0] }) ?? Array(0..<RecentPairIndex.slices) {
            let cond = "WHERE id >= \(RecentPairIndex.firstId(sl)) AND id < \(RecentPairIndex.firstId(sl + 1))"
            try updateFilter(slice: sl, adding: cond)
            try db.execute("""
                INSERT INTO view_state(pair, session, product_id, t, price_cents, brand, l1, l2, l3, last_seen)
                    SELECT pair, session, product_id, t, price_cents, brand, l1, l2, l3, last_seen FROM view_state_recent \(cond) ORDER BY pair
                """)
            moved += db.changes
            try db.execute("DELETE FROM view_state_recent \(cond)")
        }
        if let slice, let index = recentIndex {
            index.removeSlice(slice)
        } else {
            recentIndex = RecentPairIndex()
        }
        return moved
    }

    /// Adds the recent pairs `cond` selects (about to be merged) to their slice's filter, or
    /// rebuilds it from `view_state` plus them when it has none or is full; saves it.
    private func updateFilter(slice: Int, adding cond: String) throws {
        let incoming = try db.prepare("SELECT pair FROM view_state_recent \(cond)")
        var hashes: [Int64] = []
        while try incoming.step() { hashes.append(incoming.int(0)) }
        if hashes.isEmpty { return }
        var f: SliceFilter
        if let have = sliceFilters?[slice], have.pairs + Int64(hashes.count) <= have.capacity {
            f = have
        } else {
            let lo = Int64(bitPattern: UInt64(slice) << 60)
            let hi = lo + ((1 << 60) - 1)
            let n = try db.scalarInt("SELECT COUNT(*) FROM view_state WHERE pair BETWEEN ? AND ?", [.int(lo), .int(hi)]) ?? 0
            f = SliceFilter(expected: 2 * (n + Int64(hashes.count)))
            let st = try db.prepare("SELECT pair FROM view_state WHERE pair BETWEEN ? AND ?")
            try st.bind([.int(lo), .int(hi)])
            while try st.step() { f.insert(st.int(0)) }
        }
        for h in hashes { f.insert(h) }
        let put = try db.prepare("INSERT OR REPLACE INTO view_state_filter(slice, pairs, bits) VALUES (?, ?, ?)")
        try put.bind([.int(Int64(slice)), .int(f.pairs), .blob(f.blob)])
        try put.run()
        sliceFilters?[slice] = f
    }

    /// The recent rows' map pair -> row id, loaded from the table at first use (with the
    /// slices' filters).
    private func recent() throws -> RecentPairIndex {
        if let r = recentIndex { return r }
        var filters = [SliceFilter?](repeating: nil, count: RecentPairIndex.slices)
        let fs = try db.prepare("SELECT slice, pairs, bits FROM view_state_filter")
        while try fs.step() {
            let sl = Int(fs.int(0))
            if sl >= 0 && sl < filters.count { filters[sl] = SliceFilter(pairs: fs.int(1), blob: fs.bytes(2)) }
        }
        sliceFilters = filters
        let n = try db.scalarInt("SELECT COUNT(*) FROM view_state_recent") ?? 0
        // Room for a tick's new pairs without growing.
        let r = RecentPairIndex(capacity: Int(n) + (1 << 16))
        let st = try db.prepare("SELECT pair, id FROM view_state_recent")
        while try st.step() { r.load(hash: st.int(0), id: st.int(1)) }
        recentIndex = r
        return r
    }

    /// Recent dedupe-state rows (tests and status).
    public func recentPairCount() throws -> Int { try recent().count }

    // Location codes for PairLookup.
    private static let locNewMain = 0, locMain = 1, locOverflow = 2, locNewOverflow = 3, locRecent = 4

    public func lookupPair(hash: Int64, session: UnsafeBufferPointer<UInt8>, productId: Int64) throws -> PairLookup {
        if !newPairs.isEmpty { try flushNewPairs() }
        if let id = try recent().get(hash) {
            recentGet.bind(1, id)
            defer { recentGet.reset() }
            guard try recentGet.step() else { throw StorageError.schema("recent dedupe state lost row \(id)") }
            if recentGet.int(1) == productId && recentGet.blobEquals(0, session) {
                return PairLookup(view: CountedView(time: recentGet.int(2), priceCents: recentGet.int(3), brand: Int32(recentGet.int(4)),
                                                    l1: Int32(recentGet.int(5)), l2: Int32(recentGet.int(6)), l3: Int32(recentGet.int(7)),
                                                    lastSeen: recentGet.int(8)), location: SQLiteStore.locRecent, ref: id)
            }
            return try lookupOverflow(session, productId, missing: SQLiteStore.locNewOverflow)
        }
        // A pair its slice's filter has never seen is not in `view_state`: no lookup.
        if let f = sliceFilters?[RecentPairIndex.slice(of: hash)], !f.mightContain(hash) {
            if overflowRows > 0 { return try lookupOverflow(session, productId, missing: SQLiteStore.locNewMain) }
            return PairLookup(view: nil, location: SQLiteStore.locNewMain)
        }
        pairGet.bind(1, hash)
        defer { pairGet.reset() }
        if try pairGet.step() {
            if pairGet.int(1) == productId && pairGet.blobEquals(0, session) {
                return PairLookup(view: CountedView(time: pairGet.int(2), priceCents: pairGet.int(3), brand: Int32(pairGet.int(4)),
                                                    l1: Int32(pairGet.int(5)), l2: Int32(pairGet.int(6)), l3: Int32(pairGet.int(7)),
                                                    lastSeen: pairGet.int(8)), location: SQLiteStore.locMain)
            }
            // A 64-bit hash collision: this pair lives in the overflow table.
            return try lookupOverflow(session, productId, missing: SQLiteStore.locNewOverflow)
        }
        if overflowRows > 0 {
            let r = try lookupOverflow(session, productId, missing: SQLiteStore.locNewMain)
            if r.view != nil { return r }
        }
        return PairLookup(view: nil, location: SQLiteStore.locNewMain)
    }

    private func lookupOverflow(_ session: UnsafeBufferPointer<UInt8>, _ productId: Int64, missing: Int) throws -> PairLookup {
        overflowGet.bindBlobNoCopy(1, session)
        overflowGet.bind(2, productId)
        defer { overflowGet.reset() }
        if try overflowGet.step() {
            return PairLookup(view: CountedView(time: overflowGet.int(0), priceCents: overflowGet.int(1), brand: Int32(overflowGet.int(2)),
                                                l1: Int32(overflowGet.int(3)), l2: Int32(overflowGet.int(4)), l3: Int32(overflowGet.int(5)),
                                                lastSeen: overflowGet.int(6)), location: SQLiteStore.locOverflow)
        }
        return PairLookup(view: nil, location: missing)
    }

    public func savePair(hash: Int64, session: UnsafeBufferPointer<UInt8>, productId: Int64, view v: CountedView, lookup: PairLookup) throws {
        if lookup.location == SQLiteStore.locNewMain {
            newPairs.append((hash, newPairSessions.count, session.count, productId, v))
            newPairSessions.append(contentsOf: session)
            if newPairs.count == SQLiteStore.rowsPerUpsert { try flushNewPairs() }
            return
        }
        if !newPairs.isEmpty { try flushNewPairs() }
        if lookup.location == SQLiteStore.locOverflow || lookup.location == SQLiteStore.locNewOverflow {
            let s = overflowPut!
            s.bindBlobNoCopy(1, session); s.bind(2, productId); s.bind(3, v.time); s.bind(4, v.priceCents)
            s.bind(5, Int64(v.brand)); s.bind(6, Int64(v.l1)); s.bind(7, Int64(v.l2)); s.bind(8, Int64(v.l3)); s.bind(9, v.lastSeen)
            try s.run()
            if lookup.location == SQLiteStore.locNewOverflow { overflowRows += 1 }
            return
        }
        if lookup.location == SQLiteStore.locRecent {
            let u = recentUpdate!
            u.bind(1, v.time); u.bind(2, v.priceCents); u.bind(3, Int64(v.brand)); u.bind(4, Int64(v.l1)); u.bind(5, Int64(v.l2))
            u.bind(6, Int64(v.l3)); u.bind(7, v.lastSeen); u.bind(8, lookup.ref)
            try u.run()
            return
        }
        if lookup.location == SQLiteStore.locMain {
            let u = pairUpdate!
            u.bind(1, v.time); u.bind(2, v.priceCents); u.bind(3, Int64(v.brand)); u.bind(4, Int64(v.l1)); u.bind(5, Int64(v.l2))
            u.bind(6, Int64(v.l3)); u.bind(7, v.lastSeen); u.bind(8, hash)
            try u.run()
            return
        }
        throw StorageError.schema("unknown dedupe-state location \(lookup.location)")
    }

    /// Appends the buffered new pairs to the recent state (a full batch in one statement, a tail
    /// row by row) and indexes them.
    private func flushNewPairs() throws {
        let index = try recent()
        try newPairSessions.withUnsafeBufferPointer { all in
            func bindRow(_ st: Statement, _ base: Int32, _ p: (hash: Int64, offset: Int, length: Int, productId: Int64, view: CountedView)) {
                let v = p.view
                let id = index.newId(for: p.hash)
                index.put(p.hash, id)
                st.bind(base + 1, id); st.bind(base + 2, p.hash)
                st.bindBlobNoCopy(base + 3, UnsafeBufferPointer(rebasing: all[p.offset..<(p.offset + p.length)]))
                st.bind(base + 4, p.productId); st.bind(base + 5, v.time); st.bind(base + 6, v.priceCents)
                st.bind(base + 7, Int64(v.brand)); st.bind(base + 8, Int64(v.l1)); st.bind(base + 9, Int64(v.l2))
                st.bind(base + 10, Int64(v.l3)); st.bind(base + 11, v.lastSeen)
            }
            if newPairs.count == SQLiteStore.rowsPerUpsert {
                for (j, p) in newPairs.enumerated() { bindRow(recentBatchPut, Int32(j * 11), p) }
                try recentBatchPut.run()
            } else {
                for p in newPairs { bindRow(recentPut, 0, p); try recentPut.run() }
            }
        }
        appendedInTransaction += newPairs.count
        newPairs.removeAll(keepingCapacity: true)
        newPairSessions.removeAll(keepingCapacity: true)
    }

    public func applyStats(tier: Int, deltas: [StatDelta]) throws -> Int {
        let up = upserts[tier]
        let del = zeroDeletes[tier]
        var negatives: [Int] = []
        let batch = batchUpserts[tier]
        let n = SQLiteStore.rowsPerUpsert
        var i = 0
        while i + n <= deltas.count {
            for j in 0..<n {
                let d = deltas[i + j]
                let p = Int32(j * 6)
                batch.bind(p + 1, d.bucket); batch.bind(p + 2, Int64(d.eventType)); batch.bind(p + 3, Int64(d.dimension))
                batch.bind(p + 4, d.key); batch.bind(p + 5, d.events); batch.bind(p + 6, d.valueCents)
                if d.events < 0 { negatives.append(i + j) }
            }
            try batch.run()
            i += n
        }
        while i < deltas.count {
            let d = deltas[i]
            up.bind(1, d.bucket); up.bind(2, Int64(d.eventType)); up.bind(3, Int64(d.dimension)); up.bind(4, d.key)
            up.bind(5, d.events); up.bind(6, d.valueCents)
            try up.run()
            if d.events < 0 { negatives.append(i) }
            i += 1
        }
        // Corrections can take a row to zero events: such rows are deleted, not kept as zero.
        for i in negatives {
            let d = deltas[i]
            del.bind(1, d.bucket); del.bind(2, Int64(d.eventType)); del.bind(3, Int64(d.dimension)); del.bind(4, d.key)
            try del.run()
        }
        return deltas.count
    }

    public func appendKeys(firstId: Int, keys: [UnsafeBufferPointer<UInt8>]) throws {
        let st = try db.prepare("INSERT INTO keys(id, text) VALUES (?, ?)")
        for (i, k) in keys.enumerated() {
            st.bind(1, Int64(firstId + i))
            st.bindTextNoCopy(2, k)
            try st.run()
        }
    }

    public func recordFile(_ e: LedgerEntry) throws {
        let st = try db.prepare("""
            INSERT INTO files(sha256, path, size, mtime, rows_read, rows_accepted, rows_rejected, rejected_by_reason,
                              min_event_time, max_event_time, ingested_at, watermark_before)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        try st.bind([.text(e.sha256), .text(e.path), .int(e.size), .int(e.mtime), .int(e.rowsRead), .int(e.rowsAccepted),
                     .int(e.rowsRejected), .text(SQLiteStore.encodeReasons(e.rejected)),
                     e.minTime.map { .int($0) } ?? .null, e.maxTime.map { .int($0) } ?? .null, .int(e.ingestedAt),
                     e.watermarkBefore.map { .int($0) } ?? .null])
        try st.run()
    }

    public func prunePairs(lastSeenBefore cutoff: Int64) throws -> Int {
        try endPairBatch()
        let st = try db.prepare("DELETE FROM view_state WHERE last_seen < ?")
        try st.bind([.int(cutoff)])
        try st.run()
        var n = db.changes
        let rt = try db.prepare("DELETE FROM view_state_recent WHERE last_seen < ?")
        try rt.bind([.int(cutoff)])
        try rt.run()
        if db.changes > 0 { n += db.changes; recentIndex = nil }
        if overflowRows > 0 {
            let o = try db.prepare("DELETE FROM view_state_overflow WHERE last_seen < ?")
            try o.bind([.int(cutoff)])
            try o.run()
            n += db.changes
            overflowRows = try db.scalarInt("SELECT COUNT(*) FROM view_state_overflow") ?? 0
        }
        try setMeta("last_prune_cutoff", cutoff)
        return n
    }

    public func lastPruneCutoff() throws -> Int64? { try meta("last_prune_cutoff") }

    // MARK: retention

    public func retainedFrom() throws -> [Int64?] {
        try tiers.map { try meta("retained_from:\($0.name)") }
    }

    /// What retention would delete in one tier.
    public struct RetentionPlan: Sendable, Equatable {
        public var tier: String
        public var retention: Int64
        /// Buckets before this go.
        public var cutoff: Int64
        public var rows: Int64
        public var firstBucket: Int64?
        public var lastBucket: Int64?
    }

    /// Per tier with a retention: the buckets older than the watermark minus the retention (the
    /// data clock, never the wall clock). A bucket is kept while it starts at or after
    /// `floor((watermark - retention) / width) * width`, so the bucket holding that instant stays.
    public func planRetention() throws -> [RetentionPlan] {
        guard let wm = try watermark() else { return [] }
        var out: [RetentionPlan] = []
        for t in tiers {
            guard let r = t.retention else { continue }
            let edge = wm - r
            var cutoff = edge - edge % t.width
            if edge < 0 && edge % t.width != 0 { cutoff -= t.width }
            let st = try db.prepare("SELECT COUNT(*), MIN(bucket), MAX(bucket) FROM stat_\(t.name) WHERE bucket < ?")
            try st.bind([.int(cutoff)])
            _ = try st.step()
            out.append(RetentionPlan(tier: t.name, retention: r, cutoff: cutoff, rows: st.int(0),
                                     firstBucket: st.isNull(1) ? nil : st.int(1), lastBucket: st.isNull(2) ? nil : st.int(2)))
        }
        return out
    }

    /// Deletes what `plan` says, in one transaction, and records each tier's cutoff so that late
    /// events never re-create the deleted buckets. Returns rows deleted per tier.
    @discardableResult
    public func applyRetention(_ plan: [RetentionPlan]) throws -> [Int64] {
        try db.execute("BEGIN IMMEDIATE")
        do {
            var out: [Int64] = []
            for p in plan {
                guard tiers.contains(where: { $0.name == p.tier }) else { throw StorageError.schema("no tier \(p.tier)") }
                let st = try db.prepare("DELETE FROM stat_\(p.tier) WHERE bucket < ?")
                try st.bind([.int(p.cutoff)])
                try st.run()
                out.append(Int64(db.changes))
                let key = "retained_from:\(p.tier)"
                if (try meta(key)).map({ $0 < p.cutoff }) ?? true { try setMeta(key, p.cutoff) }
            }
            try db.execute("COMMIT")
            return out
        } catch {
            try? db.execute("ROLLBACK")
            throw error
        }
    }
}
