#if canImport(Glibc)
import Glibc
#endif

/// Reads a `ByteSource` on a thread of its own into a ring of chunks, so that decompression and
/// hashing overlap the parsing of what was read before.
///
/// Contract: `read` hands out the source's bytes in order, then 0, or the error the source threw
/// (after every byte read before it). Once `read` has returned 0 or thrown, the thread is done
/// with the source. `stop` ends the thread at its next chunk without waiting for it: it keeps
/// itself (and the source) alive until then. Without a thread, `read` reads the source inline.
final class ReadAhead {
    private let source: ByteSource
    private let chunk: Int
    private static let slots = 4
    private let chunks: UnsafeMutablePointer<UInt8>
    private var lengths = [Int](repeating: 0, count: ReadAhead.slots)
    /// The source's raw (compressed) bytes read when each chunk was filled, and as of the last
    /// chunk the consumer finished: progress without touching the source from two threads.
    private var rawAt = [Int64](repeating: 0, count: ReadAhead.slots)
    private var rawConsumed: Int64 = 0
    /// The consumer's chunk and how far into it; the producer's next chunk; chunks filled.
    private var head = 0, offset = 0, tail = 0, filled = 0
    private var done = false, stopping = false
    private var failure: Error?
    private var threaded = false
    private var mutex = pthread_mutex_t()
    private var changed = pthread_cond_t()

    init(source: ByteSource, chunk: Int) {
        self.source = source
        self.chunk = chunk
        chunks = .allocate(capacity: chunk * ReadAhead.slots)
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&changed, nil)
        var t = pthread_t()
        // The thread holds a reference until it ends (`stop` does not wait for it).
        let me = Unmanaged.passRetained(self).toOpaque()
        if pthread_create(&t, nil, { ctx in
            let r = Unmanaged<ReadAhead>.fromOpaque(ctx!)
            r.takeUnretainedValue().produce()
            r.release()
            return nil
        }, me) == 0 {
            threaded = true
            pthread_detach(t)
        } else {
            Unmanaged<ReadAhead>.fromOpaque(me).release()
        }
    }

    deinit {
        chunks.deallocate()
        pthread_cond_destroy(&changed)
        pthread_mutex_destroy(&mutex)
    }

    private func produce() {
        while true {
            pthread_mutex_lock(&mutex)
            while filled == ReadAhead.slots && !stopping { pthread_cond_wait(&changed, &mutex) }
            let slot = tail
            let quit = stopping
            pthread_mutex_unlock(&mutex)
            if quit { return }
            var n = 0
            var thrown: Error?
            do { n = try source.read(into: chunks + slot * chunk, capacity: chunk) } catch { thrown = error }
            pthread_mutex_lock(&mutex)
            if thrown != nil || n == 0 {
                failure = thrown
                done = true
            } else {
                lengths[slot] = n
                rawAt[slot] = source.bytesRead
                tail = (slot + 1) % ReadAhead.slots
                filled += 1
            }
            let finished = done
            pthread_cond_broadcast(&changed)
            pthread_mutex_unlock(&mutex)
            if finished { return }
        }
    }

    func read(into p: UnsafeMutablePointer<UInt8>, capacity: Int) throws -> Int {
        guard threaded else { return try source.read(into: p, capacity: capacity) }
        pthread_mutex_lock(&mutex)
        while filled == 0 && !done { pthread_cond_wait(&changed, &mutex) }
        if filled == 0 {
            let e = failure
            pthread_mutex_unlock(&mutex)
            if let e { throw e }
            return 0
        }
        let slot = head, length = lengths[slot]
        pthread_mutex_unlock(&mutex)
        let n = min(capacity, length - offset)
        memcpy(p, chunks + slot * chunk + offset, n)
        offset += n
        if offset == length {
            offset = 0
            pthread_mutex_lock(&mutex)
            rawConsumed = rawAt[slot]
            head = (slot + 1) % ReadAhead.slots
            filled -= 1
            pthread_cond_broadcast(&changed)
            pthread_mutex_unlock(&mutex)
        }
        return n
    }

    /// Raw bytes of the source behind the chunks consumed so far (for progress).
    var rawBytesRead: Int64 {
        guard threaded else { return source.bytesRead }
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return rawConsumed
    }

    func stop() {
        pthread_mutex_lock(&mutex)
        stopping = true
        pthread_cond_broadcast(&changed)
        pthread_mutex_unlock(&mutex)
    }
}
