import Foundation
import Storage
import Transforms

/// Set by SIGTERM/SIGINT: the tick finishes the file it is ingesting, then stops.
nonisolated(unsafe) var stopRequested: sig_atomic_t = 0

/// The inbox's working directories (dot-names, so they are never taken for new files).
enum InboxLayout {
    /// Files claimed by a tick and not yet finished: the next tick takes them first.
    static let claimed = ".sello-claimed"
    /// Files that failed, each with a `NAME.error` text beside it.
    static let failed = ".sello-failed"
    /// Files ingested whose rows the archive could not vouch for: kept, never deleted.
    static let kept = ".sello-kept"
}

/// Settings of one tick, from flags and the effective config.
struct TickSettings {
    var inbox: String
    var db: String
    var archiveDir: String
    var partitioning: RawArchive.Partitioning
    var surgeBytes: Int64
    var options: IngestOptions
    var housekeeping = true
}

/// What one tick did.
struct TickReport {
    var startedAt = Date()
    var seconds: Double = 0
    var pendingBytes: Int64 = 0
    var surge = false
    var recovered = 0
    var claimed = 0
    var backlog = 0
    var deleted = 0
    var kept: [String] = []
    var failedMoved: [String] = []
    var stoppedEarly = false
    var housekeeping = "done"
    var retainedRows: Int64 = 0
    var compactedPartitions = 0
    var watermarkBefore: Int64?
    var summary: RunSummary?
    var notes: [String] = []

    var failed: Int { summary?.failed ?? 0 }

    func text() -> String {
        var lines: [String] = []
        if let summary { lines.append(summary.text().replacingOccurrences(of: "sellocli ingest:", with: "sellocli run (tick):")) }
        var t = "  inbox: \(claimed) claimed (\(recovered) left by an earlier tick), \(backlog) backlog, \(deleted) deleted after archive check"
        if !failedMoved.isEmpty { t += ", \(failedMoved.count) moved to \(InboxLayout.failed)/" }
        if !kept.isEmpty { t += ", \(kept.count) kept in \(InboxLayout.kept)/" }
        lines.append(t)
        lines.append("  housekeeping: \(housekeeping)" + (housekeeping == "done" ? " (retention deleted \(retainedRows) rows, \(compactedPartitions) partition(s) compacted)" : ""))
        if stoppedEarly { lines.append("  stopped by a signal: unfinished files stay claimed for the next tick") }
        for n in notes { lines.append("  note: \(n)") }
        lines.append("  tick took \(String(format: "%.3f", seconds)) s")
        return lines.joined(separator: "\n")
    }

    func json(inbox: String) -> String {
        let iso = ISO8601DateFormatter()
        return """
        {"started_at":"\(iso.string(from: startedAt))","seconds":\(String(format: "%.3f", seconds)),"inbox":\(jsonString(inbox)),\
        "pending_bytes":\(pendingBytes),"surge":\(surge),"claimed":\(claimed),"recovered":\(recovered),"backlog":\(backlog),\
        "deleted":\(deleted),"kept":[\(kept.map(jsonString).joined(separator: ","))],\
        "failed_files":[\(failedMoved.map(jsonString).joined(separator: ","))],"stopped_early":\(stoppedEarly),\
        "housekeeping":\(jsonString(housekeeping)),"retained_rows":\(retainedRows),"compacted_partitions":\(compactedPartitions),\
        "notes":[\(notes.map(jsonString).joined(separator: ","))],"ingest":\(summary?.json() ?? "null")}
        """
    }
}

/// One cron tick: claim the inbox, ingest on-time files then backlog, archive and verify, clean
/// up the inbox, then housekeeping (retention, archive compaction) unless a surge is on.
///
/// Crash safety (kill -9 at any point): a file is claimed by an atomic rename and stays in the
/// claimed directory until its rows are in the store and verified in the archive; the next tick
/// takes claimed files first. The archive commits before the store (a re-run finds it archived
/// and adds nothing) and the ledger skips content already counted, so a re-run loses nothing
/// and counts nothing twice.
struct Tick {
    let settings: TickSettings

