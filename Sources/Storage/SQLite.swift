#if canImport(Glibc)
import Glibc
#endif
import CSQLite

let SQLITE_STATIC_PTR = unsafeBitCast(0, to: sqlite3_destructor_type.self)
let SQLITE_TRANSIENT_PTR = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// One SQLite connection (GRDB's shape, on the raw C API so the hot loop pays nothing extra).
/// Not thread-safe: one connection per thread.
public final class Database {
    public let path: String
    let handle: OpaquePointer

    public init(path: String, readOnly: Bool = false) throws {
        self.path = path
        var h: OpaquePointer?
        let flags = readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        let rc = sqlite3_open_v2(path, &h, flags | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let h else {
            let msg = h.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let h { sqlite3_close_v2(h) }
            throw StorageError.cannotOpen(path: path, message: msg)
        }
        handle = h
        sqlite3_busy_timeout(h, 10_000)
        sqlite3_extended_result_codes(h, 1)
    }

    deinit { sqlite3_close_v2(handle) }

    var errorMessage: String { String(cString: sqlite3_errmsg(handle)) }

    /// Runs one or more statements that return no rows.
    public func execute(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &err)
        if rc != SQLITE_OK {
            let msg = err.map { String(cString: $0) } ?? errorMessage
            sqlite3_free(err)
            throw StorageError.sqlite(code: rc, message: msg, sql: sql)
        }
    }

    public func prepare(_ sql: String) throws -> Statement {
        try Statement(db: self, sql: sql)
    }

    /// The first column of the first row, as an integer.
    public func scalarInt(_ sql: String, _ args: [SQLValue] = []) throws -> Int64? {
        let st = try prepare(sql)
        try st.bind(args)
        guard try st.step() else { return nil }
        return st.isNull(0) ? nil : st.int(0)
    }

    public var changes: Int { Int(sqlite3_changes(handle)) }
    public var lastInsertRowid: Int64 { sqlite3_last_insert_rowid(handle) }
    public var isAutocommit: Bool { sqlite3_get_autocommit(handle) != 0 }
}

