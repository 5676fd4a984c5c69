import CSupport

/// One additive change to a stats row: (tier, bucket, event type, dimension, key) += (events, value).
/// (The tier is the array's; 32 bytes, as millions of them are in flight at once.)
public struct StatDelta: Sendable {
    /// `bucket << 24 | eventType << 8 | dimension`: as a signed integer its order is the store's
    /// key order (bucket, event type, dimension).
    public var head: Int64
    /// The product id for the `product_id` dimension, else the key's dictionary id.
    public var key: Int64
    public var events: Int64
    public var valueCents: Int64
    public var bucket: Int64 { head >> 24 }
    public var eventType: UInt8 { UInt8(truncatingIfNeeded: head >> 8) }
    public var dimension: UInt8 { UInt8(truncatingIfNeeded: head) }
    public init(bucket: Int64, eventType: UInt8, dimension: UInt8, key: Int64, events: Int64, valueCents: Int64) {
        self.init(head: StatDelta.head(bucket: bucket, eventType: eventType, dimension: dimension), key: key,
                  events: events, valueCents: valueCents)
    }
    public init(head: Int64, key: Int64, events: Int64, valueCents: Int64) {
        self.head = head; self.key = key; self.events = events; self.valueCents = valueCents
    }
    /// The store's key order: by head, then key.
    @inline(__always)
    public static func keyOrder(_ a: StatDelta, _ b: StatDelta) -> Bool {
        a.head != b.head ? a.head < b.head : a.key < b.key
    }
    @inline(__always)
    public static func head(bucket: Int64, eventType: UInt8, dimension: UInt8) -> Int64 {
        bucket << 24 | Int64(eventType) << 8 | Int64(dimension)
    }
}

/// The five dimensions every event is counted under, in stored order.
public enum Dimension: UInt8, CaseIterable, Sendable {
    case productId = 0, brand, categoryL1, categoryL2, categoryL3

    public var name: String {
        switch self {
        case .productId: return "product_id"
        case .brand: return "brand"
        case .categoryL1: return "category_l1"
        case .categoryL2: return "category_l2"
        case .categoryL3: return "category_l3"
        }
    }

    public init?(name: String) {
        guard let d = Dimension.allCases.first(where: { $0.name == name }) else { return nil }
        self = d
    }
}

/// A time tier: buckets of `width` seconds, stored in table `stats_<name>`.
public struct Tier: Sendable, Equatable {
    public var name: String
    public var width: Int64
    /// How long (seconds of event time behind the watermark) its buckets are meant to be kept;
    /// nil = unlimited. A policy value: nothing in this module prunes by it.
    public var retention: Int64?
    public init(name: String, width: Int64, retention: Int64? = nil) {
        self.name = name; self.width = width; self.retention = retention
    }
    public static let defaults = [Tier(name: "minute", width: 60), Tier(name: "hour", width: 3600), Tier(name: "day", width: 86400)]
    /// `defaults` with the default retention policy: minute 24 h, hour 31 days, day unlimited.
    public static let defaultPolicy = [Tier(name: "minute", width: 60, retention: 86400),
                                       Tier(name: "hour", width: 3600, retention: 31 * 86400),
                                       Tier(name: "day", width: 86400, retention: nil)]
}

/// Sums one tier's deltas in memory before they reach the store (an open-addressing hash table).
///
/// Contract: memory is bounded by `limit` entries; when full the owner drains it (the sums are
/// additive, so draining early changes nothing but the number of store writes). Keys are a
/// `StatDelta.head` and a key.
final class StatsAccumulator {
    /// One slot: key (head, key) and sums, in one 32-byte record, so a probe touches one cache
    /// line instead of four.
    private struct Slot {
        var head: Int64
        var key: Int64
        var ev: Int64
        var val: Int64
    }

    private var slots: UnsafeMutablePointer<Slot>
    private let cap: Int
    private(set) var count = 0
    let limit: Int
    /// The smallest and largest heads inserted since the table was last rebuilt.
    private var oldestHead = Int64.max, newestHead = Int64.min
    /// No head is -1: its dimension byte would be 0xFF.
    private static let empty: Int64 = -1

    init(limit: Int = 1 << 20) {
        self.limit = limit
        // At most two thirds full: probes stay short (two slots share a cache line), and the
        // minute table is 24 MB instead of the 32 MB a power-of-two capacity would take.
        let c = max(16, limit + limit / 2)
        cap = c
        slots = .allocate(capacity: c)
        adviseHugePages(slots, count: c)
        slots.initialize(repeating: Slot(head: StatsAccumulator.empty, key: 0, ev: 0, val: 0), count: c)
    }

    deinit { slots.deallocate() }

    var isFull: Bool { count >= limit }

    /// Where the probe for a key starts: the hash scaled to the capacity (the high word of
    /// hash * cap), so any capacity works.
    @inline(__always)
    func slot(head h: Int64, key: Int64) -> Int {
        let hash = mix64(UInt64(bitPattern: h) ^ UInt64(bitPattern: key) &* 0x9E37_79B9_7F4A_7C15)
        return Int(truncatingIfNeeded: hash.multipliedFullWidth(by: UInt64(cap)).high)
    }

