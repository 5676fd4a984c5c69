import XCTest
@testable import Storage
import Transforms

/// The raw archive, on real files in a temporary directory. Files are read back with the
/// project's gzip reader (`ByteSource`) and an independent RFC 4180 parser written here.
final class ArchiveTests: XCTestCase {
    var dir: String!
    var root: String { dir + "/archive" }

    override func setUp() {
        dir = NSTemporaryDirectory() + "archive-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    // 2019-10-01 00:00:00 UTC
    let oct1: Int64 = 1_569_888_000
    let shaA = String(repeating: "a", count: 64)
    let shaB = "b1" + String(repeating: "0", count: 62)
    let shaC = "c2" + String(repeating: "0", count: 62)
    let header = ["event_time", "event_type", "product_id", "category_id", "category_code", "brand", "price", "user_id", "user_session"]

    struct Simulated: Error {}

    // MARK: helpers

    /// A REES46 record: the 9 field texts (event_time's text is irrelevant: the archive writes
    /// the parsed time).
    func rec(_ pid: Int, brand: String = "apple", price: String = "1.00", session: String = "s") -> [String] {
        ["ignored", "view", String(pid), "2053013555631882655", "electronics.smartphone", brand, price, "541312140", session]
    }

    func add(_ a: RawArchive, _ t: Int64, _ texts: [String]) throws {
        precondition(texts.count == 9)
        let fields = UnsafeMutablePointer<Field>.allocate(capacity: 9)
        defer { fields.deallocate() }
        var bufs = [UnsafeMutablePointer<UInt8>]()
        defer { bufs.forEach { $0.deallocate() } }
        for (i, s) in texts.enumerated() {
            var f = Field.missing
            let b = Array(s.utf8)
            if !b.isEmpty {
                let p = UnsafeMutablePointer<UInt8>.allocate(capacity: b.count)
                p.initialize(from: b, count: b.count)
                bufs.append(p)
                f.base = UnsafePointer(p)
                f.count = b.count
            }
            fields[i] = f
        }
        try a.add(time: t, fields: fields)
    }

    func addUnparsed(_ a: RawArchive, _ line: Int64, _ reason: RejectReason, _ raw: String) throws {
        let b = Array(raw.utf8)
        try b.withUnsafeBufferPointer { try a.addUnparsed(line: line, reason: reason, raw: $0) }
    }

    /// Archives one source: rows as (time, fields).
    @discardableResult
    func archive(_ a: RawArchive, _ sha: String, _ name: String = "src.csv", _ rows: [(Int64, [String])]) throws -> SourceCommit {
        try a.beginSource(name: name)
        for (t, f) in rows { try add(a, t, f) }
        return try a.commitSource(sha256: sha)
    }

    func gunzip(_ path: String) throws -> [UInt8] {
        let src2 = try ByteSource(path: path)
        var out = [UInt8]()
        let buf = UnsafeMutablePointer<UInt8>.allocate(capacity: 1 << 16)
        defer { buf.deallocate() }
        while true {
            let n = try src2.read(into: buf, capacity: 1 << 16)
            if n == 0 { break }
            out.append(contentsOf: UnsafeBufferPointer(start: buf, count: n))
        }
        XCTAssertTrue(src2.isGzip, path)
        return out
    }

    /// RFC 4180 records (every record must end with LF).
    func parseCSV(_ b: [UInt8]) -> [[String]] {
        var records = [[String]]()
        var fields = [String]()
        var cur = [UInt8]()
        var i = 0
        var inQuote = false
        while i < b.count {
            let c = b[i]
            if inQuote {
                if c == 0x22 {
                    if i + 1 < b.count && b[i + 1] == 0x22 { cur.append(0x22); i += 1 } else { inQuote = false }
                } else { cur.append(c) }
            } else if c == 0x22 {
                inQuote = true
            } else if c == 0x2C {
                fields.append(String(decoding: cur, as: UTF8.self)); cur = []
            } else if c == 0x0A {
                fields.append(String(decoding: cur, as: UTF8.self)); cur = []
                records.append(fields); fields = []
            } else {
                cur.append(c)
            }
            i += 1
        }
        XCTAssertTrue(cur.isEmpty && fields.isEmpty && !inQuote, "trailing partial record")
        return records
    }

    /// Records of one archive file (header checked and dropped).
    func records(_ path: String, header expected: [String]? = nil) throws -> [[String]] {
        var r = parseCSV(try gunzip(path))
        XCTAssertFalse(r.isEmpty, "no header in \(path)")
        XCTAssertEqual(r.removeFirst(), expected ?? header, path)
        return r
    }

    /// Every partition row the manifest lists, as a sorted multiset of joined records.
    func allRows(_ a: RawArchive) throws -> [String] {
        var out = [String]()
        for f in try a.files() where f.kind != .unparsed {
            out += try records(f.fullPath).map { $0.joined(separator: "|") }
        }
        return out.sorted()
    }

    func expected(_ rows: [(Int64, [String])]) -> [String] {
        rows.map { ([RawArchive.canonicalTime($0.0)] + $0.1.dropFirst()).joined(separator: "|") }.sorted()
    }

    /// Regular files under the root, relative, except the manifest and the lock.
    func filesOnDisk() -> [String] {
        let fm = FileManager.default
        guard let e = fm.enumerator(atPath: root) else { return [] }
        var out = [String]()
        while let p = e.nextObject() as? String {
            var isDir: ObjCBool = false
            if fm.fileExists(atPath: root + "/" + p, isDirectory: &isDir), !isDir.boolValue,
               !p.hasPrefix("manifest.sqlite"), p != ".lock" {
                out.append(p)
            }
        }
        return out.sorted()
    }

    func sha256(_ path: String) throws -> String {
        let s = try ByteSource(path: path)
        try s.drainRaw()
        return s.sha256Hex()
    }

    // MARK: partitions and format

    func testRowsLandInTheirHourIncludingBothEdges() throws {
        let a = try RawArchive(root: root)
        let t13 = oct1 + 13 * 3600
        let rows: [(Int64, [String])] = [(t13, rec(1)), (t13 + 3599, rec(2)), (t13 + 3600, rec(3)), (oct1 + 86400, rec(4)), (t13 - 1, rec(5))]
        XCTAssertEqual(try archive(a, shaA, "src.csv", rows), .archived(rows: 5, unparsedRows: 0, files: 4, bytes: try a.files().reduce(0) { $0 + $1.bytes }))
        XCTAssertEqual(try a.files().map(\.path), [
            "2019/10/01/2019-10-01T12.csv.gz", "2019/10/01/2019-10-01T13.csv.gz",
            "2019/10/01/2019-10-01T14.csv.gz", "2019/10/02/2019-10-02T00.csv.gz",
        ])
        XCTAssertEqual(try a.files().map(\.partitionStart), [t13 - 3600, t13, t13 + 3600, oct1 + 86400])
        let r13 = try records(root + "/2019/10/01/2019-10-01T13.csv.gz")
        XCTAssertEqual(r13.map { $0[0] }, ["2019-10-01 13:00:00 UTC", "2019-10-01 13:59:59 UTC"])
        XCTAssertEqual(r13.map { $0[2] }, ["1", "2"])
        XCTAssertEqual(try records(root + "/2019/10/01/2019-10-01T14.csv.gz").map { $0[0] }, ["2019-10-01 14:00:00 UTC"])
        XCTAssertEqual(try records(root + "/2019/10/01/2019-10-01T12.csv.gz").map { $0[0] }, ["2019-10-01 12:59:59 UTC"])
        XCTAssertEqual(try records(root + "/2019/10/02/2019-10-02T00.csv.gz").map { $0[0] }, ["2019-10-02 00:00:00 UTC"])
        XCTAssertEqual(try allRows(a), expected(rows))
        XCTAssertEqual(filesOnDisk(), try a.files().map(\.path).sorted(), "no temporary files left")
        XCTAssertEqual(try a.partitions().map(\.files), [1, 1, 1, 1])
    }

    func testDayPartitioningAndCanonicalTime() throws {
        do {
            let a = try RawArchive(root: root, partitioning: .day)
            let rows: [(Int64, [String])] = [(oct1, rec(1)), (oct1 + 86399, rec(2)), (oct1 + 86400, rec(3)), (951_782_400, rec(4))]
            try archive(a, shaA, "src.csv", rows)
            XCTAssertEqual(try a.files().map(\.path), ["2000/02/2000-02-29.csv.gz", "2019/10/2019-10-01.csv.gz", "2019/10/2019-10-02.csv.gz"])
            XCTAssertEqual(try records(root + "/2019/10/2019-10-01.csv.gz").map { $0[0] }, ["2019-10-01 00:00:00 UTC", "2019-10-01 23:59:59 UTC"])
            XCTAssertEqual(try records(root + "/2000/02/2000-02-29.csv.gz").map { $0[0] }, ["2000-02-29 00:00:00 UTC"])
        }
        // The manifest remembers the partitioning: nil adopts it, a different one is refused.
        XCTAssertEqual(try RawArchive(root: root).partitioning, .day)
        XCTAssertThrowsError(try RawArchive(root: root, partitioning: .hour))
        XCTAssertEqual(RawArchive.canonicalTime(0), "1970-01-01 00:00:00 UTC")
        XCTAssertEqual(RawArchive.canonicalTime(253_402_300_799), "9999-12-31 23:59:59 UTC")
        XCTAssertEqual(RawArchive.canonicalTime(-1), "1969-12-31 23:59:59 UTC")
    }

    func testFieldsNeedingQuotesRoundTrip() throws {
        let a = try RawArchive(root: root)
        let tricky = [
            "ignored", "view", "7", "", "a,b", "say \"hi\"", "1.00", "line1\nline2", "cr\rhere",
        ]
        let plain = rec(8, brand: "", price: "", session: "")
        let big = rec(9, brand: String(repeating: "x,\"", count: 30_000))  // over one buffer: the slow path
        try archive(a, shaA, "src.csv", [(oct1, tricky), (oct1 + 1, plain), (oct1 + 2, big)])
        let f = try a.files()
        XCTAssertEqual(f.count, 1)
        XCTAssertEqual(f[0].rows, 3, "a newline inside quotes is not a record boundary")
        let r = try records(f[0].fullPath)
        XCTAssertEqual(r.count, 3)
        XCTAssertEqual(Array(r[0].dropFirst()), Array(tricky.dropFirst()))
        XCTAssertEqual(Array(r[1].dropFirst()), Array(plain.dropFirst()))
        XCTAssertEqual(r[2][5], big[5])
        // Only fields that need it are quoted.
        let text = String(decoding: try gunzip(f[0].fullPath), as: UTF8.self)
        XCTAssertTrue(text.contains("2019-10-01 00:00:00 UTC,view,7,,\"a,b\",\"say \"\"hi\"\"\",1.00,\"line1\nline2\",\"cr\rhere\"\n"), text.prefix(300).description)
        XCTAssertTrue(text.contains("2019-10-01 00:00:01 UTC,view,8,2053013555631882655,electronics.smartphone,,,541312140,\n"))
        XCTAssertEqual(try a.verify(sha256: shaA).rows, 3)
    }

    func testUnparsedRowsAreKeptPerSource() throws {
        let a = try RawArchive(root: root)
        try a.beginSource(name: "in/bad, file.csv")
        try add(a, oct1, rec(1))
        try addUnparsed(a, 3, .badEventTime, "yesterday,view,3,3.00")
        try addUnparsed(a, 4, .fieldCount, "a \"quoted\" line")
        try addUnparsed(a, 9, .badJSON, "{not json")
        XCTAssertEqual(try a.commitSource(sha256: shaA), .archived(rows: 1, unparsedRows: 3, files: 2, bytes: try a.files().reduce(0) { $0 + $1.bytes }))
        let u = try a.files().filter { $0.kind == .unparsed }
        XCTAssertEqual(u.map(\.path), ["unparsed/aaaaaaaaaaaaaaaa.csv.gz"])
        XCTAssertEqual(u[0].rows, 3)
        XCTAssertEqual(try records(u[0].fullPath, header: ["source_file", "line", "reason", "raw"]), [
            ["in/bad, file.csv", "3", "bad_event_time", "yesterday,view,3,3.00"],
            ["in/bad, file.csv", "4", "field_count", "a \"quoted\" line"],
            ["in/bad, file.csv", "9", "bad_json", "{not json"],
        ])
        XCTAssertEqual(try a.files().last?.kind, .unparsed, "unparsed files are listed last")
        let v = try a.verify(sha256: shaA)
        XCTAssertEqual(v.rows, 4, "partition rows plus unparsed rows = rows read")
        XCTAssertEqual(v.unparsedRows, 3)
        XCTAssertEqual(v.files, 2)
        XCTAssertEqual(try a.source(sha256: shaA)?.name, "in/bad, file.csv")
    }

    func testEmptySourceIsRecorded() throws {
        let a = try RawArchive(root: root)
        XCTAssertEqual(try archive(a, shaA, "empty.csv", []), .archived(rows: 0, unparsedRows: 0, files: 0, bytes: 0))
        XCTAssertTrue(try a.isArchived(sha256: shaA))
        XCTAssertEqual(try a.verify(sha256: shaA).rows, 0)
        XCTAssertEqual(filesOnDisk(), [])
    }

    // MARK: idempotence, late files, compaction

    func testReArchivingTheSameSourceIsANoOp() throws {
        let a = try RawArchive(root: root)
        try archive(a, shaA, "src.csv", [(oct1, rec(1)), (oct1 + 7200, rec(2))])
        let before = try a.files()
        XCTAssertEqual(try archive(a, shaA, "copy.csv", [(oct1, rec(1)), (oct1 + 7200, rec(2))]), .alreadyArchived)
        XCTAssertEqual(try a.files(), before)
        XCTAssertEqual(filesOnDisk(), before.map(\.path).sorted(), "the second run's temporary files are gone")
        XCTAssertEqual(try a.source(sha256: shaA)?.name, "src.csv")
        XCTAssertEqual(try allRows(a), expected([(oct1, rec(1)), (oct1 + 7200, rec(2))]))
    }

    func testLateSourceMakesASegmentAndCompactMergesIt() throws {
        let a = try RawArchive(root: root)
        let rowsA: [(Int64, [String])] = [(oct1 + 13 * 3600, rec(1)), (oct1 + 14 * 3600, rec(2))]
        let rowsB: [(Int64, [String])] = [(oct1 + 13 * 3600 + 5, rec(3)), (oct1 + 13 * 3600 + 5, rec(3)), (oct1 + 15 * 3600, rec(4))]
        let rowsC: [(Int64, [String])] = [(oct1 + 13 * 3600 + 9, rec(5, brand: "q\"uote"))]
        try archive(a, shaA, "a.csv", rowsA)
        try archive(a, shaB, "b.csv", rowsB)
        try archive(a, shaC, "c.csv", rowsC)
        XCTAssertEqual(try a.files().map(\.path), [
            "2019/10/01/2019-10-01T13.csv.gz", "2019/10/01/2019-10-01T13.b100000000000000.csv.gz",
            "2019/10/01/2019-10-01T13.c200000000000000.csv.gz",
            "2019/10/01/2019-10-01T14.csv.gz", "2019/10/01/2019-10-01T15.csv.gz",
        ])
        XCTAssertEqual(try a.files().map(\.kind), [.main, .segment, .segment, .main, .main])
        XCTAssertEqual(try a.partitions().map(\.files), [3, 1, 1])
        let union = expected(rowsA + rowsB + rowsC)
        XCTAssertEqual(try allRows(a), union)

        let dry = try a.compact(dryRun: true)
        XCTAssertEqual(dry.merged.map(\.partition), ["2019/10/01/2019-10-01T13"])
        XCTAssertEqual(dry.merged.first?.rows, 4)
        XCTAssertEqual(try a.files().count, 5, "a dry run changes nothing")

        let report = try a.compact()
        XCTAssertEqual(report.merged.count, 1)
        XCTAssertEqual(report.merged[0].inputs, [
            "2019/10/01/2019-10-01T13.csv.gz", "2019/10/01/2019-10-01T13.b100000000000000.csv.gz",
            "2019/10/01/2019-10-01T13.c200000000000000.csv.gz",
        ])
        XCTAssertEqual(report.leftovers, [])
        let files = try a.files()
        XCTAssertEqual(files.map(\.path), ["2019/10/01/2019-10-01T13.csv.gz", "2019/10/01/2019-10-01T14.csv.gz", "2019/10/01/2019-10-01T15.csv.gz"])
        XCTAssertEqual(filesOnDisk(), files.map(\.path).sorted(), "old segments deleted")
        XCTAssertEqual(try allRows(a), union, "the merged file holds the union, each row once")
        let main = files[0]
        XCTAssertEqual(main.rows, 4)
        XCTAssertEqual(try records(main.fullPath).count, 4)
        XCTAssertEqual(main.sha256, try sha256(main.fullPath))
        XCTAssertEqual(main.bytes, Int64(try FileManager.default.attributesOfItem(atPath: main.fullPath)[.size] as! Int))
        XCTAssertEqual(try a.verify(sha256: shaA).rows, 2)
        XCTAssertEqual(try a.verify(sha256: shaB).rows, 3)
        XCTAssertEqual(try a.verify(sha256: shaC).rows, 1)
        XCTAssertEqual(try a.compact().merged, [], "nothing left to merge")
        XCTAssertEqual(try a.sources().map(\.name), ["a.csv", "b.csv", "c.csv"])

        // A later source after compaction: a segment again, with the same deterministic name.
        try archive(a, String(repeating: "d", count: 64), "d.csv", [(oct1 + 13 * 3600 + 1, rec(6))])
        XCTAssertEqual(try a.partitions().first?.files, 2)
        XCTAssertTrue(try a.files().map(\.path).contains("2019/10/01/2019-10-01T13.dddddddddddddddd.csv.gz"))
    }

    func testLeftoversAreIgnoredAndRemovedByCompact() throws {
        let a = try RawArchive(root: root)
        try archive(a, shaA, "a.csv", [(oct1, rec(1))])
        let fm = FileManager.default
        _ = fm.createFile(atPath: root + "/2019/10/01/2019-10-01T05.csv.gz", contents: Data("junk".utf8))
        _ = fm.createFile(atPath: root + "/2019/10/01/2019-10-01T00.b100000000000000.csv.gz", contents: Data("junk".utf8))
        _ = fm.createFile(atPath: root + "/2019/10/01/.2019-10-01T00.123-4.tmp", contents: Data("junk".utf8))
        _ = fm.createFile(atPath: root + "/notes.txt", contents: Data("mine".utf8))
        XCTAssertEqual(try a.files().map(\.path), ["2019/10/01/2019-10-01T00.csv.gz"], "readers list only manifest files")
        XCTAssertEqual(try allRows(a), expected([(oct1, rec(1))]))
        let dry = try a.compact(dryRun: true)
        XCTAssertEqual(dry.leftovers, ["2019/10/01/.2019-10-01T00.123-4.tmp", "2019/10/01/2019-10-01T00.b100000000000000.csv.gz",
                                       "2019/10/01/2019-10-01T05.csv.gz"])
        XCTAssertTrue(fm.fileExists(atPath: root + "/2019/10/01/2019-10-01T05.csv.gz"))
        XCTAssertEqual(try a.compact().leftovers, dry.leftovers)
        XCTAssertEqual(filesOnDisk(), ["2019/10/01/2019-10-01T00.csv.gz", "notes.txt"], "files not named like archive files are not touched")
        XCTAssertTrue(fm.fileExists(atPath: root + "/manifest.sqlite"))
        XCTAssertEqual(try a.verify(sha256: shaA).rows, 1)
    }

    // MARK: crashes

    /// Opens the archive with a hook that throws at `step`.
    func crashing(at step: RawArchive.Step, _ body: (RawArchive) throws -> Void) throws {
        let a = try RawArchive(root: root)
        a.stepHook = { if $0 == step { throw Simulated() } }
        XCTAssertThrowsError(try body(a)) { XCTAssertTrue($0 is Simulated, "\($0)") }
        // The instance is dropped here without abort or cleanup, as a crashed process would be.
    }

    func testCrashAfterRenameBeforeManifestCommit() throws {
        let rowsA: [(Int64, [String])] = [(oct1, rec(1))]
        let rowsB: [(Int64, [String])] = [(oct1 + 1, rec(2)), (oct1 + 3600, rec(3))]
        // First source crashes: its main files exist on disk but are not in the archive.
        try crashing(at: .sourceFilesRenamed) { try self.archive($0, shaA, "a.csv", rowsA) }
        XCTAssertEqual(filesOnDisk(), ["2019/10/01/2019-10-01T00.csv.gz"])
        do {
            let a = try RawArchive(root: root)
            XCTAssertFalse(try a.isArchived(sha256: shaA))
            XCTAssertEqual(try a.files(), [])
            XCTAssertEqual(try allRows(a), [])
            // The retry writes the same names over the leftovers.
            try archive(a, shaA, "a.csv", rowsA)
        }
        // A late source crashes the same way: its segment and new main are leftovers.
        try crashing(at: .sourceFilesRenamed) { try self.archive($0, shaB, "b.csv", rowsB) }
        XCTAssertEqual(filesOnDisk().count, 3)
        let a = try RawArchive(root: root)
        XCTAssertFalse(try a.isArchived(sha256: shaB))
        XCTAssertEqual(try allRows(a), expected(rowsA), "B's rows are not in the archive, A's are there once")
        XCTAssertEqual(try a.verify(sha256: shaA).rows, 1)
        try archive(a, shaB, "b.csv", rowsB)
        XCTAssertEqual(try allRows(a), expected(rowsA + rowsB), "after the retry each row is there once")
        XCTAssertEqual(try a.compact().leftovers, [])
        XCTAssertEqual(try allRows(a), expected(rowsA + rowsB))
        XCTAssertEqual(filesOnDisk(), try a.files().map(\.path).sorted())
    }

    func testCrashAfterManifestCommitOfASourceKeepsIt() throws {
        try crashing(at: .sourceManifestCommitted) { try self.archive($0, shaA, "a.csv", [(oct1, rec(1))]) }
        let a = try RawArchive(root: root)
        XCTAssertTrue(try a.isArchived(sha256: shaA))
        XCTAssertEqual(try a.verify(sha256: shaA).rows, 1)
        XCTAssertEqual(try archive(a, shaA, "a.csv", [(oct1, rec(1))]), .alreadyArchived)
    }

    func testCrashesDuringCompactionLeaveEachRowOnce() throws {
        let steps: [RawArchive.Step] = [.compactTempWritten, .compactManifestCommitted, .compactRenamed]
        for step in steps {
            tearDown(); setUp()
            let rowsA: [(Int64, [String])] = [(oct1, rec(1)), (oct1 + 10, rec(2))]
            let rowsB: [(Int64, [String])] = [(oct1 + 5, rec(3)), (oct1 + 3600, rec(4))]
            let rowsC: [(Int64, [String])] = [(oct1 + 6, rec(5))]
            do {
                let a = try RawArchive(root: root)
                try archive(a, shaA, "a.csv", rowsA)
                try archive(a, shaB, "b.csv", rowsB)
                try archive(a, shaC, "c.csv", rowsC)
            }
            let union = expected(rowsA + rowsB + rowsC)
            try crashing(at: step) { _ = try $0.compact() }
            let a = try RawArchive(root: root)  // replays a committed compaction
            XCTAssertEqual(try allRows(a), union, "\(step): rows exactly once")
            XCTAssertEqual(try a.verify(sha256: shaA).rows, 2, "\(step)")
            XCTAssertEqual(try a.verify(sha256: shaB).rows, 2, "\(step)")
            XCTAssertEqual(try a.verify(sha256: shaC).rows, 1, "\(step)")
            for f in try a.files() { XCTAssertEqual(f.sha256, try sha256(f.fullPath), "\(step) \(f.path)") }
            if step == .compactTempWritten {
                XCTAssertEqual(try a.partitions().first?.files, 3, "not committed: the old files are the archive")
            } else {
                XCTAssertEqual(try a.partitions().first?.files, 1, "\(step): committed: the merged file is the archive")
                XCTAssertEqual(filesOnDisk(), try a.files().map(\.path).sorted(), "\(step): segments deleted on replay")
            }
            let r = try a.compact()
            XCTAssertEqual(try allRows(a), union, "\(step)")
            XCTAssertEqual(try a.partitions().map(\.files), [1, 1], "\(step)")
            XCTAssertEqual(filesOnDisk(), try a.files().map(\.path).sorted(), "\(step): leftovers cleaned (\(r.leftovers))")
        }
    }

    func testAbortAndUndoLeaveNothing() throws {
        let a = try RawArchive(root: root)
        try archive(a, shaA, "a.csv", [(oct1, rec(1))])
        a.settle()  // the store committed a.csv
        try a.beginSource(name: "b.csv")
        try add(a, oct1 + 1, rec(2))
        try add(a, oct1 + 7200, rec(3))
        try addUnparsed(a, 2, .badJSON, "x")
        a.abortSource()
        XCTAssertEqual(filesOnDisk(), ["2019/10/01/2019-10-01T00.csv.gz"])
        XCTAssertFalse(try a.isArchived(sha256: shaB))
        // The store commit failed after the archive commit: take the source back out.
        try archive(a, shaB, "b.csv", [(oct1 + 1, rec(2)), (oct1 + 7200, rec(3))])
        XCTAssertEqual(try a.files().count, 3)
        try a.undoLastCommit()
        XCTAssertFalse(try a.isArchived(sha256: shaB))
        XCTAssertEqual(try a.files().map(\.path), ["2019/10/01/2019-10-01T00.csv.gz"])
        XCTAssertEqual(filesOnDisk(), ["2019/10/01/2019-10-01T00.csv.gz"])
        XCTAssertEqual(try allRows(a), expected([(oct1, rec(1))]))
        XCTAssertThrowsError(try add(a, oct1, rec(9)), "add outside a source")
        // A group of sources for one store transaction: its failure takes them all back.
        try archive(a, shaB, "b.csv", [(oct1 + 2, rec(4))])
        try archive(a, String(repeating: "c", count: 64), "c.csv", [(oct1 + 7200, rec(5))])
        try a.undoLastCommit()
        XCTAssertFalse(try a.isArchived(sha256: shaB))
        XCTAssertEqual(filesOnDisk(), ["2019/10/01/2019-10-01T00.csv.gz"])
        XCTAssertEqual(try allRows(a), expected([(oct1, rec(1))]))
    }

    func testOneOpenerAtATime() throws {
        let a = try RawArchive(root: root)
        XCTAssertThrowsError(try RawArchive(root: root)) { XCTAssertTrue("\($0)".contains("in use"), "\($0)") }
        _ = a
    }

    // MARK: verification

    func testVerifyDetectsModifiedAndMissingFiles() throws {
        let a = try RawArchive(root: root)
        try archive(a, shaA, "a.csv", [(oct1, rec(1)), (oct1 + 3600, rec(2))])
        XCTAssertEqual(try a.verify(sha256: shaA).rows, 2)
        XCTAssertThrowsError(try a.verify(sha256: shaB)) {
            guard case StorageError.archiveSourceUnknown = $0 else { return XCTFail("\($0)") }
        }
        let f = try a.files()
        // Same size, one byte changed inside the deflate data.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: f[0].fullPath)))
        bytes[bytes.count / 2] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: f[0].fullPath))
        XCTAssertThrowsError(try a.verify(sha256: shaA)) {
            guard case StorageError.archiveCorrupt(let path, _) = $0 else { return XCTFail("\($0)") }
            XCTAssertEqual(path, f[0].fullPath)
        }
        // A valid gzip file with other content (one row fewer) is caught too.
        try FileManager.default.removeItem(atPath: f[0].fullPath)
        XCTAssertThrowsError(try a.verify(sha256: shaA)) {
            guard case StorageError.archiveCorrupt(_, let why) = $0 else { return XCTFail("\($0)") }
            XCTAssertTrue(why.contains("missing"), why)
        }
        let w = try OutputFile(path: f[0].fullPath, gzip: true, level: 1)
        try w.write(RawArchive.partitionHeader)
        try w.finish()
        XCTAssertThrowsError(try a.verify(sha256: shaA))
        XCTAssertThrowsError(try a.compact(partitions: ["2019/10/01/2019-10-01T07"]), "unknown partition")
    }

    // MARK: bounded writers

    func testBoundedWritersStillArchiveEveryRow() throws {
        let a = try RawArchive(root: root, maxOpenWriters: 3)
        var rows = [(Int64, [String])]()
        // Round-robin over 10 hours, 5 rounds: every switch evicts the least recently used writer.
        for round in 0..<5 {
            for h in 0..<10 { rows.append((oct1 + Int64(h) * 3600 + Int64(round), rec(h * 100 + round))) }
        }
        guard case .archived(let n, 0, let files, _) = try archive(a, shaA, "a.csv", rows) else { return XCTFail() }
        XCTAssertEqual(n, 50)
        XCTAssertEqual(files, 50, "each eviction finished a segment")
        XCTAssertEqual(try allRows(a), expected(rows))
        let t00 = try a.files().filter { $0.partition == "2019/10/01/2019-10-01T00" }.map(\.path)
        XCTAssertEqual(t00, ["2019/10/01/2019-10-01T00.csv.gz", "2019/10/01/2019-10-01T00.aaaaaaaaaaaaaaaa.csv.gz",
                             "2019/10/01/2019-10-01T00.aaaaaaaaaaaaaaaa-2.csv.gz", "2019/10/01/2019-10-01T00.aaaaaaaaaaaaaaaa-3.csv.gz",
                             "2019/10/01/2019-10-01T00.aaaaaaaaaaaaaaaa-4.csv.gz"], "segments in the order they were written")
        XCTAssertEqual(try a.verify(sha256: shaA).rows, 50)
        let report = try a.compact()
        XCTAssertEqual(report.merged.count, 10)
        XCTAssertEqual(try a.files().count, 10)
        XCTAssertEqual(try allRows(a), expected(rows))
        XCTAssertEqual(try a.verify(sha256: shaA).rows, 50)
        // Rows of one hour keep their order within the source after the merge.
        XCTAssertEqual(try records(root + "/2019/10/01/2019-10-01T03.csv.gz").map { $0[2] }, ["300", "301", "302", "303", "304"])
    }

    func testManyRowsRoundTrip() throws {
        let a = try RawArchive(root: root, maxOpenWriters: 4)
        var rows = [(Int64, [String])]()
        for i in 0..<20_000 { rows.append((oct1 + Int64(i) * 7, rec(i, brand: i % 7 == 0 ? "" : "b\(i % 13)", price: "\(i % 500).\(i % 100)"))) }
        try archive(a, shaA, "a.csv", rows)
        XCTAssertEqual(try a.files().count, 39)  // 20000*7 s = 38.9 hours, in time order: one file each
        XCTAssertEqual(try allRows(a), expected(rows))
        XCTAssertEqual(try a.verify(sha256: shaA).rows, 20_000)
    }
}

