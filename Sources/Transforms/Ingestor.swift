#if canImport(Glibc)
import Glibc
#endif
import CSupport

/// Settings of one ingest run.
public struct IngestOptions: Sendable {
    public var format: InputFormat = .auto
    /// How far behind the watermark view-dedupe state is kept, in seconds.
    public var dedupeHorizon: Int64 = 86400
    /// A file whose rejected share exceeds this fails as a whole (judged from `minRowsForRejectRate` rows).
    public var maxRejectRate: Double = 0.05
    public var minRowsForRejectRate: Int64 = 100
    public var tiers: [Tier] = Tier.defaults
    /// Everything but the store write: the transaction is rolled back and stats are only counted.
    public var dryRun = false
    /// Entries of the finest tier summed in memory before a write to the store (each coarser
    /// tier has a table a quarter this size; up to two batches' rows may be in flight).
    public var statsBatch = 1 << 19
    /// (session, product) pairs held in memory before they are resolved against the store.
    /// Sized to hold about a day of the benchmark's pairs: smaller maps evict pairs that come
    /// back, so their lookups cost more than the memory saved (512 K: +15% time for 12 MB).
    public var pairBatch = 3 << 18
    /// The same for a dry run, which keeps no store cache and gains most from fewer evictions.
    public static let dryRunPairBatch = 1 << 20
    /// How far the data clock moves between two prunings of the dedupe state.
    public var pruneEvery: Int64 = 6 * 3600
    /// A pair's stored last-seen time advances only when it moves by at least this much (fewer
    /// writes of the state); pruning keeps state this much longer, so nothing seen within the
    /// horizon is ever pruned.
    public var lastSeenGrain: Int64 = 3600
    public init() {}
}

/// What happened to one input.
public struct FileReport: Sendable {
    public enum Status: String, Sendable { case ingested, skipped, failed, empty }
    public var path: String
    public var status: Status = .failed
    public var sha256 = ""
    public var bytes: Int64 = 0
    public var format: InputFormat = .auto
    public var rowsRead: Int64 = 0
    public var rowsAccepted: Int64 = 0
    public var rejected = [Int64](repeating: 0, count: RejectReason.allCases.count)
    public var viewsDeduped: Int64 = 0
    public var corrections: Int64 = 0
    public var lateViews: Int64 = 0
    public var statRowsChanged: Int64 = 0
    public var pairsPruned: Int64 = 0
    public var minTime: Int64?
    public var maxTime: Int64?
    /// For `skipped`: the ledger entry whose content is the same.
    public var duplicateOf: String?
    public var error: String?
    public var seconds: Double = 0
    public var rowsRejected: Int64 { rejected.reduce(0, +) }
    public init(path: String) { self.path = path }

    /// A file whose content is already in the ledger.
    static func skipped(path: String, sha256: String, bytes: Int64, format: InputFormat, duplicateOf: String, seconds: Double) -> FileReport {
        var r = FileReport(path: path)
        r.status = .skipped
        r.sha256 = sha256
        r.bytes = bytes
        r.format = format
        r.duplicateOf = duplicateOf
        r.seconds = seconds
        return r
    }
}

/// Receives rejected rows. Contract: rows between `beginFile` and `commitFile` become durable
/// only at `commitFile`; `undoCommit` removes the rows of every file committed since the last
/// `settle` (when the store's commit failed after them); `settle` marks them final (the store
/// committed); `abortFile` discards the current file's rows.
public protocol RejectSink: AnyObject {
    func beginFile(_ name: String) throws
    func reject(line: Int64, reason: RejectReason, raw: UnsafeBufferPointer<UInt8>) throws
    func commitFile() throws
    func undoCommit()
    func settle()
    func abortFile()
}

/// Receives every record of a file, accepted or rejected, for the raw archive. Contract like
/// `RejectSink`: nothing of a file is durable before `commitArchive`, which runs just before the
/// store's commit; `undoArchive` takes back every commit since the last `settleArchive` when
/// the store's commit then fails; `abortArchive` drops the current file. Committing the same
/// content twice changes nothing.
public protocol RawRecordSink: AnyObject {
    func beginArchive(name: String) throws
    /// A record whose event time parsed (even if another field is then rejected).
    func archive(time: Int64, fields: UnsafePointer<Field>) throws
    /// A record without fields or without a usable time.
    func archiveUnparsed(line: Int64, reason: RejectReason, raw: UnsafeBufferPointer<UInt8>) throws
    func commitArchive(sha256: String) throws
    func undoArchive() throws
    func settleArchive()
    func abortArchive()
}

/// Progress of the current file, for a progress bar.
public struct IngestProgress: Sendable {
    public var path: String
    public var rawBytesRead: Int64
    public var totalBytes: Int64?
    public var rows: Int64
}

