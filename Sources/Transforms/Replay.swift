#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The window files of a `split` directory, grouped by window in time order.
///
/// Contract: only names of the form `YYYY-MM-DDTHH-MM-SSZ.s<k>.csv` or `.csv.gz` (what
/// `Splitter` writes) count; anything else (dot-files, `unparsable.csv`, stray files) is listed
/// in `ignored` and never delivered. Windows are in ascending start time (the names sort by
/// time); files within a window by name (server order).
public struct ReplayPlan: Sendable {
    public struct Window: Sendable {
        /// Unix seconds of the window start.
        public var start: Int64
        /// File names (not paths) in the source directory.
        public var files: [String]
    }
    public var directory: String
    public var windows: [Window]
    public var ignored: [String]

    public static func scan(directory: String) throws -> ReplayPlan {
        guard let d = opendir(directory) else {
            throw TransformsError.io(file: directory, reason: "cannot read directory: \(String(cString: strerror(errno)))")
        }
        defer { closedir(d) }
        var byWindow: [Int64: [String]] = [:]
        var ignored: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name == "." || name == ".." { continue }
            if let start = windowStart(ofFileName: name) {
                byWindow[start, default: []].append(name)
            } else {
                ignored.append(name)
            }
        }
        let windows = byWindow.keys.sorted().map { Window(start: $0, files: byWindow[$0]!.sorted()) }
        return ReplayPlan(directory: directory, windows: windows, ignored: ignored.sorted())
    }

    /// The window start encoded in a `split` file name, or nil for any other name.
    public static func windowStart(ofFileName name: String) -> Int64? {
        let b = Array(name.utf8)
        guard b.count >= 27 else { return nil }  // 20 + ".s1" + ".csv"
        func digit(_ i: Int) -> Bool { b[i] >= 0x30 && b[i] <= 0x39 }
        for i in [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18] where !digit(i) { return nil }
        guard b[4] == 0x2D, b[7] == 0x2D, b[10] == UInt8(ascii: "T"), b[13] == 0x2D, b[16] == 0x2D,
              b[19] == UInt8(ascii: "Z"), b[20] == 0x2E, b[21] == UInt8(ascii: "s") else { return nil }
        var i = 22
        let ds = i
        while i < b.count && digit(i) { i += 1 }
        guard i > ds else { return nil }
        let rest = String(decoding: b[i...], as: UTF8.self)
        guard rest == ".csv" || rest == ".csv.gz" else { return nil }
        var iso = Array(b[0..<20])
        iso[13] = 0x3A; iso[16] = 0x3A
        return Arguments.time(String(decoding: iso, as: UTF8.self))
    }
}

/// One delivered window, for progress lines.
public struct ReplayDelivery: Sendable {
    public var index: Int
    public var total: Int
    public var start: Int64
    public var files: Int
    public var bytes: Int64
}

/// Delivers the windows of a `ReplayPlan` into an inbox directory, one window per interval, as
/// Sellometer's web-server imitation did.
///
/// Contract:
/// - Each file appears in the inbox atomically under its own name: it is copied to
///   `INBOX/.<name>.part-<pid>` (a dot-file, which inbox readers ignore), fsynced, then renamed.
///   With `move`, the file is renamed into the inbox (atomic on one filesystem; across
///   filesystems it is copied as above and then the source removed). Copy is the default; the
///   source is never removed otherwise.
/// - Window k (0-based) is due at `k * period` seconds after the first; a window that is late
///   (slow copies) goes at once and the schedule continues from it. `period` 0 means no wait.
/// - `shouldStop` is checked between windows and while waiting: a stop request ends the run
///   after the window being delivered, never in the middle of one.
/// - On an error the temporary file is removed and the error thrown; files already delivered stay.
public final class Replayer {
    public let plan: ReplayPlan
    public let inbox: String
    public let period: Double
    public let move: Bool
    private var buffer: UnsafeMutablePointer<UInt8>
    private let bufferSize = 1 << 20