    /// Asks for a probe's first cache line ahead of the `add(at:...)` that needs it.
    @inline(__always)
    func prefetch(_ slot: Int) { sello_prefetch(slots + slot) }

    @inline(__always)
    func add(head h: Int64, key: Int64, events: Int64, value: Int64) {
        add(at: slot(head: h, key: key), head: h, key: key, events: events, value: value)
    }

    /// `add` with the probe's start from `slot(head:key:)`.
    @inline(__always)
    func add(at start: Int, head h: Int64, key: Int64, events: Int64, value: Int64) {
        var slot = start
        while true {
            let p = slots + slot
            let k = p.pointee.head
            if k == h && p.pointee.key == key {
                p.pointee.ev &+= events
                p.pointee.val &+= value
                return
            }
            if k == StatsAccumulator.empty {
                p.pointee = Slot(head: h, key: key, ev: events, val: value)
                count += 1
                if h > newestHead { newestHead = h }
                if h < oldestHead { oldestHead = h }
                return
            }
            slot += 1
            if slot == cap { slot = 0 }
        }
    }

    /// Empties the table (a failed file's sums).
    func reset() { _ = discard() }

    /// A head such that the entries below it (whole buckets) are about half the table: the
    /// older half, as a full table's first choice to drain. `Int64.max` when it holds one bucket.
    func olderHalf() -> Int64 {
        let lo = oldestHead >> 24, hi = newestHead >> 24
        if count == 0 || lo >= hi { return Int64.max }
        // A histogram of buckets in up to 4096 bins, each bin whole buckets or a bucket.
        let bins = 4096
        let width = (hi - lo) / Int64(bins) + 1
        // In a large table every 16th slot: entries sit at hashed places, so that is a fair
        // sample, and it reads an eighth of the table's cache lines instead of all of them.
        // (The owner drains everything if a drain leaves the table mostly full.)
        let stride = cap >= 1 << 16 ? 16 : 1
        var hist = [Int](repeating: 0, count: bins)
        var n = 0
        var i = 0
        while i < cap {
            let h = slots[i].head
            if h != StatsAccumulator.empty { hist[Int(((h >> 24) - lo) / width)] += 1; n += 1 }
            i += stride
        }
        var below = 0
        for j in 0..<bins {
            below += hist[j]
            if below * 2 >= n { return (lo + Int64(j + 1) * width) << 24 }
        }
        return Int64.max
    }

    /// Empties the table, or with `keepFrom` only of the entries whose head is below it, and
    /// returns how many non-zero deltas it let go (a dry run's count).
    func discard(keepFrom: Int64 = Int64.max) -> Int {
        var n = 0
        take(keepFrom: keepFrom) { e in if e.ev != 0 || e.val != 0 { n += 1 } }
        return n
    }

    /// `discard` that passes each non-zero delta to `body`, in the table's (hashed) order.
    func discard(keepFrom: Int64 = Int64.max, _ body: (StatDelta) -> Void) -> Int {
        var n = 0
        take(keepFrom: keepFrom) { e in
            if e.ev != 0 || e.val != 0 {
                n += 1
                body(StatDelta(head: e.head, key: e.key, events: e.ev, valueCents: e.val))
            }
        }
        return n
    }

    /// Returns the non-zero deltas sorted by (head, key), the store's key order, and empties the
    /// table; with `keepFrom`, only the entries whose head is below it are returned and removed.
    /// `visit` sees each of them first, in the table's order (as `discard`'s body does).
    ///
    /// Why keep some: events come roughly in time order (views when their pair is resolved, in
    /// time order too), so when a table fills, its newer buckets are still filling. Draining
    /// them would write their rows now and update them at the next drain, and an update costs
    /// the store about three times an insert.
    func drain(keepFrom: Int64 = Int64.max, _ visit: ((StatDelta) -> Void)? = nil) -> [StatDelta] {
        // Exact capacity: arrays grown by appending hold up to twice their rows, and a drained
        // batch lives until the store thread has written its last piece.
        var out = [StatDelta]()
        var drained = count
        if keepFrom != Int64.max {
            // A partial drain takes about half: count it rather than hold twice the room.
            drained = 0
            for i in 0..<cap where slots[i].head != StatsAccumulator.empty && slots[i].head < keepFrom { drained += 1 }
        }
        out.reserveCapacity(drained)
        take(keepFrom: keepFrom) { e in
            if e.ev != 0 || e.val != 0 {
                let d = StatDelta(head: e.head, key: e.key, events: e.ev, valueCents: e.val)
                out.append(d)
                visit?(d)
            }
        }
        StatsAccumulator.sortByKey(&out)
        return out
    }