/// The retail pipeline: read, reject, clean, dedupe views, aggregate, and apply one file at a
/// time to an `IngestStore`, each file in one transaction.
///
/// Contract: `ingest(path:)` never throws for a bad file (its report says failed and why, and
/// nothing of it is stored); it throws only when the store itself fails.
public final class Ingestor {
    public let options: IngestOptions
    private let store: IngestStore
    private let rejects: RejectSink?
    /// Where every record goes for the raw archive (nil: no archive).
    public var archive: RawRecordSink?
    private let keys: Interner
    /// Category code (or `\u{1}` + category id) -> index into `levels`.
    private var categoryCache = Interner()
    private var levels: [(Int32, Int32, Int32)] = []
    /// In front of `keys` and `categoryCache` for the strings every row repeats: brand -> id,
    /// category code -> levels, category id (of an empty code) -> levels, and product id -> the
    /// id an empty brand is filled with. Cleared whenever the key dictionary is truncated.
    private let brandIds = KeyCache(), codeLevels = KeyCache(), idLevels = KeyCache(entries: 8192)
    private let filledBrandIds = ProductIdCache(entries: 16384)
    /// Delta sums per tier, and their way to the store.
    private let stats: StatsAggregator
    private let pending: PendingViews
    /// Stats upserts and new dedupe state are written on this second thread while reading goes
    /// on; every other store call waits for it (`worker.sync`). See `StoreWorker`.
    private let worker: StoreWorker
    /// Dedupe-state rows pruned by queued jobs, collected at the end of each file.
    private let pruned = Counter()
    private var pidText = [UInt8](repeating: 0, count: 24)
    private var scratch = [UInt8]()
    /// Pairs this run may have written: when the store held no dedupe state at the start, a
    /// pair absent from the filter cannot be in the store, and its lookup is skipped.
    private var written: BloomFilter?
    /// Entries of the eviction under way whose view is new, and their view times: counted in
    /// time order at its end.
    private var newViews: [Int32] = []
    private var newViewTimes: [Int64] = []
    /// `countNewViews`'s order of the new views (its storage, kept).
    private var viewOrder: [Int32] = []
    /// The finest tier's width: new views are counted in buckets of it, oldest first.
    private let finestWidth: Int64
    /// The latest event time seen so far (store watermark or this file), for the horizon.
    private var runningMax = Int64.min
    public var progress: ((IngestProgress) -> Void)?
    public var progressEvery: Int64 = 1 << 16

    public init(store: IngestStore, options: IngestOptions, rejects: RejectSink?) throws {
        self.store = store
        self.options = options
        self.rejects = rejects
        guard options.tiers.count < 256 else { throw TransformsError.invalidArgument("at most 255 tiers") }
        let widths = options.tiers.map(\.width)
        guard widths.allSatisfy({ $0 > 0 }) else { throw TransformsError.invalidArgument("tier widths must be positive") }
        finestWidth = widths.min() ?? 60
        // Up to a full batch of stat rows queued for the store thread. A drain comes as a burst
        // (half the minute table, then the hour and day rows it rolls into); with a quarter
        // batch queued the reading thread waited 3.5-4.7 s of a 15-17 s ingest for the queue
        // while the store thread sat idle about as long between bursts. A full batch: 11.4-13.3 s,
        // and the 10 M file 27.3 -> 22.1 s at the same peak (297 MB; 5 M: 268 -> 275-284 MB).
        // Twice that was slower and larger.
        // Dedupe-state writes are bounded too: at the end of a file every pair within the
        // horizon is saved, a chunk of 32 K at a time, and the reading thread queued them all
        // (63 MB of the 10 M file's peak, heaptrack). Two chunks queued keep the store busy.
        worker = StoreWorker(maxStatsWeight: max(1 << 14, options.statsBatch), maxStateWeight: 2 * PairChunk.size)
        stats = StatsAggregator(tierWidths: widths, statsBatch: options.statsBatch, dryRun: options.dryRun, store: store, worker: worker)
        pending = PendingViews(limit: options.pairBatch)
        let loaded = try store.loadKeys()
        keys = Interner(capacity: max(4096, loaded.count * 2))
        for k in loaded { _ = k.withUnsafeBufferPointer { keys.intern($0.baseAddress, $0.count) } }
        lastPruneCutoff = try store.lastPruneCutoff()
        if try !store.hasPairState() { written = BloomFilter() }
    }

    deinit { stats.stop() }

    // MARK: one file

    /// Inflate and hash on a second thread for files of 4 MB and more (and stdin): it overlaps
    /// the scan; for a minute's small files a thread is not worth starting.
    static func readsAhead(_ total: Int64?) -> Bool { (total ?? Int64.max) >= 4 << 20 }

    public func ingest(path: String) throws -> FileReport {
        let started = monotonicSeconds()
        do {
            let source = try ByteSource(path: path)
            var total: Int64?
            var mtime: Int64 = 0
            if path != "-" {
                var st = stat()
                if stat(path, &st) == 0 {
                    total = Int64(st.st_size)
                    mtime = Int64(st.st_mtim.tv_sec)
                    // Same path, size and mtime as a ledger entry: confirm by content hash alone.
                    if let prior = try worker.sync({ try store.ledgerEntry(path: path, size: Int64(st.st_size), mtime: mtime) }) {
                        try source.drainRaw()
                        let sha = source.sha256Hex()
                        if sha == prior.sha256 {
                            return .skipped(path: path, sha256: sha, bytes: source.bytesRead, format: .auto,
                                            duplicateOf: prior.path, seconds: monotonicSeconds() - started)
                        }
                        // Changed in place with the same size and mtime: read it again from the start.
                        return try ingestFresh(path: path, source: ByteSource(path: path), total: total, mtime: mtime, started: started)
                    }
                }
            }
            return try ingestFresh(path: path, source: source, total: total, mtime: mtime, started: started)
        } catch let e as TransformsError {
            var report = FileReport(path: path)
            report.error = e.description
            report.seconds = monotonicSeconds() - started
            return report
        }
    }

