import XCTest
@testable import Storage
import Transforms

final class SQLiteStoreTests: XCTestCase {
    var dir: String!

    override func setUp() {
        dir = NSTemporaryDirectory() + "store-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func write(_ name: String, _ text: String) -> String {
        let p = dir + "/" + name
        FileManager.default.createFile(atPath: p, contents: Data(text.utf8))
        return p
    }

    let header = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n"

    func testMigrationsAreIdempotentAndNamed() throws {
        let path = dir + "/s.db"
        _ = try SQLiteStore(path: path)
        _ = try SQLiteStore(path: path)
        let db = try Database(path: path)
        let names = ["0001_core", "0002_files_watermark_before", "0003_catalog", "0004_view_state_recent", "0005_catalog_keys_by_version"]
        XCTAssertEqual(try db.scalarInt("SELECT COUNT(*) FROM schema_migrations"), Int64(names.count))
        XCTAssertEqual(try db.scalarInt("SELECT COUNT(*) FROM schema_migrations WHERE name IN (\(names.map { "'\($0)'" }.joined(separator: ", ")))"),
                       Int64(names.count))
        XCTAssertEqual(try db.scalarInt("SELECT COUNT(*) FROM tiers"), 3)
        let mode = try db.prepare("PRAGMA journal_mode")
        XCTAssertTrue(try mode.step())
        XCTAssertEqual(mode.text(0), "wal")
    }

    func testLedgerRoundTrip() throws {
        let s = try SQLiteStore(path: dir + "/s.db")
        var rej = [Int64](repeating: 0, count: RejectReason.allCases.count)
        rej[RejectReason.badPrice.rawValue] = 3
        let e = LedgerEntry(sha256: "ab", path: "/x.csv", size: 10, mtime: 5, rowsRead: 7, rowsAccepted: 4, rejected: rej,
                            minTime: 1, maxTime: nil, ingestedAt: 99)
        try s.begin(); try s.recordFile(e); try s.commit()
        XCTAssertEqual(try s.ledgerEntry(sha256: "ab"), e)
        XCTAssertEqual(try s.ledgerEntry(path: "/x.csv", size: 10, mtime: 5), e)
        XCTAssertNil(try s.ledgerEntry(path: "/x.csv", size: 11, mtime: 5))
    }

    func testStatsUpsertAndZeroRowsAreDeleted() throws {
        let s = try SQLiteStore(path: dir + "/s.db")
        try s.begin()
        _ = try s.applyStats(tier: 0, deltas: [StatDelta(bucket: 60, eventType: 0, dimension: 0, key: 5, events: 2, valueCents: 300)])
        _ = try s.applyStats(tier: 0, deltas: [StatDelta(bucket: 60, eventType: 0, dimension: 0, key: 5, events: -1, valueCents: -100)])
        try s.commit()
        XCTAssertEqual(try s.db.scalarInt("SELECT value_cents FROM stats_minute WHERE key = '5'"), 200)
        try s.begin()
        _ = try s.applyStats(tier: 0, deltas: [StatDelta(bucket: 60, eventType: 0, dimension: 0, key: 5, events: -1, valueCents: -200)])
        try s.commit()
        XCTAssertEqual(try s.db.scalarInt("SELECT COUNT(*) FROM stat_minute"), 0)
    }

