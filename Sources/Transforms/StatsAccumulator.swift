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

/// Sums one tier's deltas in memory before they reach the store: a small open-addressing table
/// per time bucket.
///
/// Contract: memory is bounded (`limit` entries, or 1.5 times that many slots); when full the
/// owner drains it (the sums are additive, so draining early changes nothing but the number of
/// store writes). Keys are a `StatDelta.head` and a key. A drain takes whole buckets, oldest
/// first, and passes on each bucket's entries in its table's order, so the same adds and drains
/// always hand over the same rows in the same order.
///
/// Why a table per bucket: events come roughly in time order (new views too: an eviction counts
/// them oldest first), so a minute's events land in one table of a few KB that stays in the
/// cache. One table of tens of MB for all buckets waited for memory at nearly every add (the
/// summing thread's largest cost, and a wider tier's roll-up of drained rows too), and each
/// drain swept all of it.
final class StatsAccumulator {
    /// One entry: key (head, key) and sums, in one 32-byte record (two share a cache line).
    private struct Slot {
        var head: Int64
        var key: Int64
        var ev: Int64
        var val: Int64
    }

    /// One bucket's table: `mask + 1` slots, a power of two, at most three quarters full.
    private struct Table {
        var slots: UnsafeMutablePointer<Slot>
        var mask: Int
        /// 64 - log2(capacity): a Fibonacci hash's top bits pick the slot.
        var shift: UInt64
        var count: Int
        var bucket: Int64
    }

    /// The live tables, in no order (raw storage: no uniqueness check or retain per add).
    private var tables: UnsafeMutablePointer<Table>
    private var tableCount = 0, tableCapacity = 64
    /// Bucket -> index in `tables` + 1 (0: empty slot), open addressing; rebuilt after a drain.
    private var directory: UnsafeMutablePointer<Int32>
    private var directoryMask = 0
    private var directoryShift: UInt64 = 0
    /// The table of the last bucket added to: consecutive events are mostly in one bucket.
    private var lastBucket = Int64.min, lastTable = 0
    private(set) var count = 0
    /// Slots allocated over all tables.
    private(set) var slotsHeld = 0
    let limit: Int
    private let slotBudget: Int
    /// No head is -1: its dimension byte would be 0xFF.
    private static let empty: Int64 = -1
    private static let emptySlot = Slot(head: -1, key: 0, ev: 0, val: 0)
    /// A new bucket's capacity: small, as a bucket of a sparse hour may hold a few entries.
    private static let firstCapacity = 8
    private static let golden: UInt64 = 0x9E37_79B9_7F4A_7C15

    init(limit: Int = 1 << 20) {
        self.limit = limit
        // The memory one table of `limit` entries at most two thirds full took. Tables are
        // between three eighths and three quarters full, so a table may fill by slots a little
        // before it holds `limit` entries: on the 5 M benchmark 9,846,512 rows against
        // 9,844,548 with twice the slots, and 18 MB less at the peak of an ingest.
        slotBudget = limit + limit / 2
        tables = .allocate(capacity: tableCapacity)
        directory = .allocate(capacity: 1)
        resizeDirectory(to: 2 * tableCapacity)
    }

    deinit {
        for i in 0..<tableCount { tables[i].slots.deallocate() }
        tables.deallocate()
        directory.deallocate()
    }

    var isFull: Bool { count >= limit || slotsHeld >= slotBudget }

    /// Still near full after a partial drain (then the owner drains the rest too).
    var mostlyFull: Bool { count > limit * 3 / 4 || slotsHeld > slotBudget * 3 / 4 }

    @inline(__always)
    private static func slot(_ h: Int64, _ key: Int64, _ shift: UInt64) -> Int {
        // The bucket is the table's: only the event type, dimension and key are hashed.
        let x = UInt64(bitPattern: key) &+ (UInt64(truncatingIfNeeded: h & 0xFF_FFFF) << 40)
        return Int(truncatingIfNeeded: (x &* golden) >> shift)
    }

