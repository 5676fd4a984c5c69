#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Deterministic synthetic events in the REES46 layout.
//
// The shape of the data follows the real multi-category store (see shared/samples/README.md):
// rows are ordered by event_time; traffic follows a daily curve (low at night UTC, peak in the
// evening); events come in sessions of a few minutes; about a quarter of views repeat a
// (session, product) pair; carts and purchases follow a view of the same product in the same
// session; about a third of rows have no category_code and 12-15% no brand; a few products are
// very popular. Same options, same bytes: all randomness comes from a seeded xoshiro256**, and
// nothing reads the clock or the locale.
//
// Streaming: sessions wait in a min-heap keyed by the time of their next event, so memory is
// bounded by the number of sessions active at one time, not by the number of rows.

/// What to generate.
public struct GeneratorOptions: Sendable, Equatable {
    /// Exactly this many event rows are written (plus the CSV header).
    public var rows: Int
    /// Start of the time window, Unix seconds (UTC).
    public var start: Int64
    /// Length of the time window in hours; events fall in [start, start + hours * 3600).
    public var hours: Int
    /// Seed; the whole output is a function of (rows, start, hours, seed, jsonl).
    public var seed: UInt64
    /// JSON Lines (one object per line, no header) instead of CSV.
    public var jsonl: Bool

    public init(rows: Int = 10_000, start: Int64 = 1_569_888_000, hours: Int = 24, seed: UInt64 = 1,
                jsonl: Bool = false) {
        self.rows = rows
        self.start = start
        self.hours = hours
        self.seed = seed
        self.jsonl = jsonl
    }

    /// The largest `hours` accepted (ten years).
    public static let maxHours = 24 * 366 * 10

    /// Parses a start time in UTC: `2019-10-01T00:00:00Z`, `2019-10-01 00:00:00 UTC`,
    /// `2019-10-01 00:00:00`, `2019-10-01T00:00:00` or `2019-10-01` (midnight). Returns Unix
    /// seconds, or nil when the text is none of these or not a real date (years 1970-9999).
    public static func parseStart(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        func num(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count else { return nil }
            var v = 0
            for i in from..<(from + count) {
                let c = b[i]
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            return v
        }
        guard b.count >= 10, b[4] == 45, b[7] == 45,
              let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2) else { return nil }
        guard y >= 1970, mo >= 1, mo <= 12, d >= 1, d <= genDaysInMonth(y, mo) else { return nil }
        var h = 0, mi = 0, s = 0
        var rest = b[10...]
        if !rest.isEmpty {
            guard b.count >= 19, b[10] == 84 || b[10] == 32, b[13] == 58, b[16] == 58,
                  let hh = num(11, 2), let mm = num(14, 2), let ss = num(17, 2),
                  hh < 24, mm < 60, ss < 60 else { return nil }
            h = hh; mi = mm; s = ss
            rest = b[19...]
            let suffix = String(decoding: rest, as: UTF8.self)
            guard suffix == "" || suffix == "Z" || suffix == " UTC" || suffix == "+00:00" else { return nil }
        }
        let days = Int64(ValueParsers.daysFromCivil(y, mo, d))
        return days * 86400 + Int64(h * 3600 + mi * 60 + s)
    }
}

/// What was written.
public struct GeneratorReport: Sendable, Equatable {
    public var rows = 0
    public var views = 0
    public var carts = 0
    public var removeFromCarts = 0
    public var purchases = 0
    /// Views whose (user_session, product_id) pair was already viewed earlier in the file.
    public var repeatedViews = 0
    /// Rows with an empty brand.
    public var emptyBrands = 0
    /// Rows with an empty category_code.
    public var emptyCategoryCodes = 0
    /// Sessions that wrote at least one row.
    public var sessions = 0
    /// Time of the first and last row (Unix seconds); nil when no rows.
    public var firstEventTime: Int64?
    public var lastEventTime: Int64?

    public init() {}

    /// Rows by event type (`view`, `cart`, `remove_from_cart`, `purchase`).
    public var countsByEventType: [String: Int] {
        ["view": views, "cart": carts, "remove_from_cart": removeFromCarts, "purchase": purchases]
    }
}

/// Writes `options.rows` synthetic events to `out` (CSV with a header unless `header` is false,
/// or JSON Lines). Does not call `out.finish()`. Throws `TransformsError.invalidArgument` for bad
/// options and `TransformsError.io` when writing fails.
public func generateEvents(_ options: GeneratorOptions, to out: OutputFile, header: Bool = true) throws -> GeneratorReport {
    guard options.rows >= 0 else { throw TransformsError.invalidArgument("rows must be 0 or more, got \(options.rows)") }
    guard options.hours >= 1 && options.hours <= GeneratorOptions.maxHours else {
        throw TransformsError.invalidArgument("hours must be between 1 and \(GeneratorOptions.maxHours), got \(options.hours)")
    }
    let maxTime: Int64 = 253_402_300_799 // 9999-12-31 23:59:59
    guard options.start >= 0, options.start + Int64(options.hours) * 3600 - 1 <= maxTime else {
        throw TransformsError.invalidArgument("the time window must lie between 1970 and 9999")
    }
    let catalog = GenCatalog.shared(jsonl: options.jsonl)
    var engine = GenEngine(options: options, catalog: catalog, out: out)
    defer { engine.release() }
    try engine.run(header: header)
    return engine.report
}

// MARK: - Random numbers

private struct GenRNG {
    var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    init(seed: UInt64) {
        var x = seed
        s0 = genSplitMix(&x); s1 = genSplitMix(&x); s2 = genSplitMix(&x); s3 = genSplitMix(&x)
    }

