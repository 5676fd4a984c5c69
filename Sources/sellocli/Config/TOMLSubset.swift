/// A strict parser for the subset of TOML 1.0 a config file needs: `key = value` (bare, quoted
/// and dotted keys), `[tables]`, `[[arrays of tables]]`, basic and literal strings, decimal
/// integers, floats, booleans, arrays (over several lines, trailing comma allowed), inline
/// tables, `#` comments. Anything else (multi-line strings, dates and times, hex/octal/binary
/// integers, inf/nan) is rejected with a message naming the line, never guessed at.
struct TOMLSubset {
    private let s: [Unicode.Scalar]
    private let file: String
    private var i = 0
    private var line = 1
    private var root = ConfigTable()
    /// The table that `key = value` lines go into, as a path from the root.
    private var current: [String] = []
    /// Tables defined by a `[header]` (a second definition is an error).
    private var headerTables: Set<String> = []
    /// Arrays created by `[[header]]` (only those can be appended to).
    private var tableArrays: Set<String> = []
    /// Tables made by dotted keys or `key = value` (a later `[header]` must not reopen them).
    private var closedTables: Set<String> = []
    /// Inline tables (never extended).
    private var inlineTables: Set<String> = []

    static func parse(_ text: String, file: String) throws -> ConfigValue {
        var p = TOMLSubset(s: Array(text.unicodeScalars), file: file)
        try p.document()
        return ConfigValue(.table(p.root), line: 1)
    }

    private init(s: [Unicode.Scalar], file: String) { self.s = s; self.file = file }

    private func fail(_ message: String, line l: Int? = nil) -> ConfigError {
        ConfigError(file: file, line: l ?? line, message)
    }

    private var peek: Unicode.Scalar? { i < s.count ? s[i] : nil }
    private func peek(_ k: Int) -> Unicode.Scalar? { i + k < s.count ? s[i + k] : nil }

    private mutating func skipSpaces() { while let c = peek, c == " " || c == "\t" { i += 1 } }

    private mutating func skipComment() throws {
        guard peek == "#" else { return }
        while let c = peek, c != "\n" {
            if c.value < 0x20 && c != "\t" && c != "\r" { throw fail("control character in a comment") }
            i += 1
        }
    }

    /// Whitespace, comments and newlines (between statements, or inside arrays).
    private mutating func skipBlank() throws {
        while true {
            skipSpaces()
            try skipComment()
            if peek == "\r" && peek(1) == "\n" { i += 2; line += 1; continue }
            if peek == "\n" { i += 1; line += 1; continue }
            return
        }
    }

    private mutating func endOfLine() throws {
        skipSpaces()
        try skipComment()
        if peek == "\r" && peek(1) == "\n" { i += 2; line += 1; return }
        if peek == "\n" { i += 1; line += 1; return }
        if peek == nil { return }
        throw fail("unexpected \(describe(peek!)) after a value (one key = value per line)")
    }

    private func describe(_ c: Unicode.Scalar) -> String { c.value < 0x20 ? "control character" : "'\(Character(c))'" }

    // MARK: statements

    private mutating func document() throws {
        while true {
            try skipBlank()
            guard let c = peek else { return }
            if c == "[" { try header() } else { try keyValue() }
            try endOfLine()
        }
    }

