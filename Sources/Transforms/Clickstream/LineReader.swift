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

    public init(source: ByteSource) {
        self.source = source
        cap = 4 * LineReader.chunk
        buf = .allocate(capacity: cap)
    }

    deinit { buf.deallocate() }

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
        let n = try source.read(into: buf + end, capacity: cap - end)
        if n == 0 { eof = true; return false }
        if memchr(buf + end, 0, n) != nil {
            throw TransformsError.badContent(file: source.name, line: line + 1, reason: "binary data (NUL byte): not a JSON Lines file")
        }
        end += n
        return true
    }

    public func next() throws -> Next {
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
            let n = try source.read(into: buf + end, capacity: cap - end)
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
