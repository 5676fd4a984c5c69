/// An open-addressing hash index (linear probing, power-of-two size) over dense ids 0, 1, 2...
/// whose keys the caller keeps (in arrays indexed by id): `FileAggregate`'s per-event lookups,
/// without SipHash, `Hashable` boxing or a Dictionary's rehash-on-copy checks.
///
/// Contract: `find` with a hash and a key compare returns the matching id, or nil and the slot
/// where `insert` (called next, before any other change) puts the next id. Hashes must be well
/// mixed in their low bits. The table doubles at half full, so a file never pays more than
/// a few growths; `removeAll` empties it and keeps its size.
final class IdTable {
    private var slots: UnsafeMutablePointer<Int32>
    private var mask: Int
    /// Per id its hash: compared before the caller's key, and what a growth rehashes.
    private var hashes: UnsafeMutablePointer<UInt64>
    private(set) var count = 0

    init(capacity: Int = 1 << 10) {
        var c = 16
        while c < capacity * 2 { c <<= 1 }
        mask = c - 1
        slots = .allocate(capacity: c)
        slots.initialize(repeating: 0, count: c)
        hashes = .allocate(capacity: c / 2 + 1)
    }

    deinit {
        slots.deallocate()
        hashes.deallocate()
    }

    /// The id among those with hash `h` for which `matches` holds; else nil, and the slot
    /// to `insert` at.
    @inline(__always)
    func find(_ h: UInt64, _ matches: (Int) -> Bool) -> (id: Int?, slot: Int) {
        var slot = Int(truncatingIfNeeded: h) & mask
        while true {
            let v = slots[slot]
            if v == 0 { return (nil, slot) }
            let id = Int(v) - 1
            if hashes[id] == h && matches(id) { return (id, slot) }
            slot = (slot + 1) & mask
        }
    }

    /// Adds the next id (`count` before the call) at `slot`, from the `find` that just failed.
    @inline(__always)
    @discardableResult
    func insert(_ h: UInt64, at slot: Int) -> Int {
        let id = count
        hashes[id] = h
        slots[slot] = Int32(id + 1)
        count += 1
        if count * 2 > mask + 1 { grow() }
        return id
    }

    func removeAll() {
        count = 0
        slots.update(repeating: 0, count: mask + 1)
    }

    private func grow() {
        let c = (mask + 1) * 2
        slots.deallocate()
        mask = c - 1
        slots = .allocate(capacity: c)
        slots.initialize(repeating: 0, count: c)
        let nh = UnsafeMutablePointer<UInt64>.allocate(capacity: c / 2 + 1)
        nh.update(from: hashes, count: count)
        hashes.deallocate()
        hashes = nh
        for id in 0..<count {
            var slot = Int(truncatingIfNeeded: hashes[id]) & mask
            while slots[slot] != 0 { slot = (slot + 1) & mask }
            slots[slot] = Int32(id + 1)
        }
    }
}
