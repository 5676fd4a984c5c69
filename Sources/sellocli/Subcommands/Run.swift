import ArgumentParser
import Foundation
import Storage
import Transforms

/// `sellocli run`: the cron tick.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One cron tick: ingest what the inbox holds, archive it, clean up, keep the tiers.",
        usage: """
        sellocli run [--db <path>] [--config <path>] --inbox <dir>
                     [--archive <dir>] [--wait <duration>]
                     [--surge-bytes <size>] [--loop] [--interval <duration>]
                     [--max-ticks <n>] [--no-housekeeping]
                     [--summary-json <path>] [--quiet]
        """,
        discussion: """
        Meant for cron every minute. One tick:
          1. takes the store's lock (<db>.lock, flock): a second tick waits --wait,
             else exits 75;
          2. claims the inbox's files (regular files whose names do not start with
             `.`) by an atomic rename into <inbox>/.sello-claimed/; files a killed
             tick left there go first;
          3. ingests on-time files first (ordered by their first event), then backlog
             files (whose first event is older than the watermark), up to 16 files
             (64 MB) per store transaction (if one of them fails, that group is redone
             one transaction per file), with every row also written to the raw archive
             (--archive, default archive/ beside the store), which commits just
             before the store;
          4. deletes each ingested file once the archive verifies it holds all its
             rows; failed files move to <inbox>/.sello-failed/ with a NAME.error text
             beside them;
          5. housekeeping: retention (see `sellocli retain`) and compaction of archive
             hours that have ended, unless a surge is on (more than run.surge_bytes
             pending in the inbox): then it is deferred to a quieter tick and the
             summary says so.

        A kill -9 at any moment loses nothing and counts nothing twice: the next tick
        takes the claimed files again; the ledger skips content already counted and
        the archive content already archived. SIGTERM or SIGINT finishes the current
        group of files, then stops cleanly.

        Writers must drop files into the inbox atomically (write elsewhere or under a
        dot-name, then rename), as `sellocli replay` does.

        Examples:
          # crontab: a tick every minute, never two at once, a log line per tick
          # (a single crontab line; cron does not read the \\ continuation)
          * * * * * cd /data && sellocli run --inbox inbox --db sello.db -q \\
              --summary-json last.json

          # The same without cron: ticks every 60 s until SIGTERM
          sellocli run --inbox inbox --loop --interval 60s

          # Wait up to 30 s for a running tick instead of exiting 75
          sellocli run --inbox inbox --wait 30s

          # Reproduce Sellometer's feed: split a day into minute files, replay, tick
          sellocli split --every 1m --servers 4 --gzip -o minutes/ 2019-Oct-01.csv.gz
          sellocli replay --from minutes/ --to inbox/ --interval 60s &
          sellocli run --inbox inbox --loop --interval 60s

        Exit status: 0 the tick (or every tick with --loop) ran and no file failed;
        1 a file or the store failed; 64 usage; 75 another process holds the store's
        lock (after --wait); 78 a bad config file or SELLO_* value.
        """
    )

    @OptionGroup var store: StoreOptions

    @Option(name: .long, help: ArgumentHelp("The inbox directory new files are dropped into.", valueName: "dir"))
    var inbox: String

    @Option(name: .long, help: ArgumentHelp("The raw archive.", discussion: "Default: archive.dir in the config, else archive/ beside the store.", valueName: "dir"))
    var archive: String?

    @Option(name: .long, help: ArgumentHelp("How long to wait for another tick's lock (e.g. 30s); 0 = exit 75 at once.", discussion: "Default: run.wait in the config, else 0.", valueName: "duration"))
    var wait: String?

    @Option(name: .customLong("surge-bytes"), help: ArgumentHelp("Defer housekeeping while more than this is pending in the inbox (e.g. 256MiB).", valueName: "size"))
    var surgeBytes: String?

    @Flag(name: .long, help: "Run ticks until SIGTERM or SIGINT, one per --interval.")
    var loop = false

    @Option(name: .long, help: ArgumentHelp("With --loop: time between tick starts (e.g. 60s).", discussion: "Default: run.interval in the config, else 60s.", valueName: "duration"))
    var interval: String?

    @Option(name: .customLong("max-ticks"), help: ArgumentHelp("With --loop: stop after this many ticks.", valueName: "n"))
    var maxTicks: Int?

    @Flag(name: .customLong("no-housekeeping"), help: "Skip retention and archive compaction in this tick.")
    var noHousekeeping = false

    @Option(name: .customLong("summary-json"), help: ArgumentHelp("Also write the (last) tick's summary as JSON to this file (- for stdout).", valueName: "path"))
    var summaryJSON: String?

    @Flag(name: [.short, .long], help: "No summary on stderr (errors are still printed).")
    var quiet = false

    func validate() throws {
        if let wait, Arguments.duration(wait) == nil { throw ValidationError("--wait: cannot read \(wait) as a duration (e.g. 30s)") }
        if let interval, Arguments.duration(interval) == nil { throw ValidationError("--interval: cannot read \(interval) as a duration (e.g. 60s)") }
        if let maxTicks, maxTicks < 1 { throw ValidationError("--max-ticks must be at least 1") }
        var isDir: ObjCBool = false
        if !FileManager.default.fileExists(atPath: inbox, isDirectory: &isDir) || !isDir.boolValue {
            throw ValidationError("--inbox \(inbox) is not a directory")
        }
    }

    func run() throws {
        var flags = ConfigFlags()
        flags.archiveDir = archive
        flags.runWait = wait
        flags.runInterval = interval
        flags.surgeBytes = surgeBytes
        let config = try store.effectiveConfig(flags, printWarnings: !quiet)
        var options = IngestOptions()
        options.tiers = config.tiers.value
        options.dedupeHorizon = config.dedupeHorizon.value
        options.maxRejectRate = config.maxRejectRate.value
        let settings = TickSettings(
            inbox: inbox, db: config.db.value, archiveDir: config.archiveDir.value,
            partitioning: RawArchive.Partitioning(rawValue: config.archivePartition.value.rawValue) ?? .hour,
            surgeBytes: config.surgeBytes.value, options: options, housekeeping: !noHousekeeping)
        signal(SIGTERM) { _ in stopRequested = 1 }
        signal(SIGINT) { _ in stopRequested = 1 }

        var anyFailed = false
        var ticks = 0
        while true {
            let tickStart = ProcessInfo.processInfo.systemUptime
            ticks += 1
            do {
                let lock = try StoreLock.acquire(store: config.db.value, wait: config.runWait.value)
                let report: TickReport
                do {
                    report = try Tick(settings: settings).run()
                } catch {
                    throw fail(error)
                }
                lock.release()
                if report.failed > 0 { anyFailed = true }
                if !quiet { printErr(report.text()) }
                if let p = summaryJSON { try writeJSON(report.json(inbox: inbox), to: p) }
            } catch let e as ExitCode where loop && e.rawValue == ExitCodes.busy {
                // Busy in a loop: another tick is on it; try again next interval.
            }
            if !loop || stopRequested != 0 || (maxTicks.map { ticks >= $0 } ?? false) { break }
            let next = tickStart + Double(config.runInterval.value)
            while stopRequested == 0 && ProcessInfo.processInfo.systemUptime < next { usleep(100_000) }
            if stopRequested != 0 { break }
        }
        if anyFailed { throw ExitCode(ExitCodes.failure) }
    }

    private func writeJSON(_ json: String, to p: String) throws {
        let data = Data((json + "\n").utf8)
        if p == "-" {
            FileHandle.standardOutput.write(data)
        } else if !FileManager.default.createFile(atPath: p, contents: data) {
            printErr("sellocli: error: cannot write --summary-json \(p)")
            throw ExitCode(ExitCodes.failure)
        }
    }
}
