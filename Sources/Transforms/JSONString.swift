/// The escaped path of a JSON string, shared by the JSON Lines reader (`JSONObjectScanner`) and
/// the clickstream `JSONWalker`: both scan unescaped strings in place and come here only when
/// a string holds a backslash.
enum JSONString {
    /// Decodes the string whose text starts at `p[s]` (just after the opening quote; `i` is at
    /// the first byte not yet copied, `s <= i`) into `scratch` from `sp`, through the closing
    /// quote. Returns the decoded bytes (in `scratch`), or nil for invalid JSON: a control
    /// byte, an unknown escape, a bad `\u` (lone or reversed surrogates), or no closing quote.
    /// Escapes never grow the text (`\uXXXX`, 6 bytes, is at most 3 bytes of UTF-8; a surrogate
    /// pair, 12, is 4), so scratch sized to the input always suffices.
    static func decode(_ p: UnsafePointer<UInt8>, _ i: inout Int, _ e: Int, from s: Int,
                       into scratch: UnsafeMutablePointer<UInt8>, _ sp: inout Int) -> (UnsafePointer<UInt8>, Int)? {
        let start = sp
        for k in s..<i { scratch[sp] = p[k]; sp += 1 }
        while i < e {
            let b = p[i]
            if b == 0x22 { i += 1; return (UnsafePointer(scratch + start), sp - start) }
            if b < 0x20 { return nil }
            if b != 0x5C { scratch[sp] = b; sp += 1; i += 1; continue }
            i += 1
            guard i < e else { return nil }
            let c = p[i]; i += 1
            switch c {
            case 0x22, 0x5C, 0x2F: scratch[sp] = c; sp += 1
            case UInt8(ascii: "b"): scratch[sp] = 8; sp += 1
            case UInt8(ascii: "f"): scratch[sp] = 12; sp += 1
            case UInt8(ascii: "n"): scratch[sp] = 10; sp += 1
            case UInt8(ascii: "r"): scratch[sp] = 13; sp += 1
            case UInt8(ascii: "t"): scratch[sp] = 9; sp += 1
            case UInt8(ascii: "u"):
                guard var cp = hex4(p, &i, e) else { return nil }
                if cp >= 0xD800 && cp < 0xDC00 {
                    guard i + 1 < e, p[i] == 0x5C, p[i + 1] == UInt8(ascii: "u") else { return nil }
                    i += 2
                    guard let lo = hex4(p, &i, e), lo >= 0xDC00 && lo < 0xE000 else { return nil }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                } else if cp >= 0xDC00 && cp < 0xE000 { return nil }
                putUTF8(cp, scratch, &sp)
            default: return nil
            }
        }
        return nil
    }

    private static func hex4(_ p: UnsafePointer<UInt8>, _ i: inout Int, _ e: Int) -> UInt32? {
        guard i + 4 <= e else { return nil }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = p[i]; i += 1
            v <<= 4
            switch c {
            case 0x30...0x39: v |= UInt32(c - 0x30)
            case 0x61...0x66: v |= UInt32(c - 0x61 + 10)
            case 0x41...0x46: v |= UInt32(c - 0x41 + 10)
            default: return nil
            }
        }
        return v
    }

    private static func putUTF8(_ cp: UInt32, _ scratch: UnsafeMutablePointer<UInt8>, _ sp: inout Int) {
        if cp < 0x80 { scratch[sp] = UInt8(cp); sp += 1 }
        else if cp < 0x800 { scratch[sp] = UInt8(0xC0 | (cp >> 6)); scratch[sp + 1] = UInt8(0x80 | (cp & 0x3F)); sp += 2 }
        else if cp < 0x10000 {
            scratch[sp] = UInt8(0xE0 | (cp >> 12)); scratch[sp + 1] = UInt8(0x80 | ((cp >> 6) & 0x3F)); scratch[sp + 2] = UInt8(0x80 | (cp & 0x3F)); sp += 3
        } else {
            scratch[sp] = UInt8(0xF0 | (cp >> 18)); scratch[sp + 1] = UInt8(0x80 | ((cp >> 12) & 0x3F))
            scratch[sp + 2] = UInt8(0x80 | ((cp >> 6) & 0x3F)); scratch[sp + 3] = UInt8(0x80 | (cp & 0x3F)); sp += 4
        }
    }
}
