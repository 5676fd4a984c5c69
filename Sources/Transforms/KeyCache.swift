/// A direct-mapped cache from short byte strings (up to `maxLength` bytes) to three `Int32`s,
/// in front of a slower, exact lookup (the key dictionary, or a category code's levels).
///
/// Contract: `get` returns the values last `set` for exactly these bytes, or nil (never found,
/// evicted by another string with the same slot, or too long). Nothing is ever wrong, only
/// missing, so the owner clears it whenever what it caches may change (a rolled-back file).
///
/// Why: brands and category codes repeat on every row from a few thousand distinct strings.
/// The key dictionary hashes the whole string, then reads its table, hash list, offsets and text
/// at four places; here a slot comes from the length and two words, and holds the text itself.
final class KeyCache {
    static let maxLength = 48
    /// Per entry: length (Int32, -1 empty), three values, then the text: 64 bytes.
    private static let stride = 64
    private let base: UnsafeMutableRawPointer
    private let shift: UInt64
    private let count: Int

    init(entries: Int = 4096) {
        var c = 16
        while c < entries { c <<= 1 }
        count = c
        shift = UInt64(64 - c.trailingZeroBitCount)
        base = .allocate(byteCount: c * KeyCache.stride, alignment: 64)
        clear()
    }

    deinit { base.deallocate() }

    func clear() {
        for i in 0..<count { base.storeBytes(of: -1, toByteOffset: i * KeyCache.stride, as: Int32.self) }
    }

    @inline(__always)
    private func entry(_ p: UnsafePointer<UInt8>, _ n: Int) -> UnsafeMutableRawPointer {
        let w = KeyCache.words(p, n)
        let h = (w.0 &* 0x9E37_79B9_7F4A_7C15 ^ w.1 &+ UInt64(n)) &* 0xBF58_476D_1CE4_E5B9
        return base + Int(truncatingIfNeeded: h >> shift) * KeyCache.stride
    }

    /// The first and the last eight bytes (overlapping when shorter than 16; zero-padded
    /// when shorter than 8, read byte by byte: the field may end its buffer).
    @inline(__always)
    private static func words(_ p: UnsafePointer<UInt8>, _ n: Int) -> (UInt64, UInt64) {
        if n >= 8 {
            let r = UnsafeRawPointer(p)
            return (r.loadUnaligned(as: UInt64.self), r.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self))
        }
        var w: UInt64 = 0
        for i in 0..<n { w |= UInt64(p[i]) << UInt64(8 * i) }
        return (w, 0)
    }

    @inline(__always)
    func get(_ p: UnsafePointer<UInt8>, _ n: Int) -> (Int32, Int32, Int32)? {
        guard n <= KeyCache.maxLength else { return nil }
        let e = entry(p, n)
        guard e.load(as: Int32.self) == Int32(n) else { return nil }
        let t = UnsafeRawPointer(e + 16)
        let r = UnsafeRawPointer(p)
        if n >= 8 {
            var i = 0
            while i + 8 <= n {
                if t.loadUnaligned(fromByteOffset: i, as: UInt64.self) != r.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return nil }
                i += 8
            }
            if i < n && t.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self) != r.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self) {
                return nil
            }
        } else {
            for i in 0..<n where t.load(fromByteOffset: i, as: UInt8.self) != p[i] { return nil }
        }
        return (e.load(fromByteOffset: 4, as: Int32.self), e.load(fromByteOffset: 8, as: Int32.self),
                e.load(fromByteOffset: 12, as: Int32.self))
    }

    func set(_ p: UnsafePointer<UInt8>, _ n: Int, _ v: (Int32, Int32, Int32)) {
        guard n <= KeyCache.maxLength else { return }
        let e = entry(p, n)
        e.storeBytes(of: Int32(n), as: Int32.self)
        e.storeBytes(of: v.0, toByteOffset: 4, as: Int32.self)
        e.storeBytes(of: v.1, toByteOffset: 8, as: Int32.self)
        e.storeBytes(of: v.2, toByteOffset: 12, as: Int32.self)
        (e + 16).copyMemory(from: p, byteCount: n)
    }
}

/// A direct-mapped cache from product ids to an `Int32` (the brand id an empty brand is filled
/// with: the product id as text, in the key dictionary). Same contract as `KeyCache`.
final class ProductIdCache {
    private let keys: UnsafeMutablePointer<Int64>
    private let values: UnsafeMutablePointer<Int32>
    private let shift: UInt64
    private let count: Int
    /// Never a product id (they are not negative).
    private static let empty = Int64.min

    init(entries: Int = 4096) {
        var c = 16
        while c < entries { c <<= 1 }
        count = c
        shift = UInt64(64 - c.trailingZeroBitCount)
        keys = .allocate(capacity: c)
        values = .allocate(capacity: c)
        values.initialize(repeating: 0, count: c)
        keys.initialize(repeating: ProductIdCache.empty, count: c)
    }

    deinit { keys.deallocate(); values.deallocate() }

    func clear() { keys.update(repeating: ProductIdCache.empty, count: count) }

    @inline(__always)
    private func slot(_ pid: Int64) -> Int { Int(truncatingIfNeeded: (UInt64(bitPattern: pid) &* 0x9E37_79B9_7F4A_7C15) >> shift) }

    @inline(__always)
    func get(_ pid: Int64) -> Int32? {
        let i = slot(pid)
        return keys[i] == pid ? values[i] : nil
    }

    @inline(__always)
    func set(_ pid: Int64, _ v: Int32) {
        let i = slot(pid)
        keys[i] = pid
        values[i] = v
    }
}
