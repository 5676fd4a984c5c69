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
    /// the report's row counts (upserts made) grow with the number of flushes. Not a CLI option:
    /// tests set it small.
    public var flushEntries = 262_144
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
///
/// Contract: `ingest(path:)` never throws for a bad file (its report says failed and why, and
/// nothing of it is stored); it throws only when the store itself fails. Content already in the
/// `catalog_files` ledger (by SHA-256) is skipped.
public final class CatalogIngestor {
    public let options: CatalogOptions
    private let store: CatalogStore
    private let rejects: RejectLog?
    private let walker: JSONWalker
    /// Index into `walker.found` per canonical field (nil: body, which is not a target).
    private let targetIndex: [Int]
    /// The current file's transaction is open (begun early by a flush, or before the final apply).
    private var inTransaction = false

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
        targetIndex = scalar.map(\.rawValue)
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
                    if let prior = try store.catalogLedgerEntry(path: path, size: Int64(st.st_size), mtime: mtime) {
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
                if inTransaction { store.rollback(); inTransaction = false }
                rejects?.abortFile(); rejectsOpen = false
                r.status = .empty
                r.seconds = monotonicSeconds() - started
                return r
            }
            // (A flush may have begun the transaction already: a failure below rolls it back.)
            if r.rowsRead >= options.minRowsForRejectRate && Double(r.rowsRejected) > options.maxRejectRate * Double(r.rowsRead) {
                throw TransformsError.tooManyRejects(file: path, rejected: r.rowsRejected, read: r.rowsRead, maxRate: options.maxRejectRate)
            }
            if !inTransaction {
                try store.begin()
                inTransaction = true
            }
            if let prior = try store.catalogLedgerEntry(sha256: r.sha256) {
                store.rollback(); inTransaction = false
                rejects?.abortFile(); rejectsOpen = false
                var s = CatalogFileReport(path: path)
                s.status = .skipped; s.sha256 = r.sha256; s.bytes = r.bytes; s.duplicateOf = prior.path
                s.seconds = monotonicSeconds() - started
                return s
            }
            try deriveSessions(agg, &r)
            try apply(agg, &r)
            if options.dryRun {
                store.rollback(); inTransaction = false
                rejects?.abortFile(); rejectsOpen = false
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
            if inTransaction { store.rollback(); inTransaction = false }
            if rejectsOpen { rejects?.abortFile() }
            r.status = .failed
            r.error = e.description
        } catch {
            if inTransaction { store.rollback(); inTransaction = false }
            if rejectsOpen { rejects?.abortFile() }
            throw error
        }
        r.seconds = monotonicSeconds() - started
        return r
    }

    // MARK: reading

    private func reject(_ reason: CatalogReject, _ reader: LineReader, _ p: UnsafePointer<UInt8>, _ n: Int, _ r: inout CatalogFileReport) throws {
        r.rejected[reason.rawValue] += 1
        try rejects?.reject(line: reader.line, code: reason.code, raw: UnsafeBufferPointer(start: p, count: n))
    }

    private func read(_ reader: LineReader, _ agg: FileAggregate, _ r: inout CatalogFileReport) throws {
        let w = walker
        let f = targetIndex
        var minT = Int64.max, maxT = Int64.min
        // Field ids of the current event, by CanonicalField.rawValue (body unused).
        var ids = [Int32](repeating: 0, count: CanonicalField.allCases.count)
        let defaults = CanonicalField.allCases.map { agg.values.intern($0.defaultValue) }
        lines: while true {
            let p: UnsafePointer<UInt8>, n: Int
            switch try reader.next() {
            case .end: break lines
            case let .tooLong(lp, ln):
                r.rowsRead += 1
                try reject(.lineTooLong, reader, lp, ln, &r)
                continue
            case let .line(lp, ln): p = lp; n = ln
            }
            // Blank lines are not rows.
            var k = 0
            while k < n && (p[k] == 0x20 || p[k] == 0x09) { k += 1 }
            if k == n { continue }
            r.rowsRead += 1
            guard w.walk(p, n) else { try reject(.badJSON, reader, p, n, &r); continue }
            // event
            var bad: CatalogReject?
            for (slot, fi) in f.enumerated() {
                let field = CanonicalField(rawValue: fi)!
                guard let v = w.found[slot] else {
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
                        ids[fi] = field == .sessionId ? agg.sessionText.intern(v.base, v.count)
                            : field == .userId ? agg.userText.intern(v.base, v.count) : agg.values.intern(v.base, v.count)
                    }
                }
                if bad != nil { break }
            }
            if let bad { try reject(bad, reader, p, n, &r); continue }
            let tv = w.found[CanonicalField.ts.rawValue]!
            guard let t = CatalogIngestor.parseTime(tv, unit: options.tsUnit) else { try reject(.badTime, reader, p, n, &r); continue }
            if let bk = w.bodyKind, bk != .object && bk != .null { try reject(.badBody, reader, p, n, &r); continue }
            r.rowsAccepted += 1
            if t < minT { minT = t }
            if t > maxT { maxT = t }
            agg.add(ids: ids, time: t, hasSession: w.found[CanonicalField.sessionId.rawValue].map { $0.count > 0 && $0.kind != .null && $0.kind != .object && $0.kind != .array } ?? false,
                    hasUser: w.found[CanonicalField.userId.rawValue].map { $0.count > 0 && $0.kind != .null && $0.kind != .object && $0.kind != .array } ?? false,
                    walker: w)
            if agg.flushableEntries >= options.flushEntries { try flush(agg, &r) }
        }
        if r.rowsAccepted > 0 { r.minTime = minT; r.maxTime = maxT }
    }

    /// Unix seconds (floor) of a `ts` value: ISO 8601 text, or a number (also as text) in the
    /// configured unit. Nil when it cannot be read or lies outside 1970-01-01..9999-12-31.
    public static func parseTime(_ v: JSONWalker.Value, unit: TimestampUnit) -> Int64? {
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
            guard x <= 253_402_300_799 else { return nil }
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
            try store.begin()
            inTransaction = true
        }
        try apply(agg, &r)
        agg.resetFlushed()
        r.flushes += 1
    }

    /// Applies the aggregates held now (all of a file, or what accumulated since the last flush).
    private func apply(_ agg: FileAggregate, _ r: inout CatalogFileReport) throws {
        let v = agg.values
        func s(_ id: Int32) -> String { v.string(id) }
        // Groups, the catalog and screens roll-ups.
        var groups: [HourGroup] = []
        groups.reserveCapacity(agg.groupKeys.count)
        var catalog: [CatalogKey: (Int64, Int64, Int64)] = [:]
        var screens: [ScreenKey: (Int64, Int64, Int64)] = [:]
        for (gi, g) in agg.groupKeys.enumerated() {
            groups.append(HourGroup(tenant: s(g.t), app: s(g.a), platform: s(g.p), appVersion: s(g.v), event: s(g.e), screen: s(g.s)))
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
        try store.applyCatalog(catalogRows)
        r.catalogRows += catalogRows.count
        let screenRows = screens.map { k, a in
            ScreenRowDelta(tenant: s(k.t), app: s(k.a), event: s(k.e), screen: s(k.s), firstSeen: a.0, lastSeen: a.1, events: a.2)
        }
        try store.applyScreens(screenRows)
        r.screenRows += screenRows.count
        // Hours.
        var hours: [HourRowDelta] = []
        hours.reserveCapacity(agg.hourIndex.count)
        for (hk, idx) in agg.hourIndex {
            let (hour, grp) = FileAggregate.split(hk)
            let a = agg.hourAgg[idx]
            hours.append(HourRowDelta(bucket: hour * 3600, group: groups[grp], events: a.events, anonymousSessions: a.anonymous))
        }
        try store.applyHours(hours)
        r.hourRows += hours.count
        // Every (hour, group, session) triple (derived sessions are added before the last apply).
        var sessions: [HourSession] = []
        sessions.reserveCapacity(agg.sessions.count)
        for sk in agg.sessions {
            let (hour, grp) = FileAggregate.split(sk.hg)
            sessions.append(HourSession(bucket: hour * 3600, group: grp, session: Array(agg.sessionBytes(sk.session))))
        }
        r.sessionsNew += try store.addSessions(sessions, groups: groups)
        // Key paths: per (platform, app_version), and rolled up over them for cat_keys.
        var versionKeys: [VersionKeyRowDelta] = []
        versionKeys.reserveCapacity(agg.keyIndex.count)
        var rolled: [UInt64: FileAggregate.KeyAgg] = [:]
        var teaIds: [TeaKey: UInt32] = [:]
        var teas: [TeaKey] = []
        for (kk, idx) in agg.keyIndex {
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
                o.first = min(o.first, a.first); o.last = max(o.last, a.last); o.events += a.events
                for b in 0..<6 { o.types[b] += a.types[b] }
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
        try store.applyKeys(keys)
        try store.applyVersionKeys(versionKeys)
        r.keyRows += keys.count
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
        let loaded = try store.userSessionStates(keys)
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
            agg.sessions.insert(SessionKey(hg: d.hg, session: sid))
        }
        if ui >= 0 { states.append(cur) }
        try store.saveUserSessionStates(keys, states)
    }
}

