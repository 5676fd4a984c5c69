#if canImport(Glibc)
import Glibc
#endif

/// Runs store writes on a second thread while the reading thread goes on scanning and
/// aggregating (the two halves of an ingest take about the same time).
///
/// Two lanes, each run in submission order on the worker thread:
/// - `state`: dedupe-state reads and writes. It goes first whenever both lanes have work, so a
///   lookup waits for at most one running stats job, never for the whole stats backlog.
/// - `stats`: stats upserts, in small jobs. They touch tables the state lane never reads, so
///   running state jobs ahead of them changes no result.
///
/// Contract:
/// - `async` blocks while its lane holds more than its bound (`maxStatsWeight`,
///   `maxStateWeight`): memory stays bounded.
/// - `await` runs a job on the worker after every earlier job of its lane and returns its result.
/// - `sync` waits until both lanes are empty and the worker idle, then runs on the calling
///   thread: for everything between files (ledger, watermark, commit).
/// - The first error an `async` job throws is kept; later async jobs are skipped, and the next
///   `sync` or `drain` throws it. `drainDiscardingError` is for rollback paths.
final class StoreWorker {
    enum Lane { case state, stats }

    private final class Job {
        /// Dropped once run, so what the job captured (a batch of rows) is freed at once.
        var run: (() throws -> Void)?
        let weight: Int
        let lane: Lane
        var done = false
        var error: Error?
        let reportsError: Bool
        init(_ run: @escaping () throws -> Void, weight: Int, lane: Lane, reportsError: Bool) {
            self.run = run; self.weight = weight; self.lane = lane; self.reportsError = reportsError
        }
    }

    private var stateJobs: [Job] = []
    private var statsJobs: [Job] = []
    private var stateHead = 0
    private var statsHead = 0
    private var statsWeight = 0
    private var stateWeight = 0
    private var busy = false
    private var stopping = false
    private var failure: Error?
    private let maxStatsWeight: Int
    private let maxStateWeight: Int
    private var mutex = pthread_mutex_t()
    private var workAvailable = pthread_cond_t()
    private var progress = pthread_cond_t()
    private var thread: pthread_t?

    init(maxStatsWeight: Int, maxStateWeight: Int = Int.max) {
        self.maxStatsWeight = maxStatsWeight
        self.maxStateWeight = maxStateWeight
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&workAvailable, nil)
        pthread_cond_init(&progress, nil)
        var t = pthread_t()
        let me = Unmanaged.passUnretained(self).toOpaque()
        let rc = pthread_create(&t, nil, { ctx in
            Unmanaged<StoreWorker>.fromOpaque(ctx!).takeUnretainedValue().loop()
            return nil
        }, me)
        // Without a thread every job runs inline on the caller (same results, one core).
        if rc == 0 { thread = t }
    }

    deinit {
        pthread_mutex_lock(&mutex)
        stopping = true
        pthread_cond_signal(&workAvailable)
        pthread_mutex_unlock(&mutex)
        if let thread { pthread_join(thread, nil) }
        pthread_cond_destroy(&workAvailable)
        pthread_cond_destroy(&progress)
        pthread_mutex_destroy(&mutex)
    }

    /// False when the thread could not be started (every job then runs inline on the caller).
    var isThreaded: Bool { thread != nil }

    private var idle: Bool { stateHead == stateJobs.count && statsHead == statsJobs.count && !busy }

    /// Queues a job; `weight` (e.g. rows) counts against its lane's bound.
    func async(_ lane: Lane, weight: Int = 0, _ job: @escaping () throws -> Void) {
        guard thread != nil else {
            if failure == nil { do { try job() } catch { failure = error } }
            return
        }
        pthread_mutex_lock(&mutex)
        if lane == .stats {
            while statsWeight > 0 && statsWeight + weight > maxStatsWeight { pthread_cond_wait(&progress, &mutex) }
            statsWeight += weight
        } else {
            while stateWeight > 0 && stateWeight + weight > maxStateWeight { pthread_cond_wait(&progress, &mutex) }
            stateWeight += weight
        }
        let j = Job(job, weight: weight, lane: lane, reportsError: false)
        if lane == .state { stateJobs.append(j) } else { statsJobs.append(j) }
        pthread_cond_signal(&workAvailable)
        pthread_mutex_unlock(&mutex)
    }

    /// Runs `job` on the worker after the earlier jobs of `lane`, and returns its result.
    func await<T>(_ lane: Lane, _ job: @escaping () throws -> T) throws -> T {
        var result: T?
        let j = Job({ result = try job() }, weight: 0, lane: lane, reportsError: true)
        guard thread != nil else {
            try j.run?()
            return result!
        }
        pthread_mutex_lock(&mutex)
        if lane == .state { stateJobs.append(j) } else { statsJobs.append(j) }
        pthread_cond_signal(&workAvailable)
        while !j.done { pthread_cond_wait(&progress, &mutex) }
        pthread_mutex_unlock(&mutex)
        if let e = j.error { throw e }
        return result!
    }

    /// Waits for every submitted job; throws the first error an async job threw.
    func drain() throws {
        if let e = waitIdle() { throw e }
    }

    /// Waits for every submitted job and forgets any error (the caller is rolling back).
    func drainDiscardingError() { _ = waitIdle() }

    func sync<T>(_ job: () throws -> T) throws -> T {
        try drain()
        return try job()
    }

    private func waitIdle() -> Error? {
        guard thread != nil else {
            defer { failure = nil }
            return failure
        }
        pthread_mutex_lock(&mutex)
        while !idle { pthread_cond_wait(&progress, &mutex) }
        let e = failure
        failure = nil
        pthread_mutex_unlock(&mutex)
        return e
    }

    private func take() -> Job? {
        if stateHead < stateJobs.count {
            let j = stateJobs[stateHead]
            stateHead += 1
            if stateHead == stateJobs.count { stateJobs.removeAll(keepingCapacity: true); stateHead = 0 }
            return j
        }
        if statsHead < statsJobs.count {
            let j = statsJobs[statsHead]
            statsHead += 1
            if statsHead == statsJobs.count { statsJobs.removeAll(keepingCapacity: true); statsHead = 0 }
            return j
        }
        return nil
    }

    private func loop() {
        pthread_mutex_lock(&mutex)
        while true {
            guard let job = take() else {
                if stopping { break }
                pthread_cond_wait(&workAvailable, &mutex)
                continue
            }
            // An awaited job always runs (its caller gets its own error); a queued write is
            // skipped once an earlier one failed, since the file will be rolled back.
            let skip = failure != nil && !job.reportsError
            busy = true
            pthread_mutex_unlock(&mutex)
            var thrown: Error?
            if !skip { do { try job.run?() } catch { thrown = error } }
            job.run = nil
            pthread_mutex_lock(&mutex)
            if let thrown {
                if job.reportsError { job.error = thrown } else if failure == nil { failure = thrown }
            }
            job.done = true
            if job.lane == .stats { statsWeight -= job.weight } else { stateWeight -= job.weight }
            busy = false
            pthread_cond_broadcast(&progress)
        }
        pthread_mutex_unlock(&mutex)
    }
}
