#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The REES46 header in canonical column order, as every writer of event rows emits it.
public let rees46Header = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n"

/// Builds one event row of REES46 CSV (canonical column order) in a reused byte buffer.
///
/// Contract: every field is written as it was read (the reader has already undone CSV quoting
/// or JSON escapes; a JSON number is written as its token text), re-quoted per RFC 4180 only
/// when it holds a comma, quote, CR or LF; a missing column is an empty field. `event_time` is
/// either the canonical `YYYY-MM-DD HH:MM:SS UTC` of a given Unix time, or the field verbatim.
/// The row ends with LF. No allocation per row once the buffer has grown to the longest row.
public final class EventRowBuilder {
    public private(set) var base: UnsafeMutablePointer<UInt8>
    public private(set) var count = 0
    private var cap: Int
    /// The day whose `YYYY-MM-DD` is in `dateText` (consecutive rows mostly share a day).
    private var cachedDay = Int64.min
    private var dateText = [UInt8](repeating: 0, count: 10)

    public init() {
        cap = 4096
        base = .allocate(capacity: cap)
    }

    deinit { base.deallocate() }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    @inline(__always)
    private func ensure(_ extra: Int) {
        if count + extra <= cap { return }
        var newCap = cap * 2
        while newCap < count + extra { newCap *= 2 }
        let nb = UnsafeMutablePointer<UInt8>.allocate(capacity: newCap)
        nb.update(from: base, count: count)
        base.deallocate()
        base = nb
        cap = newCap
    }

    /// Builds the row: `time` nil writes the event_time field verbatim.
    @inline(__always)
    public func build(_ fields: UnsafeMutablePointer<Field>, time: Int64?) {
        count = 0
        if let time { appendCanonicalTime(time) } else { appendField(fields[Column.eventTime.rawValue]) }
        for c in 1..<Column.allCases.count {
            ensure(1)
            base[count] = 0x2C
            count += 1
            appendField(fields[c])
        }
        ensure(1)
        base[count] = 0x0A
        count += 1
    }

    @inline(__always)
    func appendField(_ f: Field) {
        guard let p = f.base, f.count > 0 else { return }
        let n = f.count
        var needsQuotes = false
        for i in 0..<n {
            let b = p[i]
            if b == 0x2C || b == 0x22 || b == 0x0A || b == 0x0D { needsQuotes = true; break }
        }
        if !needsQuotes {
            ensure(n)
            (base + count).update(from: p, count: n)
            count += n
            return
        }
        ensure(2 * n + 2)
        base[count] = 0x22; count += 1
        for i in 0..<n {
            if p[i] == 0x22 { base[count] = 0x22; count += 1 }
            base[count] = p[i]; count += 1
        }
        base[count] = 0x22; count += 1
    }

    /// `YYYY-MM-DD HH:MM:SS UTC` (23 bytes).
    @inline(__always)
    func appendCanonicalTime(_ t: Int64) {
        var day = t / 86400
        if t % 86400 != 0 && t < 0 { day -= 1 }
        let secs = Int(t - day * 86400)
        if day != cachedDay {
            cachedDay = day
            let (y, m, d) = ValueParsers.civilFromDays(Int(day))
            let yy = max(0, min(9999, y))
            dateText[0] = UInt8(0x30 + yy / 1000); dateText[1] = UInt8(0x30 + yy / 100 % 10)
            dateText[2] = UInt8(0x30 + yy / 10 % 10); dateText[3] = UInt8(0x30 + yy % 10)
            dateText[4] = 0x2D
            dateText[5] = UInt8(0x30 + m / 10); dateText[6] = UInt8(0x30 + m % 10)
            dateText[7] = 0x2D
            dateText[8] = UInt8(0x30 + d / 10); dateText[9] = UInt8(0x30 + d % 10)
        }
        ensure(23)
        let o = base + count
        for i in 0..<10 { o[i] = dateText[i] }
        let h = secs / 3600, mi = secs / 60 % 60, s = secs % 60
        o[10] = 0x20
        o[11] = UInt8(0x30 + h / 10); o[12] = UInt8(0x30 + h % 10); o[13] = 0x3A
        o[14] = UInt8(0x30 + mi / 10); o[15] = UInt8(0x30 + mi % 10); o[16] = 0x3A
        o[17] = UInt8(0x30 + s / 10); o[18] = UInt8(0x30 + s % 10)
        o[19] = 0x20; o[20] = 0x55; o[21] = 0x54; o[22] = 0x43  // " UTC"
        count += 23
    }
}

/// One line of a rejects-layout CSV (`source_file,line,reason,raw`), the layout `ingest` uses for
/// its rejects file, so the same tools read both.
public enum RejectLine {
    public static let header = "source_file,line,reason,raw\n"

    public static func make(source: String, line: Int64, reason: RejectReason, raw: UnsafePointer<UInt8>?, count: Int) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(count + source.utf8.count + 40)
        CSVText.appendField(&out, Array(source.utf8))
        out.append(0x2C)
        out.append(contentsOf: String(line).utf8)
        out.append(0x2C)
        out.append(contentsOf: reason.code.utf8)
        out.append(0x2C)
        CSVText.appendField(&out, UnsafeBufferPointer(start: raw, count: raw == nil ? 0 : count))
        out.append(0x0A)
        return out
    }
}

