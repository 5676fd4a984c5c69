/// The in-memory index of the recent dedupe state (`view_state_recent`): pair hash -> row id.
///
/// Contract: holds exactly the rows of the table as of the last load plus what this connection
/// appended since; the owner drops it (and reloads) whenever a rollback or a delete may have
/// changed the table behind it. Row ids encode the merge slice: `id = slice << 56 | sequence`,
/// so one slice's rows are one contiguous id range (a merge reads a range, not the whole
/// table), and new rows go to the right edge of their slice's range.
final class RecentPairIndex {
    /// Slices of the pair space merged in turn: the top four bits of the hash.
    static let slices = 16
    static let sliceShift: Int64 = 56

    @inline(__always) static func slice(of hash: Int64) -> Int { Int(UInt64(bitPattern: hash) >> 60) }
    /// The first row id of `slice`'s range; the range ends before `firstId(slice + 1)`.
    static func firstId(_ slice: Int) -> Int64 { Int64(slice) << sliceShift }

    // Open addressing on the hash itself (already uniformly distributed): one 16-byte slot per
    // entry (key, id); id 0 = empty slot (sequence 0 is never used), -1 = a merged (removed) row.
    private struct Slot { var key: Int64; var id: Int64 }
    private var slots: UnsafeMutablePointer<Slot>
    private var capacity: Int
    private var mask: Int
    /// Live entries.
    private(set) var count = 0
    /// Occupied slots (live and tombstones).
    private var used = 0
    private var nextSequence = [Int64](repeating: 1, count: RecentPairIndex.slices)

    init(capacity want: Int = 1 << 12) {
        var c = 16
        while c < want * 2 { c <<= 1 }
        capacity = c
        mask = c - 1
        slots = .allocate(capacity: c)
        slots.initialize(repeating: Slot(key: 0, id: 0), count: c)
    }

    deinit { slots.deallocate() }

    @inline(__always) private func home(_ hash: Int64) -> Int { Int(truncatingIfNeeded: hash) & mask }

    func get(_ hash: Int64) -> Int64? {
        var i = home(hash)
        while true {
            let s = slots[i]
            if s.id == 0 { return nil }
            if s.key == hash { return s.id > 0 ? s.id : nil }
            i = (i + 1) & mask
        }
    }

    /// Records a row loaded from the table (keeps the slice's next sequence past it).
    func load(hash: Int64, id: Int64) {
        let s = Int(id >> RecentPairIndex.sliceShift)
        let seq = id & ((1 << RecentPairIndex.sliceShift) - 1)
        if s >= 0 && s < RecentPairIndex.slices && seq >= nextSequence[s] { nextSequence[s] = seq + 1 }
        put(hash, id)
    }

    /// The id for a new row of `hash` (the next in its slice's range); the caller inserts it.
    func newId(for hash: Int64) -> Int64 {
        let s = RecentPairIndex.slice(of: hash)
        defer { nextSequence[s] += 1 }
        return RecentPairIndex.firstId(s) | nextSequence[s]
    }

    func put(_ hash: Int64, _ id: Int64) {
        if (used + 1) * 2 > capacity { rehash() }
        var i = home(hash)
        while slots[i].id != 0 {
            if slots[i].key == hash {
                if slots[i].id < 0 { count += 1 }
                slots[i].id = id
                return
            }
            i = (i + 1) & mask
        }
        slots[i] = Slot(key: hash, id: id)
        count += 1
        used += 1
    }

    /// Forgets every row of `slice` (merged into the main state): its entries become
    /// tombstones that lookups step over, so nothing moves.
    func removeSlice(_ slice: Int) {
        for i in 0..<capacity where slots[i].id > 0 && RecentPairIndex.slice(of: slots[i].key) == slice {
            slots[i].id = -1
            count -= 1
        }
    }

    /// Rehashes the live entries (dropping tombstones) into a table a quarter full.
    private func rehash() {
        let old = slots, oldCapacity = capacity
        var c = 16
        while c < (count + 1) * 4 { c <<= 1 }
        capacity = c
        mask = c - 1
        slots = .allocate(capacity: c)
        slots.initialize(repeating: Slot(key: 0, id: 0), count: c)
        count = 0
        used = 0
        for i in 0..<oldCapacity where old[i].id > 0 { put(old[i].key, old[i].id) }
        old.deallocate()
    }
}

/// A Bloom filter over the pair hashes of one slice of `view_state`, persisted in
/// `view_state_filter` so that a lookup of a new pair (most of a tick's) skips the pair index.
///
/// Contract: every pair of its slice in `view_state` is in the filter (pruned pairs may stay:
/// false positives only). `pairs` counts insertions since it was built; past `capacity` the
/// owner rebuilds it from the table.
struct SliceFilter {
    var pairs: Int64
    var words: [UInt64]
    private static let probes = 5

    /// Room for `expected` pairs at about 16 bits each (false positives about 0.1%).
    init(expected: Int64) {
        var n = 1 << 10
        while Int64(n) * 64 < max(1 << 16, expected * 16) { n <<= 1 }
        words = [UInt64](repeating: 0, count: n)
        pairs = 0
    }

    init(pairs: Int64, blob: [UInt8]) {
        self.pairs = pairs
        let n = max(1, blob.count / 8)
        var w = [UInt64](repeating: 0, count: n)
        w.withUnsafeMutableBytes { dst in blob.withUnsafeBytes { src in dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[0..<(n * 8)])) } }
        words = w
    }

    /// Pairs it holds before false positives grow (about 10 bits each).
    var capacity: Int64 { Int64(words.count) * 64 / 10 }

    var blob: [UInt8] { words.withUnsafeBytes { Array($0) } }

    @inline(__always) private static func next(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func insert(_ hash: Int64) {
        let mask = UInt64(words.count * 64 - 1)
        var x = UInt64(bitPattern: hash)
        for _ in 0..<SliceFilter.probes {
            x = SliceFilter.next(x)
            let b = x & mask
            words[Int(b >> 6)] |= 1 << (b & 63)
        }
        pairs += 1
    }

    func mightContain(_ hash: Int64) -> Bool {
        let mask = UInt64(words.count * 64 - 1)
        var x = UInt64(bitPattern: hash)
        for _ in 0..<SliceFilter.probes {
            x = SliceFilter.next(x)
            let b = x & mask
            if words[Int(b >> 6)] & (1 << (b & 63)) == 0 { return false }
        }
        return true
    }
}
