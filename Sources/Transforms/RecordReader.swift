#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CSupport

/// Splits a decompressed byte stream into records and exposes the retail columns by name.
///
/// Contract:
/// - CSV: the first record is the header; columns are matched by name and extra columns are
///   ignored; RFC 4180 quoting (quoted fields may hold commas, quotes and newlines); LF or CRLF;
///   a UTF-8 byte-order mark is skipped; the last line may lack a newline; blank lines are not
///   rows and are skipped.
/// - JSON Lines: one object per line; keys matched by name; unknown keys and nested values are
///   skipped; a line that is not a JSON object is a `bad_json` reject.
/// - A NUL byte anywhere means binary content: the whole input fails.
/// - `line` is the 1-based physical line where the current record starts (header = line 1).
/// Fields returned by `next()` stay valid until the following call.
public final class RecordReader {
    public enum Next { case row, rejected(RejectReason), end }

    public let source: ByteSource
    public private(set) var format: InputFormat = .csv
    /// The line where the current record starts.
    public private(set) var line: Int64 = 0
    /// The current record's fields, indexed by `Column.rawValue`.
    public let fields: UnsafeMutablePointer<Field>
    /// The raw text of the current record, without its line terminator (for the rejects file).
    public private(set) var rawBase: UnsafePointer<UInt8>?
    public private(set) var rawCount = 0
    /// Decompressed bytes consumed so far (for progress).
    public private(set) var consumed: Int64 = 0

    /// Records longer than this are rejected as `line_too_long` (the rest of the line is skipped).
    public static let maxRecordBytes = 64 << 20
    static let chunk = 1 << 20

    private var buf: UnsafeMutablePointer<UInt8>
    private var cap: Int
    private var pos = 0
    private var end = 0
    private var eof = false
    private var nextLine: Int64 = 1
    private var scratch: UnsafeMutablePointer<UInt8>
    private var scratchCap: Int
    private var columnOf: [Int8] = []
    /// `columnOf` in raw memory, for the per-row split (no retain of the array per row).
    private var columnMap = UnsafeMutablePointer<Int8>.allocate(capacity: 1)
    private var headerCount = 0
    public private(set) var header: [String] = []

    /// Inflates and hashes the source on a thread of its own, when asked for.
    private let ahead: ReadAhead?

    /// `readAhead`: decompress and hash on a second thread (for long reads: the thread costs
    /// more than it saves on small files).
    public init(source: ByteSource, format requested: InputFormat, readAhead: Bool = false) throws {
        self.source = source
        ahead = readAhead ? ReadAhead(source: source, chunk: RecordReader.chunk) : nil
        cap = 4 * RecordReader.chunk
        buf = .allocate(capacity: cap)
        scratchCap = 64 << 10
        scratch = .allocate(capacity: scratchCap)
        fields = .allocate(capacity: Column.allCases.count)
        fields.initialize(repeating: .missing, count: Column.allCases.count)
        _ = try fill()
        // A UTF-8 byte-order mark is skipped.
        if end - pos >= 3 && buf[0] == 0xEF && buf[1] == 0xBB && buf[2] == 0xBF { pos = 3 }
        switch requested {
        case .csv, .jsonl: format = requested
        case .auto:
            var i = pos
            while i < end && (buf[i] == 0x20 || buf[i] == 0x09 || buf[i] == 0x0A || buf[i] == 0x0D) { i += 1 }
            format = (i < end && buf[i] == UInt8(ascii: "{")) ? .jsonl : .csv
        }
        if format == .csv { try readHeader() }
    }

    deinit {
        ahead?.stop()
        buf.deallocate()
        scratch.deallocate()
        fields.deallocate()
        columnMap.deallocate()
    }

    /// Raw (compressed) bytes read from the source so far, as far as the records handed out go
    /// with a read-ahead thread (for progress).
    public var rawBytesRead: Int64 { ahead?.rawBytesRead ?? source.bytesRead }

    /// True when the input had no bytes at all (after a byte-order mark).
    public var isEmpty: Bool { header.isEmpty && eof && pos >= end && nextLine == 1 }

    // MARK: buffer