/// A value to bind or read.
public enum SQLValue: Equatable, Sendable {
    case null
    case int(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// A prepared statement. Bind, step, read columns, reset.
public final class Statement {
    let db: Database
    let handle: OpaquePointer
    public let sql: String

    init(db: Database, sql: String) throws {
        self.db = db
        self.sql = sql
        var h: OpaquePointer?
        let rc = sqlite3_prepare_v3(db.handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &h, nil)
        guard rc == SQLITE_OK, let h else {
            throw StorageError.sqlite(code: rc, message: db.errorMessage, sql: sql)
        }
        handle = h
    }

    deinit { sqlite3_finalize(handle) }

    public var isReadOnly: Bool { sqlite3_stmt_readonly(handle) != 0 }
    public var columnCount: Int { Int(sqlite3_column_count(handle)) }
    public func columnName(_ i: Int) -> String { String(cString: sqlite3_column_name(handle, Int32(i))) }

    @inline(__always) public func bind(_ i: Int32, _ v: Int64) { sqlite3_bind_int64(handle, i, v) }
    @inline(__always) public func bindNull(_ i: Int32) { sqlite3_bind_null(handle, i) }
    public func bind(_ i: Int32, _ s: String) { sqlite3_bind_text(handle, i, s, -1, SQLITE_TRANSIENT_PTR) }
    /// Binds bytes without copying: they must stay valid until the next `step`/`reset`.
    @inline(__always) public func bindBlobNoCopy(_ i: Int32, _ b: UnsafeBufferPointer<UInt8>) {
        sqlite3_bind_blob(handle, i, b.baseAddress ?? UnsafePointer(bitPattern: 1), Int32(b.count), SQLITE_STATIC_PTR)
    }
    @inline(__always) public func bindTextNoCopy(_ i: Int32, _ b: UnsafeBufferPointer<UInt8>) {
        sqlite3_bind_text(handle, i, UnsafeRawPointer(b.baseAddress ?? UnsafePointer(bitPattern: 1)!).assumingMemoryBound(to: CChar.self), Int32(b.count), SQLITE_STATIC_PTR)
    }

    public func bind(_ args: [SQLValue]) throws {
        for (k, a) in args.enumerated() {
            let i = Int32(k + 1)
            switch a {
            case .null: sqlite3_bind_null(handle, i)
            case .int(let v): sqlite3_bind_int64(handle, i, v)
            case .real(let v): sqlite3_bind_double(handle, i, v)
            case .text(let s): sqlite3_bind_text(handle, i, s, -1, SQLITE_TRANSIENT_PTR)
            case .blob(let b): b.withUnsafeBytes { _ = sqlite3_bind_blob(handle, i, $0.baseAddress, Int32(b.count), SQLITE_TRANSIENT_PTR) }
            }
        }
    }

    /// Advances; true when a row is available.
    @inline(__always)
    public func step() throws -> Bool {
        let rc = sqlite3_step(handle)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        let msg = db.errorMessage
        sqlite3_reset(handle)
        throw StorageError.sqlite(code: rc, message: msg, sql: sql)
    }

    /// Steps once to completion and resets (for writes).
    @inline(__always)
    public func run() throws {
        let rc = sqlite3_step(handle)
        if rc != SQLITE_DONE && rc != SQLITE_ROW {
            let msg = db.errorMessage
            sqlite3_reset(handle)
            throw StorageError.sqlite(code: rc, message: msg, sql: sql)
        }
        sqlite3_reset(handle)
    }

    @inline(__always) public func reset() { sqlite3_reset(handle) }
    public func clearBindings() { sqlite3_clear_bindings(handle) }

    @inline(__always) public func int(_ i: Int) -> Int64 { sqlite3_column_int64(handle, Int32(i)) }
    @inline(__always) public func isNull(_ i: Int) -> Bool { sqlite3_column_type(handle, Int32(i)) == SQLITE_NULL }
    public func text(_ i: Int) -> String? {
        guard let p = sqlite3_column_text(handle, Int32(i)) else { return nil }
        let n = Int(sqlite3_column_bytes(handle, Int32(i)))
        return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
    }
    @inline(__always) public func blobEquals(_ i: Int, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        let p = sqlite3_column_blob(handle, Int32(i))
        let n = Int(sqlite3_column_bytes(handle, Int32(i)))
        if n != b.count { return false }
        if n == 0 { return true }
        return memcmp(p!, b.baseAddress!, n) == 0
    }
    public func bytes(_ i: Int) -> [UInt8] {
        let p = sqlite3_column_blob(handle, Int32(i))
        let n = Int(sqlite3_column_bytes(handle, Int32(i)))
        guard n > 0, let p else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: n))
    }

    /// The column as a typed value (for the `sql` subcommand).
    public func value(_ i: Int) -> SQLValue {
        switch sqlite3_column_type(handle, Int32(i)) {
        case SQLITE_INTEGER: return .int(sqlite3_column_int64(handle, Int32(i)))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(handle, Int32(i)))
        case SQLITE_TEXT: return .text(text(i) ?? "")
        case SQLITE_BLOB: return .blob(bytes(i))
        default: return .null
        }
    }
}

/// Named, append-only schema migrations. A migration runs once, in order, inside a transaction,
/// and is recorded by name in `schema_migrations`. Never edit or reorder a landed migration:
/// add a new one.
public struct Migrator {
    public var migrations: [(name: String, sql: String)] = []

    public mutating func register(_ name: String, _ sql: String) { migrations.append((name, sql)) }

    public func migrate(_ db: Database) throws {
        try db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)")
        let applied = try db.prepare("SELECT name FROM schema_migrations")
        var done = Set<String>()
        while try applied.step() { done.insert(applied.text(0) ?? "") }
        let known = Set(migrations.map(\.name))
        if let unknown = done.subtracting(known).sorted().first {
            throw StorageError.schema("the store was written by a newer sellocli (migration \(unknown) is unknown to this version)")
        }
        for m in migrations where !done.contains(m.name) {
            try db.execute("BEGIN IMMEDIATE")
            do {
                try db.execute(m.sql)
                let ins = try db.prepare("INSERT INTO schema_migrations(name, applied_at) VALUES (?, strftime('%s','now'))")
                try ins.bind([.text(m.name)])
                try ins.run()
                try db.execute("COMMIT")
            } catch {
                try? db.execute("ROLLBACK")
                throw error
            }
        }
    }
}
