import ArgumentParser
import Foundation
import Transforms
#if canImport(Glibc)
import Glibc
#endif

/// The signal that asked replay to stop (0: none). Written by the signal handler only.
nonisolated(unsafe) private var replayStopSignal: Int32 = 0

/// `sellocli replay`: drop split's window files into an inbox, one window per interval.
struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Deliver split's window files into an inbox directory, one window per interval.",
        usage: """
        sellocli replay --from <dir> --to <dir> [--interval <duration>]
                        [--speed <x>] [--move] [--after <time>]
        """,
        discussion: """
        Imitates Sellometer's web servers: every --interval, all the files of the next
        time window (every server's file of that window) appear in INBOX, in window
        order. The first window is delivered at once. --speed X divides the interval;
        --interval 0 delivers as fast as possible. A window that takes longer than the
        interval to deliver is followed at once by the next, and the schedule
        continues from there.

        Only files named as split writes them, YYYY-MM-DDTHH-MM-SSZ.s<k>.csv or
        .csv.gz, are delivered; anything else in --from (unparsable.csv, dot-files,
        other files) is ignored and counted.

        Each file appears atomically: it is copied to a dot-file inside INBOX
        (.NAME.part-PID), fsynced, then renamed to its own name, so a reader that
        skips dot-files never sees a partial file. Copy is the default and --from is
        never changed; --move moves the files instead (a rename, atomic on one
        filesystem; across filesystems a copy as above, then the source is removed). A
        file of the same name already in INBOX is replaced. INBOX is created if
        missing.

        A progress line per window goes to standard error. SIGINT (Ctrl-C) or SIGTERM
        stops cleanly: the window being delivered is finished, none is started after
        it, and the last line says which windows were delivered; --after resumes after
        the last one.

        Examples:

          A day compressed 30:1 and cut per minute, replayed in real time (a window
          a minute):
            sellocli split --every 1m --servers 4 --gzip -o minutes oct-30x.csv.gz
            sellocli replay --from minutes --to inbox --interval 60s

          Ten times faster (a window every 6 s), moving the files:
            sellocli replay --from minutes --to inbox --interval 60s --speed 10 --move

          Everything at once, e.g. for a test:
            sellocli replay --from minutes --to inbox --interval 0

          Resume after an interrupted run whose last delivered window was 00:41:
            sellocli replay --from minutes --to inbox --after 2019-10-01T00:41:00Z

        Exit status: 0 when every window was delivered; 1 when a file cannot be read,
        copied or renamed (the windows before it stay delivered); 64 for invalid
        options; 130 after SIGINT and 143 after SIGTERM (stopped cleanly between
        windows).
        """
    )

    @Option(name: .long, help: ArgumentHelp("The directory split wrote.", valueName: "dir"))
    var from: String

    @Option(name: .long, help: ArgumentHelp("The inbox directory the files are delivered to (created if missing).", valueName: "dir"))
    var to: String

    @Option(name: .long, help: ArgumentHelp("Time between two windows (e.g. 60s, 1m; 0 for no wait).", valueName: "duration"))
    var interval: String = "60s"

    @Option(name: .long, help: ArgumentHelp("Divide the interval by this (e.g. 10 for ten times faster).", valueName: "x"))
    var speed: Double = 1

    @Flag(name: .long, help: "Move the files instead of copying them.")
    var move = false

    @Option(name: .long, help: ArgumentHelp("Only windows starting after this time (to resume).", valueName: "time"))
    var after: String?

    func validate() throws {
        guard Arguments.duration(interval) != nil else {
            throw ValidationError("--interval: cannot read '\(interval)' as a duration (e.g. 60s, 1m, 0)")
        }
        guard speed > 0 && speed.isFinite else { throw ValidationError("--speed must be a number above 0, got \(speed)") }
        if let after, Arguments.time(after) == nil {
            throw ValidationError("--after: cannot read '\(after)' as a UTC time (e.g. 2019-10-01T00:41:00Z)")
        }
        guard !from.isEmpty, !to.isEmpty else { throw ValidationError("--from and --to need directories") }
    }

    func run() throws {
        let period = Double(Arguments.duration(interval)!) / speed
        var plan: ReplayPlan
        let replayer: Replayer
        do {
            plan = try ReplayPlan.scan(directory: from)
            if let after, let t = Arguments.time(after) { plan.windows.removeAll { $0.start <= t } }
            replayer = try Replayer(plan: plan, inbox: to, period: period, move: move)
        } catch {
            throw fail(error)
        }
        let fileCount = plan.windows.reduce(0) { $0 + $1.files.count }
        var head = "sellocli replay: \(plan.windows.count) window(s), \(fileCount) file(s) from \(from) to \(to), "
            + (period == 0 ? "no wait" : "every \(String(format: "%.3g", period)) s") + (move ? ", moving" : ", copying")
        if !plan.ignored.isEmpty { head += "; ignored \(plan.ignored.count) other file(s) (e.g. \(plan.ignored[0]))" }
        printErr(head)

        replayStopSignal = 0
        signal(SIGINT) { replayStopSignal = $0 }
        signal(SIGTERM) { replayStopSignal = $0 }
        let clock = ProcessInfo.processInfo.systemUptime
        var lastWindow: Int64?
        var files = 0
        var bytes: Int64 = 0
        let delivered: Int
        do {
            delivered = try replayer.run(shouldStop: { replayStopSignal != 0 }, progress: { d in
                lastWindow = d.start
                files += d.files
                bytes += d.bytes
                printErr("  window \(Format.iso8601(d.start)): \(d.files) file(s), \(d.bytes) bytes (\(d.index)/\(d.total))")
            })
        } catch {
            signal(SIGINT, SIG_DFL)
            signal(SIGTERM, SIG_DFL)
            printErr("sellocli replay: stopped by an error after \(lastWindow.map(Format.iso8601) ?? "no window")")
            throw fail(error)
        }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
        let secs = ProcessInfo.processInfo.systemUptime - clock
        let verb = move ? "moved" : "copied"
        let sig = replayStopSignal
        if delivered < plan.windows.count && sig != 0 {
            let name = sig == SIGINT ? "SIGINT" : "SIGTERM"
            printErr("sellocli replay: stopped by \(name): \(delivered) of \(plan.windows.count) window(s) delivered (\(files) file(s), \(bytes) bytes \(verb)), "
                + "last \(lastWindow.map(Format.iso8601) ?? "none"); resume with --after \(lastWindow.map(Format.iso8601) ?? "(none)")")
            throw ExitCode(128 + sig)
        }
        printErr("sellocli replay: \(delivered) window(s) delivered, \(files) file(s), \(bytes) bytes \(verb) in \(String(format: "%.2f", secs)) s")
    }
}
