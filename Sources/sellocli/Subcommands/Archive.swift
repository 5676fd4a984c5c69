import ArgumentParser
import Foundation
import Storage
import Transforms
#if canImport(Glibc)
import Glibc
#endif

/// `sellocli archive compact|verify|ls`: housekeeping of the raw archive.
struct Archive: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect, verify and compact the raw archive.",
        discussion: """
        The raw archive holds every ingested source's raw rows (accepted and rejected
        alike) as gzip CSV files partitioned by event hour or day, with a manifest
        (manifest.sqlite) of sources, files, rows, bytes and SHA-256s. It is written
        by `sellocli ingest --archive DIR` and read by `sellocli rebuild`. A partition
        that got rows from several sources has a main file and segments; `compact`
        merges them.

        The archive is --archive DIR, else archive.dir in the config file
        ($SELLO_ARCHIVE_DIR), else `archive` beside the store. Only one process uses
        an archive at a time (a lock on DIR/.lock): while another holds it (an
        archiving ingest, another compact), these commands wait up to --wait and then
        exit 75.

        Examples:
          sellocli archive ls --archive /data/archive
          sellocli archive ls --files --format csv
          sellocli archive verify
          sellocli archive compact --dry-run
          sellocli archive compact

        Exit status: 0 ok; 1 the archive is missing or failed (verify: a source
        failed); 64 usage error; 75 the archive is in use by another process (after
        --wait); 78 a bad config file or SELLO_* value.
        """,
        subcommands: [ArchiveLs.self, ArchiveVerify.self, ArchiveCompact.self]
    )
}

/// The options every `archive` subcommand shares: where the archive is, and how long to wait.
struct ArchiveOptions: ParsableArguments {
    @OptionGroup var store: StoreOptions
    @Option(name: .long, help: ArgumentHelp("The archive directory.", discussion: "Default: $SELLO_ARCHIVE_DIR, else archive.dir in the config file, else archive beside the store.", valueName: "dir"))
    var archive: String?
    @OptionGroup var waitOption: WaitOption

    /// The archive directory of the effective configuration.
    func directory() throws -> String {
        var flags = ConfigFlags()
        flags.archiveDir = archive
        return try store.effectiveConfig(flags).archiveDir.value
    }

    /// Opens the archive at `dir`, which must exist (never creates one). Prints and throws the
    /// exit code on failure: 1 missing or broken, 75 in use by another process after --wait.
    func open(_ dir: String) throws -> RawArchive {
        try ArchiveOptions.open(dir, wait: waitOption.seconds)
    }

    static func open(_ dir: String, wait: Int64) throws -> RawArchive {
        guard FileManager.default.fileExists(atPath: dir + "/" + RawArchive.manifestName) else {
            var isDir: ObjCBool = false
            let why = FileManager.default.fileExists(atPath: dir, isDirectory: &isDir)
                ? "\(dir) is not an archive (no \(RawArchive.manifestName) in it)"
                : "no archive at \(dir) (archives are written by `sellocli ingest --archive DIR`)"
            printErr("sellocli: error: \(why)")
            throw ExitCode(ExitCodes.failure)
        }
        let deadline = monotonicNow() + Double(max(0, wait))
        while true {
            do {
                return try RawArchive(root: dir)
            } catch StorageError.archive(let path, let reason) where reason.contains("in use") {
                if monotonicNow() >= deadline {
                    printErr("sellocli: error: the archive \(path) is busy: \(reason); try again later, or wait with --wait 60s")
                    throw ExitCode(ExitCodes.busy)
                }
                usleep(100_000)
            } catch {
                throw fail(error)
            }
        }
    }
}

func monotonicNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