    @inline(__always) mutating func next() -> UInt64 {
        let result = (s1 &* 5).rotl(7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = s3.rotl(45)
        return result
    }

    /// Uniform in [0, 1).
    @inline(__always) mutating func unit() -> Double {
        Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// Uniform in 0..<n (n > 0).
    @inline(__always) mutating func below(_ n: Int) -> Int {
        Int(truncatingIfNeeded: UInt64(n).multipliedFullWidth(by: next()).high)
    }

    /// Exponential with the given mean.
    @inline(__always) mutating func exponential(_ mean: Double) -> Double {
        -log(1.0 - unit()) * mean
    }

    mutating func gaussian() -> Double {
        let u1 = 1.0 - unit(), u2 = unit()
        return sqrt(-2 * log(u1)) * cos(2 * Double.pi * u2)
    }
}

private extension UInt64 {
    @inline(__always) func rotl(_ k: UInt64) -> UInt64 { (self << k) | (self >> (64 - k)) }
}

@inline(__always) private func genSplitMix(_ x: inout UInt64) -> UInt64 {
    x &+= 0x9E37_79B9_7F4A_7C15
    var z = x
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

@inline(__always) private func genMix(_ a: UInt64, _ b: UInt64) -> UInt64 {
    var x = a ^ (b &* 0x9E37_79B9_7F4A_7C15)
    return genSplitMix(&x)
}

// MARK: - Calendar (proleptic Gregorian, UTC)

private func genDaysInMonth(_ y: Int, _ m: Int) -> Int {
    switch m {
    case 2: return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 29 : 28
    case 4, 6, 9, 11: return 30
    default: return 31
    }
}

// MARK: - Catalog

/// Categories with a code: (code, relative traffic, median price). The weights follow the
/// October head of the real data; codes have 2 to 4 levels.
private let genCodedCategories: [(String, Double, Double)] = [
    ("electronics.smartphone", 4720, 250), ("electronics.clocks", 562, 180), ("computers.notebook", 558, 600),
    ("electronics.audio.headphone", 403, 60), ("appliances.kitchen.refrigerators", 330, 450),
    ("appliances.environment.vacuum", 274, 150), ("appliances.environment.air_heater", 249, 60),
    ("electronics.video.tv", 246, 400), ("auto.accessories.player", 245, 50), ("apparel.shoes", 228, 70),
    ("appliances.kitchen.washer", 224, 350), ("apparel.shoes.keds", 192, 60), ("electronics.telephone", 174, 30),
    ("furniture.living_room.cabinet", 144, 200), ("auto.accessories.alarm", 134, 90),
    ("appliances.kitchen.meat_grinder", 128, 80), ("furniture.living_room.sofa", 127, 500),
    ("computers.desktop", 117, 500), ("furniture.bedroom.bed", 112, 300), ("accessories.bag", 99, 40),
    ("appliances.kitchen.microwave", 93, 100), ("appliances.environment.water_heater", 90, 150),
    ("electronics.audio.subwoofer", 88, 150), ("appliances.iron", 88, 40), ("appliances.kitchen.blender", 86, 50),
    ("sport.bicycle", 83, 300), ("kids.carriage", 78, 250), ("construction.tools.drill", 77, 90),
    ("auto.accessories.videoregister", 77, 80), ("electronics.tablet", 71, 250),
    ("appliances.environment.air_conditioner", 69, 400), ("construction.tools.saw", 66, 100),
    ("appliances.kitchen.oven", 59, 300), ("computers.components.videocards", 58, 350),
    ("appliances.sewing_machine", 58, 200), ("appliances.kitchen.kettle", 57, 30), ("appliances.kitchen.hood", 55, 150),
    ("appliances.kitchen.mixer", 50, 40), ("furniture.kitchen.table", 46, 150),
    ("accessories.umbrella", 8, 20), ("accessories.wallet", 15, 30), ("apparel.costume", 12, 60),
    ("apparel.dress", 15, 50), ("apparel.jacket", 20, 90), ("apparel.jeans", 15, 50), ("apparel.scarf", 5, 20),
    ("apparel.shirt", 12, 30), ("apparel.shoes.ballet_shoes", 8, 40), ("apparel.shoes.espadrilles", 6, 40),
    ("apparel.shoes.moccasins", 10, 70), ("apparel.shoes.sandals", 12, 50), ("apparel.shoes.slipons", 10, 50),
    ("apparel.shoes.step_ins", 8, 50), ("apparel.skirt", 6, 40), ("apparel.sock", 4, 8), ("apparel.trousers", 12, 40),
    ("apparel.tshirt", 14, 20), ("apparel.underwear", 6, 15), ("appliances.ironing_board", 10, 40),
    ("appliances.kitchen.coffee_grinder", 8, 30), ("appliances.kitchen.coffee_machine", 25, 250),
    ("appliances.kitchen.dishwasher", 30, 350), ("appliances.kitchen.grill", 10, 60), ("appliances.kitchen.hob", 25, 250),
    ("appliances.kitchen.juicer", 10, 60), ("appliances.kitchen.steam_cooker", 6, 50), ("appliances.kitchen.toster", 10, 30),
    ("appliances.personal.hair_cutter", 20, 30), ("appliances.personal.scales", 15, 20),
    ("auto.accessories.compressor", 10, 40), ("auto.accessories.parktronic", 6, 40), ("auto.accessories.radar", 15, 80),
    ("auto.accessories.winch", 4, 150), ("computers.components.cooler", 8, 30), ("computers.components.cpu", 20, 200),
    ("computers.components.hdd", 20, 70), ("computers.components.memory", 15, 50),
    ("computers.components.motherboard", 15, 120), ("computers.components.power_supply", 10, 60),
    ("computers.ebooks", 6, 100), ("computers.peripherals.keyboard", 12, 30), ("computers.peripherals.monitor", 35, 200),
    ("computers.peripherals.mouse", 15, 20), ("computers.peripherals.printer", 20, 150),
    ("construction.components.faucet", 10, 60), ("construction.tools.generator", 8, 300),
    ("construction.tools.light", 10, 30), ("construction.tools.pump", 8, 150), ("construction.tools.welding", 8, 150),
    ("country_yard.cultivator", 5, 300), ("country_yard.furniture.hammok", 3, 50), ("electronics.audio.acoustic", 20, 150),
    ("electronics.audio.microphone", 6, 60), ("electronics.audio.music_tools.piano", 8, 400),
    ("electronics.camera.photo", 20, 500), ("electronics.camera.video", 10, 300), ("electronics.video.projector", 6, 400),
    ("furniture.bathroom.bath", 10, 300), ("furniture.bathroom.toilet", 10, 200), ("furniture.bedroom.blanket", 8, 40),
    ("furniture.bedroom.pillow", 6, 20), ("furniture.kitchen.chair", 15, 50), ("furniture.living_room.chair", 15, 100),
    ("furniture.universal.light", 8, 60), ("kids.dolls", 8, 30), ("kids.fmcg.diapers", 6, 20), ("kids.skates", 6, 60),
    ("kids.swing", 4, 80), ("kids.toys", 25, 30), ("medicine.tools.tonometer", 8, 40), ("sport.ski", 6, 200),
    ("sport.snowboard", 5, 250), ("sport.tennis", 5, 60), ("sport.trainer", 15, 300), ("stationery.cartrige", 10, 40),
]

/// Brand pools, most frequent first; coded categories use the pool of their first level,
/// categories without a code one of the `uncoded` pools.
private let genBrandPools: [String: [String]] = [
    "electronics": ["samsung", "apple", "xiaomi", "huawei", "lg", "sony", "oppo", "nokia", "vivo", "meizu", "honor",
                    "casio", "jbl", "philips", "panasonic", "pioneer", "oneplus", "garmin", "tcl", "prestigio", "bq",
                    "texet", "nakamichi", "elari", "jvc", "fender", "canon", "nikon"],
    "appliances": ["bosch", "samsung", "lg", "indesit", "beko", "redmond", "electrolux", "artel", "ariston", "haier",
                   "tefal", "vitek", "polaris", "elenberg", "scarlett", "midea", "gorenje", "atlant", "hansa",
                   "kenwood", "braun", "moulinex", "philips", "ballu", "timberk", "karcher", "janome", "dauscher"],
    "computers": ["acer", "lenovo", "hp", "asus", "apple", "dell", "msi", "gigabyte", "kingston", "palit",
                  "transcend", "samsung", "xiaomi", "tp-link", "logitech", "intel", "amd"],
    "auto": ["starline", "pioneer", "sho-me", "sony", "jvc", "alpine", "prology", "aeroforce", "mystery", "berkut"],
    "apparel": ["adidas", "rieker", "salamander", "asics", "nike", "puma", "carters", "kipardo", "greyder", "baden",
                "respect", "strobbs"],
    "furniture": ["brw", "lucente", "bts", "skad", "omabelle", "shagovita", "sv", "nexpero", "alteco"],
    "kids": ["lego", "carters", "chicco", "mattel", "hasbro", "tutis", "belecoo", "nordway"],
    "sport": ["stels", "forward", "adidas", "nordway", "atemi", "pride", "kettler", "toro"],
    "construction": ["makita", "bosch", "huter", "karcher", "gerat", "dewalt", "interskol", "crown", "erlit"],
    "country_yard": ["huter", "karcher", "champion", "patriot"],
    "accessories": ["samsonite", "sokolov", "respect", "pride", "granhel"],
    "medicine": ["omron", "and", "microlife"],
    "stationery": ["hp", "canon", "epson", "cactus"],
]

private let genUncodedPools: [[String]] = [
    ["cordiant", "nokian", "yokohama", "bridgestone", "maxxis", "matador", "triangle", "viatti", "kumho", "pirelli",
     "michelin", "hankook", "continental"],
    ["shiseido", "montale", "creed", "lancome", "clinique", "kenzo", "guerlain", "lalique", "tissot"],
    ["lucente", "brw", "dauscher", "elenberg", "sv", "rondell", "luminarc", "tefal", "gipfel", "bts"],
    ["starline", "respect", "stels", "sokolov", "karya", "kipardo", "shagovita", "omabelle", "baden", "greyder",
     "strobbs", "nexpero", "alteco", "belecoo", "aeroforce", "granhel", "maxwell", "bene", "dometic", "pulser"],
]

/// The product catalog: fixed (it does not depend on the seed), like one real store whose
/// files from different days share products. Built once per output mode.
private final class GenCatalog: @unchecked Sendable {
    /// Per product: bytes written between the event type and the price (CSV:
    /// `pid,cid,code,brand,`; JSON: `pid,"category_id":...,"price":`).
    let prefix: [UInt8]
    let prefixOffset: [Int32]     // count + 1
    let productId: [Int64]
    let basePriceCents: [Int64]
    let category: [Int32]
    let emptyBrand: [Bool]
    let emptyCode: [Bool]
    /// Per category: its products are productOffset[c] ..< productOffset[c + 1], most popular first.
    let productOffset: [Int32]
    /// Cumulative popularity within each category, normalised to 1 at its last product.
    let cumulativeInCategory: [Double]
    /// Alias table over all products (weight = category traffic x popularity in the category).
    let aliasProbability: [Double]
    let aliasIndex: [Int32]

    private static let lock = GenLock()
    nonisolated(unsafe) private static var cache: [Bool: GenCatalog] = [:]

    static func shared(jsonl: Bool) -> GenCatalog {
        lock.locked {
            if let c = cache[jsonl] { return c }
            let c = GenCatalog(jsonl: jsonl)
            cache[jsonl] = c
            return c
        }
    }

    private init(jsonl: Bool) {
        var rng = GenRNG(seed: 0x5E11_0CA7_A10C_2019)
        struct Cat { var code: String; var weight: Double; var median: Double; var pool: [String] }
        var cats: [Cat] = genCodedCategories.map { entry in
            let l1 = String(entry.0.split(separator: ".")[0])
            return Cat(code: entry.0, weight: entry.1, median: entry.2, pool: genBrandPools[l1] ?? genUncodedPools[3])
        }
        // Categories without a code: about 32% of the traffic.
        let codedTotal = cats.reduce(0) { $0 + $1.weight }
        let uncodedCount = 60
        var uncodedWeights: [Double] = (0..<uncodedCount).map { 1.0 / pow(Double($0) + 1.5, 0.9) }
        let uncodedSum = uncodedWeights.reduce(0, +)
        let uncodedTotal = codedTotal * 0.32 / 0.68
        uncodedWeights = uncodedWeights.map { $0 / uncodedSum * uncodedTotal }
        for k in 0..<uncodedCount {
            let median = exp(log(5.0) + rng.unit() * (log(400.0) - log(5.0)))
            cats.append(Cat(code: "", weight: uncodedWeights[k], median: median,
                            pool: genUncodedPools[rng.below(genUncodedPools.count)]))
        }
        let totalWeight = cats.reduce(0) { $0 + $1.weight }
        let maxWeight = cats.map(\.weight).max() ?? 1

        // Category ids: unique 19-digit numbers, mostly with the 2053013 prefix of the real data.
        var seenIds = Set<Int64>()
        var categoryIds: [Int64] = []
        for _ in cats.indices {
            var id: Int64
            repeat {
                if rng.unit() < 0.8 {
                    id = 2_053_013_000_000_000_000 + Int64(rng.below(1_000_000_000_000))
                } else {
                    id = 2_060_000_000_000_000_000 + Int64(rng.below(180_000_000_000_000_000))
                }
            } while !seenIds.insert(id).inserted
            categoryIds.append(id)
        }

        // Product id blocks: smartphones start at 1000000 as in the real data, the others are spread
        // over the range up to about 60000000.
        var blockOrder = Array(1..<cats.count)
        for i in stride(from: blockOrder.count - 1, to: 0, by: -1) {
            blockOrder.swapAt(i, rng.below(i + 1))
        }
        var blockOf = [Int](repeating: 0, count: cats.count)
        for (b, c) in blockOrder.enumerated() { blockOf[c] = b + 1 }
        let blockSize = 59_000_000 / cats.count

        var productId: [Int64] = []
        var basePrice: [Int64] = []
        var category: [Int32] = []
        var brandName: [String] = []
        var weight: [Double] = []
        var productOffset: [Int32] = [0]
        var cumulative: [Double] = []
        for (c, cat) in cats.enumerated() {
            let n = max(10, min(3000, Int((3000 * (cat.weight / maxWeight).squareRoot()).rounded())))
            var zipf: [Double] = (0..<n).map { 1.0 / pow(Double($0) + 2.5, 1.0) }
            let zsum = zipf.reduce(0, +)
            zipf = zipf.map { $0 / zsum }
            var pid = Int64(1_000_000 + blockOf[c] * blockSize)
            let maxStep = max(1, blockSize / (2 * n))
            var acc = 0.0
            for r in 0..<n {
                pid += Int64(1 + rng.below(maxStep))
                productId.append(pid)
                let price = max(0.5, cat.median * exp(0.55 * rng.gaussian()))
                basePrice.append(Int64((price * 100).rounded()))
                category.append(Int32(c))
                // Brands: Zipf over the pool, so the first few dominate.
                let pool = cat.pool
                var b = 0
                let u = rng.unit()
                var poolCum = 0.0
                let poolSum = (0..<pool.count).reduce(0.0) { $0 + 1.0 / pow(Double($1) + 1, 1.2) }
                for i in 0..<pool.count {
                    poolCum += 1.0 / pow(Double(i) + 1, 1.2) / poolSum
                    if u < poolCum { b = i; break }
                    b = i
                }
                brandName.append(pool[b])
                weight.append(cat.weight / totalWeight * zipf[r])
                acc += zipf[r]
                cumulative.append(r == n - 1 ? 1.0 : acc)
            }
            productOffset.append(Int32(productId.count))
        }
        let count = productId.count

        // Empty brands: 13.5% of the expected traffic, never on the most popular products.
        var emptyBrand = [Bool](repeating: false, count: count)
        var order = Array(0..<count)
        for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, rng.below(i + 1)) }
        var emptyWeight = 0.0
        for i in order where emptyWeight < 0.135 {
            if weight[i] > 0.002 { continue }
            emptyBrand[i] = true
            emptyWeight += weight[i]
        }
        for i in 0..<count where emptyBrand[i] { brandName[i] = "" }

        // Bytes per product.
        var prefix: [UInt8] = []
        var prefixOffset: [Int32] = [0]
        prefix.reserveCapacity(count * 80)
        var emptyCode = [Bool](repeating: false, count: count)
        for i in 0..<count {
            let cat = cats[Int(category[i])]
            emptyCode[i] = cat.code.isEmpty
            let cid = categoryIds[Int(category[i])]
            let text: String
            if jsonl {
                text = "\(productId[i]),\"category_id\":\(cid),\"category_code\":\"\(cat.code)\",\"brand\":\"\(brandName[i])\",\"price\":"
            } else {
                text = "\(productId[i]),\(cid),\(cat.code),\(brandName[i]),"
            }
            prefix.append(contentsOf: text.utf8)
            prefixOffset.append(Int32(prefix.count))
        }

        // Vose alias table over the product weights.
        var prob = [Double](repeating: 0, count: count)
        var alias = [Int32](repeating: 0, count: count)
        let wsum = weight.reduce(0, +)
        var scaled = weight.map { $0 / wsum * Double(count) }
        var small: [Int] = [], large: [Int] = []
        for i in 0..<count { if scaled[i] < 1 { small.append(i) } else { large.append(i) } }
        while let s = small.last, let l = large.last {
            small.removeLast()
            prob[s] = scaled[s]
            alias[s] = Int32(l)
            scaled[l] = scaled[l] + scaled[s] - 1
            if scaled[l] < 1 {
                large.removeLast()
                small.append(l)
            }
        }
        for i in large { prob[i] = 1; alias[i] = Int32(i) }
        for i in small { prob[i] = 1; alias[i] = Int32(i) }

        self.prefix = prefix
        self.prefixOffset = prefixOffset
        self.productId = productId
        self.basePriceCents = basePrice
        self.category = category
        self.emptyBrand = emptyBrand
        self.emptyCode = emptyCode
        self.productOffset = productOffset
        self.cumulativeInCategory = cumulative
        self.aliasProbability = prob
        self.aliasIndex = alias
    }
}

private final class GenLock: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body()
    }
}

