/// The rules of `sellocli verify` (staged roll-out verification): which stages run, their
/// tolerances and floors, and the per-session ratios. `VerifyRules()` holds the defaults; a rules
/// file (YAML or TOML, parsed by the executable into a `VerifyRulesNode` tree) overrides any of
/// them through `VerifyRules.parse`.

/// The stages, in the order they run and print.
public enum VerifyStage: String, CaseIterable, Sendable, Comparable {
    case volume, coverage, mix, ratios, keys

    public static func < (a: VerifyStage, b: VerifyStage) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// The outcome of one check, ordered by severity.
public enum VerifyStatus: Int, CaseIterable, Sendable, Comparable {
    case pass = 0, warn, fail

    public var name: String {
        switch self {
        case .pass: return "PASS"
        case .warn: return "WARN"
        case .fail: return "FAIL"
        }
    }

    public static func < (a: VerifyStatus, b: VerifyStatus) -> Bool { a.rawValue < b.rawValue }
}

/// A tolerance band on the change of a share (mix stage). The band is exceeded when the change
/// is beyond every bound it sets: with both, beyond `points` percentage points AND beyond
/// `relative` (a fraction of the baseline's share). Both bounds together keep a rare event (whose
/// share can double without mattering) and a frequent one (which can move a point without being
/// wrong) from failing on noise. A band with neither bound is never exceeded.
public struct VerifyBand: Sendable, Equatable {
    /// Absolute bound, in percentage points of the share (1 = one point).
    public var points: Double?
    /// Relative bound, as a fraction of the baseline's share (0.25 = 25%).
    public var relative: Double?

    public init(points: Double? = nil, relative: Double? = nil) { self.points = points; self.relative = relative }

    /// Whether a change of `points` percentage points, `relative` of the baseline (infinite when
    /// the baseline is 0), is beyond the band.
    public func exceeded(points dp: Double, relative dr: Double) -> Bool {
        if points == nil && relative == nil { return false }
        if let p = points, !(abs(dp) > p) { return false }
        if let r = relative, !(abs(dr) > r) { return false }
        return true
    }

    /// `> 1pp & 25%`, `> 3pp`, `> 50%`, `none`.
    public var text: String {
        var parts: [String] = []
        if let points { parts.append(VerifyFormat.number(points, decimals: 2, trim: true) + "pp") }
        if let relative { parts.append(VerifyFormat.percent(relative)) }
        return parts.isEmpty ? "none" : "> " + parts.joined(separator: " & ")
    }
}

/// One per-session ratio: events of `event` (on `screen` when set) over the compared hours,
/// divided by the version's distinct sessions over the same hours.
public struct VerifyRatio: Sendable, Equatable {
    public var name: String
    public var event: String
    public var screen: String?
    /// Overrides of the stage's tolerances (relative change of the ratio) and minimum sessions.
    public var warn: Double?
    public var fail: Double?
    public var minSessions: Int64?

    public init(name: String, event: String, screen: String? = nil, warn: Double? = nil, fail: Double? = nil,
                minSessions: Int64? = nil) {
        self.name = name; self.event = event; self.screen = screen
        self.warn = warn; self.fail = fail; self.minSessions = minSessions
    }

    /// The defaults, named after `gen --clickstream`'s events and screens (`ClickstreamShape`):
    /// screen loads, pdp screen loads, clicks and add-to-carts per session.
    public static let defaults: [VerifyRatio] = [
        VerifyRatio(name: "screenLoad_per_session", event: "screenLoad"),
        VerifyRatio(name: "pdp_screenLoad_per_session", event: "screenLoad", screen: "pdp"),
        VerifyRatio(name: "click_per_session", event: "click"),
        VerifyRatio(name: "addToCart_per_session", event: "addToCart"),
    ]
}

/// Every setting of `verify`, with its default.
public struct VerifyRules: Sendable, Equatable {
    /// Stages to run (printed in `VerifyStage` order whatever the order given).
    public var stages: [VerifyStage] = VerifyStage.allCases
    /// Events left out of the coverage, mix and keys stages (and of nothing else: totals and
    /// sessions still count them, and a ratio names its event explicitly).
    public var ignoreEvents: [String] = []