extension ArchiveTests {
    /// Throughput of `add` (set SELLO_ARCHIVE_BENCH=1; meaningful in a release build).
    func testBenchAdd() throws {
        guard ProcessInfo.processInfo.environment["SELLO_ARCHIVE_BENCH"] == "1" else { throw XCTSkip("set SELLO_ARCHIVE_BENCH=1") }
        let a = try RawArchive(root: root)
        let texts = ["", "view", "1005115", "2053013555631882655", "electronics.smartphone", "apple", "1302.48", "541312140", "72d76fde-8bb3-4e00-8c23-a032dfed738c"]
        let fields = UnsafeMutablePointer<Field>.allocate(capacity: 9)
        var bufs = [UnsafeMutablePointer<UInt8>]()
        for (i, s) in texts.enumerated() {
            let b = Array(s.utf8)
            let p = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, b.count))
            p.initialize(from: b, count: b.count)
            bufs.append(p)
            var f = Field.missing
            f.base = UnsafePointer(p); f.count = b.count
            fields[i] = f
        }
        let n = 3_000_000
        let t0 = Date()
        try a.beginSource(name: "bench")
        for i in 0..<n { try a.add(time: oct1 + Int64(i / 20), fields: fields) }
        let t1 = Date()
        _ = try a.commitSource(sha256: shaA)
        let t2 = Date()
        let bytes = try a.files().reduce(0) { $0 + $1.bytes }
        print("archive bench: \(n) rows, add \(String(format: "%.2f", t1.timeIntervalSince(t0))) s (\(Int(Double(n) / t1.timeIntervalSince(t0))) rows/s), commit \(String(format: "%.2f", t2.timeIntervalSince(t1))) s, \(bytes) bytes in \(try a.files().count) files")
        let t3 = Date()
        _ = try a.verify(sha256: shaA)
        print("verify \(String(format: "%.2f", Date().timeIntervalSince(t3))) s")
        bufs.forEach { $0.deallocate() }
        fields.deallocate()
    }
}
