import ArgumentParser
import Storage
import Transforms
#if canImport(Glibc)
import Glibc
#endif

/// Output formats every reading subcommand offers.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, csv, tsv, json, jsonl
}

/// `--format`: `table` by default on a terminal, `csv` otherwise.
struct OutputOptions: ParsableArguments {
    @Option(name: .long, help: "Output format: table, csv, tsv, json or jsonl (default: table on a terminal, else csv).")
    var format: OutputFormat?

    var resolved: OutputFormat { format ?? (isatty(1) != 0 ? .table : .csv) }
}

/// Writes rows to stdout in one of the output formats. Rows are streamed, except `table`, which
/// needs every width first.
final class ResultWriter {
    let format: OutputFormat
    private var columns: [String] = []
    private var buffered: [[String]] = []
    private var rowsWritten = 0
    private var out = [UInt8]()

    init(format: OutputFormat) { self.format = format }

    func begin(columns: [String]) {
        self.columns = columns
        switch format {
        case .csv: emit(columns.map { CSVText.field($0) }.joined(separator: ",") + "\n")
        case .tsv: emit(columns.map(tsvField).joined(separator: "\t") + "\n")
        case .json: emit("[")
        case .jsonl, .table: break
        }
    }

    func row(_ cells: [Cell]) {
        switch format {
        case .csv: emit(cells.map { CSVText.field(plain($0)) }.joined(separator: ",") + "\n")
        case .tsv: emit(cells.map { tsvField(plain($0)) }.joined(separator: "\t") + "\n")
        case .json: emit((rowsWritten == 0 ? "\n" : ",\n") + jsonObject(cells))
        case .jsonl: emit(jsonObject(cells) + "\n")
        case .table: buffered.append(cells.map(plain))
        }
        rowsWritten += 1
        if out.count > 1 << 16 { flush() }
    }

    func end() {
        switch format {
        case .json: emit(rowsWritten == 0 ? "]\n" : "\n]\n")
        case .table: emitTable()
        default: break
        }
        flush()
    }

    func write(_ t: ResultTable) {
        begin(columns: t.columns)
        for r in t.rows { row(r) }
        end()
    }

    private func emit(_ s: String) { out.append(contentsOf: s.utf8) }

    private func flush() {
        out.withUnsafeBytes { b in
            var off = 0
            while off < b.count {
                let n = Glibc.write(1, b.baseAddress! + off, b.count - off)
                if n <= 0 { if errno == EINTR { continue }; exit(errno == EPIPE ? 0 : 1) }
                off += n
            }
        }
        out.removeAll(keepingCapacity: true)
    }

    private func plain(_ c: Cell) -> String {
        switch c {
        case .null: return ""
        case .int(let v): return String(v)
        case .real(let v): return String(v)
        case .text(let s): return s
        case .blob(let b): return "x'" + b.map { String($0, radix: 16).leftPad(2) }.joined() + "'"
        case .money(let v): return Format.money(v)
        case .time(let t): return Format.iso8601(t)
        }
    }

    private func tsvField(_ s: String) -> String {
        var o = ""
        for ch in s {
            switch ch {
            case "\t": o += "\\t"
            case "\n": o += "\\n"
            case "\r": o += "\\r"
            case "\\": o += "\\\\"
            default: o.append(ch)
            }
        }
        return o
    }

    private func jsonObject(_ cells: [Cell]) -> String {
        var parts: [String] = []
        for (i, c) in cells.enumerated() {
            let v: String
            switch c {
            case .null: v = "null"
            case .int(let x): v = String(x)
            case .real(let x): v = x.isFinite ? String(x) : "null"
            case .text(let s): v = jsonString(s)
            case .blob: v = jsonString(plain(c))
            case .money(let x): v = Format.money(x)
            case .time(let t): v = jsonString(Format.iso8601(t))
            }
            parts.append(jsonString(i < columns.count ? columns[i] : "c\(i)") + ":" + v)
        }
        return "{" + parts.joined(separator: ",") + "}"
    }

    private func emitTable() {
        var widths = columns.map { $0.count }
        var numeric = [Bool](repeating: true, count: columns.count)
        for r in buffered {
            for (i, s) in r.enumerated() where i < widths.count {
                widths[i] = max(widths[i], s.count)
                if !s.isEmpty && !looksNumeric(s) { numeric[i] = false }
            }
        }
        func line(_ cells: [String]) -> String {
            var parts: [String] = []
            for (i, s) in cells.enumerated() {
                let pad = String(repeating: " ", count: max(0, widths[i] - s.count))
                parts.append(numeric[i] ? pad + s : s + pad)
            }
            var l = parts.joined(separator: "  ")
            while l.hasSuffix(" ") { l.removeLast() }
            return l + "\n"
        }
        emit(line(columns))
        emit(line(widths.map { String(repeating: "-", count: $0) }))
        for r in buffered { emit(line(r)) }
        if buffered.isEmpty { emit("(no rows)\n") }
    }

    private func looksNumeric(_ s: String) -> Bool {
        s.allSatisfy { $0.isNumber || $0 == "." || $0 == "-" }
    }
}

func jsonString(_ s: String) -> String {
    var o = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": o += "\\\""
        case "\\": o += "\\\\"
        case "\n": o += "\\n"
        case "\r": o += "\\r"
        case "\t": o += "\\t"
        default:
            if u.value < 0x20 { o += "\\u" + String(u.value, radix: 16).leftPad(4) } else { o.unicodeScalars.append(u) }
        }
    }
    return o + "\""
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
