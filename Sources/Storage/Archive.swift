#if canImport(Glibc)
import Glibc
#endif
import CSQLite
import Transforms

/// The raw archive (the third tier): every ingested source's raw rows, accepted and rejected
/// alike, in gzip CSV files partitioned by event hour or day, with a SQLite manifest.
///
/// Layout under `root`:
/// - `YYYY/MM/DD/YYYY-MM-DDTHH.csv.gz` (hour) or `YYYY/MM/YYYY-MM-DD.csv.gz` (day): the
///   partition's *main* file, the first file written for it;
/// - `<main stem>.<sha16>.csv.gz`, `<main stem>.<sha16>-2.csv.gz`, ...: *segments*, rows of a
///   later source for a partition that already had a main file (`sha16` is the first 16 hex
///   digits of the source's SHA-256, so a retry of the same source picks the same name);
///   `compact` merges them into the main file;
/// - `unparsed/<sha16>.csv.gz`: per source, the records without a parsable time or without
///   fields, as `source_file,line,reason,raw`;
/// - `manifest.sqlite`: sources, files (path, partition, rows, bytes, sha256, created) and
///   rows per file and source. Only files the manifest lists are part of the archive: anything
///   else on disk (leftovers of a crash) is ignored by readers and removed by `compact`.
///
/// Partition files are canonical REES46 CSV: the header `event_time,event_type,...,user_session`,
/// one record per source record, each field's text verbatim (RFC 4180 quoting only when needed)
/// except `event_time`, written as `YYYY-MM-DD HH:MM:SS UTC` from the parsed time.
///
/// Writing a source: `beginSource`, then `add`/`addUnparsed` per record, then `commitSource`
/// (or `abortSource`). Rows go to temporary files; `commitSource` fsyncs them, renames them to
/// their final names, fsyncs the directories and records them in one manifest transaction, so a
/// source is in the archive entirely or not at all. Archiving is idempotent per source SHA-256.
/// At most `maxOpenWriters` partition files are open at once (least recently used is finished
/// first; a later row for its partition starts another segment), so memory is bounded
/// (about 300 KB per open writer) whatever the input.
///
/// One `RawArchive` per archive at a time: it holds an exclusive lock on `root/.lock` for its
/// lifetime (a second opener gets `StorageError.archive`). Opening replays any compaction that
/// a crash interrupted after its manifest commit. Dropping an instance mid-source leaves only
/// temporary files, which readers ignore and `compact` removes. Never prints or exits; errors
/// are `StorageError`. Not thread-safe.
public final class RawArchive {
    /// How rows are partitioned by event time (UTC).
    public enum Partitioning: String, Sendable, CaseIterable {
        case hour, day
        var width: Int64 { self == .hour ? 3600 : 86400 }
    }

    /// The steps where tests simulate a crash (the hook throws, and the instance is dropped).
    enum Step {
        case sourceFilesRenamed, sourceManifestCommitted
        case compactTempWritten, compactManifestCommitted, compactRenamed
    }

    public let root: String
    public let partitioning: Partitioning
    /// ISA-L deflate level, 0-3 (1 by default: fastest for a little worse ratio than zlib's 6).
    public let level: Int32
    public let maxOpenWriters: Int
    public static let manifestName = "manifest.sqlite"
    public static let partitionHeader = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n"
    public static let unparsedHeader = "source_file,line,reason,raw\n"

    let db: Database
    private var lockFD: Int32 = -1
    /// Tests: called at each `Step`; throwing there simulates a crash at that point.
    var stepHook: ((Step) throws -> Void)?

    // The source being written.
    private var inSource = false
    private var sourceName = [UInt8]()
    private var openKeys = [Int64]()
    private var openWriters = [PartitionWriter]()
    private var openUse = [UInt64]()
    private var useClock: UInt64 = 0
    private var curKey = Int64.min
    private var cur: PartitionWriter?
    private var pieces = [Piece]()
    private var unparsed: ArchiveGzipWriter?
    private var unparsedSeq = 0
    private var seq = 0
    private var scratch = [UInt8]()
    /// Sources committed since the last `settle()`: what `undoLastCommit` takes back.
    private var unsettled: [(sha256: String, paths: [String])] = []

    private var knownDirs = Set<String>()
    private var createdDirs = Set<String>()
    private let outCap = 1 << 17
    private let outBuf: UnsafeMutablePointer<UInt8>