    // volume: the candidate's events and distinct sessions over the compared hours.
    public var volumeMinEvents: Int64 = 100
    public var volumeMinSessions: Int64 = 20

    // coverage: a baseline event (or event on a screen) is checked when, scaled to the
    // candidate's volume (baseline count x candidate events / baseline events), at least this
    // many would be expected; the check fails when the candidate sent none.
    public var coverageMinExpected: Double = 5
    /// Also check (event, screen) combinations, not only events.
    public var coverageScreens = true

    // mix: each event's share of all events.
    public var mixWarn = VerifyBand(points: 1, relative: 0.25)
    public var mixFail = VerifyBand(points: 3, relative: 0.5)

    // ratios: relative change of each per-session ratio, either direction.
    public var ratiosMinSessions: Int64 = 200
    public var ratiosWarn: Double = 0.15
    public var ratiosFail: Double = 0.30
    public var ratios: [VerifyRatio] = VerifyRatio.defaults

    // keys: body keys per (event, key_path), over each version's whole history in the store.
    /// Baseline presence (events carrying the key / events of that event) below this: not checked.
    public var keysMinPresence: Double = 0.05
    /// Checked only when baseline presence x the candidate's events of that event reaches this.
    public var keysMinExpected: Double = 5
    /// Relative drop of presence (0.2 = the candidate carries the key 20% less often).
    public var keysWarn: Double = 0.2
    public var keysFail: Double = 0.5
    /// A JSON type the baseline never sent for the key, at this share or more of the candidate's
    /// type counts, is a type change (a type mix appears).
    public var keysTypeMixMin: Double = 0.01
    /// The status of a type change (dominant type differs, or a type mix appears).
    public var keysTypeChange: VerifyStatus = .fail

    public init() {}

    public func runs(_ s: VerifyStage) -> Bool { stages.contains(s) }
}

/// A rules file as a value tree with line numbers: what the executable's TOML/YAML parsers
/// produce, converted (the parsers live in the executable; this tree keeps Transforms free of
/// them). Tables keep their keys in file order.
public struct VerifyRulesNode: Sendable {
    public indirect enum Kind: Sendable {
        case table([(key: String, line: Int?, value: VerifyRulesNode)])
        case array([VerifyRulesNode])
        case string(String)
        case integer(Int64)
        case float(Double)
        case bool(Bool)
    }

    public var kind: Kind
    /// 1-based line where the value starts, when known.
    public var line: Int?

    public init(_ kind: Kind, line: Int? = nil) { self.kind = kind; self.line = line }

