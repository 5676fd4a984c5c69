import XCTest
@testable import Storage
import Transforms

/// `verify`'s store side on real SQLite files: per-version keys written by catalog ingest (and
/// their roll-up into cat_keys), the figures `verifyInput` reads (compared hours, exact sessions,
/// whole-history keys), and catalog ingest's memory bound (same store for any bound).
final class VerifyQueriesTests: XCTestCase {
    var dir: String!

    override func setUp() {
        dir = NSTemporaryDirectory() + "verifyq-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func write(_ name: String, _ lines: [String]) -> String {
        let p = dir + "/" + name
        FileManager.default.createFile(atPath: p, contents: Data((lines.joined(separator: "\n") + "\n").utf8))
        return p
    }

    /// One canonical event; `session` nil leaves session_id out, `user` nil leaves user_id out.
    func ev(_ platform: String, _ version: String, _ event: String, _ screen: String, _ ts: Int64,
            session: String? = "s", user: String? = nil, body: String = "{}", tenant: String = "t", app: String = "a") -> String {
        var s = "{\"tenant\":\"\(tenant)\",\"app\":\"\(app)\",\"platform\":\"\(platform)\",\"app_version\":\"\(version)\","
        s += "\"event\":\"\(event)\",\"screen\":\"\(screen)\""
        if let session { s += ",\"session_id\":\"\(session)\"" }
        if let user { s += ",\"user_id\":\"\(user)\"" }
        return s + ",\"ts\":\(ts),\"body\":\(body)}"
    }

    @discardableResult
    func ingest(_ db: String, _ files: [String], flushEntries: Int? = nil) throws -> [CatalogFileReport] {
        let store = try SQLiteCatalogStore(store: try SQLiteStore(path: db))
        var o = CatalogOptions()
        if let flushEntries { o.flushEntries = flushEntries }
        let ing = try CatalogIngestor(store: store, options: o, rejects: nil)
        return try files.map { f in
            let r = try ing.ingest(path: f)
            XCTAssertEqual(r.status, .ingested, r.error ?? f)
            return r
        }
    }

    func rows(_ db: Database, _ sql: String) throws -> [String] {
        let st = try db.prepare(sql)
        var out: [String] = []
        func plain(_ v: SQLValue) -> String {
            switch v {
            case .null: return "NULL"
            case .int(let i): return String(i)
            case .real(let d): return String(d)
            case .text(let t): return t
            case .blob(let b): return b.map { String($0, radix: 16) }.joined()
            }
        }
        while try st.step() { out.append((0..<st.columnCount).map { plain(st.value($0)) }.joined(separator: "|")) }
        return out
    }

    let h0: Int64 = 1_714_550_400  // 2024-05-01T08:00:00Z

    // MARK: per-version keys