    private mutating func header() throws {
        let l = line
        i += 1
        let isArray = peek == "["
        if isArray { i += 1 }
        skipSpaces()
        let key = try dottedKey()
        skipSpaces()
        guard peek == "]" else { throw fail("expected ] to close the table header") }
        i += 1
        if isArray {
            guard peek == "]" else { throw fail("expected ]] to close the array-of-tables header") }
            i += 1
        }
        let name = key.joined(separator: ".")
        if isArray {
            var r = root
            defer { root = r }
            try modify(&r, key.dropLast(), prefix: [], line: l) { t in
                let k = key.last!
                let full = name
                if let existing = t[k] {
                    guard case .array(var a) = existing.kind, self.tableArrays.contains(full) else {
                        throw self.fail("\(full) is already defined (line \(existing.line ?? 0)) as \(existing.typeName), not an array of tables", line: l)
                    }
                    a.append(ConfigValue(.table(ConfigTable()), line: l))
                    t.set(k, ConfigValue(.array(a), line: existing.line))
                } else {
                    t.set(k, ConfigValue(.array([ConfigValue(.table(ConfigTable()), line: l)]), line: l))
                    t.keyLines[k] = l
                }
            }
            tableArrays.insert(name)
            // Tables defined under the previous element no longer apply.
            headerTables = headerTables.filter { !$0.hasPrefix(name + ".") }
        } else {
            if headerTables.contains(name) || closedTables.contains(name) { throw fail("table [\(name)] is defined twice", line: l) }
            if tableArrays.contains(name) { throw fail("[\(name)] is an array of tables: use [[\(name)]]", line: l) }
            var r = root
            try modify(&r, key[...], prefix: [], line: l) { _ in }
            root = r
            headerTables.insert(name)
        }
        current = key
    }

    private mutating func keyValue() throws {
        let l = line
        let key = try dottedKey()
        skipSpaces()
        guard peek == "=" else {
            if key.count == 1, peek == nil || peek == "\n" || peek == "\r" || peek == "#" {
                throw fail("expected = after \(key[0]) (a line is key = value, or a [table] header)")
            }
            throw fail("expected = after the key \(key.joined(separator: "."))")
        }
        i += 1
        skipSpaces()
        let v = try value(prefix: current + key)
        try insert(key, v, line: l)
    }

    private mutating func insert(_ key: [String], _ v: ConfigValue, line l: Int) throws {
        let base = current
        var r = root
        defer { root = r }
        try modify(&r, base[...] + key.dropLast(), prefix: [], line: l) { t in
            let k = key.last!
            if let existing = t[k] {
                throw self.fail("\((base + key).joined(separator: ".")) is defined twice (first on line \(existing.line ?? 0))", line: l)
            }
            t.set(k, v)
            t.keyLines[k] = l
        }
        // Dotted keys create tables that a later [header] must not reopen.
        for n in 1..<max(1, key.count) { closedTables.insert((base + key.prefix(n)).joined(separator: ".")) }
        if case .table = v.kind { closedTables.insert((base + key).joined(separator: ".")) }
    }

    /// Walks (creating tables as needed) to the table at `path`, entering the last element of
    /// an array of tables, and applies `body` to it.
    private func modify(_ t: inout ConfigTable, _ path: ArraySlice<String>, prefix: [String], line l: Int,
                        _ body: (inout ConfigTable) throws -> Void) throws {
        guard let k = path.first else { try body(&t); return }
        let full = prefix + [k]
        let name = full.joined(separator: ".")
        var v = t[k] ?? ConfigValue(.table(ConfigTable()), line: l)
        switch v.kind {
        case .table(var sub):
            if inlineTables.contains(name) { throw fail("\(name) is an inline table and cannot be extended", line: l) }
            try modify(&sub, path.dropFirst(), prefix: full, line: l, body)
            v.kind = .table(sub)
        case .array(var a):
            guard tableArrays.contains(name), case .table(var sub)? = a.last?.kind else {
                throw fail("\(name) is \(v.typeName) (line \(v.line ?? 0)), not a table", line: l)
            }
            try modify(&sub, path.dropFirst(), prefix: full, line: l, body)
            a[a.count - 1].kind = .table(sub)
            v.kind = .array(a)
        default:
            throw fail("\(name) is \(v.typeName) (line \(v.line ?? 0)), not a table", line: l)
        }
        if t[k] == nil { t.keyLines[k] = l }
        t.set(k, v)
    }


    // MARK: keys

    private mutating func dottedKey() throws -> [String] {
        var parts = [try simpleKey()]
        while true {
            skipSpaces()
            guard peek == "." else { return parts }
            i += 1
            skipSpaces()
            parts.append(try simpleKey())
        }
    }

