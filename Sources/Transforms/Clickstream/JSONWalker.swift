#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The JSON type of a value, in the order the key inventory counts them.
public enum JSONKind: UInt8, CaseIterable, Sendable {
    case string = 0, number, bool, object, array, null

    /// Column names of the type counts in `event_keys` (plural, like `events`).
    public var columnName: String {
        switch self {
        case .string: return "strings"
        case .number: return "numbers"
        case .bool: return "bools"
        case .object: return "objects"
        case .array: return "arrays"
        case .null: return "nulls"
        }
    }
}

/// A byte-level walker over one JSON object (one JSON Lines record): validates the whole text,
/// captures the values at a few fixed paths (the mapped canonical fields), and lists every key
/// path below one object (the body) with the JSON type found there.
///
/// Contract:
/// - The text must be exactly one JSON object (surrounding whitespace allowed); anything else,
///   including invalid escapes, control characters in strings, malformed numbers, bare words
///   other than `true`/`false`/`null`, trailing bytes, or nesting deeper than `maxDepth`, makes
///   `walk` return false. Bytes are not checked to be valid UTF-8.
/// - Targets are dotted paths of object keys from the root (`eventType`, `context.page.path`);
///   they never go through arrays. A duplicated key: the last occurrence wins.
/// - Body paths are dotted from the body root with `[]` for array elements: `filters.brand`,
///   `items`, `items[]`, `items[].sku`, `matrix[][]`. Containers are listed too; the body itself
///   is not. Every occurrence is listed (an array of three objects lists `items[].sku` three
///   times): callers count each (path, type) once per event. A key holding `.` or `[` is used
///   as is (such paths can be ambiguous).
/// - String values and keys are unescaped (`\uXXXX` and surrogate pairs to UTF-8). Returned
///   pointers stay valid until the next `walk`; in a batch (`beginBatch`, `walkKept`), every
///   line's until the next batch.
/// - No allocation per line once the buffers have grown to the largest line seen.
public final class JSONWalker {
    public struct Value {
        public var kind: JSONKind
        /// String contents (unescaped) or the literal token of a number/bool; empty for null and
        /// containers.
        public var base: UnsafePointer<UInt8>?
        public var count: Int
        public var string: String {
            guard let base, count > 0 else { return "" }
            return String(decoding: UnsafeBufferPointer(start: base, count: count), as: UTF8.self)
        }
    }

    public static let maxDepth = 256

    /// The targets' paths, one after the other: target k is `targetLength[k]` bytes at
    /// `targetBytes + targetOffset[k]` (raw memory: compared at every value).
    private let targetCount: Int
    private let targetBytes: UnsafeMutablePointer<UInt8>
    private let targetOffset: UnsafeMutablePointer<Int>
    private let targetLength: UnsafeMutablePointer<Int>
    private let maxTargetLength: Int
    /// Bit n set when a target is n bytes long (n < 64): most values' paths match no length.
    private let targetLengthMask: UInt64
    /// The body's path from the root, `bodyLength` bytes (-1: no body inventory; 0: the whole
    /// record).
    private let bodyBytes: UnsafeMutablePointer<UInt8>
    private let bodyLength: Int
    /// Found values per target for the current line (nil: absent).
    public private(set) var found: [Value?]
    /// The body value's kind for the current line (nil: absent).
    public private(set) var bodyKind: JSONKind?
    /// Body paths of the current line: `(offset into pathBytes, length, kind)`.
    public private(set) var paths: [(offset: Int, count: Int, kind: JSONKind)] = []
    /// The body paths of the current line, each as its kind (1 byte), its length (4 bytes) and
    /// its bytes (where `paths[k].offset` points).
    public private(set) var pathBytes: UnsafeMutablePointer<UInt8>
    private var pathCap: Int
    private var pathUsed = 0

    private var p: UnsafePointer<UInt8> = UnsafePointer(bitPattern: 1)!
    private var i = 0
    private var e = 0
    /// Unescaped strings of the current line.
    private var scratch: UnsafeMutablePointer<UInt8>
    private var scratchCap: Int
    private var sp = 0
    /// The full path of the current value from the root: `curLength` bytes at `cur`.
    private var cur: UnsafeMutablePointer<UInt8>
    private var curCap: Int
    private var curLength = 0
    /// `.[]`: what `extendPath` appends between a parent and its key, or for an array element.
    private let separators: UnsafeMutablePointer<UInt8>
    /// Length of `cur` at the body root plus its separator, while inside the body (else -1).
    private var bodyRel = -1

