#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Splits a decompressed byte stream into lines (JSON Lines records).
///
/// Contract: LF or CRLF; a UTF-8 byte-order mark at the start is skipped; the last line may lack
/// a newline; `line` is 1-based. A line longer than `maxLineBytes` is returned as `.tooLong`
/// (its first bytes as the raw text) and the rest of it skipped. A NUL byte means binary content:
/// `next()` throws `badContent`. Returned bytes stay valid until the following call.
/// With `readAhead`, a second thread reads (decompresses, hashes) the source a few chunks ahead
/// of the lines handed out; a source error is thrown where it lies in the stream all the same.
/// The source is the reader's until `next()` has returned `.end` (or the reader is gone).
public final class LineReader {
    public enum Next { case line(UnsafePointer<UInt8>, Int), tooLong(UnsafePointer<UInt8>, Int), end }

    public let source: ByteSource
    public static let maxLineBytes = 64 << 20
    static let chunk = 1 << 20
    public private(set) var line: Int64 = 0
    public private(set) var consumed: Int64 = 0
    private var buf: UnsafeMutablePointer<UInt8>
    private var cap: Int
    private var pos = 0
    private var end = 0
    private var eof = false
    private var started = false
    private var scanFrom = 0
    private let ahead: ReadAhead?

    public init(source: ByteSource, readAhead: Bool = true) {
        self.source = source
        cap = 4 * LineReader.chunk
        buf = .allocate(capacity: cap)
        ahead = readAhead ? ReadAhead(source: source, chunk: LineReader.chunk) : nil
    }

    deinit {
        ahead?.stop()
        buf.deallocate()
    }

    /// Up to `capacity` decompressed bytes; 0 at the end of the input.
    @inline(__always)
    private func read(into p: UnsafeMutablePointer<UInt8>, capacity: Int) throws -> Int {
        if let ahead { return try ahead.read(into: p, capacity: capacity) }
        return try source.read(into: p, capacity: capacity)
    }

    private func fill() throws -> Bool {
        if eof { return false }
        if pos > 0 {
            let left = end - pos
            if left > 0 { memmove(buf, buf + pos, left) }
            scanFrom -= pos
            end = left
            pos = 0
        }
        if cap - end < LineReader.chunk {
            let nc = cap * 2
            let nb = UnsafeMutablePointer<UInt8>.allocate(capacity: nc)
            nb.update(from: buf, count: end)
            buf.deallocate()
            buf = nb
            cap = nc
        }
        let n = try read(into: buf + end, capacity: cap - end)
        if n == 0 { eof = true; return false }
        if memchr(buf + end, 0, n) != nil {
            throw TransformsError.badContent(file: source.name, line: line + 1, reason: "binary data (NUL byte): not a JSON Lines file")
        }
        end += n
        return true
    }

    public func next() throws -> Next { try nextLine(mayFill: true)! }

    /// One line of a batch: its bytes, its number, and whether it was too long (its first
    /// bytes then, as `.tooLong`).
    public struct Line {
        public var base: UnsafePointer<UInt8>
        public var count: Int
        public var number: Int64
        public var tooLong: Bool
    }

    /// Up to `max` lines into `out` (emptied first), all valid until the following call: the
    /// lines already in the buffer, or what one read brings. A line too long comes alone. Empty
    /// at the end.
    public func nextBatch(max: Int, into out: inout [Line]) throws {
        out.removeAll(keepingCapacity: true)
        while out.count < max {
            // Reading more moves the buffer: only for the batch's first line.
            guard let n = try nextLine(mayFill: out.isEmpty) else { return }
            switch n {
            case .end: return
            case let .line(p, c): out.append(Line(base: p, count: c, number: line, tooLong: false))
            case let .tooLong(p, c):
                out.append(Line(base: p, count: c, number: line, tooLong: true))
                return
            }
        }
    }

    /// The next line, or nil when it needs more input and `mayFill` is false.
    private func nextLine(mayFill: Bool) throws -> Next? {
        if !started {
            started = true
            while end - pos < 3, try fill() {}
            if end - pos >= 3 && buf[pos] == 0xEF && buf[pos + 1] == 0xBB && buf[pos + 2] == 0xBF { pos += 3; consumed += 3 }
            scanFrom = pos
        }
        while true {
            if let nl = memchr(buf + scanFrom, 0x0A, end - scanFrom) {
                let at = UnsafeMutableRawPointer(buf).distance(to: nl)
                let s = pos
                var e = at
                if e > s && buf[e - 1] == 0x0D { e -= 1 }
                pos = at + 1
                scanFrom = pos
                consumed += Int64(pos - s)
                line += 1
                return .line(UnsafePointer(buf + s), e - s)
            }
            scanFrom = end
            if !mayFill { return nil }
            if end - pos > LineReader.maxLineBytes { return try skipLongLine() }
            if !(try fill()) {
                if pos == end { return .end }
                let s = pos
                var e = end
                if e > s && buf[e - 1] == 0x0D { e -= 1 }
                consumed += Int64(end - pos)
                pos = end
                scanFrom = end
                line += 1
                return .line(UnsafePointer(buf + s), e - s)
            }
        }
    }

    /// Keeps the first bytes as the raw text and drops the rest of the line.
    private func skipLongLine() throws -> Next {
        line += 1
        let keep = 1024
        // The kept prefix moves to the front of the buffer; the rest is read past.
        if pos > 0 { memmove(buf, buf + pos, keep); pos = 0 }
        var scanned = keep
        end = keep
        scanFrom = keep
        consumed += Int64(keep)
        while true {
            let n = try read(into: buf + end, capacity: cap - end)
            if n == 0 { eof = true; break }
            if let nl = memchr(buf + end, 0x0A, n) {
                let at = UnsafeMutableRawPointer(buf).distance(to: nl)
                consumed += Int64(at + 1 - scanned)
                // Bytes after the newline stay for the next call.
                let rest = end + n - (at + 1)
                memmove(buf + keep, buf + at + 1, rest)
                end = keep + rest
                pos = keep
                scanFrom = keep
                return .tooLong(UnsafePointer(buf), keep)
            }
            consumed += Int64(n)
            scanned = keep
            end = keep
        }
        pos = keep
        scanFrom = keep
        return .tooLong(UnsafePointer(buf), keep)
    }
}
