#if canImport(Glibc)
import Glibc
#endif

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

    private(set) var entries: [Entry] = []
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
        table.initialize(repeating: 0, count: c)
        // 48 bytes a pair (a REES46 session is a 36-byte UUID); pages untouched cost no memory.
        arenaCap = limit * 48
        arena = .allocate(capacity: arenaCap)
        entries.reserveCapacity(limit)
    }

    deinit { table.deallocate(); arena.deallocate() }

    /// Full at `limit` pairs, or when the session text has used seven eighths of its arena
    /// (sessions longer than 42 bytes on average). The arena's slack is relative: a fixed
    /// slack larger than a small map's arena made it full when empty, and resolved every view.
    var isFull: Bool { entries.count >= limit || arenaUsed > arenaCap - arenaCap / 8 }
    var isEmpty: Bool { entries.isEmpty }

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
        let h = PendingViews.pairHash(p, n, productId)
        var slot = Int(truncatingIfNeeded: h) & mask
        while true {
            let v = table[slot]
            if v == 0 { break }
            let i = Int(v - 1)
            if entries[i].hash == h && entries[i].productId == productId && Int(entries[i].sessionLength) == n
                && memcmp(arena + Int(entries[i].sessionOffset), p, n) == 0 {
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
        entries.append(Entry(hash: h, productId: productId, view: view, sessionOffset: UInt32(arenaUsed), sessionLength: UInt32(n), views: 1))
        arenaUsed += n
        table[slot] = Int32(entries.count)
        return nil
    }

    /// Counts one more view of entry `i`; `replace` when that view is the one that counts now.
    @inline(__always)
    func merge(at i: Int, view: CountedView, replace: Bool) {
        entries.withUnsafeMutableBufferPointer { b in
            let last = max(b[i].view.lastSeen, view.lastSeen)
            if replace { b[i].view = view }
            b[i].view.lastSeen = last
            b[i].views += 1
        }
    }

    @inline(__always)
    func view(at i: Int) -> CountedView { entries[i].view }

    /// Removes the `count` least recently seen entries and hands them over in hash order (the
    /// store's key order); keeps the rest. With `count >= entries.count` it empties the map.
    /// `ordered: false` hands them over in any order (when the store is not touched).
    ///
    /// The session text handed to `body` lives in the map's arena: it stays valid until
    /// `finish` returns, which runs after the last entry and before the survivors move down.
    /// A caller that holds on to evicted entries must finish with them in `finish`.
    func evict(coldest count: Int, ordered: Bool = true, _ body: (Entry, UnsafeBufferPointer<UInt8>) throws -> Void,
               finish: () throws -> Void = {}) rethrows {
        if count >= entries.count {
            if ordered {
                for i in PendingViews.hashOrder(entries, entries.indices) { try body(entries[i], session(entries[i])) }
            } else {
                for e in entries { try body(e, session(e)) }
            }
            try finish()
            clear()
            return
        }
        // The cutoff: the count-th smallest lastSeen (ties may evict a few more).
        var times = entries.map(\.view.lastSeen)
        times.sort()
        let cutoff = times[count - 1]
        times = []
        var out: [Int] = []
        out.reserveCapacity(count)
        for i in entries.indices where entries[i].view.lastSeen <= cutoff { out.append(i) }
        if ordered {
            for i in PendingViews.hashOrder(entries, out) { try body(entries[i], session(entries[i])) }
        } else {
            for i in out { try body(entries[i], session(entries[i])) }
        }
        try finish()
        out = []
        // Compact the survivors in place: entries keep their order and arena offsets grow with
        // it, so every move goes to a lower address and never overwrites a survivor not yet moved.
        var used = 0
        var kept = 0
        table.update(repeating: 0, count: mask + 1)
        entries.withUnsafeMutableBufferPointer { b in
            for i in 0..<b.count where b[i].view.lastSeen > cutoff {
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
        entries.removeLast(entries.count - kept)
        arenaUsed = used
    }

    /// Indices ordered by the hash as a signed integer (the store's key order).
    static func hashOrder<C: Collection>(_ entries: [Entry], _ indices: C) -> [Int] where C.Element == Int {
        var keyed = indices.map { (Int64(bitPattern: entries[$0].hash), $0) }
        keyed.withUnsafeMutableBufferPointer { $0.sort { $0.0 < $1.0 } }
        return keyed.map(\.1)
    }

    func clear() {
        entries.removeAll(keepingCapacity: true)
        arenaUsed = 0
        table.update(repeating: 0, count: mask + 1)
    }
}
