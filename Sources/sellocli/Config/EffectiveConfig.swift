import Foundation
import Transforms

/// Where one effective value came from.
enum SettingSource: Equatable {
    case flag(String)
    case env(String)
    case file(String, line: Int?)
    case defaultValue(note: String?)

    var text: String {
        switch self {
        case .flag(let f): return "flag \(f)"
        case .env(let e): return "env \(e)"
        case .file(let p, let l): return l.map { "file \(p):\($0)" } ?? "file \(p)"
        case .defaultValue(let note): return note.map { "default (\($0))" } ?? "default"
        }
    }
}

/// One effective value and its source.
struct Setting<T> {
    var value: T
    var source: SettingSource
}

enum ArchivePartition: String, CaseIterable { case hour, day }

/// The configuration every subcommand runs with: flags > environment (`SELLO_*`) > config file
/// > defaults, each value with its source. Libraries receive plain values taken from it.
struct EffectiveConfig {
    /// The config file read, if any.
    var file: String?
    var db: Setting<String>
    /// Narrowest first.
    var tiers: Setting<[Tier]>
    var dedupeHorizon: Setting<Int64>
    var maxRejectRate: Setting<Double>
    var acceptedLateness: Setting<Int64>
    var archiveDir: Setting<String>
    var archivePartition: Setting<ArchivePartition>
    var surgeBytes: Setting<Int64>
    var runWait: Setting<Int64>
    var runInterval: Setting<Int64>
    /// `[catalog]`: derived-session gap (seconds), bare-number `ts` unit, field mapping
    /// (canonical field -> JSON path) and owners (pattern -> owner, kept for reports).
    var catalogSessionGap = Setting<Int64>(value: ConfigLoader.defaultCatalogSessionGap, source: .defaultValue(note: nil))
    var catalogTsUnit = Setting<TimestampUnit>(value: .auto, source: .defaultValue(note: nil))
    var catalogMapping = Setting<[(field: String, path: String)]>(value: [], source: .defaultValue(note: "each field from its own key"))
    var catalogOwners = Setting<[(pattern: String, owner: String)]>(value: [], source: .defaultValue(note: nil))
    /// Legal but probably unintended settings (printed to stderr by the executable).
    var warnings: [String] = []

    func tier(named name: String) -> Tier? { tiers.value.first { $0.name == name } }
}

/// Values given as flags (nil = not given). Each subcommand fills in the flags it has.
struct ConfigFlags {
    var config: String?
    var db: String?
    var tiers: String?
    var dedupeHorizon: String?
    var maxRejectRate: String?
    var acceptedLateness: String?
    var archiveDir: String?
    var archivePartition: String?
    var surgeBytes: String?
    var runWait: String?
    var runInterval: String?
    var catalogSessionGap: String?
    var catalogTsUnit: String?
}

/// Finds, parses and resolves the configuration.
enum ConfigLoader {
    static let fileNames = ["sello.toml", "sello.yaml", "sello.yml"]

    static let defaultDedupeHorizon: Int64 = 86400
    static let defaultMaxRejectRate = 0.05
    static let defaultSurgeBytes: Int64 = 256 << 20
    static let defaultRunWait: Int64 = 0
    static let defaultRunInterval: Int64 = 60
    static let defaultCatalogSessionGap: Int64 = 1800

    // MARK: the schema (every key a file may hold; anything else is an error)

    static let rootKeys = ["db", "tiers", "dedupe_horizon", "max_reject_rate", "accepted_lateness", "archive", "run", "catalog"]
    static let tierKeys = ["name", "width", "retention"]
    static let archiveKeys = ["dir", "partition"]
    static let runKeys = ["surge_bytes", "wait", "interval"]
    static let catalogKeys = ["session_gap", "ts_unit", "mapping", "owners"]
    static let catalogMappingKeys = ["tenant", "app", "platform", "app_version", "event", "screen", "session_id", "user_id", "ts", "body"]

    /// Loads the effective configuration of this process.
    static func load(flags: ConfigFlags, env: [String: String] = ProcessInfo.processInfo.environment) throws -> EffectiveConfig {
        let env = env.filter { !$0.value.isEmpty }
        let path = try discover(flags: flags, env: env, exists: { FileManager.default.fileExists(atPath: $0) })
        var doc: ConfigValue?
        if let path { doc = try parseFile(path) }
        return try resolve(flags: flags, env: env, file: path, document: doc)
    }