    func testBatchedUpsertsAcrossTheBatchBoundary() throws {
        let s = try SQLiteStore(path: dir + "/s.db")
        let n = SQLiteStore.rowsPerUpsert * 2 + 5
        try s.begin()
        var up: [StatDelta] = []
        var down: [StatDelta] = []
        for k in 0..<n {
            up.append(StatDelta(bucket: 3600, eventType: 3, dimension: 0, key: Int64(k), events: 2, valueCents: 10))
            // Every third key goes back to zero (deleted), the others to 1 event; some in full
            // batches, some in the tail.
            let zero = k % 3 == 0
            down.append(StatDelta(bucket: 3600, eventType: 3, dimension: 0, key: Int64(k), events: zero ? -2 : -1, valueCents: zero ? -10 : -4))
        }
        _ = try s.applyStats(tier: 1, deltas: up)
        _ = try s.applyStats(tier: 1, deltas: down)
        try s.commit()
        let zeroed = (0..<n).filter { $0 % 3 == 0 }.count
        XCTAssertEqual(try s.db.scalarInt("SELECT COUNT(*) FROM stat_hour"), Int64(n - zeroed))
        XCTAssertEqual(try s.db.scalarInt("SELECT SUM(events) FROM stats_hour"), Int64(n - zeroed))
        XCTAssertEqual(try s.db.scalarInt("SELECT SUM(value_cents) FROM stats_hour"), Int64((n - zeroed) * 6))
        XCTAssertEqual(try s.db.scalarInt("SELECT COUNT(*) FROM stat_hour WHERE events = 0"), 0)
    }

    func testPairHashCollisionsGoToOverflow() throws {
        let s = try SQLiteStore(path: dir + "/s.db")
        let v1 = CountedView(time: 10, priceCents: 1, brand: 0, l1: 0, l2: 0, l3: 0, lastSeen: 10)
        let v2 = CountedView(time: 20, priceCents: 2, brand: 0, l1: 0, l2: 0, l3: 0, lastSeen: 20)
        let a = Array("session-a".utf8), b = Array("session-b".utf8)
        try s.begin()
        try a.withUnsafeBufferPointer { sa in
            try b.withUnsafeBufferPointer { sb in
                let la = try s.lookupPair(hash: 42, session: sa, productId: 1)
                XCTAssertNil(la.view)
                try s.savePair(hash: 42, session: sa, productId: 1, view: v1, lookup: la)
                // Same hash, another pair: must not be mistaken for the first.
                let lb = try s.lookupPair(hash: 42, session: sb, productId: 1)
                XCTAssertNil(lb.view)
                try s.savePair(hash: 42, session: sb, productId: 1, view: v2, lookup: lb)
                XCTAssertEqual(try s.lookupPair(hash: 42, session: sa, productId: 1).view, v1)
                XCTAssertEqual(try s.lookupPair(hash: 42, session: sb, productId: 1).view, v2)
                XCTAssertNil(try s.lookupPair(hash: 42, session: sa, productId: 2).view)
                // Pruning the main row leaves the overflow pair findable.
                XCTAssertEqual(try s.prunePairs(lastSeenBefore: 15), 1)
                XCTAssertEqual(try s.lookupPair(hash: 42, session: sb, productId: 1).view, v2)
            }
        }
        try s.commit()
    }

    /// A hash in merge slice `slice` (its top four bits), distinct per `n`.
    private func hash(slice: Int, _ n: Int) -> Int64 { Int64(bitPattern: UInt64(slice) << 60 | UInt64(n)) }