    private mutating func simpleKey() throws -> String {
        guard let c = peek else { throw fail("expected a key") }
        if c == "\"" { return try basicString() }
        if c == "'" { return try literalString() }
        var out = ""
        while let c = peek, (("0"..."9").contains(c) || ("a"..."z").contains(c) || ("A"..."Z").contains(c) || c == "_" || c == "-") {
            out.unicodeScalars.append(c); i += 1
        }
        if out.isEmpty { throw fail("expected a key, got \(describe(c))") }
        return out
    }

    // MARK: values

    private mutating func value(prefix: [String]) throws -> ConfigValue {
        let l = line
        guard let c = peek else { throw fail("expected a value after =") }
        switch c {
        case "\"": return ConfigValue(.string(try basicString()), line: l)
        case "'": return ConfigValue(.string(try literalString()), line: l)
        case "[": return try array(prefix: prefix)
        case "{": return try inlineTable(prefix: prefix)
        default: break
        }
        var tok = ""
        while let c = peek, c.properties.isAlphabetic || ("0"..."9").contains(c) || "_+-.:".unicodeScalars.contains(c) {
            tok.unicodeScalars.append(c); i += 1
        }
        if tok.isEmpty { throw fail("expected a value, got \(describe(c))") }
        if tok == "true" { return ConfigValue(.bool(true), line: l) }
        if tok == "false" { return ConfigValue(.bool(false), line: l) }
        if let v = TOMLSubset.number(tok) { return ConfigValue(v, line: l) }
        let digits = tok.unicodeScalars.filter { ("0"..."9").contains($0) }.count
        if tok.contains(":") || (tok.count >= 10 && digits >= 8 && tok.contains("-")) {
            throw fail("dates and times are not supported: quote it (\"\(tok)\")")
        }
        if ["inf", "+inf", "-inf", "nan", "+nan", "-nan"].contains(tok) { throw fail("inf and nan are not supported") }
        if tok.hasPrefix("0x") || tok.hasPrefix("0o") || tok.hasPrefix("0b") { throw fail("only decimal integers are supported, not \(tok)") }
        if let f = tok.unicodeScalars.first, ("0"..."9").contains(f) || f == "+" || f == "-" {
            throw fail("cannot read \(tok) as a number (strings need quotes: \"\(tok)\")")
        }
        throw fail("strings need quotes: \"\(tok)\"")
    }

    /// A TOML decimal integer or float (underscores only between digits).
    static func number(_ tok: String) -> ConfigValue.Kind? {
        var u = Array(tok.unicodeScalars)
        // Underscores must sit between two digits.
        for (k, c) in u.enumerated() where c == "_" {
            guard k > 0, k + 1 < u.count, ("0"..."9").contains(u[k - 1]), ("0"..."9").contains(u[k + 1]) else { return nil }
        }
        u.removeAll { $0 == "_" }
        var k = 0
        if k < u.count, u[k] == "+" || u[k] == "-" { k += 1 }
        let intStart = k
        while k < u.count, ("0"..."9").contains(u[k]) { k += 1 }
        let intDigits = k - intStart
        guard intDigits > 0 else { return nil }
        if intDigits > 1, u[intStart] == "0" { return nil }  // no leading zeros
        var isFloat = false
        if k < u.count, u[k] == "." {
            isFloat = true
            k += 1
            let f = k
            while k < u.count, ("0"..."9").contains(u[k]) { k += 1 }
            if k == f { return nil }
        }
        if k < u.count, u[k] == "e" || u[k] == "E" {
            isFloat = true
            k += 1
            if k < u.count, u[k] == "+" || u[k] == "-" { k += 1 }
            let e = k
            while k < u.count, ("0"..."9").contains(u[k]) { k += 1 }
            if k == e { return nil }
        }
        guard k == u.count else { return nil }
        var clean = ""
        clean.unicodeScalars.append(contentsOf: u)
        if isFloat { return Double(clean).map { .float($0) } }
        return Int64(clean).map { .integer($0) }
    }

    private mutating func array(prefix: [String]) throws -> ConfigValue {
        let l = line
        i += 1
        var items: [ConfigValue] = []
        while true {
            try skipBlank()
            guard let c = peek else { throw fail("unterminated array (opened on line \(l))") }
            if c == "]" { i += 1; break }
            items.append(try value(prefix: prefix))
            try skipBlank()
            if peek == "," { i += 1; continue }
            if peek == "]" { i += 1; break }
            if peek == nil { throw fail("unterminated array (opened on line \(l))") }
            throw fail("expected , or ] in the array, got \(describe(peek!))")
        }
        return ConfigValue(.array(items), line: l)
    }