    public init(targets: [String], bodyPath: String?) {
        let t = targets.map { Array($0.utf8) }
        targetCount = t.count
        targetOffset = .allocate(capacity: max(1, t.count))
        targetLength = .allocate(capacity: max(1, t.count))
        targetBytes = .allocate(capacity: max(1, t.reduce(0) { $0 + $1.count }))
        var at = 0
        for (k, b) in t.enumerated() {
            targetOffset[k] = at
            targetLength[k] = b.count
            if !b.isEmpty { (targetBytes + at).initialize(from: b, count: b.count) }
            at += b.count
        }
        maxTargetLength = t.map(\.count).max() ?? -1
        targetLengthMask = t.reduce(0) { $1.count < 64 ? $0 | 1 << UInt64($1.count) : $0 }
        let body = bodyPath.map { Array($0.utf8) }
        bodyLength = body?.count ?? -1
        bodyBytes = .allocate(capacity: max(1, bodyLength))
        if let body, !body.isEmpty { bodyBytes.initialize(from: body, count: body.count) }
        found = [Value?](repeating: nil, count: targets.count)
        scratchCap = 1 << 16
        scratch = .allocate(capacity: scratchCap)
        pathCap = 1 << 16
        pathBytes = .allocate(capacity: pathCap)
        curCap = 1 << 10
        cur = .allocate(capacity: curCap)
        separators = .allocate(capacity: 3)
        separators.initialize(from: Array(".[]".utf8), count: 3)
    }

    deinit {
        scratch.deallocate()
        pathBytes.deallocate()
        cur.deallocate()
        separators.deallocate()
        targetBytes.deallocate()
        targetOffset.deallocate()
        targetLength.deallocate()
        bodyBytes.deallocate()
    }