// MARK: - Engine

private let genTypeView: UInt8 = 0
private let genTypeCart: UInt8 = 1
private let genTypePurchase: UInt8 = 2

/// Session behaviour. Tuned so that the real shares come out: about 96.1% views, 2.2% carts,
/// 1.75% purchases, a quarter of views repeating a pair.
private let genSingleEventSessionShare = 0.33
private let genMeanExtraEvents = 5.5
private let genMaxSessionEvents = 60
private let genCartAfterView = 0.0285
private let genPurchaseAfterView = 0.0085
private let genPurchaseAfterCart = 0.62
private let genRepeatView = 0.315
private let genStayInCategory = 0.7
private let genViewedCapacity = 64
/// Sessions start this long before the window, so that the first minutes already carry sessions
/// in progress (their earlier events are simulated, not written), as in a real file cut at a
/// day or month boundary.
private let genWarmSeconds: Int64 = 3 * 3600

/// Relative traffic at each hour of the day (UTC), interpolated linearly between hours.
private let genDailyCurve: [Double] = [
    0.22, 0.14, 0.11, 0.13, 0.25, 0.45, 0.72, 0.95, 1.08, 1.15, 1.18, 1.18,
    1.20, 1.25, 1.33, 1.45, 1.57, 1.65, 1.62, 1.45, 1.15, 0.80, 0.52, 0.34,
]

