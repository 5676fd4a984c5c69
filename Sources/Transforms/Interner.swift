#if canImport(Glibc)
import Glibc
#endif

/// A stable 64-bit hash of bytes. It is part of the store format (the view-dedupe state is keyed
/// by it), so it must never change.
@inline(__always)
public func stableHash(_ p: UnsafePointer<UInt8>?, _ n: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> UInt64 {
    var h = seed ^ (UInt64(n) &* 0xFF51_AFD7_ED55_8CCD)
    guard let p else { return mix64(h) }
    let raw = UnsafeRawPointer(p)
    var i = 0
    while i + 8 <= n {
        let w = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
        h = (h ^ mix64(w)) &* 0x9E37_79B9_7F4A_7C15
        h = (h << 31) | (h >> 33)
        i += 8
    }
    if i < n {
        var w: UInt64 = 0
        var s: UInt64 = 0
        while i < n { w |= UInt64(p[i]) << s; s += 8; i += 1 }
        h = (h ^ mix64(w)) &* 0x9E37_79B9_7F4A_7C15
    }
    return mix64(h)
}

@inline(__always)
public func mix64(_ x0: UInt64) -> UInt64 {
    var x = x0
    x ^= x >> 30; x = x &* 0xBF58_476D_1CE4_E5B9
    x ^= x >> 27; x = x &* 0x94D0_49BB_1331_11EB
    x ^= x >> 31
    return x
}

/// Maps byte strings to dense ids 0, 1, 2... in first-seen order, and back.
///
/// Contract: ids are assigned in insertion order and never change; `truncate(to:)` forgets the
/// newest ids (used to roll back a failed file). Memory grows with distinct strings only.
public final class Interner {
    private var arena: UnsafeMutablePointer<UInt8>
    private var arenaCap: Int
    private var arenaUsed = 0
    private var offsets: [Int] = [0]
    private var hashes: [UInt64] = []
    private var table: UnsafeMutablePointer<Int32>
    private var mask: Int

    public var count: Int { hashes.count }

    public init(capacity: Int = 1 << 12) {
        var c = 16
        while c < capacity * 2 { c <<= 1 }
        mask = c - 1
        table = .allocate(capacity: c)
        adviseHugePages(table, count: c)
        table.initialize(repeating: 0, count: c)
        arenaCap = 1 << 16
        arena = .allocate(capacity: arenaCap)
    }

    deinit {
        table.deallocate()
        arena.deallocate()
    }

    @inline(__always)
    public func bytes(_ id: Int32) -> UnsafeBufferPointer<UInt8> {
        let s = offsets[Int(id)]
        return UnsafeBufferPointer(start: arena + s, count: offsets[Int(id) + 1] - s)
    }

    public func string(_ id: Int32) -> String {
        String(decoding: bytes(id), as: UTF8.self)
    }

    /// Returns the id of the bytes, adding them when new.
    @inline(__always)
    public func intern(_ p: UnsafePointer<UInt8>?, _ n: Int) -> Int32 {
        let h = stableHash(p, n)
        var slot = Int(truncatingIfNeeded: h) & mask
        while true {
            let v = table[slot]
            if v == 0 { break }
            let id = Int(v - 1)
            if hashes[id] == h {
                let s = offsets[id]
                if offsets[id + 1] - s == n && (n == 0 || memcmp(arena + s, p!, n) == 0) { return Int32(id) }
            }
            slot = (slot + 1) & mask
        }
        let id = hashes.count
        if arenaUsed + n > arenaCap {
            var nc = arenaCap * 2
            while nc < arenaUsed + n { nc *= 2 }
            let na = UnsafeMutablePointer<UInt8>.allocate(capacity: nc)
            na.update(from: arena, count: arenaUsed)
            arena.deallocate()
            arena = na
            arenaCap = nc
        }
        if n > 0 { (arena + arenaUsed).update(from: p!, count: n) }
        arenaUsed += n
        offsets.append(arenaUsed)
        hashes.append(h)
        table[slot] = Int32(id + 1)
        if hashes.count * 2 > mask + 1 { rehash((mask + 1) * 2) }
        return Int32(id)
    }

    /// The id of the bytes when they were added, else nil (nothing is added).
    @inline(__always)
    public func find(_ p: UnsafePointer<UInt8>?, _ n: Int) -> Int32? {
        let h = stableHash(p, n)
        var slot = Int(truncatingIfNeeded: h) & mask
        while true {
            let v = table[slot]
            if v == 0 { return nil }
            let id = Int(v - 1)
            if hashes[id] == h {
                let s = offsets[id]
                if offsets[id + 1] - s == n && (n == 0 || memcmp(arena + s, p!, n) == 0) { return Int32(id) }
            }
            slot = (slot + 1) & mask
        }
    }

    public func intern(_ s: String) -> Int32 {
        var s = s
        return s.withUTF8 { intern($0.baseAddress, $0.count) }
    }

    private func rehash(_ newCap: Int) {
        table.deallocate()
        mask = newCap - 1
        table = .allocate(capacity: newCap)
        adviseHugePages(table, count: newCap)
        table.initialize(repeating: 0, count: newCap)
        for (id, h) in hashes.enumerated() {
            var slot = Int(truncatingIfNeeded: h) & mask
            while table[slot] != 0 { slot = (slot + 1) & mask }
            table[slot] = Int32(id + 1)
        }
    }

    /// Forgets every id >= `n`.
    public func truncate(to n: Int) {
        guard n < count else { return }
        hashes.removeLast(count - n)
        offsets.removeLast(offsets.count - (n + 1))
        arenaUsed = offsets[n]
        rehash(mask + 1)
    }

    /// Lexicographic byte order of two ids' texts.
    public func less(_ a: Int32, _ b: Int32) -> Bool {
        if a == b { return false }
        let x = bytes(a), y = bytes(b)
        let n = min(x.count, y.count)
        let c = n == 0 ? 0 : memcmp(x.baseAddress!, y.baseAddress!, n)
        return c != 0 ? c < 0 : x.count < y.count
    }
}
