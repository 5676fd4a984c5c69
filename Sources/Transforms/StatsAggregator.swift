#if canImport(Glibc)
import Glibc
#endif
import CSupport

/// Sums events into one delta table per tier and hands full tables to the store thread (a dry
/// run only counts them), either inline or on a thread of its own. Events go into the narrowest
/// tier's table; a wider tier whose width a narrower one divides sums that tier's drained rows
/// (an hour row is the sum of its minute rows), so only events beyond a tier's retention skip it.
///
/// Why a thread: summing five keys per event into tables of tens of MB is a third of a scan's
/// time. With `threaded`, `add` only appends the event to a batch, and this thread sums the
/// batches in order while the reading thread goes on; each tier's table fills at the same event
/// either way, so each tier's writes are the same, in the same order (only the interleaving of
/// different tiers' flushes differs).
///
/// Contract:
/// - `add`, `finish` and `reset` come from one thread (the ingestor's).
/// - `keptFrom` and `threaded` change only between `finish` (or `reset`) and the next `add`.
/// - `finish` sums everything added, hands every table to the store (queued on `worker`'s
///   stats lane) and returns the stat rows changed since the last `finish` or `reset`.
/// - `reset` forgets everything added since the last `finish`; once it returns, nothing more
///   reaches the store thread from this aggregator.
final class StatsAggregator {
    /// One event's (or one correction's) share: 48 bytes.
    struct Event {
        var time: Int64
        var priceCents: Int64
        var productId: Int64
        var brand: Int32, l1: Int32, l2: Int32, l3: Int32
        var eventType: UInt8
        var sign: Int8
    }

    private let tierWidths: [Int64]
    /// Per tier, the first bucket retention kept (Int64.min: all kept): older buckets are gone
    /// and a late event must not re-create them.
    var keptFrom: [Int64]
    private let tables: [StatsAccumulator]
    /// Tiers summed from events (the narrowest, and any tier no narrower one divides).
    private let roots: [Int]
    /// The root when there is one (as there is for nested tiers), and its table: read per event
    /// without the retain and release an array's element costs.
    private let onlyRoot: Int
    private unowned(unsafe) let rootTable: StatsAccumulator
    private static let placeholder = StatsAccumulator(limit: 16)
    /// Per tier, the tiers summed from its drained rows instead of from events.
    ///
    /// Why: summing every event into every tier was 15 table updates an event, the summing
    /// thread's whole time. A drained minute row carries several events (3.5 on the 5 M
    /// benchmark), so the hour table gets a third of the updates, and the day table fewer still.
    private let children: [[Int]]
    /// All tiers, narrowest first: the order of a final flush, so that each tier's rows reach
    /// the wider tiers before those flush.
    private let narrowestFirst: [Int]
    private let dryRun: Bool
    private let store: IngestStore
    private let worker: StoreWorker
    /// Rows handed to the store (or counted) since the last `finish`; the summing thread's.
    private var rowsChanged: Int64 = 0

    /// Sum on the thread (only when it runs: without it, everything is inline).
    var threaded = false {
        didSet { if threaded && thread == nil { threaded = false } }
    }

    // Batches: the ingestor fills `batches[fill]`; the thread sums queued ones in order.
    // Views come in bursts (an eviction's new views, in time order, about 400 K on the 5 M
    // benchmark): a ring of 3 made the reading thread wait 1.9 s of a 6 s dry run while this
    // thread sat idle 3.9 s between bursts; 32 batches (24 MB, touched only when threaded)
    // cut the wait to 0.3 s.
    private static let batchSize = 1 << 14
    private static let ring = 32
    private let batches: UnsafeMutablePointer<Event>
    private var counts = [Int](repeating: 0, count: StatsAggregator.ring)
    private var fill = 0
    private var fillCount = 0
    /// Queued batches: `queued` of them from `next`, the thread's.
    private var next = 0, queued = 0
    private var busy = false, flushWanted = false, stopping = false
    private var mutex = pthread_mutex_t()
    private var changed = pthread_cond_t()
    private var thread: pthread_t?

