import ArgumentParser
import Foundation
import Storage
import Transforms

/// `sellocli catalog`: the clickstream event catalog (which events, screens and body keys apps
/// send). A command group: `ingest` now; reports go beside it as further subcommands.
struct Catalog: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The clickstream event catalog: which events, screens and body keys each app sends.",
        discussion: """
        `catalog ingest` reads clickstream JSON Lines into the store; the public
        tables are then read with `sellocli sql` (or any SQLite client):
          catalog(tenant, app, platform, app_version, event, first_seen, last_seen,
                  events)
          catalog_screens(tenant, app, event, screen, first_seen, last_seen, events)
          event_counts_hour(bucket, tenant, app, platform, app_version, event, screen,
                            events, sessions)
          event_keys(tenant, app, event, key_path, first_seen, last_seen, events,
                     strings, numbers, bools, objects, arrays, nulls, presence)
          catalog_files (the ledger of clickstream files; same columns as files)
        Times are Unix seconds UTC (floor of the event time); bucket is the start of
        the hour.
        """,
        subcommands: [CatalogIngest.self, CatalogNew.self, CatalogObsolete.self, CatalogKeys.self, CatalogDiff.self]
    )
}

struct CatalogIngest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Read clickstream JSON Lines and update the event catalog, hourly counts and key inventory.",
        usage: """
        sellocli catalog ingest [--db <path>] [--config <path>]
                                [--wait <duration>] [--rejects <path>]
                                [--session-gap <duration>] [--ts-unit <unit>]
                                [--max-reject-rate <rate>] [--dry-run]
                                [--summary-json <path>] [--quiet] [<file> ...]
        """,
        discussion: """
        Input: JSON Lines, plain or gzip (detected from the bytes), files or - for
        standard input. Canonical fields: tenant, app, platform, app_version, event,
        screen, session_id, user_id, ts, and a body object (any nesting). Another
        layout is read through [catalog.mapping] in the config file: canonical
        field = "dotted.json.path" (object keys from the record root); body = "" takes
        the whole record as the body.

        Per line:
          - rejected, with a reason, when it is not one JSON object (bad_json), has no
            event name (no_event), no ts (no_time), a ts that does not parse
            (bad_time: ISO 8601, or Unix seconds/milliseconds as a number or digits;
            ts_unit auto reads numbers above 10^11 as milliseconds), an object or
            array where a canonical field should be (bad_field), a body that is not an
            object (bad_body), or more than 64 MiB (line_too_long); rejected lines go
            to the rejects file (gzip CSV: source_file,line,reason,raw)
          - missing or null fields: tenant and app "default", platform, app_version,
            screen ""
          - numbers and booleans in a canonical field are read as their JSON text
        Updates, all keyed upserts (first_seen = min, last_seen = max, counts = sum),
        so any order of files gives the same catalog: catalog, catalog_screens,
        event_counts_hour (sessions = exact distinct session ids in that hour and
        group) and event_keys (every key path of the body, `items[].sku` style with
        containers and `[]` elements as paths too; events counts events carrying the
        path; each type column counts events where the path held that JSON type;
        presence = events / the (tenant, app, event) total from catalog_screens).

        Sessions: session_id when present. Without it, sessions are derived per
        (tenant, app, user_id) with Divolte's rule: a new session when more than
        session_gap (default 30m) passed since the user's previous event. Within a
        file events are taken in time order; across files the store keeps each user's
        last event time and session number, so derived sessions assume each user's
        files arrive in time order: an event older than the user's last stored event
        joins the user's current session (counted as out of order in the summary). An
        event with neither session_id nor user_id is a session of its own.

        A file whose content (SHA-256) is in the catalog_files ledger is skipped:
        re-running never double counts. Each file is one transaction: its rows, its
        ledger row and its rejects commit together or not at all. A file above
        --max-reject-rate (judged on files of 100 rows or more) fails as a whole.

        Examples:
          # Canonical layout, gzip or plain
          sellocli catalog ingest --db catalog.db events-2024-05-01.jsonl.gz

          # Divolte export: map its field names in sello.toml beside the store
          #   [catalog]
          #   session_gap = "30m"
          #   [catalog.mapping]
          #   event = "eventType"
          #   ts = "timestamp"          # milliseconds; ts_unit auto detects them
          #   session_id = "sessionId"
          #   user_id = "partyId"
          #   screen = "location"
          #   body = ""                 # the whole record's keys go to event_keys
          sellocli catalog ingest --db divolte.db divolte-*.jsonl
          sellocli sql --db divolte.db \\
              "SELECT event, events FROM catalog ORDER BY events DESC"

          # Segment: event = "event", ts = "timestamp", user_id = "userId",
          # body = "properties"
          # Check a file without writing, with figures for monitoring
          sellocli catalog ingest --dry-run --summary-json - new-app.jsonl

        The store's lock (<db>.lock, the one `sellocli run` and `retain` take) is held
        while writing: with a cron tick running, ingest waits up to --wait, then
        exits 75.

        Exit status: 0 every file ingested, skipped or empty; 1 a file or the store
        failed; 64 usage error; 75 the store is busy (after --wait); 78 a bad config
        file or SELLO_* value.
        """
    )

    @OptionGroup var store: StoreOptions
    @OptionGroup var waitOption: WaitOption

    @Option(name: .long, help: ArgumentHelp("Where rejected lines go (gzip CSV).", discussion: "Default: beside the store, <store>.rejects.csv.gz.", valueName: "path"))
    var rejects: String?

    @Option(name: .customLong("session-gap"), help: ArgumentHelp("Derived sessions: a gap longer than this starts a new session (e.g. 30m).", discussion: "Default: $SELLO_CATALOG_SESSION_GAP, else catalog.session_gap in the config file, else 30m.", valueName: "duration"))
    var sessionGap: String?

    @Option(name: .customLong("ts-unit"), help: ArgumentHelp("How numeric ts values are read: auto (ms above 10^11), s or ms.", discussion: "Default: $SELLO_CATALOG_TS_UNIT, else catalog.ts_unit in the config file, else auto.", valueName: "unit"))
    var tsUnit: String?

    @Option(name: .customLong("max-reject-rate"), help: ArgumentHelp("Fail a file whose rejected share is above this (e.g. 5%, 1 = never).", discussion: "Default: $SELLO_MAX_REJECT_RATE, else max_reject_rate in the config file, else 5%.", valueName: "rate"))
    var maxRejectRate: String?

    @Flag(name: .customLong("dry-run"), help: "Do everything but write the store: report what would change.")
    var dryRun = false

    @Option(name: .customLong("summary-json"), help: ArgumentHelp("Also write the run summary as JSON to this file (- for stdout).", valueName: "path"))
    var summaryJSON: String?

    @Flag(name: [.short, .long], help: "No summary on stderr (errors are still printed).")
    var quiet = false

    @Argument(help: ArgumentHelp("Input files (JSON Lines, plain or gzip); - for standard input.", valueName: "file"))
    var files: [String] = []

    func validate() throws {
        if files.isEmpty { throw ValidationError("no input files (use - for standard input)") }
        if let maxRejectRate { guard let r = Arguments.rate(maxRejectRate), r >= 0, r <= 1 else { throw ValidationError("--max-reject-rate: expected a rate like 5% or 0.05") } }
        if files.filter({ $0 == "-" }).count > 1 { throw ValidationError("standard input (-) can be read only once") }
    }

    func run() throws {
        var flags = ConfigFlags()
        flags.maxRejectRate = maxRejectRate
        flags.catalogSessionGap = sessionGap
        flags.catalogTsUnit = tsUnit
        let config = try store.effectiveConfig(flags, printWarnings: true)
        var options = CatalogOptions()
        options.sessionGap = config.catalogSessionGap.value
        options.tsUnit = config.catalogTsUnit.value
        options.maxRejectRate = config.maxRejectRate.value
        options.dryRun = dryRun
        for m in config.catalogMapping.value {
            if let f = CanonicalField(name: m.field) { options.mapping[f] = m.path }
        }
        let dbPath = config.db.value
        let rejectsPath = rejects ?? RunSummary.defaultRejectsPath(forStore: dbPath)
        let clock = ProcessInfo.processInfo.systemUptime
        let started = Date()
        var reports: [CatalogFileReport] = []
        let log = RejectLog(path: rejectsPath)
        // A dry run writes nothing and needs no lock. (Outside the do: a busy store is exit 75.)
        let lock = dryRun ? nil : try StoreLock.acquire(store: dbPath, wait: waitOption.seconds)
        defer { lock?.release() }
        do {
            let base = try SQLiteStore(path: dryRun && !FileManager.default.fileExists(atPath: dbPath) ? ":memory:" : dbPath, tiers: config.tiers.value)
            let s = try SQLiteCatalogStore(store: base)
            let ingestor = try CatalogIngestor(store: s, options: options, rejects: dryRun ? nil : log)
            for f in files {
                let r = try ingestor.ingest(path: f)
                if r.status == .failed { printErr("sellocli: error: \(r.error ?? "\(f): failed")") }
                reports.append(r)
            }
        } catch {
            throw fail(error)
        }
        let summary = CatalogSummary(files: reports, dryRun: dryRun, store: dbPath, rejectsPath: log.rowsWritten > 0 ? rejectsPath : nil,
                                     seconds: ProcessInfo.processInfo.systemUptime - clock, startedAt: started)
        if !quiet { printErr(summary.text()) }
        if let p = summaryJSON {
            let json = summary.json() + "\n"
            if p == "-" {
                FileHandle.standardOutput.write(Data(json.utf8))
            } else if !FileManager.default.createFile(atPath: p, contents: Data(json.utf8)) {
                printErr("sellocli: error: cannot write --summary-json \(p)")
                throw ExitCode(ExitCodes.failure)
            }
        }
        if summary.failed > 0 { throw ExitCode(ExitCodes.failure) }
    }
}

