import CSQLite
import Transforms

extension SQLiteStore {
    /// Migrations of the clickstream catalog (`catalog ingest`), registered by
    /// `SQLiteStore.migrator` after the core ones. Append only.
    ///
    /// Public interface: the views `catalog`, `catalog_screens`, `event_counts_hour`,
    /// `event_keys` and the ledger table `catalog_files` (same columns as `files`). The `cat_*`
    /// tables are internal.
    static let catalogMigrations: [(name: String, sql: String)] = [
        ("0003_catalog", """
            CREATE TABLE catalog_files (
                sha256 TEXT PRIMARY KEY, path TEXT NOT NULL, size INTEGER NOT NULL, mtime INTEGER NOT NULL,
                rows_read INTEGER NOT NULL, rows_accepted INTEGER NOT NULL, rows_rejected INTEGER NOT NULL,
                rejected_by_reason TEXT NOT NULL, min_event_time INTEGER, max_event_time INTEGER,
                ingested_at INTEGER NOT NULL, watermark_before INTEGER) WITHOUT ROWID;
            CREATE INDEX catalog_files_by_path ON catalog_files(path, size, mtime);
            CREATE TABLE cat_catalog (
                tenant TEXT NOT NULL, app TEXT NOT NULL, platform TEXT NOT NULL, app_version TEXT NOT NULL, event TEXT NOT NULL,
                first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, events INTEGER NOT NULL,
                PRIMARY KEY (tenant, app, platform, app_version, event)) WITHOUT ROWID;
            CREATE VIEW catalog AS
                SELECT tenant, app, platform, app_version, event, first_seen, last_seen, events FROM cat_catalog;
            CREATE TABLE cat_screens (
                tenant TEXT NOT NULL, app TEXT NOT NULL, event TEXT NOT NULL, screen TEXT NOT NULL,
                first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, events INTEGER NOT NULL,
                PRIMARY KEY (tenant, app, event, screen)) WITHOUT ROWID;
            CREATE VIEW catalog_screens AS
                SELECT tenant, app, event, screen, first_seen, last_seen, events FROM cat_screens;
            CREATE TABLE cat_groups (
                id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, app TEXT NOT NULL, platform TEXT NOT NULL,
                app_version TEXT NOT NULL, event TEXT NOT NULL, screen TEXT NOT NULL,
                UNIQUE (tenant, app, platform, app_version, event, screen));
            CREATE TABLE cat_hour (
                bucket INTEGER NOT NULL, grp INTEGER NOT NULL, events INTEGER NOT NULL, sessions INTEGER NOT NULL,
                PRIMARY KEY (bucket, grp)) WITHOUT ROWID;
            CREATE TABLE cat_hour_sessions (
                bucket INTEGER NOT NULL, grp INTEGER NOT NULL, session BLOB NOT NULL,
                PRIMARY KEY (bucket, grp, session)) WITHOUT ROWID;
            CREATE VIEW event_counts_hour AS
                SELECT h.bucket AS bucket, g.tenant AS tenant, g.app AS app, g.platform AS platform, g.app_version AS app_version,
                       g.event AS event, g.screen AS screen, h.events AS events, h.sessions AS sessions
                FROM cat_hour h JOIN cat_groups g ON g.id = h.grp;
            CREATE TABLE cat_keys (
                tenant TEXT NOT NULL, app TEXT NOT NULL, event TEXT NOT NULL, key_path TEXT NOT NULL,
                first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, events INTEGER NOT NULL,
                strings INTEGER NOT NULL, numbers INTEGER NOT NULL, bools INTEGER NOT NULL,
                objects INTEGER NOT NULL, arrays INTEGER NOT NULL, nulls INTEGER NOT NULL,
                PRIMARY KEY (tenant, app, event, key_path)) WITHOUT ROWID;
            CREATE VIEW event_keys AS
                SELECT k.tenant AS tenant, k.app AS app, k.event AS event, k.key_path AS key_path,
                       k.first_seen AS first_seen, k.last_seen AS last_seen, k.events AS events,
                       k.strings AS strings, k.numbers AS numbers, k.bools AS bools, k.objects AS objects,
                       k.arrays AS arrays, k.nulls AS nulls,
                       CAST(k.events AS REAL) / (SELECT SUM(s.events) FROM cat_screens s
                                                 WHERE s.tenant = k.tenant AND s.app = k.app AND s.event = k.event) AS presence
                FROM cat_keys k;
            CREATE TABLE cat_user_sessions (
                tenant TEXT NOT NULL, app TEXT NOT NULL, user_id TEXT NOT NULL,
                last_time INTEGER NOT NULL, session_no INTEGER NOT NULL,
                PRIMARY KEY (tenant, app, user_id)) WITHOUT ROWID;
            """),
        // Key paths per (platform, app_version), for `verify`'s key stage (cat_keys stays, the
        // roll-up over them). Files ingested before this migration have no rows here.
        ("0005_catalog_keys_by_version", """
            CREATE TABLE cat_keys_version (
                tenant TEXT NOT NULL, app TEXT NOT NULL, platform TEXT NOT NULL, app_version TEXT NOT NULL,
                event TEXT NOT NULL, key_path TEXT NOT NULL,
                first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, events INTEGER NOT NULL,
                strings INTEGER NOT NULL, numbers INTEGER NOT NULL, bools INTEGER NOT NULL,
                objects INTEGER NOT NULL, arrays INTEGER NOT NULL, nulls INTEGER NOT NULL,
                PRIMARY KEY (tenant, app, platform, app_version, event, key_path)) WITHOUT ROWID;
            """),
    ]
}

