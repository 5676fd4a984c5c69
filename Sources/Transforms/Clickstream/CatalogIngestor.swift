#if canImport(Glibc)
import Glibc
#endif

/// How a bare-number `ts` is read.
public enum TimestampUnit: String, CaseIterable, Sendable {
    /// Milliseconds when the number is above 10^11 (1973-03-03 in seconds), else seconds.
    case auto
    case s
    case ms
}

/// Settings of one `catalog ingest` run.
public struct CatalogOptions: Sendable {
    /// JSON path (dotted object keys from the record root) per canonical field; a field not
    /// listed is read from the key of its own name. `body = ""` takes the whole record as body.
    public var mapping: [CanonicalField: String] = [:]
    /// Derived sessions: a user's next event starts a new session when it comes more than this
    /// many seconds after the previous one.
    public var sessionGap: Int64 = 1800
    public var tsUnit: TimestampUnit = .auto
    public var maxRejectRate: Double = 0.05
    public var minRowsForRejectRate: Int64 = 100
    /// Everything but the store write: the transaction is rolled back.
    public var dryRun = false
    /// Memory bound: when a file's in-memory aggregates (hourly rows, hour/group/session triples,
    /// key path rows) reach this many entries, they are written to the store inside the file's
    /// transaction and memory is reused, so memory does not grow with the file. The result is
    /// the same for any bound (every write is a keyed min/max/sum upsert or a set insert); only
    /// the report's row counts (upserts made) grow with the number of flushes. Flushes are also
    /// what the store thread writes while the rest is read, so a smaller bound leaves less to
    /// write after the last line. Not a CLI option: tests set it small.
    public var flushEntries = 131_072
    public init() {}

    public func path(_ f: CanonicalField) -> String { mapping[f] ?? f.name }
}

/// What happened to one clickstream input.
public struct CatalogFileReport: Sendable {
    public var path: String
    public var status: FileReport.Status = .failed
    public var sha256 = ""
    public var bytes: Int64 = 0
    public var rowsRead: Int64 = 0
    public var rowsAccepted: Int64 = 0
    public var rejected = [Int64](repeating: 0, count: CatalogReject.allCases.count)
    public var minTime: Int64?
    public var maxTime: Int64?
    /// Upserts made (a row written by two flushes of one file counts twice).
    public var catalogRows = 0
    public var screenRows = 0
    public var hourRows = 0
    public var keyRows = 0
    /// Times the file's aggregates reached `CatalogOptions.flushEntries` and were written early.
    public var flushes = 0
    /// (hour, group, session) triples new to the store.
    public var sessionsNew = 0
    /// Derived sessions started (events without a session id but with a user id).
    public var derivedSessions: Int64 = 0
    /// Events without a session id older than their user's last event in the store: counted in
    /// the user's current session (files of one user should arrive in time order).
    public var outOfOrderUserEvents: Int64 = 0
    public var duplicateOf: String?
    public var error: String?
    public var seconds: Double = 0
    public var rowsRejected: Int64 { rejected.reduce(0, +) }
    public init(path: String) { self.path = path }
}

/// The clickstream catalog pipeline: read JSON Lines, reject bad lines with reasons, aggregate a
/// file in memory, and apply it to a `CatalogStore` in one transaction with its ledger row. When
/// the aggregates reach `CatalogOptions.flushEntries`, they are written early inside that same
/// transaction, so memory stays bounded (except for groups, users and the events without a
/// session id, whose derived sessions need the whole file) and the file is still all or nothing.
/// The writes run on a second thread (`StoreWorker`) while the next part of the file is read;
/// decompression runs ahead on a third (`LineReader`), and the JSON walk of each batch of
/// lines is shared with a fourth (`WalkHelper`). Lines are still counted in file order.
///
/// Contract: `ingest(path:)` never throws for a bad file (its report says failed and why, and
/// nothing of it is stored); it throws only when the store itself fails. Content already in the
/// `catalog_files` ledger (by SHA-256) is skipped.
public final class CatalogIngestor {
    public let options: CatalogOptions
    private let store: CatalogStore
    private let rejects: RejectLog?
    private let walker: JSONWalker
    /// Walks each batch of lines together with this thread (with a walker of its own).
    private let helper: WalkHelper
    /// Lines per batch at most (a batch is also what one read of the input brings).
    static let batchLines = 4096
    /// Index into `walker.found` per canonical field (nil: body, which is not a target).
    private let targetIndex: [Int]
    /// The current file's transaction is open (begun early by a flush, or before the final apply).
    private var inTransaction = false
    /// Aggregates are written on this second thread while reading goes on (each apply is one
    /// job of the stats lane; derived-session state uses the state lane, tables no apply
    /// touches). Everything else waits for it: the transaction is begun when nothing is queued,
    /// and decided (ledger, commit, rollback) after `drain`.
    private let worker: StoreWorker
    /// Sessions new to the store, added by the worker's jobs; taken after `drain`.
    private let sessionsNew = Counter()

