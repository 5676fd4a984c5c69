import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

/// Exit codes, decided here and nowhere else.
enum ExitCodes {
    static let ok: Int32 = 0
    /// A file or the store failed.
    static let failure: Int32 = 1
    /// Bad usage (unknown option, invalid value).
    static let usage: Int32 = 64
    /// The store (or archive) is locked by another process (`retain`, `rebuild`, the cron `run`,
    /// an archiving ingest) for longer than `--wait` (EX_TEMPFAIL from sysexits.h: try again
    /// later).
    static let busy: Int32 = 75
    /// A `catalog` report (`new`, `obsolete`, `keys`, `diff`) found at least `--fail-on N`
    /// findings (its rows were still printed), so cron can alert.
    static let findings: Int32 = 3
    /// A bad configuration: config file, `SELLO_*` environment value, or several config files
    /// (EX_CONFIG from sysexits.h).
    static let config: Int32 = 78
}

/// Writes one line to standard error.
func printErr(_ s: String) {
    var line = s
    line.append("\n")
    fputs(line, stderr)
}

/// Maps a library error to a message on stderr and the documented exit code.
func fail(_ error: Error) -> ExitCode {
    printErr("sellocli: error: \(error)")
    return ExitCode(ExitCodes.failure)
}

/// Reports a configuration problem and maps it to its exit code: 64 for a flag value, 78 for a
/// config file or environment value.
func failConfig(_ error: ConfigError) -> ExitCode {
    printErr("sellocli: config error: \(error)")
    return ExitCode(error.isUsage ? ExitCodes.usage : ExitCodes.config)
}
