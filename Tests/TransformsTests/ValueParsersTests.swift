import XCTest
@testable import Transforms

final class ValueParsersTests: XCTestCase {
    private func field(_ s: String, number: Bool = false) -> (Field, [UInt8]) {
        let bytes = Array(s.utf8)
        return (Field(base: nil, count: bytes.count, isNumber: number), bytes)
    }

    private func parse<T>(_ s: String, number: Bool = false, _ f: (Field) -> T) -> T {
        var bytes = Array(s.utf8)
        return bytes.withUnsafeMutableBufferPointer { b in
            f(Field(base: UnsafePointer(b.baseAddress), count: b.count, isNumber: number))
        }
    }

    func testTimeFormats() {
        let t: Int64 = 1_569_888_000  // 2019-10-01T00:00:00Z
        XCTAssertEqual(parse("2019-10-01 00:00:00 UTC", ValueParsers.eventTime), t)
        XCTAssertEqual(parse("2019-10-01 00:00:00", ValueParsers.eventTime), t)
        XCTAssertEqual(parse("2019-10-01T00:00:00Z", ValueParsers.eventTime), t)
        XCTAssertEqual(parse("2019-10-01T00:00:00.999Z", ValueParsers.eventTime), t)
        XCTAssertEqual(parse("2019-10-01T02:00:00+02:00", ValueParsers.eventTime), t)
        XCTAssertEqual(parse("2019-09-30T22:30:00-01:30", ValueParsers.eventTime), t)
        XCTAssertEqual(parse("1569888000", number: true, ValueParsers.eventTime), t)
        XCTAssertEqual(parse("1569888000999", number: true, ValueParsers.eventTime), t)
        XCTAssertEqual(parse("1569888000.7", number: true, ValueParsers.eventTime), t)
        XCTAssertEqual(parse("2020-02-29 12:00:00 UTC", ValueParsers.eventTime), 1_582_977_600)
        for bad in ["", "2019-10-01", "2019-13-01 00:00:00", "2019-02-29 00:00:00", "2019-10-01 24:00:00",
                    "2019-10-01 00:00:00 CET", "2019/10/01 00:00:00", "1569888000", "2019-10-01 00:00:00Z junk", "1969-12-31 23:59:59"] {
            XCTAssertNil(parse(bad, ValueParsers.eventTime), bad)
        }
        XCTAssertNil(parse("-5", number: true, ValueParsers.eventTime))
        XCTAssertNil(parse("1e9", number: true, ValueParsers.eventTime))
    }

    func testPriceCents() {
        XCTAssertEqual(parse("489.07", ValueParsers.priceCents), 48907)
        XCTAssertEqual(parse("0.6", ValueParsers.priceCents), 60)
        XCTAssertEqual(parse("5", ValueParsers.priceCents), 500)
        XCTAssertEqual(parse("5.", ValueParsers.priceCents), 500)
        XCTAssertEqual(parse(".5", ValueParsers.priceCents), 50)
        XCTAssertEqual(parse("1.005", ValueParsers.priceCents), 101)   // half away from zero
        XCTAssertEqual(parse("1.0049", ValueParsers.priceCents), 100)
        XCTAssertEqual(parse("3.3349", ValueParsers.priceCents), 333)  // rounded once, not twice
        XCTAssertEqual(parse("0.995", ValueParsers.priceCents), 100)
        XCTAssertEqual(parse("0", ValueParsers.priceCents), 0)
        for bad in ["", "-1.00", "-0.00", "-0.004", "abc", "1,5", "1.2.3", "1e3", ".", "+1", " 1", "1234567890123456"] {
            XCTAssertNil(parse(bad, ValueParsers.priceCents), bad)
        }
    }

    func testProductIdAndEventType() {
        XCTAssertEqual(parse("1004856", ValueParsers.productId), 1_004_856)
        XCTAssertEqual(parse("007", ValueParsers.productId), 7)
        for bad in ["", "-1", "1.0", "12a", "1234567890123456789"] { XCTAssertNil(parse(bad, ValueParsers.productId), bad) }
        XCTAssertEqual(parse("view", ValueParsers.eventType), 0)
        XCTAssertEqual(parse("VIEW", ValueParsers.eventType), 0)
        XCTAssertEqual(parse("cart", ValueParsers.eventType), 1)
        XCTAssertEqual(parse("remove_from_cart", ValueParsers.eventType), 2)
        XCTAssertEqual(parse("Purchase", ValueParsers.eventType), 3)
        for bad in ["", "views", "buy", "purchased"] { XCTAssertNil(parse(bad, ValueParsers.eventType), bad) }
    }

    func testFormatting() {
        XCTAssertEqual(Format.iso8601(1_569_888_000), "2019-10-01T00:00:00Z")
        XCTAssertEqual(Format.iso8601(0), "1970-01-01T00:00:00Z")
        XCTAssertEqual(Format.money(48907), "489.07")
        XCTAssertEqual(Format.money(5), "0.05")
        XCTAssertEqual(Format.money(-105), "-1.05")
        XCTAssertEqual(Format.average(cents: 1001, events: 2), "5.01")  // 500.5 cents -> 501
        XCTAssertEqual(Format.average(cents: 1000, events: 3), "3.33")
        for days in [-1000, 0, 18000, 2_932_896] {
            let (y, m, d) = ValueParsers.civilFromDays(days)
            XCTAssertEqual(ValueParsers.daysFromCivil(y, m, d), days)
        }
    }

    func testArguments() {
        XCTAssertEqual(Arguments.duration("24h"), 86400)
        XCTAssertEqual(Arguments.duration("1h30m"), 5400)
        XCTAssertEqual(Arguments.duration("90"), 90)
        XCTAssertNil(Arguments.duration("abc"))
        XCTAssertEqual(Arguments.rate("5%"), 0.05)
        XCTAssertEqual(Arguments.time("2019-10-01"), 1_569_888_000)
        XCTAssertEqual(Arguments.time("2019-10-01T13:00"), 1_569_934_800)
    }
}
