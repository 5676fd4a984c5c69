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
    /// No head is -1: its dimension byte would be 0xFF.
    private static let empty: Int64 = -1

    init(limit: Int = 1 << 20) {
        self.limit = limit
        // At most two thirds full: probes stay short (two slots share a cache line), and the
        // minute table is 24 MB instead of the 32 MB a power-of-two capacity would take.
        let c = max(16, limit + limit / 2)
        cap = c
        slots = .allocate(capacity: c)
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
                return
            }
            slot += 1
            if slot == cap { slot = 0 }
        }
    }

    /// Empties the table (a failed file's sums).
    func reset() { _ = discard() }

    /// Empties the table and returns how many non-zero deltas it held (a dry run's count).
    func discard() -> Int {
        var n = 0
        for i in 0..<cap where slots[i].head != StatsAccumulator.empty {
            if slots[i].ev != 0 || slots[i].val != 0 { n += 1 }
            slots[i].head = StatsAccumulator.empty
        }
        count = 0
        return n
    }

    /// Returns the non-zero deltas sorted by (head, key), the store's key order, and empties the
    /// table.
    func drain() -> [StatDelta] {
        // Exact capacity: arrays grown by appending hold up to twice their rows, and a drained
        // batch lives until the store thread has written its last piece.
        var out = [StatDelta]()
        out.reserveCapacity(count)
        for i in 0..<cap where slots[i].head != StatsAccumulator.empty {
            let e = slots[i]
            slots[i].head = StatsAccumulator.empty
            if e.ev != 0 || e.val != 0 {
                out.append(StatDelta(head: e.head, key: e.key, events: e.ev, valueCents: e.val))
            }
        }
        count = 0
        out.sort { $0.head != $1.head ? $0.head < $1.head : $0.key < $1.key }
        return out
    }
}