/// The clickstream catalog on the store's SQLite database (`CatalogStore`).
public final class SQLiteCatalogStore: CatalogStore {
    public let store: SQLiteStore
    private var db: Database { store.db }
    private var groupIds: [HourGroup: Int64] = [:]
    private var catalogUp: Statement!
    private var screenUp: Statement!
    private var hourUp: Statement!
    private var groupGet: Statement!
    private var groupPut: Statement!
    /// By row count (index 1...rowsPerSessionInsert), prepared at first use.
    private var sessionPuts = [Statement?](repeating: nil, count: SQLiteCatalogStore.rowsPerSessionInsert + 1)
    private var sessionsAdd: Statement!
    private var keyUp: Statement!
    private var versionKeyUp: Statement!
    private var userGet: Statement!
    private var userPut: Statement!

    public init(store: SQLiteStore) throws {
        self.store = store
        catalogUp = try db.prepare("""
            INSERT INTO cat_catalog(tenant, app, platform, app_version, event, first_seen, last_seen, events) VALUES (?,?,?,?,?,?,?,?)
            ON CONFLICT DO UPDATE SET first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen),
                events = events + excluded.events
            """)
        screenUp = try db.prepare("""
            INSERT INTO cat_screens(tenant, app, event, screen, first_seen, last_seen, events) VALUES (?,?,?,?,?,?,?)
            ON CONFLICT DO UPDATE SET first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen),
                events = events + excluded.events
            """)
        hourUp = try db.prepare("""
            INSERT INTO cat_hour(bucket, grp, events, sessions) VALUES (?,?,?,?)
            ON CONFLICT DO UPDATE SET events = events + excluded.events, sessions = sessions + excluded.sessions
            """)
        groupGet = try db.prepare("SELECT id FROM cat_groups WHERE tenant = ? AND app = ? AND platform = ? AND app_version = ? AND event = ? AND screen = ?")
        groupPut = try db.prepare("INSERT INTO cat_groups(tenant, app, platform, app_version, event, screen) VALUES (?,?,?,?,?,?)")
        sessionsAdd = try db.prepare("UPDATE cat_hour SET sessions = sessions + ? WHERE bucket = ? AND grp = ?")
        keyUp = try db.prepare("""
            INSERT INTO cat_keys(tenant, app, event, key_path, first_seen, last_seen, events, strings, numbers, bools, objects, arrays, nulls)
            VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)
            ON CONFLICT DO UPDATE SET first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen),
                events = events + excluded.events, strings = strings + excluded.strings, numbers = numbers + excluded.numbers,
                bools = bools + excluded.bools, objects = objects + excluded.objects, arrays = arrays + excluded.arrays,
                nulls = nulls + excluded.nulls
            """)
        versionKeyUp = try db.prepare("""
            INSERT INTO cat_keys_version(tenant, app, platform, app_version, event, key_path, first_seen, last_seen, events,
                                         strings, numbers, bools, objects, arrays, nulls)
            VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
            ON CONFLICT DO UPDATE SET first_seen = min(first_seen, excluded.first_seen),
                last_seen = max(last_seen, excluded.last_seen),
                events = events + excluded.events, strings = strings + excluded.strings, numbers = numbers + excluded.numbers,
                bools = bools + excluded.bools, objects = objects + excluded.objects, arrays = arrays + excluded.arrays,
                nulls = nulls + excluded.nulls
            """)
        userGet = try db.prepare("SELECT last_time, session_no FROM cat_user_sessions WHERE tenant = ? AND app = ? AND user_id = ?")
        userPut = try db.prepare("""
            INSERT INTO cat_user_sessions(tenant, app, user_id, last_time, session_no) VALUES (?,?,?,?,?)
            ON CONFLICT DO UPDATE SET last_time = excluded.last_time, session_no = excluded.session_no
            """)
    }