    public init(plan: ReplayPlan, inbox: String, period: Double, move: Bool) throws {
        guard period >= 0 && period.isFinite else { throw TransformsError.invalidArgument("the interval must be 0 or more") }
        self.plan = plan
        self.inbox = inbox
        self.period = period
        self.move = move
        buffer = .allocate(capacity: bufferSize)
        var st = stat()
        if stat(inbox, &st) != 0 {
            guard errno == ENOENT, mkdir(inbox, 0o755) == 0 else {
                throw TransformsError.io(file: inbox, reason: "cannot create the inbox: \(String(cString: strerror(errno)))")
            }
        } else if (st.st_mode & S_IFMT) != S_IFDIR {
            throw TransformsError.io(file: inbox, reason: "not a directory")
        }
        var a = stat(), b = stat()
        if stat(plan.directory, &a) == 0 && stat(inbox, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino {
            throw TransformsError.invalidArgument("--from and --to are the same directory")
        }
    }

    deinit { buffer.deallocate() }

    /// Delivers windows in order; returns how many were delivered (all, unless stopped).
    public func run(shouldStop: () -> Bool, progress: (ReplayDelivery) -> Void) throws -> Int {
        var due = monotonicSeconds()
        var delivered = 0
        for (k, w) in plan.windows.enumerated() {
            if k > 0 {
                due += period
                while true {
                    if shouldStop() { return delivered }
                    let wait = due - monotonicSeconds()
                    if wait <= 0 { break }
                    // Short naps so a stop request is seen quickly even with long intervals.
                    let nap = min(wait, 0.05)
                    var ts = timespec(tv_sec: Int(nap), tv_nsec: Int((nap - Double(Int(nap))) * 1e9))
                    _ = nanosleep(&ts, nil)
                }
                // A window late by more than half a period (slow copies) resets the schedule, so
                // the following windows are not sent in a burst to catch up.
                let now = monotonicSeconds()
                if now - due > period / 2 { due = now }
            }
            if shouldStop() { return delivered }
            var bytes: Int64 = 0
            for name in w.files { bytes += try deliver(name) }
            delivered += 1
            progress(ReplayDelivery(index: k + 1, total: plan.windows.count, start: w.start, files: w.files.count, bytes: bytes))
        }
        return delivered
    }

    /// Puts one file into the inbox; returns its size in bytes.
    func deliver(_ name: String) throws -> Int64 {
        let src = plan.directory + "/" + name
        let dst = inbox + "/" + name
        if move {
            var st = stat()
            let size = stat(src, &st) == 0 ? Int64(st.st_size) : 0
            if rename(src, dst) == 0 { return size }
            guard errno == EXDEV else {
                throw TransformsError.io(file: src, reason: "cannot move into \(inbox): \(String(cString: strerror(errno)))")
            }
            let n = try copyAtomically(src, dst, name)
            guard unlink(src) == 0 else {
                throw TransformsError.io(file: src, reason: "delivered, but cannot remove the source: \(String(cString: strerror(errno)))")
            }
            return n
        }
        return try copyAtomically(src, dst, name)
    }

    private func copyAtomically(_ src: String, _ dst: String, _ name: String) throws -> Int64 {
        let tmp = inbox + "/." + name + ".part-\(getpid())"
        let inFD = open(src, O_RDONLY | O_CLOEXEC)
        guard inFD >= 0 else { throw TransformsError.io(file: src, reason: String(cString: strerror(errno))) }
        defer { close(inFD) }
        let outFD = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard outFD >= 0 else { throw TransformsError.io(file: tmp, reason: "cannot create: \(String(cString: strerror(errno)))") }
        var ok = false
        defer { if !ok { unlink(tmp) } }
        var total: Int64 = 0
        do {
            defer { close(outFD) }
            while true {
                let n = read(inFD, buffer, bufferSize)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw TransformsError.io(file: src, reason: "read error: \(String(cString: strerror(errno)))")
                }
                if n == 0 { break }
                var off = 0
                while off < n {
                    let w = write(outFD, buffer + off, n - off)
                    if w < 0 {
                        if errno == EINTR { continue }
                        throw TransformsError.io(file: tmp, reason: "write error: \(String(cString: strerror(errno)))")
                    }
                    off += w
                }
                total += Int64(n)
            }
            // Durable before it becomes visible: a reader never sees a name whose bytes a crash could lose.
            guard fsync(outFD) == 0 else { throw TransformsError.io(file: tmp, reason: "fsync failed: \(String(cString: strerror(errno)))") }
        }
        guard rename(tmp, dst) == 0 else {
            throw TransformsError.io(file: dst, reason: "cannot rename into place: \(String(cString: strerror(errno)))")
        }
        ok = true
        return total
    }
}
