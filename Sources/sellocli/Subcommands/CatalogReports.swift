import ArgumentParser
import Foundation
import Storage
import Transforms

/// `--fail-on N`, shared by the catalog reports.
struct FindingsOptions: ParsableArguments {
    @Option(name: .customLong("fail-on"), help: ArgumentHelp("Exit 3 when the report has at least N findings (1 = any).", discussion: "Default: never (exit 0 whatever the report finds).", valueName: "N"))
    var failOn: Int?

    func validate() throws {
        if let failOn, failOn < 1 { throw ValidationError("--fail-on must be at least 1") }
    }

    /// Prints the report, then exits 3 when its findings reach `--fail-on`.
    func finish(_ report: CatalogReport, _ output: OutputOptions) throws {
        ResultWriter(format: output.resolved).write(report.table)
        if let failOn, report.findings >= failOn {
            printErr("sellocli: \(report.findings) finding(s), at or above --fail-on \(failOn): exit \(ExitCodes.findings)")
            throw ExitCode(ExitCodes.findings)
        }
    }
}

/// Opens the store read-only and runs one report, mapping library errors to exit 1.
private func withCatalog<T>(_ store: StoreOptions, _ body: (SQLiteStore, EffectiveConfig) throws -> T) throws -> T {
    let config = try store.effectiveConfig()
    do {
        let s = try SQLiteStore(path: config.db.value, tiers: config.tiers.value, readOnly: true)
        return try body(s, config)
    } catch {
        throw fail(error)
    }
}

private let reportsExitStatus = """
    Exit status: 0 report printed (whatever it found, unless --fail-on); 3 the
    report has at least --fail-on N findings (rows still printed); 1 the store
    failed; 64 usage error; 78 bad config.
    """

struct CatalogNew: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new",
        abstract: "What the catalog first saw at or after a time: apps, events, combinations, screens, body keys.",
        usage: """
        sellocli catalog new [--db <path>] [--config <path>] --since <time>
                             [--fail-on <N>] [--format <format>]
        """,
        discussion: """
        --since takes a time (2024-05-01, 2024-05-01T10:00:00Z, Unix seconds) or a
        negative duration (-24h, -7d) meaning that long before the catalog's data
        clock: the latest last_seen in the catalog (never the wall clock). A thing is
        new when its first_seen is at or after that time. One row per finding, ordered
        by kind, then the key columns:
          kind          app (tenant, app), event (tenant, app, event), combination
                        (tenant, app, platform, app_version, event), screen (tenant,
                        app, event, screen), key (tenant, app, event, key_path)
          first_seen    the earliest event of it (ISO 8601 UTC); events: how many
                        so far
        Columns that do not apply to a kind are empty (null in JSON).

        Examples:
          # What appeared in the last day of data
          sellocli catalog new --db catalog.db --since -24h

          # Since a release, as JSON; cron alert when anything is new
          sellocli catalog new --since 2024-05-01T00:00:00Z --format json --fail-on 1

        \(reportsExitStatus)
        """
    )

    @OptionGroup var store: StoreOptions
    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("A time, or -DURATION before the catalog's latest last_seen (e.g. -24h).", valueName: "time"))
    var since: String
    @OptionGroup var findings: FindingsOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if since.hasPrefix("-") {
            guard Arguments.duration(String(since.dropFirst())) != nil else { throw ValidationError("--since: cannot read \(since) as -DURATION (try -24h or -7d)") }
        } else if Arguments.time(since) == nil {
            throw ValidationError("--since: cannot read \(since) as a time (try 2024-05-01, 2024-05-01T10:00:00Z or -24h)")
        }
    }

    func run() throws {
        let report = try withCatalog(store) { s, _ -> CatalogReport in
            var t: Int64
            if since.hasPrefix("-") {
                guard let clock = try s.catalogClock() else { return try s.catalogNew(since: Int64.max) }
                t = clock - Arguments.duration(String(since.dropFirst()))!
            } else {
                t = Arguments.time(since)!
            }
            return try s.catalogNew(since: t)
        }
        try findings.finish(report, output)
    }
}

