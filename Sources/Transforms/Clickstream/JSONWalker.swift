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
///   pointers stay valid until the next `walk`.
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

    private let targets: [[UInt8]]
    private let maxTargetLength: Int
    /// The body's path from the root (nil: no body inventory; empty: the whole record).
    private let bodyPath: [UInt8]?
    /// Found values per target for the current line (nil: absent).
    public private(set) var found: [Value?]
    /// The body value's kind for the current line (nil: absent).
    public private(set) var bodyKind: JSONKind?
    /// Body paths of the current line: `(offset into pathBytes, length, kind)`.
    public private(set) var paths: [(offset: Int, count: Int, kind: JSONKind)] = []
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
    /// The full path of the current value from the root.
    private var path: [UInt8] = []
    /// Length of `path` at the body root plus its separator, while inside the body (else -1).
    private var bodyRel = -1

    public init(targets: [String], bodyPath: String?) {
        self.targets = targets.map { Array($0.utf8) }
        maxTargetLength = self.targets.map(\.count).max() ?? -1
        self.bodyPath = bodyPath.map { Array($0.utf8) }
        found = [Value?](repeating: nil, count: targets.count)
        scratchCap = 1 << 16
        scratch = .allocate(capacity: scratchCap)
        pathCap = 1 << 16
        pathBytes = .allocate(capacity: pathCap)
        path.reserveCapacity(256)
    }

    deinit {
        scratch.deallocate()
        pathBytes.deallocate()
    }

    /// The bytes of body path `k` of the current line.
    @inline(__always)
    public func pathBuffer(_ k: Int) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: pathBytes + paths[k].offset, count: paths[k].count)
    }

    public func pathString(_ k: Int) -> String { String(decoding: pathBuffer(k), as: UTF8.self) }

    /// Walks one line; false when it is not one valid JSON object.
    public func walk(_ base: UnsafePointer<UInt8>, _ count: Int) -> Bool {
        p = base; i = 0; e = count
        if scratchCap < count + 16 {
            scratch.deallocate()
            scratchCap = max(count + 16, scratchCap * 2)
            scratch = .allocate(capacity: scratchCap)
        }
        sp = 0
        for k in found.indices { found[k] = nil }
        bodyKind = nil
        paths.removeAll(keepingCapacity: true)
        pathUsed = 0
        path.removeAll(keepingCapacity: true)
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

    /// Called at each value with `path` holding its full path; records targets and body paths.
    @inline(__always)
    private func note(_ v: Value) {
        if bodyRel >= 0 {
            addPath(v.kind)
        }
        if path.count <= maxTargetLength {
            for k in 0..<targets.count where targets[k].count == path.count && targets[k] == path {
                found[k] = v
            }
        }
    }

    private func addPath(_ kind: JSONKind) {
        let n = path.count - bodyRel
        if pathUsed + n > pathCap {
            var nc = pathCap * 2
            while nc < pathUsed + n { nc *= 2 }
            let nb = UnsafeMutablePointer<UInt8>.allocate(capacity: nc)
            nb.update(from: pathBytes, count: pathUsed)
            pathBytes.deallocate()
            pathBytes = nb
            pathCap = nc
        }
        path.withUnsafeBufferPointer { b in
            if n > 0 { (pathBytes + pathUsed).update(from: b.baseAddress! + bodyRel, count: n) }
        }
        paths.append((pathUsed, n, kind))
        pathUsed += n
    }

    /// Parses the value at `i` (after whitespace), whose full path is `path`.
    private func value(depth: Int) -> Bool {
        ws()
        guard i < e else { return false }
        let c = p[i]
        switch c {
        case UInt8(ascii: "{"):
            guard depth < JSONWalker.maxDepth else { return false }
            let isBody = bodyRel < 0 && bodyPath != nil && path == bodyPath!
            note(Value(kind: .object, base: nil, count: 0))
            if isBody { bodyKind = .object }
            let saved = bodyRel
            if isBody { bodyRel = path.isEmpty ? 0 : path.count + 1 }
            defer { bodyRel = saved }
            i += 1
            ws()
            if i < e && p[i] == UInt8(ascii: "}") { i += 1; return true }
            let base = path.count
            while true {
                ws()
                guard let (kp, kn) = string() else { return false }
                ws()
                guard i < e, p[i] == UInt8(ascii: ":") else { return false }
                i += 1
                // The child's path: parent + "." + key (no dot at the root or at the body root).
                if base > 0 { path.append(UInt8(ascii: ".")) }
                path.append(contentsOf: UnsafeBufferPointer(start: kp, count: kn))
                guard value(depth: depth + 1) else { return false }
                path.removeSubrange(base...)
                ws()
                guard i < e else { return false }
                if p[i] == UInt8(ascii: ",") { i += 1; continue }
                if p[i] == UInt8(ascii: "}") { i += 1; return true }
                return false
            }
        case UInt8(ascii: "["):
            guard depth < JSONWalker.maxDepth else { return false }
            note(Value(kind: .array, base: nil, count: 0))
            if bodyRel < 0 && bodyPath != nil && path == bodyPath! { bodyKind = .array }
            i += 1
            ws()
            if i < e && p[i] == UInt8(ascii: "]") { i += 1; return true }
            let base = path.count
            path.append(UInt8(ascii: "[")); path.append(UInt8(ascii: "]"))
            defer { path.removeSubrange(base...) }
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
            if bodyRel < 0 && bodyPath != nil && path == bodyPath! { bodyKind = .string }
            return true
        case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
            let s = i
            let kind: JSONKind
            if literal("true") || literal("false") { kind = .bool } else if literal("null") { kind = .null } else { return false }
            let v = Value(kind: kind, base: p + s, count: kind == .null ? 0 : i - s)
            note(v)
            if bodyRel < 0 && bodyPath != nil && path == bodyPath! { bodyKind = kind }
            return true
        default:
            let s = i
            guard number() else { return false }
            note(Value(kind: .number, base: p + s, count: i - s))
            if bodyRel < 0 && bodyPath != nil && path == bodyPath! { bodyKind = .number }
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
        guard i < e && p[i] == 0x22 else { return nil }
        i += 1
        let s = i
        while i < e {
            let c = p[i]
            if c == 0x22 { i += 1; return (p + s, i - 1 - s) }
            if c == 0x5C { break }
            if c < 0x20 { return nil }
            i += 1
        }
        guard i < e else { return nil }
        return JSONString.decode(p, &i, e, from: s, into: scratch, &sp)
    }
}