/// Settings of `concentrate`: Sellometer's time compression.
public struct ConcentrateOptions: Sendable {
    /// Seconds of input time per second of output time (30 in Sellometer's run).
    public var ratio: Int64 = 30
    /// The instant that stays fixed (Unix seconds).
    public var origin: Int64 = 1_569_888_000  // 2019-10-01T00:00:00Z
    public var format: InputFormat = .auto
    public init() {}

    /// `origin + floor((t - origin) / ratio)`, the floor taken toward minus infinity (also for
    /// times before the origin, so the mapping is monotonic and has no double-width step at 0).
    @inline(__always)
    public func compress(_ t: Int64) -> Int64 {
        let d = t - origin
        var q = d / ratio
        if d % ratio != 0 && d < 0 { q -= 1 }
        return origin + q
    }
}

/// What `concentrate` did. Reconciles: `rowsRead == compressed + unparsablePassedThrough +
/// rejected + malformedDropped`.
public struct ConcentrateReport: Sendable {
    public var files = 0
    public var rowsRead: Int64 = 0
    /// Rows written with their event_time compressed.
    public var compressed: Int64 = 0
    /// Rows whose event_time does not parse, written unchanged (no rejects file given).
    public var unparsablePassedThrough: Int64 = 0
    /// Rows written to the rejects file, by reason (unparsable time, or a malformed record).
    public var rejected = [Int64](repeating: 0, count: RejectReason.allCases.count)
    /// Malformed records (field count, bad JSON, over-long line) with no rejects file to go to.
    public var malformedDropped: Int64 = 0
    public var minIn: Int64?
    public var maxIn: Int64?
    public var seconds: Double = 0
    public var rowsWritten: Int64 { compressed + unparsablePassedThrough }
    public var rowsRejected: Int64 { rejected.reduce(0, +) }
    public init() {}
}

/// Sellometer's 30:1 time compression as a stream: reads REES46 events (CSV or JSON Lines,
/// plain or gzip) and writes REES46 CSV with every event_time `t` replaced by
/// `origin + floor((t - origin) / ratio)` in the canonical form `YYYY-MM-DD HH:MM:SS UTC`.
///
/// Contract: one header, then the rows of every input in input order; all other fields verbatim
/// (see `EventRowBuilder`). A row whose event_time does not parse is written unchanged (time
/// field verbatim) and counted, or, when a rejects file is given, goes there instead. A record
/// that cannot be laid out in columns (CSV field count differs from the header's, a JSON line
/// that is not an object, a line over 64 MiB) goes to the rejects file, else is dropped and
/// counted. Memory does not grow with the input. An input that cannot be read (I/O error,
/// corrupt gzip, bad header, binary data) throws; the rows before it have been written.
public final class Concentrator {
    public let options: ConcentrateOptions
    private let out: OutputFile
    private let rejects: OutputFile?
    private let row = EventRowBuilder()
    public private(set) var report = ConcentrateReport()
    private let started = monotonicSeconds()

    /// Writes the header to `output` at once. `rejects`, if given, gets the rejects-layout header.
    public init(options: ConcentrateOptions, output: OutputFile, rejects: OutputFile?) throws {
        guard options.ratio >= 1 else { throw TransformsError.invalidArgument("--ratio must be 1 or more, got \(options.ratio)") }
        self.options = options
        self.out = output
        self.rejects = rejects
        try out.write(rees46Header)
        try rejects?.write(RejectLine.header)
    }

    /// Streams one input (`-` is standard input) to the output.
    public func add(path: String) throws {
        let source = try ByteSource(path: path)
        let reader = try RecordReader(source: source, format: options.format)
        report.files += 1
        let f = reader.fields
        var minIn = Int64.max, maxIn = Int64.min
        defer {
            if minIn <= maxIn {
                report.minIn = min(report.minIn ?? minIn, minIn)
                report.maxIn = max(report.maxIn ?? maxIn, maxIn)
            }
            report.seconds = monotonicSeconds() - started
        }
        while true {
            let reason: RejectReason
            switch try reader.next() {
            case .end:
                return
            case .rejected(let why):
                report.rowsRead += 1
                reason = why
            case .row:
                report.rowsRead += 1
                if let t = ValueParsers.eventTime(f[Column.eventTime.rawValue]) {
                    if t < minIn { minIn = t }
                    if t > maxIn { maxIn = t }
                    row.build(f, time: options.compress(t))
                    try out.write(row.bytes)
                    report.compressed += 1
                    continue
                }
                if rejects == nil {
                    row.build(f, time: nil)
                    try out.write(row.bytes)
                    report.unparsablePassedThrough += 1
                    continue
                }
                reason = .badEventTime
            }
            if let rejects {
                try rejects.write(RejectLine.make(source: path, line: reader.line, reason: reason,
                                                  raw: reader.rawBase, count: reader.rawCount))
                report.rejected[reason.rawValue] += 1
            } else {
                report.malformedDropped += 1
            }
        }
    }
}