    /// Opens (creating if needed) the archive at `root`. `partitioning` nil means the one the
    /// manifest records (hour for a new archive); a different one than recorded throws, because
    /// partition names would no longer say where a row lives.
    public init(root: String, partitioning: Partitioning? = nil, level: Int32 = 1, maxOpenWriters: Int = 32) throws {
        guard (0...3).contains(level) else { throw StorageError.archive(path: root, reason: "invalid gzip level \(level) (ISA-L 0-3)") }
        guard maxOpenWriters >= 1 else { throw StorageError.archive(path: root, reason: "maxOpenWriters must be at least 1") }
        var r = root
        while r.count > 1 && r.hasSuffix("/") { r.removeLast() }
        self.root = r
        self.level = level
        self.maxOpenWriters = maxOpenWriters
        try RawArchive.makeDirs(r)
        let lockPath = r + "/.lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StorageError.archive(path: lockPath, reason: "cannot open lock file: \(errnoText())") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let why = errno == EWOULDBLOCK ? "in use by another process (or another RawArchive)" : errnoText()
            close(fd)
            throw StorageError.archive(path: r, reason: why)
        }
        let database: Database
        let stored: Partitioning
        do {
            database = try Database(path: r + "/" + RawArchive.manifestName)
            // Rollback journal with FULL sync: every manifest commit is durable before we go on
            // (file deletions and "verified" answers depend on it).
            try database.execute("PRAGMA synchronous = FULL")
            try RawArchive.migrator.migrate(database)
            let ins = try database.prepare("INSERT OR IGNORE INTO meta(key, value) VALUES ('partitioning', ?)")
            try ins.bind([.text((partitioning ?? .hour).rawValue)])
            try ins.run()
            let get = try database.prepare("SELECT value FROM meta WHERE key = 'partitioning'")
            _ = try get.step()
            guard let s = get.text(0).flatMap(Partitioning.init(rawValue:)) else {
                throw StorageError.archive(path: r, reason: "manifest has an unknown partitioning")
            }
            if let partitioning, partitioning != s {
                throw StorageError.archive(path: r, reason: "archive is partitioned by \(s.rawValue), not \(partitioning.rawValue)")
            }
            stored = s
        } catch {
            close(fd)
            throw error
        }
        db = database
        self.partitioning = stored
        lockFD = fd
        outBuf = .allocate(capacity: 1 << 17)  // = outCap
        // Fully initialised from here: on a throw, deinit releases the lock and the buffer.
        try replayPending()
    }

    deinit {
        // No cleanup on purpose: a dropped instance behaves like a crash (temp files stay, and
        // are leftovers for `compact`).
        if lockFD >= 0 { close(lockFD) }
        outBuf.deallocate()
    }

    static var migrator: Migrator {
        var m = Migrator()
        m.register("0001_archive_manifest", """
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE sources (
                sha256 TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                rows INTEGER NOT NULL,
                unparsed_rows INTEGER NOT NULL,
                archived_at INTEGER NOT NULL
            );
            CREATE TABLE files (
                path TEXT PRIMARY KEY,
                partition TEXT NOT NULL,
                partition_start INTEGER,
                kind TEXT NOT NULL CHECK (kind IN ('main', 'segment', 'unparsed')),
                rows INTEGER NOT NULL,
                bytes INTEGER NOT NULL,
                sha256 TEXT NOT NULL,
                created INTEGER NOT NULL
            );
            CREATE INDEX files_partition ON files(partition);
            CREATE TABLE file_sources (
                path TEXT NOT NULL,
                source_sha256 TEXT NOT NULL,
                rows INTEGER NOT NULL,
                PRIMARY KEY (path, source_sha256)
            ) WITHOUT ROWID;
            CREATE INDEX file_sources_source ON file_sources(source_sha256);
            CREATE TABLE pending_ops (
                id INTEGER PRIMARY KEY,
                op TEXT NOT NULL CHECK (op IN ('rename', 'delete')),
                path TEXT NOT NULL,
                target TEXT
            );
            """)
        return m
    }

    // MARK: - writing a source

    /// True when the manifest holds the source (so archiving it again would be a no-op).
    public func isArchived(sha256: String) throws -> Bool {
        try db.scalarInt("SELECT 1 FROM sources WHERE sha256 = ?", [.text(sha256)]) != nil
    }

    /// Starts archiving one source. `name` is what `unparsed/` rows name as `source_file`.
    /// The SHA-256 comes with `commitSource`, because a streaming reader knows it only at the end.
    public func beginSource(name: String) throws {
        if inSource { throw StorageError.archive(path: root, reason: "beginSource while another source is open") }
        inSource = true
        sourceName = Array(name.utf8)
    }

    /// Archives one record with a parsed event time (Unix seconds) in the partition of that
    /// time. `fields` points at the 9 fields in `Column` order (a missing column is an empty
    /// field); their bytes are only read during the call.
    @inline(__always)
    public func add(time: Int64, fields: UnsafePointer<Field>) throws {
        let key = RawArchive.floorDiv(time, partitioning.width)
        let w: PartitionWriter
        if key == curKey, let c = cur { w = c } else { w = try switchWriter(key: key) }
        try encode(w, time, fields)
    }

    /// Archives a record without a parsable time or without fields (`raw` is its line) in the
    /// source's `unparsed/` file, with its line number and reason.
    public func addUnparsed(line: Int64, reason: RejectReason, raw: UnsafeBufferPointer<UInt8>) throws {
        guard inSource else { throw StorageError.archive(path: root, reason: "addUnparsed outside beginSource/commitSource") }
        if unparsed == nil {
            try ensureDir("unparsed")
            unparsedSeq = nextSeq()
            let w = try ArchiveGzipWriter(path: root + "/unparsed/.unparsed.\(getpid())-\(unparsedSeq).tmp", level: level,
                                          out: outBuf, outCapacity: outCap)
            unparsed = w
            try w.write(Array(RawArchive.unparsedHeader.utf8))
        }
        let w = unparsed!
        scratch.removeAll(keepingCapacity: true)
        CSVText.appendField(&scratch, sourceName)
        scratch.append(0x2C)
        appendDecimal(&scratch, line)
        scratch.append(0x2C)
        scratch.append(contentsOf: reason.code.utf8)
        scratch.append(0x2C)
        CSVText.appendField(&scratch, raw)
        scratch.append(0x0A)
        try w.write(scratch)
        w.rows += 1
    }

    /// Makes the source's rows part of the archive: finishes and fsyncs every file, renames each
    /// to its final name, fsyncs the directories, then records source, files and rows in one
    /// manifest transaction. When the manifest already holds `sha256`, the new files are
    /// discarded and `.alreadyArchived` is returned. On a throw, call `abortSource()`.
    public func commitSource(sha256: String) throws -> SourceCommit {
        guard inSource else { throw StorageError.archive(path: root, reason: "commitSource without beginSource") }
        guard sha256.utf8.count >= 16, sha256.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else {
            throw StorageError.archive(path: root, reason: "source sha256 must be lowercase hex (got \(sha256.prefix(80)))")
        }
        if try isArchived(sha256: sha256) {
            // A retry after a crash between this commit and the store's: nothing to add.
            abortSource()
            return .alreadyArchived
        }
        // Finish in creation order so that names (main, then -2, -3 segments) are deterministic.
        let order = openWriters.indices.sorted { openWriters[$0].seq < openWriters[$1].seq }
        for i in order { try finishWriter(openWriters[i]) }
        openKeys.removeAll(); openWriters.removeAll(); openUse.removeAll()
        cur = nil; curKey = .min
        if let u = unparsed {
            let sha = try finishOrDiscard(u)
            pieces.append(Piece(partition: "unparsed", start: nil, kind: .unparsed, dir: "unparsed", stem: "",
                                tempPath: u.path, seq: unparsedSeq, rows: u.rows, bytes: u.bytes, sha256: sha))
            unparsed = nil
        }
        let sha16 = String(sha256.prefix(16))
        var claimed = Set<String>()
        let taken = try db.prepare("SELECT 1 FROM files WHERE path = ?")
        func isFree(_ p: String) throws -> Bool {
            if claimed.contains(p) { return false }
            try taken.bind([.text(p)])
            defer { taken.reset() }
            return !(try taken.step())
        }
        pieces.sort { $0.seq < $1.seq }
        for i in pieces.indices {
            var p = pieces[i]
            if p.kind == .unparsed {
                var k = 1
                repeat {
                    p.finalPath = "unparsed/\(sha16)\(k == 1 ? "" : "-\(k)").csv.gz"
                    k += 1
                } while try !isFree(p.finalPath!)
            } else if try isFree(p.stem + ".csv.gz") {
                p.kind = .main
                p.finalPath = p.stem + ".csv.gz"
            } else {
                p.kind = .segment
                var k = 1
                repeat {
                    p.finalPath = "\(p.stem).\(sha16)\(k == 1 ? "" : "-\(k)").csv.gz"
                    k += 1
                } while try !isFree(p.finalPath!)
            }
            claimed.insert(p.finalPath!)
            pieces[i] = p
        }
        // Rename: final names are not in the manifest, so this never replaces an archived file
        // (at most a leftover of an earlier crash, which no reader trusts).
        for i in pieces.indices {
            let to = root + "/" + pieces[i].finalPath!
            if rename(pieces[i].tempPath, to) != 0 {
                throw StorageError.archive(path: to, reason: "rename failed: \(errnoText())")
            }
            pieces[i].renamed = true
        }
        var dirs = Set(pieces.map { root + "/" + $0.dir })
        for d in createdDirs { dirs.insert(RawArchive.parentDir(d)) }
        for d in dirs.sorted() { try fsyncDir(d) }
        createdDirs.removeAll()
        try stepHook?(.sourceFilesRenamed)

        var rows: Int64 = 0, unparsedRows: Int64 = 0, bytes: Int64 = 0
        for p in pieces {
            if p.kind == .unparsed { unparsedRows += p.rows } else { rows += p.rows }
            bytes += p.bytes
        }
        let now = Int64(time(nil))
        try db.execute("BEGIN IMMEDIATE")
        do {
            let src = try db.prepare("INSERT INTO sources(sha256, name, rows, unparsed_rows, archived_at) VALUES (?, ?, ?, ?, ?)")
            try src.bind([.text(sha256), .text(String(decoding: sourceName, as: UTF8.self)), .int(rows), .int(unparsedRows), .int(now)])
            try src.run()
            let f = try db.prepare("INSERT INTO files(path, partition, partition_start, kind, rows, bytes, sha256, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
            let fs = try db.prepare("INSERT INTO file_sources(path, source_sha256, rows) VALUES (?, ?, ?)")
            for p in pieces {
                try f.bind([.text(p.finalPath!), .text(p.partition), p.start.map { .int($0) } ?? .null, .text(p.kind.rawValue),
                            .int(p.rows), .int(p.bytes), .text(p.sha256), .int(now)])
                try f.run()
                try fs.bind([.text(p.finalPath!), .text(sha256), .int(p.rows)])
                try fs.run()
            }
            try db.execute("COMMIT")
        } catch {
            try? db.execute("ROLLBACK")
            throw error
        }
        let result = SourceCommit.archived(rows: rows, unparsedRows: unparsedRows, files: pieces.count, bytes: bytes)
        unsettled.append((sha256, pieces.map { $0.finalPath! }))
        pieces.removeAll()
        inSource = false
        try stepHook?(.sourceManifestCommitted)
        return result
    }

    /// Drops the source being written: removes its temporary files (and any already renamed
    /// but not yet in the manifest). Never throws; does nothing outside a source.
    public func abortSource() {
        for w in openWriters { w.gz.discard() }
        openKeys.removeAll(); openWriters.removeAll(); openUse.removeAll()
        cur = nil; curKey = .min
        unparsed?.discard()
        unparsed = nil
        for p in pieces {
            unlink(p.tempPath)
            if p.renamed, let f = p.finalPath { unlink(root + "/" + f) }
        }
        pieces.removeAll()
        inSource = false
    }

    /// The sources committed since then are final (the store committed them too).
    public func settle() { unsettled.removeAll() }

    /// Takes the sources committed since the last `settle()` back out of the archive (for when
    /// the store commit that follows them fails). Every file those commits wrote holds only
    /// its source's rows.
    public func undoLastCommit() throws {
        guard !unsettled.isEmpty, !inSource else { return }
        try db.execute("BEGIN IMMEDIATE")
        do {
            let dfs = try db.prepare("DELETE FROM file_sources WHERE path = ?")
            let df = try db.prepare("DELETE FROM files WHERE path = ?")
            let ds = try db.prepare("DELETE FROM sources WHERE sha256 = ?")
            for c in unsettled {
                for p in c.paths {
                    try dfs.bind([.text(p)]); try dfs.run()
                    try df.bind([.text(p)]); try df.run()
                }
                try ds.bind([.text(c.sha256)]); try ds.run()
            }
            try db.execute("COMMIT")
        } catch {
            try? db.execute("ROLLBACK")
            throw error
        }
        let gone = unsettled.flatMap(\.paths)
        unsettled.removeAll()
        // Out of the manifest now: if unlinking fails or we crash, these are mere leftovers.
        for p in gone { unlink(root + "/" + p) }
    }

    // MARK: - verification

    /// Checks that every file the manifest lists for the source exists, is intact gzip, and has
    /// the manifest's sha256 and row count. Returns the source's rows (partition rows plus
    /// unparsed rows: the caller compares it with the rows it read). Throws
    /// `archiveSourceUnknown` when the manifest does not hold the source and `archiveCorrupt`
    /// on the first mismatch. A file shared with other sources (after `compact`) is read whole.
    public func verify(sha256: String) throws -> VerifyResult {
        let s = try db.prepare("SELECT name, rows, unparsed_rows FROM sources WHERE sha256 = ?")
        try s.bind([.text(sha256)])
        guard try s.step() else { throw StorageError.archiveSourceUnknown(sha256: sha256) }
        let name = s.text(0) ?? ""
        let rows = s.int(1), unparsedRows = s.int(2)
        s.reset()
        let q = try db.prepare("""
            SELECT f.path, f.rows, f.sha256, f.bytes, fs.rows, f.kind FROM file_sources fs JOIN files f ON f.path = fs.path
            WHERE fs.source_sha256 = ? ORDER BY f.path
            """)
        try q.bind([.text(sha256)])
        var listed: [(path: String, rows: Int64, sha: String, bytes: Int64, sourceRows: Int64, unparsed: Bool)] = []
        while try q.step() {
            listed.append((q.text(0) ?? "", q.int(1), q.text(2) ?? "", q.int(3), q.int(4), q.text(5) == "unparsed"))
        }
        var gotRows: Int64 = 0, gotUnparsed: Int64 = 0, bytes: Int64 = 0
        for f in listed {
            let abs = root + "/" + f.path
            var st = stat()
            guard stat(abs, &st) == 0 else { throw StorageError.archiveCorrupt(path: abs, reason: "missing (\(errnoText()))") }
            if Int64(st.st_size) != f.bytes {
                throw StorageError.archiveCorrupt(path: abs, reason: "\(st.st_size) bytes, the manifest says \(f.bytes)")
            }
            _ = try readArchiveFile(path: abs, expectSHA256: f.sha, expectRows: f.rows, body: nil)
            if f.unparsed { gotUnparsed += f.sourceRows } else { gotRows += f.sourceRows }
            bytes += f.bytes
        }
        if gotRows != rows || gotUnparsed != unparsedRows {
            throw StorageError.archiveCorrupt(path: root + "/" + RawArchive.manifestName,
                                              reason: "source \(sha256) has \(rows)+\(unparsedRows) rows but its files list \(gotRows)+\(gotUnparsed)")
        }
        return VerifyResult(sha256: sha256, name: name, rows: rows + unparsedRows, unparsedRows: unparsedRows,
                            files: listed.count, bytes: bytes)
    }

    // MARK: - compaction

    /// Merges each partition's main file and segments into one new main file, and removes files
    /// on disk that the manifest does not list (leftovers of crashes). `partitions` nil means
    /// every partition with more than one file; otherwise the named partitions (as in
    /// `partitions()`). Each input is checked against its manifest sha256 and row count first.
    ///
    /// Crash safety, per partition: the merged file is written to a temporary name and fsynced;
    /// one manifest transaction then swaps the inputs' rows for the merged file's and records a
    /// journal (rename temp to main, delete the segments); the journal is then applied and
    /// cleared. Before that commit the old files are the archive; after it the merged file is,
    /// and the journal is replayed by the next opener if we stop half-way. Either way each row
    /// is in the archive exactly once.
    public func compact(partitions: [String]? = nil, dryRun: Bool = false) throws -> CompactReport {
        if inSource { throw StorageError.archive(path: root, reason: "compact while a source is being written") }
        unsettled.removeAll()
        var keys: [String]
        if let partitions {
            keys = []
            for p in partitions {
                guard try db.scalarInt("SELECT 1 FROM files WHERE partition = ? AND kind != 'unparsed' LIMIT 1", [.text(p)]) != nil else {
                    throw StorageError.archive(path: root, reason: "no partition \(p) in the archive")
                }
                keys.append(p)
            }
        } else {
            keys = []
            let q = try db.prepare("""
                SELECT partition FROM files WHERE kind != 'unparsed' GROUP BY partition HAVING COUNT(*) > 1
                ORDER BY MIN(partition_start), partition
                """)
            while try q.step() { keys.append(q.text(0) ?? "") }
        }
        var merged = [CompactResult]()
        for k in keys {
            if let r = try compactPartition(k, dryRun: dryRun) { merged.append(r) }
        }
        let leftovers = try removeLeftovers(dryRun: dryRun)
        return CompactReport(merged: merged, leftovers: leftovers)
    }

    private func compactPartition(_ key: String, dryRun: Bool) throws -> CompactResult? {
        let q = try db.prepare("""
            SELECT path, rows, sha256, partition_start FROM files WHERE partition = ? AND kind != 'unparsed'
            ORDER BY CASE kind WHEN 'main' THEN 0 ELSE 1 END, rowid
            """)
        try q.bind([.text(key)])
        var inputs: [(path: String, rows: Int64, sha: String)] = []
        var start: Int64?
        while try q.step() {
            inputs.append((q.text(0) ?? "", q.int(1), q.text(2) ?? ""))
            start = q.isNull(3) ? nil : q.int(3)
        }
        guard inputs.count > 1 else { return nil }
        let rows = inputs.reduce(0) { $0 + $1.rows }
        let mainPath = key + ".csv.gz"
        if dryRun {
            return CompactResult(partition: key, inputs: inputs.map(\.path), rows: rows, output: mainPath, bytes: 0, sha256: nil)
        }
        let dir = RawArchive.parentDir(mainPath)
        let tempRel = "\(dir)/.\(RawArchive.baseName(key)).compact-\(getpid())-\(nextSeq()).tmp"
        let w = try ArchiveGzipWriter(path: root + "/" + tempRel, level: level, out: outBuf, outCapacity: outCap)
        let sha: String
        do {
            try w.write(Array(RawArchive.partitionHeader.utf8))
            for f in inputs {
                // Bodies are copied as is: every input starts with the same header, dropped here.
                let n = try readArchiveFile(path: root + "/" + f.path, expectSHA256: f.sha, expectRows: f.rows) { p, n in
                    try w.write(p, n)
                }
                w.rows += n
            }
            sha = try w.finish()
            try fsyncDir(root + "/" + dir)
        } catch {
            w.discard()
            throw error
        }
        guard w.rows == rows else {
            w.discard()
            throw StorageError.archiveCorrupt(path: root + "/" + tempRel, reason: "merged \(w.rows) rows, expected \(rows)")
        }
        try stepHook?(.compactTempWritten)

        var perSource = [String: Int64]()
        let fsq = try db.prepare("SELECT source_sha256, rows FROM file_sources WHERE path = ?")
        for f in inputs {
            try fsq.bind([.text(f.path)])
            while try fsq.step() { perSource[fsq.text(0) ?? "", default: 0] += fsq.int(1) }
            fsq.reset()
        }
        try db.execute("BEGIN IMMEDIATE")
        do {
            let dfs = try db.prepare("DELETE FROM file_sources WHERE path = ?")
            let df = try db.prepare("DELETE FROM files WHERE path = ?")
            for f in inputs {
                try dfs.bind([.text(f.path)]); try dfs.run()
                try df.bind([.text(f.path)]); try df.run()
            }
            let ins = try db.prepare("INSERT INTO files(path, partition, partition_start, kind, rows, bytes, sha256, created) VALUES (?, ?, ?, 'main', ?, ?, ?, ?)")
            try ins.bind([.text(mainPath), .text(key), start.map { .int($0) } ?? .null, .int(rows), .int(w.bytes), .text(sha), .int(Int64(time(nil)))])
            try ins.run()
            let ifs = try db.prepare("INSERT INTO file_sources(path, source_sha256, rows) VALUES (?, ?, ?)")
            for (s, n) in perSource.sorted(by: { $0.key < $1.key }) {
                try ifs.bind([.text(mainPath), .text(s), .int(n)]); try ifs.run()
            }
            let op = try db.prepare("INSERT INTO pending_ops(op, path, target) VALUES (?, ?, ?)")
            try op.bind([.text("rename"), .text(tempRel), .text(mainPath)]); try op.run()
            for f in inputs where f.path != mainPath {
                try op.bind([.text("delete"), .text(f.path), .null]); try op.run()
            }
            try db.execute("COMMIT")
        } catch {
            try? db.execute("ROLLBACK")
            w.discard()
            throw error
        }
        try stepHook?(.compactManifestCommitted)
        try replayPending()
        return CompactResult(partition: key, inputs: inputs.map(\.path), rows: rows, output: mainPath, bytes: w.bytes, sha256: sha)
    }

    /// Applies the journal a compaction left (all of it, idempotently), then clears it.
    private func replayPending() throws {
        let q = try db.prepare("SELECT op, path, target FROM pending_ops ORDER BY id")
        var ops: [(op: String, path: String, target: String?)] = []
        while try q.step() { ops.append((q.text(0) ?? "", q.text(1) ?? "", q.text(2))) }
        if ops.isEmpty { return }
        var dirs = Set<String>()
        let listed = try db.prepare("SELECT 1 FROM files WHERE path = ?")
        for o in ops {
            let from = root + "/" + o.path
            if o.op == "rename", let t = o.target {
                let to = root + "/" + t
                // A missing temp file means the rename already happened before a crash.
                if access(from, F_OK) == 0 {
                    if rename(from, to) != 0 { throw StorageError.archive(path: to, reason: "rename failed: \(errnoText())") }
                    try fsyncDir(RawArchive.parentDir(to))
                }
                try stepHook?(.compactRenamed)
            } else if o.op == "delete" {
                // Never delete a file the manifest lists (defensive: the journal names only
                // files that transaction removed from it).
                try listed.bind([.text(o.path)])
                let stillListed = try listed.step()
                listed.reset()
                if !stillListed && unlink(from) == 0 { dirs.insert(RawArchive.parentDir(from)) }
            }
        }
        for d in dirs.sorted() { try fsyncDir(d) }
        try db.execute("DELETE FROM pending_ops")
    }

    /// Removes (or in a dry run lists) archive-like files under the root that the manifest does
    /// not list: temporary files and renamed files of interrupted commits and compactions.
    private func removeLeftovers(dryRun: Bool) throws -> [String] {
        var listed = Set<String>()
        let q = try db.prepare("SELECT path FROM files")
        while try q.step() { listed.insert(q.text(0) ?? "") }
        var found = [String]()
        walk("", &found)
        var removed = [String]()
        var dirs = Set<String>()
        for rel in found.sorted() where !listed.contains(rel) {
            let name = RawArchive.baseName(rel)
            guard name.hasSuffix(".csv.gz") || (name.hasPrefix(".") && name.hasSuffix(".tmp")) else { continue }
            if !dryRun {
                if unlink(root + "/" + rel) != 0 && errno != ENOENT {
                    throw StorageError.archive(path: root + "/" + rel, reason: "cannot remove leftover: \(errnoText())")
                }
                dirs.insert(RawArchive.parentDir(root + "/" + rel))
            }
            removed.append(rel)
        }
        for d in dirs.sorted() { try fsyncDir(d) }
        return removed
    }

    private func walk(_ rel: String, _ out: inout [String]) {
        guard let d = opendir(rel.isEmpty ? root : root + "/" + rel) else { return }
        defer { closedir(d) }
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name == "." || name == ".." { continue }
            let child = rel.isEmpty ? name : rel + "/" + name
            var st = stat()
            guard lstat(root + "/" + child, &st) == 0 else { continue }
            if (st.st_mode & S_IFMT) == S_IFDIR {
                walk(child, &out)
            } else if (st.st_mode & S_IFMT) == S_IFREG {
                out.append(child)
            }
        }
    }

    // MARK: - listing

    /// Every file in the archive, in the order a rebuild reads them: partitions by start time
    /// (unparsed files last), within a partition the main file first, then segments in the
    /// order they were archived (the order `compact` concatenates them in).
    public func files() throws -> [ArchiveFile] {
        let q = try db.prepare("""
            SELECT path, partition, partition_start, kind, rows, bytes, sha256, created FROM files
            ORDER BY partition_start IS NULL, partition_start, partition, CASE kind WHEN 'main' THEN 0 ELSE 1 END, rowid
            """)
        var out = [ArchiveFile]()
        while try q.step() {
            let path = q.text(0) ?? ""
            out.append(ArchiveFile(path: path, fullPath: root + "/" + path, partition: q.text(1) ?? "",
                                   partitionStart: q.isNull(2) ? nil : q.int(2),
                                   kind: ArchiveFile.Kind(rawValue: q.text(3) ?? "") ?? .segment,
                                   rows: q.int(4), bytes: q.int(5), sha256: q.text(6) ?? "", created: q.int(7)))
        }
        return out
    }

    /// One entry per partition (all unparsed files together as `unparsed`), by start time.
    public func partitions() throws -> [ArchivePartition] {
        let q = try db.prepare("""
            SELECT partition, partition_start, COUNT(*), SUM(rows), SUM(bytes) FROM files
            GROUP BY partition ORDER BY partition_start IS NULL, partition_start, partition
            """)
        var out = [ArchivePartition]()
        while try q.step() {
            out.append(ArchivePartition(key: q.text(0) ?? "", start: q.isNull(1) ? nil : q.int(1),
                                        files: Int(q.int(2)), rows: q.int(3), bytes: q.int(4)))
        }
        return out
    }

    /// What the manifest records about a source, if it holds it.
    public func source(sha256: String) throws -> ArchiveSource? {
        let q = try db.prepare("SELECT name, rows, unparsed_rows, archived_at FROM sources WHERE sha256 = ?")
        try q.bind([.text(sha256)])
        guard try q.step() else { return nil }
        return ArchiveSource(sha256: sha256, name: q.text(0) ?? "", rows: q.int(1), unparsedRows: q.int(2), archivedAt: q.int(3))
    }

    /// Every source the manifest holds, by SHA-256 (to reconcile with the store's ledger).
    public func sources() throws -> [ArchiveSource] {
        let q = try db.prepare("SELECT sha256, name, rows, unparsed_rows, archived_at FROM sources ORDER BY sha256")
        var out = [ArchiveSource]()
        while try q.step() {
            out.append(ArchiveSource(sha256: q.text(0) ?? "", name: q.text(1) ?? "", rows: q.int(2), unparsedRows: q.int(3), archivedAt: q.int(4)))
        }
        return out
    }

    // MARK: - hot path internals

    /// The writer for partition `key`: an open one, or a new one (finishing the least recently
    /// used when `maxOpenWriters` are open).
    private func switchWriter(key: Int64) throws -> PartitionWriter {
        guard inSource else { throw StorageError.archive(path: root, reason: "add outside beginSource/commitSource") }
        useClock += 1
        for i in openKeys.indices where openKeys[i] == key {
            openUse[i] = useClock
            cur = openWriters[i]; curKey = key
            return openWriters[i]
        }
        if openKeys.count >= maxOpenWriters {
            var lru = 0
            for i in openUse.indices where openUse[i] < openUse[lru] { lru = i }
            let victim = openWriters[lru]
            openKeys.remove(at: lru); openWriters.remove(at: lru); openUse.remove(at: lru)
            try finishWriter(victim)
        }
        let start = key * partitioning.width
        let day = RawArchive.floorDiv(start, 86400)
        let (y, m, d) = RawArchive.civil(day)
        guard y >= 0 && y <= 9999 else {
            throw StorageError.archive(path: root, reason: "event time \(start) is outside years 0000-9999")
        }
        let ys = RawArchive.pad(y, 4), ms = RawArchive.pad(m, 2), ds = RawArchive.pad(d, 2)
        let dir: String, stem: String
        switch partitioning {
        case .hour:
            dir = "\(ys)/\(ms)/\(ds)"
            stem = "\(dir)/\(ys)-\(ms)-\(ds)T\(RawArchive.pad((start - day * 86400) / 3600, 2))"
        case .day:
            dir = "\(ys)/\(ms)"
            stem = "\(dir)/\(ys)-\(ms)-\(ds)"
        }
        try ensureDir(dir)
        let s = nextSeq()
        let gz = try ArchiveGzipWriter(path: "\(root)/\(dir)/.\(RawArchive.baseName(stem)).\(getpid())-\(s).tmp",
                                       level: level, out: outBuf, outCapacity: outCap)
        let w = PartitionWriter(gz: gz, key: key, start: start, dayStart: day * 86400, date: Array("\(ys)-\(ms)-\(ds)".utf8),
                                dir: dir, stem: stem, seq: s)
        do { try gz.write(Array(RawArchive.partitionHeader.utf8)) } catch { gz.discard(); throw error }
        openKeys.append(key); openWriters.append(w); openUse.append(useClock)
        cur = w; curKey = key
        return w
    }

    private func finishWriter(_ w: PartitionWriter) throws {
        if cur === w { cur = nil; curKey = .min }
        let sha = try finishOrDiscard(w.gz)
        pieces.append(Piece(partition: w.stem, start: w.start, kind: .main, dir: w.dir, stem: w.stem,
                            tempPath: w.gz.path, seq: w.seq, rows: w.gz.rows, bytes: w.gz.bytes, sha256: sha))
    }

    private func finishOrDiscard(_ gz: ArchiveGzipWriter) throws -> String {
        do { return try gz.finish() } catch { gz.discard(); throw error }
    }

    /// Writes one record: canonical time, then the 8 other fields, quoted only when needed.
    @inline(__always)
    private func encode(_ w: PartitionWriter, _ time: Int64, _ fields: UnsafePointer<Field>) throws {
        let g = w.gz
        var worst = 23 + 2
        for i in 1..<9 { worst += fields[i].count &* 2 &+ 3 }
        if worst > ArchiveGzipWriter.capacity {
            try encodeLarge(w, time, fields)
            return
        }
        let start = try g.reserve(worst)
        var p = start
        w.date.withUnsafeBufferPointer { _ = memcpy(p, $0.baseAddress!, 10) }
        let s = Int(time - w.dayStart)
        let h = s / 3600, mi = (s / 60) % 60, se = s % 60
        p[10] = 0x20
        p[11] = UInt8(0x30 + h / 10); p[12] = UInt8(0x30 + h % 10); p[13] = 0x3A
        p[14] = UInt8(0x30 + mi / 10); p[15] = UInt8(0x30 + mi % 10); p[16] = 0x3A
        p[17] = UInt8(0x30 + se / 10); p[18] = UInt8(0x30 + se % 10)
        p[19] = 0x20; p[20] = 0x55; p[21] = 0x54; p[22] = 0x43
        p += 23
        for i in 1..<9 {
            p[0] = 0x2C
            p += 1
            let f = fields[i]
            if let b = f.base, f.count > 0 { p = RawArchive.appendField(p, b, f.count) }
        }
        p[0] = 0x0A
        p += 1
        g.used += p - start
        g.rows += 1
    }

    /// A record too large for the buffer in one piece (fields of tens of KB): built aside.
    private func encodeLarge(_ w: PartitionWriter, _ time: Int64, _ fields: UnsafePointer<Field>) throws {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: RawArchive.canonicalTime(time).utf8)
        for i in 1..<9 {
            scratch.append(0x2C)
            let f = fields[i]
            if let b = f.base, f.count > 0 { CSVText.appendField(&scratch, UnsafeBufferPointer(start: b, count: f.count)) }
        }
        scratch.append(0x0A)
        try w.gz.write(scratch)
        w.gz.rows += 1
    }

    @inline(__always)
    static func appendField(_ dst: UnsafeMutablePointer<UInt8>, _ src: UnsafePointer<UInt8>, _ n: Int) -> UnsafeMutablePointer<UInt8> {
        var needs = false
        for i in 0..<n {
            let b = src[i]
            if b <= 0x2C && (b == 0x2C || b == 0x22 || b == 0x0A || b == 0x0D) { needs = true; break }
        }
        if !needs {
            memcpy(dst, src, n)
            return dst + n
        }
        var d = dst
        d[0] = 0x22; d += 1
        for i in 0..<n {
            let b = src[i]
            if b == 0x22 { d[0] = 0x22; d += 1 }
            d[0] = b; d += 1
        }
        d[0] = 0x22
        return d + 1
    }

    // MARK: - files and directories

    private func nextSeq() -> Int { seq += 1; return seq }

    /// mkdir -p of a directory relative to the root, remembering what it created (their parents
    /// are fsynced at commit so the new entries survive a crash).
    private func ensureDir(_ rel: String) throws {
        if knownDirs.contains(rel) { return }
        var path = root
        for comp in rel.split(separator: "/") {
            path += "/" + comp
            if knownDirs.contains(path) { continue }
            if mkdir(path, 0o755) == 0 {
                createdDirs.insert(path)
            } else if errno != EEXIST {
                throw StorageError.archive(path: path, reason: "cannot create directory: \(errnoText())")
            }
            knownDirs.insert(path)
        }
        knownDirs.insert(rel)
    }

    private static func makeDirs(_ path: String) throws {
        var p = path.hasPrefix("/") ? "" : "."
        for comp in path.split(separator: "/") {
            p += "/" + comp
            if mkdir(p, 0o755) != 0 && errno != EEXIST {
                throw StorageError.archive(path: p, reason: "cannot create directory: \(errnoText())")
            }
        }
    }

    private func fsyncDir(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError.archive(path: path, reason: "cannot open directory: \(errnoText())") }
        defer { close(fd) }
        if fsync(fd) != 0 && errno != EINVAL {
            throw StorageError.archive(path: path, reason: "fsync of directory failed: \(errnoText())")
        }
    }

    static func parentDir(_ p: String) -> String {
        guard let i = p.lastIndex(of: "/") else { return "." }
        return String(p[..<i])
    }

    static func baseName(_ p: String) -> String {
        guard let i = p.lastIndex(of: "/") else { return p }
        return String(p[p.index(after: i)...])
    }

    // MARK: - time text

    /// `YYYY-MM-DD HH:MM:SS UTC` for Unix seconds (the archive's canonical `event_time`).
    public static func canonicalTime(_ t: Int64) -> String {
        let day = floorDiv(t, 86400)
        let (y, m, d) = civil(day)
        let s = t - day * 86400
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2)) \(pad(s / 3600, 2)):\(pad(s / 60 % 60, 2)):\(pad(s % 60, 2)) UTC"
    }

    @inline(__always)
    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        a >= 0 ? a / b : -((-a - 1) / b) - 1
    }

    /// (year, month, day) of a day number since 1970-01-01 (the parser's calendar, so written and
    /// read times agree).
    static func civil(_ days: Int64) -> (Int64, Int64, Int64) {
        let c = ValueParsers.civilFromDays(Int(days))
        return (Int64(c.year), Int64(c.month), Int64(c.day))
    }

    static func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}