    // MARK: ledger

    public func catalogLedgerEntry(sha256: String) throws -> CatalogLedgerEntry? {
        try ledger(where: "sha256 = ?", [.text(sha256)]).first
    }

    public func catalogLedgerEntry(path: String, size: Int64, mtime: Int64) throws -> CatalogLedgerEntry? {
        try ledger(where: "path = ? AND size = ? AND mtime = ?", [.text(path), .int(size), .int(mtime)]).first
    }

    public func ledger(where clause: String = "1", _ args: [SQLValue] = []) throws -> [CatalogLedgerEntry] {
        let st = try db.prepare("""
            SELECT sha256, path, size, mtime, rows_read, rows_accepted, rejected_by_reason, min_event_time, max_event_time, ingested_at
            FROM catalog_files WHERE \(clause) ORDER BY ingested_at, path
            """)
        try st.bind(args)
        var out: [CatalogLedgerEntry] = []
        while try st.step() {
            var rejected = [Int64](repeating: 0, count: CatalogReject.allCases.count)
            let text = st.text(6) ?? ""
            for part in text.dropFirst().dropLast().split(separator: ",") {
                let kv = part.split(separator: ":")
                guard kv.count == 2 else { continue }
                let code = kv[0].filter { $0 != "\"" }
                if let r = CatalogReject.allCases.first(where: { $0.code == code }) { rejected[r.rawValue] = Int64(kv[1]) ?? 0 }
            }
            out.append(CatalogLedgerEntry(sha256: st.text(0) ?? "", path: st.text(1) ?? "", size: st.int(2), mtime: st.int(3),
                                          rowsRead: st.int(4), rowsAccepted: st.int(5), rejected: rejected,
                                          minTime: st.isNull(7) ? nil : st.int(7), maxTime: st.isNull(8) ? nil : st.int(8), ingestedAt: st.int(9)))
        }
        return out
    }

    public func recordCatalogFile(_ e: CatalogLedgerEntry) throws {
        let st = try db.prepare("""
            INSERT INTO catalog_files(sha256, path, size, mtime, rows_read, rows_accepted, rows_rejected, rejected_by_reason,
                                      min_event_time, max_event_time, ingested_at, watermark_before)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT MAX(max_event_time) FROM catalog_files))
            """)
        try st.bind([.text(e.sha256), .text(e.path), .int(e.size), .int(e.mtime), .int(e.rowsRead), .int(e.rowsAccepted),
                     .int(e.rowsRejected), .text(CatalogReject.encode(e.rejected)),
                     e.minTime.map { .int($0) } ?? .null, e.maxTime.map { .int($0) } ?? .null, .int(e.ingestedAt)])
        try st.run()
    }

    // MARK: transaction

    public func begin() throws { try db.execute("BEGIN IMMEDIATE") }
    public func commit() throws { try db.execute("COMMIT") }
    public func rollback() {
        // Ids of groups inserted in this transaction are gone with it.
        groupIds.removeAll()
        if !db.isAutocommit { try? db.execute("ROLLBACK") }
    }