    private func ingestFresh(path: String, source: ByteSource, total: Int64?, mtime: Int64, started: Double) throws -> FileReport {
        var r = FileReport(path: path)
        let keyMark = keys.count
        var inTransaction = false
        var rejectsOpen = false
        var archiveOpen = false
        do {
            let reader = try RecordReader(source: source, format: options.format, readAhead: Ingestor.readsAhead(total))
            r.format = reader.format
            let watermark = try worker.sync { try store.watermark() }
            stats.keptFrom = try worker.sync { try store.retainedFrom() }.map { $0 ?? Int64.min }
            // A dry run of a long file sums on a thread of its own (5 M rows: 8.7 -> 7.5 s). Not a
            // small file (not worth the handoffs), nor a real ingest: there it was 15% faster
            // but took 316-344 MB at the peak (the ring, and drains overlapping evictions).
            stats.threaded = options.dryRun && Ingestor.readsAhead(total)
            let lateCutoff = watermark.map { $0 - options.dedupeHorizon } ?? Int64.min
            runningMax = watermark ?? Int64.min
            try worker.sync { try store.begin() }
            inTransaction = true
            try rejects?.beginFile(path)
            rejectsOpen = rejects != nil
            if let archive, !options.dryRun {
                try archive.beginArchive(name: path)
                archiveOpen = true
            }
            try readRows(reader, &r, lateCutoff: lateCutoff, total: total)
            try resolvePending(&r, lateCutoff: lateCutoff, all: true)
            r.statRowsChanged += stats.finish()
            // Every write of this file is done (or has failed) before anything is decided.
            try worker.drain()
            r.pairsPruned += pruned.take()
            try source.drainRaw()
            r.sha256 = source.sha256Hex()
            r.bytes = source.bytesRead
            if r.rowsRead == 0 && reader.header.isEmpty && source.bytesRead <= 3 {
                r.status = .empty
            }
            if r.rowsRead >= options.minRowsForRejectRate && Double(r.rowsRejected) > options.maxRejectRate * Double(r.rowsRead) {
                throw TransformsError.tooManyRejects(file: path, rejected: r.rowsRejected, read: r.rowsRead, maxRate: options.maxRejectRate)
            }
            /// Undoes everything this file did (store, rejects, new dictionary keys).
            func discardFile() {
                stats.reset()
                worker.drainDiscardingError(); _ = pruned.take()
                store.rollback(); inTransaction = false
                rejects?.abortFile(); rejectsOpen = false
                if archiveOpen { archive?.abortArchive(); archiveOpen = false }
                keys.truncate(to: keyMark); resetCategoryCache()
            }
            if let prior = try store.ledgerEntry(sha256: r.sha256) {
                // Same content already ingested (maybe under another name): nothing counts twice.
                discardFile()
                return .skipped(path: path, sha256: r.sha256, bytes: r.bytes, format: r.format,
                                duplicateOf: prior.path, seconds: monotonicSeconds() - started)
            }
            if r.status == .empty || options.dryRun {
                discardFile()
                if r.status != .empty { r.status = .ingested }
                r.seconds = monotonicSeconds() - started
                return r
            }
            if keys.count > keyMark {
                try store.appendKeys(firstId: keyMark, keys: (keyMark..<keys.count).map { keys.bytes(Int32($0)) })
            }
            if let maxT = r.maxTime {
                let newWatermark = max(watermark ?? maxT, maxT)
                if newWatermark != watermark { try store.setWatermark(newWatermark) }
                try pruneIfDue(watermark: newWatermark)
                try worker.drain()
                r.pairsPruned += pruned.take()
            }
            try store.recordFile(LedgerEntry(
                sha256: r.sha256, path: path, size: r.bytes, mtime: mtime, rowsRead: r.rowsRead, rowsAccepted: r.rowsAccepted,
                rejected: r.rejected, minTime: r.minTime, maxTime: r.maxTime, ingestedAt: Int64(time(nil)),
                watermarkBefore: watermark))
            if rejectsOpen { try rejects?.commitFile(); rejectsOpen = false }
            if archiveOpen {
                do {
                    try archive?.commitArchive(sha256: r.sha256)
                } catch {
                    rejects?.undoCommit()
                    throw error
                }
                archiveOpen = false
            }
            do {
                try store.commit()
            } catch {
                rejects?.undoCommit()
                if archive != nil && !options.dryRun { try? archive?.undoArchive() }
                throw error
            }
            rejects?.settle()
            if !options.dryRun { archive?.settleArchive() }
            inTransaction = false
            r.status = .ingested
        } catch let e as TransformsError {
            // The summing thread first: nothing of this file may reach the store thread later.
            stats.reset()
            worker.drainDiscardingError(); _ = pruned.take()
            if inTransaction { store.rollback() }
            if rejectsOpen { rejects?.abortFile() }
            if archiveOpen { archive?.abortArchive() }
            keys.truncate(to: keyMark); resetCategoryCache()
            pending.clear()
            r.status = .failed
            r.error = e.description
        } catch {
            // The summing thread first: nothing of this file may reach the store thread later.
            stats.reset()
            worker.drainDiscardingError(); _ = pruned.take()
            if inTransaction { store.rollback() }
            if rejectsOpen { rejects?.abortFile() }
            if archiveOpen { archive?.abortArchive() }
            keys.truncate(to: keyMark); resetCategoryCache()
            pending.clear()
            throw error
        }
        r.seconds = monotonicSeconds() - started
        return r
    }

