import Transforms

/// The raw archive as the ingest pipeline's record sink (see `RawRecordSink`).
extension RawArchive: RawRecordSink {
    public func beginArchive(name: String) throws { try beginSource(name: name) }
    public func archive(time: Int64, fields: UnsafePointer<Field>) throws { try add(time: time, fields: fields) }
    public func archiveUnparsed(line: Int64, reason: RejectReason, raw: UnsafeBufferPointer<UInt8>) throws {
        try addUnparsed(line: line, reason: reason, raw: raw)
    }
    public func commitArchive(sha256: String) throws { _ = try commitSource(sha256: sha256) }
    public func undoArchive() throws { try undoLastCommit() }
    public func settleArchive() { settle() }
    public func abortArchive() { abortSource() }
}