/// Seconds between two events of a session: mostly quick clicks and page reads, now and then a
/// long pause. Drawn from the session's own generator, so the session's timeline is known
/// when it starts (and so how many of its events fall inside the window).
@inline(__always) private func genNextGap(_ state: inout UInt64) -> Int64 {
    let a = genSplitMix(&state)
    let b = genSplitMix(&state)
    let u = 1.0 - Double(b >> 11) * (1.0 / 9_007_199_254_740_992.0)
    let pick = a % 100
    if pick < 40 { return 1 + Int64(-log(u) * 8) }
    if pick < 97 { return 3 + Int64(-log(u) * 50) }
    return 300 + Int64(min(-log(u) * 900, 3000))
}

private struct GenSlot {
    var uuidA: UInt64 = 0
    var uuidB: UInt64 = 0
    var user: Int64 = 0
    var time: Int64 = 0
    var gapState: UInt64 = 0
    var remaining: Int32 = 0      // events still to process, including any before the window
    var pendingProduct: Int32 = 0
    var current: Int32 = 0
    var focus: Int32 = 0
    var viewedCount: Int32 = 0    // products viewed inside the window (written)
    var pendingType: UInt8 = 0
    var pendingRepeat: Bool = false
    var emitted: Bool = false
}

private struct GenEngine {
    let options: GeneratorOptions
    let catalog: GenCatalog
    let out: OutputFile
    var report = GeneratorReport()
    var rng: GenRNG

