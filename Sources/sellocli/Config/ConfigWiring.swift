import ArgumentParser

extension StoreOptions {
    /// The effective configuration for this run (`--db` and `--config` from this group, other
    /// flags from `flags`). A bad config prints its error and exits 78 (64 for a bad flag).
    func effectiveConfig(_ flags: ConfigFlags = ConfigFlags(), printWarnings: Bool = false) throws -> EffectiveConfig {
        var f = flags
        f.db = db
        f.config = config
        do {
            let c = try ConfigLoader.load(flags: f)
            if printWarnings { for w in c.warnings { printErr("sellocli: warning: \(w)") } }
            return c
        } catch let e as ConfigError {
            throw failConfig(e)
        }
    }

    /// The tier to read for `--tier`: the given one if configured, else `hour` when configured,
    /// else the narrowest.
    func readTier(_ requested: String?, in config: EffectiveConfig) throws -> String {
        let names = config.tiers.value.map(\.name)
        if let requested {
            guard names.contains(requested) else {
                printErr("sellocli: error: --tier \(requested) is not a configured tier (configured: \(names.joined(separator: ", ")))")
                throw ExitCode(ExitCodes.usage)
            }
            return requested
        }
        return names.contains("hour") ? "hour" : names[0]
    }
}
