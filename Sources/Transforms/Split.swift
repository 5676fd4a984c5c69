#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Settings of `split`.
public struct SplitOptions: Sendable {
    /// Window width in seconds; windows are `[k*every, (k+1)*every)` in Unix seconds UTC.
    public var every: Int64 = 60
    /// Number of imitation web servers (files per window).
    public var servers = 4
    public var gzip = false
    /// gzip level (1-3 ISA-L, fast).
    public var level: Int32 = 1
    /// At most this many window files are open at once (least recently used closed first).
    public var maxOpen = 32
    public var format: InputFormat = .auto
    public init() {}

    /// `floor(t / every) * every`, the floor toward minus infinity.
    @inline(__always)
    public func windowStart(_ t: Int64) -> Int64 {
        var q = t / every
        if t % every != 0 && t < 0 { q -= 1 }
        return q * every
    }
}

/// FNV-1a, 64-bit, over bytes: the server of a session is `fnv1a64(user_session) % servers`.
/// Part of the documented file layout of `split`, so it must never change.
@inline(__always)
public func fnv1a64(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for i in 0..<n {
        h ^= UInt64(p[i])
        h = h &* 0x0000_0100_0000_01b3
    }
    return h
}

/// What `split` did. Reconciles: `rowsRead == rowsWritten + unparsable` and
/// `rowsWritten == perServer.sum()`.
public struct SplitReport: Sendable {
    public var inputs = 0
    public var rowsRead: Int64 = 0
    public var perServer: [Int64] = []
    /// Rows that went to the unparsable file, by reason.
    public var unparsableByReason = [Int64](repeating: 0, count: RejectReason.allCases.count)
    /// Window files written (not counting the unparsable file).
    public var files = 0
    public var windows = 0
    public var firstWindow: Int64?
    public var lastWindow: Int64?
    /// Times a closed window file was opened again (unsorted input with more open windows
    /// than `maxOpen`); each time a new gzip member, or an append to a plain file.
    public var reopened: Int64 = 0
    /// The unparsable file, when any row went there.
    public var unparsablePath: String?
    public var seconds: Double = 0
    public var rowsWritten: Int64 { perServer.reduce(0, +) }
    public var unparsable: Int64 { unparsableByReason.reduce(0, +) }
    public init() {}
}

/// Cuts events into mini-files per time window and imitation web server, as Sellometer's
/// web-server imitation produced them.
///
/// Contract:
/// - A row with event time `t` goes to the window starting at `floor(t / every) * every`
///   (windows are half-open `[start, start + every)`: a row at exactly `start` belongs to the
///   window starting then), and to server `fnv1a64(user_session) % servers` (FNV-1a 64 over
///   the session's bytes, so a session stays on one server); a row with an empty session goes
///   to server `n % servers`, `n` being the 0-based number of rows read before it in this run.
/// - The file is `DIR/<window start>.s<k>.csv` (`.csv.gz` with gzip), the start as
///   `YYYY-MM-DDTHH-MM-SSZ` (no colons: safe on every filesystem; names sort by time), `k`
///   the server 1...servers, zero-padded to the width of `servers`.
/// - Rows are REES46 CSV in canonical column order with the header once per file, event_time
///   in canonical form `YYYY-MM-DD HH:MM:SS UTC`, every other field verbatim.
/// - Every row read lands in exactly one file: a row whose event_time does not parse, or a
///   record that cannot be laid out in columns, goes to `DIR/unparsable.csv[.gz]` in the
///   rejects layout `source_file,line,reason,raw`.
/// - Input need not be sorted: at most `maxOpen` window files are open; when a closed window
///   gets rows again its file is reopened for appending (gzip: a new member, still valid
///   gzip; no second header).
/// - `DIR` is created if missing and must otherwise be empty, so no file of an earlier run mixes in.
/// - Memory grows with the number of output files (one small record each), not with rows.
public final class Splitter {
    public let options: SplitOptions
    public let directory: String
    private final class Slot {
        let path: String
        var out: OutputFile?
        var lastUse: UInt64 = 0
        var window: Int64
        init(path: String, window: Int64) { self.path = path; self.window = window }
    }
    private struct Key: Hashable { var window: Int64; var server: Int }
    private var slots: [Key: Slot] = [:]
    private var open: [Slot] = []
    /// The last slot per server: sorted input hits it almost always, skipping the dictionary.
    private var lastSlot: [Slot?]
    private var windowSet = Set<Int64>()
    private var useClock: UInt64 = 0
    private var unparsableOut: OutputFile?
    private let row = EventRowBuilder()
    private let serverWidth: Int
    private let ext: String
    public private(set) var report = SplitReport()
    private let started = monotonicSeconds()

    public init(directory: String, options: SplitOptions) throws {
        guard options.every >= 1 else { throw TransformsError.invalidArgument("--every must be at least 1s") }
        guard options.servers >= 1 else { throw TransformsError.invalidArgument("--servers must be 1 or more") }
        guard options.maxOpen >= 1 else { throw TransformsError.invalidArgument("--max-open must be 1 or more") }
        self.options = options
        self.directory = directory
        lastSlot = [Slot?](repeating: nil, count: options.servers)
        serverWidth = String(options.servers).count
        ext = options.gzip ? ".csv.gz" : ".csv"
        report.perServer = [Int64](repeating: 0, count: options.servers)
        try Splitter.prepare(directory)
    }