    let windowStart: Int64
    let windowEnd: Int64          // exclusive
    let base: Int64               // windowStart - warm-up; heap keys count from here

    // Sessions.
    var slots: UnsafeMutablePointer<GenSlot>
    var viewed: UnsafeMutablePointer<Int32>
    var slotCapacity = 0
    var slotCount = 0
    var freeSlots: [Int32] = []
    /// Events inside the window that the sessions started so far will write.
    var inWindowScheduled = 0

    // Min-heap of (time - base) << 32 | slot.
    var heap: [UInt64] = []

    // Returning users.
    var recentUsers: [Int64]
    var recentUserCount = 0
    var recentUserNext = 0

    // Session starts follow the daily curve: a walk over the minutes of [base, windowEnd) with
    // the cumulative "virtual events" (full session lengths) per minute.
    let warmMinutes: Int
    let totalMinutes: Int
    var warmScale = 0.0
    var windowScale = 0.0
    var windowCurveTotal = 0.0
    var walkMinute = 0
    var walkBefore = 0.0
    var walkWeight = 0.0

    // Output.
    let bufCapacity = 1 << 20
    var buf: UnsafeMutablePointer<UInt8>
    var pos = 0
    var timeSecond: Int64 = -1
    var timeBytes: (UInt64, UInt64, UInt64) = (0, 0, 0)   // 24 bytes, 23 used

    init(options: GeneratorOptions, catalog: GenCatalog, out: OutputFile) {
        self.options = options
        self.catalog = catalog
        self.out = out
        var seed = genMix(options.seed, 0x6E6E_5E11_0000_0001)
        seed = genMix(seed, UInt64(bitPattern: options.start))
        seed = genMix(seed, UInt64(options.hours))
        seed = genMix(seed, UInt64(options.rows))
        seed = genMix(seed, options.jsonl ? 1 : 0)
        rng = GenRNG(seed: seed)
        windowStart = options.start
        windowEnd = options.start + Int64(options.hours) * 3600
        base = options.start - genWarmSeconds
        warmMinutes = Int(genWarmSeconds / 60)
        totalMinutes = warmMinutes + options.hours * 60
        slots = .allocate(capacity: 1)
        viewed = .allocate(capacity: genViewedCapacity)
        recentUsers = [Int64](repeating: 0, count: 8192)
        buf = .allocate(capacity: bufCapacity)
    }

