/// Staged roll-out verification (`sellocli verify`): the figures of two versions of one app, and
/// the evaluation of the five stages over them. Pure: no store, no printing. The store side
/// (`SQLiteStore.verifyInput`) gathers the figures; the executable prints the checks.

/// An (event, screen) pair.
public struct VerifyEventScreen: Hashable, Sendable, Comparable {
    public var event: String
    public var screen: String
    public init(_ event: String, _ screen: String) { self.event = event; self.screen = screen }
    public static func < (a: VerifyEventScreen, b: VerifyEventScreen) -> Bool {
        a.event != b.event ? a.event < b.event : a.screen < b.screen
    }
}

/// One body key path of one event, for one version: events carrying it and the JSON type counts
/// (by `JSONKind.rawValue`: string, number, bool, object, array, null).
public struct VerifyKeyFigures: Sendable, Equatable {
    public var event: String
    public var keyPath: String
    public var events: Int64
    public var types: [Int64]
    public init(event: String, keyPath: String, events: Int64, types: [Int64]) {
        self.event = event; self.keyPath = keyPath; self.events = events; self.types = types
    }
}

/// What the stages know about one version.
///
/// `events`, `sessions` and `screens` cover the compared hours only; `historyEvents` and `keys`
/// cover the version's whole history in the store (the key inventory has no hours), so a key's
/// presence is the version's events carrying it over all of that version's events of the event.
public struct VerifySide: Sendable {
    public var version: String
    /// Events over the compared hours.
    public var events: Int64
    /// Exact distinct sessions over the compared hours (a session in several hours counts once).
    public var sessions: Int64
    /// Events per (event, screen) over the compared hours.
    public var screens: [VerifyEventScreen: Int64]
    /// Events per event over the whole history (the denominators of key presence).
    public var historyEvents: [String: Int64]
    public var keys: [VerifyKeyFigures]
    /// The version has events but no per-version key rows at all, while the app has key rows:
    /// its files were ingested before keys were kept per version.
    public var keyInventoryMissing: Bool

    public init(version: String, events: Int64 = 0, sessions: Int64 = 0, screens: [VerifyEventScreen: Int64] = [:],
                historyEvents: [String: Int64] = [:], keys: [VerifyKeyFigures] = [], keyInventoryMissing: Bool = false) {
        self.version = version; self.events = events; self.sessions = sessions; self.screens = screens
        self.historyEvents = historyEvents; self.keys = keys; self.keyInventoryMissing = keyInventoryMissing
    }

    /// Events per event over the compared hours.
    public var eventCounts: [String: Int64] {
        var d: [String: Int64] = [:]
        for (k, v) in screens { d[k.event, default: 0] += v }
        return d
    }
}

/// The figures of both versions, over the same hours.
public struct VerifyInput: Sendable {
    public var baseline: VerifySide
    public var candidate: VerifySide
    /// The compared hours (bucket starts, ascending).
    public var hours: [Int64]
    /// Whether the candidate has any event in the store at all (whatever the hours).
    public var candidateInStore: Bool

    public init(baseline: VerifySide, candidate: VerifySide, hours: [Int64], candidateInStore: Bool = true) {
        self.baseline = baseline; self.candidate = candidate; self.hours = hours; self.candidateInStore = candidateInStore
    }
}

/// One check's row: what was compared, the verdict and the numbers behind it (as text, formatted
/// by `VerifyFormat`, so every output format prints the same figures).
public struct VerifyCheck: Sendable, Equatable {
    public var stage: VerifyStage
    public var check: String
    public var status: VerifyStatus
    public var baseline: String
    public var candidate: String
    public var change: String
    public var threshold: String
    public var note: String

    public init(_ stage: VerifyStage, _ check: String, _ status: VerifyStatus, baseline: String, candidate: String,
                change: String, threshold: String, note: String = "") {
        self.stage = stage; self.check = check; self.status = status; self.baseline = baseline; self.candidate = candidate
        self.change = change; self.threshold = threshold; self.note = note
    }

    public static let columns = ["stage", "check", "status", "baseline", "candidate", "change", "threshold", "note"]
}

/// The outcome of a verification: checks in print order (stage, then a fixed order within each
/// stage) and notes (checks skipped under a floor, stages skipped) for stderr.
public struct VerifyReport: Sendable {
    public var checks: [VerifyCheck] = []
    public var notes: [String] = []
    public init() {}

