import Dispatch
import XCTest
@testable import Transforms
#if canImport(Glibc)
import Glibc
#endif

/// The store thread: order within a lane, the state lane ahead of queued stats jobs, errors
/// surfacing at the next wait.
final class StoreWorkerTests: XCTestCase {
    /// A log written by jobs on the worker and read after `drain` (which orders the accesses).
    final class Log { var events: [String] = [] }
    struct Boom: Error {}

    func testJobsOfALaneRunInOrderAndDrainWaitsForAll() throws {
        let w = StoreWorker(maxStatsWeight: 10)
        let log = Log()
        for i in 0..<100 { w.async(.stats, weight: 1) { log.events.append("s\(i)") } }
        for i in 0..<100 { w.async(.state) { log.events.append("p\(i)") } }
        try w.drain()
        XCTAssertEqual(log.events.filter { $0.hasPrefix("s") }, (0..<100).map { "s\($0)" })
        XCTAssertEqual(log.events.filter { $0.hasPrefix("p") }, (0..<100).map { "p\($0)" })
    }

    func testStateLaneGoesAheadOfQueuedStatsJobs() throws {
        let w = StoreWorker(maxStatsWeight: 100)
        let log = Log()
        let started = DispatchSemaphore(value: 0)
        w.async(.stats, weight: 1) { started.signal(); usleep(300_000); log.events.append("slow stats") }
        // Queue the rest only once the slow job runs (else the worker may pick the lookup first).
        started.wait()
        for i in 0..<5 { w.async(.stats, weight: 1) { log.events.append("stats \(i)") } }
        let answer = try w.await(.state) { () -> Int in log.events.append("lookup"); return 42 }
        XCTAssertEqual(answer, 42)
        try w.drain()
        // The lookup waited for the running job only, not for the five queued behind it.
        XCTAssertEqual(log.events.first, "slow stats")
        XCTAssertEqual(log.events[1], "lookup")
        XCTAssertEqual(log.events.count, 7)
    }

    /// Each lane's queue is bounded by weight: a writer blocks until the worker has taken
    /// enough, so queued rows (memory) stay bounded however fast they are produced.
    func testEachLaneBlocksTheWriterAtItsBound() throws {
        for lane in [StoreWorker.Lane.state, .stats] {
            let w = StoreWorker(maxStatsWeight: 10, maxStateWeight: 10)
            let gate = DispatchSemaphore(value: 0)
            let started = DispatchSemaphore(value: 0)
            w.async(lane, weight: 4) { started.signal(); gate.wait() }
            started.wait()
            // The running job still counts: 4 + 6 fills the lane, the next one must wait.
            w.async(lane, weight: 6) {}
            let queued = DispatchSemaphore(value: 0)
            DispatchQueue.global().async { w.async(lane, weight: 1) {}; queued.signal() }
            XCTAssertEqual(queued.wait(timeout: .now() + 0.3), .timedOut, "\(lane): queued past the bound")
            gate.signal()
            XCTAssertEqual(queued.wait(timeout: .now() + 10), .success, "\(lane): never unblocked")
            try w.drain()
        }
    }

    func testAnAsyncErrorSkipsLaterWritesAndSurfacesAtTheNextWait() throws {
        let w = StoreWorker(maxStatsWeight: 10)
        let log = Log()
        w.async(.stats, weight: 1) { throw Boom() }
        w.async(.stats, weight: 1) { log.events.append("after the failure") }
        XCTAssertThrowsError(try w.drain()) { XCTAssertTrue($0 is Boom) }
        XCTAssertEqual(log.events, [], "a write queued after a failed one must not run")
        // The error is reported once; the worker then runs new jobs again.
        w.async(.state) { log.events.append("next file") }
        try w.drain()
        XCTAssertEqual(log.events, ["next file"])
    }

    func testAwaitReturnsItsOwnErrorWithoutPoisoningTheQueue() throws {
        let w = StoreWorker(maxStatsWeight: 10)
        XCTAssertThrowsError(try w.await(.state) { () -> Int in throw Boom() })
        XCTAssertNoThrow(try w.drain())
    }

    func testSyncRunsOnlyOnceTheWorkerIsIdle() throws {
        let w = StoreWorker(maxStatsWeight: 1 << 20)
        let log = Log()
        for i in 0..<50 { w.async(.stats, weight: 1000) { usleep(1000); log.events.append("s\(i)") } }
        let seen = try w.sync { log.events.count }
        XCTAssertEqual(seen, 50)
    }
}