struct CatalogKey: Hashable { var t, a, p, v, e: Int32 }
struct ScreenKey: Hashable { var t, a, e, s: Int32 }
struct GroupKey: Hashable { var t, a, p, v, e, s: Int32 }
struct TeaKey: Hashable { var t, a, e: Int32 }
/// (tenant, app, platform, app_version, event): what key path figures are kept per in memory.
struct KeyOwnerKey: Hashable { var t, a, p, v, e: Int32 }
struct SessionKey: Hashable { var hg: UInt64; var session: Int32 }

/// One file's events summed in memory.
final class FileAggregate {
    struct Span { var first = Int64.max; var last = Int64.min; var events: Int64 = 0 }
    struct HourAgg { var events: Int64 = 0; var anonymous: Int64 = 0 }
    struct KeyAgg { var first = Int64.max; var last = Int64.min; var events: Int64 = 0; var types = [Int64](repeating: 0, count: 6) }

    let values = Interner()
    /// Session ids (and derived session texts); emptied by each flush.
    let sessionText = Interner()
    /// User ids (kept for the whole file: derived sessions are made at its end).
    let userText = Interner()
    let paths = Interner()
    var groupIndex: [GroupKey: Int] = [:]
    var groupKeys: [GroupKey] = []
    var groupAgg: [Span] = []
    /// Per group: its index in `keyOwners`, -1 until its first event with body keys.
    var groupKeyOwner: [Int32] = []
    var hourIndex: [UInt64: Int] = [:]
    var hourAgg: [HourAgg] = []
    var sessions = Set<SessionKey>()
    var derived: [(user: Int32, time: Int64, hg: UInt64)] = []
    var userIndex: [GroupKeyUser: Int32] = [:]
    var userKeys: [(Int32, Int32, Int32)] = []
    /// Owners of key path figures (`keyIndex` keys are owner << 32 | path id).
    var keyOwnerIndex: [KeyOwnerKey: Int] = [:]
    var keyOwners: [KeyOwnerKey] = []
    var keyIndex: [UInt64: Int] = [:]
    var keyAgg: [KeyAgg] = []
    /// Per path id: the event stamp it was last seen in and the kinds seen then (bit per kind).
    var seenStamp: [UInt32] = []
    var seenKinds: [UInt8] = []
    var stamp: UInt32 = 0
    var touched: [Int32] = []

