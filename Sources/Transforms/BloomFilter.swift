/// A Bloom filter over 64-bit hashes: `mightContain` is false only for hashes never inserted.
/// Used to skip store lookups for (session, product) pairs the store cannot hold.
final class BloomFilter {
    private let bits: UnsafeMutablePointer<UInt64>
    private let mask: UInt64
    /// Nothing inserted yet: every answer is false without reading the bits (a dry run's
    /// evictions of expired pairs insert nothing, and each read was a cache miss).
    private var isEmpty = true

    /// `log2Bits` bits of memory (26 -> 8 MiB).
    init(log2Bits: Int = 26) {
        let words = 1 << (log2Bits - 6)
        bits = .allocate(capacity: words)
        adviseHugePages(bits, count: words)
        bits.initialize(repeating: 0, count: words)
        mask = (1 << UInt64(log2Bits)) - 1
    }

    deinit { bits.deallocate() }

    @inline(__always)
    func insert(_ h: UInt64) {
        isEmpty = false
        var x = h
        for _ in 0..<3 {
            let b = x & mask
            bits[Int(b >> 6)] |= 1 << (b & 63)
            x = mix64(x)
        }
    }

    @inline(__always)
    func mightContain(_ h: UInt64) -> Bool {
        if isEmpty { return false }
        var x = h
        for _ in 0..<3 {
            let b = x & mask
            if bits[Int(b >> 6)] & (1 << (b & 63)) == 0 { return false }
            x = mix64(x)
        }
        return true
    }
}