private func appendDecimal(_ out: inout [UInt8], _ v: Int64) {
    out.append(contentsOf: String(v).utf8)
}

/// An open partition file of the source being written.
final class PartitionWriter {
    let gz: ArchiveGzipWriter
    let key: Int64
    let start: Int64
    let dayStart: Int64
    /// `YYYY-MM-DD` of the partition (every row's date, since partitions never span days).
    let date: [UInt8]
    let dir: String
    let stem: String
    let seq: Int

    init(gz: ArchiveGzipWriter, key: Int64, start: Int64, dayStart: Int64, date: [UInt8], dir: String, stem: String, seq: Int) {
        self.gz = gz; self.key = key; self.start = start; self.dayStart = dayStart
        self.date = date; self.dir = dir; self.stem = stem; self.seq = seq
    }
}

/// A finished file of the source being written, before and after its rename.
struct Piece {
    var partition: String
    var start: Int64?
    var kind: ArchiveFile.Kind
    var dir: String
    var stem: String
    var tempPath: String
    var seq: Int
    var rows: Int64
    var bytes: Int64
    var sha256: String
    var finalPath: String?
    var renamed = false

    init(partition: String, start: Int64?, kind: ArchiveFile.Kind, dir: String, stem: String, tempPath: String,
         seq: Int, rows: Int64, bytes: Int64, sha256: String) {
        self.partition = partition; self.start = start; self.kind = kind; self.dir = dir; self.stem = stem
        self.tempPath = tempPath; self.seq = seq; self.rows = rows; self.bytes = bytes; self.sha256 = sha256
    }
}