    public init(store: CatalogStore, options: CatalogOptions, rejects: RejectLog?) throws {
        guard options.sessionGap >= 0 else { throw TransformsError.invalidArgument("session gap must not be negative") }
        guard options.flushEntries >= 1 else { throw TransformsError.invalidArgument("flush bound must be at least 1") }
        self.store = store
        self.options = options
        self.rejects = rejects
        let scalar = CanonicalField.allCases.filter { $0 != .body }
        for f in scalar where options.path(f).isEmpty {
            throw TransformsError.invalidArgument("mapping for \(f.name) is empty (only body may be \"\", the whole record)")
        }
        walker = JSONWalker(targets: scalar.map { options.path($0) }, bodyPath: options.path(.body))
        helper = WalkHelper(walker: JSONWalker(targets: scalar.map { options.path($0) }, bodyPath: options.path(.body)))
        targetIndex = scalar.map(\.rawValue)
        // One apply being written while the next is summed; a third waits (memory stays bounded).
        worker = StoreWorker(maxStatsWeight: 2 * options.flushEntries)
    }

    // MARK: one file

    public func ingest(path: String) throws -> CatalogFileReport {
        let started = monotonicSeconds()
        do {
            var mtime: Int64 = 0
            if path != "-" {
                var st = stat()
                if stat(path, &st) == 0 {
                    mtime = Int64(st.st_mtim.tv_sec)
                    let target = store, size = Int64(st.st_size)
                    if let prior = try worker.sync({ try target.catalogLedgerEntry(path: path, size: size, mtime: mtime) }) {
                        let source = try ByteSource(path: path)
                        try source.drainRaw()
                        let sha = source.sha256Hex()
                        if sha == prior.sha256 {
                            var r = CatalogFileReport(path: path)
                            r.status = .skipped; r.sha256 = sha; r.bytes = source.bytesRead; r.duplicateOf = prior.path
                            r.seconds = monotonicSeconds() - started
                            return r
                        }
                    }
                }
            }
            return try ingestFresh(path: path, source: try ByteSource(path: path), mtime: mtime, started: started)
        } catch let e as TransformsError {
            var r = CatalogFileReport(path: path)
            r.error = e.description
            r.seconds = monotonicSeconds() - started
            return r
        }
    }

    private func ingestFresh(path: String, source: ByteSource, mtime: Int64, started: Double) throws -> CatalogFileReport {
        var r = CatalogFileReport(path: path)
        var rejectsOpen = false
        inTransaction = false
        /// Undoes everything of this file: queued writes (their errors too), the transaction, rejects.
        func discardFile() {
            worker.drainDiscardingError(); _ = sessionsNew.take()
            if inTransaction { store.rollback(); inTransaction = false }
            if rejectsOpen { rejects?.abortFile(); rejectsOpen = false }
        }
        do {
            let agg = FileAggregate()
            let reader = LineReader(source: source)
            try rejects?.beginFile(path)
            rejectsOpen = rejects != nil
            try read(reader, agg, &r)
            try source.drainRaw()
            r.sha256 = source.sha256Hex()
            r.bytes = source.bytesRead
            if r.rowsRead == 0 {
                discardFile()
                r.status = .empty
                r.seconds = monotonicSeconds() - started
                return r
            }
            // (A flush may have begun the transaction already: a failure below rolls it back.)
            if r.rowsRead >= options.minRowsForRejectRate && Double(r.rowsRejected) > options.maxRejectRate * Double(r.rowsRead) {
                throw TransformsError.tooManyRejects(file: path, rejected: r.rowsRejected, read: r.rowsRead, maxRate: options.maxRejectRate)
            }
            let target = store
            if !inTransaction {
                // Nothing of this file was queued: the worker is idle.
                try worker.sync { try target.begin() }
                inTransaction = true
            }
            let sha = r.sha256
            if let prior = try worker.await(.state, { try target.catalogLedgerEntry(sha256: sha) }) {
                discardFile()
                var s = CatalogFileReport(path: path)
                s.status = .skipped; s.sha256 = r.sha256; s.bytes = r.bytes; s.duplicateOf = prior.path
                s.seconds = monotonicSeconds() - started
                return s
            }
            try deriveSessions(agg, &r)
            try apply(agg, &r)
            // Every write of this file is done (or has failed) before anything is decided.
            try worker.drain()
            r.sessionsNew += Int(sessionsNew.take())
            if options.dryRun {
                discardFile()
                r.status = .ingested
                r.seconds = monotonicSeconds() - started
                return r
            }
            try store.recordCatalogFile(CatalogLedgerEntry(
                sha256: r.sha256, path: path, size: r.bytes, mtime: mtime, rowsRead: r.rowsRead, rowsAccepted: r.rowsAccepted,
                rejected: r.rejected, minTime: r.minTime, maxTime: r.maxTime, ingestedAt: Int64(time(nil))))
            if rejectsOpen { try rejects?.commitFile(); rejectsOpen = false }
            do {
                try store.commit()
            } catch {
                rejects?.undoCommit()
                throw error
            }
            inTransaction = false
            r.status = .ingested
        } catch let e as TransformsError {
            discardFile()
            r.status = .failed
            r.error = e.description
        } catch {
            discardFile()
            throw error
        }
        r.seconds = monotonicSeconds() - started
        return r
    }

