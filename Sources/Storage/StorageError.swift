/// The one error type of the Storage module. SQL errors carry the statement text (never the
/// bound values) so a user can see what failed without leaking data.
public enum StorageError: Error, CustomStringConvertible {
    case sqlite(code: Int32, message: String, sql: String?)
    case cannotOpen(path: String, message: String)
    case schema(String)
    case readOnlyViolation(String)
    case invalidQuery(String)

    public var description: String {
        switch self {
        case let .sqlite(code, message, sql):
            if let sql { return "SQLite error \(code): \(message) (in: \(sql.prefix(300)))" }
            return "SQLite error \(code): \(message)"
        case let .cannotOpen(path, message): return "cannot open store \(path): \(message)"
        case let .schema(m): return "store schema: \(m)"
        case let .readOnlyViolation(m): return m
        case let .invalidQuery(m): return m
        }
    }
}
