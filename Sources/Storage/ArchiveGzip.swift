#if canImport(Glibc)
import Glibc
#endif
import CISAL
import CCrypto
import Transforms

/// One gzip file being written for the raw archive: a fixed input buffer deflated by ISA-L into
/// a shared output buffer, with the SHA-256 and size of the compressed bytes computed as they are
/// written (the manifest records both, so nothing is read back).
///
/// Contract: bytes go through `reserve`/`commit` (the hot path: the caller writes into the buffer
/// directly) or `write`; `finish()` ends the gzip member, fsyncs and closes, and returns the
/// SHA-256; `discard()` closes and unlinks. Memory is fixed (about 280 KB at level 1: input buffer, ISA-L state and level buffer) whatever
/// the file size. Not thread-safe.
final class ArchiveGzipWriter {
    let path: String
    static let capacity = 64 * 1024
    /// The input buffer; `used` bytes of it are pending.
    let buf: UnsafeMutablePointer<UInt8>
    var used = 0
    /// Rows written (counted by the caller).
    var rows: Int64 = 0
    private(set) var bytes: Int64 = 0
    private var fd: Int32
    private let stream: UnsafeMutablePointer<isal_zstream>
    private let levelBuf: UnsafeMutablePointer<UInt8>?
    private let out: UnsafeMutablePointer<UInt8>
    private let outCap: Int
    private let sha: OpaquePointer?

    /// Creates (truncates) `path`. `level` is ISA-L's 0-3; `out` is scratch shared by writers.
    init(path: String, level: Int32, out: UnsafeMutablePointer<UInt8>, outCapacity: Int) throws {
        self.path = path
        var f: Int32
        repeat { f = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) } while f < 0 && errno == EINTR
        guard f >= 0 else { throw StorageError.archive(path: path, reason: "cannot create: \(errnoText())") }
        fd = f
        self.out = out
        outCap = outCapacity
        buf = .allocate(capacity: ArchiveGzipWriter.capacity)
        stream = .allocate(capacity: 1)
        memset(stream, 0, MemoryLayout<isal_zstream>.size)
        isal_deflate_init(stream)
        // Level buffers sized a little above ISA-L's "small" presets (level 1: 84 KB, level 3:
        // 148 KB): up to 32 writers stay open at once, so the 1 MB GzipWriter uses would add up.
        let lbSize = level == 0 ? 0 : (level == 1 ? 1 << 17 : 3 << 16)
        if lbSize > 0 {
            let lb = UnsafeMutablePointer<UInt8>.allocate(capacity: lbSize)
            levelBuf = lb
            stream.pointee.level_buf = lb
            stream.pointee.level_buf_size = UInt32(lbSize)
        } else {
            levelBuf = nil
        }
        stream.pointee.level = UInt32(level)
        stream.pointee.gzip_flag = UInt16(IGZIP_GZIP)
        stream.pointee.flush = UInt16(NO_FLUSH)
        sha = EVP_MD_CTX_new()
        EVP_DigestInit_ex(sha, EVP_sha256(), nil)
    }

    deinit {
        if fd >= 0 { _ = close(fd) }
        buf.deallocate()
        stream.deallocate()
        levelBuf?.deallocate()
        EVP_MD_CTX_free(sha)
    }

    /// Makes room for `n` bytes in the buffer (n <= capacity) and returns where they go.
    @inline(__always)
    func reserve(_ n: Int) throws -> UnsafeMutablePointer<UInt8> {
        if used + n > ArchiveGzipWriter.capacity { try flush() }
        return buf + used
    }

    /// Appends bytes of any length.
    func write(_ p: UnsafePointer<UInt8>, _ n: Int) throws {
        var src = p
        var left = n
        while left > 0 {
            if used == ArchiveGzipWriter.capacity { try flush() }
            let k = min(left, ArchiveGzipWriter.capacity - used)
            memcpy(buf + used, src, k)
            used += k
            src += k
            left -= k
        }
    }

    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBufferPointer { if let b = $0.baseAddress { try write(b, $0.count) } }
    }

    /// Deflates the pending input.
    func flush() throws {
        if used == 0 { return }
        stream.pointee.next_in = buf
        stream.pointee.avail_in = UInt32(used)
        repeat {
            stream.pointee.next_out = out
            stream.pointee.avail_out = UInt32(outCap)
            let rc = isal_deflate(stream)
            guard rc == COMP_OK else { throw StorageError.archive(path: path, reason: "gzip compression failed (isa-l error \(rc))") }
            let produced = outCap - Int(stream.pointee.avail_out)
            if produced > 0 { try writeOut(produced) }
        } while stream.pointee.avail_in > 0 || stream.pointee.avail_out == 0
        stream.pointee.next_in = nil
        used = 0
    }

    /// Ends the gzip member, fsyncs and closes the file; returns the lowercase hex SHA-256 of
    /// the bytes written.
    func finish() throws -> String {
        guard fd >= 0 else { throw StorageError.archive(path: path, reason: "finished twice") }
        try flush()
        stream.pointee.end_of_stream = 1
        repeat {
            stream.pointee.next_out = out
            stream.pointee.avail_out = UInt32(outCap)
            let rc = isal_deflate(stream)
            guard rc == COMP_OK else { throw StorageError.archive(path: path, reason: "gzip compression failed (isa-l error \(rc))") }
            let produced = outCap - Int(stream.pointee.avail_out)
            if produced > 0 { try writeOut(produced) }
        } while stream.pointee.internal_state.state != ZSTATE_END
        var rc: Int32
        repeat { rc = fsync(fd) } while rc < 0 && errno == EINTR
        if rc < 0 { throw StorageError.archive(path: path, reason: "fsync failed: \(errnoText())") }
        let c = close(fd)
        fd = -1
        if c < 0 { throw StorageError.archive(path: path, reason: "close failed: \(errnoText())") }
        return digestHex(sha)
    }

    /// Closes (if open) and removes the file. Never throws.
    func discard() {
        if fd >= 0 { _ = close(fd); fd = -1 }
        _ = unlink(path)
    }

    private func writeOut(_ count: Int) throws {
        EVP_DigestUpdate(sha, out, count)
        bytes += Int64(count)
        var p = UnsafePointer(out)
        var left = count
        while left > 0 {
            let n = Glibc.write(fd, p, left)
            if n < 0 {
                if errno == EINTR { continue }
                throw StorageError.archive(path: path, reason: "write failed: \(errnoText())")
            }
            if n == 0 { throw StorageError.archive(path: path, reason: "write failed: no progress") }
            p += n
            left -= n
        }
    }
}