    func testKeysAreKeptPerVersionAndRollUpToCatKeys() throws {
        let db = dir + "/k.db"
        let f1 = write("a.jsonl", [
            ev("android", "1.0", "click", "home", h0, body: #"{"pos":1,"items":[{"qty":1},{"qty":"2"}]}"#),
            ev("android", "1.0", "click", "home", h0 + 5, body: #"{"pos":2}"#),
            ev("android", "1.1", "click", "home", h0 + 10, body: #"{"pos":"3","items":[]}"#),
            ev("ios", "1.0", "click", "pdp", h0 + 20, body: #"{"pos":null}"#),
        ])
        let f2 = write("b.jsonl", [ev("android", "1.0", "click", "home", h0 - 7200, body: #"{"pos":4}"#)])
        try ingest(db, [f1, f2])
        let s = try SQLiteStore(path: db)
        let migrated = try s.db.scalarInt("SELECT COUNT(*) FROM schema_migrations WHERE name = '0005_catalog_keys_by_version'")
        XCTAssertEqual(migrated, 1)
        // (platform, version, path): first, last, events, strings numbers bools objects arrays nulls.
        XCTAssertEqual(try rows(s.db, """
            SELECT platform, app_version, key_path, first_seen - \(h0), last_seen - \(h0), events,
                   strings, numbers, bools, objects, arrays, nulls
            FROM cat_keys_version ORDER BY platform, app_version, key_path
            """), [
            "android|1.0|items|0|0|1|0|0|0|0|1|0",
            "android|1.0|items[]|0|0|1|0|0|0|1|0|0",
            // qty is a number in one item and a string in the other: one event, both types.
            "android|1.0|items[].qty|0|0|1|1|1|0|0|0|0",
            "android|1.0|pos|-7200|5|3|0|3|0|0|0|0",
            "android|1.1|items|10|10|1|0|0|0|0|1|0",
            "android|1.1|pos|10|10|1|1|0|0|0|0|0",
            "ios|1.0|pos|20|20|1|0|0|0|0|0|1",
        ])
        // cat_keys is exactly the roll-up over platforms and versions.
        let rollup = try rows(s.db, """
            SELECT tenant, app, event, key_path, MIN(first_seen), MAX(last_seen), SUM(events),
                   SUM(strings), SUM(numbers), SUM(bools), SUM(objects), SUM(arrays), SUM(nulls)
            FROM cat_keys_version GROUP BY tenant, app, event, key_path ORDER BY 1, 2, 3, 4
            """)
        XCTAssertEqual(rollup, try rows(s.db, "SELECT * FROM cat_keys ORDER BY 1, 2, 3, 4"))
        XCTAssertEqual(rollup.count, 4)
    }

    func testKeysByVersionDoNotDependOnFileOrderOrCuts() throws {
        let path = dir + "/all.jsonl"
        let out = try OutputFile(path: path, gzip: false)
        _ = try generateClickstream(ClickstreamOptions(rows: 3000, start: h0, hours: 3, seed: 8), to: out)
        try out.finish()
        let lines = String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
            .split(separator: "\n").map(String.init)
        // Every third line to another file: each cut holds every hour, version and key.
        let cuts = (0..<3).map { k in write("cut\(k).jsonl", lines.enumerated().filter { $0.offset % 3 == k }.map(\.element)) }
        try ingest(dir + "/one.db", [path])
        try ingest(dir + "/fwd.db", cuts)
        try ingest(dir + "/rev.db", cuts.reversed())
        func keys(_ db: String) throws -> [String] {
            let d = try Database(path: db)
            return try rows(d, "SELECT * FROM cat_keys_version ORDER BY 1,2,3,4,5,6")
                + rows(d, "SELECT * FROM cat_keys ORDER BY 1,2,3,4")
        }
        let want = try keys(dir + "/one.db")
        XCTAssertGreaterThan(want.count, 500)
        XCTAssertEqual(try keys(dir + "/fwd.db"), want)
        XCTAssertEqual(try keys(dir + "/rev.db"), want)
    }

    // MARK: verifyInput

    /// Baseline 1 has events in hours 0-2, candidate 2 in hours 1-3: the compared hours are 1 and 2.
    func craftedStore() throws -> String {
        let db = dir + "/v.db"
        let h = { (k: Int64) in self.h0 + k * 3600 }
        let f = write("v.jsonl", [
            ev("android", "1", "screenLoad", "home", h(0), session: "b0"),
            ev("android", "1", "screenLoad", "home", h(1), session: "b1", body: #"{"sku":"x","n":1}"#),
            ev("android", "1", "screenLoad", "pdp", h(1) + 60, session: "b2", body: #"{"sku":"y"}"#),
            ev("android", "1", "screenLoad", "pdp", h(2), session: "b1", body: #"{"sku":"z","n":2}"#),  // b1 again, next hour
            ev("android", "1", "click", "pdp", h(2) + 1, session: nil, user: nil),                      // its own session
            ev("android", "1", "click", "pdp", h(2) + 2, session: nil, user: "u1"),                     // derived session
            ev("android", "1", "click", "pdp", h(2) + 3, session: nil, user: "u1"),                     // the same one
            ev("ios", "1", "screenLoad", "home", h(1), session: "i1"),                                  // other platform
            ev("android", "2", "screenLoad", "home", h(1), session: "c1", body: #"{"n":"1"}"#),
            ev("android", "2", "click", "home", h(2), session: "c1"),
            ev("android", "2", "click", "home", h(3), session: "c2"),
            ev("android", "9", "click", "home", h(1), session: "x", tenant: "other"),
        ])
        try ingest(db, [f])
        return db
    }

    func scope(_ platform: String? = "android", candidate: String = "2") throws -> (SQLiteStore, VerifyScope) {
        let s = try SQLiteStore(path: dir + "/v.db", readOnly: true)
        let sc = try VerifyScope.resolve(app: "a", tenant: "t", platform: platform, baseline: "1", candidate: candidate,
                                         catalog: try s.verifyCatalogVersions())
        return (s, sc)
    }

    func testVerifyInputComparesTheCommonHoursWithExactSessions() throws {
        _ = try craftedStore()
        let (s, sc) = try scope()
        let input = try s.verifyInput(sc, from: nil, to: nil)
        XCTAssertEqual(input.hours, [h0 + 3600, h0 + 7200])
        let b = input.baseline, c = input.candidate
        XCTAssertEqual(b.events, 6)
        // b1 (two hours, once), b2, the anonymous event, u1's derived session.
        XCTAssertEqual(b.sessions, 4)
        XCTAssertEqual(b.screens, [VerifyEventScreen("screenLoad", "home"): 1, VerifyEventScreen("screenLoad", "pdp"): 2,
                                   VerifyEventScreen("click", "pdp"): 3])
        XCTAssertEqual(c.events, 2)
        XCTAssertEqual(c.sessions, 1)
        // Whole history: hour 0 (baseline) and hour 3 (candidate) count for the key stage.
        XCTAssertEqual(b.historyEvents, ["screenLoad": 4, "click": 3])
        XCTAssertEqual(c.historyEvents, ["screenLoad": 1, "click": 2])
        XCTAssertEqual(b.keys, [VerifyKeyFigures(event: "screenLoad", keyPath: "n", events: 2, types: [0, 2, 0, 0, 0, 0]),
                                VerifyKeyFigures(event: "screenLoad", keyPath: "sku", events: 3, types: [3, 0, 0, 0, 0, 0])])
        XCTAssertEqual(c.keys, [VerifyKeyFigures(event: "screenLoad", keyPath: "n", events: 1, types: [1, 0, 0, 0, 0, 0])])
        XCTAssertFalse(b.keyInventoryMissing)
        XCTAssertTrue(input.candidateInStore)

        // The same sessions, counted independently with SQL over the public view and the raw triples.
        let raw = try s.db.scalarInt("""
            SELECT COUNT(DISTINCT session) FROM cat_hour_sessions WHERE bucket IN (\(h0 + 3600), \(h0 + 7200))
              AND grp IN (SELECT id FROM cat_groups
                          WHERE tenant = 't' AND app = 'a' AND platform = 'android' AND app_version = '1')
            """)
        XCTAssertEqual(raw, 3)  // + 1 anonymous event = 4

        // --from narrows; all platforms together add ios's hour-1 session.
        XCTAssertEqual(try s.verifyInput(sc, from: h0 + 7200, to: nil).hours, [h0 + 7200])
        XCTAssertEqual(try s.verifyInput(sc, from: nil, to: h0 + 3600).hours, [])
        let (_, all) = try scope(nil)
        let both = try s.verifyInput(all, from: nil, to: nil)
        XCTAssertEqual(both.baseline.events, 7)
        XCTAssertEqual(both.baseline.sessions, 5)
    }

    func testVerifyOnTheStoreFindsTheDroppedKeyAndTheTypeChange() throws {
        _ = try craftedStore()
        let (s, sc) = try scope()
        var rules = VerifyRules()
        rules.volumeMinEvents = 1; rules.volumeMinSessions = 1; rules.coverageMinExpected = 0.1
        rules.keysMinExpected = 0.1; rules.ratios = []
        let rep = VerifyStages.evaluate(try s.verifyInput(sc, from: nil, to: nil), rules: rules)
        let fails = rep.checks.filter { $0.status == .fail }.map { "\($0.stage.rawValue) \($0.check)" }
        XCTAssertEqual(fails, ["coverage click on pdp", "coverage screenLoad on pdp", "keys screenLoad: n (type)",
                               "keys screenLoad: sku (presence)"])
    }

    func testResolveAndAMissingCandidate() throws {
        _ = try craftedStore()
        let s = try SQLiteStore(path: dir + "/v.db", readOnly: true)
        let cat = try s.verifyCatalogVersions()
        XCTAssertEqual(cat.map { "\($0.tenant)/\($0.app)/\($0.platform)/\($0.appVersion)=\($0.events)" },
                       ["other/a/android/9=1", "t/a/android/1=7", "t/a/android/2=3", "t/a/ios/1=1"])
        XCTAssertThrowsError(try VerifyScope.resolve(app: "a", tenant: nil, platform: nil, baseline: "1", candidate: "2",
            catalog: cat))
        let (_, sc) = try scope(candidate: "7")
        XCTAssertFalse(sc.candidateInStore)
        let input = try s.verifyInput(sc, from: nil, to: nil)
        XCTAssertEqual(input.hours, [])
        XCTAssertEqual(input.candidate.events, 0)
        let rep = VerifyStages.evaluate(input, rules: VerifyRules())
        XCTAssertEqual(rep.checks.map(\.check), ["events", "sessions"])  // volume only
        XCTAssertEqual(rep.checks.map(\.status), [.fail, .fail])
        XCTAssertEqual(rep.checks.first?.note, "the candidate 7 has no events in the store")
        XCTAssertEqual(rep.notes, ["stages coverage, mix, ratios, keys skipped: the candidate 7 has no events in the store"])
    }

    func testStoresWithoutPerVersionKeysSayWhy() throws {
        let db = try craftedStore()
        // Files ingested before 0005: cat_keys has rows that cat_keys_version lacks.
        let w = try SQLiteStore(path: db)
        try w.db.execute("DELETE FROM cat_keys_version WHERE app_version = '1'")
        let (s, sc) = try scope()
        let input = try s.verifyInput(sc, from: nil, to: nil)
        XCTAssertTrue(input.baseline.keyInventoryMissing)
        XCTAssertFalse(input.candidate.keyInventoryMissing)
        let keys = VerifyStages.evaluate(input, rules: VerifyRules()).checks.filter { $0.stage == .keys }
        XCTAssertEqual(keys.map(\.status), [.warn])
        XCTAssertTrue(keys[0].note.contains("no per-version key data for the baseline 1"))
        // A store from before the migration, opened read-only: no table at all.
        try w.db.execute("DROP TABLE cat_keys_version")
        XCTAssertTrue(try scope().0.verifyInput(sc, from: nil, to: nil).candidate.keyInventoryMissing)
    }

    // MARK: catalog ingest's times and hours

    /// A time before 1970-01-01T00:00:00Z (here by its zone offset) is a bad time, rejected with
    /// its reason; the first hour holds only what lies in it.
    func testTimesBefore1970AreRejectedAndHoursAreFloors() throws {
        let db = dir + "/t.db"
        var lines = (0..<120).map { ev("web", "1", "click", "home", Int64($0) * 60, session: "s\($0 % 3)") }
        lines.append(#"{"event":"click","screen":"home","session_id":"early","ts":"1970-01-01T00:30:00+01:00"}"#)
        let r = try ingest(db, [write("early.jsonl", lines)])[0]
        XCTAssertEqual(r.rowsRead, 121)
        XCTAssertEqual(r.rowsAccepted, 120)
        XCTAssertEqual(r.rejected[CatalogReject.badTime.rawValue], 1)
        XCTAssertEqual(r.minTime, 0)
        let d = try Database(path: db)
        XCTAssertEqual(try rows(d, "SELECT bucket, events, sessions FROM event_counts_hour ORDER BY bucket"), ["0|60|3", "3600|60|3"])
        XCTAssertEqual(try rows(d, "SELECT rejected_by_reason FROM catalog_files"), [#"{"bad_time":1}"#])
    }

    // MARK: catalog ingest's memory bound

    /// Everything catalog ingest writes, by name (group ids differ between runs: they are joined away).
    func dump(_ db: String) throws -> [String] {
        let d = try Database(path: db)
        var out: [String] = []
        for q in ["SELECT * FROM catalog ORDER BY 1,2,3,4,5",
                  "SELECT * FROM catalog_screens ORDER BY 1,2,3,4",
                  "SELECT * FROM event_counts_hour ORDER BY 1,2,3,4,5,6,7",
                  "SELECT * FROM event_keys ORDER BY 1,2,3,4",
                  "SELECT * FROM cat_keys_version ORDER BY 1,2,3,4,5,6",
                  "SELECT * FROM cat_user_sessions ORDER BY 1,2,3",
                  """
                  SELECT s.bucket, g.tenant, g.app, g.platform, g.app_version, g.event, g.screen, hex(s.session)
                  FROM cat_hour_sessions s JOIN cat_groups g ON g.id = s.grp ORDER BY 1,2,3,4,5,6,7,8
                  """,
                  "SELECT sha256, rows_read, rows_accepted, min_event_time, max_event_time FROM catalog_files ORDER BY 1"] {
            out.append(q)
            out += try rows(d, q)
        }
        return out
    }

    func testAnyFlushBoundGivesTheSameStore() throws {
        let path = dir + "/gen.jsonl"
        let out = try OutputFile(path: path, gzip: false)
        // Two hours of generated events: sessions, derived sessions (no session_id), nested bodies.
        _ = try generateClickstream(ClickstreamOptions(rows: 6000, start: h0, hours: 2, seed: 4), to: out)
        try out.finish()
        // A second file of the same users, later, continues their derived sessions.
        let later = write("later.jsonl", [ev("web", "5.41", "click", "home", h0 + 3 * 3600, session: nil, user: "M1"),
                                          ev("web", "5.41", "click", "home", h0 + 3 * 3600 + 5, session: nil, user: "M1")])
        let normal = try ingest(dir + "/normal.db", [path, later])
        XCTAssertEqual(normal[0].flushes, 0)
        for bound in [1, 7, 500] {
            let db = dir + "/bound\(bound).db"
            let r = try ingest(db, [path, later], flushEntries: bound)
            XCTAssertGreaterThan(r[0].flushes, bound == 500 ? 0 : 100, "bound \(bound)")
            XCTAssertEqual(r[0].sessionsNew, normal[0].sessionsNew)
            XCTAssertEqual(r[0].derivedSessions, normal[0].derivedSessions)
            let got = try dump(db), want = try dump(dir + "/normal.db")
            // The first difference only (the dumps are thousands of rows).
            if let i = zip(got, want).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
                XCTFail("bound \(bound): row \(i) differs: \(got[i]) != \(want[i])")
            }
            XCTAssertEqual(got.count, want.count, "bound \(bound)")
            XCTAssertGreaterThan(want.count, 1000)
        }
    }

    func testAFailedFileAfterAFlushLeavesNothing() throws {
        let db = dir + "/f.db"
        // 200 good lines (flushed every 3 entries), then 20 bad ones: above the 5% reject rate.
        var lines = (0..<200).map { ev("android", "1", "click", "home", h0 + Int64($0), session: "s\($0)", body: #"{"k":1}"#) }
        lines += Array(repeating: "not json", count: 20)
        let f = write("bad.jsonl", lines)
        let store = try SQLiteCatalogStore(store: try SQLiteStore(path: db))
        var o = CatalogOptions()
        o.flushEntries = 3
        let r = try CatalogIngestor(store: store, options: o, rejects: nil).ingest(path: f)
        XCTAssertEqual(r.status, .failed)
        XCTAssertGreaterThan(r.flushes, 10)
        let d = try Database(path: db)
        for t in ["cat_catalog", "cat_hour", "cat_hour_sessions", "cat_keys", "cat_keys_version", "catalog_files"] {
            XCTAssertEqual(try d.scalarInt("SELECT COUNT(*) FROM \(t)"), 0, t)
        }
    }
}