    var typeName: String {
        switch kind {
        case .table: return "a table"
        case .array: return "an array"
        case .string: return "a string"
        case .integer: return "an integer"
        case .float: return "a float"
        case .bool: return "a boolean"
        }
    }
}

extension VerifyRules {
    /// The rules of a parsed rules file: the defaults, overridden by what the file sets.
    ///
    /// Throws `TransformsError.badContent(file:line:reason:)` naming the line and the key path
    /// (`mix.warn.pointz: unknown key; known keys here: points, relative`) for an unknown key, a
    /// value of the wrong type or out of range, an unknown stage, or a bad ratio definition.
    /// Setting `ratios.define` replaces the default ratios (a list of tables with `name`,
    /// `event` and optionally `screen`, `warn`, `fail`, `min_sessions`).
    public static func parse(_ root: VerifyRulesNode, file: String) throws -> VerifyRules {
        var r = VerifyRules()
        let top = RulesCursor(file: file, path: "", node: root)
        let sections = ["stages", "ignore_events", "volume", "coverage", "mix", "ratios", "keys"]
        for (key, c) in try top.entries(allowed: sections) {
            switch key {
            case "stages":
                var seen: [VerifyStage] = []
                for item in try c.array() {
                    let name = try item.string()
                    guard let s = VerifyStage(rawValue: name) else {
                        let all = VerifyStage.allCases.map(\.rawValue).joined(separator: ", ")
                        throw item.error("unknown stage \"\(name)\"; stages: \(all)")
                    }
                    if !seen.contains(s) { seen.append(s) }
                }
                r.stages = seen.sorted()
            case "ignore_events":
                r.ignoreEvents = try c.array().map { try $0.string() }
            case "volume":
                for (k, v) in try c.entries(allowed: ["min_events", "min_sessions"]) {
                    if k == "min_events" { r.volumeMinEvents = try v.count() } else { r.volumeMinSessions = try v.count() }
                }
            case "coverage":
                for (k, v) in try c.entries(allowed: ["min_expected", "screens"]) {
                    if k == "min_expected" { r.coverageMinExpected = try v.nonNegative() }
                    else { r.coverageScreens = try v.bool() }
                }
            case "mix":
                for (k, v) in try c.entries(allowed: ["warn", "fail"]) {
                    var band = VerifyBand()
                    for (bk, bv) in try v.entries(allowed: ["points", "relative"]) {
                        if bk == "points" { band.points = try bv.points() } else { band.relative = try bv.rate() }
                    }
                    if k == "warn" { r.mixWarn = band } else { r.mixFail = band }
                }
            case "ratios":
                for (k, v) in try c.entries(allowed: ["min_sessions", "warn", "fail", "define"]) {
                    switch k {
                    case "min_sessions": r.ratiosMinSessions = try v.count()
                    case "warn": r.ratiosWarn = try v.rate()
                    case "fail": r.ratiosFail = try v.rate()
                    default: r.ratios = try parseRatios(v)
                    }
                }
                // A WARN band wider than the FAIL band would never warn: say so rather than guess.
                for ratio in r.ratios where (ratio.warn ?? r.ratiosWarn) > (ratio.fail ?? r.ratiosFail) {
                    throw c.error("ratio \(ratio.name): warn \(VerifyFormat.percent(ratio.warn ?? r.ratiosWarn)) is above fail "
                                  + VerifyFormat.percent(ratio.fail ?? r.ratiosFail))
                }
            default: // keys
                let allowed = ["min_presence", "min_expected", "warn", "fail", "type_mix_min", "type_change"]
                for (k, v) in try c.entries(allowed: allowed) {
                    switch k {
                    case "min_presence": r.keysMinPresence = try v.rate(max: 1)
                    case "min_expected": r.keysMinExpected = try v.nonNegative()
                    case "warn": r.keysWarn = try v.rate(max: 1)
                    case "fail": r.keysFail = try v.rate(max: 1)
                    case "type_mix_min": r.keysTypeMixMin = try v.rate(max: 1)
                    default:
                        let s = try v.string().lowercased()
                        guard let st = VerifyStatus.allCases.first(where: { $0.name.lowercased() == s }) else {
                            throw v.error("expected pass, warn or fail, got \"\(s)\"")
                        }
                        r.keysTypeChange = st
                    }
                }
                if r.keysWarn > r.keysFail {
                    throw c.error("warn \(VerifyFormat.percent(r.keysWarn)) is above fail \(VerifyFormat.percent(r.keysFail))")
                }
            }
        }
        return r
    }

    private static func parseRatios(_ c: RulesCursor) throws -> [VerifyRatio] {
        var out: [VerifyRatio] = []
        for item in try c.array() {
            var name: String?, event: String?
            var ratio = VerifyRatio(name: "", event: "")
            for (k, v) in try item.entries(allowed: ["name", "event", "screen", "warn", "fail", "min_sessions"]) {
                switch k {
                case "name": name = try v.string()
                case "event": event = try v.string()
                case "screen": ratio.screen = try v.string()
                case "warn": ratio.warn = try v.rate()
                case "fail": ratio.fail = try v.rate()
                default: ratio.minSessions = try v.count()
                }
            }
            guard let name, !name.isEmpty else { throw item.error("a ratio needs a name") }
            guard let event, !event.isEmpty else { throw item.error("ratio \(name) needs an event") }
            if out.contains(where: { $0.name == name }) { throw item.error("ratio \(name) is defined twice") }
            ratio.name = name
            ratio.event = event
            out.append(ratio)
        }
        return out
    }
}

/// A position in a rules tree, for typed reading with errors naming the line and key path.
private struct RulesCursor {
    let file: String
    let path: String
    let node: VerifyRulesNode