    /// Ingests several files (a cron tick's) in one store transaction: the same stats, ledger,
    /// rejects and archive as `ingest(path:)` on each in turn, but each stats row, and each page
    /// of the store, is written once for the group instead of once per file. Every file's
    /// effects still commit all or nothing (here all together). Files whose content is in the
    /// ledger, or repeats an earlier file of the group, are skipped up front by content hash.
    /// When any file fails, the group is rolled back and its files are ingested one at a time
    /// (so a bad file costs a second pass over the others, and nothing else). Reports come in
    /// `paths` order. Throws only when the store itself fails.
    public func ingestGroup(paths: [String]) throws -> [FileReport] {
        if paths.count < 2 || options.dryRun || paths.contains("-") { return try paths.map { try ingest(path: $0) } }
        var reports = [FileReport?](repeating: nil, count: paths.count)
        var todo: [(index: Int, sha: String, mtime: Int64, size: Int64)] = []
        var firstWith: [String: String] = [:]
        for (i, path) in paths.enumerated() {
            let started = monotonicSeconds()
            var st = stat()
            // Anything unusual (unreadable, vanished): the one-file path reports it properly.
            guard stat(path, &st) == 0, let source = try? ByteSource(path: path), (try? source.drainRaw()) != nil else {
                return try paths.map { try ingest(path: $0) }
            }
            let sha = source.sha256Hex()
            if let prior = try worker.sync({ try store.ledgerEntry(sha256: sha) })?.path ?? firstWith[sha] {
                reports[i] = .skipped(path: path, sha256: sha, bytes: source.bytesRead, format: .auto, duplicateOf: prior,
                                      seconds: monotonicSeconds() - started)
                continue
            }
            firstWith[sha] = path
            todo.append((i, sha, Int64(st.st_mtim.tv_sec), Int64(st.st_size)))
        }
        if todo.count < 2 {
            for t in todo { reports[t.index] = try ingest(path: paths[t.index]) }
            return reports.map { $0! }
        }
        let keyMark = keys.count
        let pruneCutoffBefore = lastPruneCutoff
        var rejectsOpen = false, archiveOpen = false, inTransaction = false
        do {
            var watermark = try worker.sync { try store.watermark() }
            // Views are late (beyond the horizon) relative to the watermark before the group.
            let groupLateCutoff = watermark.map { $0 - options.dedupeHorizon } ?? Int64.min
            stats.keptFrom = try worker.sync { try store.retainedFrom() }.map { $0 ?? Int64.min }
            stats.threaded = false
            try worker.sync { try store.begin() }
            inTransaction = true
            var last = todo[0].index
            for t in todo {
                let path = paths[t.index]
                let started = monotonicSeconds()
                var r = FileReport(path: path)
                let source = try ByteSource(path: path)
                let reader = try RecordReader(source: source, format: options.format, readAhead: Ingestor.readsAhead(t.size))
                r.format = reader.format
                let lateCutoff = watermark.map { $0 - options.dedupeHorizon } ?? Int64.min
                runningMax = watermark ?? Int64.min
                try rejects?.beginFile(path)
                rejectsOpen = rejects != nil
                if let archive {
                    try archive.beginArchive(name: path)
                    archiveOpen = true
                }
                try readRows(reader, &r, lateCutoff: lateCutoff, total: nil)
                r.statRowsChanged += stats.takeRowsChanged()
                // Views stay pending and stats summed in memory across the group's files: a
                // session spread over the group's files is resolved against the store once.
                try source.drainRaw()
                r.sha256 = source.sha256Hex()
                r.bytes = source.bytesRead
                if r.sha256 != t.sha { throw TransformsError.io(file: path, reason: "changed while being read") }
                if r.rowsRead >= options.minRowsForRejectRate && Double(r.rowsRejected) > options.maxRejectRate * Double(r.rowsRead) {
                    throw TransformsError.tooManyRejects(file: path, rejected: r.rowsRejected, read: r.rowsRead, maxRate: options.maxRejectRate)
                }
                if r.rowsRead == 0 && reader.header.isEmpty && source.bytesRead <= 3 {
                    // Empty: nothing to record, as on the one-file path.
                    if rejectsOpen { rejects?.abortFile(); rejectsOpen = false }
                    if archiveOpen { archive?.abortArchive(); archiveOpen = false }
                    r.status = .empty
                    r.seconds = monotonicSeconds() - started
                    reports[t.index] = r
                    continue
                }
                let before = watermark
                if let maxT = r.maxTime {
                    let newWatermark = max(watermark ?? maxT, maxT)
                    if newWatermark != watermark {
                        try worker.sync { try store.setWatermark(newWatermark) }
                        watermark = newWatermark
                    }
                    try pruneIfDue(watermark: newWatermark)
                }
                let entry = LedgerEntry(
                    sha256: r.sha256, path: path, size: r.bytes, mtime: t.mtime, rowsRead: r.rowsRead, rowsAccepted: r.rowsAccepted,
                    rejected: r.rejected, minTime: r.minTime, maxTime: r.maxTime, ingestedAt: Int64(time(nil)), watermarkBefore: before)
                try worker.sync { try store.recordFile(entry) }
                if rejectsOpen { try rejects?.commitFile(); rejectsOpen = false }
                if archiveOpen { try archive?.commitArchive(sha256: r.sha256); archiveOpen = false }
                r.status = .ingested
                r.seconds = monotonicSeconds() - started
                reports[t.index] = r
                last = t.index
            }
            // The group's sums, its new keys and its commit: counted on its last file.
            let started = monotonicSeconds()
            var r = reports[last]!
            runningMax = max(runningMax, watermark ?? Int64.min)
            try resolvePending(&r, lateCutoff: groupLateCutoff, all: true)
            r.statRowsChanged += stats.finish()
            try worker.drain()
            r.pairsPruned += pruned.take()
            if keys.count > keyMark {
                try store.appendKeys(firstId: keyMark, keys: (keyMark..<keys.count).map { keys.bytes(Int32($0)) })
            }
            do {
                try store.commit()
            } catch {
                rejects?.undoCommit()
                try? archive?.undoArchive()
                throw error
            }
            inTransaction = false
            rejects?.settle()
            archive?.settleArchive()
            r.seconds += monotonicSeconds() - started
            reports[last] = r
            return reports.map { $0! }
        } catch let e as TransformsError {
            // A file failed: nothing of the group stays; each file goes in on its own.
            _ = e
            // The summing thread first: nothing of this file may reach the store thread later.
            stats.reset()
            worker.drainDiscardingError(); _ = pruned.take()
            if inTransaction { store.rollback() }
            if rejectsOpen { rejects?.abortFile() }
            rejects?.undoCommit()
            if archiveOpen { archive?.abortArchive() }
            try archive?.undoArchive()
            keys.truncate(to: keyMark); resetCategoryCache()
            pending.clear()
            lastPruneCutoff = pruneCutoffBefore
            for t in todo { reports[t.index] = try ingest(path: paths[t.index]) }
            return reports.map { $0! }
        } catch {
            // The summing thread first: nothing of this file may reach the store thread later.
            stats.reset()
            worker.drainDiscardingError(); _ = pruned.take()
            if inTransaction { store.rollback() }
            if rejectsOpen { rejects?.abortFile() }
            rejects?.undoCommit()
            if archiveOpen { archive?.abortArchive() }
            try? archive?.undoArchive()
            keys.truncate(to: keyMark); resetCategoryCache()
            pending.clear()
            lastPruneCutoff = pruneCutoffBefore
            throw error
        }
    }

