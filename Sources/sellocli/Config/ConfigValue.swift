/// The generic value tree a config file (TOML or YAML) is read into, and typed accessors whose
/// errors name the file, the key path (`tiers[1].retention`) and the line.
///
/// Parsers (`TOMLSubset`, `YAMLSubset`) produce a `ConfigValue`; `ConfigCursor` walks it. Every
/// section of the configuration is read through cursors, so a new section needs no parser change.
struct ConfigValue: Equatable {
    enum Kind: Equatable {
        case table(ConfigTable)
        case array([ConfigValue])
        case string(String)
        case integer(Int64)
        case float(Double)
        case bool(Bool)
    }
    var kind: Kind
    /// 1-based line where the value starts, when the parser knows it.
    var line: Int?

    init(_ kind: Kind, line: Int?) { self.kind = kind; self.line = line }

    var typeName: String {
        switch kind {
        case .table: return "a table"
        case .array: return "an array"
        case .string: return "a string"
        case .integer: return "an integer"
        case .float: return "a float"
        case .bool: return "a boolean"
        }
    }

    /// The tree without line numbers (to compare what two files mean, whatever their layout).
    var stripped: ConfigValue {
        switch kind {
        case .table(let t):
            var out = ConfigTable()
            for k in t.keys { out.set(k, t.values[k]!.stripped) }
            return ConfigValue(.table(out), line: nil)
        case .array(let a): return ConfigValue(.array(a.map(\.stripped)), line: nil)
        default: return ConfigValue(kind, line: nil)
        }
    }
}

/// A table that keeps its keys in file order.
struct ConfigTable: Equatable {
    private(set) var keys: [String] = []
    private(set) var values: [String: ConfigValue] = [:]
    /// Line of the key (for duplicate-key messages).
    var keyLines: [String: Int] = [:]

    subscript(key: String) -> ConfigValue? { values[key] }

    mutating func set(_ key: String, _ value: ConfigValue) {
        if values[key] == nil { keys.append(key) }
        values[key] = value
    }

    static func == (a: ConfigTable, b: ConfigTable) -> Bool { a.keys == b.keys && a.values == b.values }
}

/// A configuration problem: where (file, line, key path) and what.
struct ConfigError: Error, CustomStringConvertible, Equatable {
    /// Where the bad value came from: a file path, `$SELLO_X`, or `--flag`.
    var file: String?
    var line: Int?
    var path: String?
    var message: String
    /// A flag value (exit 64) rather than a config file or environment value (exit 78).
    var isUsage = false

    init(file: String? = nil, line: Int? = nil, path: String? = nil, _ message: String, isUsage: Bool = false) {
        self.file = file; self.line = line; self.path = path; self.message = message; self.isUsage = isUsage
    }

    var description: String {
        var s = ""
        if let file { s += file; if let line { s += ":\(line)" }; s += ": " }
        if let path, !path.isEmpty { s += "\(path): " }
        return s + message
    }
}

/// A position in a value tree: the value, its key path and its file, for typed reading.
struct ConfigCursor {
    let file: String
    let path: String
    let value: ConfigValue

    init(file: String, path: String = "", value: ConfigValue) { self.file = file; self.path = path; self.value = value }

    var line: Int? { value.line }

    func error(_ message: String) -> ConfigError { ConfigError(file: file, line: value.line, path: path, message) }

    private func expected(_ what: String) -> ConfigError { error("expected \(what), got \(value.typeName)") }

    // MARK: typed values

    func string() throws -> String {
        guard case .string(let s) = value.kind else { throw expected("a string") }
        return s
    }

    func integer() throws -> Int64 {
        guard case .integer(let i) = value.kind else { throw expected("an integer") }
        return i
    }

    /// A float; an integer is accepted too.
    func number() throws -> Double {
        switch value.kind {
        case .float(let d): return d
        case .integer(let i): return Double(i)
        default: throw expected("a number")
        }
    }

    func bool() throws -> Bool {
        guard case .bool(let b) = value.kind else { throw expected("true or false") }
        return b
    }

    func array() throws -> [ConfigCursor] {
        guard case .array(let a) = value.kind else { throw expected("an array") }
        return a.enumerated().map { ConfigCursor(file: file, path: "\(path)[\($0.offset)]", value: $0.element) }
    }

    func table() throws -> ConfigTable {
        guard case .table(let t) = value.kind else { throw expected("a table") }
        return t
    }

    /// A string or a number read as text by `parse` (durations, sizes, rates): the message says
    /// what was expected.
    func text<T>(_ what: String, _ parse: (String) -> T?) throws -> T {
        let s: String
        switch value.kind {
        case .string(let v): s = v
        case .integer(let i): s = String(i)
        case .float(let d): s = String(d)
        default: throw expected(what)
        }
        guard let v = parse(s) else { throw error("expected \(what), got \"\(s)\"") }
        return v
    }

    // MARK: tables

    func childPath(_ key: String) -> String {
        let k = key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) && !key.isEmpty ? key : "\"\(key)\""
        return path.isEmpty ? k : "\(path).\(k)"
    }

    /// The value under `key`, if present (the cursor must be a table).
    func child(_ key: String) throws -> ConfigCursor? {
        let t = try table()
        guard let v = t[key] else { return nil }
        return ConfigCursor(file: file, path: childPath(key), value: v)
    }

    /// Fails on a key not in `allowed`, suggesting the closest allowed key when one is near.
    func checkKeys(_ allowed: [String]) throws {
        let t = try table()
        for k in t.keys where !allowed.contains(k) {
            var msg = "unknown key"
            if let s = closest(k, in: allowed) { msg += " (did you mean \(s)?)" }
            msg += "; known keys here: \(allowed.joined(separator: ", "))"
            throw ConfigError(file: file, line: t.keyLines[k] ?? t[k]?.line, path: childPath(k), msg)
        }
    }
}

/// The candidate within a small edit distance of `word` (for did-you-mean), if any.
func closest(_ word: String, in candidates: [String]) -> String? {
    let w = Array(word.lowercased())
    var best: (String, Int)?
    for c in candidates {
        let d = editDistance(w, Array(c.lowercased()))
        let limit = max(1, min(3, c.count / 3))
        if d <= limit, best == nil || d < best!.1 { best = (c, d) }
    }
    return best?.0
}

func editDistance(_ a: [Character], _ b: [Character]) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var prev = Array(0...b.count)
    var cur = prev
    for i in 1...a.count {
        cur[0] = i
        for j in 1...b.count {
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&prev, &cur)
    }
    return prev[b.count]
}