    /// The current line's body paths with their kinds, in order, as one byte string: two lines
    /// have equal shapes exactly when they list the same paths with the same kinds.
    public var shape: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: pathBytes, count: pathUsed) }

    /// The bytes of body path `k` of the current line.
    @inline(__always)
    public func pathBuffer(_ k: Int) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: pathBytes + paths[k].offset, count: paths[k].count)
    }

    public func pathString(_ k: Int) -> String { String(decoding: pathBuffer(k), as: UTF8.self) }

    /// Walks one line; false when it is not one valid JSON object.
    public func walk(_ base: UnsafePointer<UInt8>, _ count: Int) -> Bool {
        reserveScratch(count)
        sp = 0
        paths.removeAll(keepingCapacity: true)
        pathUsed = 0
        return scan(base, count)
    }

    // MARK: batches

    /// What `walkKept` keeps of one line: whether it is one valid JSON object, the body's kind,
    /// and where its found values, body paths and shape are.
    public struct Kept {
        public var ok: Bool
        public var bodyKind: JSONKind?
        /// The line's first entry in `keptFound` (one per target, in target order).
        public var found: Int
        /// The line's body paths in `paths`.
        public var paths: Range<Int>
        /// The line's shape in `pathBytes` (see `shape`).
        public var shape: Range<Int>
    }

    /// Per line walked with `walkKept` since `beginBatch`.
    public private(set) var kept: [Kept] = []
    public private(set) var keptFound: [Value?] = []

    /// Starts a batch: the lines walked with `walkKept` keep their results (pointers included)
    /// until the next `beginBatch` or `walk`. `bytes`: the lines' total length at least (the
    /// unescaped strings of all of them must fit in scratch without moving it).
    public func beginBatch(bytes: Int) {
        reserveScratch(bytes)
        sp = 0
        paths.removeAll(keepingCapacity: true)
        pathUsed = 0
        kept.removeAll(keepingCapacity: true)
        keptFound.removeAll(keepingCapacity: true)
    }

    /// Walks one line of the batch; its results are `kept.last`.
    public func walkKept(_ base: UnsafePointer<UInt8>, _ count: Int) {
        let pathsFrom = paths.count, shapeFrom = pathUsed
        let ok = scan(base, count)
        kept.append(Kept(ok: ok, bodyKind: bodyKind, found: keptFound.count, paths: pathsFrom..<paths.count,
                         shape: shapeFrom..<pathUsed))
        keptFound.append(contentsOf: found)
    }

    /// The shape of a kept line.
    @inline(__always)
    public func shape(_ k: Kept) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: pathBytes + k.shape.lowerBound, count: k.shape.count)
    }

    private func reserveScratch(_ count: Int) {
        if scratchCap < count + 16 {
            scratch.deallocate()
            scratchCap = max(count + 16, scratchCap * 2)
            scratch = .allocate(capacity: scratchCap)
        }
    }

    /// The walk itself: scratch, paths and path bytes go on from where they are.
    private func scan(_ base: UnsafePointer<UInt8>, _ count: Int) -> Bool {
        p = base; i = 0; e = count
        for k in found.indices { found[k] = nil }
        bodyKind = nil
        curLength = 0
        bodyRel = -1
        ws()
        guard i < e, p[i] == UInt8(ascii: "{") else { return false }
        guard value(depth: 0) else { return false }
        ws()
        return i == e
    }

    /// Convenience for tests and tools: walks `text` and returns the body paths with kinds.
    public func bodyPaths(_ text: String) -> [(String, JSONKind)]? {
        var bytes = Array(text.utf8)
        let ok = bytes.withUnsafeMutableBufferPointer { walk(UnsafePointer($0.baseAddress ?? UnsafeMutablePointer(bitPattern: 1)!), $0.count) }
        guard ok else { return nil }
        return paths.indices.map { (pathString($0), paths[$0].kind) }
    }

    // MARK: grammar

    @inline(__always) private func ws() {
        while i < e {
            let c = p[i]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1 } else { break }
        }
    }

    /// Called at each value with `cur` holding its full path; records targets and body paths.
    @inline(__always)
    private func note(_ v: Value) {
        if bodyRel >= 0 {
            addPath(v.kind)
        }
        let n = curLength
        if n < 64 ? targetLengthMask >> UInt64(n) & 1 != 0 : n <= maxTargetLength {
            for k in 0..<targetCount where targetLength[k] == n {
                let t = targetBytes + targetOffset[k]
                // The first byte tells most keys of a length apart without a call.
                if n == 0 || (t[0] == cur[0] && memcmp(t, cur, n) == 0) { found[k] = v }
            }
        }
    }

    /// The current value is the body (which is never inside the body).
    @inline(__always)
    private var atBody: Bool {
        bodyRel < 0 && curLength == bodyLength && memcmp(bodyBytes, cur, curLength) == 0
    }

    /// Appends to the current path, growing it when needed.
    @inline(__always)
    private func extendPath(_ b: UnsafePointer<UInt8>, _ n: Int) {
        if curLength + n > curCap {
            var nc = curCap * 2
            while nc < curLength + n { nc *= 2 }
            let nb = UnsafeMutablePointer<UInt8>.allocate(capacity: nc)
            nb.update(from: cur, count: curLength)
            cur.deallocate()
            cur = nb
            curCap = nc
        }
        (cur + curLength).update(from: b, count: n)
        curLength += n
    }


    private func addPath(_ kind: JSONKind) {
        let n = curLength - bodyRel
        if pathUsed + 5 + n > pathCap {
            var nc = pathCap * 2
            while nc < pathUsed + 5 + n { nc *= 2 }
            let nb = UnsafeMutablePointer<UInt8>.allocate(capacity: nc)
            nb.update(from: pathBytes, count: pathUsed)
            pathBytes.deallocate()
            pathBytes = nb
            pathCap = nc
        }
        pathBytes[pathUsed] = kind.rawValue
        UnsafeMutableRawPointer(pathBytes + pathUsed + 1).storeBytes(of: UInt32(truncatingIfNeeded: n).littleEndian, as: UInt32.self)
        pathUsed += 5
        if n > 0 { (pathBytes + pathUsed).update(from: cur + bodyRel, count: n) }
        paths.append((pathUsed, n, kind))
        pathUsed += n
    }

    /// Parses the value at `i` (after whitespace), whose full path is `cur`.
    private func value(depth: Int) -> Bool {
        ws()
        guard i < e else { return false }
        let c = p[i]
        switch c {
        case UInt8(ascii: "{"):
            guard depth < JSONWalker.maxDepth else { return false }
            let isBody = atBody
            note(Value(kind: .object, base: nil, count: 0))
            if isBody { bodyKind = .object }
            let saved = bodyRel
            if isBody { bodyRel = curLength == 0 ? 0 : curLength + 1 }
            defer { bodyRel = saved }
            i += 1
            ws()
            if i < e && p[i] == UInt8(ascii: "}") { i += 1; return true }
            let base = curLength
            while true {
                ws()
                guard let (kp, kn) = string() else { return false }
                ws()
                guard i < e, p[i] == UInt8(ascii: ":") else { return false }
                i += 1
                // The child's path: parent + "." + key (no dot at the root or at the body root).
                if base > 0 { extendPath(separators, 1) }
                extendPath(kp, kn)
                guard value(depth: depth + 1) else { return false }
                curLength = base
                ws()
                guard i < e else { return false }
                if p[i] == UInt8(ascii: ",") { i += 1; continue }
                if p[i] == UInt8(ascii: "}") { i += 1; return true }
                return false
            }
        case UInt8(ascii: "["):
            guard depth < JSONWalker.maxDepth else { return false }
            note(Value(kind: .array, base: nil, count: 0))
            if atBody { bodyKind = .array }
            i += 1
            ws()
            if i < e && p[i] == UInt8(ascii: "]") { i += 1; return true }
            let base = curLength
            extendPath(separators + 1, 2)
            defer { curLength = base }
            while true {
                guard value(depth: depth + 1) else { return false }
                ws()
                guard i < e else { return false }
                if p[i] == UInt8(ascii: ",") { i += 1; continue }
                if p[i] == UInt8(ascii: "]") { i += 1; return true }
                return false
            }
        case 0x22:
            guard let (vp, vn) = string() else { return false }
            let v = Value(kind: .string, base: vp, count: vn)
            note(v)
            if atBody { bodyKind = .string }
            return true
        case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
            let s = i
            let kind: JSONKind
            if literal("true") || literal("false") { kind = .bool } else if literal("null") { kind = .null } else { return false }
            let v = Value(kind: kind, base: p + s, count: kind == .null ? 0 : i - s)
            note(v)
            if atBody { bodyKind = kind }
            return true
        default:
            let s = i
            guard number() else { return false }
            note(Value(kind: .number, base: p + s, count: i - s))
            if atBody { bodyKind = .number }
            return true
        }
    }

    @inline(__always) private func literal(_ w: StaticString) -> Bool {
        let n = w.utf8CodeUnitCount
        guard i + n <= e else { return false }
        let q = w.utf8Start
        for k in 0..<n where p[i + k] != q[k] { return false }
        // A literal must end at a delimiter (`truex` is not JSON).
        if i + n < e {
            let c = p[i + n]
            if !(c == 0x2C || c == 0x7D || c == 0x5D || c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09) { return false }
        }
        i += n
        return true
    }

    /// RFC 8259 number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
    private func number() -> Bool {
        if i < e && p[i] == UInt8(ascii: "-") { i += 1 }
        guard i < e else { return false }
        if p[i] == 0x30 {
            i += 1
        } else if p[i] >= 0x31 && p[i] <= 0x39 {
            while i < e && p[i] &- 0x30 <= 9 { i += 1 }
        } else {
            return false
        }
        if i < e && p[i] == UInt8(ascii: ".") {
            i += 1
            let s = i
            while i < e && p[i] &- 0x30 <= 9 { i += 1 }
            if i == s { return false }
        }
        if i < e && (p[i] == UInt8(ascii: "e") || p[i] == UInt8(ascii: "E")) {
            i += 1
            if i < e && (p[i] == UInt8(ascii: "+") || p[i] == UInt8(ascii: "-")) { i += 1 }
            let s = i
            while i < e && p[i] &- 0x30 <= 9 { i += 1 }
            if i == s { return false }
        }
        if i < e {
            let c = p[i]
            if !(c == 0x2C || c == 0x7D || c == 0x5D || c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09) { return false }
        }
        return true
    }

    /// A string at `i` (opening quote): its bytes, in the line when it has no escapes, else
    /// unescaped into scratch.
    @inline(__always)
    private func string() -> (UnsafePointer<UInt8>, Int)? {
        let p = self.p, e = self.e
        var j = i
        guard j < e && p[j] == 0x22 else { return nil }
        j += 1
        let s = j
        // Eight bytes at a time up to the first quote, backslash or control byte: the lowest
        // flagged byte of a word is always a real one (a false flag can only follow a real one).
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        while j + 8 <= e {
            let w = UnsafeRawPointer(p + j).loadUnaligned(as: UInt64.self)
            let q = w ^ (ones &* 0x22), b = w ^ (ones &* 0x5C)
            let hit = (((q &- ones) & ~q) | ((b &- ones) & ~b) | ((w &- ones &* 0x20) & ~w)) & highs
            if hit != 0 {
                j += hit.trailingZeroBitCount >> 3
                break
            }
            j += 8
        }
        while j < e {
            let c = p[j]
            if c == 0x22 { i = j + 1; return (p + s, j - s) }
            if c == 0x5C { break }
            if c < 0x20 { i = j; return nil }
            j += 1
        }
        i = j
        guard j < e else { return nil }
        return JSONString.decode(p, &i, e, from: s, into: scratch, &sp)
    }
}
