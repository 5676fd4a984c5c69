import XCTest
@testable import Transforms

/// The caches in front of the key dictionary return what was set for exactly those bytes, or
/// nothing: strings that share a length, their first and last eight bytes, or a slot are told
/// apart, and long strings are never cached.
final class KeyCacheTests: XCTestCase {
    func get(_ c: KeyCache, _ s: String) -> (Int32, Int32, Int32)? {
        let b = Array(s.utf8)
        return b.withUnsafeBufferPointer { c.get($0.baseAddress!, $0.count) }
    }
    func set(_ c: KeyCache, _ s: String, _ v: Int32) {
        let b = Array(s.utf8)
        b.withUnsafeBufferPointer { c.set($0.baseAddress!, $0.count, (v, v + 1, v + 2)) }
    }

    func testExactBytesOnly() {
        let c = KeyCache(entries: 16)
        let strings = ["a", "ab", "abc", "samsung", "samsung1", "apple.smartphone", "electronics.audio.headphone",
                       "0123456789ABCDEF-same-ends-0123456789ABCDEF", "0123456789ABCDEF-SAME-ends-0123456789ABCDEF"]
        for (i, s) in strings.enumerated() {
            set(c, s, Int32(i * 10))
            XCTAssertEqual(get(c, s).map { [$0.0, $0.1, $0.2] }, [Int32(i * 10), Int32(i * 10 + 1), Int32(i * 10 + 2)], s)
        }
        // 16 slots for 9 strings: any found must be its own.
        var found = 0
        for (i, s) in strings.enumerated() {
            if let v = get(c, s) { XCTAssertEqual(v.0, Int32(i * 10), s); found += 1 }
        }
        XCTAssertGreaterThan(found, 0)
        XCTAssertNil(get(c, "samsunh"))
        XCTAssertNil(get(c, "ab\u{0}"))
        // Same first and last eight bytes and length, another middle: only one can be there.
        let a = get(c, strings[7]), b = get(c, strings[8])
        if let a { XCTAssertEqual(a.0, 70) }
        if let b { XCTAssertEqual(b.0, 80) }
        let long = String(repeating: "x", count: KeyCache.maxLength + 1)
        set(c, long, 5)
        XCTAssertNil(get(c, long))
        c.clear()
        for s in strings { XCTAssertNil(get(c, s), s) }
    }

    func testManyStringsNeverMisread() {
        let c = KeyCache(entries: 64)
        var truth: [String: Int32] = [:]
        for i in 0..<5000 {
            let s = "brand-\(i % 700)-" + String(repeating: "z", count: i % 40)
            if let v = get(c, s) { XCTAssertEqual(v.0, truth[s], s) } else {
                truth[s] = truth[s] ?? Int32(truth.count)
                set(c, s, truth[s]!)
            }
        }
    }

    func testProductIdCache() {
        let c = ProductIdCache(entries: 16)
        for pid in Int64(0)..<200 { c.set(pid * 1_000_003, Int32(pid)) }
        var found = 0
        for pid in Int64(0)..<200 {
            if let v = c.get(pid * 1_000_003) { XCTAssertEqual(v, Int32(pid)); found += 1 }
        }
        XCTAssertGreaterThan(found, 0)
        XCTAssertLessThanOrEqual(found, 16)
        c.clear()
        for pid in Int64(0)..<200 { XCTAssertNil(c.get(pid * 1_000_003)) }
    }
}
