/// Parsers for the retail columns. Each returns nil for a value the spec rejects.
public enum ValueParsers {
    /// Event types in their stored order.
    public static let eventTypeNames = ["view", "cart", "remove_from_cart", "purchase"]
    public static let view: UInt8 = 0

    /// `view`, `cart`, `remove_from_cart`, `purchase` after ASCII lower-casing.
    @inline(__always)
    public static func eventType(_ f: Field) -> UInt8? {
        guard let p = f.base else { return nil }
        @inline(__always) func lc(_ b: UInt8) -> UInt8 { (b >= 65 && b <= 90) ? b | 0x20 : b }
        switch f.count {
        case 4:
            if lc(p[0]) == 0x76 && lc(p[1]) == 0x69 && lc(p[2]) == 0x65 && lc(p[3]) == 0x77 { return 0 }  // view
            if lc(p[0]) == 0x63 && lc(p[1]) == 0x61 && lc(p[2]) == 0x72 && lc(p[3]) == 0x74 { return 1 }  // cart
            return nil
        case 8:
            return matchLower(p, "purchase") ? 3 : nil
        case 16:
            return matchLower(p, "remove_from_cart") ? 2 : nil
        default:
            return nil
        }
    }

    @inline(__always)
    static func matchLower(_ p: UnsafePointer<UInt8>, _ s: StaticString) -> Bool {
        let q = s.utf8Start
        for i in 0..<s.utf8CodeUnitCount {
            var b = p[i]
            if b >= 65 && b <= 90 { b |= 0x20 }
            if b != q[i] { return false }
        }
        return true
    }

    /// A whole number: ASCII digits only, at most 18 of them (a JSON number must be integral).
    @inline(__always)
    public static func productId(_ f: Field) -> Int64? {
        guard let p = f.base, f.count > 0, f.count <= 18 else { return nil }
        var v: Int64 = 0
        for i in 0..<f.count {
            let d = p[i] &- 0x30
            if d > 9 { return nil }
            v = v &* 10 &+ Int64(d)
        }
        return v
    }

    /// A non-negative decimal `digits[.digits]` to integer cents, rounding halves away from zero
    /// beyond two decimals. At least one digit; at most 15 integer digits.
    @inline(__always)
    public static func priceCents(_ f: Field) -> Int64? {
        guard let p = f.base, f.count > 0 else { return nil }
        var i = 0
        let n = f.count
        // A sign is never valid: negative prices are rejected, and so is "-0.00".
        if p[0] == UInt8(ascii: "-") { return nil }
        var whole: Int64 = 0
        var intDigits = 0
        while i < n {
            let d = p[i] &- 0x30
            if d > 9 { break }
            whole = whole &* 10 &+ Int64(d)
            intDigits += 1
            i += 1
        }
        if intDigits > 15 { return nil }
        var frac: Int64 = 0
        var fracDigits = 0
        var roundUp = false
        if i < n && p[i] == UInt8(ascii: ".") {
            i += 1
            while i < n {
                let d = p[i] &- 0x30
                if d > 9 { return nil }
                if fracDigits < 2 { frac = frac * 10 + Int64(d) }
                else if fracDigits == 2 { roundUp = d >= 5 }
                fracDigits += 1
                i += 1
            }
        }
        if i != n || intDigits + fracDigits == 0 { return nil }
        if fracDigits == 1 { frac *= 10 }
        var cents = whole * 100 + frac
        if roundUp { cents += 1 }
        return cents
    }

    /// Seconds since the Unix epoch (UTC) for the spec's time formats; fractions are dropped.
    /// Text: `YYYY-MM-DD HH:MM:SS UTC`, the same without ` UTC`, ISO 8601
    /// `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM|±HHMM)`; no zone means UTC. A JSON number is Unix
    /// seconds, or milliseconds when above 10^11. Years 1970-9999 only.
    @inline(__always)
    /// " UTC" as four bytes read from memory (little-endian).
    static let utcSuffix: UInt32 = 0x4354_5520