    /// `--config`, else `$SELLO_CONFIG`, else the one of `sello.toml` / `sello.yaml` / `sello.yml`
    /// in the store's directory (the store from `--db`, else `$SELLO_DB`, else `./sello.db`).
    static func discover(flags: ConfigFlags, env: [String: String], exists: (String) -> Bool) throws -> String? {
        if let p = flags.config, !p.isEmpty {
            guard exists(p) else { throw ConfigError(file: p, "no such config file (from --config)") }
            return p
        }
        if let p = env["SELLO_CONFIG"] {
            guard exists(p) else { throw ConfigError(file: p, "no such config file (from $SELLO_CONFIG)") }
            return p
        }
        let store = flags.db ?? env["SELLO_DB"] ?? "sello.db"
        let dir = directory(of: store)
        let found = fileNames.map { join(dir, $0) }.filter(exists)
        if found.count > 1 {
            throw ConfigError("several config files: \(found.joined(separator: ", ")); keep one, or choose with --config")
        }
        return found.first
    }

    /// Reads and parses a config file; the format comes from the extension.
    static func parseFile(_ path: String) throws -> ConfigValue {
        guard let data = FileManager.default.contents(atPath: path) else { throw ConfigError(file: path, "cannot read the config file") }
        guard let text = String(data: data, encoding: .utf8) else { throw ConfigError(file: path, "the config file is not UTF-8 text") }
        return try parse(text, file: path)
    }

    static func parse(_ text: String, file: String) throws -> ConfigValue {
        let lower = file.lowercased()
        let text = text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text
        if lower.hasSuffix(".toml") { return try TOMLSubset.parse(text, file: file) }
        if lower.hasSuffix(".yaml") || lower.hasSuffix(".yml") { return try YAMLSubset.parse(text, file: file) }
        throw ConfigError(file: file, "cannot tell the config format: name the file .toml, .yaml or .yml")
    }

    // MARK: resolution