    // MARK: upserts

    public func applyCatalog(_ rows: [CatalogRowDelta]) throws {
        let st = catalogUp!
        for r in rows {
            st.bind(1, r.tenant); st.bind(2, r.app); st.bind(3, r.platform); st.bind(4, r.appVersion); st.bind(5, r.event)
            st.bind(6, r.firstSeen); st.bind(7, r.lastSeen); st.bind(8, r.events)
            try st.run()
        }
    }

    public func applyScreens(_ rows: [ScreenRowDelta]) throws {
        let st = screenUp!
        for r in rows {
            st.bind(1, r.tenant); st.bind(2, r.app); st.bind(3, r.event); st.bind(4, r.screen)
            st.bind(5, r.firstSeen); st.bind(6, r.lastSeen); st.bind(7, r.events)
            try st.run()
        }
    }

    private func groupId(_ g: HourGroup) throws -> Int64 {
        if let id = groupIds[g] { return id }
        for st in [groupGet!, groupPut!] {
            st.bind(1, g.tenant); st.bind(2, g.app); st.bind(3, g.platform); st.bind(4, g.appVersion); st.bind(5, g.event); st.bind(6, g.screen)
        }
        var id: Int64
        if try groupGet.step() {
            id = groupGet.int(0)
            groupGet.reset()
        } else {
            groupGet.reset()
            try groupPut.run()
            id = try db.scalarInt("SELECT last_insert_rowid()") ?? 0
        }
        groupIds[g] = id
        return id
    }

    /// Store ids of `groups` (-1 for those `used` leaves out), looked up or inserted once each.
    private func groupIds(_ groups: [HourGroup], used: (Int) -> Bool) throws -> [Int64] {
        var ids = [Int64](repeating: -1, count: groups.count)
        for g in groups.indices where used(g) { ids[g] = try groupId(groups[g]) }
        return ids
    }

    public func applyHours(_ rows: [HourRowDelta], groups: [HourGroup]) throws {
        var used = [Bool](repeating: false, count: groups.count)
        for r in rows { used[r.group] = true }
        let ids = try groupIds(groups, used: { used[$0] })
        // In key order: inserts touch neighbouring pages.
        var keyed: [(Int64, Int64, Int)] = []
        keyed.reserveCapacity(rows.count)
        for (k, r) in rows.enumerated() { keyed.append((r.bucket, ids[r.group], k)) }
        keyed.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        let st = hourUp!
        for (b, g, k) in keyed {
            st.bind(1, b); st.bind(2, g); st.bind(3, rows[k].events); st.bind(4, rows[k].anonymousSessions)
            try st.run()
        }
    }

    /// Rows per session insert statement at most (the statements for 1...this many rows are
    /// prepared at first use).
    static let rowsPerSessionInsert = 64

    /// `INSERT` of `n` sessions of one (bucket, grp): ?1 and ?2 are bound once for all rows.
    private func sessionInsert(_ n: Int) throws -> Statement {
        if let st = sessionPuts[n] { return st }
        let rows = (0..<n).map { "(?1, ?2, ?\($0 + 3))" }.joined(separator: ", ")
        let st = try db.prepare("INSERT INTO cat_hour_sessions(bucket, grp, session) VALUES \(rows) ON CONFLICT DO NOTHING")
        sessionPuts[n] = st
        return st
    }

