/// The counted view of a (session, product) pair, as the dedupe state keeps it.
public struct CountedView: Sendable, Equatable {
    public var time: Int64
    public var priceCents: Int64
    public var brand: Int32
    public var l1: Int32
    public var l2: Int32
    public var l3: Int32
    /// The latest time any view of the pair was seen (the state expires by it).
    public var lastSeen: Int64
    public init(time: Int64, priceCents: Int64, brand: Int32, l1: Int32, l2: Int32, l3: Int32, lastSeen: Int64) {
        self.time = time; self.priceCents = priceCents; self.brand = brand; self.l1 = l1; self.l2 = l2; self.l3 = l3; self.lastSeen = lastSeen
    }
}

/// What a store found for a pair: the counted view if any, and an opaque location the store
/// needs back when the pair is saved.
public struct PairLookup: Sendable {
    public var view: CountedView?
    public var location: Int
    /// Where the store found it (e.g. a row id), for the store's own use when saving.
    public var ref: Int64
    public init(view: CountedView?, location: Int, ref: Int64 = 0) { self.view = view; self.location = location; self.ref = ref }
}

/// One ingested file, as the ledger records it.
public struct LedgerEntry: Sendable, Equatable {
    public var sha256: String
    public var path: String
    public var size: Int64
    public var mtime: Int64
    public var rowsRead: Int64
    public var rowsAccepted: Int64
    /// Rejected rows by `RejectReason.rawValue`.
    public var rejected: [Int64]
    public var minTime: Int64?
    public var maxTime: Int64?
    public var ingestedAt: Int64
    /// The store's watermark just before this file (how late the file was: watermarkBefore - minTime).
    public var watermarkBefore: Int64?
    public init(sha256: String, path: String, size: Int64, mtime: Int64, rowsRead: Int64, rowsAccepted: Int64, rejected: [Int64], minTime: Int64?, maxTime: Int64?, ingestedAt: Int64, watermarkBefore: Int64? = nil) {
        self.sha256 = sha256; self.path = path; self.size = size; self.mtime = mtime; self.rowsRead = rowsRead
        self.rowsAccepted = rowsAccepted; self.rejected = rejected; self.minTime = minTime; self.maxTime = maxTime; self.ingestedAt = ingestedAt
        self.watermarkBefore = watermarkBefore
    }
    public var rowsRejected: Int64 { rejected.reduce(0, +) }
}

/// What the ingest pipeline needs from a store. Transforms never knows which database is behind
/// it: the SQLite store implements this today, a PostgreSQL one can later.
///
/// Contract: everything between `begin()` and `commit()` is one transaction; `rollback()` undoes
/// all of it. Deltas arrive sorted by (bucket, event type, dimension, key) within a tier.
public protocol IngestStore: AnyObject {
    /// The persisted key dictionary, in id order.
    func loadKeys() throws -> [[UInt8]]
    /// The latest accepted event time in the store.
    func watermark() throws -> Int64?
    func ledgerEntry(sha256: String) throws -> LedgerEntry?
    func ledgerEntry(path: String, size: Int64, mtime: Int64) throws -> LedgerEntry?

    /// True when the store holds any view-dedupe state.
    func hasPairState() throws -> Bool

    func begin() throws
    /// The dedupe state of a pair. The returned location stays valid until `endPairBatch`,
    /// `commit` or `prunePairs`: the store moves no state before then.
    func lookupPair(hash: Int64, session: UnsafeBufferPointer<UInt8>, productId: Int64) throws -> PairLookup
    /// Saves a pair's state, given its lookup from the current pair batch.
    func savePair(hash: Int64, session: UnsafeBufferPointer<UInt8>, productId: Int64, view: CountedView, lookup: PairLookup) throws
    /// Ends a batch of lookups and saves: every pair looked up since the last call that needs
    /// saving was saved. The store may reorganize its dedupe state here.
    func endPairBatch() throws
    /// Adds deltas to tier `tier`; rows whose events reach 0 are deleted. Returns rows changed.
    func applyStats(tier: Int, deltas: [StatDelta]) throws -> Int
    /// Appends dictionary keys with ids `firstId`, `firstId+1`, ...
    func appendKeys(firstId: Int, keys: [UnsafeBufferPointer<UInt8>]) throws
    func setWatermark(_ t: Int64) throws
    func recordFile(_ entry: LedgerEntry) throws
    /// Deletes dedupe state whose pair was last seen before `cutoff` and remembers the cutoff;
    /// returns pairs removed.
    func prunePairs(lastSeenBefore cutoff: Int64) throws -> Int
    /// The cutoff of the last pruning, if any.
    func lastPruneCutoff() throws -> Int64?
    /// Per tier (in `IngestOptions.tiers` order): the first bucket retention kept, or nil when
    /// retention never deleted anything there. Buckets before it are gone, and ingest must not
    /// re-create them (a late event updates only the tiers that still keep its bucket).
    func retainedFrom() throws -> [Int64?]
    func commit() throws
    func rollback()
}