    func release() {
        slots.deallocate()
        viewed.deallocate()
        buf.deallocate()
    }

    // MARK: daily curve

    func curveAt(minute m: Int) -> Double {
        let t = base + Int64(m) * 60 + 30
        var sod = t % 86400
        if sod < 0 { sod += 86400 }
        let hf = Double(sod) / 3600
        let h = Int(hf)
        let f = hf - Double(h)
        return genDailyCurve[h] * (1 - f) + genDailyCurve[(h + 1) % 24] * f
    }

    mutating func prepareCurve() {
        var total = 0.0
        for m in warmMinutes..<totalMinutes { total += curveAt(minute: m) }
        windowCurveTotal = total
        // Before the window, session starts run at the rate the window would have unadjusted.
        warmScale = Double(options.rows) / total
        windowScale = warmScale
        walkMinute = 0
        walkBefore = 0
        walkWeight = curveAt(minute: 0) * warmScale
    }

    /// Called when the walk enters the window. Sessions started before the window will write
    /// `inWindowScheduled` events inside it (the backlog at its start); sessions still running at
    /// its end lose a similar backlog, scaled by the traffic there. The window's rate is set so
    /// that the events written inside it come to about `rows`, a little more rather than less
    /// (the last session is cut at exactly `rows`).
    mutating func enterWindow() {
        let rows = Double(options.rows)
        let backlogStart = Double(inWindowScheduled)
        let ratio = curveAt(minute: totalMinutes - 1) / curveAt(minute: warmMinutes)
        let backlogEnd = backlogStart * ratio * 1.15 + 1
        let target = max(rows * 0.5, rows - backlogStart + backlogEnd)
        windowScale = target / windowCurveTotal
    }

    /// The time at which `v` virtual events (non-decreasing between calls) have started, or
    /// `windowEnd` when the walk has passed the end.
    mutating func timeAt(virtual v: Double) -> Int64 {
        while walkBefore + walkWeight < v {
            if walkMinute + 1 >= totalMinutes { return windowEnd }
            walkBefore += walkWeight
            walkMinute += 1
            if walkMinute == warmMinutes { enterWindow() }
            walkWeight = curveAt(minute: walkMinute) * (walkMinute < warmMinutes ? warmScale : windowScale)
        }
        let frac = walkWeight > 0 ? min(max((v - walkBefore) / walkWeight, 0), 0.999_999) : 0
        return base + Int64(walkMinute) * 60 + Int64(frac * 60)
    }

    // MARK: heap

    mutating func heapPush(_ key: UInt64) {
        heap.append(key)
        heap.withUnsafeMutableBufferPointer { h in
            var i = h.count - 1
            while i > 0 {
                let parent = (i - 1) >> 1
                if h[parent] <= key { break }
                h[i] = h[parent]
                i = parent
            }
            h[i] = key
        }
    }

    mutating func heapPop() -> UInt64 {
        let top = heap[0]
        let last = heap.removeLast()
        if heap.isEmpty { return top }
        heap.withUnsafeMutableBufferPointer { h in
            let n = h.count
            var i = 0
            while true {
                var c = 2 * i + 1
                if c >= n { break }
                if c + 1 < n && h[c + 1] < h[c] { c += 1 }
                if last <= h[c] { break }
                h[i] = h[c]
                i = c
            }
            h[i] = last
        }
        return top
    }

    func key(_ time: Int64, _ slot: Int32) -> UInt64 {
        (UInt64(time - base) << 32) | UInt64(UInt32(slot))
    }

    // MARK: sessions

    mutating func allocateSlot() -> Int32 {
        if let s = freeSlots.popLast() { return s }
        if slotCount == slotCapacity {
            let newCapacity = max(1024, slotCapacity * 2)
            let newSlots = UnsafeMutablePointer<GenSlot>.allocate(capacity: newCapacity)
            newSlots.moveInitialize(from: slots, count: slotCount)
            slots.deallocate()
            slots = newSlots
            let newViewed = UnsafeMutablePointer<Int32>.allocate(capacity: newCapacity * genViewedCapacity)
            newViewed.moveInitialize(from: viewed, count: slotCount * genViewedCapacity)
            viewed.deallocate()
            viewed = newViewed
            slotCapacity = newCapacity
        }
        (slots + slotCount).initialize(to: GenSlot())
        slotCount += 1
        return Int32(slotCount - 1)
    }

    mutating func drawSessionLength() -> Int {
        if rng.unit() < genSingleEventSessionShare { return 1 }
        return min(genMaxSessionEvents, 2 + Int(rng.exponential(genMeanExtraEvents)))
    }

    mutating func drawUser() -> Int64 {
        if recentUserCount > 0 && rng.unit() < 0.15 {
            return recentUsers[rng.below(recentUserCount)]
        }
        let user = 512_000_000 + Int64(rng.below(54_000_000))
        recentUsers[recentUserNext] = user
        recentUserNext = (recentUserNext + 1) & (recentUsers.count - 1)
        recentUserCount = min(recentUserCount + 1, recentUsers.count)
        return user
    }

    mutating func pickGlobalProduct() -> Int32 {
        let count = catalog.aliasProbability.count
        let i = rng.below(count)
        return rng.unit() < catalog.aliasProbability[i] ? Int32(i) : catalog.aliasIndex[i]
    }

    mutating func pickProduct(inCategory c: Int32) -> Int32 {
        var lo = Int(catalog.productOffset[Int(c)])
        var hi = Int(catalog.productOffset[Int(c) + 1]) - 1
        let u = rng.unit()
        while lo < hi {
            let mid = (lo + hi) >> 1
            if catalog.cumulativeInCategory[mid] > u { hi = mid } else { lo = mid + 1 }
        }
        return Int32(lo)
    }

