/// Why a clickstream line was rejected. The codes are what summaries, the ledger and the
/// rejects file show.
public enum CatalogReject: Int, CaseIterable, Sendable {
    case badJSON = 0, noEvent, noTime, badTime, badField, badBody, lineTooLong

    public var code: String {
        switch self {
        case .badJSON: return "bad_json"
        case .noEvent: return "no_event"
        case .noTime: return "no_time"
        case .badTime: return "bad_time"
        case .badField: return "bad_field"
        case .badBody: return "bad_body"
        case .lineTooLong: return "line_too_long"
        }
    }

    /// `{"bad_json":2,"no_event":1}` (non-zero counts only, in code order): the ledger's
    /// `rejected_by_reason`.
    public static func encode(_ counts: [Int64]) -> String {
        "{" + allCases.filter { counts[$0.rawValue] > 0 }.map { "\"\($0.code)\":\(counts[$0.rawValue])" }.joined(separator: ",") + "}"
    }
}

/// The canonical fields of a clickstream event.
public enum CanonicalField: Int, CaseIterable, Sendable {
    case tenant = 0, app, platform, appVersion, event, screen, sessionId, userId, ts, body

    public var name: String {
        switch self {
        case .tenant: return "tenant"
        case .app: return "app"
        case .platform: return "platform"
        case .appVersion: return "app_version"
        case .event: return "event"
        case .screen: return "screen"
        case .sessionId: return "session_id"
        case .userId: return "user_id"
        case .ts: return "ts"
        case .body: return "body"
        }
    }

    public init?(name: String) {
        guard let f = CanonicalField.allCases.first(where: { $0.name == name }) else { return nil }
        self = f
    }

    /// The value used when the field is absent or null (event and ts have none: rejected).
    public var defaultValue: String {
        switch self {
        case .tenant, .app: return "default"
        default: return ""
        }
    }
}

/// One (tenant, app, platform, app_version, event) row's change: min/max/sum semantics.
public struct CatalogRowDelta: Sendable, Equatable {
    public var tenant, app, platform, appVersion, event: String
    public var firstSeen, lastSeen, events: Int64
}

/// One (tenant, app, event, screen) row's change.
public struct ScreenRowDelta: Sendable, Equatable {
    public var tenant, app, event, screen: String
    public var firstSeen, lastSeen, events: Int64
}

/// The group of an hourly row (everything but the hour).
public struct HourGroup: Hashable, Sendable {
    public var tenant, app, platform, appVersion, event, screen: String
}

/// One hourly row's change: `events` added, plus `anonymousSessions` (events with neither a
/// session id nor a user id: each is a session of its own, so they add without a lookup).
public struct HourRowDelta: Sendable {
    public var bucket: Int64
    /// Index into the `groups` passed along with the rows.
    public var group: Int
    public var events: Int64
    public var anonymousSessions: Int64
}

/// Sessions seen per hour and group; the store counts each (hour, group, session) once, whatever
/// the file order. The session texts stay in the `Interner` they were read into (handed over
/// with the batch: nothing writes to it afterwards), so no triple carries an array of its own.
public struct HourSessions {
    /// Per triple: `hour << 36 | group`, where hour = bucket / 3600 (below 2^27 for times up
    /// to 9999) and group indexes the `groups` passed along (below 2^36).
    public var keys: [UInt64] = []
    /// Per triple: the session's id in `texts`.
    public var sessions: [Int32] = []
    public let texts: Interner

    public init(texts: Interner) { self.texts = texts }

    public var count: Int { keys.count }
    @inline(__always) public static func key(hour: Int64, group: Int) -> UInt64 { UInt64(hour) << 36 | UInt64(group) }
    @inline(__always) public static func split(_ k: UInt64) -> (hour: Int64, group: Int) {
        (Int64(k >> 36), Int(k & ((1 << 36) - 1)))
    }
}