    public func count(_ s: VerifyStatus) -> Int { checks.filter { $0.status == s }.count }
    /// The worst status, PASS when there are no checks.
    public var status: VerifyStatus { checks.map(\.status).max() ?? .pass }
    /// `2 FAIL, 1 WARN, 14 PASS`.
    public var summary: String { "\(count(.fail)) FAIL, \(count(.warn)) WARN, \(count(.pass)) PASS" }
}

/// The stages of `sellocli verify`.
///
/// Contract: `evaluate` is a function of its input and rules only; the same input gives the same
/// checks in the same order. Every check compares the candidate with the baseline:
/// 1. volume: the candidate's events and sessions reach the minimums (FAIL below).
/// 2. coverage: each event, and each (event, screen), of the baseline that the candidate would be
///    expected to send at least `coverageMinExpected` times at its volume: FAIL when it sent none.
/// 3. mix: each event's share of all events (either version's events): WARN/FAIL beyond the bands.
/// 4. ratios: each per-session ratio, relative change either way; WARN "too few sessions" when
///    either version has fewer sessions than the minimum; WARN when the baseline's ratio is 0.
/// 5. keys: per (event, key_path) the baseline carries at or above the presence floor: presence
///    drop (FAIL when dropped), and type (dominant non-null JSON type differs, or a type the
///    baseline never sent appears at `keysTypeMixMin` or more). Presence of a nested path is
///    among the events carrying its parent path (`items[].qty` among those with `items[]`).
/// When the candidate has no events in the compared hours, only volume is judged (FAIL).
public enum VerifyStages {
    public static func evaluate(_ input: VerifyInput, rules: VerifyRules) -> VerifyReport {
        var rep = VerifyReport()
        let b = input.baseline, c = input.candidate
        if rules.runs(.volume) { volume(b, c, input, rules, &rep) }
        let rest = VerifyStage.allCases.filter { $0 != .volume && rules.runs($0) }
        if c.events == 0 || b.events == 0 {
            if !rest.isEmpty {
                let why = !input.candidateInStore ? "the candidate \(c.version) has no events in the store"
                    : input.hours.isEmpty ? "there is no hour in which both versions have events"
                    : c.events == 0 ? "the candidate \(c.version) has no events in the compared hours"
                    : "the baseline \(b.version) has no events in the compared hours"
                rep.notes.append("stages \(rest.map(\.rawValue).joined(separator: ", ")) skipped: \(why)")
            }
            return rep
        }
        if rules.runs(.coverage) { coverage(b, c, rules, &rep) }
        if rules.runs(.mix) { mix(b, c, rules, &rep) }
        if rules.runs(.ratios) { ratios(b, c, rules, &rep) }
        if rules.runs(.keys) { keys(b, c, rules, &rep) }
        return rep
    }

    // MARK: volume

    private static func volume(_ b: VerifySide, _ c: VerifySide, _ input: VerifyInput, _ rules: VerifyRules,
                               _ rep: inout VerifyReport) {
        let note: String
        if !input.candidateInStore { note = "the candidate \(c.version) has no events in the store" }
        else if input.hours.isEmpty { note = "no hour in which both versions have events" }
        else { note = "" }
        let figures = [("events", b.events, c.events, rules.volumeMinEvents),
                       ("sessions", b.sessions, c.sessions, rules.volumeMinSessions)]
        for (name, bv, cv, min) in figures {
            let ok = cv >= min
            let n = !note.isEmpty ? note : ok ? "" : "the candidate has \(cv) \(name), fewer than \(min)"
            rep.checks.append(VerifyCheck(.volume, name, ok ? .pass : .fail, baseline: String(bv), candidate: String(cv),
                                          change: VerifyFormat.times(Double(cv), Double(bv)), threshold: ">= \(min)", note: n))
        }
    }

    // MARK: coverage