    func testRecentPairsAreFoundUpdatedAndMergedSliceBySlice() throws {
        let path = dir + "/s.db"
        let s = try SQLiteStore(path: path)
        func view(_ t: Int64) -> CountedView { CountedView(time: t, priceCents: t, brand: 0, l1: 0, l2: 0, l3: 0, lastSeen: t) }
        let session = Array("sess".utf8)
        try session.withUnsafeBufferPointer { ss in
            try s.begin()
            for slice in 0..<16 { for n in 1...3 {
                let h = hash(slice: slice, n)
                let l = try s.lookupPair(hash: h, session: ss, productId: Int64(n))
                XCTAssertNil(l.view)
                try s.savePair(hash: h, session: ss, productId: Int64(n), view: view(Int64(100 * slice + n)), lookup: l)
            } }
            try s.commit()
            XCTAssertEqual(try s.db.scalarInt("SELECT COUNT(*) FROM view_state_recent"), 48)
            XCTAssertEqual(try s.db.scalarInt("SELECT COUNT(*) FROM view_state"), 0)
            // Slice 0 goes first, then slice 1; the others stay recent.
            XCTAssertEqual(try s.mergeNextRecentSlice(), 3)
            XCTAssertEqual(try s.mergeNextRecentSlice(), 3)
            XCTAssertEqual(try s.db.scalarInt("SELECT COUNT(*) FROM view_state"), 6)
            XCTAssertEqual(try s.db.scalarInt("SELECT COUNT(*) FROM view_state_recent"), 42)
            XCTAssertEqual(try s.db.scalarInt("SELECT COUNT(*) FROM view_state WHERE ((pair >> 60) & 15) NOT IN (0, 1)"), 0)
            // Updates reach whichever table holds the pair, and a fresh connection sees them.
            try s.begin()
            for (slice, n) in [(0, 1), (5, 2)] {
                let h = hash(slice: slice, n)
                let l = try s.lookupPair(hash: h, session: ss, productId: Int64(n))
                XCTAssertEqual(l.view, view(Int64(100 * slice + n)))
                try s.savePair(hash: h, session: ss, productId: Int64(n), view: view(7), lookup: l)
            }
            try s.commit()
            let again = try SQLiteStore(path: path)
            for slice in 0..<16 { for n in 1...3 {
                let want = (slice, n) == (0, 1) || (slice, n) == (5, 2) ? view(7) : view(Int64(100 * slice + n))
                XCTAssertEqual(try again.lookupPair(hash: hash(slice: slice, n), session: ss, productId: Int64(n)).view, want, "\(slice) \(n)")
            } }
            // The cycle continues where the other connection left off (slice 2), and survives
            // a rolled-back append.
            try again.begin()
            let h = hash(slice: 2, 9)
            try again.savePair(hash: h, session: ss, productId: 9, view: view(1), lookup: try again.lookupPair(hash: h, session: ss, productId: 9))
            XCTAssertNotNil(try again.lookupPair(hash: h, session: ss, productId: 9).view)
            again.rollback()
            XCTAssertNil(try again.lookupPair(hash: h, session: ss, productId: 9).view)
            XCTAssertEqual(try again.mergeNextRecentSlice(), 3)
            XCTAssertEqual(try again.db.scalarInt("SELECT COUNT(*) FROM view_state WHERE ((pair >> 60) & 15) = 2"), 3)
            // Pruning reaches both tables.
            try again.begin()
            // Last seen before 300: slices 0-2 (9 pairs, main) and the updated (5, 2) (recent).
            XCTAssertEqual(try again.prunePairs(lastSeenBefore: 300), 10)
            XCTAssertNil(try again.lookupPair(hash: hash(slice: 5, 2), session: ss, productId: 2).view)
            XCTAssertNotNil(try again.lookupPair(hash: hash(slice: 5, 1), session: ss, productId: 1).view)
            try again.commit()
        }
    }

