/// The one error type of the Transforms module. Every case says which input and where, so the
/// executable can print it as is; none carries row values beyond what a user needs to find the spot.
public enum TransformsError: Error, CustomStringConvertible, Equatable {
    /// The input could not be opened or read (I/O error).
    case io(file: String, reason: String)
    /// The gzip stream is corrupt or ends early; `offset` is the compressed byte offset.
    case corruptGzip(file: String, offset: Int64, reason: String)
    /// The header does not carry the columns the pipeline needs.
    case badHeader(file: String, reason: String)
    /// The content is not a supported layout (binary garbage, unknown format).
    case badContent(file: String, line: Int64, reason: String)
    /// Too many rows were rejected: the file is probably the wrong format.
    case tooManyRejects(file: String, rejected: Int64, read: Int64, maxRate: Double)
    /// An option value the caller passed is not valid.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .io(file, reason): return "\(file): \(reason)"
        case let .corruptGzip(file, offset, reason): return "\(file): corrupt gzip at byte \(offset): \(reason)"
        case let .badHeader(file, reason): return "\(file): line 1: \(reason)"
        case let .badContent(file, line, reason): return "\(file): line \(line): \(reason)"
        case let .tooManyRejects(file, rejected, read, maxRate):
            let pct = read > 0 ? Double(rejected) * 100 / Double(read) : 0
            return "\(file): \(rejected) of \(read) rows rejected (\(formatPercent(pct))), above --max-reject-rate \(formatPercent(maxRate * 100)): wrong format?"
        case let .invalidArgument(text): return text
        }
    }
}

func formatPercent(_ p: Double) -> String {
    let scaled = (p * 100).rounded() / 100
    return "\(scaled)%"
}
