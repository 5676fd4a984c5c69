import XCTest
@testable import Transforms

/// A delta table drained in parts gives the same sums as one drained at once: what a partial
/// drain keeps is still found by later adds (the sweep moves entries back along their probe
/// runs), and every drain is in key order.
final class StatsAccumulatorTests: XCTestCase {
    struct Key: Hashable { var head: Int64, key: Int64 }

    func testPartialDrainsKeepTheNewerBucketsFindable() {
        // A small table (40 entries a bucket, tables that grow) and a large one.
        drainInParts(limit: 1600, events: 60_000, perBucket: 40)
        drainInParts(limit: 40_000, events: 400_000, perBucket: 1000)
    }

    func drainInParts(limit: Int, events: Int, perBucket: Int) {
        var g: UInt64 = 5
        func next(_ m: Int) -> Int { g = g &* 6364136223846793005 &+ 1442695040888963407; return Int((g >> 33) % UInt64(m)) }
        let acc = StatsAccumulator(limit: limit)
        var model: [Key: (Int64, Int64)] = [:]
        var drained: [Key: (Int64, Int64)] = [:]
        var drains = 0, partial = 0
        func take(_ out: [StatDelta], below cut: Int64) {
            XCTAssertEqual(out.map { Key(head: $0.head, key: $0.key) },
                           out.map { Key(head: $0.head, key: $0.key) }.sorted { ($0.head, $0.key) < ($1.head, $1.key) },
                           "a drain is in key order")
            for d in out {
                XCTAssertLessThan(d.head, cut)
                let k = Key(head: d.head, key: d.key)
                let s = drained[k] ?? (0, 0)
                drained[k] = (s.0 + d.events, s.1 + d.valueCents)
            }
        }
        for i in 0..<events {
            // Time moves on; a few events are late.
            let bucket = Int64(i / perBucket) * 60 - (next(50) == 0 ? Int64(next(100)) * 60 : 0)
            let h = StatDelta.head(bucket: 1_569_888_000 + bucket, eventType: UInt8(next(4)), dimension: UInt8(next(5)))
            let key = Int64(next(perBucket / 4 + 10))
            acc.add(head: h, key: key, events: 1, value: Int64(i))
            let m = model[Key(head: h, key: key)] ?? (0, 0)
            model[Key(head: h, key: key)] = (m.0 + 1, m.1 + Int64(i))
            if acc.isFull {
                let before = acc.count
                let cut = acc.olderHalf()
                take(acc.drain(keepFrom: cut), below: cut)
                drains += 1
                if acc.count > 0 { partial += 1 }
                // About half goes (whole buckets).
                XCTAssertLessThan(acc.count, before * 3 / 4)
                XCTAssertGreaterThan(acc.count, before / 4)
            }
        }
        take(acc.drain(), below: Int64.max)
        XCTAssertEqual(acc.count, 0)
        XCTAssertGreaterThan(drains, 10)
        XCTAssertEqual(partial, drains, "every drain of a full table kept its newer half")
        XCTAssertEqual(drained.count, model.count)
        for (k, v) in model {
            XCTAssertEqual(drained[k]?.0, v.0, "events of \(k)")
            XCTAssertEqual(drained[k]?.1, v.1, "value of \(k)")
        }
    }

    /// Written once per row: entries that stay in the table are summed there, not drained again.
    func testAPartialDrainNeverHandsOverAKeyTwice() {
        let acc = StatsAccumulator(limit: 100)
        for b in 0..<10 {
            for k in 0..<8 { acc.add(head: StatDelta.head(bucket: Int64(b) * 60, eventType: 0, dimension: 0), key: Int64(k), events: 1, value: 1) }
        }
        let cut = acc.olderHalf()
        let first = acc.drain(keepFrom: cut)
        XCTAssertEqual(first.count, 40, "the five older buckets")
        for b in 5..<10 {
            for k in 0..<8 { acc.add(head: StatDelta.head(bucket: Int64(b) * 60, eventType: 0, dimension: 0), key: Int64(k), events: 1, value: 1) }
        }
        XCTAssertEqual(acc.count, 40, "kept keys are found again, not added twice")
        let rest = acc.drain()
        XCTAssertEqual(rest.count, 40)
        XCTAssertTrue(rest.allSatisfy { $0.events == 2 })
        XCTAssertEqual(acc.discard(), 0)
    }

