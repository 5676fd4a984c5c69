#if canImport(Glibc)
import Glibc
#endif

/// The rejects file: a gzip CSV `source_file,line,reason,raw`, one gzip member per ingested file,
/// appended only when that file's effects commit.
///
/// Contract: each file's rejected rows are first written to a temporary gzip file beside the
/// rejects file (so memory stays flat however many rows are rejected); `commitFile` appends it
/// and fsyncs; `undoCommit` truncates the appends since the last `settle` away again.
public final class RejectLog: RejectSink {
    public let path: String
    private var temp: OutputFile?
    private var tempPath: String { path + ".part-\(getpid())" }
    private var currentName = ""
    /// The file's size before the first commit since `settle` (-1: nothing to undo).
    private var settledSize: Int64 = -1
    private var rowsSinceSettle: Int64 = 0
    private var rowsInFile = 0
    private var line = [UInt8]()
    public private(set) var rowsWritten: Int64 = 0

    public init(path: String) {
        self.path = path
    }

    public func beginFile(_ name: String) throws {
        currentName = name
        rowsInFile = 0
        temp = nil
    }

    public func reject(line lineNo: Int64, reason: RejectReason, raw: UnsafeBufferPointer<UInt8>) throws {
        try reject(line: lineNo, code: reason.code, raw: raw)
    }

    /// The same with the reason as its code text (pipelines with their own reasons, e.g.
    /// `catalog ingest`).
    public func reject(line lineNo: Int64, code: String, raw: UnsafeBufferPointer<UInt8>) throws {
        if temp == nil {
            temp = try OutputFile(path: tempPath, gzip: true, append: false, level: 6)
            // The header goes at the top of a new rejects file only.
            var st = stat()
            if stat(path, &st) != 0 || st.st_size == 0 {
                try temp!.write("source_file,line,reason,raw\n")
            }
        }
        line.removeAll(keepingCapacity: true)
        CSVText.appendField(&line, Array(currentName.utf8))
        line.append(0x2C)
        line.append(contentsOf: String(lineNo).utf8)
        line.append(0x2C)
        line.append(contentsOf: code.utf8)
        line.append(0x2C)
        CSVText.appendField(&line, raw)
        line.append(0x0A)
        try temp!.write(line)
        rowsInFile += 1
    }

    public func commitFile() throws {
        guard let t = temp else { return }
        try t.finish()
        temp = nil
        let out = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard out >= 0 else { throw TransformsError.io(file: path, reason: String(cString: strerror(errno))) }
        defer { close(out) }
        var st = stat()
        fstat(out, &st)
        let sizeBeforeCommit = Int64(st.st_size)
        if settledSize < 0 { settledSize = sizeBeforeCommit }
        let inp = open(tempPath, O_RDONLY | O_CLOEXEC)
        guard inp >= 0 else { throw TransformsError.io(file: tempPath, reason: String(cString: strerror(errno))) }
        defer { close(inp); unlink(tempPath) }
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(inp, $0.baseAddress, $0.count) }
            if n < 0 { throw TransformsError.io(file: tempPath, reason: String(cString: strerror(errno))) }
            if n == 0 { break }
            var off = 0
            while off < n {
                let w = buf.withUnsafeBytes { Glibc.write(out, $0.baseAddress! + off, n - off) }
                if w < 0 {
                    let why = String(cString: strerror(errno))
                    _ = ftruncate(out, off_t(sizeBeforeCommit))
                    throw TransformsError.io(file: path, reason: "cannot append rejected rows: \(why)")
                }
                off += w
            }
        }
        if fsync(out) != 0 {
            let why = String(cString: strerror(errno))
            _ = ftruncate(out, off_t(sizeBeforeCommit))
            throw TransformsError.io(file: path, reason: "fsync failed: \(why)")
        }
        rowsWritten += Int64(rowsInFile)
        rowsSinceSettle += Int64(rowsInFile)
    }

    public func undoCommit() {
        defer { settle() }
        guard settledSize >= 0 else { return }
        _ = truncate(path, off_t(settledSize))
        rowsWritten -= rowsSinceSettle
    }

    public func settle() {
        settledSize = -1
        rowsSinceSettle = 0
    }

    public func abortFile() {
        if let t = temp { try? t.finish(); temp = nil }
        unlink(tempPath)
    }
}

/// RFC 4180 field quoting shared by every CSV writer.
public enum CSVText {
    /// Appends `field`, quoted when it holds a comma, quote, CR or LF.
    public static func appendField<C: Collection>(_ out: inout [UInt8], _ field: C) where C.Element == UInt8 {
        var needs = false
        for b in field where b == 0x2C || b == 0x22 || b == 0x0A || b == 0x0D { needs = true; break }
        if !needs { out.append(contentsOf: field); return }
        out.append(0x22)
        for b in field {
            if b == 0x22 { out.append(0x22) }
            out.append(b)
        }
        out.append(0x22)
    }

    public static func field(_ s: String, separator: UInt8 = 0x2C) -> String {
        var needs = false
        for b in s.utf8 where b == separator || b == 0x22 || b == 0x0A || b == 0x0D { needs = true; break }
        if !needs { return s }
        return "\"" + s.replacingAll("\"", "\"\"") + "\""
    }
}

extension String {
    func replacingAll(_ a: Character, _ b: String) -> String {
        var out = ""
        for c in self { if c == a { out += b } else { out.append(c) } }
        return out
    }
}
