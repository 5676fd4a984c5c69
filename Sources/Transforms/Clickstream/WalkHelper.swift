#if canImport(Glibc)
import Glibc
#endif

/// Walks each batch of lines on two threads: the caller's, with the caller's `JSONWalker`, and
/// one of its own, with a walker of its own. Lines go in chunks, taken in turn by whichever
/// thread is free, so the split follows the CPU each thread gets (the JSON walk is most of the
/// reading thread's work).
///
/// Contract: `walk` returns when every line is walked (and the helper has stopped touching its
/// walker); line k's results are then `kept[slot[k]]` of the caller's walker when `owner[k]`
/// is 0, of `walker` when it is 1, valid until the next `walk`. The lines must stay valid until
/// `walk` returns. Without a thread (or for a small batch) the caller's walker walks all.
final class WalkHelper {
    /// The helper thread's walker (same targets and body path as the caller's).
    let walker: JSONWalker
    /// Lines taken at a time.
    static let chunk = 64
    /// Per line of the last batch: which walker walked it, and its index in that walker's `kept`.
    private(set) var owner: UnsafeMutablePointer<UInt8>
    private(set) var slot: UnsafeMutablePointer<Int32>
    private var capacity = 0
    private var lines = UnsafeBufferPointer<LineReader.Line>(start: nil, count: 0)
    private var bytes = 0
    /// Chunks of the batch, and the next one nobody took.
    private var chunks = 0
    private var nextChunk = 0
    private var pending = false
    private var stopping = false
    private var isThreaded = false
    private var thread = pthread_t()
    private var mutex = pthread_mutex_t()
    private var changed = pthread_cond_t()

    init(walker: JSONWalker) {
        self.walker = walker
        owner = .allocate(capacity: 1)
        slot = .allocate(capacity: 1)
        capacity = 1
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&changed, nil)
        var t = pthread_t()
        let me = Unmanaged.passUnretained(self).toOpaque()
        let created = pthread_create(&t, nil, { ctx in
            Unmanaged<WalkHelper>.fromOpaque(ctx!).takeUnretainedValue().loop()
            return nil
        }, me) == 0
        // (Before `isThreaded` is set the thread only waits for a batch.)
        pthread_mutex_lock(&mutex)
        isThreaded = created
        thread = t
        pthread_mutex_unlock(&mutex)
    }

    deinit {
        if isThreaded {
            pthread_mutex_lock(&mutex)
            stopping = true
            pthread_cond_broadcast(&changed)
            pthread_mutex_unlock(&mutex)
            pthread_join(thread, nil)
        }
        pthread_cond_destroy(&changed)
        pthread_mutex_destroy(&mutex)
        owner.deallocate()
        slot.deallocate()
    }

    /// Walks `lines` (`bytes`: their total length) with `own` and the helper's walker; returns
    /// when every line is walked.
    func walk(_ lines: UnsafeBufferPointer<LineReader.Line>, bytes: Int, own: JSONWalker) {
        if capacity < lines.count {
            owner.deallocate()
            slot.deallocate()
            capacity = lines.count
            owner = .allocate(capacity: capacity)
            slot = .allocate(capacity: capacity)
        }
        // Either walker may get every line: each reserves scratch for all of them.
        own.beginBatch(bytes: bytes)
        guard isThreaded && lines.count >= 2 * WalkHelper.chunk else {
            self.lines = lines
            walkChunk(0..<lines.count, with: own, as: 0)
            return
        }
        pthread_mutex_lock(&mutex)
        self.lines = lines
        self.bytes = bytes
        nextChunk = 0
        chunks = (lines.count + WalkHelper.chunk - 1) / WalkHelper.chunk
        pending = true
        pthread_cond_broadcast(&changed)
        walkRemainingChunks(with: own, as: 0)
        // The helper's walker is read only once it is done with the batch.
        while pending { pthread_cond_wait(&changed, &mutex) }
        pthread_mutex_unlock(&mutex)
    }

    /// Claims the batch's chunks one at a time until none is left, walking each with `w`
    /// (both threads run this; called and returns with the mutex held).
    private func walkRemainingChunks(with w: JSONWalker, as tag: UInt8) {
        while nextChunk < chunks {
            let c = nextChunk
            nextChunk += 1
            pthread_mutex_unlock(&mutex)
            walkChunk(c * WalkHelper.chunk..<min(lines.count, (c + 1) * WalkHelper.chunk), with: w, as: tag)
            pthread_mutex_lock(&mutex)
        }
    }

    /// Walks lines `range` of the batch with `w`.
    private func walkChunk(_ range: Range<Int>, with w: JSONWalker, as tag: UInt8) {
        for k in range {
            w.walkKept(lines[k].base, lines[k].count)
            owner[k] = tag
            slot[k] = Int32(w.kept.count - 1)
        }
    }

    private func loop() {
        pthread_mutex_lock(&mutex)
        while true {
            while !pending && !stopping { pthread_cond_wait(&changed, &mutex) }
            if stopping { break }
            let total = bytes
            pthread_mutex_unlock(&mutex)
            walker.beginBatch(bytes: total)
            pthread_mutex_lock(&mutex)
            walkRemainingChunks(with: walker, as: 1)
            pending = false
            pthread_cond_broadcast(&changed)
        }
        pthread_mutex_unlock(&mutex)
    }
}