struct ArchiveLs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List the archive's partitions (or files) with rows, bytes and segments.",
        usage: """
        sellocli archive ls [--db <path>] [--config <path>] [--archive <dir>]
                            [--wait <duration>] [--files] [--format <format>]
        """,
        discussion: """
        One row per partition, oldest first (the files of rows without a usable time
        together as `unparsed`, last): partition, start (ISO 8601 UTC), files,
        segments (files beyond the main one: what `compact` would merge), rows, bytes.
        With --files, one row per file in the order `rebuild` reads them: path,
        partition, kind (main, segment, unparsed), rows, bytes, sha256. Totals go to
        standard error.

        Examples:
          sellocli archive ls --db sello.db
          sellocli archive ls --archive /data/archive --files --format json

        Exit status: 0 ok; 1 no archive there or it failed; 64 usage error; 75 in use
        by another process (after --wait); 78 a bad config file or SELLO_* value.
        """
    )

    @OptionGroup var options: ArchiveOptions
    @Flag(name: .long, help: "List files instead of partitions.") var files = false
    @OptionGroup var output: OutputOptions

    func run() throws {
        let dir = try options.directory()
        let a = try options.open(dir)
        let w = ResultWriter(format: output.resolved)
        do {
            if files {
                let fs = try a.files()
                w.begin(columns: ["path", "partition", "kind", "rows", "bytes", "sha256"])
                for f in fs { w.row([.text(f.path), .text(f.partition), .text(f.kind.rawValue), .int(f.rows), .int(f.bytes), .text(f.sha256)]) }
                w.end()
                printErr("sellocli archive ls: \(fs.count) file(s), \(fs.reduce(0) { $0 + $1.rows }) rows, \(fs.reduce(0) { $0 + $1.bytes }) bytes in \(dir)")
            } else {
                let ps = try a.partitions()
                w.begin(columns: ["partition", "start", "files", "segments", "rows", "bytes"])
                for p in ps {
                    let segments = p.start == nil ? 0 : p.files - 1
                    w.row([.text(p.key), p.start.map { .time($0) } ?? .null, .int(Int64(p.files)), .int(Int64(segments)), .int(p.rows), .int(p.bytes)])
                }
                w.end()
                let nfiles = ps.reduce(0) { $0 + $1.files }
                printErr("sellocli archive ls: \(ps.count) partition(s), \(nfiles) file(s), \(ps.reduce(0) { $0 + $1.rows }) rows, \(ps.reduce(0) { $0 + $1.bytes }) bytes, \(try a.sources().count) source(s) in \(dir) (partitioned by \(a.partitioning.rawValue))")
            }
        } catch {
            throw fail(error)
        }
    }
}

struct ArchiveVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check that every archived source's files are intact and match the manifest.",
        usage: """
        sellocli archive verify [--db <path>] [--config <path>]
                                [--archive <dir>] [--wait <duration>]
                                [--sha <sha256> ...] [--format <format>]
        """,
        discussion: """
        For every source in the manifest (or each --sha given: a full SHA-256, or a
        unique prefix of at least 8 hex digits), every file holding its rows must
        exist, be intact gzip, and have the manifest's size, SHA-256 and row count.
        One row per source: sha256, name, status (ok or FAILED), rows, files, bytes,
        error. Any failure is also named on standard error, and the exit status is 1.

        Examples:
          sellocli archive verify --db sello.db
          sellocli archive verify --sha 3f2a9c1d --sha 77aa01be --format json

        Exit status: 0 every source checked out; 1 a source failed, is unknown, or
        there is no archive; 64 usage error; 75 in use by another process (after
        --wait); 78 a bad config file or SELLO_* value.
        """
    )

    @OptionGroup var options: ArchiveOptions
    @Option(name: .customLong("sha"), parsing: .upToNextOption, help: ArgumentHelp("Verify only these sources (SHA-256 or a unique prefix).", valueName: "sha256"))
    var shas: [String] = []
    @OptionGroup var output: OutputOptions

    func validate() throws {
        for s in shas where s.count < 8 || !s.allSatisfy(\.isHexDigit) {
            throw ValidationError("--sha \(s): expected a SHA-256 in hex, or a prefix of at least 8 hex digits")
        }
    }

    func run() throws {
        let dir = try options.directory()
        let a = try options.open(dir)
        var targets: [(sha: String, name: String)] = []
        var failures: [String] = []
        let w = ResultWriter(format: output.resolved)
        w.begin(columns: ["sha256", "name", "status", "rows", "files", "bytes", "error"])
        do {
            let all = try a.sources()
            if shas.isEmpty {
                targets = all.map { ($0.sha256, $0.name) }
            } else {
                for s in shas {
                    let m = all.filter { $0.sha256.hasPrefix(s.lowercased()) }
                    if m.count == 1 {
                        targets.append((m[0].sha256, m[0].name))
                    } else {
                        let why = m.isEmpty ? "not in the archive" : "ambiguous prefix (\(m.count) sources)"
                        w.row([.text(s), .null, .text("FAILED"), .null, .null, .null, .text(why)])
                        failures.append("\(s): \(why)")
                    }
                }
            }
            for t in targets {
                do {
                    let r = try a.verify(sha256: t.sha)
                    w.row([.text(t.sha), .text(r.name), .text("ok"), .int(r.rows), .int(Int64(r.files)), .int(r.bytes), .null])
                } catch let e as StorageError {
                    switch e {
                    case .archiveCorrupt, .archiveSourceUnknown:
                        w.row([.text(t.sha), .text(t.name), .text("FAILED"), .null, .null, .null, .text(e.description)])
                        failures.append("\(t.sha) (\(t.name)): \(e)")
                    default: throw e
                    }
                }
            }
        } catch {
            w.end()
            throw fail(error)
        }
        w.end()
        for f in failures { printErr("sellocli: error: archive verify: \(f)") }
        printErr("sellocli archive verify: \(shas.isEmpty ? targets.count : shas.count) source(s) checked, \(failures.count) failed")
        if !failures.isEmpty { throw ExitCode(ExitCodes.failure) }
    }
}