    /// A lookup's location stays valid until the pair batch ends: saving many new pairs after
    /// it (more than a transaction may append before the recent state is merged) must not move
    /// the looked-up pair's row before it is saved. (The merge used to run inside the saves, so
    /// the update went to a row id that no longer held the pair.)
    func testAMergeWaitsForTheEndOfThePairBatch() throws {
        let path = dir + "/s.db"
        let s = try SQLiteStore(path: path)
        s.maxRecentPairsPerTransaction = 100
        let sess = Array("sess".utf8)
        func v(_ t: Int64) -> CountedView { CountedView(time: t, priceCents: t, brand: 0, l1: 0, l2: 0, l3: 0, lastSeen: t) }
        try sess.withUnsafeBufferPointer { ss in
            try s.begin()
            let a = hash(slice: 2, 1)
            try s.savePair(hash: a, session: ss, productId: 1, view: v(10), lookup: try s.lookupPair(hash: a, session: ss, productId: 1))
            try s.endPairBatch()
            try s.commit()
            try s.begin()
            // One batch: look up a (recent) and 300 new pairs, then save them all, a last.
            let la = try s.lookupPair(hash: a, session: ss, productId: 1)
            XCTAssertEqual(la.view, v(10))
            let others = (2...301).map { hash(slice: 2, $0) }
            let lookups = try others.enumerated().map { try s.lookupPair(hash: $0.element, session: ss, productId: Int64($0.offset + 2)) }
            for (k, h) in others.enumerated() {
                try s.savePair(hash: h, session: ss, productId: Int64(k + 2), view: v(20), lookup: lookups[k])
            }
            try s.savePair(hash: a, session: ss, productId: 1, view: v(5), lookup: la)
            try s.endPairBatch()
            try s.commit()
            XCTAssertEqual(try s.db.scalarInt("SELECT COUNT(*) FROM view_state_recent"), 0, "the batch's end merged the recent state")
            XCTAssertEqual(try s.db.scalarInt("SELECT COUNT(*) FROM view_state"), 301)
            let again = try SQLiteStore(path: path)
            XCTAssertEqual(try again.lookupPair(hash: a, session: ss, productId: 1).view, v(5))
            for (k, h) in others.enumerated() { XCTAssertEqual(try again.lookupPair(hash: h, session: ss, productId: Int64(k + 2)).view, v(20)) }
            XCTAssertEqual(try again.db.scalarInt("SELECT COUNT(*) FROM view_state_overflow"), 0)
        }
    }

    func testAHashCollisionBetweenRecentAndMainGoesToOverflow() throws {
        let s = try SQLiteStore(path: dir + "/s.db")
        let v1 = CountedView(time: 10, priceCents: 1, brand: 0, l1: 0, l2: 0, l3: 0, lastSeen: 10)
        let v2 = CountedView(time: 20, priceCents: 2, brand: 0, l1: 0, l2: 0, l3: 0, lastSeen: 20)
        let v3 = CountedView(time: 30, priceCents: 3, brand: 0, l1: 0, l2: 0, l3: 0, lastSeen: 30)
        let a = Array("session-a".utf8), b = Array("session-b".utf8), c = Array("session-c".utf8)
        try a.withUnsafeBufferPointer { sa in try b.withUnsafeBufferPointer { sb in try c.withUnsafeBufferPointer { sc in
            try s.begin()
            try s.savePair(hash: 42, session: sa, productId: 1, view: v1, lookup: try s.lookupPair(hash: 42, session: sa, productId: 1))
            try s.commit()
            try s.begin()
            try s.mergeRecentPairs(slice: nil)  // a now in the main state
            try s.savePair(hash: 43, session: sb, productId: 1, view: v2, lookup: try s.lookupPair(hash: 43, session: sb, productId: 1))
            // Same hash as a (main) and as b (recent), other pairs: overflow, never mistaken.
            let lc = try s.lookupPair(hash: 42, session: sc, productId: 1)
            XCTAssertNil(lc.view)
            try s.savePair(hash: 42, session: sc, productId: 1, view: v3, lookup: lc)
            let lb = try s.lookupPair(hash: 43, session: sc, productId: 2)
            XCTAssertNil(lb.view)
            try s.savePair(hash: 43, session: sc, productId: 2, view: v3, lookup: lb)
            try s.commit()
            XCTAssertEqual(try s.lookupPair(hash: 42, session: sa, productId: 1).view, v1)
            XCTAssertEqual(try s.lookupPair(hash: 43, session: sb, productId: 1).view, v2)
            XCTAssertEqual(try s.lookupPair(hash: 42, session: sc, productId: 1).view, v3)
            XCTAssertEqual(try s.lookupPair(hash: 43, session: sc, productId: 2).view, v3)
            XCTAssertEqual(try s.db.scalarInt("SELECT COUNT(*) FROM view_state_overflow"), 2)
        } } }
    }

