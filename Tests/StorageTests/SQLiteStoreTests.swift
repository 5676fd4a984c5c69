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
        XCTAssertEqual(try db.scalarInt("SELECT COUNT(*) FROM schema_migrations"), 3)
        XCTAssertEqual(try db.scalarInt("SELECT COUNT(*) FROM schema_migrations WHERE name IN ('0001_core', '0002_files_watermark_before', '0003_catalog')"), 3)
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