    // MARK: reading

    private func reject(_ reason: CatalogReject, _ line: LineReader.Line, _ r: inout CatalogFileReport) throws {
        r.rejected[reason.rawValue] += 1
        try rejects?.reject(line: line.number, code: reason.code, raw: UnsafeBufferPointer(start: line.base, count: line.count))
    }

    private func read(_ reader: LineReader, _ agg: FileAggregate, _ r: inout CatalogFileReport) throws {
        let w = walker, hw = helper.walker
        let f = targetIndex
        var minT = Int64.max, maxT = Int64.min
        // Field ids of the current event, by CanonicalField.rawValue (body unused).
        var ids = [Int32](repeating: 0, count: CanonicalField.allCases.count)
        let defaults = CanonicalField.allCases.map { agg.values.intern($0.defaultValue) }
        // The last few values (up to `lastWidth` bytes) and ids per field: consecutive lines
        // mostly repeat tenant, app, platform, version, user and session and cycle through a few
        // events and screens, and comparing bytes costs less than hashing them. A flush starts a
        // new session interner: the session entries are dropped.
        let lastWidth = 64, lastSlots = 4
        let fieldCount = CanonicalField.allCases.count
        let lastBytes = UnsafeMutablePointer<UInt8>.allocate(capacity: lastWidth * lastSlots * fieldCount)
        defer { lastBytes.deallocate() }
        var lastCount = [Int](repeating: -1, count: lastSlots * fieldCount)
        var lastId = [Int32](repeating: 0, count: lastSlots * fieldCount)
        var lastNext = [Int](repeating: 0, count: fieldCount)
        /// One line, walked by `ww` (its `kept[k]`).
        func count(_ line: LineReader.Line, _ ww: JSONWalker, _ k: Int, _ agg: FileAggregate, _ r: inout CatalogFileReport) throws {
            let p = line.base, n = line.count
            if line.tooLong {
                r.rowsRead += 1
                try reject(.lineTooLong, line, &r)
                return
            }
            // Blank lines are not rows.
            var b = 0
            while b < n && (p[b] == 0x20 || p[b] == 0x09) { b += 1 }
            if b == n { return }
            r.rowsRead += 1
            let kept = ww.kept[k]
            guard kept.ok else { try reject(.badJSON, line, &r); return }
            let found = kept.found
            // event
            var bad: CatalogReject?
            for (slot, fi) in f.enumerated() {
                let field = CanonicalField(rawValue: fi)!
                guard let v = ww.keptFound[found + slot] else {
                    if field == .event { bad = .noEvent; break }
                    if field == .ts { bad = .noTime; break }
                    ids[fi] = defaults[fi]
                    continue
                }
                switch v.kind {
                case .object, .array:
                    bad = field == .event ? .noEvent : field == .ts ? .badTime : .badField
                case .null:
                    if field == .event { bad = .noEvent } else if field == .ts { bad = .noTime } else { ids[fi] = defaults[fi] }
                default:
                    if field == .ts { continue }
                    if v.count == 0 {
                        if field == .event { bad = .noEvent } else { ids[fi] = defaults[fi] }
                    } else {
                        var hit = -1
                        for c in fi * lastSlots..<(fi + 1) * lastSlots
                        where lastCount[c] == v.count && memcmp(lastBytes + c * lastWidth, v.base!, v.count) == 0 {
                            hit = c
                            break
                        }
                        if hit >= 0 {
                            ids[fi] = lastId[hit]
                        } else {
                            let id = field == .sessionId ? agg.sessionText.intern(v.base, v.count)
                                : field == .userId ? agg.userText.intern(v.base, v.count) : agg.values.intern(v.base, v.count)
                            ids[fi] = id
                            if v.count <= lastWidth {
                                let c = fi * lastSlots + lastNext[fi]
                                lastNext[fi] = (lastNext[fi] + 1) % lastSlots
                                (lastBytes + c * lastWidth).update(from: v.base!, count: v.count)
                                lastCount[c] = v.count
                                lastId[c] = id
                            }
                        }
                    }
                }
                if bad != nil { break }
            }
            if let bad { try reject(bad, line, &r); return }
            let tv = ww.keptFound[found + CanonicalField.ts.rawValue]!
            guard let t = CatalogIngestor.parseTime(tv, unit: options.tsUnit) else { try reject(.badTime, line, &r); return }
            if let bk = kept.bodyKind, bk != .object && bk != .null { try reject(.badBody, line, &r); return }
            r.rowsAccepted += 1
            if t < minT { minT = t }
            if t > maxT { maxT = t }
            agg.add(ids: ids, time: t, hasSession: ww.keptFound[found + CanonicalField.sessionId.rawValue].map { $0.count > 0 && $0.kind != .null && $0.kind != .object && $0.kind != .array } ?? false,
                    hasUser: ww.keptFound[found + CanonicalField.userId.rawValue].map { $0.count > 0 && $0.kind != .null && $0.kind != .object && $0.kind != .array } ?? false,
                    walker: ww, kept: kept)
            if agg.flushableEntries >= options.flushEntries {
                try flush(agg, &r)
                let sessions = CanonicalField.sessionId.rawValue * lastSlots
                for c in sessions..<sessions + lastSlots { lastCount[c] = -1 }
            }
        }

        var batch: [LineReader.Line] = []
        while true {
            try reader.nextBatch(max: CatalogIngestor.batchLines, into: &batch)
            if batch.isEmpty { break }
            // The JSON walk on two threads, results kept per line; then the lines are counted
            // in order.
            var bytes = 0
            for l in batch { bytes += l.count }
            batch.withUnsafeBufferPointer { helper.walk($0, bytes: bytes, own: w) }
            let owner = helper.owner, slot = helper.slot
            for (k, line) in batch.enumerated() {
                try count(line, owner[k] == 0 ? w : hw, Int(slot[k]), agg, &r)
            }
        }
        if r.rowsAccepted > 0 { r.minTime = minT; r.maxTime = maxT }
    }

