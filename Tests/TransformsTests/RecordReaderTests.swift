import XCTest
@testable import Transforms

/// Reads everything from bytes written to a temporary file, as (outcome, fields) pairs.
func readAll(_ text: [UInt8], format: InputFormat = .auto) throws -> [(String, [String], Int64)] {
    let path = NSTemporaryDirectory() + "rr-\(UUID().uuidString)"
    FileManager.default.createFile(atPath: path, contents: Data(text))
    defer { try? FileManager.default.removeItem(atPath: path) }
    let reader = try RecordReader(source: ByteSource(path: path), format: format)
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
}
