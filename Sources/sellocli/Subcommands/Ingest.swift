import ArgumentParser
import Foundation
import Storage
import Transforms

struct Ingest: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read REES46-layout events, clean, dedupe views, and add them to the store.",
        usage: """
        sellocli ingest [--db <path>] [--config <path>] [--wait <duration>]
                        [--format <format>] [--rejects <path>]
                        [--dedupe-horizon <duration>]
                        [--max-reject-rate <rate>] [--archive <dir>]
                        [--dry-run] [--summary-json <path>] [--quiet]
                        [<file> ...]
        """,
        discussion: """
        Reads CSV (with a header) or JSON Lines, plain or gzip (detected from the
        bytes, not the name); `-` reads standard input. Every file is applied in one
        transaction: its stats, its view-dedupe state and its ledger row commit
        together, or nothing of it does.

        What happens to each row (the exact rules are in the README, "Semantics"):
          - rejected, with a reason, when its field count differs from the header's,
            or event_time, event_type, product_id or price does not parse (or
            price < 0); rejected rows go to the rejects file (gzip CSV:
            source_file,line,reason,raw)
          - brand filled with the product id when empty; category_l1..l3 from
            category_code (or category_id when the code is empty)
          - views of one product in one non-empty session count once, globally, across
            files and runs: the earliest wins (then the lowest price); a late earlier
            view corrects the stats it replaces
          - counted into every configured tier (default minute, hour, day; see
            `sellocli config --help`) under product_id, brand, category_l1,
            category_l2 and category_l3: events and value in integer cents

        A file whose content (SHA-256) is already in the ledger is skipped: re-running
        never double counts. A file that cannot be read to the end (corrupt or
        truncated gzip, binary data, a header without event_time, event_type,
        product_id or price) fails with a message naming the file and where, stores
        nothing, and the other files still go in. A file whose rejected rows exceed
        --max-reject-rate (judged on files of 100 rows or more) fails as a whole: it
        is probably the wrong format.

        Examples:
          # Ingest a day of files into ./sello.db
          sellocli ingest data/2019-10-01-*.csv.gz

          # From a pipeline, into a given store, with a machine-readable summary
          zcat 2019-Oct.csv.gz | head -1000000 | \\
              sellocli ingest --db oct.db --summary-json run.json -

          # Validate a file without touching the store
          sellocli ingest --dry-run suspicious.csv

          # Keep the raw rows too, so the stats can be rebuilt from them later
          sellocli ingest --archive archive/ day1.csv.gz
          sellocli rebuild --from-archive archive/ --db check.db

        The tiers, --dedupe-horizon and --max-reject-rate default to the config file
        (sello.toml or sello.yaml beside the store, or --config) and SELLO_*
        variables; warnings about the configuration go to standard error.

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

    @Option(name: .long, help: "Input format: auto (from the first byte), csv or jsonl.")
    var format: InputFormat = .auto

    @Option(name: .long, help: ArgumentHelp("Where rejected rows go (gzip CSV).", discussion: "Default: beside the store, <store>.rejects.csv.gz.", valueName: "path"))
    var rejects: String?

    @Option(name: .customLong("dedupe-horizon"), help: ArgumentHelp("How far behind the watermark view-dedupe state is kept (e.g. 24h, 90m, 2d).", discussion: "Default: $SELLO_DEDUPE_HORIZON, else dedupe_horizon in the config file, else 24h.", valueName: "duration"))
    var dedupeHorizon: String?

    @Option(name: .customLong("max-reject-rate"), help: ArgumentHelp("Fail a file whose rejected share is above this (e.g. 5%, 0.5%, 1 = never).", discussion: "Default: $SELLO_MAX_REJECT_RATE, else max_reject_rate in the config file, else 5%.", valueName: "rate"))
    var maxRejectRate: String?

    @Option(name: .long, help: ArgumentHelp("Also keep every row (accepted or rejected) in this raw archive: gzip CSV per event hour or day, with a manifest.", discussion: "`sellocli run` always archives; plain ingest only with this option. The partitioning comes from the config (archive.partition).", valueName: "dir"))
    var archive: String?

    @Flag(name: .customLong("dry-run"), help: "Do everything but write the store: report what would change.")
    var dryRun = false

    @Option(name: .customLong("summary-json"), help: ArgumentHelp("Also write the run summary as JSON to this file (- for stdout).", valueName: "path"))
    var summaryJSON: String?

    @Flag(name: [.short, .long], help: "No progress bar and no summary on stderr (errors are still printed).")
    var quiet = false

    // Internal batch sizes, exposed (hidden) so tests can force the flush paths on small inputs.
    // Tuning knobs for benchmarks (BENCHMARKS.md), hidden from --help.
    @Option(name: .customLong("stats-batch"), help: .hidden) var statsBatch: Int?
    @Option(name: .customLong("pair-batch"), help: .hidden) var pairBatch: Int?
    @Option(name: .customLong("cache-mb"), help: .hidden) var cacheMB: Int?

    @Argument(help: ArgumentHelp("Input files (CSV or JSON Lines, plain or gzip); - for standard input.", valueName: "file"))
    var files: [String] = []

    func validate() throws {
        if files.isEmpty { throw ValidationError("no input files (use - for standard input)") }
        if let dedupeHorizon, Arguments.duration(dedupeHorizon) == nil { throw ValidationError("--dedupe-horizon: cannot read \(dedupeHorizon) as a duration (e.g. 24h)") }
        if let maxRejectRate { guard let r = Arguments.rate(maxRejectRate), r >= 0, r <= 1 else { throw ValidationError("--max-reject-rate: expected a rate like 5% or 0.05") } }
        if files.filter({ $0 == "-" }).count > 1 { throw ValidationError("standard input (-) can be read only once") }
    }

    func run() throws {
        var flags = ConfigFlags()
        flags.dedupeHorizon = dedupeHorizon
        flags.maxRejectRate = maxRejectRate
        flags.archiveDir = archive
        let config = try store.effectiveConfig(flags, printWarnings: true)
        var options = IngestOptions()
        options.format = format
        options.tiers = config.tiers.value
        options.dedupeHorizon = config.dedupeHorizon.value
        options.maxRejectRate = config.maxRejectRate.value
        options.dryRun = dryRun
        if let statsBatch { options.statsBatch = max(16, statsBatch) }
        options.pairBatch = max(16, pairBatch ?? (dryRun ? IngestOptions.dryRunPairBatch : options.pairBatch))
        let dbPath = config.db.value
        let rejectsPath = rejects ?? RunSummary.defaultRejectsPath(forStore: dbPath)
        let started = Date()
        let clock = ProcessInfo.processInfo.systemUptime
        let report: RunSummary
        // A dry run writes nothing and needs no lock. (Outside the do: a busy store is exit 75.)
        let lock = dryRun ? nil : try StoreLock.acquire(store: dbPath, wait: waitOption.seconds)
        defer { lock?.release() }
        do {
            // A dry run never creates a store: on a missing one it runs against an empty
            // in-memory store.
            let s = try SQLiteStore(path: dryRun && !FileManager.default.fileExists(atPath: dbPath) ? ":memory:" : dbPath, tiers: config.tiers.value,
                                    cacheMiB: cacheMB ?? SQLiteStore.defaultCacheMiB)
            let log = RejectLog(path: rejectsPath)
            let ingestor = try Ingestor(store: s, options: options, rejects: dryRun ? nil : log)
            if archive != nil && !dryRun {
                ingestor.archive = try RawArchive(root: config.archiveDir.value,
                                                  partitioning: RawArchive.Partitioning(rawValue: config.archivePartition.value.rawValue))
            }
            let bar = ProgressBar(enabled: !quiet)
            ingestor.progress = { bar.update($0) }
            var files: [FileReport] = []
            for f in self.files {
                let r = try ingestor.ingest(path: f)
                bar.clear()
                if r.status == .failed { printErr("sellocli: error: \(r.error ?? "\(f): failed")") }
                files.append(r)
            }
            report = RunSummary(files: files, watermark: try s.watermark(), dryRun: dryRun, store: dbPath,
                                rejectsPath: log.rowsWritten > 0 ? rejectsPath : nil, rejectRowsWritten: log.rowsWritten,
                                seconds: ProcessInfo.processInfo.systemUptime - clock, startedAt: started)
        } catch {
            throw fail(error)
        }
        if !quiet { printErr(report.text()) }
        if let p = summaryJSON {
            let json = report.json() + "\n"
            if p == "-" {
                FileHandle.standardOutput.write(Data(json.utf8))
            } else if !FileManager.default.createFile(atPath: p, contents: Data(json.utf8)) {
                printErr("sellocli: error: cannot write --summary-json \(p)")
                throw ExitCode(ExitCodes.failure)
            }
        }
        if report.failed > 0 { throw ExitCode(ExitCodes.failure) }
    }
}