    private func resetCategoryCache() {
        categoryCache = Interner()
        levels.removeAll(keepingCapacity: true)
        brandIds.clear(); codeLevels.clear(); idLevels.clear(); filledBrandIds.clear()
    }

    private var lastPruneCutoff: Int64?

    /// Expires dedupe state once the cutoff has moved `pruneEvery` since the last pruning (a
    /// full scan of the state, so not on every small file; state lives up to that much longer).
    /// (Queued on the state lane; the count reaches `pruned`.)
    private func pruneIfDue(watermark: Int64) throws {
        guard options.dedupeHorizon > 0 else { return }
        let cutoff = watermark - options.dedupeHorizon - options.lastSeenGrain
        if let last = lastPruneCutoff, cutoff - last < options.pruneEvery { return }
        lastPruneCutoff = cutoff
        let target = store, counter = pruned
        worker.async(.state) { counter.add(try target.prunePairs(lastSeenBefore: cutoff)) }
    }


    // MARK: rows

    private func readRows(_ reader: RecordReader, _ r: inout FileReport, lateCutoff: Int64, total: Int64?) throws {
        let f = reader.fields
        // What a failed file left.
        rows.removeAll(keepingCapacity: true)
        rowText.removeAll(keepingCapacity: true)
        settledMaxT = Int64.min
        let archive = options.dryRun ? nil : self.archive
        var nextProgress = progressEvery
        var minT = Int64.max, maxT = Int64.min
        var read: Int64 = 0, accepted: Int64 = 0
        loop: while true {
            let outcome = try reader.next()
            var reason: RejectReason
            switch outcome {
            case .end:
                break loop
            case .rejected(let why):
                reason = why
                if let archive, let raw = reader.rawBase {
                    try archive.archiveUnparsed(line: reader.line, reason: why, raw: UnsafeBufferPointer(start: raw, count: reader.rawCount))
                }
            case .row:
                read += 1
                if read >= nextProgress, let progress {
                    nextProgress += progressEvery
                    progress(IngestProgress(path: r.path, rawBytesRead: reader.rawBytesRead, totalBytes: total, rows: read))
                }
                guard let t = eventTime(f[Column.eventTime.rawValue]) else {
                    reason = .badEventTime
                    if let archive, let raw = reader.rawBase {
                        try archive.archiveUnparsed(line: reader.line, reason: reason, raw: UnsafeBufferPointer(start: raw, count: reader.rawCount))
                    }
                    break
                }
                if let archive { try archive.archive(time: t, fields: f) }
                guard let et = ValueParsers.eventType(f[Column.eventType.rawValue]) else { reason = .badEventType; break }
                guard let pid = ValueParsers.productId(f[Column.productId.rawValue]) else { reason = .badProductId; break }
                guard let price = ValueParsers.priceCents(f[Column.price.rawValue]) else { reason = .badPrice; break }
                accepted += 1
                if t < minT { minT = t }
                if t > maxT { maxT = t }
                let brand = brandId(f[Column.brand.rawValue], pid)
                let (l1, l2, l3) = categoryLevels(code: f[Column.categoryCode.rawValue], id: f[Column.categoryId.rawValue])
                let session = f[Column.userSession.rawValue]
                var row = ParsedRow(event: StatsAggregator.Event(time: t, priceCents: price, productId: pid, brand: brand, l1: l1, l2: l2,
                                                                  l3: l3, eventType: et, sign: 1),
                                    hash: 0, sessionOffset: 0, sessionLength: -1)
                if et == ValueParsers.view && session.count > 0 {
                    row.hash = PendingViews.pairHash(session.base!, session.count, pid)
                    pending.prefetchSlot(hash: row.hash)
                    row.sessionOffset = rowText.count
                    row.sessionLength = session.count
                    rowText.append(contentsOf: UnsafeBufferPointer(start: session.base, count: session.count))
                }
                rows.append(row)
                if rows.count == Ingestor.rowsAhead { try settleRows(&r, lateCutoff: lateCutoff) }
                continue loop
            }
            if case .rejected = outcome { read += 1 }
            r.rejected[reason.rawValue] += 1
            if let rejects, let raw = reader.rawBase {
                try rejects.reject(line: reader.line, reason: reason, raw: UnsafeBufferPointer(start: raw, count: reader.rawCount))
            }
        }
        try settleRows(&r, lateCutoff: lateCutoff)
        r.rowsRead += read
        r.rowsAccepted += accepted
        if maxT > runningMax { runningMax = maxT }
        if accepted > 0 {
            r.minTime = min(r.minTime ?? minT, minT)
            r.maxTime = max(r.maxTime ?? maxT, maxT)
        }
    }

    /// An accepted row between parsing and counting (see `settleRows`).
    private struct ParsedRow {
        /// What the row adds to the stats (unless it is a view with a session).
        var event: StatsAggregator.Event
        /// The (session, product) pair's hash, for a view with a session.
        var hash: UInt64
        /// The session's text in `rowText`; length -1 for rows that are not such a view.
        var sessionOffset: Int
        var sessionLength: Int
    }

    /// Rows parsed before the first of them is deduped and counted.
    ///
    /// Why wait: a view's pending pair sits at a random place of a table and entries of tens of
    /// MB, and looking it up at once waited for memory twice (three quarters of `readRows`'s
    /// own samples). Parsed `rowsAhead` rows early, its slot and entry are asked for ahead.
    private static let rowsAhead = 32
    private var rows: [ParsedRow] = []
    /// Session text of the views in `rows` (the reader's buffer moves on).
    private var rowText: [UInt8] = []
    /// The latest time among the rows settled so far in this `readRows` (what `maxT` was when
    /// rows were settled as they were read).
    private var settledMaxT = Int64.min