struct CatalogObsolete: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "obsolete",
        abstract: "Combinations not seen for a while on the data clock, with their owners.",
        usage: """
        sellocli catalog obsolete [--db <path>] [--config <path>]
                                  [--older-than <duration>] [--quiet]
                                  [--fail-on <N>] [--format <format>]
        """,
        discussion: """
        Lists catalog combinations (tenant, app, platform, app_version, event) whose
        last_seen is before the catalog's data clock (the latest last_seen in the
        catalog, never the wall clock) minus --older-than. The owner comes from
        [catalog.owners] in the config file: pattern = "owner", patterns matched
        against the app or the event name, `*` any run of characters, `?` one
        character; the first matching pattern in file order wins; no match leaves
        owner empty. Rows are ordered by owner (unowned last), then the combination,
        so each owner's rows are together, ready to mail. The clock and cutoff go to
        stderr.

        Examples:
          # sello.toml beside the store:
          #   [catalog.owners]
          #   "checkout*" = "payments-team@example.com"
          #   "shop" = "shop-app@example.com"
          sellocli catalog obsolete --db catalog.db --older-than 14d

          # One CSV per owner, from cron; exit 3 when anything is stale
          sellocli catalog obsolete --older-than 30d --format csv --fail-on 1 \\
              > stale.csv

        \(reportsExitStatus)
        """
    )

    @OptionGroup var store: StoreOptions
    @Option(name: .customLong("older-than"), help: ArgumentHelp("Stale when last_seen is more than this before the data clock (e.g. 14d).", valueName: "duration"))
    var olderThan: String = "14d"
    @Flag(name: [.short, .long], help: "No clock/cutoff line on stderr.")
    var quiet = false
    @OptionGroup var findings: FindingsOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        if Arguments.duration(olderThan) == nil { throw ValidationError("--older-than: cannot read \(olderThan) as a duration (try 14d or 36h)") }
    }

    func run() throws {
        let d = Arguments.duration(olderThan)!
        let report = try withCatalog(store) { s, config -> CatalogReport in
            guard let clock = try s.catalogClock() else {
                if !quiet { printErr("sellocli catalog obsolete: the catalog is empty") }
                return try s.catalogObsolete(before: Int64.min, owners: [])
            }
            if !quiet { printErr("sellocli catalog obsolete: data clock \(Format.iso8601(clock)), stale when last seen before \(Format.iso8601(clock - d))") }
            return try s.catalogObsolete(before: clock - d, owners: config.catalogOwners.value)
        }
        try findings.finish(report, output)
    }
}

struct CatalogKeys: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "The body keys of one event: presence, type histogram, and flags for suspicious keys.",
        usage: """
        sellocli catalog keys [--db <path>] [--config <path>] --event <event>
                              [--app <app>] [--tenant <tenant>]
                              [--missing-min <rate>] [--missing-max <rate>]
                              [--only-flagged] [--fail-on <N>]
                              [--format <format>]
        """,
        discussion: """
        One row per (tenant, app, event, key_path), ordered by those. Key paths are
        those of `catalog ingest` (`items[].sku`; containers and `[]` elements are
        paths too).
          presence   events carrying the path / all events of (tenant, app, event),
                     0..1
          types      the JSON types the path held, share of the type counts, largest
                     first: "number 84% / string 16%"
          flags      inconsistent_type: more than one non-null JSON type;
                     sometimes_missing: presence within [--missing-min, --missing-max]
                     (required-looking but missing sometimes)
        Presence of a nested path counts against all events, so `items[].qty` is also
        sometimes_missing when `items` itself is. Findings (for --fail-on) = flagged
        keys.

        Examples:
          # Every key of click, in every app
          sellocli catalog keys --db catalog.db --event click

          # One app, flagged keys only, as JSON; exit 3 when any key is flagged
          sellocli catalog keys --event addToCart --tenant myntra --app shop \\
              --only-flagged --format json --fail-on 1

          # Stricter: flag keys missing in 0.1% or more of events
          sellocli catalog keys --event purchase --missing-min 50% --missing-max 99.9%

        \(reportsExitStatus)
        """
    )

    @OptionGroup var store: StoreOptions
    @Option(name: .long, help: "The event name.") var event: String
    @Option(name: .long, help: "Only this app.") var app: String?
    @Option(name: .long, help: "Only this tenant.") var tenant: String?
    @Option(name: .customLong("missing-min"), help: ArgumentHelp("sometimes_missing: lowest presence (e.g. 50%).", valueName: "rate"))
    var missingMin: String = "50%"
    @Option(name: .customLong("missing-max"), help: ArgumentHelp("sometimes_missing: highest presence (e.g. 99%).", valueName: "rate"))
    var missingMax: String = "99%"
    @Flag(name: .customLong("only-flagged"), help: "Print flagged keys only.") var onlyFlagged = false
    @OptionGroup var findings: FindingsOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard let lo = Arguments.rate(missingMin), lo >= 0, lo <= 1 else { throw ValidationError("--missing-min: expected a rate like 50% or 0.5") }
        guard let hi = Arguments.rate(missingMax), hi >= 0, hi <= 1 else { throw ValidationError("--missing-max: expected a rate like 99% or 0.99") }
        if lo > hi { throw ValidationError("--missing-min must not be above --missing-max") }
    }

    func run() throws {
        let th = KeyFlagThresholds(missingMin: Arguments.rate(missingMin)!, missingMax: Arguments.rate(missingMax)!)
        let report = try withCatalog(store) { s, _ in
            try s.catalogKeys(event: event, app: app, tenant: tenant, thresholds: th, onlyFlagged: onlyFlagged)
        }
        try findings.finish(report, output)
    }
}

