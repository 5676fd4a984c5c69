import XCTest
@testable import Transforms

/// Summing on a thread of its own writes exactly what summing inline writes, in the same order;
/// `reset` drops everything since the last `finish`, however far the thread has got.
final class StatsAggregatorTests: XCTestCase {
    /// Records the stats writes; nothing else of a store is used by the aggregator.
    final class RecordingStore: IngestStore {
        var writes: [String] = []
        func applyStats(tier: Int, deltas: [StatDelta]) throws -> Int {
            for d in deltas { writes.append("\(tier) \(d.bucket) \(d.eventType) \(d.dimension) \(d.key) \(d.events) \(d.valueCents)") }
            return deltas.count
        }
        func loadKeys() throws -> [[UInt8]] { [] }
        func watermark() throws -> Int64? { nil }
        func ledgerEntry(sha256: String) throws -> LedgerEntry? { nil }
        func ledgerEntry(path: String, size: Int64, mtime: Int64) throws -> LedgerEntry? { nil }
        func hasPairState() throws -> Bool { false }
        func begin() throws {}
        func lookupPair(hash: Int64, session: UnsafeBufferPointer<UInt8>, productId: Int64) throws -> PairLookup {
            PairLookup(view: nil, location: 0)
        }
        func savePair(hash: Int64, session: UnsafeBufferPointer<UInt8>, productId: Int64, view: CountedView, lookup: PairLookup) throws {}
        func endPairBatch() throws {}
        func appendKeys(firstId: Int, keys: [UnsafeBufferPointer<UInt8>]) throws {}
        func setWatermark(_ t: Int64) throws {}
        func recordFile(_ entry: LedgerEntry) throws {}
        func prunePairs(lastSeenBefore cutoff: Int64) throws -> Int { 0 }
        func lastPruneCutoff() throws -> Int64? { nil }
        func retainedFrom() throws -> [Int64?] { [nil, nil, nil] }
        func commit() throws {}
        func rollback() {}
    }

    struct Event { var et: UInt8, t: Int64, price: Int64, pid: Int64, brand: Int32, l1: Int32, l2: Int32, l3: Int32, sign: Int8 }

    /// Mostly time-ordered events with some late ones and corrections (enough for many flushes).
    func events(_ n: Int, seed: UInt64) -> [Event] {
        var g = seed
        func next(_ m: Int) -> Int { g = g &* 6364136223846793005 &+ 1442695040888963407; return Int((g >> 33) % UInt64(m)) }
        return (0..<n).map { i in
            let late = next(20) == 0
            let t = Int64(1_569_888_000 + i * 7 - (late ? next(100_000) : 0))
            return Event(et: UInt8(next(4)), t: t, price: Int64(next(100_000)), pid: Int64(1_000_000 + next(3000)),
                         brand: Int32(next(200)), l1: Int32(next(10)), l2: Int32(next(40)), l3: Int32(next(90)),
                         sign: next(30) == 0 ? -1 : 1)
        }
    }

    func run(_ evs: [Event], threaded: Bool, dryRun: Bool = false, keptFrom: [Int64]? = nil, statsBatch: Int = 4096,
             widths: [Int64] = [60, 3600, 86400]) throws -> (writes: [String], rows: Int64) {
        let store = RecordingStore()
        let worker = StoreWorker(maxStatsWeight: 1 << 14)
        let a = StatsAggregator(tierWidths: widths, statsBatch: statsBatch, dryRun: dryRun, store: store, worker: worker)
        if let keptFrom { a.keptFrom = keptFrom }
        a.threaded = threaded
        XCTAssertEqual(a.threaded, threaded)
        for e in evs { a.add(e.et, e.t, e.price, e.pid, e.brand, e.l1, e.l2, e.l3, e.sign) }
        let rows = a.finish()
        try worker.drain()
        return (store.writes, rows)
    }

    /// Writes grouped by tier, each tier's in their order.
    func byTier(_ w: [String]) -> [String] {
        ["0", "1", "2"].flatMap { t in w.filter { $0.hasPrefix(t + " ") } }
    }

    /// Equal lists, reported by their first difference (not two dumps of 100 K rows).
    func assertSame(_ a: [String], _ b: [String], file: StaticString = #filePath, line: UInt = #line) {
        guard a != b else { return }
        let i = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
        XCTFail("\(a.count) vs \(b.count) writes; first difference at \(i): \(i < a.count ? a[i] : "-") vs \(i < b.count ? b[i] : "-")", file: file, line: line)
    }

