#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CISAL
import CCrypto

/// Streams the bytes of one input (a file path, or `-` for standard input) decompressed.
///
/// Contract: gzip is recognised by its magic bytes, never by the file name; concatenated gzip
/// members are read as one stream; a truncated or corrupt stream throws `corruptGzip` with the
/// compressed byte offset. The SHA-256 of the raw (compressed) bytes is computed on the way, so a
/// file is read exactly once. Memory is two fixed buffers, whatever the input size.
public final class ByteSource {
    public let name: String
    private let fd: Int32
    private let ownsFD: Bool
    private let rawCap = 1 << 20
    private let raw: UnsafeMutablePointer<UInt8>
    private var rawStart = 0
    private var rawEnd = 0
    private var rawEOF = false
    /// Compressed bytes consumed before `raw[0]`.
    private var rawBase: Int64 = 0
    public private(set) var isGzip = false
    private var sniffed = false
    private var inflater: UnsafeMutablePointer<inflate_state>?
    private var memberDone = false
    private var sha: OpaquePointer?
    /// Total raw bytes read from the input.
    public private(set) var bytesRead: Int64 = 0

    /// Opens `path`; `-` means standard input.
    public init(path: String) throws {
        name = path
        if path == "-" {
            fd = 0
            ownsFD = false
        } else {
            let f = open(path, O_RDONLY | O_CLOEXEC)
            if f < 0 { throw TransformsError.io(file: path, reason: String(cString: strerror(errno))) }
            var st = stat()
            if fstat(f, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR {
                close(f)
                throw TransformsError.io(file: path, reason: "is a directory")
            }
            fd = f
            ownsFD = true
        }
        raw = .allocate(capacity: rawCap)
        sha = EVP_MD_CTX_new()
        EVP_DigestInit_ex(sha, EVP_sha256(), nil)
    }

    deinit {
        if ownsFD { close(fd) }
        raw.deallocate()
        if let inflater { inflater.deallocate() }
        EVP_MD_CTX_free(sha)
    }

    /// Compressed byte offset of the next unread raw byte (for error messages).
    public var rawOffset: Int64 { rawBase + Int64(rawStart) }

    /// Lowercase hex SHA-256 of every raw byte read; valid once `read` has returned 0.
    public func sha256Hex() -> String {
        var md = [UInt8](repeating: 0, count: 32)
        var len: UInt32 = 0
        EVP_DigestFinal_ex(sha, &md, &len)
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for b in md { out.append(hex[Int(b >> 4)]); out.append(hex[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Reads all remaining raw bytes (e.g. to finish the hash of a file whose content is skipped).
    public func drainRaw() throws {
        repeat { rawStart = rawEnd } while try fillRaw()
    }

    private func fillRaw() throws -> Bool {
        if rawEOF { return false }
        if rawStart > 0 {
            let left = rawEnd - rawStart
            if left > 0 { memmove(raw, raw + rawStart, left) }
            rawBase += Int64(rawStart)
            rawEnd = left
            rawStart = 0
        }
        if rawEnd == rawCap { return true }
        while true {
            let n = Glibc.read(fd, raw + rawEnd, rawCap - rawEnd)
            if n < 0 {
                if errno == EINTR { continue }
                throw TransformsError.io(file: name, reason: "read error at byte \(rawBase + Int64(rawEnd)): \(String(cString: strerror(errno)))")
            }
            if n == 0 { rawEOF = true; return false }
            EVP_DigestUpdate(sha, raw + rawEnd, n)
            rawEnd += n
            bytesRead += Int64(n)
            return true
        }
    }

    /// Fills `buf` with up to `cap` decompressed bytes; returns 0 at the end of the input.
    public func read(into buf: UnsafeMutablePointer<UInt8>, capacity cap: Int) throws -> Int {
        if !sniffed {
            sniffed = true
            while rawEnd - rawStart < 2, try fillRaw() {}
            if rawEnd - rawStart >= 2 && raw[rawStart] == 0x1f && raw[rawStart + 1] == 0x8b {
                isGzip = true
                inflater = .allocate(capacity: 1)
                startMember()
            }
        }
        if !isGzip {
            if rawStart == rawEnd { _ = try fillRaw() }
            let n = min(cap, rawEnd - rawStart)
            if n > 0 { memcpy(buf, raw + rawStart, n); rawStart += n }
            return n
        }
        return try inflate(into: buf, capacity: cap)
    }

    private func startMember() {
        isal_inflate_init(inflater!)
        inflater!.pointee.crc_flag = UInt32(ISAL_GZIP)
        memberDone = false
    }

    private func inflate(into buf: UnsafeMutablePointer<UInt8>, capacity cap: Int) throws -> Int {
        let st = inflater!
        var produced = 0
        while produced == 0 {
            if memberDone {
                // Another gzip member may follow (concatenated .gz files are one stream).
                while rawEnd - rawStart < 2, try fillRaw() {}
                if rawEnd == rawStart { return 0 }
                if rawEnd - rawStart < 2 || raw[rawStart] != 0x1f || raw[rawStart + 1] != 0x8b {
                    throw TransformsError.corruptGzip(file: name, offset: rawOffset, reason: "data after the end of the gzip stream is not gzip")
                }
                startMember()
            }
            if rawStart == rawEnd {
                if !(try fillRaw()) {
                    throw TransformsError.corruptGzip(file: name, offset: rawOffset, reason: "unexpected end of file (truncated gzip)")
                }
            }
            st.pointee.next_in = raw + rawStart
            st.pointee.avail_in = UInt32(rawEnd - rawStart)
            st.pointee.next_out = buf + produced
            st.pointee.avail_out = UInt32(cap - produced)
            let ret = isal_inflate(st)
            let consumed = (rawEnd - rawStart) - Int(st.pointee.avail_in)
            rawStart += consumed
            produced = cap - Int(st.pointee.avail_out)
            if ret < 0 {
                throw TransformsError.corruptGzip(file: name, offset: rawOffset, reason: isalReason(ret))
            }
            if st.pointee.block_state == ISAL_BLOCK_FINISH {
                memberDone = true
                if produced > 0 { return produced }
                continue
            }
            if produced == 0 && consumed == 0 && rawStart < rawEnd && rawEnd - rawStart < rawCap {
                // ISA-L wants more input than is buffered (e.g. a long header): read more.
                if !(try fillRaw()) {
                    throw TransformsError.corruptGzip(file: name, offset: rawOffset, reason: "unexpected end of file (truncated gzip)")
                }
            }
        }
        return produced
    }

    private func isalReason(_ code: Int32) -> String {
        switch code {
        case ISAL_INVALID_BLOCK: return "invalid deflate block"
        case ISAL_INVALID_SYMBOL: return "invalid deflate symbol"
        case ISAL_INVALID_LOOKBACK: return "invalid lookback distance"
        case ISAL_INVALID_WRAPPER: return "invalid gzip header"
        case ISAL_UNSUPPORTED_METHOD: return "unsupported compression method"
        case ISAL_INCORRECT_CHECKSUM: return "checksum mismatch"
        default: return "inflate error \(code)"
        }
    }
}