    /// Moves unread bytes to the front and reads more; returns false at the end of input.
    private func fill() throws -> Bool {
        if eof { return false }
        if pos > 0 {
            let left = end - pos
            if left > 0 { memmove(buf, buf + pos, left) }
            end = left
            pos = 0
        }
        if cap - end < RecordReader.chunk {
            let newCap = cap * 2
            let nb = UnsafeMutablePointer<UInt8>.allocate(capacity: newCap)
            nb.update(from: buf, count: end)
            buf.deallocate()
            buf = nb
            cap = newCap
        }
        let n = try ahead?.read(into: buf + end, capacity: cap - end) ?? source.read(into: buf + end, capacity: cap - end)
        if n == 0 { eof = true; return false }
        if let z = memchr(buf + end, 0, n) {
            let at = consumed + Int64(UnsafeMutableRawPointer(buf).distance(to: z))
            var lineGuess = nextLine
            var p = buf + pos
            while p < z.assumingMemoryBound(to: UInt8.self) { if p.pointee == 0x0A { lineGuess += 1 }; p += 1 }
            throw TransformsError.badContent(file: source.name, line: lineGuess, reason: "binary data (NUL byte at decompressed byte \(at)): not a CSV or JSON Lines file")
        }
        end += n
        return true
    }

    private func ensureScratch(_ n: Int) {
        if n <= scratchCap { return }
        scratch.deallocate()
        scratchCap = max(n, scratchCap * 2)
        scratch = .allocate(capacity: scratchCap)
    }

    // MARK: header

    private func readHeader() throws {
        while true {
            switch try nextCSVRecord(header: true) {
            case .end:
                return  // empty input: zero rows
            case .rejected:
                throw TransformsError.badHeader(file: source.name, reason: "the header line is not valid CSV")
            case .row:
                if rawCount == 0 { continue }
                var present = Set<Column>()
                columnOf = []
                for i in 0..<header.count {
                    let name = header[i].trimmingSpaces().lowercasedASCII()
                    let col = Array(name.utf8).withUnsafeBufferPointer { Column.match($0.baseAddress!, $0.count) }
                    if let col, !present.contains(col) {
                        present.insert(col)
                        columnOf.append(Int8(col.rawValue))
                    } else {
                        columnOf.append(-1)
                    }
                }
                headerCount = header.count
                columnMap.deallocate()
                columnMap = .allocate(capacity: max(1, columnOf.count))
                for (i, c) in columnOf.enumerated() { columnMap[i] = c }
                let missing = Column.required.filter { !present.contains($0) }
                if !missing.isEmpty {
                    var shown = String(decoding: UnsafeBufferPointer(start: rawBase, count: min(rawCount, 200)), as: UTF8.self)
                    if rawCount > 200 { shown += "..." }
                    throw TransformsError.badHeader(
                        file: source.name,
                        reason: "header lacks required column(s) \(missing.map(\.name).joined(separator: ", ")) (header is: \(shown))")
                }
                return
            }
        }
    }

    // MARK: records

    /// Reads the next record. Blank lines are skipped.
    @inline(__always)
    public func next() throws -> Next {
        if format == .csv { return try nextCSVRecord(header: false) }
        return try nextJSONRecord()
    }

    /// Finds the end of the current line; returns nil when more data is needed.
    @inline(__always)
    private func findLineEnd() throws -> (lineEnd: Int, hasNewline: Bool)? {
        let avail = end - pos
        if let p = memchr(buf + pos, 0x0A, avail) {
            return (UnsafeMutableRawPointer(buf).distance(to: p), true)
        }
        if eof { return (end, false) }
        return nil
    }

    /// Skips the rest of an over-long line; keeps its first bytes as the raw text.
    private func rejectLongLine() throws -> Next {
        line = nextLine
        let keep = min(4096, end - pos)
        ensureScratch(keep)
        scratch.update(from: buf + pos, count: keep)
        rawBase = UnsafePointer(scratch)
        rawCount = keep
        while true {
            if let p = memchr(buf + pos, 0x0A, end - pos) {
                let e = UnsafeMutableRawPointer(buf).distance(to: p)
                consumed += Int64(e + 1 - pos)
                pos = e + 1
                break
            }
            consumed += Int64(end - pos)
            pos = end
            if !(try fill()) { break }
        }
        nextLine += 1
        return .rejected(.lineTooLong)
    }