    private mutating func inlineTable(prefix: [String]) throws -> ConfigValue {
        let l = line
        i += 1
        var t = ConfigTable()
        skipSpaces()
        if peek == "}" { i += 1; return ConfigValue(.table(t), line: l) }
        while true {
            skipSpaces()
            if peek == "\n" || peek == "\r" || peek == nil { throw fail("an inline table must close on the same line (})") }
            let key = try dottedKey()
            skipSpaces()
            guard peek == "=" else { throw fail("expected = after \(key.joined(separator: ".")) in the inline table") }
            i += 1
            skipSpaces()
            let v = try value(prefix: prefix + key)
            try TOMLSubset.setDotted(&t, key[...], v, line: l) { self.fail($0) }
            skipSpaces()
            if peek == "," { i += 1; continue }
            if peek == "}" { i += 1; break }
            if peek == "\n" || peek == "\r" || peek == nil { throw fail("an inline table must close on the same line (})") }
            throw fail("expected , or } in the inline table, got \(describe(peek!))")
        }
        inlineTables.insert(prefix.joined(separator: "."))
        return ConfigValue(.table(t), line: l)
    }

    private static func setDotted(_ t: inout ConfigTable, _ key: ArraySlice<String>, _ v: ConfigValue, line l: Int,
                                  _ fail: (String) -> ConfigError) throws {
        let k = key.first!
        if key.count == 1 {
            if t[k] != nil { throw fail("\(k) is defined twice in the inline table") }
            t.set(k, v)
            t.keyLines[k] = l
            return
        }
        var sub = ConfigTable()
        if let existing = t[k] {
            guard case .table(let e) = existing.kind else { throw fail("\(k) is \(existing.typeName), not a table") }
            sub = e
        }
        try setDotted(&sub, key.dropFirst(), v, line: l, fail)
        t.set(k, ConfigValue(.table(sub), line: l))
    }

    // MARK: strings

    private mutating func basicString() throws -> String {
        let l = line
        if peek(1) == "\"" && peek(2) == "\"" { throw fail("multi-line strings (\"\"\") are not supported") }
        i += 1
        var out = ""
        while true {
            guard let c = peek, c != "\n", c != "\r" else { throw fail("unterminated string (opened on line \(l))") }
            i += 1
            if c == "\"" { return out }
            if c == "\\" {
                guard let e = peek else { throw fail("unterminated string") }
                i += 1
                switch e {
                case "\"": out += "\""
                case "\\": out += "\\"
                case "n": out += "\n"
                case "t": out += "\t"
                case "r": out += "\r"
                case "b": out += "\u{8}"
                case "f": out += "\u{C}"
                case "u", "U":
                    let n = e == "u" ? 4 : 8
                    var hex = ""
                    for _ in 0..<n {
                        guard let h = peek, h.properties.isASCIIHexDigit else { throw fail("\\\(e) needs \(n) hex digits") }
                        hex.unicodeScalars.append(h); i += 1
                    }
                    guard let v = UInt32(hex, radix: 16), let sc = Unicode.Scalar(v) else { throw fail("\\\(e)\(hex) is not a Unicode scalar") }
                    out.unicodeScalars.append(sc)
                default: throw fail("unknown escape \\\(Character(e)) in a string")
                }
                continue
            }
            if c.value < 0x20 && c != "\t" { throw fail("control character in a string") }
            out.unicodeScalars.append(c)
        }
    }

    private mutating func literalString() throws -> String {
        let l = line
        if peek(1) == "'" && peek(2) == "'" { throw fail("multi-line strings (''') are not supported") }
        i += 1
        var out = ""
        while true {
            guard let c = peek, c != "\n", c != "\r" else { throw fail("unterminated string (opened on line \(l))") }
            i += 1
            if c == "'" { return out }
            out.unicodeScalars.append(c)
        }
    }
}
