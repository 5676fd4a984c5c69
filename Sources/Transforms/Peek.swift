/// A cheap look at the start of an input, to schedule files before reading them in full.
public enum Peek {
    /// The event time of the first record (within `maxRecords`) whose time parses; nil when the
    /// input has none there or cannot be read (the real ingest then reports why).
    public static func firstEventTime(path: String, format: InputFormat = .auto, maxRecords: Int = 100) -> Int64? {
        guard let source = try? ByteSource(path: path), let reader = try? RecordReader(source: source, format: format) else { return nil }
        for _ in 0..<maxRecords {
            guard let next = try? reader.next() else { return nil }
            switch next {
            case .end: return nil
            case .rejected: continue
            case .row:
                if let t = ValueParsers.eventTime(reader.fields[Column.eventTime.rawValue]) { return t }
            }
        }
        return nil
    }
}