    private func nextCSVRecord(header isHeader: Bool) throws -> Next {
        while true {
            guard let (lineEnd, hasNL) = try findLineEnd() else {
                if end - pos > RecordReader.maxRecordBytes { return try rejectLongLine() }
                _ = try fill()
                continue
            }
            if lineEnd == pos && !hasNL { return .end }
            let recStart = pos
            if memchr(buf + recStart, 0x22, lineEnd - recStart) == nil {
                var contentEnd = lineEnd
                if contentEnd > recStart && buf[contentEnd - 1] == 0x0D { contentEnd -= 1 }
                pos = hasNL ? lineEnd + 1 : lineEnd
                consumed += Int64(pos - recStart)
                line = nextLine
                nextLine += 1
                if contentEnd == recStart { continue }  // blank line
                rawBase = UnsafePointer(buf + recStart)
                rawCount = contentEnd - recStart
                if isHeader {
                    header = splitHeaderPlain(recStart, contentEnd)
                    return .row
                }
                return splitPlain(recStart, contentEnd)
            }
            // Quoted fields: the record may continue over several lines.
            switch parseQuoted(recStart, isHeader: isHeader) {
            case .needMore:
                if end - pos > RecordReader.maxRecordBytes { return try rejectLongLine() }
                if !(try fill()) { continue }  // now eof: parse again to the end
                continue
            case let .done(result):
                return result
            }
        }
    }

    private func splitHeaderPlain(_ s: Int, _ e: Int) -> [String] {
        var out: [String] = []
        var f = s
        var i = s
        while i <= e {
            if i == e || buf[i] == 0x2C {
                out.append(String(decoding: UnsafeBufferPointer(start: buf + f, count: i - f), as: UTF8.self))
                f = i + 1
            }
            i += 1
        }
        return out
    }

    @inline(__always)
    private func clearFields() {
        for i in 0..<Column.allCases.count { fields[i] = .missing }
    }

    @inline(__always)
    private func splitPlain(_ s: Int, _ e: Int) -> Next {
        clearFields()
        let n = headerCount
        // The commas of 64 bytes at a time as a bit mask, when the buffer holds 64 bytes past
        // the line's end (its bytes there are masked off).
        if e + 64 <= cap {
            let map = columnMap
            var col = 0
            var f = s
            var at = s
            while at < e {
                var m = sello_byte_mask64(buf + at, 0x2C)
                if e - at < 64 { m &= (1 << UInt64(e - at)) &- 1 }
                while m != 0 {
                    let i = at + m.trailingZeroBitCount
                    if col < n {
                        let c = Int(map[col])
                        if c >= 0 { fields[c] = Field(base: UnsafePointer(buf + f), count: i - f, isNumber: false) }
                    }
                    col += 1
                    f = i + 1
                    m &= m &- 1
                }
                at += 64
            }
            if col < n {
                let c = Int(map[col])
                if c >= 0 { fields[c] = Field(base: UnsafePointer(buf + f), count: e - f, isNumber: false) }
            }
            col += 1
            return col == n ? .row : .rejected(.fieldCount)
        }
        var col = 0
        var f = s
        return columnOf.withUnsafeBufferPointer { map in
            while true {
                let i = nextComma(f, e)
                if col < n {
                    let c = Int(map[col])
                    if c >= 0 { fields[c] = Field(base: UnsafePointer(buf + f), count: i - f, isNumber: false) }
                }
                col += 1
                if i == e { break }
                f = i + 1
            }
            return col == n ? .row : .rejected(.fieldCount)
        }
    }

    /// The first comma in `from..<e`, or `e`: eight bytes at a time (a byte-by-byte loop was a
    /// tenth of a dry run). XOR with commas makes a comma a zero byte; the classic zero-byte test
    /// then marks it (false marks only ever follow a true one, so the lowest mark is exact).
    @inline(__always)
    private func nextComma(_ from: Int, _ e: Int) -> Int {
        var j = from
        while j + 8 <= e {
            let w = UInt64(littleEndian: UnsafeRawPointer(buf + j).loadUnaligned(as: UInt64.self)) ^ 0x2C2C_2C2C_2C2C_2C2C
            let z = (w &- 0x0101_0101_0101_0101) & ~w & 0x8080_8080_8080_8080
            if z != 0 { return j + z.trailingZeroBitCount >> 3 }
            j += 8
        }
        while j < e && buf[j] != 0x2C { j += 1 }
        return j
    }

    private enum QuotedOutcome { case needMore, done(Next) }