struct ArchiveCompact: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact",
        abstract: "Merge each partition's main file and segments into one file; remove leftovers.",
        usage: """
        sellocli archive compact [--db <path>] [--config <path>]
                                 [--archive <dir>] [--wait <duration>]
                                 [--dry-run] [--format <format>]
        """,
        discussion: """
        A partition that received rows from several sources holds a main file and
        segments. compact rewrites them as one main file (rows in the order rebuild
        reads them, so a rebuild gives the same stats before and after), checking
        every input against the manifest first, and removes files the manifest does
        not list (leftovers of a crash). Crash-safe: every row is in the archive
        exactly once at every moment.

        One row per merged partition: partition, files_before, files_after, rows,
        bytes (of the merged file; empty in a dry run), output. Totals and the
        leftovers go to standard error. --dry-run lists the same, changing nothing.

        Examples:
          sellocli archive compact --dry-run --db sello.db
          sellocli archive compact --archive /data/archive --wait 10m

        Exit status: 0 ok; 1 no archive there, or an input failed its check (nothing
        of that partition changed); 64 usage error; 75 in use by another process
        (after --wait); 78 a bad config file or SELLO_* value.
        """
    )

    @OptionGroup var options: ArchiveOptions
    @Flag(name: .customLong("dry-run"), help: "List what would be merged and removed; change nothing.") var dryRun = false
    @OptionGroup var output: OutputOptions

    func run() throws {
        let dir = try options.directory()
        let a = try options.open(dir)
        let report: CompactReport
        let filesBefore: Int
        do {
            filesBefore = try a.files().count
            report = try a.compact(dryRun: dryRun)
        } catch {
            throw fail(error)
        }
        let w = ResultWriter(format: output.resolved)
        w.begin(columns: ["partition", "files_before", "files_after", "rows", "bytes", "output"])
        for m in report.merged {
            w.row([.text(m.partition), .int(Int64(m.inputs.count)), .int(1), .int(m.rows), dryRun ? .null : .int(m.bytes), .text(m.output)])
        }
        w.end()
        let inputs = report.merged.reduce(0) { $0 + $1.inputs.count }
        let after = filesBefore - inputs + report.merged.count
        let rows = report.merged.reduce(Int64(0)) { $0 + $1.rows }
        let verb = dryRun ? "would merge" : "merged"
        printErr("sellocli archive compact\(dryRun ? " --dry-run (nothing was changed)" : ""): \(verb) \(report.merged.count) partition(s) (\(inputs) file(s) into \(report.merged.count), \(rows) rows); archive files \(filesBefore) -> \(after)")
        let lverb = dryRun ? "would remove" : "removed"
        printErr("  \(lverb) \(report.leftovers.count) leftover file(s)\(report.leftovers.isEmpty ? "" : ": " + report.leftovers.joined(separator: ", "))")
    }
}
