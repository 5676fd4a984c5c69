import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

/// The lock every writing housekeeping command (`retain`, `rebuild`, the cron `run`) holds on a
/// store: an exclusive `flock` on the file `<db>.lock` beside it (created when missing, never
/// removed). Released when the value is released or the process ends, whatever the way out.
///
/// `flock` (not fcntl) on purpose: the lock belongs to the open file description, so another
/// process, or a shell (`flock -n sello.db.lock true`), sees it; a crash releases it.
final class StoreLock {
    let path: String
    private var fd: Int32

    /// Why a lock could not be taken.
    enum Failure: Error, CustomStringConvertible {
        /// Another process holds it for longer than the wait.
        case busy(path: String, waited: Int64)
        case cannotOpen(path: String, reason: String)

        var description: String {
            switch self {
            case let .busy(path, waited):
                let w = waited > 0 ? "after waiting \(ConfigLoader.formatDuration(waited))" : "(--wait 0)"
                return "the store is busy: another process holds \(path) \(w); try again later, or wait with --wait 60s"
            case let .cannotOpen(path, reason): return "cannot open the lock file \(path): \(reason)"
            }
        }
    }

    /// The lock file of the store at `db`.
    static func path(forStore db: String) -> String { db + ".lock" }

    /// Takes the lock of the store at `db`, trying every 100 ms for up to `wait` seconds (0: once).
    init(store db: String, wait: Int64) throws {
        path = StoreLock.path(forStore: db)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Failure.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let deadline = Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9 + Double(max(0, wait))
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            if e == EINTR { continue }
            guard e == EWOULDBLOCK else {
                close(fd)
                throw Failure.cannotOpen(path: path, reason: String(cString: strerror(e)))
            }
            clock_gettime(CLOCK_MONOTONIC, &ts)
            if Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9 >= deadline {
                close(fd)
                throw Failure.busy(path: path, waited: max(0, wait))
            }
            usleep(100_000)
        }
        self.fd = fd
    }

    /// Releases the lock (also done on deinit).
    func release() {
        if fd >= 0 { close(fd); fd = -1 }
    }

    deinit { release() }
}

extension StoreLock {
    /// Takes the lock, or prints why not and throws the exit code: 75 when busy, 1 otherwise.
    static func acquire(store db: String, wait: Int64) throws -> StoreLock {
        do {
            return try StoreLock(store: db, wait: wait)
        } catch let f as Failure {
            printErr("sellocli: error: \(f)")
            if case .busy = f { throw ExitCode(ExitCodes.busy) }
            throw ExitCode(ExitCodes.failure)
        }
    }
}

/// `--wait S`: how long to wait for a busy store (or archive) before exit 75.
struct WaitOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("How long to wait for a busy store before giving up with exit 75 (e.g. 30s, 5m; 0 = fail at once).", valueName: "duration"))
    var wait: String = "0"

    var seconds: Int64 { ConfigLoader.parseDuration(wait) ?? 0 }

    func validate() throws {
        guard ConfigLoader.parseDuration(wait) != nil else { throw ValidationError("--wait: cannot read \(wait) as a duration (e.g. 30s, 5m, 0)") }
    }
}