    /// A store written before the recent state (rows in `view_state`, no filters): its pairs
    /// stay findable when a slice's filter is first built, and new pairs skip the index.
    func testSliceFiltersCoverPairsWrittenBeforeThem() throws {
        let path = dir + "/s.db"
        let s = try SQLiteStore(path: path)
        let legacy = hash(slice: 3, 77)
        try s.db.execute("""
            INSERT INTO view_state(pair, session, product_id, t, price_cents, brand, l1, l2, l3, last_seen)
            VALUES (\(legacy), X'6C6567', 77, 5, 5, 0, 0, 0, 0, 5)
            """)
        let sess = Array("leg".utf8), other = Array("new".utf8)
        try sess.withUnsafeBufferPointer { ls in try other.withUnsafeBufferPointer { os in
            XCTAssertEqual(try s.lookupPair(hash: legacy, session: ls, productId: 77).view?.time, 5)
            try s.begin()
            for n in 1...50 {
                let h = hash(slice: 3, n)
                try s.savePair(hash: h, session: os, productId: Int64(n), view: CountedView(time: 9, priceCents: 9, brand: 0, l1: 0, l2: 0, l3: 0, lastSeen: 9),
                               lookup: try s.lookupPair(hash: h, session: os, productId: Int64(n)))
            }
            try s.commit()
            try s.begin()
            try s.mergeRecentPairs(slice: 3)
            try s.commit()
            XCTAssertEqual(try s.db.scalarInt("SELECT pairs FROM view_state_filter WHERE slice = 3"), 51)
            let again = try SQLiteStore(path: path)
            XCTAssertEqual(try again.lookupPair(hash: legacy, session: ls, productId: 77).view?.time, 5)
            for n in 1...50 { XCTAssertEqual(try again.lookupPair(hash: hash(slice: 3, n), session: os, productId: Int64(n)).view?.time, 9) }
            XCTAssertNil(try again.lookupPair(hash: hash(slice: 3, 999), session: os, productId: 999).view)
        } }
    }

    /// Many small files with a tiny recent state (merges inside transactions and slice by slice
    /// between files) give the same stats as one file.
    /// A store that counts the dedupe-state writes it passes on.
    final class CountingStore: IngestStore {
        let base: SQLiteStore
        var saves = 0
        init(_ base: SQLiteStore) { self.base = base }
        func loadKeys() throws -> [[UInt8]] { try base.loadKeys() }
        func watermark() throws -> Int64? { try base.watermark() }
        func ledgerEntry(sha256: String) throws -> LedgerEntry? { try base.ledgerEntry(sha256: sha256) }
        func ledgerEntry(path: String, size: Int64, mtime: Int64) throws -> LedgerEntry? { try base.ledgerEntry(path: path, size: size, mtime: mtime) }
        func hasPairState() throws -> Bool { try base.hasPairState() }
        func begin() throws { try base.begin() }
        func lookupPair(hash: Int64, session: UnsafeBufferPointer<UInt8>, productId: Int64) throws -> PairLookup {
            try base.lookupPair(hash: hash, session: session, productId: productId)
        }
        func savePair(hash: Int64, session: UnsafeBufferPointer<UInt8>, productId: Int64, view: CountedView, lookup: PairLookup) throws {
            saves += 1
            try base.savePair(hash: hash, session: session, productId: productId, view: view, lookup: lookup)
        }
        func endPairBatch() throws { try base.endPairBatch() }
        func applyStats(tier: Int, deltas: [StatDelta]) throws -> Int { try base.applyStats(tier: tier, deltas: deltas) }
        func appendKeys(firstId: Int, keys: [UnsafeBufferPointer<UInt8>]) throws { try base.appendKeys(firstId: firstId, keys: keys) }
        func setWatermark(_ t: Int64) throws { try base.setWatermark(t) }
        func recordFile(_ entry: LedgerEntry) throws { try base.recordFile(entry) }
        func prunePairs(lastSeenBefore cutoff: Int64) throws -> Int { try base.prunePairs(lastSeenBefore: cutoff) }
        func lastPruneCutoff() throws -> Int64? { try base.lastPruneCutoff() }
        func retainedFrom() throws -> [Int64?] { try base.retainedFrom() }
        func commit() throws { try base.commit() }
        func rollback() { base.rollback() }
    }