    /// Unix seconds (floor) of a `ts` value: ISO 8601 text, or a number (also as text) in the
    /// configured unit. Nil when it cannot be read or lies outside 1970-01-01T00:00:00Z ..
    /// 9999-12-31T23:59:59Z (a zone offset can take a time in 1970 or 9999 past either end).
    public static func parseTime(_ v: JSONWalker.Value, unit: TimestampUnit) -> Int64? {
        guard let t = readTime(v, unit: unit), t >= 0, t <= maxTime else { return nil }
        return t
    }

    /// 9999-12-31T23:59:59Z.
    static let maxTime: Int64 = 253_402_300_799

    private static func readTime(_ v: JSONWalker.Value, unit: TimestampUnit) -> Int64? {
        guard let p = v.base, v.count > 0 else { return nil }
        let n = v.count
        if v.kind == .number || (v.kind == .string && p[0] &- 0x30 <= 9 && (0..<n).allSatisfy { p[$0] &- 0x30 <= 9 || p[$0] == 0x2E }) {
            var x: Int64 = 0
            var i = 0
            var digits = 0
            while i < n, p[i] &- 0x30 <= 9 {
                x = x &* 10 &+ Int64(p[i] &- 0x30)
                digits += 1
                i += 1
                if digits > 17 { return nil }
            }
            if digits == 0 { return nil }
            if i < n && p[i] == UInt8(ascii: ".") {
                i += 1
                let s = i
                while i < n, p[i] &- 0x30 <= 9 { i += 1 }
                if i == s { return nil }
            }
            if i != n { return nil }  // negative, exponent or junk
            switch unit {
            case .s: break
            case .ms: x /= 1000
            case .auto: if x > 100_000_000_000 { x /= 1000 }
            }
            return x
        }
        guard v.kind == .string else { return nil }
        return ValueParsers.eventTime(Field(base: p, count: n, isNumber: false))
    }

    // MARK: applying a file

    /// Writes the aggregates so far inside the file's transaction (begun here when needed) and
    /// empties them. What must see the whole file stays: groups, derived-session events (their
    /// sessions depend on each user's events in time order) and the dictionaries they refer to.
    private func flush(_ agg: FileAggregate, _ r: inout CatalogFileReport) throws {
        if !inTransaction {
            // The file's first write: nothing is queued, the worker is idle.
            let target = store
            try worker.sync { try target.begin() }
            inTransaction = true
        }
        try apply(agg, &r)
        agg.resetFlushed()
        r.flushes += 1
    }

