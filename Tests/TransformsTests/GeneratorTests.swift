import XCTest
import Foundation
import Transforms

final class GeneratorTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("gen-tests-\(getpid())-\(UInt64.random(in: 0..<UInt64.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    /// Generates into a file and returns its bytes and the report.
    private func generate(_ options: GeneratorOptions, gzip: Bool = false, level: Int32 = 1,
                          name: String = "out") throws -> (Data, GeneratorReport) {
        let path = dir.appendingPathComponent(name).path
        let out = try OutputFile(path: path, gzip: gzip, level: level)
        let report = try generateEvents(options, to: out)
        try out.finish()
        return (try Data(contentsOf: URL(fileURLWithPath: path)), report)
    }

    private func gunzip(_ path: String) throws -> Data {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["gzip", "-dc", path]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "gzip -dc failed")
        return data
    }

    private func lines(_ data: Data) -> [Substring] {
        let text = String(decoding: data, as: UTF8.self)
        XCTAssertTrue(text.hasSuffix("\n"))
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
    }

    func testSameSeedSameBytesDifferentSeedDifferentBytes() throws {
        let a = try generate(GeneratorOptions(rows: 3000, seed: 42), name: "a").0
        let b = try generate(GeneratorOptions(rows: 3000, seed: 42), name: "b").0
        let c = try generate(GeneratorOptions(rows: 3000, seed: 43), name: "c").0
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
        let j1 = try generate(GeneratorOptions(rows: 500, seed: 7, jsonl: true), name: "j1").0
        let j2 = try generate(GeneratorOptions(rows: 500, seed: 7, jsonl: true), name: "j2").0
        XCTAssertEqual(j1, j2)
    }

    func testExactRowCountHeaderAndLayout() throws {
        for rows in [0, 1, 2, 17, 2500] {
            let (data, report) = try generate(GeneratorOptions(rows: rows, hours: 3, seed: 5))
            let ls = lines(data)
            XCTAssertEqual(ls.count, rows + 1, "rows \(rows)")
            XCTAssertEqual(ls.first.map(String.init),
                           "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session")
            XCTAssertEqual(report.rows, rows)
            XCTAssertEqual(report.views + report.carts + report.purchases + report.removeFromCarts, rows)
            for line in ls.dropFirst() {
                let f = line.split(separator: ",", omittingEmptySubsequences: false)
                XCTAssertEqual(f.count, 9, String(line))
                XCTAssertEqual(f[0].count, 23)
                XCTAssertTrue(f[0].hasSuffix(" UTC"))
                XCTAssertTrue(["view", "cart", "purchase"].contains(String(f[1])))
                XCTAssertNotNil(Int64(f[2]))
                XCTAssertEqual(f[3].count, 19)
                let price = f[6].split(separator: ".")
                XCTAssertEqual(price.count, 2)
                XCTAssertEqual(price.last?.count, 2)
                XCTAssertEqual(f[7].count, 9)
                XCTAssertTrue(f[7].hasPrefix("5"))
                XCTAssertEqual(f[8].count, 36)
            }
        }
    }

    func testTimesNonDecreasingAndInsideWindow() throws {
        let start = GeneratorOptions.parseStart("2019-11-17 16:00:00 UTC")!
        let (data, report) = try generate(GeneratorOptions(rows: 20_000, start: start, hours: 5, seed: 9))
        var last = ""
        for line in lines(data).dropFirst() {
            let t = String(line.prefix(23))
            XCTAssertLessThanOrEqual(last, t)
            last = t
        }
        XCTAssertGreaterThanOrEqual(report.firstEventTime!, start)
        XCTAssertLessThan(report.lastEventTime!, start + 5 * 3600)
        XCTAssertGreaterThanOrEqual(String(lines(data)[1].prefix(23)), "2019-11-17 16:00:00 UTC")
        XCTAssertLessThanOrEqual(last, "2019-11-17 20:59:59 UTC")
    }

    func testSharesOn20kRows() throws {
        let (data, report) = try generate(GeneratorOptions(rows: 20_000, seed: 1))
        var views = 0, repeated = 0, emptyCodes = 0, emptyBrands = 0, carts = 0, purchases = 0
        var seen = Set<String>()
        var orphanFollowUps = 0
        for line in lines(data).dropFirst() {
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            let pair = "\(f[8])|\(f[2])"
            switch f[1] {
            case "view":
                views += 1
                if !seen.insert(pair).inserted { repeated += 1 }
            case "cart":
                carts += 1
                if !seen.contains(pair) { orphanFollowUps += 1 }
            default:
                purchases += 1
                if !seen.contains(pair) { orphanFollowUps += 1 }
            }
            if f[4].isEmpty { emptyCodes += 1 }
            if f[5].isEmpty { emptyBrands += 1 }
        }
        let n = 20_000.0
        XCTAssertEqual(Double(views) / n, 0.955, accuracy: 0.025)          // 93-98%
        XCTAssertEqual(Double(repeated) / Double(views), 0.25, accuracy: 0.10) // 15-35%
        XCTAssertEqual(Double(emptyCodes) / n, 0.325, accuracy: 0.075)    // 25-40%
        XCTAssertEqual(Double(emptyBrands) / n, 0.135, accuracy: 0.035)   // 10-17%
        XCTAssertGreaterThan(carts, 0)
        XCTAssertGreaterThan(purchases, 0)
        XCTAssertEqual(orphanFollowUps, 0, "every cart and purchase follows a view of its product in its session")
        // The report counts the same things.
        XCTAssertEqual(report.views, views)
        XCTAssertEqual(report.repeatedViews, repeated)
        XCTAssertEqual(report.emptyCategoryCodes, emptyCodes)
        XCTAssertEqual(report.emptyBrands, emptyBrands)
        XCTAssertEqual(report.carts, carts)
        XCTAssertEqual(report.purchases, purchases)
    }

    func testGzipDecompressesToPlainBytes() throws {
        let options = GeneratorOptions(rows: 20_000, seed: 3)
        let plain = try generate(options, name: "p.csv").0
        for level: Int32 in [1, 6] {
            _ = try generate(options, gzip: true, level: level, name: "g\(level).csv.gz")
            let inflated = try gunzip(dir.appendingPathComponent("g\(level).csv.gz").path)
            XCTAssertEqual(inflated, plain, "level \(level)")
        }
    }

    func testAppendWritesASecondGzipMember() throws {
        let path = dir.appendingPathComponent("two.gz").path
        let first = try OutputFile(path: path, gzip: true)
        try first.write("hello ")
        try first.finish()
        let second = try OutputFile(path: path, gzip: true, append: true, level: 1)
        try second.write(Array("world\n".utf8))
        try second.finish()
        XCTAssertEqual(String(decoding: try gunzip(path), as: UTF8.self), "hello world\n")
    }

    func testJSONLinesParse() throws {
        let (data, report) = try generate(GeneratorOptions(rows: 300, seed: 11, jsonl: true))
        let ls = lines(data)
        XCTAssertEqual(ls.count, 300)
        var empties = 0
        for line in ls {
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            XCTAssertEqual(obj.count, 9)
            XCTAssertTrue(obj["product_id"] is NSNumber)
            XCTAssertTrue(obj["user_id"] is NSNumber)
            XCTAssertTrue(obj["price"] is NSNumber)
            XCTAssertTrue(obj["brand"] is String)
            XCTAssertTrue(obj["category_code"] is String)
            if (obj["category_code"] as! String).isEmpty { empties += 1 }
            XCTAssertEqual((obj["event_time"] as! String).count, 23)
        }
        XCTAssertEqual(empties, report.emptyCategoryCodes)
    }

    func testParseStart() {
        let t: Int64 = 1_569_888_000
        XCTAssertEqual(GeneratorOptions.parseStart("2019-10-01T00:00:00Z"), t)
        XCTAssertEqual(GeneratorOptions.parseStart("2019-10-01 00:00:00 UTC"), t)
        XCTAssertEqual(GeneratorOptions.parseStart("2019-10-01"), t)
        XCTAssertEqual(GeneratorOptions.parseStart("2020-02-29 23:59:59 UTC"), 1_583_020_799)
        XCTAssertNil(GeneratorOptions.parseStart("2019-02-29"))
        XCTAssertNil(GeneratorOptions.parseStart("2019-10-01T25:00:00Z"))
        XCTAssertNil(GeneratorOptions.parseStart("yesterday"))
        XCTAssertNil(GeneratorOptions.parseStart("2019-10-01 00:00:00 CET"))
    }
}