    private static func coverage(_ b: VerifySide, _ c: VerifySide, _ rules: VerifyRules, _ rep: inout VerifyReport) {
        let scale = Double(c.events) / Double(b.events)
        let be = b.eventCounts, ce = c.eventCounts
        let threshold = "sent when expected >= \(VerifyFormat.number(rules.coverageMinExpected, decimals: 1, trim: true))"
        var below = 0
        func check(_ name: String, _ bn: Int64, _ cn: Int64) {
            let expected = Double(bn) * scale
            guard expected >= rules.coverageMinExpected else { below += 1; return }
            let ok = cn > 0
            let e = VerifyFormat.number(expected, decimals: 1)
            rep.checks.append(VerifyCheck(.coverage, name, ok ? .pass : .fail, baseline: String(bn), candidate: String(cn),
                                          change: VerifyFormat.relative(Double(cn), expected), threshold: threshold,
                                          note: ok ? "expected \(e)" : "not sent; expected \(e) at the candidate's volume"))
        }
        let screensByEvent = Dictionary(grouping: b.screens.keys, by: \.event)
        for event in be.keys.sorted() where !rules.ignoreEvents.contains(event) {
            check(event, be[event]!, ce[event] ?? 0)
            guard rules.coverageScreens else { continue }
            for es in screensByEvent[event, default: []].sorted() {
                check("\(event) on \(VerifyFormat.quotedIfEmpty(es.screen))", b.screens[es]!, c.screens[es] ?? 0)
            }
        }
        if below > 0 {
            let floor = VerifyFormat.number(rules.coverageMinExpected, decimals: 1, trim: true)
            rep.notes.append("coverage: \(below) rare baseline event(s)/combination(s) not checked: fewer than "
                             + "\(floor) expected at the candidate's volume")
        }
    }

    // MARK: mix

    private static func mix(_ b: VerifySide, _ c: VerifySide, _ rules: VerifyRules, _ rep: inout VerifyReport) {
        let be = b.eventCounts, ce = c.eventCounts
        let events = Set(be.keys).union(ce.keys).filter { !rules.ignoreEvents.contains($0) }.sorted()
        let threshold = "WARN \(rules.mixWarn.text), FAIL \(rules.mixFail.text)"
        for e in events {
            let bs = Double(be[e] ?? 0) / Double(b.events), cs = Double(ce[e] ?? 0) / Double(c.events)
            let dp = (cs - bs) * 100
            let dr = bs > 0 ? cs / bs - 1 : (cs > 0 ? Double.infinity : 0)
            let status: VerifyStatus = rules.mixFail.exceeded(points: dp, relative: dr) ? .fail
                : rules.mixWarn.exceeded(points: dp, relative: dr) ? .warn : .pass
            var note = ""
            if be[e] == nil { note = "only the candidate sends it" }
            else if ce[e] == nil { note = "the candidate does not send it" }
            let change = VerifyFormat.signed(dp, decimals: 2) + "pp (" + VerifyFormat.relative(cs, bs) + ")"
            rep.checks.append(VerifyCheck(.mix, e, status, baseline: VerifyFormat.share(bs), candidate: VerifyFormat.share(cs),
                                          change: change, threshold: threshold, note: note))
        }
    }

    // MARK: ratios

    private static func ratios(_ b: VerifySide, _ c: VerifySide, _ rules: VerifyRules, _ rep: inout VerifyReport) {
        func numerator(_ s: VerifySide, _ r: VerifyRatio) -> Int64 {
            if let screen = r.screen { return s.screens[VerifyEventScreen(r.event, screen)] ?? 0 }
            return s.screens.reduce(0) { $0 + ($1.key.event == r.event ? $1.value : 0) }
        }
        for r in rules.ratios {
            let warn = r.warn ?? rules.ratiosWarn, fail = r.fail ?? rules.ratiosFail
            let minS = r.minSessions ?? rules.ratiosMinSessions
            let bn = numerator(b, r), cn = numerator(c, r)
            let bv = b.sessions > 0 ? Double(bn) / Double(b.sessions) : 0
            let cv = c.sessions > 0 ? Double(cn) / Double(c.sessions) : 0
            let what = r.screen.map { "\(r.event) on \(VerifyFormat.quotedIfEmpty($0))" } ?? r.event
            var status: VerifyStatus
            var note = "\(what): \(bn) / \(b.sessions) sessions vs \(cn) / \(c.sessions)"
            let rel = bv > 0 ? cv / bv - 1 : (cv > 0 ? Double.infinity : 0)
            if b.sessions < minS || c.sessions < minS {
                status = .warn
                let few = b.sessions < minS && c.sessions < minS ? "baseline \(b.sessions), candidate \(c.sessions) < \(minS)"
                    : b.sessions < minS ? "\(b.sessions) < \(minS) (baseline)" : "\(c.sessions) < \(minS) (candidate)"
                note = "too few sessions: \(few); " + note
            } else if bn == 0 {
                status = .warn
                note = "the baseline sends no \(what): check the ratio's event and screen names; " + note
            } else {
                status = abs(rel) > fail ? .fail : abs(rel) > warn ? .warn : .pass
            }
            rep.checks.append(VerifyCheck(.ratios, r.name, status, baseline: VerifyFormat.number(bv, decimals: 3),
                                          candidate: VerifyFormat.number(cv, decimals: 3), change: VerifyFormat.relative(cv, bv),
                                          threshold: "WARN > \(VerifyFormat.percent(warn)), FAIL > \(VerifyFormat.percent(fail))",
                                          note: note))
        }
    }