    /// Applies the aggregates held now (all of a file, or what accumulated since the last flush):
    /// the rows are built here, and written by one job on the worker (errors surface at `drain`).
    private func apply(_ agg: FileAggregate, _ r: inout CatalogFileReport) throws {
        let v = agg.values
        func s(_ id: Int32) -> String { v.string(id) }
        // Groups (their texts made once per file), the catalog and screens roll-ups.
        for g in agg.groupKeys[agg.groupRows.count...] {
            agg.groupRows.append(HourGroup(tenant: s(g.t), app: s(g.a), platform: s(g.p), appVersion: s(g.v), event: s(g.e), screen: s(g.s)))
        }
        let groups = agg.groupRows
        var catalog: [CatalogKey: (Int64, Int64, Int64)] = [:]
        var screens: [ScreenKey: (Int64, Int64, Int64)] = [:]
        for (gi, g) in agg.groupKeys.enumerated() {
            let a = agg.groupAgg[gi]
            if a.events == 0 { continue }  // no event since the last flush
            let ck = CatalogKey(t: g.t, a: g.a, p: g.p, v: g.v, e: g.e)
            if let o = catalog[ck] { catalog[ck] = (min(o.0, a.first), max(o.1, a.last), o.2 + a.events) } else { catalog[ck] = (a.first, a.last, a.events) }
            let sk = ScreenKey(t: g.t, a: g.a, e: g.e, s: g.s)
            if let o = screens[sk] { screens[sk] = (min(o.0, a.first), max(o.1, a.last), o.2 + a.events) } else { screens[sk] = (a.first, a.last, a.events) }
        }
        let catalogRows = catalog.map { k, a in
            CatalogRowDelta(tenant: s(k.t), app: s(k.a), platform: s(k.p), appVersion: s(k.v), event: s(k.e), firstSeen: a.0, lastSeen: a.1, events: a.2)
        }
        r.catalogRows += catalogRows.count
        let screenRows = screens.map { k, a in
            ScreenRowDelta(tenant: s(k.t), app: s(k.a), event: s(k.e), screen: s(k.s), firstSeen: a.0, lastSeen: a.1, events: a.2)
        }
        r.screenRows += screenRows.count
        // Hours.
        var hours: [HourRowDelta] = []
        hours.reserveCapacity(agg.hourKeys.count)
        for (idx, hk) in agg.hourKeys.enumerated() {
            let (hour, grp) = FileAggregate.split(hk)
            let a = agg.hourAgg[idx]
            hours.append(HourRowDelta(bucket: hour * 3600, group: grp, events: a.events, anonymousSessions: a.anonymous))
        }
        r.hourRows += hours.count
        // Every (hour, group, session) triple (derived sessions are added before the last apply),
        // with the session texts' interner: handed over, and started anew.
        let sessions = agg.takeSessions()
        // Key paths: per (platform, app_version), and rolled up over them for cat_keys.
        var versionKeys: [VersionKeyRowDelta] = []
        versionKeys.reserveCapacity(agg.keyKeys.count)
        var rolled: [UInt64: FileAggregate.KeyAgg] = [:]
        var teaIds: [TeaKey: UInt32] = [:]
        var teas: [TeaKey] = []
        for (idx, kk) in agg.keyKeys.enumerated() {
            let vek = agg.keyOwners[Int(kk >> 32)]
            let pathId = kk & 0xFFFF_FFFF
            let path = agg.paths.string(Int32(truncatingIfNeeded: pathId))
            let a = agg.keyAgg[idx]
            versionKeys.append(VersionKeyRowDelta(tenant: s(vek.t), app: s(vek.a), platform: s(vek.p), appVersion: s(vek.v),
                                                  event: s(vek.e), keyPath: path, firstSeen: a.first, lastSeen: a.last,
                                                  events: a.events, types: a.types))
            let tea = TeaKey(t: vek.t, a: vek.a, e: vek.e)
            let ti: UInt32
            if let x = teaIds[tea] { ti = x } else { ti = UInt32(teas.count); teaIds[tea] = ti; teas.append(tea) }
            let rk = UInt64(ti) << 32 | pathId
            if var o = rolled[rk] {
                o.merge(a)
                rolled[rk] = o
            } else {
                rolled[rk] = a
            }
        }
        var keys: [KeyRowDelta] = []
        keys.reserveCapacity(rolled.count)
        for (rk, a) in rolled {
            let tea = teas[Int(rk >> 32)]
            let path = agg.paths.string(Int32(truncatingIfNeeded: rk & 0xFFFF_FFFF))
            keys.append(KeyRowDelta(tenant: s(tea.t), app: s(tea.a), event: s(tea.e), keyPath: path,
                                    firstSeen: a.first, lastSeen: a.last, events: a.events, types: a.types))
        }
        r.keyRows += keys.count
        // In this order: addSessions updates the hour rows applyHours made.
        let target = store, counter = sessionsNew
        worker.async(.stats, weight: hours.count + sessions.count + versionKeys.count) {
            [catalogRows, screenRows, hours, sessions, groups, keys, versionKeys] in
            try target.applyCatalog(catalogRows)
            try target.applyScreens(screenRows)
            try target.applyHours(hours, groups: groups)
            counter.add(try target.addSessions(sessions, groups: groups))
            try target.applyKeys(keys)
            try target.applyVersionKeys(versionKeys)
        }
    }

