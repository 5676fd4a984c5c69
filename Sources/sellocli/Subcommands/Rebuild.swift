import ArgumentParser
import Foundation
import Storage
import Transforms
#if canImport(Glibc)
import Glibc
#endif

/// `sellocli rebuild`: every stat recomputed from the raw archive into a new store.
struct Rebuild: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Recompute every stat from the raw archive into a new store.",
        usage: """
        sellocli rebuild --from-archive <dir> [--db <path>] [--config <path>]
                         [--dedupe-horizon <duration>] [--quiet]
        """,
        discussion: """
        Reads every file of the archive in the order the manifest gives (partitions by
        start time; in a partition the main file, then its segments in the order they
        were archived) and ingests it into NEW with the ordinary pipeline: the same
        cleaning, view dedupe and aggregation, into the tiers of the configuration
        (--config, $SELLO_CONFIG, or a config file beside NEW; not the old store's
        tables), with the configured dedupe horizon. The archive holds rejected rows
        on purpose, so no reject rate fails a file here; rejected rows are counted,
        not written anywhere (they stay in the archive). Files under unparsed/ (rows
        without a usable time) are skipped and counted.

        Since the stats do not depend on how the events were cut into files or in
        which order they came (as long as every view arrives within the dedupe
        horizon), NEW holds the same stats as the store the archive was written by,
        before retention. Each file is checked against the manifest (SHA-256 and rows)
        as it is read, and the summary reconciles the rows read with the manifest's
        totals.

        NEW must not exist, or be empty: rebuild never adds to a store. Its ledger
        lists the archive files read. While it runs, NEW's lock (<NEW>.lock) and the
        archive's lock are held.

        Examples:
          # Rebuild, then compare with the live store
          sellocli rebuild --from-archive /data/archive --db /data/rebuilt.db \\
              --config /data/sello.toml
          sellocli top --db /data/rebuilt.db --event purchase --dim brand

          # After changing the tiers (say, adding a 15-minute tier),
          # recompute them all
          sellocli rebuild --from-archive archive --db new.db --config sello-new.toml

        Exit status: 0 every archive file ingested and the rows reconcile; 1 NEW
        exists and is not empty, the archive is missing, a file failed or changed, or
        the rows do not reconcile (NEW is then incomplete: remove it and run again);
        64 usage error; 75 the archive or NEW is in use by another process; 78 a bad
        config file or SELLO_* value.
        """
    )

    @Option(name: .customLong("from-archive"), help: ArgumentHelp("The archive to read (written by `ingest --archive`).", valueName: "dir"))
    var fromArchive: String

    @OptionGroup var store: StoreOptions

    @Option(name: .customLong("dedupe-horizon"), help: ArgumentHelp("As for ingest: override the dedupe horizon of the configuration.", valueName: "duration"))
    var dedupeHorizon: String?

    @Flag(name: [.short, .long], help: "No progress bar and no summary on stderr (errors are still printed).")
    var quiet = false

    func validate() throws {
        if store.db == nil { throw ValidationError("--db NEW is required: the new store to build (it must not exist, or be empty)") }
        if let dedupeHorizon, Arguments.duration(dedupeHorizon) == nil { throw ValidationError("--dedupe-horizon: cannot read \(dedupeHorizon) as a duration (e.g. 24h)") }
    }

    func run() throws {
        var flags = ConfigFlags()
        flags.dedupeHorizon = dedupeHorizon
        let config = try store.effectiveConfig(flags, printWarnings: !quiet)
        let dbPath = config.db.value
        var st = stat()
        if stat(dbPath, &st) == 0 && st.st_size > 0 {
            printErr("sellocli: error: \(dbPath) exists and is not empty: rebuild writes only into a new store (choose another --db, or remove it)")
            throw ExitCode(ExitCodes.failure)
        }
        let archive = try ArchiveOptions.open(fromArchive, wait: 0)
        let lock = try StoreLock.acquire(store: dbPath, wait: 0)
        defer { lock.release() }

        var options = IngestOptions()
        options.tiers = config.tiers.value
        options.dedupeHorizon = config.dedupeHorizon.value
        options.maxRejectRate = 1
        let clock = ProcessInfo.processInfo.systemUptime
        var summary = RebuildSummary()
        let tempDir = dbPath + ".rebuild-tmp"
        defer { try? FileManager.default.removeItem(atPath: tempDir) }
        do {
            let files = try archive.files()
            let sources = try archive.sources()
            summary.manifestFiles = files.count
            summary.manifestRows = files.reduce(0) { $0 + $1.rows }
            summary.sourceRows = sources.reduce(0) { $0 + $1.rows + $1.unparsedRows }
            let s = try SQLiteStore(path: dbPath, tiers: config.tiers.value)
            let ingestor = try Ingestor(store: s, options: options, rejects: nil)
            let bar = ProgressBar(enabled: !quiet)
            ingestor.progress = { bar.update($0) }
            // Two archive files may hold the same bytes (two sources with the very same rows in a
            // partition): both count, as they did when ingested. The ledger would skip the second
            // as a duplicate, so it is read through a copy with empty gzip members in front: other
            // bytes, the same rows.
            var seen: [String: Int] = [:]
            for f in files {
                if f.kind == .unparsed {
                    summary.unparsedFiles += 1
                    summary.unparsedRows += f.rows
                    continue
                }
                let copies = seen[f.sha256, default: 0]
                seen[f.sha256] = copies + 1
                var path = f.fullPath
                if copies > 0 { path = try Rebuild.distinctCopy(of: f, copies: copies, in: tempDir) }
                let r = try ingestor.ingest(path: path)
                bar.clear()
                var problem: String?
                switch r.status {
                case .failed: problem = r.error ?? "failed"
                case .skipped: problem = "skipped as a duplicate of \(r.duplicateOf ?? "?") (unexpected in a new store)"
                case .ingested, .empty:
                    if copies == 0 && r.sha256 != f.sha256 {
                        problem = "its SHA-256 is \(r.sha256), the manifest says \(f.sha256): the file changed since it was archived"
                    } else if r.rowsRead != f.rows {
                        problem = "read \(r.rowsRead) rows, the manifest says \(f.rows)"
                    }
                }
                if let problem {
                    printErr("sellocli: error: rebuild: archive file \(f.path): \(problem)")
                    summary.failed.append(f.path)
                } else {
                    summary.ingested += 1
                }
                summary.add(r)
            }
            summary.watermark = try s.watermark()
        } catch {
            throw fail(error)
        }
        summary.seconds = ProcessInfo.processInfo.systemUptime - clock
        if !quiet || !summary.ok { printErr(summary.text(archive: fromArchive, store: dbPath)) }
        if !summary.ok { throw ExitCode(ExitCodes.failure) }
    }

    /// A copy of `f` under `dir` whose bytes differ from the original (and from the other
    /// copies) but whose content is the same: `copies` empty gzip members, then the file.
    static func distinctCopy(of f: ArchiveFile, copies: Int, in dir: String) throws -> String {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let emptyMember: [UInt8] = [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        guard let body = FileManager.default.contents(atPath: f.fullPath) else {
            throw StorageError.archiveCorrupt(path: f.fullPath, reason: "cannot read it")
        }
        var data = Data()
        for _ in 0..<copies { data.append(contentsOf: emptyMember) }
        data.append(body)
        let path = dir + "/" + f.path.replacingOccurrences(of: "/", with: "_") + ".copy\(copies)"
        guard FileManager.default.createFile(atPath: path, contents: data) else {
            throw StorageError.archive(path: path, reason: "cannot write a temporary copy")
        }
        return path
    }
}