    @inline(__always)
    func add(head h: Int64, key: Int64, events: Int64, value: Int64) {
        let b = h >> 24
        if b != lastBucket {
            lastTable = table(bucket: b)
            lastBucket = b
        }
        let t = tables + lastTable
        let slots = t.pointee.slots, mask = t.pointee.mask
        var i = StatsAccumulator.slot(h, key, t.pointee.shift)
        while true {
            let p = slots + i
            let k = p.pointee.head
            if k == h && p.pointee.key == key {
                p.pointee.ev &+= events
                p.pointee.val &+= value
                return
            }
            if k == StatsAccumulator.empty {
                p.pointee = Slot(head: h, key: key, ev: events, val: value)
                count += 1
                t.pointee.count += 1
                if t.pointee.count * 4 > (mask + 1) * 3 { grow(lastTable) }
                return
            }
            i = (i + 1) & mask
        }
    }

    /// The index of a bucket's table, made when new.
    private func table(bucket b: Int64) -> Int {
        var i = Int(truncatingIfNeeded: (UInt64(bitPattern: b) &* StatsAccumulator.golden) >> directoryShift)
        while true {
            let v = directory[i]
            if v == 0 { break }
            if tables[Int(v) - 1].bucket == b { return Int(v) - 1 }
            i = (i + 1) & directoryMask
        }
        if tableCount == tableCapacity {
            let grown = UnsafeMutablePointer<Table>.allocate(capacity: tableCapacity * 2)
            grown.moveInitialize(from: tables, count: tableCount)
            tables.deallocate()
            tables = grown
            tableCapacity *= 2
        }
        // Half the capacity of the table last added to (the previous bucket, mostly): busy
        // buckets then grow once or not at all instead of five times (growing was a quarter of
        // the summing).
        var c = StatsAccumulator.firstCapacity
        if lastBucket != Int64.min { c = max(c, (tables[lastTable].mask + 1) / 2) }
        let slots = UnsafeMutablePointer<Slot>.allocate(capacity: c)
        slots.initialize(repeating: StatsAccumulator.emptySlot, count: c)
        (tables + tableCount).initialize(to: Table(slots: slots, mask: c - 1, shift: UInt64(64 - c.trailingZeroBitCount), count: 0, bucket: b))
        slotsHeld += c
        tableCount += 1
        directory[i] = Int32(tableCount)
        if tableCount * 2 > directoryMask + 1 { resizeDirectory(to: (directoryMask + 1) * 2) }
        return tableCount - 1
    }

    private func resizeDirectory(to capacity: Int) {
        directory.deallocate()
        directory = .allocate(capacity: capacity)
        directory.initialize(repeating: 0, count: capacity)
        directoryMask = capacity - 1
        directoryShift = UInt64(64 - capacity.trailingZeroBitCount)
        for t in 0..<tableCount {
            var i = Int(truncatingIfNeeded: (UInt64(bitPattern: tables[t].bucket) &* StatsAccumulator.golden) >> directoryShift)
            while directory[i] != 0 { i = (i + 1) & directoryMask }
            directory[i] = Int32(t + 1)
        }
    }

    /// Doubles a table's capacity.
    private func grow(_ ti: Int) {
        let old = tables[ti]
        let c = (old.mask + 1) * 2
        let slots = UnsafeMutablePointer<Slot>.allocate(capacity: c)
        slots.initialize(repeating: StatsAccumulator.emptySlot, count: c)
        let shift = UInt64(64 - c.trailingZeroBitCount)
        for j in 0...old.mask where old.slots[j].head != StatsAccumulator.empty {
            let e = old.slots[j]
            var i = StatsAccumulator.slot(e.head, e.key, shift)
            while slots[i].head != StatsAccumulator.empty { i = (i + 1) & (c - 1) }
            slots[i] = e
        }
        old.slots.deallocate()
        tables[ti].slots = slots
        tables[ti].mask = c - 1
        tables[ti].shift = shift
        slotsHeld += c - (old.mask + 1)
    }