    // MARK: keys

    static let typeNames = ["string", "number", "bool", "object", "array", "null"]

    /// `number 84% / string 16%` (largest first, ties by type order); `-` when no types.
    public static func typeHistogram(_ types: [Int64]) -> String {
        let total = types.reduce(0, +)
        guard total > 0 else { return "-" }
        let order = types.indices.filter { types[$0] > 0 }.sorted { types[$0] != types[$1] ? types[$0] > types[$1] : $0 < $1 }
        return order.map { typeNames[$0] + " " + VerifyFormat.percent(Double(types[$0]) / Double(total)) }
            .joined(separator: " / ")
    }

    /// The non-null type with the largest count (ties: the first in type order), nil when none.
    /// Null is left out: a nullable key whose nulls go from 55% to 45% has not changed type.
    static func dominant(_ types: [Int64]) -> Int? {
        var best: Int?
        let null = Int(JSONKind.null.rawValue)
        for i in types.indices where i != null && types[i] > 0 && (best == nil || types[i] > types[best!]) { best = i }
        return best
    }

    /// The path a key path hangs from: `items[].qty` -> `items[]`, `items[]` -> `items`,
    /// `filters.price.min` -> `filters.price`; nil for a top-level key.
    public static func parentPath(_ path: String) -> String? {
        if path.hasSuffix("[]") { return String(path.dropLast(2)) }
        guard let dot = path.lastIndex(of: ".") else { return nil }
        return String(path[..<dot])
    }

