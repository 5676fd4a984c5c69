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