    /// Sessions of events without a session id, per (tenant, app, user): in time order within
    /// the file, continuing from the state the store keeps; a gap above `sessionGap` starts the
    /// next session number.
    private func deriveSessions(_ agg: FileAggregate, _ r: inout CatalogFileReport) throws {
        if agg.derived.isEmpty { return }
        agg.derived.sort { a, b in a.user != b.user ? a.user < b.user : a.time < b.time }
        var userIds: [Int32] = []
        for d in agg.derived where userIds.last != d.user { userIds.append(d.user) }
        let keys = userIds.map { u -> UserKey in
            let (t, a, user) = agg.userKeys[Int(u)]
            return UserKey(tenant: agg.values.string(t), app: agg.values.string(a), user: agg.userText.string(user))
        }
        let target = store
        // The state lane: queued applies never touch the users' session state.
        let loaded = try worker.await(.state) { try target.userSessionStates(keys) }
        var states: [UserSessionState] = []
        states.reserveCapacity(keys.count)
        var ui = -1
        var cur = UserSessionState(lastTime: 0, number: 0)
        var have = false
        var text: [UInt8] = []
        for d in agg.derived {
            if ui < 0 || userIds[ui] != d.user {
                if ui >= 0 { states.append(cur) }
                ui += 1
                if let s = loaded[ui] { cur = s; have = true } else { have = false }
            }
            if !have {
                cur = UserSessionState(lastTime: d.time, number: 1)
                have = true
                r.derivedSessions += 1
            } else if d.time < cur.lastTime {
                r.outOfOrderUserEvents += 1
            } else {
                if d.time - cur.lastTime > options.sessionGap {
                    cur.number += 1
                    r.derivedSessions += 1
                }
                cur.lastTime = d.time
            }
            // The session's text: \u{1} user \u{1F} number (never equal to a real session id
            // that does not start with \u{1}).
            text.removeAll(keepingCapacity: true)
            text.append(1)
            text.append(contentsOf: agg.userText.bytes(agg.userKeys[Int(d.user)].2))
            text.append(0x1F)
            text.append(contentsOf: String(cur.number).utf8)
            let sid = text.withUnsafeBufferPointer { agg.sessionText.intern($0.baseAddress, $0.count) }
            agg.insertSession(d.hg, sid)
        }
        if ui >= 0 { states.append(cur) }
        let saved = states
        worker.async(.state) { try target.saveUserSessionStates(keys, saved) }
    }
}

struct CatalogKey: Hashable { var t, a, p, v, e: Int32 }
struct ScreenKey: Hashable { var t, a, e, s: Int32 }
struct GroupKey: Hashable {
    var t, a, p, v, e, s: Int32
    /// Mixed in every bit (for `IdTable`).
    @inline(__always) var mixedHash: UInt64 {
        mix64((UInt64(UInt32(bitPattern: t)) << 32 | UInt64(UInt32(bitPattern: a)))
              ^ mix64(UInt64(UInt32(bitPattern: p)) << 32 | UInt64(UInt32(bitPattern: v)))
              ^ (UInt64(UInt32(bitPattern: e)) << 32 | UInt64(UInt32(bitPattern: s))) &* 0x9E37_79B9_7F4A_7C15)
    }
}
struct TeaKey: Hashable { var t, a, e: Int32 }
/// (tenant, app, platform, app_version, event): what key path figures are kept per in memory.
struct KeyOwnerKey: Hashable { var t, a, p, v, e: Int32 }

/// One file's events summed in memory.
final class FileAggregate {
    struct Span { var first = Int64.max; var last = Int64.min; var events: Int64 = 0 }
    struct HourAgg { var events: Int64 = 0; var anonymous: Int64 = 0 }
    /// Figures of one key path: events carrying it, and per JSON kind the events that had it
    /// with that kind (inline counters: no array per row to check for uniqueness).
    struct KeyAgg {
        var first = Int64.max, last = Int64.min, events: Int64 = 0
        var strings: Int64 = 0, numbers: Int64 = 0, bools: Int64 = 0, objects: Int64 = 0, arrays: Int64 = 0, nulls: Int64 = 0

        /// One event at `t` with the kinds in `kinds` (bit per `JSONKind.rawValue`).
        @inline(__always) mutating func add(_ t: Int64, kinds: UInt8) {
            events += 1
            if t < first { first = t }
            if t > last { last = t }
            if kinds & 1 != 0 { strings += 1 }
            if kinds & 2 != 0 { numbers += 1 }
            if kinds & 4 != 0 { bools += 1 }
            if kinds & 8 != 0 { objects += 1 }
            if kinds & 16 != 0 { arrays += 1 }
            if kinds & 32 != 0 { nulls += 1 }
        }

        mutating func merge(_ o: KeyAgg) {
            first = min(first, o.first); last = max(last, o.last); events += o.events
            strings += o.strings; numbers += o.numbers; bools += o.bools
            objects += o.objects; arrays += o.arrays; nulls += o.nulls
        }

        /// By `JSONKind.rawValue`.
        var types: [Int64] { [strings, numbers, bools, objects, arrays, nulls] }
    }