    /// A long file through a pending map that holds more than the horizon: evictions take only
    /// pairs already beyond the horizon, so no state is written that pruning then deletes; each
    /// pair still within the horizon at the end is written once. Same stats as a map that never
    /// evicts.
    func testEvictionsWriteNoStateThatIsPrunedLater() throws {
        let src = dir + "/long.csv"
        let out = try OutputFile(path: src, gzip: false)
        _ = try generateEvents(GeneratorOptions(rows: 40_000, start: 1_569_888_000, hours: 120, seed: 9), to: out)
        try out.finish()
        let one = try SQLiteStore(path: dir + "/one.db")
        var big = IngestOptions()
        big.pairBatch = 1 << 20
        XCTAssertEqual(try Ingestor(store: one, options: big, rejects: nil).ingest(path: src).status, .ingested)
        let base = try SQLiteStore(path: dir + "/small.db")
        let counting = CountingStore(base)
        var small = IngestOptions()
        // About 36 hours of this file's pairs (240 an hour): a full map holds a third beyond
        // the horizon, and its older half reaches 6 hours into it.
        small.pairBatch = 8_600
        let r = try Ingestor(store: counting, options: small, rejects: nil).ingest(path: src)
        XCTAssertEqual(r.status, .ingested)
        let stored = (try base.db.scalarInt("SELECT COUNT(*) FROM view_state") ?? 0)
            + (try base.db.scalarInt("SELECT COUNT(*) FROM view_state_recent") ?? 0)
        XCTAssertGreaterThan(stored, 1000)
        XCTAssertEqual(Int64(counting.saves), stored, "each pair written is still in the state")
        for t in ["minute", "hour", "day"] {
            for q in ["SELECT COUNT(*) FROM stat_\(t)", "SELECT SUM(events) FROM stat_\(t)", "SELECT SUM(value_cents * (bucket % 7919 + dim)) FROM stat_\(t)"] {
                XCTAssertEqual(try base.db.scalarInt(q), try one.db.scalarInt(q), q)
            }
        }
    }

    func testRecentStateMergesDoNotChangeTheStats() throws {
        let src = dir + "/all.csv"
        let out = try OutputFile(path: src, gzip: false)
        _ = try generateEvents(GeneratorOptions(rows: 6000, start: 1_569_888_000, hours: 6, seed: 5), to: out)
        try out.finish()
        let lines = try String(contentsOfFile: src, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: true)
        func dump(_ s: SQLiteStore) throws -> [String] {
            var rows: [String] = []
            for t in ["minute", "hour", "day"] {
                let st = try s.db.prepare("SELECT bucket, event_type, dim, key, events, value_cents FROM stat_\(t) ORDER BY 1, 2, 3, 4")
                while try st.step() { rows.append("\(t) \((0..<6).map { st.int($0) })") }
            }
            return rows
        }
        let one = try SQLiteStore(path: dir + "/one.db")
        XCTAssertEqual(try Ingestor(store: one, options: IngestOptions(), rejects: nil).ingest(path: src).status, .ingested)
        let many = try SQLiteStore(path: dir + "/many.db")
        many.maxRecentPairs = 97
        var options = IngestOptions()
        options.pairBatch = 256
        let ing = try Ingestor(store: many, options: options, rejects: nil)
        let body = Array(lines.dropFirst())
        var i = 0, k = 0
        while i < body.count {
            let n = 150 + (k * 37) % 400
            let part = write("part\(k).csv", String(lines[0]) + "\n" + body[i..<min(body.count, i + n)].joined(separator: "\n") + "\n")
            XCTAssertEqual(try ing.ingest(path: part).status, .ingested)
            if k % 3 == 0 { try many.mergeNextRecentSlice() }
            i += n; k += 1
        }
        XCTAssertGreaterThan(try many.db.scalarInt("SELECT COUNT(*) FROM view_state") ?? 0, 0)
        XCTAssertGreaterThan(try many.db.scalarInt("SELECT COUNT(*) FROM view_state_recent") ?? 0, 0)
        XCTAssertEqual(try dump(many), try dump(one))
    }

