/// Parsing of user-facing values shared by every subcommand (times, durations, rates).
public enum Arguments {
    /// A time: `2019-10-01`, `2019-10-01T13:00:00Z`, `2019-10-01 13:00:00 UTC`, or Unix seconds.
    public static func time(_ s: String) -> Int64? {
        if !s.isEmpty, s.allSatisfy({ $0.isASCII && $0.isNumber }) { return Int64(s) }
        var text = s
        if text.utf8.count == 10 { text += " 00:00:00" }
        if text.utf8.count == 16 { text += ":00" }  // 2019-10-01T13:00
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBufferPointer { b in
            ValueParsers.eventTime(Field(base: UnsafePointer(b.baseAddress), count: b.count, isNumber: false))
        }
    }

    /// A duration: `90`, `90s`, `30m`, `24h`, `7d`, `2w`, or combinations like `1h30m`.
    public static func duration(_ s: String) -> Int64? {
        var total: Int64 = 0
        var num: Int64 = -1
        for c in s {
            if let d = c.wholeNumberValue, c.isASCII {
                num = (num < 0 ? 0 : num) * 10 + Int64(d)
                continue
            }
            guard num >= 0 else { return nil }
            switch c {
            case "s": total += num
            case "m": total += num * 60
            case "h": total += num * 3600
            case "d": total += num * 86400
            case "w": total += num * 604800
            default: return nil
            }
            num = -1
        }
        if num >= 0 { total += num }
        return s.isEmpty ? nil : total
    }

    /// A rate: `5%` or `0.05`.
    public static func rate(_ s: String) -> Double? {
        if s.hasSuffix("%") { return Double(s.dropLast()).map { $0 / 100 } }
        return Double(s)
    }
}