/// The figures of one rebuild.
struct RebuildSummary {
    var manifestFiles = 0
    var manifestRows: Int64 = 0
    var sourceRows: Int64 = 0
    var ingested = 0
    var failed: [String] = []
    var unparsedFiles = 0
    var unparsedRows: Int64 = 0
    var rowsRead: Int64 = 0
    var rowsAccepted: Int64 = 0
    var rejected = [Int64](repeating: 0, count: RejectReason.allCases.count)
    var viewsDeduped: Int64 = 0
    var corrections: Int64 = 0
    var lateViews: Int64 = 0
    var watermark: Int64?
    var seconds: Double = 0

    mutating func add(_ r: FileReport) {
        guard r.status == .ingested || r.status == .empty else { return }
        rowsRead += r.rowsRead
        rowsAccepted += r.rowsAccepted
        for i in rejected.indices { rejected[i] += r.rejected[i] }
        viewsDeduped += r.viewsDeduped
        corrections += r.corrections
        lateViews += r.lateViews
    }

    /// Rows read plus unparsed rows skipped equal the manifest's file rows and its sources' rows.
    var reconciled: Bool { rowsRead + unparsedRows == manifestRows && manifestRows == sourceRows }
    var ok: Bool { failed.isEmpty && reconciled }

    func text(archive: String, store: String) -> String {
        let rejTotal = rejected.reduce(0, +)
        var reasons = RejectReason.allCases.filter { rejected[$0.rawValue] > 0 }.map { "\($0.code) \(rejected[$0.rawValue])" }.joined(separator: ", ")
        if reasons.isEmpty { reasons = "none" }
        var lines: [String] = []
        lines.append("sellocli rebuild: \(manifestFiles) archive file(s) from \(archive) into \(store): \(ingested) ingested, \(failed.count) failed, \(unparsedFiles) unparsed file(s) skipped (\(unparsedRows) rows without a usable time)")
        lines.append("  rows read \(rowsRead) = accepted \(rowsAccepted) + rejected \(rejTotal) (\(reasons))")
        let verdict = reconciled ? "reconciled" : "DOES NOT RECONCILE"
        lines.append("  rows read \(rowsRead) + unparsed \(unparsedRows) = \(rowsRead + unparsedRows); manifest files \(manifestRows), sources \(sourceRows): \(verdict)")
        lines.append("  views deduped \(viewsDeduped), corrections \(corrections), late views beyond the dedupe horizon \(lateViews); watermark \(watermark.map(Format.iso8601) ?? "none")")
        lines.append("  \(String(format: "%.2f", seconds)) s")
        if !ok { lines.append("  \(store) is incomplete: remove it (and \(store)-wal, \(store)-shm) and run again") }
        return lines.joined(separator: "\n")
    }
}
