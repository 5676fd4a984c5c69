#if canImport(Glibc)
import Glibc
#endif
import CSupport

/// Views with a session seen in the current chunk of a file, reduced to the best (earliest) view
/// per (session, product) pair, waiting to be resolved against the store's dedupe state.
///
/// Contract: bounded by `limit` pairs; the owner resolves and clears it when full and at the end
/// of every file.
final class PendingViews {
    /// 72 bytes: a million pending pairs cost about 110 MB with their session text and table.
    struct Entry {
        var hash: UInt64
        var productId: Int64
        var view: CountedView
        var sessionOffset: UInt32
        var sessionLength: UInt32
        var views: Int64
    }

    /// The pairs, in the order they were added (survivors of an eviction keep their order).
    /// Raw storage, not an array: a read through an array property costs a retain and a
    /// release of its buffer, and the probes read it once or twice a view.
    var entries: UnsafeMutableBufferPointer<Entry> { UnsafeMutableBufferPointer(start: entryBase, count: entryCount) }
    private var entryBase: UnsafeMutablePointer<Entry>
    private var entryCount = 0
    private var entryCap: Int
    private var arena: UnsafeMutablePointer<UInt8>
    private var arenaCap: Int
    private var arenaUsed = 0
    private var table: UnsafeMutablePointer<Int32>
    private let mask: Int
    let limit: Int

    init(limit: Int = 1 << 19) {
        self.limit = limit
        var c = 16
        while c < limit * 2 { c <<= 1 }
        mask = c - 1
        table = .allocate(capacity: c)
        adviseHugePages(table, count: c)
        table.initialize(repeating: 0, count: c)
        // 48 bytes a pair (a REES46 session is a 36-byte UUID); pages untouched cost no memory.
        arenaCap = limit * 48
        arena = .allocate(capacity: arenaCap)
        adviseHugePages(arena, count: arenaCap)
        entryCap = max(16, limit)
        entryBase = .allocate(capacity: entryCap)
        adviseHugePages(entryBase, count: entryCap)
    }

    deinit { table.deallocate(); arena.deallocate(); entryBase.deallocate() }

    /// Full at `limit` pairs, or when the session text has used seven eighths of its arena
    /// (sessions longer than 42 bytes on average). The arena's slack is relative: a fixed
    /// slack larger than a small map's arena made it full when empty, and resolved every view.
    var isFull: Bool { entryCount >= limit || arenaUsed > arenaCap - arenaCap / 8 }
    var isEmpty: Bool { entryCount == 0 }

    static func pairHash(_ session: UnsafePointer<UInt8>, _ n: Int, _ productId: Int64) -> UInt64 {
        mix64(stableHash(session, n) ^ (UInt64(bitPattern: productId) &* 0xC2B2_AE3D_27D4_EB4F))
    }