    public static func eventTime(_ f: Field) -> Int64? {
        guard let p = f.base, f.count > 0 else { return nil }
        if f.isNumber { return epochNumber(p, f.count) }
        let n = f.count
        guard n >= 19 else { return nil }
        @inline(__always) func d2(_ i: Int) -> Int? {
            let a = p[i] &- 0x30, b = p[i + 1] &- 0x30
            return (a <= 9 && b <= 9) ? Int(a) * 10 + Int(b) : nil
        }
        guard let y1 = d2(0), let y2 = d2(2), p[4] == 0x2D, let mo = d2(5), p[7] == 0x2D, let d = d2(8),
              p[10] == 0x20 || p[10] == UInt8(ascii: "T"),
              let h = d2(11), p[13] == 0x3A, let mi = d2(14), p[16] == 0x3A, let s = d2(17)
        else { return nil }
        let y = y1 * 100 + y2
        guard y >= 1970, mo >= 1, mo <= 12, d >= 1, d <= daysIn(month: mo, year: y), h < 24, mi < 60, s < 60 else { return nil }
        var i = 19
        if i < n && p[i] == UInt8(ascii: ".") {
            i += 1
            let fs = i
            while i < n && p[i] &- 0x30 <= 9 { i += 1 }
            if i == fs { return nil }
        }
        var offset = 0
        if i < n {
            let c = p[i]
            if c == UInt8(ascii: "Z") && i + 1 == n {
                i += 1
            } else if n - i == 4 && c == 0x20 && p[i + 1] == UInt8(ascii: "U") && p[i + 2] == UInt8(ascii: "T") && p[i + 3] == UInt8(ascii: "C") {
                i += 4
            } else if c == UInt8(ascii: "+") || c == UInt8(ascii: "-") {
                guard let oh = (i + 2 < n + 0 ? d2(i + 1) : nil), oh < 24 else { return nil }
                var om = 0
                if n - i == 6 && p[i + 3] == 0x3A, let m = d2(i + 4) { om = m }
                else if n - i == 5, let m = d2(i + 3) { om = m }
                else if n - i != 3 { return nil }
                guard om < 60 else { return nil }
                offset = (oh * 3600 + om * 60) * (c == UInt8(ascii: "+") ? 1 : -1)
                i = n
            } else {
                return nil
            }
        }
        if i != n { return nil }
        let days = daysFromCivil(y, mo, d)
        return Int64(days) * 86400 + Int64(h * 3600 + mi * 60 + s) - Int64(offset)
    }

    static func epochNumber(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int64? {
        var v: Int64 = 0
        var i = 0
        var digits = 0
        while i < n, p[i] &- 0x30 <= 9 {
            v = v &* 10 &+ Int64(p[i] &- 0x30)
            digits += 1
            i += 1
            if digits > 16 { return nil }
        }
        if digits == 0 { return nil }
        if i < n && p[i] == UInt8(ascii: ".") {
            i += 1
            while i < n, p[i] &- 0x30 <= 9 { i += 1 }
        }
        if i != n { return nil }  // negative, exponent or junk
        if v > 100_000_000_000 { v /= 1000 }
        guard v <= 253_402_300_799 else { return nil }  // 9999-12-31T23:59:59Z
        return v
    }

    @inline(__always)
    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    @inline(__always)
    public static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (m + 9) % 12
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    /// The civil date of a day count since 1970-01-01.
    public static func civilFromDays(_ z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}

/// Formatting shared by every writer: ISO 8601 UTC times and two-decimal money.
public enum Format {
    /// `2019-10-01T00:00:00Z`.
    public static func iso8601(_ t: Int64) -> String {
        let days = Int(t >= 0 ? t / 86400 : (t - 86399) / 86400)
        let secs = Int(t - Int64(days) * 86400)
        let (y, m, d) = ValueParsers.civilFromDays(days)
        func p2(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let yy = y < 1000 ? String(repeating: "0", count: 4 - String(y).count) + String(y) : String(y)
        return "\(yy)-\(p2(m))-\(p2(d))T\(p2(secs / 3600)):\(p2(secs / 60 % 60)):\(p2(secs % 60))Z"
    }

    /// Cents as a decimal with two places: `-12.05`.
    public static func money(_ cents: Int64) -> String {
        let neg = cents < 0
        let a = cents.magnitude
        let frac = a % 100
        return (neg ? "-" : "") + "\(a / 100)." + (frac < 10 ? "0\(frac)" : "\(frac)")
    }

    /// A rounded average of cents per event, as money (halves away from zero).
    public static func average(cents: Int64, events: Int64) -> String {
        guard let a = averageCents(cents: cents, events: events) else { return "" }
        return money(a)
    }

    /// Cents per event rounded half away from zero; nil when there are no events.
    public static func averageCents(cents: Int64, events: Int64) -> Int64? {
        guard events != 0 else { return nil }
        let q = (2 * cents.magnitude + events.magnitude) / (2 * events.magnitude)
        return (cents < 0) != (events < 0) ? -Int64(q) : Int64(q)
    }
}
