import ArgumentParser
import Foundation
import Transforms

/// `sellocli split`: per-window, per-server mini-files, as Sellometer's web-server imitation.
struct Split: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "split",
        abstract: "Cut events into mini-files per time window and imitation web server.",
        usage: """
        sellocli split [--every <duration>] [--servers <n>] [--gzip]
                       [--max-open <n>] [--format <format>] --output <dir>
                       [--summary-json <path>] [<file> ...]
        """,
        discussion: """
        Every row read lands in exactly one file. A row with event time t goes to the
        window starting at floor(t / every) * every (Unix seconds UTC, so 1m windows
        start on the minute): windows are [start, start + every), and a row at exactly
        00:01:00 belongs to the window starting at 00:01:00, not the one before.
        (Sellometer's splitter lost about 1.7% of rows, those at second :00, by
        getting this wrong.)

        Server: fnv1a64(user_session) mod --servers, FNV-1a 64-bit over the session's
        bytes, so a session stays on one server; a row with an empty user_session goes
        to server n mod --servers, n being the number of rows read before it in this
        run. Servers are numbered from 1 in file names.

        Files: DIR/<window start>.s<k>.csv (.csv.gz with --gzip), the start written
        YYYY-MM-DDTHH-MM-SSZ (dashes for colons: safe on every filesystem, and the
        names sort by time), k the server, zero-padded to the width of --servers. For
        example minutes/2019-10-01T00-01-00Z.s2.csv.gz holds the rows of
        00:01:00..00:01:59 of server 2. Each file is REES46 CSV: the header once,
        canonical column order, event_time as `2019-10-01 00:01:00 UTC`, every other
        field as read.

        Rows whose event_time does not parse, and records that cannot be laid out in
        columns (field count differs from the header's, a JSON line that is not an
        object, a line over 64 MiB), go to DIR/unparsable.csv (.csv.gz with --gzip) in
        ingest's rejects layout source_file,line,reason,raw. replay never delivers
        that file.

        Input need not be sorted. At most --max-open files are open at once (the least
        recently used is closed first); when a closed window gets rows again, its file
        is appended to: with --gzip as a new gzip member (concatenated members are
        valid gzip), never with a second header. Sorted input opens each file once.
        Memory grows with the number of files written, not with the rows.

        DIR is created if missing; an existing DIR must be empty, so no file of an
        earlier run mixes in. Inputs are CSV or JSON Lines, plain or gzip (from the
        bytes), - for standard input.

        The summary on standard error reconciles: rows read = written + unparsable,
        and written is given per server; --summary-json FILE writes the same figures
        as JSON.

        Examples:

          Per-minute files of four servers from the 30:1 compressed October:
            sellocli concentrate 2019-Oct.csv.gz -o oct-30x.csv.gz
            sellocli split --every 1m --servers 4 --gzip -o minutes oct-30x.csv.gz
            ls minutes | head -3
              2019-10-01T00-00-00Z.s1.csv.gz
              2019-10-01T00-00-00Z.s2.csv.gz
              2019-10-01T00-00-00Z.s3.csv.gz

          Check that nothing was lost (the data rows, as a multiset):
            zcat minutes/*.csv.gz | grep -v '^event_time,' | sort | md5sum
            zcat oct-30x.csv.gz | tail -n +2 | sort | md5sum

          Hourly files, one server, with a machine-readable summary:
            sellocli split --every 1h --servers 1 --summary-json split.json \\
              -o hours day.csv

        Exit status: 0 on success (also with unparsable rows: see the summary), 1 when
        an input cannot be read (I/O error, corrupt gzip, bad header, binary data: the
        files written so far stay, and are complete gzip), DIR is not empty, or a file
        cannot be written; 64 for invalid options.
        """
    )

    @Option(name: .long, help: ArgumentHelp("Window width (e.g. 1m, 30s, 1h).", valueName: "duration"))
    var every: String = "1m"

    @Option(name: .long, help: ArgumentHelp("Number of imitation web servers (files per window).", valueName: "n"))
    var servers: Int = 4

    @Flag(name: .long, help: "Write gzip files (.csv.gz).")
    var gzip = false

    @Option(name: .customLong("max-open"), help: ArgumentHelp("At most this many files open at once (with --gzip each takes about 1.5 MB).", valueName: "n"))
    var maxOpen: Int = 32

    @Option(name: .long, help: "Input format: auto (from the first byte), csv or jsonl.")
    var format: InputFormat = .auto

    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Output directory (created if missing; must be empty).", valueName: "dir"))
    var output: String

    @Option(name: .customLong("summary-json"), help: ArgumentHelp("Also write the summary as JSON to this file (- for stdout).", valueName: "path"))
    var summaryJSON: String?

    @Argument(help: ArgumentHelp("Input files (CSV or JSON Lines, plain or gzip); - for standard input.", valueName: "file"))
    var files: [String] = []

    func validate() throws {
        if files.isEmpty { throw ValidationError("no input files (use - for standard input)") }
        if files.filter({ $0 == "-" }).count > 1 { throw ValidationError("standard input (-) can be read only once") }
        guard let e = Arguments.duration(every), e >= 1 else {
            throw ValidationError("--every: cannot read '\(every)' as a duration of 1s or more (e.g. 1m, 30s, 1h)")
        }
        guard servers >= 1 && servers <= 10_000 else { throw ValidationError("--servers must be between 1 and 10000, got \(servers)") }
        guard maxOpen >= 1 && maxOpen <= 4096 else { throw ValidationError("--max-open must be between 1 and 4096, got \(maxOpen)") }
        guard !output.isEmpty && output != "-" else { throw ValidationError("-o needs a directory") }
    }

    func run() throws {
        var options = SplitOptions()
        options.every = Arguments.duration(every)!
        options.servers = servers
        options.gzip = gzip
        options.maxOpen = maxOpen
        options.format = format
        let dir = output.count > 1 && output.hasSuffix("/") ? String(output.dropLast()) : output
        let splitter: Splitter
        do { splitter = try Splitter(directory: dir, options: options) } catch { throw fail(error) }
        var failure: Error?
        do {
            for f in files { try splitter.add(path: f) }
        } catch {
            failure = error
        }
        // Close what is open even after a failed input, so every file written is complete gzip.
        let report: SplitReport
        do { report = try splitter.finish() } catch { throw fail(failure ?? error) }
        if let failure {
            printErr(summary(report, dir: dir, options: options, incomplete: true))
            throw fail(failure)
        }
        printErr(summary(report, dir: dir, options: options, incomplete: false))
        if let p = summaryJSON {
            let json = Split.json(report, dir: dir, options: options) + "\n"
            if p == "-" {
                FileHandle.standardOutput.write(Data(json.utf8))
            } else if !FileManager.default.createFile(atPath: p, contents: Data(json.utf8)) {
                printErr("sellocli: error: cannot write --summary-json \(p)")
                throw ExitCode(ExitCodes.failure)
            }
        }
    }

    func summary(_ r: SplitReport, dir: String, options: SplitOptions, incomplete: Bool) -> String {
        var lines = ["sellocli split\(incomplete ? " (stopped by an error; incomplete)" : ""): \(r.inputs) input(s) into \(dir), windows of \(options.every) s, \(options.servers) server(s)"]
        let reasons = RejectReason.allCases.filter { r.unparsableByReason[$0.rawValue] > 0 }.map { "\($0.code) \(r.unparsableByReason[$0.rawValue])" }
        lines.append("  rows read \(r.rowsRead) = written \(r.rowsWritten) + unparsable \(r.unparsable) (\(reasons.isEmpty ? "none" : reasons.joined(separator: ", ")))")
        lines.append("  written per server: " + r.perServer.enumerated().map { "s\($0.offset + 1) \($0.element)" }.joined(separator: ", "))
        var files = "  files written \(r.files) + unparsable \(r.unparsablePath == nil ? 0 : 1), \(r.windows) window(s)"
        if let a = r.firstWindow, let b = r.lastWindow { files += " from \(Format.iso8601(a)) to \(Format.iso8601(b))" }
        files += ", reopened \(r.reopened) time(s)"
        lines.append(files)
        if let p = r.unparsablePath { lines.append("  unparsable rows written to \(p)") }
        let rate = r.seconds > 0 ? Int(Double(r.rowsRead) / r.seconds) : 0
        lines.append("  \(String(format: "%.2f", r.seconds)) s, \(rate) rows/s")
        return lines.joined(separator: "\n")
    }

    static func json(_ r: SplitReport, dir: String, options: SplitOptions) -> String {
        func q(_ s: String) -> String {
            var out = "\""
            for c in s.unicodeScalars {
                switch c {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                default:
                    if c.value < 0x20 { out += String(format: "\\u%04x", c.value) } else { out.unicodeScalars.append(c) }
                }
            }
            return out + "\""
        }
        let reasons = RejectReason.allCases.map { "\(q($0.code)):\(r.unparsableByReason[$0.rawValue])" }.joined(separator: ",")
        let servers = r.perServer.map(String.init).joined(separator: ",")
        return "{\"directory\":\(q(dir)),\"every_seconds\":\(options.every),\"servers\":\(options.servers),\"gzip\":\(options.gzip),"
            + "\"inputs\":\(r.inputs),\"rows_read\":\(r.rowsRead),\"rows_written\":\(r.rowsWritten),\"rows_written_per_server\":[\(servers)],"
            + "\"rows_unparsable\":\(r.unparsable),\"unparsable_by_reason\":{\(reasons)},"
            + "\"unparsable_file\":\(r.unparsablePath.map(q) ?? "null"),\"files\":\(r.files),\"windows\":\(r.windows),"
            + "\"first_window\":\(r.firstWindow.map { q(Format.iso8601($0)) } ?? "null"),\"last_window\":\(r.lastWindow.map { q(Format.iso8601($0)) } ?? "null"),"
            + "\"reopened\":\(r.reopened),\"seconds\":\(String(format: "%.3f", r.seconds))}"
    }
}
