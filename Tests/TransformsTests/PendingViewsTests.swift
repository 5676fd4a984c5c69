import XCTest
@testable import Transforms

/// The pending-views map: when it reports full, and what eviction keeps.
final class PendingViewsTests: XCTestCase {
    private func view(_ t: Int64) -> CountedView {
        CountedView(time: t, priceCents: 100, brand: 0, l1: 0, l2: 0, l3: 0, lastSeen: t)
    }

    private func offer(_ p: PendingViews, _ session: String, _ product: Int64, _ t: Int64) -> Int? {
        var bytes = Array(session.utf8)
        return bytes.withUnsafeMutableBufferPointer { p.offer(session: $0.baseAddress!, $0.count, productId: product, view: view(t)) }
    }

    /// A small map (as `run` sizes it for a minute's files) fills by its pair count, not at
    /// once: a fixed arena slack above the arena's size made it full when empty, so every view
    /// was resolved against the store on its own.
    func testSmallMapIsFullOnlyAtItsLimit() {
        for limit in [16, 4096, 16384] {
            let p = PendingViews(limit: limit)
            XCTAssertFalse(p.isFull, "empty map of \(limit) pairs reports full")
            for i in 0..<(limit - 1) {
                XCTAssertNil(offer(p, "5b9b4b4e-0b4c-4f3c-9f6a-\(String(format: "%012d", i))", 42, Int64(i)))
            }
            XCTAssertFalse(p.isFull, "map of \(limit) pairs full at \(limit - 1) UUID sessions")
            XCTAssertNil(offer(p, "last", 42, 0))
            XCTAssertTrue(p.isFull)
        }
    }

    /// Long session text fills the arena before the pair limit; a session longer than the
    /// whole arena still goes in (the arena grows).
    func testLongSessionsFillTheArena() {
        let p = PendingViews(limit: 64)
        let long = String(repeating: "s", count: 400)
        var n = 0
        while !p.isFull {
            XCTAssertNil(offer(p, long + "\(n)", 1, Int64(n)))
            n += 1
        }
        XCTAssertLessThan(n, 64, "the arena (48 bytes a pair) should fill first")
        let huge = String(repeating: "h", count: 64 * 48 * 4)
        XCTAssertNil(offer(p, huge, 1, 0))
        XCTAssertEqual(p.entries.count, n + 1)
        XCTAssertEqual(p.session(p.entries[n]).count, huge.utf8.count)
    }

    /// Evicting the coldest half hands over the least recently seen pairs in hash order and
    /// keeps the rest findable, with their session text intact.
    func testEvictColdestKeepsTheRecentPairs() throws {
        let p = PendingViews(limit: 100)
        for i in 0..<10 { XCTAssertNil(offer(p, "session-\(i)", Int64(i), Int64(i * 10))) }
        XCTAssertEqual(offer(p, "session-3", 3, 35), 3, "a repeat view finds its entry")
        var out: [(UInt64, Int64, String)] = []
        try p.evict(coldest: 4) { _, e, s in out.append((e.hash, e.productId, String(decoding: s, as: UTF8.self))) }
        XCTAssertEqual(Set(out.map(\.1)), [0, 1, 2, 3])
        XCTAssertEqual(out.map { Int64(bitPattern: $0.0) }, out.map { Int64(bitPattern: $0.0) }.sorted())
        XCTAssertTrue(out.allSatisfy { $0.2 == "session-\($0.1)" })
        XCTAssertEqual(p.entries.count, 6)
        for i in 4..<10 {
            let at = offer(p, "session-\(i)", Int64(i), Int64(i * 10))
            XCTAssertNotNil(at)
            if let at { XCTAssertEqual(String(decoding: p.session(p.entries[at]), as: UTF8.self), "session-\(i)") }
        }
        XCTAssertNil(offer(p, "session-0", 0, 0), "an evicted pair is new again")
    }

    /// The evicted entries' session text stays intact until `finish` returns, although the
    /// survivors are then moved down over it (the last partial chunk is resolved in `finish`).
    func testEvictedSessionTextIsValidUntilFinish() throws {
        let p = PendingViews(limit: 1000)
        for i in 0..<600 { XCTAssertNil(offer(p, "s\(i)-" + String(repeating: "x", count: i % 50), Int64(i), Int64(i))) }
        var held: [(Int64, UnsafeBufferPointer<UInt8>)] = []
        var checked = 0
        try p.evict(coldest: 250, { _, e, s in held.append((e.productId, s)) }, finish: {
            for (id, s) in held {
                XCTAssertEqual(String(decoding: s, as: UTF8.self), "s\(id)-" + String(repeating: "x", count: Int(id) % 50))
                checked += 1
            }
        })
        XCTAssertEqual(checked, 250)
        XCTAssertEqual(p.entries.count, 350)
        for e in p.entries {
            XCTAssertEqual(String(decoding: p.session(e), as: UTF8.self), "s\(e.productId)-" + String(repeating: "x", count: Int(e.productId) % 50))
        }
    }

    /// The radix order is the signed hash order, equal hashes by index, for any hashes (also
    /// many that differ only in the low bits the radix passes skip).
    func testHashOrderIsTheSignedOrderStableOnTies() {
        var g: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 { g ^= g << 13; g ^= g >> 7; g ^= g << 17; return g }
        for n in [0, 1, 2, 1000, 70_000] {
            var entries: [PendingViews.Entry] = []
            for i in 0..<n {
                // Random hashes, some repeated, some at the extremes of the signed range.
                let h: UInt64 = i % 97 == 0 ? 0x8000_0000_0000_0000 : i % 89 == 0 ? 0x7FFF_FFFF_FFFF_FFFF
                    : i % 7 == 0 && i > 0 ? entries[i - 1].hash
                    : i % 5 == 0 ? 0x1234_5678_0000_0000 | (next() & 0xFFFF) : next()  // same top bits
                entries.append(PendingViews.Entry(hash: h, productId: Int64(i), view: view(0), sessionOffset: 0, sessionLength: 0, views: 1))
            }
            let subset = Array(stride(from: 0, to: n, by: 3))
            let expected = subset.sorted { (Int64(bitPattern: entries[$0].hash), $0) < (Int64(bitPattern: entries[$1].hash), $1) }
            XCTAssertEqual(PendingViews.hashOrder(entries, subset), expected, "n=\(n)")
            XCTAssertEqual(PendingViews.hashOrder(entries, entries.indices), entries.indices.sorted {
                (Int64(bitPattern: entries[$0].hash), $0) < (Int64(bitPattern: entries[$1].hash), $1) }, "n=\(n)")
        }
    }

    /// The histogram selection gives what sorting gives, for clustered, spread and extreme values.
    func testKthSmallestMatchesSorting() {
        var g: UInt64 = 12345
        func next() -> UInt64 { g ^= g << 13; g ^= g >> 7; g ^= g << 17; return g }
        let sets: [[Int64]] = [
            [5], [3, 3, 3],
            (0..<10_000).map { _ in 1_569_888_000 + Int64(next() % 86_400) },
            (0..<5_000).map { _ in Int64(bitPattern: next()) } + [Int64.min, Int64.max],
            (0..<5_000).map { i in i % 2 == 0 ? 7 : 1_000_000 + Int64(next() % 3) },
        ]
        for values in sets {
            let sorted = values.sorted()
            for k in Set([1, 2, values.count / 2, values.count - 1, values.count]) where k >= 1 && k <= values.count {
                XCTAssertEqual(PendingViews.kthSmallest(values, k), sorted[k - 1], "k=\(k) of \(values.count)")
            }
        }
    }
}