    /// Sparse buckets fill the table by the slots they hold, not only by entries: memory stays
    /// bounded when every event is in a bucket of its own.
    func testSparseBucketsFillTheTableBySlots() {
        let acc = StatsAccumulator(limit: 1000)
        var added = 0
        while !acc.isFull {
            acc.add(head: StatDelta.head(bucket: Int64(added) * 60, eventType: 0, dimension: 0), key: 1, events: 1, value: 1)
            added += 1
        }
        XCTAssertLessThan(added, 1000, "full by slots before 1000 entries")
        XCTAssertLessThanOrEqual(acc.slotsHeld, 1500 + 8, "the budget and one new table")
        let cut = acc.olderHalf()
        XCTAssertEqual(acc.drain(keepFrom: cut).count, (added + 1) / 2, "whole buckets, oldest half")
        XCTAssertEqual(acc.drain().count, added / 2)
        XCTAssertEqual(acc.slotsHeld, 0)
    }

    /// A cut inside a bucket takes the entries below it; the rest are still found by later adds.
    func testACutInsideABucketKeepsTheRestFindable() {
        let acc = StatsAccumulator(limit: 1000)
        for d in 0..<5 {
            for k in 0..<50 { acc.add(head: StatDelta.head(bucket: 600, eventType: 1, dimension: UInt8(d)), key: Int64(k), events: 1, value: 2) }
        }
        let cut = StatDelta.head(bucket: 600, eventType: 1, dimension: 3)
        let below = acc.drain(keepFrom: cut)
        XCTAssertEqual(below.count, 150)
        XCTAssertTrue(below.allSatisfy { $0.head < cut })
        XCTAssertEqual(acc.count, 100)
        for k in 0..<50 { acc.add(head: cut, key: Int64(k), events: 1, value: 2) }
        XCTAssertEqual(acc.count, 100, "kept entries are found again")
        let rest = acc.drain()
        XCTAssertEqual(rest.filter { $0.head == cut }.map(\.events), [Int64](repeating: 2, count: 50))
        XCTAssertEqual(rest.filter { $0.head != cut }.map(\.events), [Int64](repeating: 1, count: 50))
    }
}

/// The radix sort of drained deltas orders them as a comparison sort does, for packable ranges
/// (negative buckets and keys too) and for ranges that take the fallback.
final class SortByKeyTests: XCTestCase {
    func testRadixOrderIsTheKeyOrder() {
        var g: UInt64 = 17
        func next(_ m: Int64) -> Int64 { g = g &* 6364136223846793005 &+ 1442695040888963407; return Int64((g >> 33) % UInt64(m)) }
        let cases: [(n: Int, bucket: () -> Int64, key: () -> Int64)] = [
            (5000, { 1_569_888_000 + next(3000) * 60 }, { next(60_000_000) }),
            (5000, { -86_400 * next(400) }, { next(1000) - 500 }),
            (3000, { next(2) * 3600 }, { next(Int64.max) - Int64.max / 2 }),  // too wide: fallback
            (100, { next(10) * 60 }, { next(50) }),  // small: comparison sort
        ]
        for c in cases {
            var seen = Set<[Int64]>()
            var a: [StatDelta] = []
            while a.count < c.n {
                let d = StatDelta(bucket: c.bucket(), eventType: UInt8(next(4)), dimension: UInt8(next(5)), key: c.key(),
                                  events: next(9) + 1, valueCents: next(100_000))
                if seen.insert([d.head, d.key]).inserted { a.append(d) }
            }
            var radix = a
            StatsAccumulator.sortByKey(&radix)
            let expected = a.sorted { ($0.head, $0.key) < ($1.head, $1.key) }
            XCTAssertEqual(radix.map { [$0.head, $0.key, $0.events, $0.valueCents] },
                           expected.map { [$0.head, $0.key, $0.events, $0.valueCents] })
        }
    }
}
