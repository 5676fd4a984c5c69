import XCTest
import Foundation
import Transforms

/// `sellocli gen --clickstream`: determinism, exact row counts, the canonical fields on every
/// line, times, and the deliberate breakages the catalog's `verify` relies on.
final class ClickstreamGeneratorTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("cgen-tests-\(getpid())-\(UInt64.random(in: 0..<UInt64.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    private func generate(_ options: ClickstreamOptions, gzip: Bool = false,
                          name: String = "out.jsonl") throws -> (Data, ClickstreamReport) {
        let path = dir.appendingPathComponent(name).path
        let out = try OutputFile(path: path, gzip: gzip, level: 1)
        let report = try generateClickstream(options, to: out)
        try out.finish()
        return (try Data(contentsOf: URL(fileURLWithPath: path)), report)
    }

    private func lines(_ data: Data) -> [Substring] {
        let text = String(decoding: data, as: UTF8.self)
        if text.isEmpty { return [] }
        XCTAssertTrue(text.hasSuffix("\n"))
        return Array(text.split(separator: "\n", omittingEmptySubsequences: false).dropLast())
    }

    private struct Row {
        var obj: [String: Any]
        var body: [String: Any]
        var tenant: String, app: String, platform: String, version: String, event: String, screen: String
        var session: String?
        var ms: Int64
        var isBroken: Bool {
            tenant == ClickstreamShape.brokenTenant && app == ClickstreamShape.brokenApp
                && platform == ClickstreamShape.brokenPlatform && version == ClickstreamShape.brokenVersion
        }
        var isBaseline: Bool {
            tenant == ClickstreamShape.brokenTenant && app == ClickstreamShape.brokenApp
                && platform == ClickstreamShape.brokenPlatform && version == ClickstreamShape.baselineVersion
        }
        var isHealthyCandidate: Bool {
            tenant == ClickstreamShape.brokenTenant && app == ClickstreamShape.brokenApp
                && platform == ClickstreamShape.healthyPlatform && version == ClickstreamShape.brokenVersion
        }
    }

    /// Milliseconds from an ISO time `2019-10-01T13:05:07.123Z`.
    private func isoMs(_ s: String) -> Int64? {
        guard s.count == 24, s.hasSuffix("Z"), Array(s)[19] == ".",
              let secs = GeneratorOptions.parseStart(String(s.prefix(19)) + "Z"),
              let frac = Int64(s.dropFirst(20).prefix(3)) else { return nil }
        return secs * 1000 + frac
    }

    /// Parses every line with JSONSerialization and checks the canonical fields.
    private func parse(_ data: Data, file: StaticString = #filePath, line: UInt = #line) throws -> [Row] {
        var rows: [Row] = []
        for text in lines(data) {
            let any = try JSONSerialization.jsonObject(with: Data(text.utf8))
            guard let obj = any as? [String: Any] else {
                XCTFail("not an object: \(text)", file: file, line: line); continue
            }
            var strings: [String: String] = [:]
            for key in ["tenant", "app", "platform", "app_version", "event", "screen", "user_id"] {
                guard let v = obj[key] as? String, !v.isEmpty else {
                    XCTFail("\(key) missing or not a string: \(text)", file: file, line: line); continue
                }
                strings[key] = v
            }
            guard let body = obj["body"] as? [String: Any] else {
                XCTFail("body not an object: \(text)", file: file, line: line); continue
            }
            let session = obj["session_id"] as? String
            if obj["session_id"] != nil { XCTAssertEqual(session?.count, 36, String(text), file: file, line: line) }
            let platform = strings["platform"] ?? ""
            var ms: Int64 = -1
            switch platform {
            case "web":
                if let s = obj["ts"] as? String, let v = isoMs(s) { ms = v }
            case "android":
                if let n = obj["ts"] as? NSNumber, !(obj["ts"] is String) { ms = n.int64Value }
            case "ios":
                if let n = obj["ts"] as? NSNumber, !(obj["ts"] is String) { ms = n.int64Value * 1000 }
            default:
                XCTFail("unknown platform \(platform)", file: file, line: line)
            }
            XCTAssertGreaterThan(ms, 0, "ts of \(platform): \(text)", file: file, line: line)
            XCTAssertTrue(ClickstreamShape.events.contains(strings["event"] ?? ""), String(text), file: file, line: line)
            XCTAssertTrue(ClickstreamShape.screens.contains(strings["screen"] ?? ""), String(text), file: file, line: line)
            XCTAssertEqual(obj.count, session == nil ? 9 : 10, String(text), file: file, line: line)
            rows.append(Row(obj: obj, body: body, tenant: strings["tenant"] ?? "", app: strings["app"] ?? "",
                            platform: platform, version: strings["app_version"] ?? "", event: strings["event"] ?? "",
                            screen: strings["screen"] ?? "", session: session, ms: ms))
        }
        return rows
    }

    func testSameSeedSameBytesDifferentSeedDifferentBytes() throws {
        let a = try generate(ClickstreamOptions(rows: 3000, seed: 42), name: "a").0
        let b = try generate(ClickstreamOptions(rows: 3000, seed: 42), name: "b").0
        let c = try generate(ClickstreamOptions(rows: 3000, seed: 43), name: "c").0
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
        XCTAssertGreaterThan(a.count, 3000 * 150)
    }

    func testExactRowCount() throws {
        for (rows, hours) in [(0, 24), (1, 24), (2, 1), (17, 24), (17, 1), (999, 1), (3000, 24)] {
            let (data, report) = try generate(ClickstreamOptions(rows: rows, hours: hours, seed: 5))
            XCTAssertEqual(lines(data).count, rows, "rows \(rows) hours \(hours)")
            XCTAssertEqual(report.rows, rows)
            XCTAssertEqual(report.eventCounts.reduce(0, +), rows)
        }
    }

    func testCanonicalFieldsTimesAndSessions() throws {
        let start = GeneratorOptions.parseStart("2019-10-01")!
        let (data, report) = try generate(ClickstreamOptions(rows: 20_000, start: start, hours: 24, seed: 21))
        let rows = try parse(data)
        XCTAssertEqual(rows.count, 20_000)
        var lastInSession: [String: Int64] = [:]
        var sessionTuple: [String: String] = [:]
        var withoutSession = 0, decreasing = 0
        var events: [String: Int] = [:]
        var versions = Set<String>(), tenants = Set<String>(), apps = Set<String>()
        var hours = Set<Int64>()
        for r in rows {
            XCTAssertGreaterThanOrEqual(r.ms, start * 1000)
            XCTAssertLessThan(r.ms, (start + 24 * 3600) * 1000)
            hours.insert((r.ms / 1000 - start) / 3600)
            events[r.event, default: 0] += 1
            tenants.insert(r.tenant)
            apps.insert("\(r.tenant)/\(r.app)")
            versions.insert("\(r.tenant)/\(r.app)/\(r.platform)/\(r.version)")
            guard let sid = r.session else { withoutSession += 1; continue }
            // A session keeps its tenant, app, platform, version and user, and its times never go back.
            let tuple = "\(r.tenant)/\(r.app)/\(r.platform)/\(r.version)/\(r.obj["user_id"] as? String ?? "")"
            if let t = sessionTuple[sid] { XCTAssertEqual(t, tuple) } else { sessionTuple[sid] = tuple }
            if let last = lastInSession[sid], last > r.ms { decreasing += 1 }
            lastInSession[sid] = r.ms
        }
        XCTAssertEqual(decreasing, 0, "times go back inside a session")
        XCTAssertEqual(hours.count, 24, "every hour of the day has events")
        XCTAssertEqual(tenants, Set(ClickstreamShape.tenants))
        XCTAssertEqual(versions.count, ClickstreamShape.versions.count)
        XCTAssertEqual(report.tenants, tenants.count)
        XCTAssertEqual(report.apps, apps.count)
        XCTAssertEqual(report.versions, versions.count)
        XCTAssertEqual(report.rowsWithoutSessionId, withoutSession)
        XCTAssertGreaterThan(withoutSession, 50)
        XCTAssertLessThan(withoutSession, 1000)
        XCTAssertEqual(report.countsByEvent.filter { $0.value > 0 }, events)
        for e in ClickstreamShape.events { XCTAssertGreaterThan(events[e] ?? 0, 0, e) }
        // Sessions: several events each on average, some users come back.
        XCTAssertGreaterThan(Double(rows.count) / Double(report.sessions), 4)
        XCTAssertGreaterThan(report.returningSessions, report.sessions / 10)
        // Release shares: 3.3 is about 20% of myntra shop android.
        let android = rows.filter { $0.tenant == "myntra" && $0.app == "shop" && $0.platform == "android" }
        let share = Double(android.filter { $0.version == "3.3" }.count) / Double(android.count)
        XCTAssertEqual(share, 0.2, accuracy: 0.08)
    }

    func testBrokenVersionLacksTheEventTheKeyAndScreenLoads() throws {
        let (data, report) = try generate(ClickstreamOptions(rows: 60_000, seed: 7))
        let rows = try parse(data)
        let broken = rows.filter(\.isBroken)
        let baseline = rows.filter(\.isBaseline)
        let healthy = rows.filter(\.isHealthyCandidate)
        XCTAssertEqual(report.brokenVersionRows, broken.count)
        XCTAssertGreaterThan(broken.count, 2000)
        XCTAssertGreaterThan(baseline.count, 4 * broken.count / 2)

        // The missing event: present in the baseline (only on pdp) and the healthy candidate.
        let missing = ClickstreamShape.missingEvent
        XCTAssertEqual(broken.filter { $0.event == missing }.count, 0)
        XCTAssertGreaterThan(baseline.filter { $0.event == missing }.count, 100)
        XCTAssertGreaterThan(healthy.filter { $0.event == missing }.count, 20)
        XCTAssertTrue(rows.filter { $0.event == missing }.allSatisfy { $0.screen == ClickstreamShape.missingEventScreen })

        // The dropped key: items[].qty on every addToCart of the baseline, none in the broken version.
        func items(_ r: Row) -> [[String: Any]] { r.body["items"] as? [[String: Any]] ?? [] }
        XCTAssertEqual(ClickstreamShape.droppedKey, "items[].qty")
        let baseCarts = baseline.filter { $0.event == "addToCart" }
        XCTAssertGreaterThan(baseCarts.count, 100)
        XCTAssertTrue(baseCarts.allSatisfy { r in !items(r).isEmpty && items(r).allSatisfy { $0["qty"] is NSNumber } })
        XCTAssertTrue(healthy.filter { $0.event == "addToCart" }.allSatisfy { r in items(r).allSatisfy { $0["qty"] != nil } })
        let brokenItems = broken.flatMap(items)
        XCTAssertGreaterThan(brokenItems.count, 100)
        XCTAssertTrue(brokenItems.allSatisfy { $0["qty"] == nil && $0["sku"] is String && $0["price"] != nil })

        // Fewer screenLoads per session; addToCart per session about the same.
        func perSession(_ rs: [Row], _ event: String) -> Double {
            let sessions = Set(rs.compactMap(\.session))
            return Double(rs.filter { $0.session != nil && $0.event == event }.count) / Double(sessions.count)
        }
        let slBase = perSession(baseline, "screenLoad"), slBroken = perSession(broken, "screenLoad")
        let slHealthy = perSession(healthy, "screenLoad")
        XCTAssertLessThan(slBroken, slBase * 0.92, "screenLoads per session: broken \(slBroken), baseline \(slBase)")
        XCTAssertEqual(slHealthy, slBase, accuracy: slBase * 0.08)
        let atcBase = perSession(baseline, "addToCart"), atcBroken = perSession(broken, "addToCart")
        XCTAssertEqual(atcBroken, atcBase, accuracy: atcBase * 0.2)
        // The pdp screenLoad is still sent on a deep link, so the (screenLoad, pdp) pair exists.
        XCTAssertGreaterThan(broken.filter { $0.event == "screenLoad" && $0.screen == "pdp" }.count, 0)
    }

    /// Kinds of the JSON values at each body path (containers too), `[]` for array elements.
    private func collectKinds(_ value: Any, _ path: String, _ into: inout [String: Set<String>]) {
        let kind: String
        switch value {
        case is NSNull: kind = "null"
        case is String: kind = "string"
        case let d as [String: Any]:
            kind = "object"
            for (k, v) in d { collectKinds(v, path.isEmpty ? k : path + "." + k, &into) }
        case let a as [Any]:
            kind = "array"
            for v in a { collectKinds(v, path + "[]", &into) }
        default: kind = "number/bool"
        }
        if !path.isEmpty { into[path, default: []].insert(kind) }
    }

    func testOneKeyOfMixedTypeAndOptionalKeys() throws {
        let (data, report) = try generate(ClickstreamOptions(rows: 20_000, seed: 3))
        let rows = try parse(data)
        var kinds: [String: Set<String>] = [:]
        var present: [String: Int] = [:]
        var numbers = 0, strings = 0
        for r in rows {
            collectKinds(r.body, "", &kinds)
            for k in r.body.keys { present[k, default: 0] += 1 }
            if r.event == "click" {
                if r.body["position"] is String { strings += 1 } else if r.body["position"] is NSNumber { numbers += 1 }
            }
        }
        // `position` is a number ~84% and a string ~16%; every other path has one non-null kind.
        let mixed = kinds.filter { $0.value.subtracting(["null"]).count > 1 }.keys.sorted()
        XCTAssertEqual(mixed, [ClickstreamShape.mixedTypeKey])
        let share = Double(strings) / Double(strings + numbers)
        XCTAssertEqual(share, ClickstreamShape.mixedTypeStringShare, accuracy: 0.03)
        XCTAssertEqual(report.positionStrings, strings)
        XCTAssertEqual(report.positionNumbers, numbers)
        XCTAssertEqual(strings + numbers, rows.filter { $0.event == "click" }.count)
        // Nested paths the catalog inventories.
        for path in ["items", "items[]", "items[].sku", "items[].price", "items[].qty", "filters", "filters.brand",
                     "product.sizes[]", "payment.mode", "filters.price.min"] {
            XCTAssertNotNil(kinds[path], path)
        }
        XCTAssertEqual(kinds["experiment"], ["null", "string"])
        // Optional: `experiment` in about 95% of events.
        XCTAssertEqual(Double(present["experiment"] ?? 0) / Double(rows.count), 0.95, accuracy: 0.02)
    }

    func testGzipDecompressesToPlainBytes() throws {
        let options = ClickstreamOptions(rows: 5000, seed: 21)
        let plain = try generate(options, name: "p.jsonl").0
        _ = try generate(options, gzip: true, name: "g.jsonl.gz")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["gzip", "-dc", dir.appendingPathComponent("g.jsonl.gz").path]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let inflated = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertEqual(inflated, plain)
    }

    private func maxRSSKB() -> Int {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Int(usage.ru_maxrss)
    }

    /// Memory is bounded by the sessions in progress, not by the rows: ten times the rows over
    /// ten times the hours keeps about the same number of sessions in flight, and RSS stays flat.
    func testStreamingMemoryFlat() throws {
        let small = try generateClickstream(ClickstreamOptions(rows: 20_000, hours: 24, seed: 9),
                                            to: OutputFile(path: "/dev/null", gzip: false))
        let rssBefore = maxRSSKB()
        let out = try OutputFile(path: "/dev/null", gzip: false)
        let big = try generateClickstream(ClickstreamOptions(rows: 200_000, hours: 240, seed: 9), to: out)
        try out.finish()
        let rssAfter = maxRSSKB()
        XCTAssertEqual(big.rows, 200_000)
        XCTAssertLessThan(big.peakActiveSessions, small.peakActiveSessions * 2 + 20)
        XCTAssertLessThan(big.peakActiveSessions, 1000)
        XCTAssertLessThan(rssAfter - rssBefore, 30_000, "max RSS grew by \(rssAfter - rssBefore) KB")
    }
}
