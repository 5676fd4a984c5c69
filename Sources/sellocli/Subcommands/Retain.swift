import ArgumentParser
import Foundation
import Storage
import Transforms

/// `sellocli retain`: tier retention, on the data clock.
struct Retain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete the buckets each tier no longer keeps (tier retention, on the data clock).",
        usage: """
        sellocli retain [--db <path>] [--config <path>] [--dry-run]
                        [--wait <duration>] [--format <format>]
        """,
        discussion: """
        Each tier with a retention keeps the buckets newer than the watermark (the
        latest event time in the store, never the wall clock) minus its retention;
        older buckets are deleted, all tiers in one transaction. The bucket holding
        the instant watermark - retention stays: the cutoff is that instant rounded
        down to the tier's width. Tiers come from the configuration (default: minute
        kept 24h, hour 31d, day unlimited; see `sellocli config --help`). Each tier's
        cutoff is remembered: a late event ingested afterwards never re-creates a
        deleted bucket, it updates only the tiers that still keep its bucket.

        Output, one row per configured tier: tier, retention, cutoff (ISO 8601 UTC;
        buckets before it go), rows_deleted, first_bucket and last_bucket deleted.
        --dry-run prints the same rows, exactly what the real run then deletes, and
        deletes nothing. A store without a watermark (nothing ingested yet) has
        nothing to delete: a message, exit 0.

        Warnings about the configuration (a tier kept for less than the dedupe horizon
        or the accepted lateness) go to standard error.

        The store lock: retain holds an exclusive flock on <db>.lock (created beside
        the store), the lock the cron `run` holds too, so the two never overlap. When
        another process holds it, retain waits up to --wait (default 0: not at all)
        and then exits 75.

        Examples:
          # What would go, without deleting anything
          sellocli retain --dry-run --db sello.db

          # Apply it, as JSON for a log
          sellocli retain --db sello.db --format json

          # From cron, alongside `sellocli run`: wait up to 5 minutes for the lock
          sellocli retain --db /data/sello.db --wait 5m --format csv

          # Keep the minute tier 12 hours instead: a config file with the tiers
          # (see `sellocli config --help`), then
          sellocli retain --db sello.db --config sello-12h.toml --dry-run

        Exit status: 0 ok (also when there was nothing to delete); 1 the store failed
        or does not exist; 64 usage error; 75 the store is locked by another process
        (after --wait); 78 a bad config file or SELLO_* value.
        """
    )

    @OptionGroup var store: StoreOptions
    @Flag(name: .customLong("dry-run"), help: "Print what would be deleted; delete nothing.")
    var dryRun = false
    @OptionGroup var waitOption: WaitOption
    @OptionGroup var output: OutputOptions

    func run() throws {
        let config = try store.effectiveConfig(printWarnings: true)
        let dbPath = config.db.value
        guard FileManager.default.fileExists(atPath: dbPath) else {
            printErr("sellocli: error: no store at \(dbPath) (run `sellocli ingest` first, or check --db)")
            throw ExitCode(ExitCodes.failure)
        }
        let lock = try StoreLock.acquire(store: dbPath, wait: waitOption.seconds)
        defer { lock.release() }
        let tiers = config.tiers.value
        var plan: [SQLiteStore.RetentionPlan] = []
        var deleted: [Int64] = []
        let watermark: Int64?
        do {
            // A dry run writes nothing, not even a migration or a new tier's table: it opens the
            // store read-only, on the configured tiers the store already has.
            var s = try SQLiteStore(path: dbPath, tiers: tiers, readOnly: dryRun)
            if dryRun {
                let stored = Set(try s.storedTiers().map(\.name))
                s = try SQLiteStore(path: dbPath, tiers: tiers.filter { stored.contains($0.name) }, readOnly: true)
            }
            watermark = try s.watermark()
            if watermark != nil {
                plan = try s.planRetention()
                deleted = dryRun ? plan.map(\.rows) : try s.applyRetention(plan)
            }
        } catch {
            throw fail(error)
        }
        guard let watermark else {
            printErr("sellocli retain: the store \(dbPath) has no watermark yet (nothing ingested): nothing to do")
            return
        }
        let w = ResultWriter(format: output.resolved)
        w.begin(columns: ["tier", "retention", "cutoff", "rows_deleted", "first_bucket", "last_bucket"])
        for t in tiers {
            if let i = plan.firstIndex(where: { $0.tier == t.name }) {
                let p = plan[i]
                w.row([.text(t.name), .text(ConfigLoader.formatDuration(p.retention)), .time(p.cutoff), .int(deleted[i]),
                       p.firstBucket.map { .time($0) } ?? .null, p.lastBucket.map { .time($0) } ?? .null])
            } else if let r = t.retention {
                // A tier the store does not have yet (a dry run opens the store read-only, so
                // it is not created): nothing to delete, the same cutoff the real run prints.
                let edge = watermark - r
                var cutoff = edge - edge % t.width
                if edge < 0 && edge % t.width != 0 { cutoff -= t.width }
                w.row([.text(t.name), .text(ConfigLoader.formatDuration(r)), .time(cutoff), .int(0), .null, .null])
            } else {
                w.row([.text(t.name), .text("unlimited"), .null, .int(0), .null, .null])
            }
        }
        w.end()
        let total = deleted.reduce(0, +)
        if dryRun {
            printErr("sellocli retain --dry-run (nothing was deleted): \(total) row(s) would be deleted; watermark \(Format.iso8601(watermark))")
        } else {
            printErr("sellocli retain: \(total) row(s) deleted; watermark \(Format.iso8601(watermark))")
        }
    }
}
