/// One additive change to a stats row: (tier, bucket, event type, dimension, key) += (events, value).
public struct StatDelta: Sendable {
    public var bucket: Int64
    public var eventType: UInt8
    public var dimension: UInt8
    /// The product id for the `product_id` dimension, else the key's dictionary id.
    public var key: Int64
    public var events: Int64
    public var valueCents: Int64
    public init(bucket: Int64, eventType: UInt8, dimension: UInt8, key: Int64, events: Int64, valueCents: Int64) {
        self.bucket = bucket; self.eventType = eventType; self.dimension = dimension; self.key = key
        self.events = events; self.valueCents = valueCents
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

/// Sums deltas in memory before they reach the store (an open-addressing hash table).
///
/// Contract: memory is bounded by `limit` entries; when full the owner drains it (the sums are
/// additive, so draining early changes nothing but the number of store writes).
final class StatsAccumulator {
    /// One slot: key (hi, lo) and sums, in one 32-byte cache-line-friendly record, so a probe
    /// touches one cache line instead of four.
    /// Key: hi = bucket << 24 | tier << 16 | eventType << 8 | dimension; lo = key.
    private struct Slot {
        var hi: UInt64
        var lo: Int64
        var ev: Int64
        var val: Int64
    }

    private var slots: UnsafeMutablePointer<Slot>
    private let cap: Int
    private let mask: Int
    private(set) var count = 0
    let limit: Int
    private static let empty = UInt64.max

    init(limit: Int = 1 << 20) {
        self.limit = limit
        var c = 16
        while c < limit * 2 { c <<= 1 }
        cap = c
        mask = c - 1
        slots = .allocate(capacity: c)
        slots.initialize(repeating: Slot(hi: StatsAccumulator.empty, lo: 0, ev: 0, val: 0), count: c)
    }

    deinit { slots.deallocate() }

    var isFull: Bool { count >= limit }

    @inline(__always)
    func add(hi h: UInt64, key: Int64, events: Int64, value: Int64) {
        var slot = Int(truncatingIfNeeded: mix64(h ^ UInt64(bitPattern: key) &* 0x9E37_79B9_7F4A_7C15)) & mask
        while true {
            let p = slots + slot
            let k = p.pointee.hi
            if k == h && p.pointee.lo == key {
                p.pointee.ev &+= events
                p.pointee.val &+= value
                return
            }
            if k == StatsAccumulator.empty {
                p.pointee = Slot(hi: h, lo: key, ev: events, val: value)
                count += 1
                return
            }
            slot = (slot + 1) & mask
        }
    }

    /// Empties the table and returns how many non-zero deltas it held (a dry run's count).
    func discard() -> Int {
        var n = 0
        for i in 0..<cap where slots[i].hi != StatsAccumulator.empty {
            if slots[i].ev != 0 || slots[i].val != 0 { n += 1 }
            slots[i].hi = StatsAccumulator.empty
        }
        count = 0
        return n
    }

    /// Returns the non-zero deltas per tier, each sorted by (bucket, event type, dimension, key),
    /// and empties the table.
    func drain(tiers: Int) -> [[StatDelta]] {
        var out = drainUnsorted(tiers: tiers)
        for t in 0..<tiers { StatsAccumulator.sort(&out[t]) }
        return out
    }

    /// The non-zero deltas per tier in table order; empties the table. (The sort, the costly part,
    /// can then run on another thread.)
    func drainUnsorted(tiers: Int) -> [[StatDelta]] {
        // Exact capacities: arrays grown by appending hold up to twice their rows, and up to
        // three drained batches are alive at once (one queued on the store thread, one applied).
        var sizes = [Int](repeating: 0, count: tiers)
        for i in 0..<cap where slots[i].hi != StatsAccumulator.empty { sizes[Int((slots[i].hi >> 16) & 0xFF)] += 1 }
        var out = [[StatDelta]](repeating: [], count: tiers)
        for t in 0..<tiers { out[t].reserveCapacity(sizes[t]) }
        for i in 0..<cap where slots[i].hi != StatsAccumulator.empty {
            let e = slots[i]
            if e.ev != 0 || e.val != 0 {
                let h = e.hi
                out[Int((h >> 16) & 0xFF)].append(StatDelta(bucket: Int64(h >> 24), eventType: UInt8((h >> 8) & 0xFF), dimension: UInt8(h & 0xFF),
                                                            key: e.lo, events: e.ev, valueCents: e.val))
            }
            slots[i].hi = StatsAccumulator.empty
        }
        count = 0
        return out
    }

    /// Sorts deltas into the store's key order (bucket, event type, dimension, key).
    static func sort(_ d: inout [StatDelta]) {
        d.sort { a, b in
            if a.bucket != b.bucket { return a.bucket < b.bucket }
            if a.eventType != b.eventType { return a.eventType < b.eventType }
            if a.dimension != b.dimension { return a.dimension < b.dimension }
            return a.key < b.key
        }
    }
}