    /// Dedupes and counts the rows in `rows`, in their order, as if each had been when read.
    private func settleRows(_ r: inout FileReport, lateCutoff: Int64) throws {
        let n = rows.count
        if n == 0 { return }
        let ahead = 8
        // Locals: read through `self` in the loop, each costs a retain and a release.
        let pending = self.pending, stats = self.stats
        try rows.withUnsafeBufferPointer { batch in
            try rowText.withUnsafeBufferPointer { text in
                for j in 0..<n {
                    if j + ahead < n && batch[j + ahead].sessionLength >= 0 { pending.prefetchEntry(hash: batch[j + ahead].hash) }
                    let x = batch[j].event
                    if x.time > settledMaxT { settledMaxT = x.time }
                    guard batch[j].sessionLength >= 0 else {
                        stats.add(x)
                        continue
                    }
                    let v = CountedView(time: x.time, priceCents: x.priceCents, brand: x.brand, l1: x.l1, l2: x.l2, l3: x.l3, lastSeen: x.time)
                    if let i = pending.offer(hash: batch[j].hash, session: text.baseAddress! + batch[j].sessionOffset, batch[j].sessionLength,
                                             productId: x.productId, view: v) {
                        pending.merge(at: i, view: v, replace: better(v, pending.view(at: i)))
                    }
                    if pending.isFull {
                        if settledMaxT > runningMax { runningMax = settledMaxT }
                        try resolvePending(&r, lateCutoff: lateCutoff, all: false)
                        // Long files: expire state as the data clock moves, not only at the end.
                        try pruneIfDue(watermark: runningMax)
                    }
                }
            }
        }
        rows.removeAll(keepingCapacity: true)
        rowText.removeAll(keepingCapacity: true)
    }

    /// Which of two views of one pair counts: the earliest, then the cheapest, then by text.
    @inline(__always)
    private func better(_ a: CountedView, _ b: CountedView) -> Bool {
        if a.time != b.time { return a.time < b.time }
        if a.priceCents != b.priceCents { return a.priceCents < b.priceCents }
        if a.brand != b.brand { return keys.less(a.brand, b.brand) }
        if a.l1 != b.l1 { return keys.less(a.l1, b.l1) }
        if a.l2 != b.l2 { return keys.less(a.l2, b.l2) }
        if a.l3 != b.l3 { return keys.less(a.l3, b.l3) }
        return false
    }

    @inline(__always)
    private func contribute(_ et: UInt8, _ t: Int64, _ price: Int64, _ pid: Int64, _ brand: Int32, _ l1: Int32, _ l2: Int32, _ l3: Int32, _ sign: Int8) {
        stats.add(et, t, price, pid, brand, l1, l2, l3, sign)
    }

    /// The last `YYYY-MM-DD HH:MM:SS UTC` time's first 16 bytes (to the minute) and that
    /// minute's epoch second (`Int64.min`: none yet).
    private var minutePrefix: (UInt64, UInt64) = (0, 0)
    private var minuteStart = Int64.min

    /// `ValueParsers.eventTime`, with the dataset's own layout in the same minute as the row
    /// before parsed from its seconds only (each minute has a hundred rows or more).
    @inline(__always)
    private func eventTime(_ f: Field) -> Int64? {
        guard let p = f.base, f.count == 23 else { return ValueParsers.eventTime(f) }
        let r = UnsafeRawPointer(p)
        let w0 = r.loadUnaligned(as: UInt64.self), w1 = r.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        // ":SS UTC": the suffix is " UTC" (no fraction, no offset) and the seconds are digits.
        let utc = r.loadUnaligned(fromByteOffset: 19, as: UInt32.self) == ValueParsers.utcSuffix
        let s1 = p[17] &- 0x30, s2 = p[18] &- 0x30
        if utc && p[16] == 0x3A && s1 <= 5 && s2 <= 9 {
            if minuteStart != Int64.min && w0 == minutePrefix.0 && w1 == minutePrefix.1 {
                return minuteStart + Int64(s1) * 10 + Int64(s2)
            }
            guard let t = ValueParsers.eventTime(f) else { return nil }
            minutePrefix = (w0, w1)
            minuteStart = t - (Int64(s1) * 10 + Int64(s2))
            return t
        }
        return ValueParsers.eventTime(f)
    }

    @inline(__always)
    private func brandId(_ f: Field, _ pid: Int64) -> Int32 {
        if let b = f.base, f.count > 0 {
            if let v = brandIds.get(b, f.count) { return v.0 }
            let id = keys.intern(b, f.count)
            brandIds.set(b, f.count, (id, 0, 0))
            return id
        }
        if let v = filledBrandIds.get(pid) { return v }
        // Empty brand: the product id as text.
        var v = pid
        var i = 24
        repeat { i -= 1; pidText[i] = UInt8(0x30 + v % 10); v /= 10 } while v > 0
        let start = i
        let id = pidText.withUnsafeBufferPointer { keys.intern($0.baseAddress! + start, 24 - start) }
        filledBrandIds.set(pid, id)
        return id
    }

    @inline(__always)
    private func categoryLevels(code: Field, id: Field) -> (Int32, Int32, Int32) {
        if let b = code.base, code.count > 0 {
            if let lv = codeLevels.get(b, code.count) { return lv }
        } else if let b = id.base, id.count > 0 {
            if let lv = idLevels.get(b, id.count) { return lv }
        }
        let lv = uncachedCategoryLevels(code: code, id: id)
        if let b = code.base, code.count > 0 {
            codeLevels.set(b, code.count, lv)
        } else if let b = id.base, id.count > 0 {
            idLevels.set(b, id.count, lv)
        }
        return lv
    }