    /// Applies flags > env > file > defaults. `document` is the parsed file at `file`.
    static func resolve(flags: ConfigFlags, env: [String: String], file: String?, document: ConfigValue?) throws -> EffectiveConfig {
        let fileName = file ?? ""
        let root = ConfigCursor(file: fileName, value: document ?? ConfigValue(.table(ConfigTable()), line: nil))
        guard case .table = root.value.kind else { throw root.error("the config file must hold a table of settings at the top level") }
        try root.checkKeys(rootKeys)
        let archive = try root.child("archive")
        try archive?.checkKeys(archiveKeys)
        let run = try root.child("run")
        try run?.checkKeys(runKeys)
        let catalog = try root.child("catalog")
        try catalog?.checkKeys(catalogKeys)
        let fileDir = file.map(directory(of:)) ?? "."

        func pick<T>(_ flag: String?, _ flagName: String, _ envName: String, _ node: ConfigCursor?, what: String,
                     _ parse: (String) -> T?, fileValue: ((ConfigCursor) throws -> T)? = nil, default def: @autoclosure () -> Setting<T>) throws -> Setting<T> {
            if let flag {
                guard let v = parse(flag) else { throw ConfigError(file: flagName, "expected \(what), got \"\(flag)\"", isUsage: true) }
                return Setting(value: v, source: .flag(flagName))
            }
            if let e = env[envName] {
                guard let v = parse(e) else { throw ConfigError(file: "$\(envName)", "expected \(what), got \"\(e)\"") }
                return Setting(value: v, source: .env(envName))
            }
            if let node {
                let v = try fileValue?(node) ?? node.text(what, parse)
                return Setting(value: v, source: .file(fileName, line: node.line))
            }
            return def()
        }

        let db: Setting<String> = try pick(flags.db, "--db", "SELLO_DB", try root.child("db"), what: "a path", { $0.isEmpty ? nil : $0 },
                                           fileValue: { join(fileDir, try $0.string()) },
                                           default: Setting(value: "sello.db", source: .defaultValue(note: nil)))

        let horizon = try pick(flags.dedupeHorizon, "--dedupe-horizon", "SELLO_DEDUPE_HORIZON", try root.child("dedupe_horizon"),
                               what: "a duration like 24h", parseDuration,
                               default: Setting(value: defaultDedupeHorizon, source: .defaultValue(note: nil)))
        let rate = try pick(flags.maxRejectRate, "--max-reject-rate", "SELLO_MAX_REJECT_RATE", try root.child("max_reject_rate"),
                            what: "a rate between 0 and 1 like 0.05 or 5%", parseRate,
                            fileValue: { c in
                                if case .string = c.value.kind { return try c.text("a rate between 0 and 1 like 0.05 or 5%", parseRate) }
                                let d = try c.number()
                                guard d >= 0, d <= 1 else { throw c.error("expected a rate between 0 and 1 like 0.05 or 5%, got \(d)") }
                                return d
                            },
                            default: Setting(value: defaultMaxRejectRate, source: .defaultValue(note: nil)))
        let lateness = try pick(flags.acceptedLateness, "--accepted-lateness", "SELLO_ACCEPTED_LATENESS", try root.child("accepted_lateness"),
                                what: "a duration like 24h", parseDuration,
                                default: Setting(value: horizon.value, source: .defaultValue(note: "= dedupe_horizon")))
        let archiveDir = try pick(flags.archiveDir, "--archive", "SELLO_ARCHIVE_DIR", try archive?.child("dir"), what: "a directory",
                                  { $0.isEmpty ? nil : $0 }, fileValue: { join(fileDir, try $0.string()) },
                                  default: Setting(value: join(directory(of: db.value), "archive"), source: .defaultValue(note: "beside the store")))
        let partition = try pick(flags.archivePartition, "--archive-partition", "SELLO_ARCHIVE_PARTITION", try archive?.child("partition"),
                                 what: "hour or day", { ArchivePartition(rawValue: $0) },
                                 fileValue: { c in
                                     let s = try c.string()
                                     guard let p = ArchivePartition(rawValue: s) else { throw c.error("expected hour or day, got \"\(s)\"") }
                                     return p
                                 },
                                 default: Setting(value: .hour, source: .defaultValue(note: nil)))
        let surge = try pick(flags.surgeBytes, "--surge-bytes", "SELLO_RUN_SURGE_BYTES", try run?.child("surge_bytes"),
                             what: "a size like 256MB or 1GiB", parseBytes,
                             default: Setting(value: defaultSurgeBytes, source: .defaultValue(note: nil)))
        let wait = try pick(flags.runWait, "--wait", "SELLO_RUN_WAIT", try run?.child("wait"), what: "a duration like 30s", parseDuration,
                            default: Setting(value: defaultRunWait, source: .defaultValue(note: nil)))
        let interval = try pick(flags.runInterval, "--interval", "SELLO_RUN_INTERVAL", try run?.child("interval"),
                                what: "a positive duration like 60s", { parseDuration($0).flatMap { $0 > 0 ? $0 : nil } },
                                default: Setting(value: defaultRunInterval, source: .defaultValue(note: nil)))

        let tiers: Setting<[Tier]>
        if let f = flags.tiers {
            tiers = Setting(value: try parseTierList(f, origin: "--tiers", isUsage: true), source: .flag("--tiers"))
        } else if let e = env["SELLO_TIERS"] {
            tiers = Setting(value: try parseTierList(e, origin: "$SELLO_TIERS", isUsage: false), source: .env("SELLO_TIERS"))
        } else if let node = try root.child("tiers") {
            tiers = Setting(value: try tiersFromFile(node), source: .file(fileName, line: node.line))
        } else {
            tiers = Setting(value: Tier.defaultPolicy, source: .defaultValue(note: nil))
        }

        var c = EffectiveConfig(file: file, db: db, tiers: tiers, dedupeHorizon: horizon, maxRejectRate: rate,
                                acceptedLateness: lateness, archiveDir: archiveDir, archivePartition: partition,
                                surgeBytes: surge, runWait: wait, runInterval: interval)
        c.catalogSessionGap = try pick(flags.catalogSessionGap, "--session-gap", "SELLO_CATALOG_SESSION_GAP", try catalog?.child("session_gap"),
                                       what: "a duration like 30m", parseDuration,
                                       default: Setting(value: defaultCatalogSessionGap, source: .defaultValue(note: nil)))
        c.catalogTsUnit = try pick(flags.catalogTsUnit, "--ts-unit", "SELLO_CATALOG_TS_UNIT", try catalog?.child("ts_unit"),
                                   what: "auto, s or ms", { TimestampUnit(rawValue: $0) },
                                   fileValue: { n in
                                       let s = try n.string()
                                       guard let u = TimestampUnit(rawValue: s) else { throw n.error("expected auto, s or ms, got \"\(s)\"") }
                                       return u
                                   },
                                   default: Setting(value: .auto, source: .defaultValue(note: nil)))
        if let m = try catalog?.child("mapping") {
            try m.checkKeys(catalogMappingKeys)
            var out: [(field: String, path: String)] = []
            for k in try m.table().keys {
                let node = try m.child(k)!
                let path = try node.string()
                if path.isEmpty && k != "body" { throw node.error("a JSON path cannot be empty (only body may be \"\", the whole record)") }
                if path.hasPrefix(".") || path.hasSuffix(".") || path.contains("..") || path.contains("[") {
                    throw node.error("expected a dotted path of object keys like \"context.page.path\", got \"\(path)\"")
                }
                out.append((k, path))
            }
            c.catalogMapping = Setting(value: out, source: .file(fileName, line: m.line))
        }
        if let o = try catalog?.child("owners") {
            var out: [(pattern: String, owner: String)] = []
            for k in try o.table().keys { out.append((k, try o.child(k)!.string())) }
            c.catalogOwners = Setting(value: out, source: .file(fileName, line: o.line))
        }
        c.warnings = warnings(c)
        return c
    }