/// Counts the CSV records of an archive file as its bytes stream by (RFC 4180: a newline inside
/// quotes does not end a record), and finds where the header record ends.
struct CSVRecordScanner {
    var inQuote = false
    var headerDone = false
    /// Records after the header.
    var records: Int64 = 0
    var lastByte: UInt8 = 0x0A

    /// Scans a chunk; returns the offset in it where the body (the bytes after the header) starts.
    mutating func scan(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int {
        var bodyStart = headerDone ? 0 : n
        var q = inQuote
        var recs = records
        for i in 0..<n {
            let b = p[i]
            if b == 0x22 {
                q = !q
            } else if b == 0x0A && !q {
                if headerDone {
                    recs += 1
                } else {
                    headerDone = true
                    bodyStart = i + 1
                }
            }
        }
        if n > 0 { lastByte = p[n - 1] }
        inQuote = q
        records = recs
        return bodyStart
    }

    /// True when the stream ended on a record boundary.
    var isComplete: Bool { headerDone && !inQuote && lastByte == 0x0A }
}

/// Streams one archive file: checks its raw SHA-256 and record count and hands the body (the
/// bytes after the header) to `body`. Throws `archiveCorrupt` on any mismatch or gzip damage.
func readArchiveFile(path: String, expectSHA256: String?, expectRows: Int64?,
                     body: ((UnsafePointer<UInt8>, Int) throws -> Void)?) throws -> Int64 {
    var st = stat()
    guard stat(path, &st) == 0 else {
        throw StorageError.archiveCorrupt(path: path, reason: "missing (\(errnoText()))")
    }
    let src: ByteSource
    do { src = try ByteSource(path: path) } catch {
        throw StorageError.archiveCorrupt(path: path, reason: "\(error)")
    }
    let cap = 1 << 18
    let chunk = UnsafeMutablePointer<UInt8>.allocate(capacity: cap)
    defer { chunk.deallocate() }
    var scanner = CSVRecordScanner()
    do {
        while true {
            let n = try src.read(into: chunk, capacity: cap)
            if n == 0 { break }
            let start = scanner.scan(chunk, n)
            if let body, start < n { try body(chunk + start, n - start) }
        }
    } catch let e as TransformsError {
        throw StorageError.archiveCorrupt(path: path, reason: e.description)
    }
    if !src.isGzip { throw StorageError.archiveCorrupt(path: path, reason: "not gzip") }
    if !scanner.isComplete { throw StorageError.archiveCorrupt(path: path, reason: "does not end with a complete CSV record") }
    if let expectSHA256 {
        let got = src.sha256Hex()
        if got != expectSHA256 {
            throw StorageError.archiveCorrupt(path: path, reason: "sha256 \(got) differs from the manifest's \(expectSHA256)")
        }
    }
    if let expectRows, scanner.records != expectRows {
        throw StorageError.archiveCorrupt(path: path, reason: "\(scanner.records) rows, the manifest says \(expectRows)")
    }
    return scanner.records
}

func digestHex(_ ctx: OpaquePointer?) -> String {
    var md = [UInt8](repeating: 0, count: 32)
    var len: UInt32 = 0
    EVP_DigestFinal_ex(ctx, &md, &len)
    let hex: [UInt8] = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(64)
    for b in md { out.append(hex[Int(b >> 4)]); out.append(hex[Int(b & 15)]) }
    return String(decoding: out, as: UTF8.self)
}

func errnoText() -> String { String(cString: strerror(errno)) }