/// One key path row's change.
public struct KeyRowDelta: Sendable {
    public var tenant, app, event, keyPath: String
    public var firstSeen, lastSeen, events: Int64
    /// By `JSONKind.rawValue`.
    public var types: [Int64]
}

/// One key path row's change for one (platform, app_version): the same figures as `KeyRowDelta`
/// one level finer (what `verify` compares between versions). Summed over platforms and versions,
/// these rows give the `KeyRowDelta`s of the same file.
public struct VersionKeyRowDelta: Sendable {
    public var tenant, app, platform, appVersion, event, keyPath: String
    public var firstSeen, lastSeen, events: Int64
    /// By `JSONKind.rawValue`.
    public var types: [Int64]
}

/// Derived-session state of one user (events without a session id).
public struct UserSessionState: Sendable, Equatable {
    public var lastTime: Int64
    public var number: Int64
    public init(lastTime: Int64, number: Int64) { self.lastTime = lastTime; self.number = number }
}

public struct UserKey: Hashable, Sendable {
    public var tenant, app, user: String
}

/// One ingested clickstream file, as the `catalog_files` ledger records it.
public struct CatalogLedgerEntry: Sendable, Equatable {
    public var sha256: String
    public var path: String
    public var size: Int64
    public var mtime: Int64
    public var rowsRead: Int64
    public var rowsAccepted: Int64
    /// By `CatalogReject.rawValue`.
    public var rejected: [Int64]
    public var minTime: Int64?
    public var maxTime: Int64?
    public var ingestedAt: Int64
    public init(sha256: String, path: String, size: Int64, mtime: Int64, rowsRead: Int64, rowsAccepted: Int64, rejected: [Int64],
                minTime: Int64?, maxTime: Int64?, ingestedAt: Int64) {
        self.sha256 = sha256; self.path = path; self.size = size; self.mtime = mtime; self.rowsRead = rowsRead
        self.rowsAccepted = rowsAccepted; self.rejected = rejected; self.minTime = minTime; self.maxTime = maxTime; self.ingestedAt = ingestedAt
    }
    public var rowsRejected: Int64 { rejected.reduce(0, +) }
}

/// What the clickstream catalog pipeline needs from a store.
///
/// Contract: everything between `begin()` and `commit()` is one transaction. Catalog, screen and
/// key rows are upserts with first_seen = min, last_seen = max, counts = sum, so files applied in
/// any order give the same rows. `addSessions` inserts (hour, group, session) triples not yet
/// present and adds the number of new ones to that hour row's `sessions`.
public protocol CatalogStore: AnyObject {
    func catalogLedgerEntry(sha256: String) throws -> CatalogLedgerEntry?
    func catalogLedgerEntry(path: String, size: Int64, mtime: Int64) throws -> CatalogLedgerEntry?
    func begin() throws
    func applyCatalog(_ rows: [CatalogRowDelta]) throws
    func applyScreens(_ rows: [ScreenRowDelta]) throws
    /// Adds events and anonymous sessions to hourly rows (creating them). `groups` are the
    /// groups `rows[].group` index into.
    func applyHours(_ rows: [HourRowDelta], groups: [HourGroup]) throws
    /// `groups` are the groups the sessions' keys index into. Returns sessions that were new.
    func addSessions(_ sessions: HourSessions, groups: [HourGroup]) throws -> Int
    func applyKeys(_ rows: [KeyRowDelta]) throws
    /// The same key figures per (platform, app_version): min/max/sum upserts like `applyKeys`.
    func applyVersionKeys(_ rows: [VersionKeyRowDelta]) throws
    func userSessionStates(_ users: [UserKey]) throws -> [UserSessionState?]
    func saveUserSessionStates(_ users: [UserKey], _ states: [UserSessionState]) throws
    func recordCatalogFile(_ entry: CatalogLedgerEntry) throws
    func commit() throws
    func rollback()
}
