import XCTest
import CSupport
@testable import Transforms

/// Reads everything from bytes written to a temporary file, as (outcome, fields) pairs.
func readAll(_ text: [UInt8], format: InputFormat = .auto, readAhead: Bool = false) throws -> [(String, [String], Int64)] {
    let path = NSTemporaryDirectory() + "rr-\(UUID().uuidString)"
    FileManager.default.createFile(atPath: path, contents: Data(text))
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try readAll(path: path, format: format, readAhead: readAhead)
}

func readAll(path: String, format: InputFormat = .auto, readAhead: Bool = false) throws -> [(String, [String], Int64)] {
    let reader = try RecordReader(source: ByteSource(path: path), format: format, readAhead: readAhead)
    var out: [(String, [String], Int64)] = []
    while true {
        switch try reader.next() {
        case .end: return out
        case .row: out.append(("row", Column.allCases.map { reader.fields[$0.rawValue].string }, reader.line))
        case .rejected(let r): out.append((r.code, [], reader.line))
        }
    }
}

final class RecordReaderTests: XCTestCase {
    let header = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n"

    func testPlainCRLFBOMAndMissingNewline() throws {
        let text = "\u{FEFF}" + header.replacingOccurrences(of: "\n", with: "\r\n")
            + "2019-10-01 00:00:00 UTC,view,1,2,a.b,apple,1.00,5,s1\r\n\r\n"
            + "2019-10-01 00:00:01 UTC,cart,2,,,,2.50,6,s2"
        let rows = try readAll(Array(text.utf8))
        XCTAssertEqual(rows.count, 2)
        XCTAssertEqual(rows[0].1[Column.userSession.rawValue], "s1")
        XCTAssertEqual(rows[0].2, 2)
        XCTAssertEqual(rows[1].1[Column.price.rawValue], "2.50")
        XCTAssertEqual(rows[1].1[Column.brand.rawValue], "")
        XCTAssertEqual(rows[1].2, 4)  // the blank line still counts as a line
    }

    func testQuotedFieldsAndExtraColumns() throws {
        let text = ",event_time,event_type,product_id,brand,price,extra\n"
            + "0,2019-10-01 00:00:00 UTC,view,1,\"a, \"\"quoted\"\" brand\",1.00,x\n"
            + "1,2019-10-01 00:00:00 UTC,view,2,\"multi\nline\",2.00,y\n"
            + "2,2019-10-01 00:00:00 UTC,view,3,b,3.00\n"
        let rows = try readAll(Array(text.utf8))
        XCTAssertEqual(rows.count, 3)
        XCTAssertEqual(rows[0].1[Column.brand.rawValue], "a, \"quoted\" brand")
        XCTAssertEqual(rows[1].1[Column.brand.rawValue], "multi\nline")
        XCTAssertEqual(rows[1].2, 3)
        XCTAssertEqual(rows[2].0, "field_count")
        XCTAssertEqual(rows[2].2, 5)
    }

    /// Fields of every length from 0 to 19 bytes, so commas fall at every place in the eight-byte
    /// words the splitter reads, and at the end of lines with and without a terminator.
    func testFieldsOfEveryLengthSplitAsByteByByte() throws {
        let columns = header.dropLast().split(separator: ",").map(String.init)
        var text = header
        var expected: [[String]] = []
        for r in 0..<60 {
            let values = columns.indices.map { c in String(repeating: Character(UnicodeScalar(UInt8(97 + c))), count: (r * 7 + c * 3) % 20) }
            text += values.joined(separator: ",") + (r == 59 ? "" : "\n")
            expected.append(values)
        }
        // Too few and too many fields, with the missing or extra comma anywhere in a word.
        for k in 1...9 { text += "\n" + Array(repeating: "x", count: k).joined(separator: ",") }
        let rows = try readAll(Array(text.utf8), format: .csv)
        XCTAssertEqual(rows.count, 69)
        guard rows.count == 69 else { return }
        for (i, values) in expected.enumerated() {
            XCTAssertEqual(rows[i].0, "row", "row \(i)")
            guard rows[i].0 == "row" else { continue }
            for (c, name) in columns.enumerated() {
                XCTAssertEqual(rows[i].1[Column.allCases.first { $0.name == name }!.rawValue], values[c], "row \(i) \(name)")
            }
        }
        XCTAssertEqual(rows[60...].map(\.0), Array(repeating: "field_count", count: 8) + ["row"])
    }

    /// The 64-byte comma mask the CSV split uses marks exactly the bytes equal to the one asked.
    func testByteMaskMarksExactlyTheMatchingBytes() {
        var g: UInt64 = 9
        for _ in 0..<200 {
            let bytes: [UInt8] = (0..<64).map { _ in g = g &* 6364136223846793005 &+ 1; return [0x2C, 0x2C, 0x2D, 0x00, 0xAC, 0x61][Int((g >> 33) % 6)] }
            var naive: UInt64 = 0
            for (i, b) in bytes.enumerated() where b == 0x2C { naive |= 1 << UInt64(i) }
            XCTAssertEqual(bytes.withUnsafeBufferPointer { sello_byte_mask64($0.baseAddress!, 0x2C) }, naive)
        }
    }