    func hasViewed(_ slot: Int32, _ product: Int32) -> Bool {
        let s = slots + Int(slot)
        let list = viewed + Int(slot) * genViewedCapacity
        for i in 0..<Int(s.pointee.viewedCount) where list[i] == product { return true }
        return false
    }

    /// Sets the slot's pending event to a view (its time is already set).
    mutating func planView(_ slot: Int32) {
        let s = slots + Int(slot)
        let list = viewed + Int(slot) * genViewedCapacity
        let count = Int(s.pointee.viewedCount)
        var product: Int32
        if rng.unit() < genRepeatView || count >= genViewedCapacity {
            if count <= 1 || rng.unit() < 0.55 {
                product = s.pointee.current
            } else {
                product = list[rng.below(count)]
            }
        } else {
            product = 0
            for _ in 0..<4 {
                if rng.unit() < genStayInCategory {
                    product = pickProduct(inCategory: s.pointee.focus)
                } else {
                    product = pickGlobalProduct()
                }
                if !hasViewed(slot, product) && product != s.pointee.current { break }
            }
        }
        setView(slot, product)
    }

    mutating func setView(_ slot: Int32, _ product: Int32) {
        let s = slots + Int(slot)
        var repeated = false
        if s.pointee.time >= windowStart {
            repeated = hasViewed(slot, product)
            if !repeated {
                let count = Int(s.pointee.viewedCount)
                viewed[Int(slot) * genViewedCapacity + count] = product
                s.pointee.viewedCount = Int32(count + 1)
            }
        }
        s.pointee.pendingType = genTypeView
        s.pointee.pendingProduct = product
        s.pointee.pendingRepeat = repeated
        s.pointee.current = product
        s.pointee.focus = catalog.category[Int(product)]
    }

    /// Decides the next event after the one just processed, and its time.
    mutating func planNext(_ slot: Int32) {
        let s = slots + Int(slot)
        let last = s.pointee.pendingType
        s.pointee.time += genNextGap(&s.pointee.gapState)
        if last == genTypeCart {
            if rng.unit() < genPurchaseAfterCart {
                setFollowUp(slot, genTypePurchase)
                return
            }
        } else if last == genTypeView {
            let r = rng.unit()
            if r < genCartAfterView {
                setFollowUp(slot, genTypeCart)
                return
            }
            if r < genCartAfterView + genPurchaseAfterView {
                setFollowUp(slot, genTypePurchase)
                return
            }
        }
        planView(slot)
    }

    /// A cart or purchase of the product last viewed. Inside the window, when that view came
    /// before the window (so it is not in the file), the product is viewed again first.
    mutating func setFollowUp(_ slot: Int32, _ type: UInt8) {
        let s = slots + Int(slot)
        if s.pointee.time >= windowStart && !hasViewed(slot, s.pointee.current) {
            setView(slot, s.pointee.current)
            return
        }
        s.pointee.pendingType = type
        s.pointee.pendingProduct = s.pointee.current
        s.pointee.pendingRepeat = false
    }