    struct GroupKeyUser: Hashable { var t, a, u: Int32 }

    @inline(__always) static func hg(_ hour: Int64, _ grp: Int) -> UInt64 { UInt64(hour) << 36 | UInt64(grp) }
    @inline(__always) static func split(_ k: UInt64) -> (Int64, Int) { (Int64(k >> 36), Int(k & ((1 << 36) - 1))) }

    func sessionBytes(_ id: Int32) -> UnsafeBufferPointer<UInt8> { sessionText.bytes(id) }

    /// Entries a flush empties (what grows with the file).
    var flushableEntries: Int { hourIndex.count + sessions.count + keyIndex.count }

    /// Forgets what a flush wrote: spans, hourly rows, session triples and their ids, key rows.
    /// Groups, key owners, users, derived-session events and the other dictionaries stay.
    func resetFlushed() {
        for i in groupAgg.indices { groupAgg[i] = Span() }
        hourIndex.removeAll(keepingCapacity: true)
        hourAgg.removeAll(keepingCapacity: true)
        sessions.removeAll(keepingCapacity: true)
        sessionText.truncate(to: 0)
        keyIndex.removeAll(keepingCapacity: true)
        keyAgg.removeAll(keepingCapacity: true)
    }

    func add(ids: [Int32], time t: Int64, hasSession: Bool, hasUser: Bool, walker w: JSONWalker) {
        let ten = ids[CanonicalField.tenant.rawValue], app = ids[CanonicalField.app.rawValue], ev = ids[CanonicalField.event.rawValue]
        let gk = GroupKey(t: ten, a: app, p: ids[CanonicalField.platform.rawValue], v: ids[CanonicalField.appVersion.rawValue],
                          e: ev, s: ids[CanonicalField.screen.rawValue])
        let gi: Int
        if let g = groupIndex[gk] { gi = g } else {
            gi = groupKeys.count
            groupIndex[gk] = gi
            groupKeys.append(gk)
            groupAgg.append(Span())
            groupKeyOwner.append(-1)
        }
        groupAgg[gi].events += 1
        if t < groupAgg[gi].first { groupAgg[gi].first = t }
        if t > groupAgg[gi].last { groupAgg[gi].last = t }
        let hour = t / 3600
        let hk = FileAggregate.hg(hour, gi)
        let hi: Int
        if let h = hourIndex[hk] { hi = h } else {
            hi = hourAgg.count
            hourIndex[hk] = hi
            hourAgg.append(HourAgg())
        }
        hourAgg[hi].events += 1
        if hasSession {
            sessions.insert(SessionKey(hg: hk, session: ids[CanonicalField.sessionId.rawValue]))
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
        let n = w.paths.count
        if n == 0 { return }
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
        stamp &+= 1
        if stamp == 0 { for i in seenStamp.indices { seenStamp[i] = 0 }; stamp = 1 }
        touched.removeAll(keepingCapacity: true)
        for k in 0..<n {
            let pe = w.paths[k]
            let pid = Int(paths.intern(UnsafePointer(w.pathBytes + pe.offset), pe.count))
            if pid >= seenStamp.count { seenStamp.append(0); seenKinds.append(0) }
            let bit = UInt8(1) << pe.kind.rawValue
            if seenStamp[pid] != stamp {
                seenStamp[pid] = stamp
                seenKinds[pid] = bit
                touched.append(Int32(pid))
            } else {
                seenKinds[pid] |= bit
            }
        }
        for pid in touched {
            let kk = UInt64(tea) << 32 | UInt64(UInt32(pid))
            let ki: Int
            if let x = keyIndex[kk] { ki = x } else {
                ki = keyAgg.count
                keyIndex[kk] = ki
                keyAgg.append(KeyAgg())
            }
            keyAgg[ki].events += 1
            if t < keyAgg[ki].first { keyAgg[ki].first = t }
            if t > keyAgg[ki].last { keyAgg[ki].last = t }
            let kinds = seenKinds[Int(pid)]
            for b in 0..<6 where kinds & (1 << b) != 0 { keyAgg[ki].types[b] += 1 }
        }
    }
}