    private static func keys(_ b: VerifySide, _ c: VerifySide, _ rules: VerifyRules, _ rep: inout VerifyReport) {
        for (side, label) in [(b, "baseline"), (c, "candidate")] where side.keyInventoryMissing {
            let note = "no per-version key data for the \(label) \(side.version): its files were ingested before keys "
                + "were kept per version; re-ingest them into a new store to compare keys"
            rep.checks.append(VerifyCheck(.keys, "key inventory", .warn, baseline: "", candidate: "", change: "", threshold: "",
                                          note: note))
        }
        if b.keyInventoryMissing || c.keyInventoryMissing { return }
        func index(_ s: VerifySide) -> [String: VerifyKeyFigures] {
            var d: [String: VerifyKeyFigures] = [:]
            for k in s.keys { d[k.event + "\u{0}" + k.keyPath] = k }
            return d
        }
        let bKeys = index(b), cKeys = index(c)
        // Presence of a nested key counts among the events carrying its parent, so a parent sent
        // less often (or dropped) is one finding, not one per child.
        func base(_ s: VerifySide, _ keys: [String: VerifyKeyFigures], _ k: VerifyKeyFigures) -> Int64 {
            if let p = parentPath(k.keyPath) { return keys[k.event + "\u{0}" + p]?.events ?? 0 }
            return s.historyEvents[k.event] ?? 0
        }
        let presenceThreshold = "WARN drop > \(VerifyFormat.percent(rules.keysWarn)), "
            + "FAIL drop > \(VerifyFormat.percent(rules.keysFail))"
        let typeThreshold = "same dominant type; no new type >= \(VerifyFormat.percent(rules.keysTypeMixMin))"
        var below = 0
        let sorted = b.keys.sorted { $0.event != $1.event ? $0.event < $1.event : $0.keyPath < $1.keyPath }
        for bk in sorted where !rules.ignoreEvents.contains(bk.event) {
            // An event the candidate never sends is coverage's finding, not a key's.
            guard (b.historyEvents[bk.event] ?? 0) > 0, (c.historyEvents[bk.event] ?? 0) > 0 else { continue }
            let bOf = base(b, bKeys, bk)
            let ck = cKeys[bk.event + "\u{0}" + bk.keyPath]
            let cOf = ck.map { base(c, cKeys, $0) } ?? parentPath(bk.keyPath).map { cKeys[bk.event + "\u{0}" + $0]?.events ?? 0 }
                ?? (c.historyEvents[bk.event] ?? 0)
            guard bOf > 0 else { below += 1; continue }
            let bp = Double(bk.events) / Double(bOf)
            let expected = bp * Double(cOf)
            guard bp >= rules.keysMinPresence, expected >= rules.keysMinExpected else { below += 1; continue }
            let cp = Double(ck?.events ?? 0) / Double(cOf)
            let drop = 1 - cp / bp
            let status: VerifyStatus = ck == nil || drop > rules.keysFail ? .fail : drop > rules.keysWarn ? .warn : .pass
            let of = parentPath(bk.keyPath).map { "events with \($0)" } ?? "\(bk.event) events"
            let e = VerifyFormat.number(expected, decimals: 1)
            let note = ck == nil ? "dropped: the candidate never sends it (expected in \(e) of \(of))"
                : "\(bk.events) of \(bOf) \(of) vs \(ck!.events) of \(cOf)"
            rep.checks.append(VerifyCheck(.keys, "\(bk.event): \(bk.keyPath) (presence)", status,
                                          baseline: VerifyFormat.percent(bp), candidate: VerifyFormat.percent(cp),
                                          change: VerifyFormat.relative(cp, bp), threshold: presenceThreshold, note: note))
            // Types are judged on enough candidate events only (a handful flips any histogram).
            guard let ck else { continue }
            guard Double(ck.events) >= rules.keysMinExpected else { below += 1; continue }
            let bt = bk.types, ct = ck.types
            let cTyped = ct.reduce(0, +)
            var changes: [String] = []
            if let bd = dominant(bt), let cd = dominant(ct), bd != cd {
                changes.append("dominant type \(typeNames[bd]) -> \(typeNames[cd])")
            }
            for i in ct.indices where bt[i] == 0 && ct[i] > 0 && Double(ct[i]) >= rules.keysTypeMixMin * Double(cTyped) {
                changes.append("\(typeNames[i]) appears (\(VerifyFormat.percent(Double(ct[i]) / Double(cTyped))))")
            }
            let mixedBoth = bt.filter { $0 > 0 }.count > 1 && ct.filter { $0 > 0 }.count > 1
            let tnote = !changes.isEmpty ? changes.joined(separator: "; ")
                : mixedBoth ? "mixed types in both versions (not a change)" : ""
            rep.checks.append(VerifyCheck(.keys, "\(bk.event): \(bk.keyPath) (type)",
                                          changes.isEmpty ? .pass : rules.keysTypeChange,
                                          baseline: typeHistogram(bt), candidate: typeHistogram(ct),
                                          change: changes.isEmpty ? "same" : "changed", threshold: typeThreshold, note: tnote))
        }
        if below > 0 {
            let floor = VerifyFormat.number(rules.keysMinExpected, decimals: 1, trim: true)
            rep.notes.append("keys: \(below) check(s) of baseline key paths not made: presence below "
                             + "\(VerifyFormat.percent(rules.keysMinPresence)), or fewer than \(floor) events expected in the "
                             + "candidate")
        }
    }
}

/// The resolved (tenant, app, platform) of a verification and what the catalog knows of it.
public struct VerifyScope: Sendable, Equatable {
    public var tenant: String
    public var app: String
    /// nil: every platform of the app (a version number shared by platforms is compared across
    /// them together).
    public var platform: String?
    public var baseline: String
    public var candidate: String
    /// Whether the candidate version has any event in this scope.
    public var candidateInStore: Bool

    /// `myntra/shop/android` or `myntra/shop` (all platforms).
    public var label: String { [tenant, app, platform].compactMap { $0 }.joined(separator: "/") }

    /// One row of the catalog, rolled up to (tenant, app, platform, app_version).
    public struct CatalogVersion: Sendable, Equatable {
        public var tenant, app, platform, appVersion: String
        public var events: Int64
        public init(tenant: String, app: String, platform: String, appVersion: String, events: Int64) {
            self.tenant = tenant; self.app = app; self.platform = platform; self.appVersion = appVersion; self.events = events
        }
    }