/// What `commitSource` did.
public enum SourceCommit: Equatable, Sendable {
    /// The source's rows are now in the archive: `rows` in partitions, `unparsedRows` in
    /// `unparsed/`, across `files` new files of `bytes` bytes.
    case archived(rows: Int64, unparsedRows: Int64, files: Int, bytes: Int64)
    /// The manifest already held this source; nothing was written.
    case alreadyArchived
}

/// One file of the archive as the manifest records it.
public struct ArchiveFile: Equatable, Sendable {
    public enum Kind: String, Sendable {
        case main, segment, unparsed
    }
    /// Relative to the archive root, e.g. `2019/10/01/2019-10-01T13.csv.gz`.
    public var path: String
    public var fullPath: String
    /// The partition (the main file's path without `.csv.gz`), or `unparsed`.
    public var partition: String
    /// Unix seconds at which the partition starts; nil for unparsed files.
    public var partitionStart: Int64?
    public var kind: Kind
    public var rows: Int64
    public var bytes: Int64
    public var sha256: String
    public var created: Int64
}

/// A partition and its files' totals (`files > 1` means `compact` would merge it).
public struct ArchivePartition: Equatable, Sendable {
    public var key: String
    public var start: Int64?
    public var files: Int
    public var rows: Int64
    public var bytes: Int64
}

/// A source as the manifest records it.
public struct ArchiveSource: Equatable, Sendable {
    public var sha256: String
    public var name: String
    public var rows: Int64
    public var unparsedRows: Int64
    public var archivedAt: Int64
}

/// The outcome of `verify`: every file holding the source's rows checked out.
public struct VerifyResult: Equatable, Sendable {
    public var sha256: String
    public var name: String
    /// All the source's archived records (partition rows plus unparsed rows): compare with the
    /// rows read from the source before deleting it.
    public var rows: Int64
    public var unparsedRows: Int64
    public var files: Int
    public var bytes: Int64
}

/// One partition merged (or, in a dry run, to merge) by `compact`.
public struct CompactResult: Equatable, Sendable {
    public var partition: String
    /// The merged files, relative to the root, in the order their rows were copied.
    public var inputs: [String]
    public var rows: Int64
    public var output: String
    /// Size of the merged file (0 in a dry run).
    public var bytes: Int64
    /// SHA-256 of the merged file (nil in a dry run).
    public var sha256: String?
}

/// What `compact` did: partitions merged, and leftover files removed (or to remove, in a dry run).
public struct CompactReport: Equatable, Sendable {
    public var merged: [CompactResult]
    public var leftovers: [String]
}