    let values = Interner()
    /// Session ids (and derived session texts); each flush hands it to the store and starts anew.
    private(set) var sessionText = Interner()
    /// User ids (kept for the whole file: derived sessions are made at its end).
    let userText = Interner()
    let paths = Interner()
    let groupIndex = IdTable()
    var groupKeys: [GroupKey] = []
    /// The texts of `groupKeys` (what the store takes), made by the applies as groups appear.
    var groupRows: [HourGroup] = []
    var groupAgg: [Span] = []
    /// Per group: its index in `keyOwners`, -1 until its first event with body keys.
    var groupKeyOwner: [Int32] = []
    /// Hourly rows: `hg` keys and their figures, by id.
    let hourIndex = IdTable(capacity: 1 << 14)
    var hourKeys: [UInt64] = []
    var hourAgg: [HourAgg] = []
    /// The set of (hour, group, session) triples: `hg` keys and session ids, by id (the layout
    /// `HourSessions` takes as is).
    let sessionIndex = IdTable(capacity: 1 << 16)
    var sessionKeys: [UInt64] = []
    var sessionIds: [Int32] = []
    var derived: [(user: Int32, time: Int64, hg: UInt64)] = []
    var userIndex: [GroupKeyUser: Int32] = [:]
    var userKeys: [(Int32, Int32, Int32)] = []
    /// Owners of key path figures (`keyKeys` are owner << 32 | path id).
    var keyOwnerIndex: [KeyOwnerKey: Int] = [:]
    var keyOwners: [KeyOwnerKey] = []
    let keyIndex = IdTable(capacity: 1 << 12)
    var keyKeys: [UInt64] = []
    var keyAgg: [KeyAgg] = []
    /// Body shapes seen (`JSONWalker.shape`) and what one event of each counts: per path id
    /// it has, the kinds the path had (bit per kind), in `shapeItems[shapeStart[s]..<shapeStart[s + 1]]`.
    /// Events of one type mostly repeat a few shapes: one lookup instead of one per path.
    let shapes = Interner()
    var shapeStart: [Int] = [0]
    var shapeItems: [(path: Int32, kinds: UInt8)] = []
    /// Shape bytes kept; past `maxShapeBytes` a new shape is counted path by path, not kept.
    var shapeBytes = 0
    static let maxShapeBytes = 16 << 20
    /// Per path id: the event stamp it was last seen in and the kinds seen then (bit per kind).
    var seenStamp: [UInt32] = []
    var seenKinds: [UInt8] = []
    var stamp: UInt32 = 0
    /// The items of the current event's shape when it is new.
    var items: [(path: Int32, kinds: UInt8)] = []

    struct GroupKeyUser: Hashable { var t, a, u: Int32 }

    /// The `HourSessions.key` layout (hours from `parseTime` are below 2^27).
    @inline(__always) static func hg(_ hour: Int64, _ grp: Int) -> UInt64 { HourSessions.key(hour: hour, group: grp) }
    @inline(__always) static func split(_ k: UInt64) -> (Int64, Int) { HourSessions.split(k) }
    /// The hour of a time: floor, so a time before an hour's start is never in that hour.
    @inline(__always) static func hour(_ t: Int64) -> Int64 { t >= 0 ? t / 3600 : (t + 1) / 3600 - 1 }

    /// Entries a flush empties (what grows with the file).
    var flushableEntries: Int { hourKeys.count + sessionKeys.count + keyKeys.count }

    /// Hands over the session triples and their texts (for the store), and starts both anew.
    func takeSessions() -> HourSessions {
        var s = HourSessions(texts: sessionText)
        s.keys = sessionKeys
        s.sessions = sessionIds
        sessionText = Interner(capacity: max(1 << 12, sessionText.count))
        sessionKeys = []
        sessionKeys.reserveCapacity(s.keys.count)
        sessionIds = []
        sessionIds.reserveCapacity(s.keys.count)
        sessionIndex.removeAll()
        return s
    }

    /// Forgets what a flush wrote: spans, hourly rows, key rows (`takeSessions` took the
    /// session triples and their ids). Groups, key owners, users, derived-session events and
    /// the other dictionaries stay.
    func resetFlushed() {
        for i in groupAgg.indices { groupAgg[i] = Span() }
        hourIndex.removeAll()
        hourKeys.removeAll(keepingCapacity: true)
        hourAgg.removeAll(keepingCapacity: true)
        keyIndex.removeAll()
        keyKeys.removeAll(keepingCapacity: true)
        keyAgg.removeAll(keepingCapacity: true)
    }

    /// Adds the triple unless it is there.
    @inline(__always)
    func insertSession(_ hk: UInt64, _ session: Int32) {
        let h = mix64(hk ^ UInt64(UInt32(bitPattern: session)) &* 0x9E37_79B9_7F4A_7C15)
        let (found, slot) = sessionIndex.find(h) { sessionKeys[$0] == hk && sessionIds[$0] == session }
        if found == nil {
            sessionIndex.insert(h, at: slot)
            sessionKeys.append(hk)
            sessionIds.append(session)
        }
    }