    func testThreadedSumsWriteWhatInlineSumsWrite() throws {
        let evs = events(40_000, seed: 7)
        let inline = try run(evs, threaded: false)
        let threaded = try run(evs, threaded: true)
        XCTAssertGreaterThan(inline.writes.count, 20_000)
        XCTAssertEqual(inline.rows, Int64(inline.writes.count))
        XCTAssertEqual(threaded.rows, inline.rows)
        // Each tier's writes are the same; summing a batch tier by tier interleaves the tiers'
        // flushes differently.
        assertSame(byTier(threaded.writes), byTier(inline.writes))
        // Retention: older buckets of a tier are neither written nor re-created.
        let cut: [Int64] = [1_569_888_000 + 300_000, 1_569_888_000 + 200_000, Int64.min]
        let kInline = try run(evs, threaded: false, keptFrom: cut)
        let kThreaded = try run(evs, threaded: true, keptFrom: cut)
        assertSame(byTier(kThreaded.writes), byTier(kInline.writes))
        XCTAssertFalse(kInline.writes.contains { $0.hasPrefix("0 ") && Int64($0.split(separator: " ")[1])! < cut[0] })
        XCTAssertLessThan(kInline.writes.count, inline.writes.count)
        // A dry run counts the same rows and writes none.
        let dry = try run(evs, threaded: true, dryRun: true)
        XCTAssertEqual(dry.writes, [])
        XCTAssertEqual(dry.rows, inline.rows)
    }

    /// Net sums per (tier, bucket, event type, dimension, key), zeros left out.
    func net(_ writes: [String]) -> [String: [Int64]] {
        var out: [String: [Int64]] = [:]
        for w in writes {
            let f = w.split(separator: " ")
            let k = f[0..<5].joined(separator: " ")
            let s = out[k] ?? [0, 0]
            out[k] = [s[0] + Int64(f[5])!, s[1] + Int64(f[6])!]
        }
        return out.filter { $0.value != [0, 0] }
    }

    /// Every tier summed from the events, as the spec defines the stats (the model).
    func model(_ evs: [Event], widths: [Int64], keptFrom: [Int64]) -> [String: [Int64]] {
        var out: [String: [Int64]] = [:]
        for e in evs {
            for (ti, w) in widths.enumerated() {
                let b = e.t - ((e.t % w) + w) % w
                if b < keptFrom[ti] { continue }
                let keys = [e.pid, Int64(e.brand), Int64(e.l1), Int64(e.l2), Int64(e.l3)]
                for (d, key) in keys.enumerated() {
                    let k = "\(ti) \(b) \(e.et) \(d) \(key)"
                    let s = out[k] ?? [0, 0]
                    out[k] = [s[0] + Int64(e.sign), s[1] + e.price * Int64(e.sign)]
                }
            }
        }
        return out.filter { $0.value != [0, 0] }
    }

    /// Wider tiers are summed from a narrower tier's drained rows; what reaches the store must
    /// still be each tier summed from the events, with retention cuts (a minute bucket no
    /// longer kept still counts in its hour), and with a tier that no narrower one divides.
    func testWiderTiersAddUpToTheEvents() throws {
        let evs = events(12_000, seed: 5)
        let base: Int64 = 1_569_888_000
        let cases: [(widths: [Int64], kept: [Int64])] = [
            ([60, 3600, 86400], [Int64.min, Int64.min, Int64.min]),
            ([60, 3600, 86400], [base + 120_000, base + 60_000, Int64.min]),
            ([60, 3600, 86400], [base + 150_000, Int64.min, base + 86_400]),
            ([60, 90, 3600, 86400], [base + 100_000, Int64.min, base + 50_000, Int64.min]),
        ]
        for (widths, kept) in cases {
            let expected = model(evs, widths: widths, keptFrom: kept)
            XCTAssertGreaterThan(expected.count, 15_000)
            for threaded in [false, true] {
                let got = try run(evs, threaded: threaded, keptFrom: kept, statsBatch: 512, widths: widths)
                let sums = net(got.writes)
                XCTAssertEqual(sums.count, expected.count, "\(widths) \(kept) threaded \(threaded)")
                let wrong = expected.filter { sums[$0.key] != $0.value }
                XCTAssertTrue(wrong.isEmpty, "\(wrong.count) rows differ, e.g. \(wrong.first.map { "\($0.key): \($0.value) vs \(sums[$0.key] ?? [])" } ?? "")")
                let dry = try run(evs, threaded: threaded, dryRun: true, keptFrom: kept, statsBatch: 512, widths: widths)
                XCTAssertEqual(dry.rows, got.rows)
            }
        }
    }

    func testResetDropsEverythingSinceTheLastFinish() throws {
        let evs = events(60_000, seed: 11)
        let expected = try run(Array(evs[40_000...]), threaded: false, statsBatch: 1 << 20)
        let store = RecordingStore()
        let worker = StoreWorker(maxStatsWeight: 1 << 14)
        // A large batch: nothing of the dropped events is flushed before the reset.
        let a = StatsAggregator(tierWidths: [60, 3600, 86400], statsBatch: 1 << 20, dryRun: false, store: store, worker: worker)
        a.threaded = true
        for e in evs[..<40_000] { a.add(e.et, e.t, e.price, e.pid, e.brand, e.l1, e.l2, e.l3, e.sign) }
        a.reset()
        try worker.drain()
        XCTAssertEqual(store.writes, [])
        for e in evs[40_000...] { a.add(e.et, e.t, e.price, e.pid, e.brand, e.l1, e.l2, e.l3, e.sign) }
        let rows = a.finish()
        try worker.drain()
        XCTAssertGreaterThan(expected.writes.count, 10_000)
        assertSame(store.writes, expected.writes)
        XCTAssertEqual(rows, expected.rows)
    }
}