    init(tierWidths: [Int64], statsBatch: Int, dryRun: Bool, store: IngestStore, worker: StoreWorker) {
        self.tierWidths = tierWidths
        keptFrom = [Int64](repeating: Int64.min, count: tierWidths.count)
        // Each tier sums from the widest narrower tier whose width divides its own, else from
        // the events.
        var parent = [Int?](repeating: nil, count: tierWidths.count)
        for j in tierWidths.indices {
            for i in tierWidths.indices where tierWidths[i] < tierWidths[j] && tierWidths[j] % tierWidths[i] == 0 {
                if parent[j].map({ tierWidths[i] > tierWidths[$0] }) ?? true { parent[j] = i }
            }
        }
        children = tierWidths.indices.map { i in tierWidths.indices.filter { parent[$0] == i } }
        roots = tierWidths.indices.filter { parent[$0] == nil }
        onlyRoot = roots.count == 1 ? roots[0] : -1
        narrowestFirst = tierWidths.indices.sorted { tierWidths[$0] < tierWidths[$1] }
        // The finest tier gets the full batch; on the 5 M benchmark file this cut the upserts
        // from 13.9 M to 12.4 M (9.8 M rows) against one shared table of the same size.
        let finest = tierWidths.min() ?? 0
        tables = tierWidths.map { StatsAccumulator(limit: $0 == finest ? statsBatch : max(16, statsBatch / 4)) }
        // `tables` keeps it alive (a placeholder when there is no single root, never used).
        rootTable = onlyRoot >= 0 ? tables[onlyRoot] : StatsAggregator.placeholder
        self.dryRun = dryRun
        self.store = store
        self.worker = worker
        batches = .allocate(capacity: StatsAggregator.batchSize * StatsAggregator.ring)
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&changed, nil)
        // Only beside a store thread: without one, stats jobs would run here, on the store's
        // connection, while the ingestor uses it.
        guard worker.isThreaded else { return }
        var t = pthread_t()
        let me = Unmanaged.passUnretained(self).toOpaque()
        if pthread_create(&t, nil, { ctx in
            Unmanaged<StatsAggregator>.fromOpaque(ctx!).takeUnretainedValue().loop()
            return nil
        }, me) == 0 { thread = t }
    }

    deinit {
        stop()
        batches.deallocate()
        pthread_cond_destroy(&changed)
        pthread_mutex_destroy(&mutex)
    }

    @inline(__always)
    func add(_ et: UInt8, _ t: Int64, _ price: Int64, _ pid: Int64, _ brand: Int32, _ l1: Int32, _ l2: Int32, _ l3: Int32, _ sign: Int8) {
        add(Event(time: t, priceCents: price, productId: pid, brand: brand, l1: l1, l2: l2, l3: l3, eventType: et, sign: sign))
    }

    @inline(__always)
    func add(_ e: Event) {
        guard threaded else {
            sum(e)
            if full { flush(onlyFull: true) }
            return
        }
        batches[fill * StatsAggregator.batchSize + fillCount] = e
        fillCount += 1
        if fillCount == StatsAggregator.batchSize { submit(flush: false) }
    }

    /// Ends the thread (the owner's deinit calls it: the running thread holds a reference to
    /// this object, and with it the store, which would never close). Sums inline afterwards.
    func stop() {
        guard let t = thread else { return }
        pthread_mutex_lock(&mutex)
        stopping = true
        pthread_cond_broadcast(&changed)
        pthread_mutex_unlock(&mutex)
        pthread_join(t, nil)
        thread = nil
        threaded = false
    }

    /// Sums and hands over everything; returns the rows changed since the last call.
    func finish() -> Int64 {
        if threaded {
            submit(flush: true)
            waitIdle()
        } else {
            flush(onlyFull: false)
        }
        defer { rowsChanged = 0 }
        return rowsChanged
    }

    /// The rows handed to the store since the last call or `finish`, summing inline (a thread
    /// may be behind the adds).
    func takeRowsChanged() -> Int64 {
        precondition(!threaded, "takeRowsChanged while summing on a thread")
        defer { rowsChanged = 0 }
        return rowsChanged
    }

    /// Forgets what was added since the last `finish`.
    func reset() {
        if thread != nil {
            pthread_mutex_lock(&mutex)
            // Batches not yet taken are dropped; the next one queued is the one being filled.
            queued = 0
            flushWanted = false
            while busy { pthread_cond_wait(&changed, &mutex) }
            next = fill
            pthread_mutex_unlock(&mutex)
        }
        fillCount = 0
        for t in tables { t.reset() }
        rowsChanged = 0
    }

    // MARK: the ingestor's side

    private func submit(flush: Bool) {
        pthread_mutex_lock(&mutex)
        // The batch being filled is never one the thread reads: wait for a free one.
        while queued + (busy ? 1 : 0) >= StatsAggregator.ring - 1 { pthread_cond_wait(&changed, &mutex) }
        counts[fill] = fillCount
        queued += 1
        if flush { flushWanted = true }
        pthread_cond_broadcast(&changed)
        pthread_mutex_unlock(&mutex)
        fill = (fill + 1) % StatsAggregator.ring
        fillCount = 0
    }

    private func waitIdle() {
        pthread_mutex_lock(&mutex)
        while queued > 0 || busy || flushWanted { pthread_cond_wait(&changed, &mutex) }
        pthread_mutex_unlock(&mutex)
    }

    // MARK: the summing thread

    private func loop() {
        // Below the reading thread: three threads share two cores, and the reading thread is
        // the one a dry run waits for (this one keeps up with slack). 10 interleaved dry runs of
        // the 5 M file: median 4.35 s against 4.58 s.
        sello_nice_thread(5)
        pthread_mutex_lock(&mutex)
        while true {
            if queued == 0 {
                if stopping { break }
                pthread_cond_wait(&changed, &mutex)
                continue
            }
            let b = next, n = counts[b]
            next = (next + 1) % StatsAggregator.ring
            queued -= 1
            let flushAll = queued == 0 && flushWanted
            busy = true
            pthread_mutex_unlock(&mutex)
            sumBatch(batches + b * StatsAggregator.batchSize, n)
            if flushAll { flush(onlyFull: false) }
            pthread_mutex_lock(&mutex)
            if flushAll { flushWanted = false }
            busy = false
            pthread_cond_broadcast(&changed)
        }
        pthread_mutex_unlock(&mutex)
    }

    // MARK: summing (inline or on the thread)

    @inline(__always)
    private func sum(_ e: Event) {
        if onlyRoot >= 0 {
            add(onlyRoot, e, rootTable)
        } else {
            for ti in roots { add(ti, e, tables[ti]) }
        }
    }

    /// Sums a batch one tier at a time. A table fills at the same event as when summing event
    /// by event, so every tier's writes are the same.
    private func sumBatch(_ base: UnsafeMutablePointer<Event>, _ n: Int) {
        for ti in roots {
            let acc = tables[ti]
            for i in 0..<n {
                add(ti, base[i], acc)
                if acc.isFull { flush(tier: ti) }
            }
        }
    }

    @inline(__always)
    private static func bucket(_ t: Int64, _ w: Int64) -> Int64 {
        var b = t - t % w
        if t < 0 && t % w != 0 { b -= w }
        return b
    }

    /// Adds one event to a tier's table; an event in a bucket retention no longer keeps goes to
    /// the tiers summed from this one, directly.
    @inline(__always)
    private func add(_ ti: Int, _ e: Event, _ acc: StatsAccumulator) {
        let b = StatsAggregator.bucket(e.time, tierWidths[ti])
        if b < keptFrom[ti] {
            addBeyondRetention(ti, e)
            return
        }
        let sign = Int64(e.sign)
        let value = e.priceCents * sign
        let head = StatDelta.head(bucket: b, eventType: e.eventType, dimension: 0)
        acc.add(head: head, key: e.productId, events: sign, value: value)
        acc.add(head: head | 1, key: Int64(e.brand), events: sign, value: value)
        acc.add(head: head | 2, key: Int64(e.l1), events: sign, value: value)
        acc.add(head: head | 3, key: Int64(e.l2), events: sign, value: value)
        acc.add(head: head | 4, key: Int64(e.l3), events: sign, value: value)
    }

    @inline(never)
    private func addBeyondRetention(_ ti: Int, _ e: Event) {
        for c in children[ti] {
            add(c, e, tables[c])
            if tables[c].isFull { flush(tier: c) }
        }
    }

    /// A dry run's drain: removes a tier's entries below `keepFrom`, adds them to the tiers
    /// summed from it, and returns how many rows they are.
    private func drop(_ tier: Int, keepFrom: Int64) -> Int {
        guard let up = rollUp(from: tier) else { return tables[tier].discard(keepFrom: keepFrom) }
        return tables[tier].discard(keepFrom: keepFrom, up)
    }

    /// What a drain of `tier` passes each row to (nil when no tier sums from it): each wider
    /// tier's `add(_:row:_:)`. Taking rows from a table while adding to (and maybe flushing) a
    /// wider one is safe: a flush of a wider tier reaches only tiers wider still.
    ///
    /// Rows come oldest bucket first, so a wider bucket's table stays in the cache while its
    /// narrower buckets are added to it.
    private func rollUp(from tier: Int) -> ((StatDelta) -> Void)? {
        let wider = children[tier]
        if wider.isEmpty { return nil }
        if wider.count == 1 {
            let c = wider[0], acc = tables[c]
            return { d in self.add(c, row: d, acc) }
        }
        return { d in for c in wider { self.add(c, row: d, self.tables[c]) } }
    }

    /// Adds a drained row of a narrower tier to tier `ti` (or, in a bucket retention no longer
    /// keeps, to the tiers summed from it).
    private func add(_ ti: Int, row d: StatDelta, _ acc: StatsAccumulator) {
        let b = StatsAggregator.bucket(d.bucket, tierWidths[ti])
        if b < keptFrom[ti] {
            for c in children[ti] { add(c, row: d, tables[c]) }
            return
        }
        acc.add(head: b << 24 | (d.head & 0xFF_FFFF), key: d.key, events: d.events, value: d.valueCents)
        if acc.isFull { flush(tier: ti) }
    }

    /// True when some tier's table is full.
    private var full: Bool {
        for t in tables where t.isFull { return true }
        return false
    }

    /// Hands the sums to the store thread: every tier's, or with `onlyFull` the full tables'.
    private func flush(onlyFull: Bool) {
        for ti in narrowestFirst where tables[ti].count > 0 && (!onlyFull || tables[ti].isFull) {
            flush(tier: ti, all: !onlyFull)
        }
    }

    /// Deltas on their way to the store thread (shared by its jobs, freed after the last).
    private final class DeltaBatch {
        let deltas: [StatDelta]
        init(_ d: [StatDelta]) { deltas = d }
    }

    /// Hands a tier's sums to the store. A full table keeps its newer buckets, about half of it
    /// (see `StatsAccumulator.drain(keepFrom:)`), or nothing if they are most of it; the final
    /// flush (`all`) hands over everything.
    private func flush(tier: Int, all: Bool = false) {
        let acc = tables[tier]
        let keepFrom = all ? Int64.max : acc.olderHalf()
        if dryRun {
            // Counted and summed into the wider tiers, not written: no need to sort or keep them.
            rowsChanged += Int64(drop(tier, keepFrom: keepFrom))
            if acc.mostlyFull { rowsChanged += Int64(drop(tier, keepFrom: Int64.max)) }
            return
        }
        // Sorted here: the store thread has the larger share of the work. Rolled up into the
        // wider tiers in the table's order, as a dry run does: the order decides when a wider
        // table fills, and so the rows a dry run counts.
        let up = rollUp(from: tier)
        var deltas = acc.drain(keepFrom: keepFrom, up)
        // Kept heads are all above the drained ones: appended, the batch stays in key order.
        if acc.mostlyFull { deltas += acc.drain(up) }
        let batch = DeltaBatch(deltas)
        let target = store
        // Small jobs, so a dedupe-state lookup never waits long behind them.
        let piece = 1 << 14
        let n = batch.deltas.count
        rowsChanged += Int64(n)
        var lo = 0
        while lo < n {
            let hi = min(n, lo + piece)
            let range = lo..<hi
            worker.async(.stats, weight: range.count) {
                _ = try target.applyStats(tier: tier, deltas: Array(batch.deltas[range]))
            }
            lo = hi
        }
    }
}