    /// One event at `t`; `kept` (of `w`) has its body paths and shape.
    func add(ids: [Int32], time t: Int64, hasSession: Bool, hasUser: Bool, walker w: JSONWalker, kept: JSONWalker.Kept) {
        let ten = ids[CanonicalField.tenant.rawValue], app = ids[CanonicalField.app.rawValue], ev = ids[CanonicalField.event.rawValue]
        let gk = GroupKey(t: ten, a: app, p: ids[CanonicalField.platform.rawValue], v: ids[CanonicalField.appVersion.rawValue],
                          e: ev, s: ids[CanonicalField.screen.rawValue])
        let gh = gk.mixedHash
        let gi: Int
        let (g, gslot) = groupIndex.find(gh) { groupKeys[$0] == gk }
        if let g { gi = g } else {
            gi = groupIndex.insert(gh, at: gslot)
            groupKeys.append(gk)
            groupAgg.append(Span())
            groupKeyOwner.append(-1)
        }
        groupAgg[gi].events += 1
        if t < groupAgg[gi].first { groupAgg[gi].first = t }
        if t > groupAgg[gi].last { groupAgg[gi].last = t }
        let hour = FileAggregate.hour(t)
        let hk = FileAggregate.hg(hour, gi)
        let hh = mix64(hk)
        let hi: Int
        let (h, hslot) = hourIndex.find(hh) { hourKeys[$0] == hk }
        if let h { hi = h } else {
            hi = hourIndex.insert(hh, at: hslot)
            hourKeys.append(hk)
            hourAgg.append(HourAgg())
        }
        hourAgg[hi].events += 1
        if hasSession {
            insertSession(hk, ids[CanonicalField.sessionId.rawValue])
        } else if hasUser {
            let uk = GroupKeyUser(t: ten, a: app, u: ids[CanonicalField.userId.rawValue])
            let u: Int32
            if let x = userIndex[uk] { u = x } else {
                u = Int32(userKeys.count)
                userIndex[uk] = u
                userKeys.append((ten, app, uk.u))
            }
            derived.append((u, t, hk))
        } else {
            hourAgg[hi].anonymous += 1
        }
        // Key paths: each (path, kind) counted once per event.
        if kept.paths.isEmpty { return }
        // The group's key owner, looked up once per group rather than once per event.
        var tea = Int(groupKeyOwner[gi])
        if tea < 0 {
            let ok = KeyOwnerKey(t: ten, a: app, p: gk.p, v: gk.v, e: ev)
            if let x = keyOwnerIndex[ok] { tea = x } else {
                tea = keyOwners.count
                keyOwnerIndex[ok] = tea
                keyOwners.append(ok)
            }
            groupKeyOwner[gi] = Int32(tea)
        }
        let shape = w.shape(kept)
        if let sid = shapes.find(shape.baseAddress, shape.count) {
            let from = shapeStart[Int(sid)], to = shapeStart[Int(sid) + 1]
            for k in from..<to { addKey(tea, shapeItems[k], t) }
            return
        }
        items.removeAll(keepingCapacity: true)
        stamp &+= 1
        if stamp == 0 { for i in seenStamp.indices { seenStamp[i] = 0 }; stamp = 1 }
        for k in kept.paths {
            let pe = w.paths[k]
            let pid = Int(paths.intern(UnsafePointer(w.pathBytes + pe.offset), pe.count))
            if pid >= seenStamp.count { seenStamp.append(0); seenKinds.append(0) }
            let bit = UInt8(1) << pe.kind.rawValue
            if seenStamp[pid] != stamp {
                seenStamp[pid] = stamp
                seenKinds[pid] = bit
                items.append((Int32(pid), 0))
            } else {
                seenKinds[pid] |= bit
            }
        }
        for k in items.indices { items[k].kinds = seenKinds[Int(items[k].path)] }
        if shapeBytes + shape.count <= FileAggregate.maxShapeBytes {
            _ = shapes.intern(shape.baseAddress, shape.count)
            shapeItems.append(contentsOf: items)
            shapeStart.append(shapeItems.count)
            shapeBytes += shape.count
        }
        for item in items { addKey(tea, item, t) }
    }

    /// One event at `t` with the path of `item` (owner `tea`).
    @inline(__always)
    private func addKey(_ tea: Int, _ item: (path: Int32, kinds: UInt8), _ t: Int64) {
        let kk = UInt64(tea) << 32 | UInt64(UInt32(bitPattern: item.path))
        let kh = mix64(kk)
        let ki: Int
        let (x, kslot) = keyIndex.find(kh) { keyKeys[$0] == kk }
        if let x { ki = x } else {
            ki = keyIndex.insert(kh, at: kslot)
            keyKeys.append(kk)
            keyAgg.append(KeyAgg())
        }
        keyAgg[ki].add(t, kinds: item.kinds)
    }
}
