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

    // Open addressing on the hash itself (already uniformly distributed): keys and ids side by
    // side, 0 = empty id (row ids start at 1 in every slice: sequence 0 is never used).
    private var keys: [Int64]
    private var ids: [Int64]
    private var mask: Int
    private(set) var count = 0
    private var nextSequence = [Int64](repeating: 1, count: RecentPairIndex.slices)

    init(capacity: Int = 1 << 12) {
        var c = 16
        while c < capacity * 2 { c <<= 1 }
        keys = [Int64](repeating: 0, count: c)
        ids = [Int64](repeating: 0, count: c)
        mask = c - 1
    }

    @inline(__always) private func home(_ hash: Int64) -> Int {
        Int(truncatingIfNeeded: hash) & mask
    }

    func get(_ hash: Int64) -> Int64? {
        var i = home(hash)
        while true {
            let id = ids[i]
            if id == 0 { return nil }
            if keys[i] == hash { return id }
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
        if (count + 1) * 2 > keys.count { grow() }
        var i = home(hash)
        while ids[i] != 0 {
            if keys[i] == hash { ids[i] = id; return }
            i = (i + 1) & mask
        }
        keys[i] = hash
        ids[i] = id
        count += 1
    }

    /// Forgets every row of `slice` (merged into the main state).
    func removeSlice(_ slice: Int) {
        let oldKeys = keys, oldIds = ids
        for i in ids.indices { ids[i] = 0 }
        count = 0
        for i in oldIds.indices where oldIds[i] != 0 && RecentPairIndex.slice(of: oldKeys[i]) != slice {
            put(oldKeys[i], oldIds[i])
        }
    }

    private func grow() {
        let oldKeys = keys, oldIds = ids
        keys = [Int64](repeating: 0, count: oldKeys.count * 2)
        ids = [Int64](repeating: 0, count: oldKeys.count * 2)
        mask = keys.count - 1
        count = 0
        for i in oldIds.indices where oldIds[i] != 0 { put(oldKeys[i], oldIds[i]) }
    }
}
