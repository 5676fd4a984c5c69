/// A strict parser for the subset of YAML 1.2 a config file needs: block mappings and block
/// sequences (indented with spaces), single-line scalars (plain, 'single' and "double" quoted),
/// flow sequences (`[a, b]`), `#` comments and one optional leading `---`. Plain scalars are
/// typed by the YAML 1.2 core schema: true/false, decimal integers and floats; everything else
/// is a string (`24h`, `1GiB`, `5%`). Anything outside the subset (anchors, aliases, tags,
/// block scalars `|` `>`, flow mappings, null values, multi-line scalars, several documents) is
/// rejected with a message naming the line.
struct YAMLSubset {
    private struct Line {
        var indent: Int
        var text: String
        var number: Int
    }

    private var lines: [Line] = []
    private var pos = 0
    private let file: String

    static func parse(_ text: String, file: String) throws -> ConfigValue {
        var p = YAMLSubset(file: file)
        try p.split(text)
        if p.lines.isEmpty { return ConfigValue(.table(ConfigTable()), line: 1) }
        let v = try p.node(indent: p.lines[0].indent)
        if p.pos < p.lines.count {
            let l = p.lines[p.pos]
            throw p.fail("unexpected content at indentation \(l.indent) (check the indentation)", l.number)
        }
        return v
    }

    private init(file: String) { self.file = file }

    private func fail(_ message: String, _ line: Int) -> ConfigError { ConfigError(file: file, line: line, message) }