    func error(_ message: String, line: Int? = nil) -> TransformsError {
        .badContent(file: file, line: Int64(line ?? node.line ?? 0), reason: (path.isEmpty ? "" : path + ": ") + message)
    }

    private func expected(_ what: String) -> TransformsError { error("expected \(what), got \(node.typeName)") }

    /// The table's entries in file order; a key not in `allowed` is an error naming its line.
    func entries(allowed: [String]) throws -> [(String, RulesCursor)] {
        guard case .table(let t) = node.kind else { throw expected("a table") }
        var out: [(String, RulesCursor)] = []
        for e in t {
            let child = path.isEmpty ? e.key : path + "." + e.key
            guard allowed.contains(e.key) else {
                let known = allowed.joined(separator: ", ")
                throw TransformsError.badContent(file: file, line: Int64(e.line ?? e.value.line ?? 0),
                                                 reason: "\(child): unknown key; known keys here: \(known)")
            }
            out.append((e.key, RulesCursor(file: file, path: child, node: e.value)))
        }
        return out
    }

    func array() throws -> [RulesCursor] {
        guard case .array(let a) = node.kind else { throw expected("an array") }
        return a.enumerated().map { RulesCursor(file: file, path: "\(path)[\($0.offset)]", node: $0.element) }
    }

    func string() throws -> String {
        guard case .string(let s) = node.kind else { throw expected("a string") }
        return s
    }

    func bool() throws -> Bool {
        guard case .bool(let b) = node.kind else { throw expected("true or false") }
        return b
    }

    private func number() -> Double? {
        switch node.kind {
        case .integer(let i): return Double(i)
        case .float(let d): return d
        default: return nil
        }
    }

    /// A whole number, 0 or more.
    func count() throws -> Int64 {
        guard case .integer(let i) = node.kind else { throw expected("a whole number") }
        guard i >= 0 else { throw error("expected 0 or more, got \(i)") }
        return i
    }

    func nonNegative() throws -> Double {
        guard let d = number() else { throw expected("a number") }
        guard d >= 0 else { throw error("expected 0 or more, got \(d)") }
        return d
    }

    /// A rate: `25%` or 0.25, 0 or more (at most `max` when given). A bare number above 1 is an
    /// error rather than a guess: `warn: 10` meaning 10% would otherwise mean 1000%.
    func rate(max: Double? = nil) throws -> Double {
        let v: Double?
        if case .string(let s) = node.kind { v = Arguments.rate(s) } else { v = number() }
        guard let v, v.isFinite, v >= 0 else { throw error("expected a rate like 25% or 0.25, got \(describe)") }
        if case .string = node.kind {} else if v > 1 {
            let d = describe
            throw error("a bare number is a fraction (0.25 = 25%); write \"\(d)%\" for \(d) percent, got \(d)")
        }
        if let max, v > max { throw error("expected a rate of at most \(VerifyFormat.percent(max)), got \(describe)") }
        return v
    }

    /// Percentage points: a number, or text like `1.5pp`.
    func points() throws -> Double {
        var v = number()
        if case .string(let s) = node.kind, s.hasSuffix("pp") { v = Double(s.dropLast(2)) }
        guard let v, v.isFinite, v >= 0 else { throw error("expected percentage points like 1.5 or \"1.5pp\", got \(describe)") }
        return v
    }

    private var describe: String {
        switch node.kind {
        case .string(let s): return "\"\(s)\""
        case .integer(let i): return String(i)
        case .float(let d): return String(d)
        default: return node.typeName
        }
    }
}