    /// Sorts deltas by (head, key), the store's key order.
    ///
    /// Why not `sort`: Swift's merge sort on these 32-byte records was a tenth of the reading
    /// thread's time (2.8 s of a 5 M-row ingest). Within one drain the buckets, the
    /// (event type, dimension) pairs and the keys each span a small range, so the three usually
    /// pack into one 64-bit number whose order is theirs; those are radix-sorted with the
    /// records' places, and the records gathered. Ranges too wide to pack take `sort`.
    static func sortByKey(_ a: inout [StatDelta]) {
        let n = a.count
        if n < 256 {
            a.sort(by: StatDelta.keyOrder)
            return
        }
        var bLo = Int64.max, bHi = Int64.min, lLo = Int64.max, lHi = Int64.min, kLo = Int64.max, kHi = Int64.min
        for d in a {
            let b = d.head >> 24, l = d.head & 0xFF_FFFF
            if b < bLo { bLo = b }
            if b > bHi { bHi = b }
            if l < lLo { lLo = l }
            if l > lHi { lHi = l }
            if d.key < kLo { kLo = d.key }
            if d.key > kHi { kHi = d.key }
        }
        func bits(_ lo: Int64, _ hi: Int64) -> Int { 64 - UInt64(bitPattern: hi &- lo).leadingZeroBitCount }
        let bb = bits(bLo, bHi), lb = bits(lLo, lHi), kb = bits(kLo, kHi)
        // A range wider than 2^62 wraps in the subtraction: such keys take `sort` too.
        guard bb + lb + kb <= 64, bHi &- bLo >= 0, kHi &- kLo >= 0 else {
            a.sort(by: StatDelta.keyOrder)
            return
        }
        // Packed key and the record's place, twice (source and target of a pass).
        let keys = UnsafeMutablePointer<UInt64>.allocate(capacity: 2 * n)
        let ids = UnsafeMutablePointer<UInt32>.allocate(capacity: 2 * n)
        defer { keys.deallocate(); ids.deallocate() }
        a.withUnsafeBufferPointer { src in
            for i in 0..<n {
                let d = src[i]
                let b = UInt64(bitPattern: (d.head >> 24) &- bLo), l = UInt64(bitPattern: (d.head & 0xFF_FFFF) &- lLo)
                let k = UInt64(bitPattern: d.key &- kLo)
                keys[i] = (b << (lb + kb)) | (l << kb) | k
                ids[i] = UInt32(i)
            }
        }
        // LSD, 11 bits a pass, over the packed width only; every digit's counts come from one
        // pass, and a digit all keys share is skipped.
        let digitBits = 11, radix = 1 << 11, mask = UInt64(radix - 1)
        let passes = (bb + lb + kb + digitBits - 1) / digitBits
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: radix * max(1, passes))
        defer { counts.deallocate() }
        counts.initialize(repeating: 0, count: radix * max(1, passes))
        for i in 0..<n {
            let k = keys[i]
            for p in 0..<passes { counts[p * radix + Int((k >> UInt64(p * digitBits)) & mask)] += 1 }
        }
        var from = 0, to = n
        for p in 0..<passes {
            let c = counts + p * radix
            let shift = UInt64(p * digitBits)
            if c[Int((keys[from] >> shift) & mask)] == n { continue }
            var sum = 0
            for r in 0..<radix { let x = c[r]; c[r] = sum; sum += x }
            for i in 0..<n {
                let k = keys[from + i]
                let r = Int((k >> shift) & mask)
                let at = to + c[r]
                keys[at] = k
                ids[at] = ids[from + i]
                c[r] += 1
            }
            swap(&from, &to)
        }
        // Records put in place by following the permutation's cycles (no second array: the
        // drained batch is the largest thing alive at that moment). `ids[from + j]` is the
        // record that goes to j; a moved place is marked with its own index.
        let perm = ids + from
        a.withUnsafeMutableBufferPointer { rec in
            for i in 0..<n where perm[i] != UInt32(i) {
                let first = rec[i]
                var j = i
                while true {
                    let k = Int(perm[j])
                    perm[j] = UInt32(j)
                    if k == i { rec[j] = first; break }
                    rec[j] = rec[k]
                    j = k
                }
            }
        }
    }

    /// Removes the entries whose head is below `keepFrom`, passing each to `body`, in one sweep
    /// of the table: each entry kept moves back to the first hole on its probe path, so no probe
    /// run is broken and nothing is inserted again (random writes into tens of MB).
    private func take(keepFrom: Int64, _ body: (Slot) -> Void) {
        if count == 0 { return }
        let empty = StatsAccumulator.empty
        // Start after a hole: no probe run crosses it, so every entry's start is behind it in
        // the sweep, and the entries already swept are where a probe finds them.
        var start = 0
        while slots[start].head != empty { start += 1 }
        var oldest = Int64.max, newest = Int64.min
        var i = start
        for _ in 0..<cap {
            i += 1
            if i == cap { i = 0 }
            let e = slots[i]
            if e.head == empty { continue }
            if e.head < keepFrom {
                body(e)
                slots[i].head = empty
                count -= 1
                continue
            }
            if e.head < oldest { oldest = e.head }
            if e.head > newest { newest = e.head }
            var j = slot(head: e.head, key: e.key)
            while j != i && slots[j].head != empty {
                j += 1
                if j == cap { j = 0 }
            }
            if j != i {
                slots[j] = e
                slots[i].head = empty
            }
        }
        oldestHead = oldest
        newestHead = newest
    }
}