    /// Starts a session of `length` events at `time`. Returns how many of its events fall inside
    /// the window (a session with none is not kept).
    mutating func startSession(at time: Int64, length: Int) -> Int {
        let uuidA = (rng.next() & ~(UInt64(0xF) << 12)) | (UInt64(0x4) << 12)
        let uuidB = (rng.next() & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
        let gapSeed = rng.next()
        let user = drawUser()
        let product = pickGlobalProduct()
        // The session's timeline: events to process (before the window end) and those inside.
        var g = gapSeed
        var t = time
        var run = 0, inside = 0
        for k in 0..<length {
            if k > 0 { t += genNextGap(&g) }
            if t >= windowEnd { break }
            run += 1
            if t >= windowStart { inside += 1 }
        }
        if inside == 0 { return 0 }
        let slot = allocateSlot()
        let s = slots + Int(slot)
        s.pointee.uuidA = uuidA
        s.pointee.uuidB = uuidB
        s.pointee.user = user
        s.pointee.gapState = gapSeed
        s.pointee.remaining = Int32(run)
        s.pointee.viewedCount = 0
        s.pointee.emitted = false
        s.pointee.time = time
        setView(slot, product)
        heapPush(key(time, slot))
        return inside
    }

    // MARK: run

    mutating func run(header writeHeader: Bool) throws {
        let rows = options.rows
        if writeHeader && !options.jsonl {
            let header = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n"
            for b in header.utf8 { buf[pos] = b; pos += 1 }
        }
        if rows > 0 {
            prepareCurve()
            var virtual = 0.0
            var nextLength = drawSessionLength()
            var written = 0
            var now = base
            var nextStart = timeAt(virtual: rng.unit() * Double(nextLength))
            if nextStart >= windowEnd { nextStart = windowStart }
            while written < rows {
                if inWindowScheduled < rows && (heap.isEmpty || key(nextStart, 0) <= (heap[0] & ~0xFFFF_FFFF)) {
                    inWindowScheduled += startSession(at: nextStart, length: nextLength)
                    virtual += Double(nextLength)
                    nextLength = drawSessionLength()
                    var t = timeAt(virtual: virtual + rng.unit() * Double(nextLength))
                    // Past the end with rows still missing (rare): start what is missing at the
                    // current time, inside the window.
                    if t >= windowEnd { t = min(max(now, windowStart), windowEnd - 1) }
                    nextStart = max(nextStart, t)
                    continue
                }
                let top = heapPop()
                let slot = Int32(truncatingIfNeeded: top & 0xFFFF_FFFF)
                let s = slots + Int(slot)
                now = s.pointee.time
                if now >= windowStart {
                    try emit(slot)
                    written += 1
                }
                s.pointee.remaining -= 1
                if s.pointee.remaining > 0 {
                    planNext(slot)
                    heapPush(key(s.pointee.time, slot))
                } else {
                    freeSlots.append(slot)
                }
            }
        }
        if pos > 0 {
            try out.write(UnsafeRawBufferPointer(start: buf, count: pos))
            pos = 0
        }
    }
    // MARK: formatting

    @inline(__always) mutating func put(_ b: UInt8) {
        buf[pos] = b
        pos += 1
    }

    @inline(__always) mutating func put(_ s: StaticString) {
        let n = s.utf8CodeUnitCount
        memcpy(buf + pos, s.utf8Start, n)
        pos += n
    }

    @inline(__always) mutating func putDigits(_ value: Int64) {
        var v = UInt64(value)
        var tmp: (UInt64, UInt64, UInt64) = (0, 0, 0)
        var n = 0
        withUnsafeMutableBytes(of: &tmp) { t in
            repeat {
                t[23 - n] = UInt8(truncatingIfNeeded: 48 + v % 10)
                v /= 10
                n += 1
            } while v > 0
            memcpy(buf + pos, t.baseAddress! + (24 - n), n)
        }
        pos += n
    }

    mutating func formatTime(_ t: Int64) {
        timeSecond = t
        let days = t >= 0 ? t / 86400 : (t - 86399) / 86400
        let sod = t - days * 86400
        let c = ValueParsers.civilFromDays(Int(days))
        let (y, m, d) = (Int64(c.year), Int64(c.month), Int64(c.day))
        let h = sod / 3600, mi = (sod / 60) % 60, s = sod % 60
        withUnsafeMutableBytes(of: &timeBytes) { b in
            func two(_ at: Int, _ v: Int64) {
                b[at] = UInt8(48 + v / 10)
                b[at + 1] = UInt8(48 + v % 10)
            }
            b[0] = UInt8(48 + (y / 1000) % 10)
            b[1] = UInt8(48 + (y / 100) % 10)
            two(2, y % 100)
            b[4] = 45
            two(5, m)
            b[7] = 45
            two(8, d)
            b[10] = 32
            two(11, h)
            b[13] = 58
            two(14, mi)
            b[16] = 58
            two(17, s)
            b[19] = 32; b[20] = 85; b[21] = 84; b[22] = 67   // " UTC"
        }
    }

    func priceCents(_ product: Int32, at t: Int64) -> Int64 {
        let base = catalog.basePriceCents[Int(product)]
        let pid = UInt64(catalog.productId[Int(product)])
        // Prices change now and then: a product's price holds for six-hour periods, and about one
        // period in eight carries a different price (-15% ... +15%).
        let h = genMix(pid, UInt64(t / 21600) &+ 0xC0FFEE)
        if h % 1000 >= 125 { return base }
        let factor = 0.85 + Double((h >> 20) % 301) / 1000
        return max(1, Int64((Double(base) * factor).rounded()))
    }

    mutating func emit(_ slot: Int32) throws {
        let s = slots + Int(slot)
        let t = s.pointee.time
        let type = s.pointee.pendingType
        let product = s.pointee.pendingProduct
        if report.firstEventTime == nil { report.firstEventTime = t }
        report.lastEventTime = t
        report.rows += 1
        if !s.pointee.emitted {
            s.pointee.emitted = true
            report.sessions += 1
        }
        switch type {
        case genTypeView:
            report.views += 1
            if s.pointee.pendingRepeat { report.repeatedViews += 1 }
        case genTypeCart: report.carts += 1
        default: report.purchases += 1
        }
        if catalog.emptyBrand[Int(product)] { report.emptyBrands += 1 }
        if catalog.emptyCode[Int(product)] { report.emptyCategoryCodes += 1 }

        if pos > bufCapacity - 2048 {
            try out.write(UnsafeRawBufferPointer(start: buf, count: pos))
            pos = 0
        }
        if t != timeSecond { formatTime(t) }
        let json = options.jsonl
        if json { put("{\"event_time\":\"") }
        let tb = timeBytes
        withUnsafeBytes(of: tb) { b in _ = memcpy(buf + pos, b.baseAddress!, 23) }
        pos += 23
        if json { put("\",\"event_type\":\"") } else { put(44) }
        switch type {
        case genTypeView: put("view")
        case genTypeCart: put("cart")
        default: put("purchase")
        }
        if json { put("\",\"product_id\":") } else { put(44) }
        let from = Int(catalog.prefixOffset[Int(product)])
        let to = Int(catalog.prefixOffset[Int(product) + 1])
        catalog.prefix.withUnsafeBufferPointer { p in
            _ = memcpy(buf + pos, p.baseAddress! + from, to - from)
        }
        pos += to - from
        let cents = priceCents(product, at: t)
        putDigits(cents / 100)
        put(46)
        let c = cents % 100
        put(UInt8(48 + c / 10))
        put(UInt8(48 + c % 10))
        if json { put(",\"user_id\":") } else { put(44) }
        putDigits(s.pointee.user)
        if json { put(",\"user_session\":\"") } else { put(44) }
        putUUID(s.pointee.uuidA, s.pointee.uuidB)
        if json { put("\"}\n") } else { put(10) }
    }

    @inline(__always) mutating func putUUID(_ a: UInt64, _ b: UInt64) {
        let hex: StaticString = "0123456789abcdef"
        let h = hex.utf8Start
        let p = buf + pos
        var i = 0
        for k in 0..<16 {
            if k == 8 || k == 12 { p[i] = 45; i += 1 }
            p[i] = h[Int((a >> UInt64(60 - 4 * k)) & 0xF)]
            i += 1
        }
        for k in 0..<16 {
            if k == 0 || k == 4 { p[i] = 45; i += 1 }
            p[i] = h[Int((b >> UInt64(60 - 4 * k)) & 0xF)]
            i += 1
        }
        pos += 36
    }
}