    // MARK: tiers

    static func tiersFromFile(_ node: ConfigCursor) throws -> [Tier] {
        var out: [(Tier, ConfigCursor)] = []
        for item in try node.array() {
            try item.checkKeys(tierKeys)
            guard let nameNode = try item.child("name") else { throw item.error("a tier needs a name") }
            guard let widthNode = try item.child("width") else { throw item.error("a tier needs a width (e.g. \"15m\")") }
            let name = try nameNode.string()
            if let problem = tierNameProblem(name) { throw nameNode.error(problem) }
            let width = try widthNode.text("a duration like 15m", parseDuration)
            guard width > 0 else { throw widthNode.error("the width must be positive") }
            var retention: Int64?
            if let r = try item.child("retention") {
                retention = try r.text("a duration like 7d, or unlimited", parseRetention)
                if let rv = retention, rv < width { throw r.error("the retention (\(formatDuration(rv))) is shorter than one bucket (\(formatDuration(width)))") }
            }
            let t = Tier(name: name, width: width, retention: retention)
            if let (_, other) = out.first(where: { $0.0.name == name }) { throw nameNode.error("tier \(name) is defined twice (also \(other.path))") }
            if let (o, other) = out.first(where: { $0.0.width == width }) {
                throw widthNode.error("tiers \(o.name) (\(other.path)) and \(name) have the same width \(formatDuration(width))")
            }
            out.append((t, item))
        }
        if out.isEmpty { throw node.error("at least one tier is needed") }
        return out.map(\.0).sorted { $0.width < $1.width }
    }

    /// `name:width[:retention],...`, e.g. `minute:1m:24h,hour:1h:31d,day:1d:unlimited`.
    static func parseTierList(_ s: String, origin: String, isUsage: Bool) throws -> [Tier] {
        func err(_ m: String) -> ConfigError { ConfigError(file: origin, m + " (expected name:width[:retention],... like minute:1m:24h,day:1d:unlimited)", isUsage: isUsage) }
        var out: [Tier] = []
        for part in s.split(separator: ",", omittingEmptySubsequences: false) {
            let f = part.split(separator: ":", omittingEmptySubsequences: false).map { String($0).trimmingCharacters(in: .whitespaces) }
            guard f.count == 2 || f.count == 3 else { throw err("cannot read tier \"\(part)\"") }
            if let p = tierNameProblem(f[0]) { throw err(p) }
            guard let w = parseDuration(f[1]), w > 0 else { throw err("tier \(f[0]): bad width \"\(f[1])\"") }
            var r: Int64?
            if f.count == 3 {
                guard let rr = parseRetention(f[2]) else { throw err("tier \(f[0]): bad retention \"\(f[2])\"") }
                r = rr
                if let rv = r, rv < w { throw err("tier \(f[0]): retention shorter than one bucket") }
            }
            if out.contains(where: { $0.name == f[0] }) { throw err("tier \(f[0]) is defined twice") }
            if out.contains(where: { $0.width == w }) { throw err("two tiers have the width \(formatDuration(w))") }
            out.append(Tier(name: f[0], width: w, retention: r))
        }
        return out.sorted { $0.width < $1.width }
    }