    /// Creates `dir` if missing; fails when it exists and holds anything.
    static func prepare(_ dir: String) throws {
        var st = stat()
        if stat(dir, &st) != 0 {
            guard errno == ENOENT else { throw TransformsError.io(file: dir, reason: String(cString: strerror(errno))) }
            guard mkdir(dir, 0o755) == 0 else {
                throw TransformsError.io(file: dir, reason: "cannot create directory: \(String(cString: strerror(errno)))")
            }
            return
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw TransformsError.io(file: dir, reason: "not a directory") }
        guard let d = opendir(dir) else { throw TransformsError.io(file: dir, reason: String(cString: strerror(errno))) }
        defer { closedir(d) }
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." {
                throw TransformsError.io(file: dir, reason: "the output directory is not empty (found \(name)); use a new or empty directory")
            }
        }
    }

    /// `2019-10-01T00-01-00Z`: the window start as used in file names.
    public static func windowName(_ start: Int64) -> String {
        String(Format.iso8601(start).map { $0 == ":" ? "-" : $0 })
    }

    public func fileName(window: Int64, server: Int) -> String {
        var k = String(server + 1)
        if k.count < serverWidth { k = String(repeating: "0", count: serverWidth - k.count) + k }
        return Splitter.windowName(window) + ".s" + k + ext
    }

    /// Streams one input (`-` is standard input) into the window files.
    public func add(path: String) throws {
        let source = try ByteSource(path: path)
        let reader = try RecordReader(source: source, format: options.format)
        report.inputs += 1
        defer { report.seconds = monotonicSeconds() - started }
        let f = reader.fields
        let servers = UInt64(options.servers)
        while true {
            let reason: RejectReason
            switch try reader.next() {
            case .end:
                return
            case .rejected(let why):
                reason = why
            case .row:
                guard let t = ValueParsers.eventTime(f[Column.eventTime.rawValue]) else { reason = .badEventTime; break }
                let session = f[Column.userSession.rawValue]
                let server: Int
                if let p = session.base, session.count > 0 {
                    server = Int(fnv1a64(p, session.count) % servers)
                } else {
                    server = Int(UInt64(report.rowsRead) % servers)
                }
                report.rowsRead += 1
                let w = options.windowStart(t)
                let slot: Slot
                if let s = lastSlot[server], s.window == w {
                    slot = s
                } else {
                    slot = try slotFor(window: w, server: server)
                    lastSlot[server] = slot
                }
                let out: OutputFile
                if let o = slot.out { out = o } else { out = try reopen(slot) }
                useClock &+= 1
                slot.lastUse = useClock
                row.build(f, time: t)
                try out.write(row.bytes)
                report.perServer[server] += 1
                continue
            }
            report.rowsRead += 1
            try writeUnparsable(path: path, line: reader.line, reason: reason, raw: reader.rawBase, count: reader.rawCount)
        }
    }

    private func slotFor(window: Int64, server: Int) throws -> Slot {
        let key = Key(window: window, server: server)
        if let s = slots[key] { return s }
        let s = Slot(path: directory + "/" + fileName(window: window, server: server), window: window)
        try makeRoom()
        let out = try OutputFile(path: s.path, gzip: options.gzip, append: false, level: options.level)
        try out.write(rees46Header)
        s.out = out
        open.append(s)
        slots[key] = s
        report.files += 1
        if windowSet.insert(window).inserted {
            report.windows += 1
            report.firstWindow = min(report.firstWindow ?? window, window)
            report.lastWindow = max(report.lastWindow ?? window, window)
        }
        return s
    }

    private func reopen(_ s: Slot) throws -> OutputFile {
        try makeRoom()
        let out = try OutputFile(path: s.path, gzip: options.gzip, append: true, level: options.level)
        s.out = out
        open.append(s)
        report.reopened += 1
        return out
    }

    /// Closes the least recently used open file when `maxOpen` are open.
    private func makeRoom() throws {
        guard open.count >= options.maxOpen else { return }
        var victim = 0
        for i in 1..<open.count where open[i].lastUse < open[victim].lastUse { victim = i }
        let s = open.remove(at: victim)
        try s.out?.finish()
        s.out = nil
    }

    private func writeUnparsable(path: String, line: Int64, reason: RejectReason, raw: UnsafePointer<UInt8>?, count: Int) throws {
        if unparsableOut == nil {
            let p = directory + "/unparsable" + ext
            let o = try OutputFile(path: p, gzip: options.gzip, append: false, level: options.level)
            try o.write(RejectLine.header)
            unparsableOut = o
            report.unparsablePath = p
        }
        try unparsableOut!.write(RejectLine.make(source: path, line: line, reason: reason, raw: raw, count: count))
        report.unparsableByReason[reason.rawValue] += 1
    }

    /// Finishes (flushes, ends gzip members, fsyncs, closes) every open file. Call once, at the end.
    public func finish() throws -> SplitReport {
        for s in open {
            try s.out?.finish()
            s.out = nil
        }
        open.removeAll()
        try unparsableOut?.finish()
        unparsableOut = nil
        report.seconds = monotonicSeconds() - started
        return report
    }
}
