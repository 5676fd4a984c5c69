#if canImport(Glibc)
import Glibc
#endif

/// Views with a session seen in the current chunk of a file, reduced to the best (earliest) view
/// per (session, product) pair, waiting to be resolved against the store's dedupe state.
///
/// Contract: bounded by `limit` pairs; the owner resolves and clears it when full and at the end
/// of every file.
final class PendingViews {
    struct Entry {
        var hash: UInt64
        var sessionOffset: Int
        var sessionLength: Int
        var productId: Int64
        var view: CountedView
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
        arenaCap = limit * 40
        arena = .allocate(capacity: arenaCap)
        entries.reserveCapacity(limit)
    }

    deinit { table.deallocate(); arena.deallocate() }

    var isFull: Bool { entries.count >= limit || arenaUsed > arenaCap - (1 << 20) }
    var isEmpty: Bool { entries.isEmpty }

    static func pairHash(_ session: UnsafePointer<UInt8>, _ n: Int, _ productId: Int64) -> UInt64 {
        mix64(stableHash(session, n) ^ (UInt64(bitPattern: productId) &* 0xC2B2_AE3D_27D4_EB4F))
    }

    func session(_ e: Entry) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: arena + e.sessionOffset, count: e.sessionLength)
    }

    /// Adds a view; `better` decides which of two views of one pair counts.
    @inline(__always)
    func offer(session p: UnsafePointer<UInt8>, _ n: Int, productId: Int64, view: CountedView,
               better: (CountedView, CountedView) -> Bool) {
        let h = PendingViews.pairHash(p, n, productId)
        var slot = Int(truncatingIfNeeded: h) & mask
        while true {
            let v = table[slot]
            if v == 0 { break }
            let i = Int(v - 1)
            if entries[i].hash == h && entries[i].productId == productId && entries[i].sessionLength == n
                && memcmp(arena + entries[i].sessionOffset, p, n) == 0 {
                var e = entries[i]
                let last = max(e.view.lastSeen, view.lastSeen)
                if better(view, e.view) { e.view = view }
                e.view.lastSeen = last
                e.views += 1
                entries[i] = e
                return
            }
            slot = (slot + 1) & mask
        }
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
        entries.append(Entry(hash: h, sessionOffset: arenaUsed, sessionLength: n, productId: productId, view: view, views: 1))
        arenaUsed += n
        table[slot] = Int32(entries.count)
    }

    /// Entries in hash order (the store's key order), then forgets them.
    func drain(_ body: (Entry, UnsafeBufferPointer<UInt8>) throws -> Void) rethrows {
        let order = entries.indices.sorted { Int64(bitPattern: entries[$0].hash) < Int64(bitPattern: entries[$1].hash) }
        for i in order { try body(entries[i], session(entries[i])) }
        clear()
    }

    func clear() {
        entries.removeAll(keepingCapacity: true)
        arenaUsed = 0
        table.update(repeating: 0, count: mask + 1)
    }
}