    /// A group of files in one transaction gives the same store as one file at a time; a bad
    /// file sends its group back to one transaction per file; repeated content is skipped.
    func testIngestGroupEqualsOneFileAtATime() throws {
        let src = dir + "/all.csv"
        let out = try OutputFile(path: src, gzip: false)
        _ = try generateEvents(GeneratorOptions(rows: 4000, start: 1_569_888_000, hours: 3, seed: 9), to: out)
        try out.finish()
        let lines = try String(contentsOfFile: src, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: true)
        var parts: [String] = []
        var i = 1, k = 0
        while i < lines.count {
            let n = 300 + (k * 53) % 500
            parts.append(write("g\(k).csv", String(lines[0]) + "\n" + lines[i..<min(lines.count, i + n)].joined(separator: "\n") + "\n"))
            i += n; k += 1
        }
        let bad = write("bad.csv", String(lines[0]) + "\n" + (0..<200).map { "2019-10-01 00:00:0\($0 % 10) UTC,bogus,1,2,,,1.00,3,s" }.joined(separator: "\n") + "\n")
        func dump(_ s: SQLiteStore) throws -> [String] {
            var rows: [String] = []
            for q in ["SELECT bucket, event_type, dim, key, events, value_cents FROM stat_minute ORDER BY 1, 2, 3, 4",
                      "SELECT bucket, event_type, dim, key, events, value_cents FROM stat_day ORDER BY 1, 2, 3, 4",
                      "SELECT sha256, path, rows_read, rows_accepted, min_event_time, max_event_time, watermark_before FROM files ORDER BY 2",
                      "SELECT id, text FROM keys ORDER BY 1", "SELECT value FROM meta WHERE key = 'watermark'"] {
                let st = try s.db.prepare(q)
                while try st.step() { rows.append((0..<st.columnCount).map { st.text($0) ?? "null" }.joined(separator: ",")) }
            }
            return rows
        }
        let one = try SQLiteStore(path: dir + "/one.db")
        let a = try Ingestor(store: one, options: IngestOptions(), rejects: nil)
        for p in parts { XCTAssertEqual(try a.ingest(path: p).status, .ingested) }
        let grouped = try SQLiteStore(path: dir + "/grouped.db")
        let b = try Ingestor(store: grouped, options: IngestOptions(), rejects: nil)
        let first = try b.ingestGroup(paths: Array(parts[0..<3]) + [parts[0]])
        XCTAssertEqual(first.map(\.status), [.ingested, .ingested, .ingested, .skipped])
        XCTAssertEqual(first[3].duplicateOf, parts[0])
        // A bad file in the middle: the group goes in file by file; only the bad one fails.
        let second = try b.ingestGroup(paths: [parts[3], bad] + Array(parts[4...]))
        XCTAssertEqual(second.map(\.status), [.ingested, .failed] + Array(repeating: .ingested, count: parts.count - 4))
        XCTAssertEqual(try dump(grouped), try dump(one))
        XCTAssertGreaterThan(try dump(one).count, 1000)
    }