    /// RFC 4180 parse of one record starting at `s`. Quoted field contents are copied into
    /// `scratch` (with doubled quotes undone) so they can be exposed as contiguous bytes.
    private func parseQuoted(_ s: Int, isHeader: Bool) -> QuotedOutcome {
        ensureScratch(end - s + 16)
        var sp = 0
        var i = s
        var col = 0
        var newlines: Int64 = 0
        var headerNames: [String] = []
        var recEnd = -1
        var next = -1
        var fieldSpans: [(Int, Int, Bool)] = []  // (start, count, inScratch)
        fieldSpans.reserveCapacity(16)
        outer: while true {
            // At a field start.
            if i < end && buf[i] == 0x22 {
                i += 1
                let fs = sp
                while true {
                    if i >= end {
                        if !eof { return .needMore }
                        break  // unterminated quote at end of input: take what is there
                    }
                    let b = buf[i]
                    if b == 0x22 {
                        if i + 1 < end && buf[i + 1] == 0x22 { scratch[sp] = 0x22; sp += 1; i += 2; continue }
                        if i + 1 >= end && !eof { return .needMore }
                        i += 1
                        break
                    }
                    if b == 0x0A { newlines += 1 }
                    scratch[sp] = b; sp += 1; i += 1
                }
                // Bytes after the closing quote up to the separator are kept (lenient).
                while i < end && buf[i] != 0x2C && buf[i] != 0x0A {
                    if !(buf[i] == 0x0D && (i + 1 == end || buf[i + 1] == 0x0A)) { scratch[sp] = buf[i]; sp += 1 }
                    i += 1
                }
                fieldSpans.append((fs, sp - fs, true))
            } else {
                let fs = i
                while i < end && buf[i] != 0x2C && buf[i] != 0x0A { i += 1 }
                var fe = i
                if i < end && buf[i] == 0x0A && fe > fs && buf[fe - 1] == 0x0D { fe -= 1 }
                if i == end && eof && fe > fs && buf[fe - 1] == 0x0D { fe -= 1 }
                fieldSpans.append((fs, fe - fs, false))
            }
            col += 1
            if i >= end {
                if !eof { return .needMore }
                recEnd = end; next = end
                break outer
            }
            if buf[i] == 0x2C { i += 1; if i >= end && !eof { return .needMore }; if i >= end { fieldSpans.append((i, 0, false)); col += 1; recEnd = end; next = end; break outer }; continue }
            // newline
            recEnd = i
            if recEnd > s && buf[recEnd - 1] == 0x0D { recEnd -= 1 }
            next = i + 1
            break outer
        }
        consumed += Int64(next - s)
        pos = next
        line = nextLine
        nextLine += 1 + newlines
        rawBase = UnsafePointer(buf + s)
        rawCount = recEnd - s
        if isHeader {
            for (st, n, inScratch) in fieldSpans {
                let p = inScratch ? scratch + st : buf + st
                headerNames.append(String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self))
            }
            header = headerNames
            return .done(.row)
        }
        clearFields()
        for (k, (st, n, inScratch)) in fieldSpans.enumerated() where k < headerCount {
            let c = Int(columnOf[k])
            if c >= 0 {
                let p = inScratch ? scratch + st : buf + st
                fields[c] = Field(base: UnsafePointer(p), count: n, isNumber: false)
            }
        }
        return .done(col == headerCount ? .row : .rejected(.fieldCount))
    }

    // MARK: JSON Lines

    private func nextJSONRecord() throws -> Next {
        while true {
            guard let (lineEnd, hasNL) = try findLineEnd() else {
                if end - pos > RecordReader.maxRecordBytes { return try rejectLongLine() }
                _ = try fill()
                continue
            }
            if lineEnd == pos && !hasNL { return .end }
            var s = pos
            var e = lineEnd
            pos = hasNL ? lineEnd + 1 : lineEnd
            consumed += Int64(pos - s)
            line = nextLine
            nextLine += 1
            if e > s && buf[e - 1] == 0x0D { e -= 1 }
            rawBase = UnsafePointer(buf + s)
            rawCount = e - s
            while s < e && isJSONSpace(buf[s]) { s += 1 }
            while e > s && isJSONSpace(buf[e - 1]) { e -= 1 }
            if s == e { continue }  // blank line
            clearFields()
            ensureScratch(e - s + 16)
            var parser = JSONObjectScanner(p: UnsafePointer(buf), i: s, e: e, scratch: scratch)
            if !parser.scanObject(into: fields) { return .rejected(.badJSON) }
            return .row
        }
    }
}

@inline(__always) func isJSONSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0D || b == 0x0A }

/// A minimal, allocation-free scanner for one JSON object whose interesting values are scalars.
struct JSONObjectScanner {
    let p: UnsafePointer<UInt8>
    var i: Int
    let e: Int
    let scratch: UnsafeMutablePointer<UInt8>
    var sp = 0

    init(p: UnsafePointer<UInt8>, i: Int, e: Int, scratch: UnsafeMutablePointer<UInt8>) {
        self.p = p; self.i = i; self.e = e; self.scratch = scratch
    }

