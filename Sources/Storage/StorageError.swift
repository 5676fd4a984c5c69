/// The one error type of the Storage module. SQL errors carry the statement text (never the
/// bound values) so a user can see what failed without leaking data.
public enum StorageError: Error, CustomStringConvertible {
    case sqlite(code: Int32, message: String, sql: String?)
    case cannotOpen(path: String, message: String)
    case schema(String)
    case readOnlyViolation(String)
    case invalidQuery(String)
    /// The raw archive could not be written, read or used as asked (`path` is the file or the
    /// archive root).
    case archive(path: String, reason: String)
    /// An archive file disagrees with the manifest (missing, sha256 or row count differs, damaged
    /// gzip): the rows it should hold cannot be trusted.
    case archiveCorrupt(path: String, reason: String)
    /// The archive manifest holds no source with this SHA-256.
    case archiveSourceUnknown(sha256: String)

    public var description: String {
        switch self {
        case let .sqlite(code, message, sql):
            if let sql { return "SQLite error \(code): \(message) (in: \(sql.prefix(300)))" }
            return "SQLite error \(code): \(message)"
        case let .cannotOpen(path, message): return "cannot open store \(path): \(message)"
        case let .schema(m): return "store schema: \(m)"
        case let .readOnlyViolation(m): return m
        case let .invalidQuery(m): return m
        case let .archive(path, reason): return "archive \(path): \(reason)"
        case let .archiveCorrupt(path, reason): return "archive file \(path) fails verification: \(reason)"
        case let .archiveSourceUnknown(sha): return "the archive holds no source with sha256 \(sha)"
        }
    }
}