    private func uncachedCategoryLevels(code: Field, id: Field) -> (Int32, Int32, Int32) {
        let local: Int32
        if code.count > 0 {
            local = categoryCache.intern(code.base, code.count)
        } else {
            // Namespaced so that a code and an id with the same text never collide in the cache.
            scratch.removeAll(keepingCapacity: true)
            scratch.append(1)
            if let b = id.base { scratch.append(contentsOf: UnsafeBufferPointer(start: b, count: id.count)) }
            local = scratch.withUnsafeBufferPointer { categoryCache.intern($0.baseAddress, $0.count) }
        }
        if Int(local) < levels.count { return levels[Int(local)] }
        let lv = code.count > 0 ? levelsOfCode(code) : levelsOfEmptyCode(id)
        levels.append(lv)
        return lv
    }

    private func levelsOfEmptyCode(_ id: Field) -> (Int32, Int32, Int32) {
        let k = id.count > 0 ? keys.intern(id.base, id.count) : keys.intern("unknown")
        return (k, k, k)
    }

    /// Splits on `.`, pads to three segments by repeating the last, keeps the first three.
    private func levelsOfCode(_ code: Field) -> (Int32, Int32, Int32) {
        var segs: [ArraySlice<UInt8>] = []
        let bytes = Array(UnsafeBufferPointer(start: code.base, count: code.count))
        var s = 0
        for i in 0...bytes.count where i == bytes.count || bytes[i] == 0x2E {
            segs.append(bytes[s..<i])
            s = i + 1
            if segs.count == 3 { break }
        }
        while segs.count < 3 { segs.append(segs[segs.count - 1]) }
        var path = [UInt8](segs[0])
        let l1 = path.withUnsafeBufferPointer { keys.intern($0.baseAddress, $0.count) }
        path.append(0x2E); path.append(contentsOf: segs[1])
        let l2 = path.withUnsafeBufferPointer { keys.intern($0.baseAddress, $0.count) }
        path.append(0x2E); path.append(contentsOf: segs[2])
        let l3 = path.withUnsafeBufferPointer { keys.intern($0.baseAddress, $0.count) }
        return (l1, l2, l3)
    }

    // MARK: dedupe and stats

    /// Resolves pending views against the store's dedupe state: all of them at the end of a
    /// file, else those last seen beyond the horizon when they are a quarter of the map or
    /// more, else the least recently seen half (hot sessions stay in memory).
    private func resolvePending(_ r: inout FileReport, lateCutoff: Int64, all: Bool) throws {
        if pending.isEmpty { return }
        // State for pairs last seen beyond the horizon would be pruned at once: not written.
        let keepFrom = runningMax == Int64.min ? Int64.min : runningMax - options.dedupeHorizon
        var count = all ? pending.entries.count : max(1, pending.entries.count / 2)
        var expiredOnly = false
        if !all {
            // Why not always half: the pairs of the half still within the horizon are written
            // to the store, merged into its pair index and pruned a day later, which cost the
            // store thread half its time on the benchmark (a third of each evicted half).
            // Evicting only expired pairs writes nothing; what stays is written once, at the
            // end of the file, if it is still within the horizon then.
            let expired = pending.count(lastSeenBefore: keepFrom)
            if expired >= pending.entries.count / 4 { count = expired; expiredOnly = true }
        }
        // A dry run's last resolution needs no state written: the transaction is rolled back.
        let save = !(all && options.dryRun)
        // Pairs go to the store in its key order (by hash) for its lookups and saves. When the
        // store held no dedupe state at the start (the filter of written pairs is there) and
        // nothing is saved (expired pairs), at most the filter's rare positives are looked up:
        // the pairs go in the map's order, skipping a sort and a gather at random places (6% of
        // a dry run's reading thread).
        //
        // A dry run's end saves nothing either, but takes the order an ingest's end does: the
        // order of a bucket's new views decides when a delta table fills, and so the rows a dry
        // run counts (it counted 2 more than the ingest wrote in test_property otherwise).
        let ordered = written == nil || !expiredOnly
        var chunk = PairChunk()
        // What a failed eviction left.
        newViews.removeAll(keepingCapacity: true)
        newViewTimes.removeAll(keepingCapacity: true)
        try pending.evict(coldest: count, ordered: ordered, { i, e, session in
            chunk.indices.append(Int32(i))
            chunk.entries.append(e)
            chunk.sessions.append(session)
            if chunk.entries.count == PairChunk.size {
                try resolve(&chunk, &r, lateCutoff: lateCutoff, keepFrom: keepFrom, save: save)
            }
        }, finish: {
            // The last chunk's session text is valid only until the map compacts its survivors.
            try resolve(&chunk, &r, lateCutoff: lateCutoff, keepFrom: keepFrom, save: save)
            countNewViews()
        })
    }