    /// At most this many files, or about this many bytes, per store transaction.
    static let groupFiles = 16
    static let groupBytes: Int64 = 64 << 20

    func run() throws -> TickReport {
        var report = TickReport()
        let clock = ProcessInfo.processInfo.systemUptime
        let fm = FileManager.default
        let inbox = settings.inbox
        let claimedDir = inbox + "/" + InboxLayout.claimed
        try fm.createDirectory(atPath: claimedDir, withIntermediateDirectories: true)

        // 1. What waits: files left claimed by an interrupted tick, then new inbox files.
        let recovered = try regularFiles(in: claimedDir)
        let fresh = try regularFiles(in: inbox)
        report.pendingBytes = (recovered + fresh).reduce(0) { $0 + $1.size }
        report.surge = report.pendingBytes > settings.surgeBytes
        report.recovered = recovered.count
        var claimed = recovered.map { claimedDir + "/" + $0.name }
        for f in fresh {
            let target = freeName(in: claimedDir, for: f.name)
            if rename(inbox + "/" + f.name, target) == 0 {
                claimed.append(target)
            } else if errno != ENOENT {  // ENOENT: another process took it first
                throw RunError("cannot claim \(inbox)/\(f.name): \(String(cString: strerror(errno)))")
            }
        }
        report.claimed = claimed.count

        // Size the in-memory tables to this tick's files: a minute's files hold thousands of
        // rows, and allocating and scanning tables sized for millions cost more than the rows.
        var options = settings.options
        let largest = claimed.map { p -> Int64 in
            var st = stat()
            guard stat(p, &st) == 0 else { return 0 }
            return Int64(st.st_size) * (p.hasSuffix(".gz") ? 8 : 1)
        }.max() ?? 0
        let rowsHint = Int(min(largest / 64, 1 << 30))
        func sized(_ want: Int, _ cap: Int) -> Int {
            var n = 1 << 12
            while n < want && n < cap { n <<= 1 }
            return min(n, cap)
        }
        options.statsBatch = sized(rowsHint * 16, options.statsBatch)
        options.pairBatch = sized(rowsHint, options.pairBatch)

        let store = try SQLiteStore(path: settings.db, tiers: settings.options.tiers)
        // One checkpoint at the end of the tick (below) copies the pages its files changed once.
        try store.deferCheckpoints()
        let archive = try RawArchive(root: settings.archiveDir, partitioning: settings.partitioning)
        let rejects = RejectLog(path: RunSummary.defaultRejectsPath(forStore: settings.db))
        let ingestor = try Ingestor(store: store, options: options, rejects: rejects)
        ingestor.archive = archive
        report.watermarkBefore = try store.watermark()

        // 2. On-time files first (by their first event), backlog (older than the watermark) after.
        let wm = report.watermarkBefore
        let scheduled = claimed.map { (path: $0, first: Peek.firstEventTime(path: $0, format: settings.options.format)) }
            .sorted { a, b in
                let aLate = wm != nil && (a.first ?? Int64.max) < wm!
                let bLate = wm != nil && (b.first ?? Int64.max) < wm!
                if aLate != bLate { return !aLate }
                if a.first != b.first { return (a.first ?? Int64.max) < (b.first ?? Int64.max) }
                return a.path < b.path
            }
        report.backlog = scheduled.filter { wm != nil && ($0.first ?? Int64.max) < wm! }.count

        // 3. Ingest them in groups, one store transaction per group (each stats row and page is
        //    written once per group, not once per file; a failing file sends its group back to
        //    one transaction per file: `Ingestor.ingestGroup`), then let go of each file only
        //    once the archive vouches for its rows. A stop request ends the tick after the
        //    current group.
        var files: [FileReport] = []
        var done: [(path: String, report: FileReport)] = []
        var next = 0
        while next < scheduled.count {
            if stopRequested != 0 { report.stoppedEarly = true; break }
            var group: [String] = []
            var bytes: Int64 = 0
            while next < scheduled.count && group.count < Tick.groupFiles && (group.isEmpty || bytes < Tick.groupBytes) {
                let p = scheduled[next].path
                var st = stat()
                bytes += stat(p, &st) == 0 ? Int64(st.st_size) : 0
                group.append(p)
                next += 1
            }
            for (p, r) in zip(group, try ingestor.ingestGroup(paths: group)) {
                files.append(r)
                done.append((p, r))
            }
        }
        for (path, r) in done {
            let name = (path as NSString).lastPathComponent
            switch r.status {
            case .failed:
                let dir = inbox + "/" + InboxLayout.failed
                try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
                let target = freeName(in: dir, for: name)
                if rename(path, target) == 0 {
                    try? Data(((r.error ?? "failed") + "\n").utf8).write(to: URL(fileURLWithPath: target + ".error"))
                    report.failedMoved.append((target as NSString).lastPathComponent)
                }
            case .empty:
                unlink(path)
                report.deleted += 1
            case .ingested, .skipped:
                if (try? archive.isArchived(sha256: r.sha256)) == true,
                   let v = try? archive.verify(sha256: r.sha256),
                   r.status == .skipped || v.rows == r.rowsRead {
                    unlink(path)
                    report.deleted += 1
                } else {
                    // Counted in the store but not (verifiably) archived, e.g. content first
                    // ingested by plain `ingest`: never deleted.
                    let dir = inbox + "/" + InboxLayout.kept
                    try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
                    let target = freeName(in: dir, for: name)
                    if rename(path, target) == 0 { report.kept.append((target as NSString).lastPathComponent) }
                    report.notes.append("\(name): its rows are in the store but the archive could not vouch for them; kept in \(InboxLayout.kept)/")
                }
            }
        }

        // 4. Housekeeping, unless the inbox is in a surge (a quieter tick does it).
        if !settings.housekeeping {
            report.housekeeping = "skipped (--no-housekeeping)"
        } else if report.surge {
            report.housekeeping = "deferred: \(report.pendingBytes) bytes were pending, above the surge threshold of \(settings.surgeBytes)"
        } else if report.stoppedEarly {
            report.housekeeping = "skipped: stopping"
        } else {
            report.retainedRows = try store.applyRetention(try store.planRetention()).reduce(0, +)
            try store.mergeNextRecentSlice()
            // Only partitions that ended before the watermark: the current one still grows, and
            // rewriting it every minute would cost more each time.
            let wmNow = try store.watermark() ?? Int64.min
            let width: Int64 = settings.partitioning == .day ? 86400 : 3600
            let closed = try archive.partitions().filter { $0.files > 1 && ($0.start.map { $0 + width <= wmNow } ?? false) }.map(\.key)
            if !closed.isEmpty { report.compactedPartitions = try archive.compact(partitions: closed).merged.count }
        }

        report.seconds = ProcessInfo.processInfo.systemUptime - clock
        report.summary = RunSummary(files: files, watermark: try store.watermark(), dryRun: false, store: settings.db,
                                    rejectsPath: rejects.rowsWritten > 0 ? rejects.path : nil, rejectRowsWritten: rejects.rowsWritten,
                                    seconds: report.seconds, startedAt: report.startedAt)
        try store.setMetaText("last_tick", report.json(inbox: inbox))
        try store.checkpoint()
        return report
    }

    /// Regular files whose names do not start with `.`, by name.
    private func regularFiles(in dir: String) throws -> [(name: String, size: Int64)] {
        guard let d = opendir(dir) else { throw RunError("cannot read directory \(dir): \(String(cString: strerror(errno)))") }
        defer { closedir(d) }
        var out: [(String, Int64)] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name.hasPrefix(".") { continue }
            var st = stat()
            guard stat(dir + "/" + name, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            out.append((name, Int64(st.st_size)))
        }
        return out.sorted { $0.0 < $1.0 }
    }

    /// `dir/name`, or `dir/name.2`, `.3`, ... when taken (a later file with the same name must
    /// never overwrite one still waiting).
    private func freeName(in dir: String, for name: String) -> String {
        var candidate = dir + "/" + name
        var n = 2
        var st = stat()
        while lstat(candidate, &st) == 0 {
            candidate = dir + "/" + name + ".\(n)"
            n += 1
        }
        return candidate
    }
}

/// A tick-level failure (the inbox cannot be read or claimed).
struct RunError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