/// The figures of one `catalog ingest` run (stderr text and `--summary-json`).
struct CatalogSummary {
    var files: [CatalogFileReport]
    var dryRun: Bool
    var store: String
    var rejectsPath: String?
    var seconds: Double
    var startedAt: Date

    func count(_ s: FileReport.Status) -> Int { files.filter { $0.status == s }.count }
    var failed: Int { count(.failed) }
    private var counted: [CatalogFileReport] { files.filter { $0.status == .ingested } }
    func sum(_ k: KeyPath<CatalogFileReport, Int64>) -> Int64 { counted.reduce(0) { $0 + $1[keyPath: k] } }
    func sum(_ k: KeyPath<CatalogFileReport, Int>) -> Int { counted.reduce(0) { $0 + $1[keyPath: k] } }
    var rejected: [Int64] {
        var r = [Int64](repeating: 0, count: CatalogReject.allCases.count)
        for f in counted { for i in r.indices { r[i] += f.rejected[i] } }
        return r
    }

    func text() -> String {
        var lines: [String] = []
        let verb = dryRun ? "checked " : "ingested"
        for f in files {
            switch f.status {
            case .ingested:
                lines.append("  \(verb) \(f.path): \(f.rowsRead) rows, \(f.rowsRejected) rejected (\(String(format: "%.2f", f.seconds)) s)")
            case .skipped:
                lines.append("  skipped  \(f.path): same content as \(f.duplicateOf ?? "?"), already in the ledger")
            case .empty:
                lines.append("  empty    \(f.path): no rows")
            case .failed:
                lines.append("  FAILED   \(f.path): \(f.error ?? "failed"); nothing from it was stored")
            }
        }
        let rej = rejected
        var reasons = CatalogReject.allCases.filter { rej[$0.rawValue] > 0 }.map { "\($0.code) \(rej[$0.rawValue])" }.joined(separator: ", ")
        if reasons.isEmpty { reasons = "none" }
        let read = sum(\.rowsRead)
        lines.append("sellocli catalog ingest\(dryRun ? " --dry-run (nothing was written)" : ""): \(files.count) file(s): \(count(.ingested)) \(dryRun ? "checked" : "ingested"), \(count(.skipped)) skipped, \(count(.empty)) empty, \(failed) failed")
        lines.append("  rows read \(read) = accepted \(sum(\.rowsAccepted)) + rejected \(rej.reduce(0, +)) (\(reasons))")
        lines.append("  rows \(dryRun ? "to change" : "changed"): catalog \(sum(\.catalogRows)), screens \(sum(\.screenRows)), hourly \(sum(\.hourRows)), key paths \(sum(\.keyRows)); new sessions in hours \(sum(\.sessionsNew))")
        lines.append("  derived sessions started \(sum(\.derivedSessions)), user events out of time order \(sum(\.outOfOrderUserEvents))")
        if let rejectsPath { lines.append("  rejected lines written to \(rejectsPath)") }
        lines.append("  \(String(format: "%.2f", seconds)) s, \(seconds > 0 ? Int(Double(read) / seconds) : 0) rows/s")
        return lines.joined(separator: "\n")
    }