    /// Counts the eviction's new views oldest first (by bucket of the finest tier), while
    /// their entries are still in the map.
    ///
    /// Why not as they are resolved: that goes in hash order, so every bucket of the evicted
    /// stretch of time would be in every drain of the delta tables, and written to the store
    /// (updated) once per drain instead of about once.
    private func countNewViews() {
        let n = newViews.count
        if n == 0 { return }
        // A counting sort by bucket, in at most 64 K bins (a wider stretch gets wider bins); the
        // times are beside the indices, so only the last pass goes to the entries.
        var lo = Int64.max, hi = Int64.min
        for t in newViewTimes {
            if t < lo { lo = t }
            if t > hi { hi = t }
        }
        let width = max(finestWidth, (hi - lo) / 65_536 + 1)
        let bins = Int((hi - lo) / width) + 1
        var starts = [Int](repeating: 0, count: bins + 1)
        for t in newViewTimes { starts[Int((t - lo) / width) + 1] += 1 }
        for b in 0..<bins { starts[b + 1] += starts[b] }
        // Kept between evictions (fresh pages each time otherwise); taken out while in use, so
        // that writing to it copies nothing.
        var order: [Int32] = []
        swap(&order, &viewOrder)
        order.removeAll(keepingCapacity: true)
        order.append(contentsOf: repeatElement(0, count: n))
        defer { viewOrder = order }
        for j in 0..<n {
            let b = Int((newViewTimes[j] - lo) / width)
            order[starts[b]] = newViews[j]
            starts[b] += 1
        }
        do {
            let e = pending.entries
            let ahead = 8
            for j in 0..<n {
                if j + ahead < n { sello_prefetch(e.baseAddress! + Int(order[j + ahead])) }
                let x = e[Int(order[j])]
                let v = x.view
                contribute(ValueParsers.view, v.time, v.priceCents, x.productId, v.brand, v.l1, v.l2, v.l3, 1)
            }
        }
        newViews.removeAll(keepingCapacity: true)
        newViewTimes.removeAll(keepingCapacity: true)
    }

    /// Evicted pairs resolved together: one wait for the store's lookups, one queued write.
    private struct PairChunk {
        static let size = 1 << 15
        /// Where each entry is in the pending map (until the eviction's `finish` returns).
        var indices: [Int32] = []
        var entries: [PendingViews.Entry] = []
        /// Session text in the pending map's arena (valid until the eviction's `finish` returns).
        var sessions: [UnsafeBufferPointer<UInt8>] = []
        var found: [PairLookup] = []
    }

    /// New or changed dedupe state, handed to the store thread (owns its session text).
    private final class PairWrites {
        var rows: [(hash: Int64, productId: Int64, view: CountedView, lookup: PairLookup, offset: Int, length: Int)] = []
        var text: [UInt8] = []
        func add(_ hash: Int64, _ productId: Int64, _ view: CountedView, _ lookup: PairLookup, _ session: UnsafeBufferPointer<UInt8>) {
            rows.append((hash, productId, view, lookup, text.count, session.count))
            text.append(contentsOf: session)
        }
    }

    private func resolve(_ chunk: inout PairChunk, _ r: inout FileReport, lateCutoff: Int64, keepFrom: Int64, save: Bool) throws {
        let n = chunk.entries.count
        if n == 0 { return }
        // Refilled in place: a new array of 32 K lookups each chunk was fresh pages each time.
        chunk.found.removeAll(keepingCapacity: true)
        chunk.found.append(contentsOf: repeatElement(PairLookup(view: nil, location: 0), count: n))
        // A pair absent from the filter of written pairs cannot be in the store: no lookup.
        let asks = (0..<n).filter { written?.mightContain(chunk.entries[$0].hash) ?? true }
        if !asks.isEmpty {
            let q = asks.map { (hash: Int64(bitPattern: chunk.entries[$0].hash), session: chunk.sessions[$0], productId: chunk.entries[$0].productId) }
            let target = store
            // The session pointers stay valid: this thread waits, and the arena moves only later.
            let answers = try worker.await(.state) { try q.map { try target.lookupPair(hash: $0.hash, session: $0.session, productId: $0.productId) } }
            for (k, i) in asks.enumerated() { chunk.found[i] = answers[k] }
        }
        let writes = PairWrites()
        for i in 0..<n {
            let e = chunk.entries[i]
            let found = chunk.found[i]
            let h = Int64(bitPattern: e.hash)
            if var stored = found.view {
                if better(e.view, stored) {
                    let v = stored
                    contribute(ValueParsers.view, v.time, v.priceCents, e.productId, v.brand, v.l1, v.l2, v.l3, -1)
                    var nv = e.view
                    contribute(ValueParsers.view, nv.time, nv.priceCents, e.productId, nv.brand, nv.l1, nv.l2, nv.l3, 1)
                    nv.lastSeen = max(nv.lastSeen, v.lastSeen)
                    r.corrections += 1
                    r.viewsDeduped += e.views
                    if save { writes.add(h, e.productId, nv, found, chunk.sessions[i]) }
                } else {
                    r.viewsDeduped += e.views
                    // The stored last-seen time moves in steps of `lastSeenGrain`: a write per
                    // repeat view would dirty a page of the state each (pruning makes up for it).
                    if save && e.view.lastSeen >= stored.lastSeen + options.lastSeenGrain {
                        stored.lastSeen = e.view.lastSeen
                        writes.add(h, e.productId, stored, found, chunk.sessions[i])
                    }
                }
            } else {
                let nv = e.view
                if nv.time < lateCutoff { r.lateViews += 1 }
                newViews.append(chunk.indices[i])
                newViewTimes.append(nv.time)
                r.viewsDeduped += e.views - 1
                if save && nv.lastSeen >= keepFrom {
                    writes.add(h, e.productId, nv, found, chunk.sessions[i])
                    written?.insert(e.hash)
                }
            }
        }
        chunk.indices.removeAll(keepingCapacity: true)
        chunk.entries.removeAll(keepingCapacity: true)
        chunk.sessions.removeAll(keepingCapacity: true)
        if writes.rows.isEmpty { return }
        let target = store
        worker.async(.state, weight: writes.rows.count) {
            try writes.text.withUnsafeBufferPointer { text in
                for w in writes.rows {
                    try target.savePair(hash: w.hash, session: UnsafeBufferPointer(rebasing: text[w.offset..<(w.offset + w.length)]),
                                       productId: w.productId, view: w.view, lookup: w.lookup)
                }
            }
            // Every pair of this chunk is saved: the store may move state (not between them).
            try target.endPairBatch()
        }
    }

}

/// A count shared with jobs on the store thread (read after `drain`).
final class Counter {
    private var value: Int64 = 0
    func add(_ n: Int) { value += Int64(n) }
    func take() -> Int64 { defer { value = 0 }; return value }
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