    public func addSessions(_ s: HourSessions, groups: [HourGroup]) throws -> Int {
        let n = s.count
        if n == 0 { return 0 }
        var used = [Bool](repeating: false, count: groups.count)
        for k in s.keys { used[HourSessions.split(k).group] = true }
        let ids = try groupIds(groups, used: { used[$0] })
        // Groups by store id: sorting on (hour, rank) is sorting on (bucket, grp), in 63 bits.
        let byRank = ids.indices.filter { ids[$0] >= 0 }.sorted { ids[$0] < ids[$1] }
        var rank = [UInt64](repeating: 0, count: groups.count)
        for (r, g) in byRank.enumerated() { rank[g] = UInt64(r) }
        // Sorted by the table's key (the session's first 8 bytes big-endian, ties by all of
        // them), the inserts append to the B-tree instead of landing on random pages, and each
        // (bucket, grp) is one run: its rows share statements and its hour row is updated once.
        struct Entry { var key: UInt64; var prefix: UInt64; var session: Int32 }
        let texts = s.texts
        var entries: [Entry] = []
        entries.reserveCapacity(n)
        for i in 0..<n {
            let (h, g) = HourSessions.split(s.keys[i])
            let b = texts.bytes(s.sessions[i])
            var prefix: UInt64 = 0
            if b.count >= 8 {
                prefix = UInt64(bigEndian: UnsafeRawPointer(b.baseAddress!).loadUnaligned(as: UInt64.self))
            } else {
                for j in 0..<b.count { prefix |= UInt64(b[j]) << (56 - 8 * j) }
            }
            entries.append(Entry(key: UInt64(h) << 36 | rank[g], prefix: prefix, session: s.sessions[i]))
        }
        entries.sort { a, b in
            if a.key != b.key { return a.key < b.key }
            if a.prefix != b.prefix { return a.prefix < b.prefix }
            return texts.less(a.session, b.session)
        }
        let most = SQLiteCatalogStore.rowsPerSessionInsert
        var added = 0
        var i = 0
        while i < n {
            let key = entries[i].key
            var end = i + 1
            while end < n && entries[end].key == key { end += 1 }
            let bucket = Int64(key >> 36) * 3600, grp = ids[byRank[Int(key & ((1 << 36) - 1))]]
            // `changes` counts the rows inserted, not those that were there already.
            var runNew = 0
            while i < end {
                let m = min(end - i, most)
                let st = try sessionInsert(m)
                st.bind(1, bucket); st.bind(2, grp)
                for q in 0..<m { st.bindBlobNoCopy(Int32(q + 3), texts.bytes(entries[i + q].session)) }
                try st.run()
                runNew += db.changes
                i += m
            }
            if runNew > 0 {
                sessionsAdd.bind(1, Int64(runNew)); sessionsAdd.bind(2, bucket); sessionsAdd.bind(3, grp)
                try sessionsAdd.run()
                added += runNew
            }
        }
        return added
    }

    public func applyKeys(_ rows: [KeyRowDelta]) throws {
        let st = keyUp!
        for r in rows {
            st.bind(1, r.tenant); st.bind(2, r.app); st.bind(3, r.event); st.bind(4, r.keyPath)
            st.bind(5, r.firstSeen); st.bind(6, r.lastSeen); st.bind(7, r.events)
            for k in 0..<6 { st.bind(Int32(8 + k), r.types[k]) }
            try st.run()
        }
    }

    public func applyVersionKeys(_ rows: [VersionKeyRowDelta]) throws {
        let st = versionKeyUp!
        for r in rows {
            st.bind(1, r.tenant); st.bind(2, r.app); st.bind(3, r.platform); st.bind(4, r.appVersion); st.bind(5, r.event)
            st.bind(6, r.keyPath); st.bind(7, r.firstSeen); st.bind(8, r.lastSeen); st.bind(9, r.events)
            for k in 0..<6 { st.bind(Int32(10 + k), r.types[k]) }
            try st.run()
        }
    }

    // MARK: derived sessions

    public func userSessionStates(_ users: [UserKey]) throws -> [UserSessionState?] {
        try users.map { u in
            userGet.bind(1, u.tenant); userGet.bind(2, u.app); userGet.bind(3, u.user)
            defer { userGet.reset() }
            guard try userGet.step() else { return nil }
            return UserSessionState(lastTime: userGet.int(0), number: userGet.int(1))
        }
    }

    public func saveUserSessionStates(_ users: [UserKey], _ states: [UserSessionState]) throws {
        for (u, s) in zip(users, states) {
            userPut.bind(1, u.tenant); userPut.bind(2, u.app); userPut.bind(3, u.user); userPut.bind(4, s.lastTime); userPut.bind(5, s.number)
            try userPut.run()
        }
    }
}
