import ArgumentParser
import Foundation
import Transforms

/// `sellocli concentrate`: Sellometer's time compression (30 s of input time per output second).
struct Concentrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "concentrate",
        abstract: "Compress event time by a ratio (Sellometer's 30:1), writing REES46 CSV.",
        usage: """
        sellocli concentrate [--ratio <n>] [--origin <time>]
                             [--format <format>] [--output <file>] [--gzip]
                             [--rejects <file>] [<file> ...]
        """,
        discussion: """
        Rewrites every event_time t as origin + floor((t - origin) / ratio), the floor
        taken toward minus infinity (also for times before --origin), so the 31 days
        of October play in about one day at --ratio 30. The output is CSV with the
        REES46 header in canonical column order (event_time, event_type, product_id,
        category_id, category_code, brand, price, user_id, user_session) and
        event_time as `2019-10-01 00:00:00 UTC`; every other field is written as it
        was read (re-quoted only when it holds a comma, quote or newline; a column the
        input lacks is empty). Rows keep their input order; the inputs are
        concatenated in the order given.

        Inputs are CSV (with a header) or JSON Lines, plain or gzip (detected from the
        bytes), `-` for standard input; the times accepted are those of ingest. The
        output is plain unless --gzip is given or its name ends in .gz. Memory does
        not grow with the input.

        Rows that cannot be compressed are never dropped silently:
          - a row whose event_time does not parse is written unchanged (event_time
            verbatim; ingest will reject it with bad_event_time), or, with --rejects,
            goes to the rejects file instead;
          - a record that cannot be laid out in columns (CSV field count differs from
            the header's, a JSON line that is not an object, a line over 64 MiB) goes
            to the rejects file with --rejects, else it is dropped and counted.
        The rejects file has ingest's layout, source_file,line,reason,raw (gzip when
        its name ends in .gz). The summary on standard error reconciles: rows read =
        written (compressed + unparsable passed through) + to rejects + malformed
        dropped.

        Worked example (--ratio 30, --origin 2019-10-01T00:00:00Z):
          2019-10-01 00:00:00 UTC  ->  2019-10-01 00:00:00 UTC
          2019-10-01 00:00:59 UTC  ->  2019-10-01 00:00:01 UTC
                                       (59 / 30 = 1.97, floor 1)
          2019-10-01 01:00:00 UTC  ->  2019-10-01 00:02:00 UTC
          2019-10-31 23:59:59 UTC  ->  2019-10-02 00:47:59 UTC
                                       (2678399 / 30 = 89279.97)
          2019-09-30 23:59:59 UTC  ->  2019-09-30 23:59:59 UTC
                                       (-1 / 30 = -0.03, floor -1)

        Examples:

          October compressed into one day, gzip:
            sellocli concentrate --ratio 30 --origin 2019-10-01T00:00:00Z \\
              2019-Oct.csv.gz -o oct-30x.csv.gz

          From a pipe, keeping unparsable rows apart:
            zcat 2019-Oct.csv.gz | head -100000 | \\
              sellocli concentrate --rejects bad.csv - > head-30x.csv

          Then cut into per-minute files of four imitation web servers:
            sellocli concentrate 2019-Oct.csv.gz -o oct-30x.csv.gz
            sellocli split --every 1m --servers 4 --gzip -o minutes oct-30x.csv.gz

        Exit status: 0 on success (also when rows were passed through or dropped: see
        the summary), 1 when an input cannot be read (I/O error, corrupt gzip, a
        header without event_time, event_type, product_id or price, binary data; the
        output then is incomplete) or the output cannot be written, 64 for invalid
        options.
        """
    )

    @Option(name: .long, help: ArgumentHelp("Seconds of input time per second of output time.", valueName: "n"))
    var ratio: Int64 = 30

    @Option(name: .long, help: ArgumentHelp("The instant that stays fixed, UTC (2019-10-01T00:00:00Z, '2019-10-01 00:00:00 UTC', 2019-10-01 or Unix seconds).", valueName: "time"))
    var origin: String = "2019-10-01T00:00:00Z"

    @Option(name: .long, help: "Input format: auto (from the first byte), csv or jsonl.")
    var format: InputFormat = .auto

    @Option(name: [.short, .customLong("output")], help: ArgumentHelp("Output file; - for standard output.", valueName: "file"))
    var output: String = "-"

    @Flag(name: .long, help: "Compress the output with gzip (also implied by an output name ending in .gz).")
    var gzip = false

    @Option(name: .long, help: ArgumentHelp("Send rows with an unparsable event_time and malformed records to this file (source_file,line,reason,raw; gzip if it ends in .gz) instead of passing them through or dropping them.", valueName: "file"))
    var rejects: String?

    @Argument(help: ArgumentHelp("Input files (CSV or JSON Lines, plain or gzip); - for standard input.", valueName: "file"))
    var files: [String] = []

    func validate() throws {
        if files.isEmpty { throw ValidationError("no input files (use - for standard input)") }
        if files.filter({ $0 == "-" }).count > 1 { throw ValidationError("standard input (-) can be read only once") }
        guard ratio >= 1 else { throw ValidationError("--ratio must be 1 or more, got \(ratio)") }
        guard Arguments.time(origin) != nil else {
            throw ValidationError("--origin: cannot read '\(origin)' as a UTC time (use 2019-10-01T00:00:00Z, '2019-10-01 00:00:00 UTC' or 2019-10-01)")
        }
        guard !output.isEmpty else { throw ValidationError("-o: the output name is empty") }
        if let rejects, rejects.isEmpty || rejects == "-" { throw ValidationError("--rejects needs a file name") }
        if let rejects, rejects == output { throw ValidationError("--rejects and -o must differ") }
    }

    func run() throws {
        var options = ConcentrateOptions()
        options.ratio = ratio
        options.origin = Arguments.time(origin)!
        options.format = format
        let report: ConcentrateReport
        do {
            let out = try OutputFile(path: output, gzip: gzip || output.hasSuffix(".gz"), level: 1)
            let rej = try rejects.map { try OutputFile(path: $0, gzip: $0.hasSuffix(".gz"), level: 1) }
            let c = try Concentrator(options: options, output: out, rejects: rej)
            for f in files { try c.add(path: f) }
            try out.finish()
            try rej?.finish()
            report = c.report
        } catch {
            throw fail(error)
        }
        printErr(summary(report, origin: options.origin))
    }

    func summary(_ r: ConcentrateReport, origin: Int64) -> String {
        let target = output == "-" ? "standard output" : output
        var lines = ["sellocli concentrate: \(r.files) file(s) to \(target), ratio \(ratio):1 from origin \(Format.iso8601(origin))"]
        let reasons = RejectReason.allCases.filter { r.rejected[$0.rawValue] > 0 }.map { "\($0.code) \(r.rejected[$0.rawValue])" }
        lines.append("  rows read \(r.rowsRead) = written \(r.rowsWritten) (compressed \(r.compressed) + unparsable time passed through \(r.unparsablePassedThrough))"
            + " + to rejects \(r.rowsRejected)\(reasons.isEmpty ? "" : " (" + reasons.joined(separator: ", ") + ")")"
            + " + malformed dropped \(r.malformedDropped)")
        if let lo = r.minIn, let hi = r.maxIn {
            let c = ConcentrateOptions.with(ratio: ratio, origin: origin)
            lines.append("  event time \(Format.iso8601(lo))..\(Format.iso8601(hi)) -> \(Format.iso8601(c.compress(lo)))..\(Format.iso8601(c.compress(hi)))")
        }
        if r.malformedDropped > 0 { lines.append("  warning: \(r.malformedDropped) malformed record(s) dropped; use --rejects FILE to keep them") }
        if let rejects, r.rowsRejected > 0 { lines.append("  rejected rows written to \(rejects)") }
        let rate = r.seconds > 0 ? Int(Double(r.rowsRead) / r.seconds) : 0
        lines.append("  \(String(format: "%.2f", r.seconds)) s, \(rate) rows/s")
        return lines.joined(separator: "\n")
    }
}

extension ConcentrateOptions {
    static func with(ratio: Int64, origin: Int64) -> ConcentrateOptions {
        var o = ConcentrateOptions()
        o.ratio = ratio
        o.origin = origin
        return o
    }
}