    /// Resolves the arguments against the catalog's versions. Throws
    /// `TransformsError.invalidArgument` naming what exists when the app, tenant, platform or
    /// baseline version is not in the catalog, when the app exists in several tenants and no
    /// tenant is given, or when baseline and candidate are the same. A candidate that is not in
    /// the catalog is not an error: the volume stage fails it.
    public static func resolve(app: String, tenant: String?, platform: String?, baseline: String, candidate: String,
                               catalog: [CatalogVersion]) throws -> VerifyScope {
        func list(_ xs: [String]) -> String { Array(Set(xs)).sorted().joined(separator: ", ") }
        func bad(_ message: String) -> TransformsError { .invalidArgument(message) }
        if baseline == candidate { throw bad("the baseline and candidate versions are both \(baseline)") }
        let ofApp = catalog.filter { $0.app == app }
        guard !ofApp.isEmpty else {
            let apps = list(catalog.map { "\($0.tenant)/\($0.app)" })
            throw bad("app \(app) is not in the catalog"
                      + (apps.isEmpty ? " (the catalog is empty)" : "; apps (tenant/app): \(apps)"))
        }
        let t: String
        if let tenant {
            guard ofApp.contains(where: { $0.tenant == tenant }) else {
                throw bad("app \(app) has no tenant \(tenant); its tenants: \(list(ofApp.map(\.tenant)))")
            }
            t = tenant
        } else {
            let tenants = Set(ofApp.map(\.tenant))
            guard tenants.count == 1 else {
                throw bad("app \(app) exists in several tenants (\(list(Array(tenants)))): choose one with --tenant")
            }
            t = tenants.first!
        }
        var rows = ofApp.filter { $0.tenant == t }
        if let platform {
            guard rows.contains(where: { $0.platform == platform }) else {
                throw bad("\(t)/\(app) has no platform \(platform); its platforms: \(list(rows.map(\.platform)))")
            }
            rows = rows.filter { $0.platform == platform }
        }
        let scope = VerifyScope(tenant: t, app: app, platform: platform, baseline: baseline, candidate: candidate,
                                candidateInStore: rows.contains { $0.appVersion == candidate })
        guard rows.contains(where: { $0.appVersion == baseline }) else {
            var events: [String: Int64] = [:]
            for r in rows { events[r.appVersion, default: 0] += r.events }
            let versions = events.keys.sorted().map { "\($0) (\(events[$0]!) events)" }.joined(separator: ", ")
            throw bad("the baseline version \(baseline) has no events in \(scope.label); versions: \(versions)")
        }
        return scope
    }
}

/// Deterministic number formatting for verify's rows (no locale, no Foundation): fixed decimals,
/// rounded half away from zero.
public enum VerifyFormat {
    /// `3.279` (`decimals` places); `trim` drops trailing zeros and a trailing point.
    public static func number(_ x: Double, decimals: Int, trim: Bool = false) -> String {
        guard x.isFinite else { return x > 0 ? "inf" : x < 0 ? "-inf" : "nan" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let v = (x * scale).rounded()
        let neg = v < 0
        let n = Int64(abs(v))
        let unit = Int64(scale)
        var s = String(n / unit)
        if decimals > 0 {
            var frac = String(n % unit)
            while frac.count < decimals { frac = "0" + frac }
            if trim { while frac.hasSuffix("0") { frac.removeLast() } }
            if !frac.isEmpty { s += "." + frac }
        }
        return (neg && n != 0 ? "-" : "") + s
    }

    /// With a sign: `+1.25`, `-0.50`, `0.00`.
    public static func signed(_ x: Double, decimals: Int) -> String {
        let s = number(x, decimals: decimals)
        return s.hasPrefix("-") || Double(s) == 0 ? s : "+" + s
    }

    /// A fraction as a percentage, one decimal, trailing `.0` dropped: `84.2%`, `25%`.
    public static func percent(_ x: Double) -> String { number(x * 100, decimals: 1, trim: true) + "%" }

    /// A share with two decimals: `2.26%`.
    public static func share(_ x: Double) -> String { number(x * 100, decimals: 2) + "%" }

    /// The relative change from `base` to `value`: `+12.3%`, `-100%`; `new` from 0; `0%` from 0 to 0.
    public static func relative(_ value: Double, _ base: Double) -> String {
        if base == 0 { return value == 0 ? "0%" : "new" }
        return signed((value / base - 1) * 100, decimals: 1).replacingZeroFraction() + "%"
    }

    /// The candidate's size as a fraction of the baseline's: `x0.224`.
    public static func times(_ value: Double, _ base: Double) -> String {
        base == 0 ? (value == 0 ? "x0" : "new") : "x" + number(value / base, decimals: 3)
    }

    /// `""` for an empty screen name, so it stays visible in a row.
    public static func quotedIfEmpty(_ s: String) -> String { s.isEmpty ? "\"\"" : s }
}

private extension String {
    /// `-100.0` -> `-100`, `+0.0` -> `0`.
    func replacingZeroFraction() -> String {
        var s = self
        if s.hasSuffix(".0") { s.removeLast(2) }
        if s == "+0" || s == "-0" { s = "0" }
        return s
    }
}
