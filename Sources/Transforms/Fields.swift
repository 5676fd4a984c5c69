/// A field of the current record: bytes that stay valid until the next record is read.
public struct Field {
    public var base: UnsafePointer<UInt8>?
    public var count: Int
    /// In JSON Lines: the value was a bare number (not a string). Always false in CSV.
    public var isNumber: Bool

    public static let missing = Field(base: nil, count: 0, isNumber: false)
    @inline(__always) public var isEmpty: Bool { count == 0 }
    @inline(__always) public subscript(i: Int) -> UInt8 { base![i] }

    public var string: String {
        guard let base, count > 0 else { return "" }
        return String(decoding: UnsafeBufferPointer(start: base, count: count), as: UTF8.self)
    }
}

/// The columns the retail pipeline reads, by their REES46 names.
public enum Column: Int, CaseIterable, Sendable {
    case eventTime = 0, eventType, productId, categoryId, categoryCode, brand, price, userId, userSession

    public var name: String {
        switch self {
        case .eventTime: return "event_time"
        case .eventType: return "event_type"
        case .productId: return "product_id"
        case .categoryId: return "category_id"
        case .categoryCode: return "category_code"
        case .brand: return "brand"
        case .price: return "price"
        case .userId: return "user_id"
        case .userSession: return "user_session"
        }
    }

    /// Columns a file must carry in its header, or it fails as a whole.
    public static let required: [Column] = [.eventTime, .eventType, .productId, .price]

    static let nameBytes: [[UInt8]] = Column.allCases.map { Array($0.name.utf8) }

    /// The column whose name equals the bytes, if any.
    static func match(_ p: UnsafePointer<UInt8>, _ n: Int) -> Column? {
        for (i, name) in nameBytes.enumerated() where name.count == n {
            var eq = true
            for j in 0..<n where name[j] != p[j] { eq = false; break }
            if eq { return Column(rawValue: i) }
        }
        return nil
    }
}

/// Why a row was rejected. The raw values are the reason codes users see in summaries and in
/// the rejects file.
public enum RejectReason: Int, CaseIterable, Sendable {
    case fieldCount = 0, badEventTime, badEventType, badProductId, badPrice, badJSON, lineTooLong

    public var code: String {
        switch self {
        case .fieldCount: return "field_count"
        case .badEventTime: return "bad_event_time"
        case .badEventType: return "bad_event_type"
        case .badProductId: return "bad_product_id"
        case .badPrice: return "bad_price"
        case .badJSON: return "bad_json"
        case .lineTooLong: return "line_too_long"
        }
    }
}

/// Input layouts `ingest` reads.
public enum InputFormat: String, CaseIterable, Sendable {
    case auto, csv, jsonl
}