    func session(_ e: Entry) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: arena + Int(e.sessionOffset), count: Int(e.sessionLength))
    }

    /// Adds a view of a pair not yet pending and returns nil, or returns the index of the pair's
    /// entry (the caller merges with `merge(at:view:replace:)`).
    @inline(__always)
    func offer(session p: UnsafePointer<UInt8>, _ n: Int, productId: Int64, view: CountedView) -> Int? {
        offer(hash: PendingViews.pairHash(p, n, productId), session: p, n, productId: productId, view: view)
    }

    /// Asks for the table slot where a pair's probe starts (`hash` from `pairHash`), ahead of
    /// its `offer`.
    @inline(__always)
    func prefetchSlot(hash h: UInt64) { sello_prefetch(table + (Int(truncatingIfNeeded: h) & mask)) }

    /// Asks for the entry the pair's first slot points to (the slot itself asked for earlier).
    @inline(__always)
    func prefetchEntry(hash h: UInt64) {
        let v = table[Int(truncatingIfNeeded: h) & mask]
        if v != 0 { sello_prefetch(entryBase + Int(v - 1)) }
    }

    /// `offer` with the pair's hash from `pairHash`.
    @inline(__always)
    func offer(hash h: UInt64, session p: UnsafePointer<UInt8>, _ n: Int, productId: Int64, view: CountedView) -> Int? {
        var slot = Int(truncatingIfNeeded: h) & mask
        while true {
            let v = table[slot]
            if v == 0 { break }
            let i = Int(v - 1)
            let e = entryBase + i
            if e.pointee.hash == h && e.pointee.productId == productId && Int(e.pointee.sessionLength) == n
                && memcmp(arena + Int(e.pointee.sessionOffset), p, n) == 0 {
                return i
            }
            slot = (slot + 1) & mask
        }
        precondition(arenaUsed + n < Int(UInt32.max), "pending session text above 4 GiB")
        if arenaUsed + n > arenaCap {
            // A pathological session length: grow rather than fail.
            let nc = max(arenaCap * 2, arenaUsed + n)
            let na = UnsafeMutablePointer<UInt8>.allocate(capacity: nc)
            na.update(from: arena, count: arenaUsed)
            arena.deallocate()
            arena = na
            arenaCap = nc
        }
        (arena + arenaUsed).update(from: p, count: n)
        if entryCount == entryCap {
            // Offered past `limit` without resolving (the owner checks `isFull` after each offer).
            let nc = entryCap * 2
            let nb = UnsafeMutablePointer<Entry>.allocate(capacity: nc)
            nb.moveInitialize(from: entryBase, count: entryCount)
            entryBase.deallocate()
            entryBase = nb
            entryCap = nc
        }
        (entryBase + entryCount).initialize(to: Entry(hash: h, productId: productId, view: view, sessionOffset: UInt32(arenaUsed),
                                                        sessionLength: UInt32(n), views: 1))
        entryCount += 1
        arenaUsed += n
        table[slot] = Int32(entryCount)
        return nil
    }

    /// Counts one more view of entry `i`; `replace` when that view is the one that counts now.
    @inline(__always)
    func merge(at i: Int, view: CountedView, replace: Bool) {
        let e = entryBase + i
        let last = max(e.pointee.view.lastSeen, view.lastSeen)
        if replace { e.pointee.view = view }
        e.pointee.view.lastSeen = last
        e.pointee.views += 1
    }

    @inline(__always)
    func view(at i: Int) -> CountedView { entryBase[i].view }

    /// How many entries were last seen before `t` (`evict(coldest:)` with that count takes
    /// exactly them).
    func count(lastSeenBefore t: Int64) -> Int {
        var n = 0
        for e in entries where e.view.lastSeen < t { n += 1 }
        return n
    }

    /// Removes the `count` least recently seen entries and hands them over in hash order (the
    /// store's key order); keeps the rest. With `count >= entries.count` it empties the map.
    /// `ordered: false` hands them over in any order (when the store is not touched).
    ///
    /// The session text handed to `body` lives in the map's arena: it stays valid until
    /// `finish` returns, which runs after the last entry and before the survivors move down.
    /// A caller that holds on to evicted entries must finish with them in `finish`; `body` also
    /// gets each entry's index in `entries`, where it stays until `finish` returns.
    func evict(coldest count: Int, ordered: Bool = true, _ body: (Int, Entry, UnsafeBufferPointer<UInt8>) throws -> Void,
               finish: () throws -> Void = {}) rethrows {
        let entries = self.entries
        if count >= entries.count {
            if ordered {
                try handOver(PendingViews.hashOrder(UnsafeBufferPointer(entries), entries.indices), body)
            } else {
                for (i, e) in entries.enumerated() { try body(i, e, session(e)) }
            }
            try finish()
            clear()
            return
        }
        // The cutoff: the count-th smallest lastSeen (ties may evict a few more).
        let cutoff = PendingViews.kthSmallest(entries.map(\.view.lastSeen), count)
        var out: [Int] = []
        out.reserveCapacity(count)
        for i in entries.indices where entries[i].view.lastSeen <= cutoff { out.append(i) }
        if ordered {
            try handOver(PendingViews.hashOrder(UnsafeBufferPointer(entries), out), body)
        } else {
            for i in out { try body(i, entries[i], session(entries[i])) }
        }
        try finish()
        out = []
        // Compact the survivors in place: entries keep their order and arena offsets grow with
        // it, so every move goes to a lower address and never overwrites a survivor not yet moved.
        var used = 0
        var kept = 0
        table.update(repeating: 0, count: mask + 1)
        do {
            let b = entries
            for i in 0..<b.count where b[i].view.lastSeen > cutoff {
                // The table slots are random places too: asked for ahead (survivor or not).
                if i + 16 < b.count { sello_prefetch(table + (Int(truncatingIfNeeded: b[i + 16].hash) & mask)) }
                var e = b[i]
                let n = Int(e.sessionLength)
                if Int(e.sessionOffset) != used { memmove(arena + used, arena + Int(e.sessionOffset), n) }
                e.sessionOffset = UInt32(used)
                used += n
                b[kept] = e
                kept += 1
                var slot = Int(truncatingIfNeeded: e.hash) & mask
                while table[slot] != 0 { slot = (slot + 1) & mask }
                table[slot] = Int32(kept)
            }
        }
        entryCount = kept
        arenaUsed = used
    }

    /// Calls `body` with the entries at `order`: random places in tens of MB, so each entry is
    /// asked for a few ahead (half of an eviction's time was waiting for them).
    private func handOver(_ order: [Int], _ body: (Int, Entry, UnsafeBufferPointer<UInt8>) throws -> Void) rethrows {
        let ahead = 8
        let e = entryBase
        for (j, i) in order.enumerated() {
            if j + ahead < order.count { sello_prefetch(e + order[j + ahead]) }
            try body(i, e[i], session(e[i]))
        }
    }

    /// Indices ordered by the hash as a signed integer (the store's key order), equal hashes by
    /// index: an LSD radix sort, 11 bits a pass (a comparison sort of the evicted half took a
    /// twentieth of a dry run).
    static func hashOrder<C: Collection>(_ entries: [Entry], _ indices: C) -> [Int] where C.Element == Int {
        entries.withUnsafeBufferPointer { hashOrder($0, indices) }
    }

    static func hashOrder<C: Collection>(_ entries: UnsafeBufferPointer<Entry>, _ indices: C) -> [Int] where C.Element == Int {
        let n = indices.count
        // Only the top three digits (bits 33-63) are sorted on: keys that share them are next
        // to each other afterwards (a handful in a million), and a last pass orders those few
        // runs. Each pass scatters every key to one of 2048 places; three passes, not six.
        let bits = 11, radix = 1 << 11, passes = (64 + bits - 1) / bits, digit = UInt64(radix - 1)
        let first = passes / 2
        // Keys and ids side by side, twice (source and target of a pass), and the digit counts.
        let keys = UnsafeMutablePointer<UInt64>.allocate(capacity: 2 * n + 1)
        let ids = UnsafeMutablePointer<Int32>.allocate(capacity: 2 * n + 1)
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: radix * passes)
        defer { keys.deallocate(); ids.deallocate(); counts.deallocate() }
        counts.initialize(repeating: 0, count: radix * passes)
        var m = 0
        do {
            let e = entries
            for i in indices {
                // Flipping the sign bit makes the unsigned order the signed one.
                let k = e[i].hash ^ (1 << 63)
                keys[m] = k; ids[m] = Int32(i); m += 1
                for p in first..<passes { counts[p * radix + Int((k >> UInt64(p * bits)) & digit)] += 1 }
            }
        }
        var src = 0, dst = n
        for p in first..<passes {
            let c = counts + p * radix
            // A digit every key shares moves nothing: skip its pass.
            if n == 0 || c[Int((keys[src] >> UInt64(p * bits)) & digit)] == n { continue }
            var sum = 0
            for d in 0..<radix { let x = c[d]; c[d] = sum; sum += x }
            for j in 0..<n {
                let k = keys[src + j]
                let d = Int((k >> UInt64(p * bits)) & digit)
                let at = c[d]
                c[d] = at + 1
                keys[dst + at] = k; ids[dst + at] = ids[src + j]
            }
            swap(&src, &dst)
        }
        let k = keys + src, d = ids + src
        var runStart = 0
        for j in 1..<max(1, n + 1) where j == n || k[j] >> 33 != k[runStart] >> 33 {
            // Insertion sort of a run by (key, index), the order a full sort gives.
            if j - runStart > 1 {
                for a in (runStart + 1)..<j {
                    let key = k[a], id = d[a]
                    var b = a
                    while b > runStart && (k[b - 1] > key || (k[b - 1] == key && d[b - 1] > id)) { k[b] = k[b - 1]; d[b] = d[b - 1]; b -= 1 }
                    k[b] = key; d[b] = id
                }
            }
            runStart = j
        }
        return (0..<n).map { Int(d[$0]) }
    }

    /// The `k`-th smallest of `values` (1-based): a histogram of the range narrows it to one
    /// bin, which alone is sorted (sorting all million times was a tenth of an eviction).
    static func kthSmallest(_ values: [Int64], _ k: Int) -> Int64 {
        precondition(k >= 1 && k <= values.count)
        guard let lo = values.min(), let hi = values.max(), lo != hi else { return values[0] }
        let bins = 4096
        // Bin width rounded up, so (hi - lo) / width < bins (the range may exceed Int64).
        let span = UInt64(bitPattern: hi &- lo)
        let width = span / UInt64(bins) + 1
        @inline(__always) func bin(_ v: Int64) -> Int { Int(UInt64(bitPattern: v &- lo) / width) }
        var counts = [Int](repeating: 0, count: bins)
        for v in values { counts[bin(v)] += 1 }
        var before = 0, b = 0
        while before + counts[b] < k { before += counts[b]; b += 1 }
        var inBin = values.filter { bin($0) == b }
        inBin.sort()
        return inBin[k - before - 1]
    }

    func clear() {
        entryCount = 0
        arenaUsed = 0
        table.update(repeating: 0, count: mask + 1)
    }
}