    static func tierNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "a tier name cannot be empty" }
        if name.count > 32 { return "tier name \(name) is longer than 32 characters" }
        if !name.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }) {
            return "tier name \"\(name)\" may hold only a-z, 0-9 and _ (it names the table stats_\(name))"
        }
        return nil
    }

    static func warnings(_ c: EffectiveConfig) -> [String] {
        var w: [String] = []
        let tiers = c.tiers.value
        for t in tiers {
            guard let r = t.retention else { continue }
            if r < c.dedupeHorizon.value {
                w.append("tier \(t.name) keeps \(formatDuration(r)), less than the dedupe horizon (\(formatDuration(c.dedupeHorizon.value))): corrections of older views would land in buckets already dropped")
            }
            if r < c.acceptedLateness.value {
                w.append("tier \(t.name) keeps \(formatDuration(r)), less than the accepted lateness (\(formatDuration(c.acceptedLateness.value))): late events would land in buckets already dropped")
            }
        }
        for (i, a) in tiers.enumerated() {
            for b in tiers[(i + 1)...] where b.width % a.width != 0 {
                w.append("tier \(a.name) (\(formatDuration(a.width))) does not divide tier \(b.name) (\(formatDuration(b.width))): their buckets do not line up")
            }
        }
        return w
    }

    // MARK: value syntax

    static func parseDuration(_ s: String) -> Int64? { Arguments.duration(s.trimmingCharacters(in: .whitespaces)) }

    /// A duration, or `unlimited` (returned as .some(nil)).
    static func parseRetention(_ s: String) -> Int64?? {
        if s == "unlimited" { return .some(nil) }
        guard let d = parseDuration(s), d > 0 else { return nil }
        return .some(d)
    }

    static func parseRate(_ s: String) -> Double? {
        guard let r = Arguments.rate(s.trimmingCharacters(in: .whitespaces)), r >= 0, r <= 1 else { return nil }
        return r
    }

    /// `1048576`, `256MB` (10^6), `1GiB` (2^30), `512 KiB`, `1.5GB`; units are case-insensitive.
    static func parseBytes(_ s: String) -> Int64? {
        let t = s.trimmingCharacters(in: .whitespaces)
        let numEnd = t.firstIndex(where: { !($0.isASCII && ($0.isNumber || $0 == ".")) }) ?? t.endIndex
        guard let n = Double(t[..<numEnd]), n >= 0 else { return nil }
        let unit = t[numEnd...].trimmingCharacters(in: .whitespaces).lowercased()
        let units: [String: Double] = ["": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
                                       "kib": 1024, "mib": 1048576, "gib": 1073741824, "tib": 1099511627776]
        guard let m = units[unit] else { return nil }
        let v = (n * m).rounded(.down)
        guard v < 9e18 else { return nil }
        return Int64(v)
    }

    static func formatDuration(_ s: Int64) -> String {
        if s == 0 { return "0s" }
        var r = s
        var out = ""
        for (u, n) in [("d", Int64(86400)), ("h", 3600), ("m", 60), ("s", 1)] where r >= n {
            out += "\(r / n)\(u)"
            r %= n
        }
        return out
    }

    static func formatBytes(_ b: Int64) -> String {
        for (u, n) in [("TiB", Int64(1) << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] where b >= n && b % n == 0 {
            return "\(b / n)\(u)"
        }
        for (u, n) in [("TB", Int64(1_000_000_000_000)), ("GB", 1_000_000_000), ("MB", 1_000_000), ("kB", 1000)] where b >= n && b % n == 0 {
            return "\(b / n)\(u)"
        }
        return "\(b)"
    }

    // MARK: paths

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    /// `name` relative to `dir` (absolute names unchanged).
    static func join(_ dir: String, _ name: String) -> String {
        if name.hasPrefix("/") || dir == "." { return name }
        return dir.hasSuffix("/") ? dir + name : dir + "/" + name
    }
}
