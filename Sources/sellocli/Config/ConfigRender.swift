import Transforms

/// The effective configuration as TOML (a valid config file, sources as comments) or JSON
/// (every value with a `source` field).
extension EffectiveConfig {
    func toml() -> String {
        var out: [String] = ["# sellocli effective configuration: flags > environment (SELLO_*) > config file > defaults"]
        out.append("# config file: " + (file ?? "none"))
        func line(_ key: String, _ value: String, _ source: SettingSource) {
            out.append("\(key) = \(value)  # \(source.text)")
        }
        out.append("")
        line("db", tomlString(db.value), db.source)
        line("dedupe_horizon", tomlString(ConfigLoader.formatDuration(dedupeHorizon.value)), dedupeHorizon.source)
        line("max_reject_rate", "\(maxRejectRate.value)", maxRejectRate.source)
        line("accepted_lateness", tomlString(ConfigLoader.formatDuration(acceptedLateness.value)), acceptedLateness.source)
        out.append("")
        out.append("[archive]")
        line("dir", tomlString(archiveDir.value), archiveDir.source)
        line("partition", tomlString(archivePartition.value.rawValue), archivePartition.source)
        out.append("")
        out.append("[run]")
        line("surge_bytes", tomlString(ConfigLoader.formatBytes(surgeBytes.value)), surgeBytes.source)
        line("wait", tomlString(ConfigLoader.formatDuration(runWait.value)), runWait.source)
        line("interval", tomlString(ConfigLoader.formatDuration(runInterval.value)), runInterval.source)
        out.append("")
        out.append("[catalog]")
        line("session_gap", tomlString(ConfigLoader.formatDuration(catalogSessionGap.value)), catalogSessionGap.source)
        line("ts_unit", tomlString(catalogTsUnit.value.rawValue), catalogTsUnit.source)
        out.append("# mapping: \(catalogMapping.source.text)")
        out.append("[catalog.mapping]")
        for m in catalogMapping.value { out.append("\(tomlKey(m.field)) = \(tomlString(m.path))") }
        out.append("# owners: \(catalogOwners.source.text)")
        out.append("[catalog.owners]")
        for o in catalogOwners.value { out.append("\(tomlKey(o.pattern)) = \(tomlString(o.owner))") }
        out.append("")
        out.append("# tiers (narrowest first): \(tiers.source.text)")
        for t in tiers.value {
            out.append("[[tiers]]")
            out.append("name = \(tomlString(t.name))")
            out.append("width = \(tomlString(ConfigLoader.formatDuration(t.width)))")
            out.append("retention = \(tomlString(t.retention.map(ConfigLoader.formatDuration) ?? "unlimited"))")
        }
        return out.joined(separator: "\n") + "\n"
    }

    func json() -> String {
        func setting(_ value: String, _ source: SettingSource, extra: String = "") -> String {
            "{\"value\": \(value)\(extra), \"source\": \(jsonString(source.text))}"
        }
        func duration(_ s: Setting<Int64>) -> String {
            setting(jsonString(ConfigLoader.formatDuration(s.value)), s.source, extra: ", \"seconds\": \(s.value)")
        }
        var lines: [String] = []
        lines.append("  \"config_file\": \(file.map(jsonString) ?? "null")")
        lines.append("  \"db\": \(setting(jsonString(db.value), db.source))")
        lines.append("  \"dedupe_horizon\": \(duration(dedupeHorizon))")
        lines.append("  \"max_reject_rate\": \(setting("\(maxRejectRate.value)", maxRejectRate.source))")
        lines.append("  \"accepted_lateness\": \(duration(acceptedLateness))")
        lines.append("  \"archive\": {\n    \"dir\": \(setting(jsonString(archiveDir.value), archiveDir.source)),\n    \"partition\": \(setting(jsonString(archivePartition.value.rawValue), archivePartition.source))\n  }")
        lines.append("  \"run\": {\n    \"surge_bytes\": \(setting(jsonString(ConfigLoader.formatBytes(surgeBytes.value)), surgeBytes.source, extra: ", \"bytes\": \(surgeBytes.value)")),\n    \"wait\": \(duration(runWait)),\n    \"interval\": \(duration(runInterval))\n  }")
        let tierItems = tiers.value.map { t in
            "      {\"name\": \(jsonString(t.name)), \"width\": \(jsonString(ConfigLoader.formatDuration(t.width))), \"width_seconds\": \(t.width), "
                + "\"retention\": \(jsonString(t.retention.map(ConfigLoader.formatDuration) ?? "unlimited")), \"retention_seconds\": \(t.retention.map { "\($0)" } ?? "null")}"
        }
        lines.append("  \"tiers\": {\"value\": [\n\(tierItems.joined(separator: ",\n"))\n    ], \"source\": \(jsonString(tiers.source.text))}")
        let mapping = catalogMapping.value.map { "\(jsonString($0.field)): \(jsonString($0.path))" }.joined(separator: ", ")
        let owners = catalogOwners.value.map { "\(jsonString($0.pattern)): \(jsonString($0.owner))" }.joined(separator: ", ")
        lines.append("  \"catalog\": {\n    \"session_gap\": \(duration(catalogSessionGap)),\n    \"ts_unit\": \(setting(jsonString(catalogTsUnit.value.rawValue), catalogTsUnit.source)),\n    \"mapping\": {\"value\": {\(mapping)}, \"source\": \(jsonString(catalogMapping.source.text))},\n    \"owners\": {\"value\": {\(owners)}, \"source\": \(jsonString(catalogOwners.source.text))}\n  }")
        lines.append("  \"warnings\": [\(warnings.map(jsonString).joined(separator: ", "))]")
        return "{\n" + lines.joined(separator: ",\n") + "\n}\n"
    }
}

func tomlString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        default:
            if u.value < 0x20 || u.value == 0x7F { out += unicodeEscape(u.value) } else { out.unicodeScalars.append(u) }
        }
    }
    return out + "\""
}

/// `\uXXXX`.
private func unicodeEscape(_ v: UInt32) -> String {
    let h = String(v, radix: 16, uppercase: true)
    return "\\u" + String(repeating: "0", count: max(0, 4 - h.count)) + h
}

/// A TOML key: bare when it can be, else a basic string.
func tomlKey(_ k: String) -> String {
    if !k.isEmpty && k.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" }) { return k }
    return tomlString(k)
}