    /// Splits into non-blank, non-comment lines with their indentation.
    private mutating func split(_ text: String) throws {
        var n = 0
        var seenContent = false
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            n += 1
            var l = Substring(raw)
            if l.hasSuffix("\r") { l = l.dropLast() }
            var indent = 0
            var idx = l.startIndex
            while idx < l.endIndex, l[idx] == " " { indent += 1; idx = l.index(after: idx) }
            let rest = l[idx...]
            let trimmed = rest.drop(while: { $0 == " " || $0 == "\t" })
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            if rest.hasPrefix("\t") { throw fail("tabs are not allowed for indentation (use spaces)", n) }
            let t = String(rest).trimmingTrailingSpaces
            if indent == 0 && (t == "---" || t.hasPrefix("--- ") || t.hasPrefix("---\t")) {
                if seenContent { throw fail("several documents (---) are not supported", n) }
                let after = t.dropFirst(3).drop(while: { $0 == " " || $0 == "\t" })
                if !after.isEmpty && !after.hasPrefix("#") { throw fail("content after --- is not supported: start it on the next line", n) }
                seenContent = true
                continue
            }
            if indent == 0 && t == "..." { throw fail("document end markers (...) are not supported", n) }
            if indent == 0 && t.hasPrefix("%") { throw fail("directives (%) are not supported", n) }
            seenContent = true
            lines.append(Line(indent: indent, text: t, number: n))
        }
    }

    private func isSequenceItem(_ l: Line) -> Bool { l.text == "-" || l.text.hasPrefix("- ") || l.text.hasPrefix("-\t") }

    /// The node starting at `lines[pos]`, whose indentation is `indent`.
    private mutating func node(indent: Int) throws -> ConfigValue {
        let l = lines[pos]
        if isSequenceItem(l) { return try sequence(indent: indent) }
        if try mappingKey(l) != nil { return try mapping(indent: indent) }
        // A lone scalar (the value of a `key:` on the line above, or a sequence item).
        pos += 1
        guard let v = try inlineValue(Substring(l.text), line: l.number) else { throw fail("expected a value", l.number) }
        if pos < lines.count, lines[pos].indent > indent {
            throw fail("multi-line values are not supported (unexpected indentation)", lines[pos].number)
        }
        return v
    }

    private mutating func sequence(indent: Int) throws -> ConfigValue {
        var items: [ConfigValue] = []
        let first = lines[pos].number
        while pos < lines.count, lines[pos].indent == indent, isSequenceItem(lines[pos]) {
            let l = lines[pos]
            var rest = Substring(l.text.dropFirst())
            var offset = 1
            while let c = rest.first, c == " " || c == "\t" { rest = rest.dropFirst(); offset += 1 }
            if rest.isEmpty || rest.hasPrefix("#") {
                pos += 1
                guard pos < lines.count, lines[pos].indent > indent else {
                    throw fail("empty sequence item (null values are not supported)", l.number)
                }
                items.append(try node(indent: lines[pos].indent))
            } else {
                // `- rest` is read as `rest` indented to where it starts, so `- key: v` opens a
                // mapping that continues on the lines indented like `key`.
                lines[pos] = Line(indent: indent + offset, text: String(rest), number: l.number)
                items.append(try node(indent: indent + offset))
            }
            if pos < lines.count, lines[pos].indent > indent {
                throw fail("unexpected indentation", lines[pos].number)
            }
        }
        return ConfigValue(.array(items), line: first)
    }

    private mutating func mapping(indent: Int) throws -> ConfigValue {
        var t = ConfigTable()
        let first = lines[pos].number
        while pos < lines.count, lines[pos].indent == indent {
            let l = lines[pos]
            if isSequenceItem(l) { throw fail("a sequence item where a key was expected", l.number) }
            guard let (key, rest) = try mappingKey(l) else {
                throw fail("expected key: value, got \(l.text.prefix(40))", l.number)
            }
            if let earlier = t.keyLines[key] { throw fail("duplicate key \(key) (first on line \(earlier))", l.number) }
            pos += 1
            let v: ConfigValue
            if let inline = try inlineValue(rest, line: l.number) {
                v = inline
                if pos < lines.count, lines[pos].indent > indent {
                    throw fail("unexpected indentation (multi-line values are not supported)", lines[pos].number)
                }
            } else if pos < lines.count, lines[pos].indent > indent {
                v = try node(indent: lines[pos].indent)
            } else if pos < lines.count, lines[pos].indent == indent, isSequenceItem(lines[pos]) {
                v = try sequence(indent: indent)
            } else {
                throw fail("\(key) has no value (null values are not supported)", l.number)
            }
            t.set(key, v)
            t.keyLines[key] = l.number
            if pos < lines.count, lines[pos].indent > indent {
                throw fail("unexpected indentation", lines[pos].number)
            }
        }
        return ConfigValue(.table(t), line: first)
    }

    /// `key: rest` (plain or quoted key), or nil when the line is not a mapping entry.
    private func mappingKey(_ l: Line) throws -> (String, Substring)? {
        let s = Substring(l.text)
        if let q = s.first, q == "\"" || q == "'" {
            let (key, after) = try quoted(s, line: l.number)
            let a = after.drop(while: { $0 == " " })
            guard a.first == ":" else { return nil }
            let rest = a.dropFirst()
            guard rest.isEmpty || rest.first == " " || rest.first == "\t" else { return nil }
            return (key, rest)
        }
        if let c = s.first, "?&*!|>{[%@`".contains(c) {
            if c == "?" { throw fail("complex keys (?) are not supported", l.number) }
            return nil
        }
        // The first `:` followed by a space or the end of the line ends the key.
        var idx = s.startIndex
        while idx < s.endIndex {
            if s[idx] == "#", idx > s.startIndex, s[s.index(before: idx)] == " " { return nil }
            if s[idx] == ":" {
                let next = s.index(after: idx)
                if next == s.endIndex || s[next] == " " || s[next] == "\t" {
                    let key = String(s[..<idx]).trimmingTrailingSpaces
                    if key.isEmpty { return nil }
                    return (key, s[next...])
                }
            }
            idx = s.index(after: idx)
        }
        return nil
    }

    /// The value written on the same line (after `key:` or `- `), or nil when there is none.
    private func inlineValue(_ text: Substring, line: Int) throws -> ConfigValue? {
        let s = text.drop(while: { $0 == " " || $0 == "\t" })
        guard let c = s.first, c != "#" else { return nil }
        switch c {
        case "\"", "'":
            let (v, after) = try quoted(s, line: line)
            try expectEnd(after, line: line)
            return ConfigValue(.string(v), line: line)
        case "[":
            var rest = s
            let v = try flowSequence(&rest, line: line)
            try expectEnd(rest, line: line)
            return v
        case "{": throw fail("flow mappings ({...}) are not supported: use an indented block mapping", line)
        case "|", ">": throw fail("block scalars (| and >) are not supported: use a single-line quoted string", line)
        case "&": throw fail("anchors (&) are not supported", line)
        case "*": throw fail("aliases (*) are not supported", line)
        case "!": throw fail("tags (!) are not supported", line)
        case "%", "@", "`": throw fail("a plain value cannot start with \(c): quote it", line)
        default: break
        }
        var end = s.endIndex
        var idx = s.startIndex
        while idx < s.endIndex {
            if s[idx] == "#", idx > s.startIndex, s[s.index(before: idx)] == " " || s[s.index(before: idx)] == "\t" { end = idx; break }
            idx = s.index(after: idx)
        }
        let plain = String(s[..<end]).trimmingTrailingSpaces
        if plain.contains(": ") || plain.hasSuffix(":") {
            throw fail("a mapping inside a plain value is not supported: quote the value or put the mapping on its own lines", line)
        }
        return try scalar(plain, line: line)
    }

    private func expectEnd(_ after: Substring, line: Int) throws {
        let a = after.drop(while: { $0 == " " || $0 == "\t" })
        if !a.isEmpty && !a.hasPrefix("#") { throw fail("unexpected text after the value: \(a.prefix(30))", line) }
    }

    /// A plain scalar typed by the YAML 1.2 core schema (null, .inf and .nan rejected).
    private func scalar(_ s: String, line: Int) throws -> ConfigValue {
        switch s {
        case "~", "null", "Null", "NULL": throw fail("null values are not supported", line)
        case "true", "True", "TRUE": return ConfigValue(.bool(true), line: line)
        case "false", "False", "FALSE": return ConfigValue(.bool(false), line: line)
        case ".inf", "+.inf", "-.inf", ".Inf", "+.Inf", "-.Inf", ".INF", "+.INF", "-.INF", ".nan", ".NaN", ".NAN":
            throw fail("inf and nan are not supported", line)
        default: break
        }
        let u = Array(s.unicodeScalars)
        let isDigit: (Unicode.Scalar) -> Bool = { ("0"..."9").contains($0) }
        var k = 0
        if k < u.count, u[k] == "+" || u[k] == "-" { k += 1 }
        let start = k
        while k < u.count, isDigit(u[k]) { k += 1 }
        if k == u.count, k > start {
            guard let i = Int64(s.hasPrefix("+") ? String(s.dropFirst()) : s) else { throw fail("integer \(s) is out of range", line) }
            return ConfigValue(.integer(i), line: line)
        }
        // Float: [-+]? ( . digits | digits [. digits*] ) ([eE] [-+]? digits)?
        let intDigits = k - start
        var fracDigits = 0
        if k < u.count, u[k] == "." {
            k += 1
            let f = k
            while k < u.count, isDigit(u[k]) { k += 1 }
            fracDigits = k - f
        }
        if intDigits + fracDigits > 0, k < u.count, u[k] == "e" || u[k] == "E" {
            k += 1
            if k < u.count, u[k] == "+" || u[k] == "-" { k += 1 }
            let e = k
            while k < u.count, isDigit(u[k]) { k += 1 }
            if k == e { k = -1 }
        }
        if k == u.count, intDigits + fracDigits > 0, s.contains(".") || s.contains("e") || s.contains("E"),
           let d = Double(s.hasSuffix(".") ? s + "0" : (s.hasPrefix(".") ? "0" + s : s)) {
            return ConfigValue(.float(d), line: line)
        }
        return ConfigValue(.string(s), line: line)
    }

    /// A quoted scalar at the start of `s`: its value and the text after the closing quote.
    private func quoted(_ s: Substring, line: Int) throws -> (String, Substring) {
        let q = s.first!
        var out = ""
        var idx = s.index(after: s.startIndex)
        while idx < s.endIndex {
            let c = s[idx]
            if q == "'" {
                if c == "'" {
                    let next = s.index(after: idx)
                    if next < s.endIndex, s[next] == "'" { out.append("'"); idx = s.index(after: next); continue }
                    return (out, s[next...])
                }
                out.append(c)
                idx = s.index(after: idx)
                continue
            }
            if c == "\"" { return (out, s[s.index(after: idx)...]) }
            if c == "\\" {
                idx = s.index(after: idx)
                guard idx < s.endIndex else { break }
                let e = s[idx]
                switch e {
                case "\"": out.append("\"")
                case "\\": out.append("\\")
                case "/": out.append("/")
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "r": out.append("\r")
                case "0": out.append("\0")
                case "u", "U", "x":
                    let n = e == "u" ? 4 : e == "U" ? 8 : 2
                    var hex = ""
                    for _ in 0..<n {
                        idx = s.index(after: idx)
                        guard idx < s.endIndex, s[idx].isHexDigit else { throw fail("\\\(e) needs \(n) hex digits", line) }
                        hex.append(s[idx])
                    }
                    guard let v = UInt32(hex, radix: 16), let sc = Unicode.Scalar(v) else { throw fail("\\\(e)\(hex) is not a Unicode scalar", line) }
                    out.unicodeScalars.append(sc)
                default: throw fail("unknown escape \\\(e) in a double-quoted string", line)
                }
                idx = s.index(after: idx)
                continue
            }
            out.append(c)
            idx = s.index(after: idx)
        }
        throw fail("unterminated quoted string (multi-line strings are not supported)", line)
    }

    /// `[a, "b", [c]]` on one line; `s` is advanced past the closing bracket.
    private func flowSequence(_ s: inout Substring, line: Int) throws -> ConfigValue {
        s = s.dropFirst()
        var items: [ConfigValue] = []
        func skip() { s = s.drop(while: { $0 == " " || $0 == "\t" }) }
        skip()
        if s.first == "]" { s = s.dropFirst(); return ConfigValue(.array(items), line: line) }
        while true {
            skip()
            guard let c = s.first else { throw fail("unterminated flow sequence (it must close on the same line)", line) }
            switch c {
            case "\"", "'":
                let (v, after) = try quoted(s, line: line)
                items.append(ConfigValue(.string(v), line: line))
                s = after
            case "[":
                items.append(try flowSequence(&s, line: line))
            case "{": throw fail("flow mappings ({...}) are not supported", line)
            case "]", ",": throw fail("empty item in a flow sequence", line)
            default:
                let end = s.firstIndex(where: { $0 == "," || $0 == "]" }) ?? s.endIndex
                let plain = String(s[..<end]).trimmingTrailingSpaces
                if plain.contains(" #") { throw fail("unterminated flow sequence (it must close on the same line)", line) }
                if plain.contains(": ") { throw fail("mappings inside a flow sequence are not supported", line) }
                items.append(try scalar(plain, line: line))
                s = s[end...]
            }
            skip()
            guard let d = s.first else { throw fail("unterminated flow sequence (it must close on the same line)", line) }
            s = s.dropFirst()
            if d == "]" { return ConfigValue(.array(items), line: line) }
            if d != "," { throw fail("expected , or ] in a flow sequence, got \(d)", line) }
            skip()
            if s.first == "]" { s = s.dropFirst(); return ConfigValue(.array(items), line: line) }
        }
    }
}

extension StringProtocol {
    var trimmingTrailingSpaces: String {
        var s = Substring(self)
        while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
        return String(s)
    }
}