    mutating func ws() { while i < e && isJSONSpace(p[i]) { i += 1 } }

    /// Parses a string at `i` (opening quote); returns its bytes (pointing into the line when it
    /// has no escapes, else into scratch).
    mutating func string() -> (UnsafePointer<UInt8>, Int)? {
        guard i < e && p[i] == 0x22 else { return nil }
        i += 1
        let s = i
        while i < e && p[i] != 0x22 && p[i] != 0x5C { i += 1 }
        if i < e && p[i] == 0x22 { i += 1; return (p + s, i - 1 - s) }
        // Escapes: decoded into scratch.
        return JSONString.decode(p, &i, e, from: s, into: scratch, &sp)
    }

    /// Skips any JSON value (used for unknown keys and nested values).
    mutating func skipValue(depth: Int = 0) -> Bool {
        ws()
        guard i < e, depth < 512 else { return false }
        switch p[i] {
        case 0x22: return string() != nil
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let close: UInt8 = p[i] == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            let isObj = close == UInt8(ascii: "}")
            i += 1; ws()
            if i < e && p[i] == close { i += 1; return true }
            while true {
                if isObj {
                    ws(); guard string() != nil else { return false }
                    ws(); guard i < e && p[i] == UInt8(ascii: ":") else { return false }
                    i += 1
                }
                guard skipValue(depth: depth + 1) else { return false }
                ws()
                guard i < e else { return false }
                if p[i] == UInt8(ascii: ",") { i += 1; continue }
                if p[i] == close { i += 1; return true }
                return false
            }
        default:
            return scalarToken() != nil
        }
    }

    /// A bare token: number, true, false or null.
    mutating func scalarToken() -> (UnsafePointer<UInt8>, Int)? {
        let s = i
        while i < e {
            let c = p[i]
            if c == UInt8(ascii: ",") || c == UInt8(ascii: "}") || c == UInt8(ascii: "]") || isJSONSpace(c) { break }
            i += 1
        }
        return i > s ? (p + s, i - s) : nil
    }

    mutating func scanObject(into fields: UnsafeMutablePointer<Field>) -> Bool {
        ws()
        guard i < e && p[i] == UInt8(ascii: "{") else { return false }
        i += 1; ws()
        if i < e && p[i] == UInt8(ascii: "}") { i += 1; ws(); return i == e }
        while true {
            ws()
            guard let (kp, kn) = string() else { return false }
            ws()
            guard i < e && p[i] == UInt8(ascii: ":") else { return false }
            i += 1; ws()
            guard i < e else { return false }
            let col = Column.match(kp, kn)
            let c = p[i]
            if c == 0x22 {
                guard let (vp, vn) = string() else { return false }
                if let col { fields[col.rawValue] = Field(base: vp, count: vn, isNumber: false) }
            } else if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") {
                guard skipValue() else { return false }
                if let col { fields[col.rawValue] = .missing }
            } else {
                guard let (vp, vn) = scalarToken() else { return false }
                if let col {
                    if vn == 4 && vp[0] == UInt8(ascii: "n") && vp[1] == UInt8(ascii: "u") && vp[2] == UInt8(ascii: "l") && vp[3] == UInt8(ascii: "l") {
                        fields[col.rawValue] = .missing
                    } else {
                        let first = vp[0]
                        let isNum = first == UInt8(ascii: "-") || (first >= 0x30 && first <= 0x39)
                        if !isNum && !(vn == 4 || vn == 5) { return false }
                        fields[col.rawValue] = Field(base: vp, count: vn, isNumber: isNum)
                    }
                } else if !validBareToken(vp, vn) { return false }
            }
            ws()
            guard i < e else { return false }
            if p[i] == UInt8(ascii: ",") { i += 1; continue }
            if p[i] == UInt8(ascii: "}") { i += 1; ws(); return i == e }
            return false
        }
    }

    func validBareToken(_ vp: UnsafePointer<UInt8>, _ vn: Int) -> Bool {
        let f = vp[0]
        return f == UInt8(ascii: "-") || (f >= 0x30 && f <= 0x39) || f == UInt8(ascii: "t") || f == UInt8(ascii: "f") || f == UInt8(ascii: "n")
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\"" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\"" || l == "\r" { s.removeLast() }
        return String(s)
    }
    func lowercasedASCII() -> String {
        String(decoding: utf8.map { ($0 >= 65 && $0 <= 90) ? $0 + 32 : $0 }, as: UTF8.self)
    }
}
