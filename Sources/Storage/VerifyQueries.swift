import Transforms

/// The store side of `sellocli verify`: the catalog's versions (to resolve the arguments) and the
/// figures of two versions over the same hours (`VerifyInput`), read from the catalog tables.
/// Nothing here judges or prints; `VerifyStages.evaluate` does the judging.
extension SQLiteStore {
    /// Every (tenant, app, platform, app_version) of the catalog with its events, ordered by those.
    public func verifyCatalogVersions() throws -> [VerifyScope.CatalogVersion] {
        let st = try db.prepare("""
            SELECT tenant, app, platform, app_version, SUM(events) FROM cat_catalog
            GROUP BY tenant, app, platform, app_version ORDER BY tenant, app, platform, app_version
            """)
        var out: [VerifyScope.CatalogVersion] = []
        while try st.step() {
            out.append(VerifyScope.CatalogVersion(tenant: st.text(0) ?? "", app: st.text(1) ?? "", platform: st.text(2) ?? "",
                                                  appVersion: st.text(3) ?? "", events: st.int(4)))
        }
        return out
    }

    /// The figures of the scope's baseline and candidate over the compared hours: the hours in
    /// `[from, to)` (either bound optional) in which both versions have events.
    ///
    /// Sessions are exact: distinct session ids over those hours and the version's groups in
    /// `cat_hour_sessions`, plus the events that had neither a session id nor a user id (each its
    /// own session; `cat_hour.sessions` counts them without a row). Key figures and the event
    /// totals they are divided by cover each version's whole history (`cat_keys_version` has no
    /// hours).
    public func verifyInput(_ scope: VerifyScope, from: Int64?, to: Int64?) throws -> VerifyInput {
        let versions = [scope.baseline, scope.candidate]
        let platform: SQLValue = scope.platform.map { .text($0) } ?? .null
        // Groups of both versions: id -> (side, event, screen).
        var groups: [Int64: (side: Int, key: VerifyEventScreen)] = [:]
        let gst = try db.prepare("""
            SELECT id, app_version, event, screen FROM cat_groups
            WHERE tenant = ?1 AND app = ?2 AND (?3 IS NULL OR platform = ?3) AND app_version IN (?4, ?5)
            """)
        try gst.bind([.text(scope.tenant), .text(scope.app), platform, .text(versions[0]), .text(versions[1])])
        while try gst.step() {
            groups[gst.int(0)] = (gst.text(1) == versions[0] ? 0 : 1, VerifyEventScreen(gst.text(2) ?? "", gst.text(3) ?? ""))
        }
        // Hourly rows of those groups in the window (one pass over cat_hour; cat_groups probed by id).
        struct HourRow { var bucket: Int64; var side: Int; var key: VerifyEventScreen; var events: Int64; var sessions: Int64 }
        var hourRows: [HourRow] = []
        let hst = try db.prepare("""
            SELECT h.bucket, h.grp, h.events, h.sessions FROM cat_hour h
            WHERE h.bucket >= ?6 AND h.bucket < ?7 AND h.grp IN (
                SELECT id FROM cat_groups
                WHERE tenant = ?1 AND app = ?2 AND (?3 IS NULL OR platform = ?3) AND app_version IN (?4, ?5))
            """)
        try hst.bind([.text(scope.tenant), .text(scope.app), platform, .text(versions[0]), .text(versions[1]),
                      .int(from ?? Int64.min), .int(to ?? Int64.max)])
        var hoursOf: [Set<Int64>] = [[], []]
        while try hst.step() {
            guard let g = groups[hst.int(1)] else { continue }
            let r = HourRow(bucket: hst.int(0), side: g.side, key: g.key, events: hst.int(2), sessions: hst.int(3))
            if r.events > 0 { hoursOf[r.side].insert(r.bucket) }
            hourRows.append(r)
        }
        let common = hoursOf[0].intersection(hoursOf[1])
        let hours = common.sorted()
        var sides = versions.map { VerifySide(version: $0) }
        var hourSessionSums: [Int64] = [0, 0]
        for r in hourRows where common.contains(r.bucket) {
            sides[r.side].events += r.events
            sides[r.side].screens[r.key, default: 0] += r.events
            hourSessionSums[r.side] += r.sessions
        }
        let hoursJSON = "[" + hours.map(String.init).joined(separator: ",") + "]"
        let sst = try db.prepare("""
            SELECT COUNT(DISTINCT session), COUNT(*) FROM cat_hour_sessions
            WHERE bucket IN (SELECT value FROM json_each(?6)) AND grp IN (
                SELECT id FROM cat_groups WHERE tenant = ?1 AND app = ?2 AND (?3 IS NULL OR platform = ?3) AND app_version = ?4)
            """)
        let hasVersionKeys = (try db.scalarInt(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'cat_keys_version'") ?? 0) > 0
        // Key events of the app in cat_keys beyond those in cat_keys_version: files ingested before
        // keys were kept per version.
        var appKeysIncomplete = false
        let appArgs: [SQLValue] = [.text(scope.tenant), .text(scope.app)]
        let rolled = try db.scalarInt("SELECT COALESCE(SUM(events), 0) FROM cat_keys WHERE tenant = ? AND app = ?", appArgs) ?? 0
        if hasVersionKeys {
            let perVersion = try db.scalarInt(
                "SELECT COALESCE(SUM(events), 0) FROM cat_keys_version WHERE tenant = ? AND app = ?", appArgs) ?? 0
            appKeysIncomplete = rolled > perVersion
        } else {
            appKeysIncomplete = rolled > 0
        }
        for i in 0..<2 {
            let v = versions[i]
            let args: [SQLValue] = [.text(scope.tenant), .text(scope.app), platform, .text(v)]
            if !hours.isEmpty {
                try sst.bind(args + [.null, .text(hoursJSON)])
                _ = try sst.step()
                let distinct = sst.int(0), rows = sst.int(1)
                sst.reset()
                // Events without session and user id: counted in cat_hour.sessions, no row each.
                sides[i].sessions = distinct + (hourSessionSums[i] - rows)
            }
            let est = try db.prepare("""
                SELECT event, SUM(events) FROM cat_catalog
                WHERE tenant = ?1 AND app = ?2 AND (?3 IS NULL OR platform = ?3) AND app_version = ?4 GROUP BY event
                """)
            try est.bind(args)
            while try est.step() { sides[i].historyEvents[est.text(0) ?? "", default: 0] += est.int(1) }
            if hasVersionKeys {
                let kst = try db.prepare("""
                    SELECT event, key_path, SUM(events),
                           SUM(strings), SUM(numbers), SUM(bools), SUM(objects), SUM(arrays), SUM(nulls)
                    FROM cat_keys_version
                    WHERE tenant = ?1 AND app = ?2 AND (?3 IS NULL OR platform = ?3) AND app_version = ?4
                    GROUP BY event, key_path ORDER BY event, key_path
                    """)
                try kst.bind(args)
                while try kst.step() {
                    sides[i].keys.append(VerifyKeyFigures(event: kst.text(0) ?? "", keyPath: kst.text(1) ?? "",
                                                          events: kst.int(2), types: (3...8).map { kst.int($0) }))
                }
            }
            sides[i].keyInventoryMissing = appKeysIncomplete && sides[i].keys.isEmpty && !sides[i].historyEvents.isEmpty
        }
        return VerifyInput(baseline: sides[0], candidate: sides[1], hours: hours, candidateInStore: scope.candidateInStore)
    }
}