    func testLateEarlierViewCorrectsEveryTier() throws {
        let s = try SQLiteStore(path: dir + "/s.db")
        let ing = try Ingestor(store: s, options: IngestOptions(), rejects: nil)
        let later = write("later.csv", header + "2019-10-01 01:30:00 UTC,view,1,9,a.b,x,2.00,5,S\n")
        let earlier = write("earlier.csv", header + "2019-10-01 00:10:00 UTC,view,1,9,a.b,x,3.00,5,S\n2019-10-01 00:10:00 UTC,view,1,9,a.b,x,1.00,5,S\n")
        XCTAssertEqual(try ing.ingest(path: later).status, .ingested)
        let r = try ing.ingest(path: earlier)
        XCTAssertEqual(r.status, .ingested)
        XCTAssertEqual(r.corrections, 1)
        XCTAssertEqual(r.viewsDeduped, 2)
        for t in ["minute", "hour", "day"] {
            let st = try s.db.prepare("SELECT bucket, events, value_cents FROM stats_\(t) WHERE dimension = 'product_id'")
            XCTAssertTrue(try st.step())
            XCTAssertEqual(st.int(1), 1, t)
            XCTAssertEqual(st.int(2), 100, t)  // the earliest, then cheapest, view counts
            XCTAssertFalse(try st.step(), "\(t): the later view's bucket is gone")
        }
        XCTAssertEqual(try s.watermark(), 1_569_893_400)
    }

    func testFailedFileStoresNothing() throws {
        let s = try SQLiteStore(path: dir + "/s.db")
        let ing = try Ingestor(store: s, options: IngestOptions(), rejects: nil)
        var text = header
        for i in 0..<200 { text += "2019-10-01 00:00:00 UTC,\(i % 10 == 0 ? "bogus" : "view"),\(i),9,a.b,newbrand\(i),2.00,5,S\n" }
        let r = try ing.ingest(path: write("bad.csv", text))
        XCTAssertEqual(r.status, .failed)
        XCTAssertTrue(r.error?.contains("max-reject-rate") ?? false)
        XCTAssertEqual(try s.db.scalarInt("SELECT COUNT(*) FROM stat_minute"), 0)
        XCTAssertEqual(try s.db.scalarInt("SELECT COUNT(*) FROM keys"), 0)
        XCTAssertEqual(try s.db.scalarInt("SELECT COUNT(*) FROM files"), 0)
        XCTAssertEqual(try s.db.scalarInt("SELECT COUNT(*) FROM view_state"), 0)
        // The same ingestor goes on with good files, with a clean dictionary.
        let ok = try ing.ingest(path: write("ok.csv", header + "2019-10-01 00:00:00 UTC,view,1,9,a.b,kept,2.00,5,S\n"))
        XCTAssertEqual(ok.status, .ingested)
        XCTAssertEqual(try s.db.scalarInt("SELECT COUNT(*) FROM stats_day WHERE dimension = 'brand' AND key = 'kept'"), 1)
        XCTAssertEqual(try s.db.scalarInt("SELECT MAX(id) FROM keys"), try s.db.scalarInt("SELECT COUNT(*) - 1 FROM keys"))
    }

    func testCategoryLevelsAndBrandFill() throws {
        let s = try SQLiteStore(path: dir + "/s.db")
        let ing = try Ingestor(store: s, options: IngestOptions(), rejects: nil)
        let text = header
            + "2019-10-01 00:00:00 UTC,purchase,11,77,electronics.smartphone,,1.00,5,\n"
            + "2019-10-01 00:00:00 UTC,purchase,12,77,electronics.audio.music_tools.piano,b,1.00,5,\n"
            + "2019-10-01 00:00:00 UTC,purchase,13,77,,b,1.00,5,\n"
            + "2019-10-01 00:00:00 UTC,purchase,14,,,b,1.00,5,\n"
        XCTAssertEqual(try ing.ingest(path: write("c.csv", text)).status, .ingested)
        func keys(_ dim: String) throws -> [String] {
            let st = try s.db.prepare("SELECT key FROM stats_day WHERE dimension = '\(dim)' ORDER BY key")
            var out: [String] = []
            while try st.step() { out.append(st.text(0)!) }
            return out
        }
        XCTAssertEqual(try keys("category_l1"), ["77", "electronics", "unknown"])
        XCTAssertEqual(try keys("category_l2"), ["77", "electronics.audio", "electronics.smartphone", "unknown"])
        XCTAssertEqual(try keys("category_l3"), ["77", "electronics.audio.music_tools", "electronics.smartphone.smartphone", "unknown"])
        XCTAssertEqual(try keys("brand"), ["11", "b"])
    }
}