    func testMissingRequiredColumnFailsTheFile() {
        XCTAssertThrowsError(try readAll(Array("event_time,event_type,price\nx,y,z\n".utf8))) { e in
            XCTAssertTrue("\(e)".contains("product_id"), "\(e)")
        }
    }

    func testBinaryFails() {
        XCTAssertThrowsError(try readAll(Array(header.utf8) + [0x00, 0x01, 0x02, 0x0A]))
    }

    func testJSONLines() throws {
        let text = """
        {"event_time":"2019-10-01 00:00:00 UTC","event_type":"view","product_id":1,"price":1.5,"brand":"a\\"b\\u00e9","nested":{"x":[1,2]},"user_session":null}
        not json
        {"event_time":1569888000,"event_type":"cart","product_id":"2","price":"2.00"}

        {"event_time":1, "event_type": "view",}
        """
        let rows = try readAll(Array(text.utf8))
        XCTAssertEqual(rows.map(\.0), ["row", "bad_json", "row", "bad_json"])
        XCTAssertEqual(rows[0].1[Column.brand.rawValue], "a\"bé")
        XCTAssertEqual(rows[0].1[Column.userSession.rawValue], "")
        XCTAssertEqual(rows[2].1[Column.productId.rawValue], "2")
        XCTAssertEqual(rows[3].2, 5)
    }

    func testLongLineIsOneRow() throws {
        let big = String(repeating: "x", count: 180_000)
        let text = header + "2019-10-01 00:00:00 UTC,view,1,2,,\(big),1.00,5,s1\n"
        let rows = try readAll(Array(text.utf8))
        XCTAssertEqual(rows.count, 1)
        XCTAssertEqual(rows[0].1[Column.brand.rawValue].count, 180_000)
    }

    func testRecordsAcrossBufferBoundaries() throws {
        // Enough rows to cross several 1 MiB reads, with quoted fields sprinkled in.
        var text = header
        for i in 0..<60_000 {
            text += "2019-10-01 00:00:00 UTC,view,\(i),2,a.b,\(i % 7 == 0 ? "\"q,\(i)\"" : "b\(i)"),1.00,5,s\(i)\n"
        }
        let rows = try readAll(Array(text.utf8))
        XCTAssertEqual(rows.count, 60_000)
        XCTAssertTrue(rows.allSatisfy { $0.0 == "row" })
        XCTAssertEqual(rows[59_997].1[Column.brand.rawValue], "\"q,59997\"".replacingOccurrences(of: "\"", with: ""))
        XCTAssertEqual(rows[59_999].2, 60_001)
    }

    /// Inflating on a read-ahead thread hands out the same records, line numbers and errors
    /// as reading inline, across many 1 MiB chunks; its raw byte count reaches the file size.
    func testReadAheadGivesTheSameRecordsAndErrors() throws {
        var text = header
        for i in 0..<60_000 {
            text += "2019-10-01 00:\(String(format: "%02d", i % 60)):00 UTC,view,\(i),2,a.b,\"brand, \(i % 97)\",\(i % 500).99,5,s\(i % 1000)\n"
        }
        let plain = Array(text.utf8)
        let inline = try readAll(plain)
        let ahead = try readAll(plain, readAhead: true)
        XCTAssertEqual(inline.count, 60_000)
        XCTAssertEqual(ahead.count, inline.count)
        XCTAssertTrue(zip(inline, ahead).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 && $0.2 == $1.2 })

        let dir = NSTemporaryDirectory() + "rr-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let csv = dir + "/e.csv"
        FileManager.default.createFile(atPath: csv, contents: Data(plain))
        let gz = Process()
        gz.executableURL = URL(fileURLWithPath: "/bin/sh")
        gz.arguments = ["-c", "gzip -c '\(csv)' > '\(csv).gz' && head -c 300000 '\(csv).gz' > '\(dir)/cut.gz'"]
        try gz.run()
        gz.waitUntilExit()
        XCTAssertEqual(gz.terminationStatus, 0)
        let zipped = try readAll(path: csv + ".gz", readAhead: true)
        XCTAssertEqual(zipped.count, inline.count)
        XCTAssertEqual(zipped.last?.1, inline.last?.1)
        let reader = try RecordReader(source: ByteSource(path: csv + ".gz"), format: .csv, readAhead: true)
        while case .row = try reader.next() {}
        let size = try FileManager.default.attributesOfItem(atPath: csv + ".gz")[.size] as! NSNumber
        XCTAssertEqual(reader.rawBytesRead, size.int64Value)

        func failure(_ readAhead: Bool) -> String {
            do { _ = try readAll(path: dir + "/cut.gz", readAhead: readAhead); return "no error" } catch { return "\(error)" }
        }
        XCTAssertNotEqual(failure(true), "no error")
        XCTAssertEqual(failure(true), failure(false))
    }
}