    /// Empties the table (a failed file's sums).
    func reset() { _ = discard() }

    /// A head such that the entries below it (whole buckets, oldest first) are about half the
    /// entries: a full table's first choice to drain. `Int64.max` when it holds one bucket.
    func olderHalf() -> Int64 {
        if tableCount < 2 { return Int64.max }
        let order = bucketOrder()
        var below = 0
        for j in 0..<(order.count - 1) {
            below += tables[order[j]].count
            if below * 2 >= count { return tables[order[j + 1]].bucket << 24 }
        }
        // The newest bucket holds more than half: everything older goes.
        return tables[order[order.count - 1]].bucket << 24
    }

    /// Table indices, oldest bucket first.
    private func bucketOrder() -> [Int] {
        (0..<tableCount).sorted { tables[$0].bucket < tables[$1].bucket }
    }

    /// Empties the table, or with `keepFrom` only of the entries whose head is below it, and
    /// returns how many non-zero deltas it let go (a dry run's count).
    func discard(keepFrom: Int64 = Int64.max) -> Int {
        var n = 0
        take(keepFrom: keepFrom) { e in if e.ev != 0 || e.val != 0 { n += 1 } }
        return n
    }

    /// `discard` that passes each non-zero delta to `body`, in drain order (see the type).
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
    /// `visit` sees each of them first, in drain order (as `discard`'s body does).
    ///
    /// Why keep some: events come roughly in time order (views when their pair is resolved, in
    /// time order too), so when a table fills, its newer buckets are still filling. Draining
    /// them would write their rows now and update them at the next drain, and an update costs
    /// the store about three times an insert.
    func drain(keepFrom: Int64 = Int64.max, _ visit: ((StatDelta) -> Void)? = nil) -> [StatDelta] {
        // Exact capacity: arrays grown by appending hold up to twice their rows, and a drained
        // batch lives until the store thread has written its last piece.
        var out = [StatDelta]()
        var drained = 0
        for t in 0..<tableCount where tables[t].bucket << 24 < keepFrom { drained += tables[t].count }
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

    /// Removes the entries whose head is below `keepFrom`, passing each to `body`: buckets
    /// oldest first, each in its table's order. (`body` must not add to this table.)
    private func take(keepFrom: Int64, _ body: (Slot) -> Void) {
        if tableCount == 0 { return }
        var kept = [Table]()
        for ti in bucketOrder() {
            let t = tables[ti]
            let lowest = t.bucket << 24
            if lowest >= keepFrom {
                kept.append(t)
                continue
            }
            if lowest | 0xFF_FFFF < keepFrom {
                for j in 0...t.mask where t.slots[j].head != StatsAccumulator.empty { body(t.slots[j]) }
                count -= t.count
                slotsHeld -= t.mask + 1
                t.slots.deallocate()
                continue
            }
            // The cut falls inside this bucket (only a caller's own cut can): the entries below
            // go, the rest are added again to a cleared table.
            var rest = [Slot]()
            for j in 0...t.mask where t.slots[j].head != StatsAccumulator.empty {
                if t.slots[j].head < keepFrom { body(t.slots[j]) } else { rest.append(t.slots[j]) }
            }
            t.slots.update(repeating: StatsAccumulator.emptySlot, count: t.mask + 1)
            var u = t
            u.count = rest.count
            for e in rest {
                var i = StatsAccumulator.slot(e.head, e.key, u.shift)
                while u.slots[i].head != StatsAccumulator.empty { i = (i + 1) & u.mask }
                u.slots[i] = e
            }
            count -= t.count - rest.count
            kept.append(u)
        }
        // The kept tables, oldest first, and a directory for them.
        for (i, t) in kept.enumerated() { tables[i] = t }
        tableCount = kept.count
        lastBucket = Int64.min
        resizeDirectory(to: directoryMask + 1)
    }
}