struct CatalogDiff: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Events, screens and body keys present on one side and not the other.",
        usage: """
        sellocli catalog diff [--db <path>] [--config <path>]
                              [--tenant <tenant> ...] [--app <app> ...]
                              [--platform <platform> ...]
                              [--app-version <app-version> ...] [--fail-on <N>]
                              [--format <format>]
        """,
        discussion: """
        Exactly one of --tenant, --app, --platform, --app-version is given twice:
        those are the two sides. The others, given at most once, narrow both sides.
        Compared:
          event    event names (from catalog)
          screen   (event, screen) pairs (catalog_screens; with --platform or
                   --app-version, from event_counts_hour, whose first/last are hour
                   starts)
          key      (event, key_path) body keys (event_keys), only when no side names a
                   platform or app version: the store keeps keys per (tenant, app,
                   event)
        One row per difference: kind, event, screen, key_path, only_in (the side that
        has it), missing_in, and its events, first_seen, last_seen on that side.
        Ordered by kind (event, screen, key), then event, screen, key_path, first side
        first. Findings = rows.

        Examples:
          # What tenant jabong sends that myntra does not, and the reverse
          sellocli catalog diff --db catalog.db --tenant myntra --tenant jabong

          # Android against iOS within one app
          sellocli catalog diff --tenant myntra --app shop \\
              --platform android --platform ios

          # A release candidate against the current version; exit 3 on any difference
          sellocli catalog diff --tenant myntra --app shop --platform android \\
              --app-version 3.2 --app-version 3.3 --fail-on 1

        \(reportsExitStatus)
        """
    )

    @OptionGroup var store: StoreOptions
    @Option(name: .long, help: "A tenant (twice: the two sides).") var tenant: [String] = []
    @Option(name: .long, help: "An app (twice: the two sides).") var app: [String] = []
    @Option(name: .long, help: "A platform (twice: the two sides).") var platform: [String] = []
    @Option(name: .customLong("app-version"), help: "An app version (twice: the two sides).") var appVersion: [String] = []
    @OptionGroup var findings: FindingsOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        let all = [tenant, app, platform, appVersion]
        if all.contains(where: { $0.count > 2 }) { throw ValidationError("each of --tenant, --app, --platform, --app-version is given at most twice") }
        if all.filter({ $0.count == 2 }).count != 1 {
            throw ValidationError("give exactly one of --tenant, --app, --platform, --app-version twice (the two sides), e.g. --tenant a --tenant b")
        }
    }

    func sides() -> (CatalogSide, CatalogSide) {
        func side(_ i: Int) -> CatalogSide {
            func pick(_ v: [String]) -> String? { v.count == 2 ? v[i] : v.first }
            return CatalogSide(tenant: pick(tenant), app: pick(app), platform: pick(platform), appVersion: pick(appVersion))
        }
        return (side(0), side(1))
    }

    func run() throws {
        let (a, b) = sides()
        let report = try withCatalog(store) { s, _ in try s.catalogDiff(a, b) }
        try findings.finish(report, output)
    }
}