    func json() -> String {
        func opt(_ t: Int64?) -> String { t.map { "\"\(Format.iso8601($0))\"" } ?? "null" }
        func reasons(_ r: [Int64]) -> String {
            "{" + CatalogReject.allCases.map { "\"\($0.code)\":\(r[$0.rawValue])" }.joined(separator: ",") + "}"
        }
        let per = files.map { f in
            """
            {"path":\(jsonString(f.path)),"status":"\(f.status.rawValue)","sha256":"\(f.sha256)","bytes":\(f.bytes),\
            "rows_read":\(f.rowsRead),"rows_accepted":\(f.rowsAccepted),"rows_rejected":\(f.rowsRejected),"rejected_by_reason":\(reasons(f.rejected)),\
            "catalog_rows":\(f.catalogRows),"screen_rows":\(f.screenRows),"hour_rows":\(f.hourRows),"key_rows":\(f.keyRows),\
            "sessions_new":\(f.sessionsNew),"derived_sessions":\(f.derivedSessions),"out_of_order_user_events":\(f.outOfOrderUserEvents),\
            "min_event_time":\(opt(f.minTime)),"max_event_time":\(opt(f.maxTime)),"duplicate_of":\(f.duplicateOf.map(jsonString) ?? "null"),\
            "error":\(f.error.map(jsonString) ?? "null"),"seconds":\(String(format: "%.3f", f.seconds))}
            """
        }
        let read = sum(\.rowsRead)
        return """
        {"store":\(jsonString(store)),"dry_run":\(dryRun),"started_at":"\(ISO8601DateFormatter().string(from: startedAt))","seconds":\(String(format: "%.3f", seconds)),\
        "files":\(files.count),"files_ingested":\(count(.ingested)),"files_skipped":\(count(.skipped)),"files_empty":\(count(.empty)),"files_failed":\(failed),\
        "rows_read":\(read),"rows_accepted":\(sum(\.rowsAccepted)),"rows_rejected":\(rejected.reduce(0, +)),"rejected_by_reason":\(reasons(rejected)),\
        "catalog_rows":\(sum(\.catalogRows)),"screen_rows":\(sum(\.screenRows)),"hour_rows":\(sum(\.hourRows)),"key_rows":\(sum(\.keyRows)),\
        "sessions_new":\(sum(\.sessionsNew)),"derived_sessions":\(sum(\.derivedSessions)),"out_of_order_user_events":\(sum(\.outOfOrderUserEvents)),\
        "rejects_file":\(rejectsPath.map(jsonString) ?? "null"),"rows_per_second":\(seconds > 0 ? Int(Double(read) / seconds) : 0),"per_file":[\(per.joined(separator: ","))]}
        """
    }
}
